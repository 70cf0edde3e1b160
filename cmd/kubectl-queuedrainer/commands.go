/*
Copyright 2026 The queue-drainer Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
)

// refresh is how often watch looks again; a variable for the tests.
var refresh = 2 * time.Second

func status(ctx context.Context, e *env, args []string) int {
	if len(args) == 1 {
		qd, err := e.get(ctx, args[0])
		if err != nil {
			return e.errorf("%v", err)
		}
		writeDrainer(e.out, qd, time.Now())
		return exitOK
	}
	list, err := e.list(ctx)
	if err != nil {
		return e.errorf("%v", err)
	}
	if len(list) == 0 {
		fmt.Fprintln(e.err, e.noneFound())
		return exitOK
	}
	writeTable(e.out, list, e.namespace == "", time.Now())
	return exitOK
}

func history(ctx context.Context, e *env, args []string) int {
	qd, err := e.get(ctx, args[0])
	if err != nil {
		return e.errorf("%v", err)
	}
	runs := qd.Status.History
	if len(runs) == 0 {
		fmt.Fprintf(e.out, "%s/%s has no finished run in its history\n", qd.Namespace, qd.Name)
		return exitOK
	}
	// The operator keeps them newest first; sorting makes sure of it.
	runs = append([]v1alpha1.RunRecord(nil), runs...)
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].StartedAt.After(runs[j].StartedAt.Time) })
	writeRuns(e.out, runs, time.Now(), "")
	return exitOK
}

// setSuspend merge-patches spec.suspend, and says what it means now.
func setSuspend(ctx context.Context, e *env, name string, suspend bool) int {
	qd := &v1alpha1.QueueDrainer{}
	qd.Namespace, qd.Name = e.namespace, name
	patch := fmt.Appendf(nil, `{"spec":{"suspend":%t}}`, suspend)
	if err := e.c.Patch(ctx, qd, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return e.errorf("%v", explain(err))
	}
	ref := qd.Namespace + "/" + qd.Name
	switch r := qd.Status.ActiveRun; {
	case suspend && r != nil:
		fmt.Fprintf(e.out, "%s suspended: no new run starts; the active run %s goes on until it ends\n", ref, r.Name)
	case suspend:
		fmt.Fprintf(e.out, "%s suspended: no new run starts\n", ref)
	default:
		fmt.Fprintf(e.out, "%s resumed: triggers and requests start runs again\n", ref)
		for _, p := range pendingRequests(qd) {
			fmt.Fprintf(e.out, "  %s: the operator acts on it now\n", p)
		}
	}
	return exitOK
}

// watch redraws the status until the context ends (Ctrl-C): for one
// drainer a line whenever something changed, for many the table.
func watch(ctx context.Context, e *env, args []string) int {
	start := time.Now()
	var rate drainRate
	last := ""
	for {
		if len(args) == 1 {
			qd, err := e.get(ctx, args[0])
			if err != nil {
				return e.stopped(ctx, err)
			}
			rate.update(qd.Status.Queue)
			if line := liveLine(qd, rate.perSecond); line != last {
				fmt.Fprintf(e.out, "%6s  %s\n", since(start), line)
				last = line
			}
		} else {
			list, err := e.list(ctx)
			if err != nil {
				return e.stopped(ctx, err)
			}
			var b strings.Builder
			if len(list) == 0 {
				b.WriteString(e.noneFound() + "\n")
			} else {
				writeTable(&b, list, e.namespace == "", time.Now())
			}
			shown := b.String()
			switch {
			case isTerminal(e.out):
				// Redrawn in place, like watch(1).
				fmt.Fprintf(e.out, "\033[H\033[2JEvery %s: kubectl queuedrainer status   %s\n\n%s", refresh, time.Now().Format(time.TimeOnly), shown)
			case shown != last:
				// To a file or a pipe, only what changed, a table after another.
				fmt.Fprintf(e.out, "--- %s\n%s", since(start), shown)
			}
			last = shown
		}
		select {
		case <-ctx.Done():
			return exitOK // Ctrl-C is how watch ends
		case <-time.After(refresh):
		}
	}
}

// stopped reports an API error, unless the context ended first.
func (e *env) stopped(ctx context.Context, err error) int {
	if ctx.Err() != nil {
		return exitOK
	}
	return e.errorf("%v", err)
}

// drainRate estimates messages per second from the fall of the queue's
// visible and in-flight messages between two observations by the operator.
type drainRate struct {
	left      int64
	at        time.Time
	perSecond float64
}

func (r *drainRate) update(q *v1alpha1.QueueStatus) {
	if q == nil || !q.ObservedAt.After(r.at) {
		return // not a new observation
	}
	left := q.VisibleMessages + q.InFlightMessages
	if !r.at.IsZero() && left <= r.left {
		// Smoothed over a few observations: the counts are approximate.
		r.perSecond = 0.5*r.perSecond + 0.5*float64(r.left-left)/q.ObservedAt.Sub(r.at).Seconds()
	}
	r.left, r.at = left, q.ObservedAt.Time
}

func (e *env) get(ctx context.Context, name string) (*v1alpha1.QueueDrainer, error) {
	qd := &v1alpha1.QueueDrainer{}
	if err := e.c.Get(ctx, types.NamespacedName{Namespace: e.namespace, Name: name}, qd); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("queuedrainer %q not found in namespace %s", name, e.namespace)
		}
		return nil, explain(err)
	}
	return qd, nil
}

func (e *env) list(ctx context.Context) ([]v1alpha1.QueueDrainer, error) {
	var list v1alpha1.QueueDrainerList
	if err := e.c.List(ctx, &list, client.InNamespace(e.namespace)); err != nil {
		return nil, explain(err)
	}
	return list.Items, nil
}

func (e *env) noneFound() string {
	if e.namespace == "" {
		return "No QueueDrainers found."
	}
	return fmt.Sprintf("No QueueDrainers found in %s namespace.", e.namespace)
}

// since is the time since start as a watch prefix: 12s, 3m10s.
func since(start time.Time) string {
	return ago(metav1.NewTime(start), time.Now())
}

// isTerminal tells a terminal, where the table is redrawn in place, from a
// file or a pipe.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
