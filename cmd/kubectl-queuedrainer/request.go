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
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
)

// followEvery is how often drain --wait looks; a variable for the tests.
var followEvery = time.Second

// A requestKind is one of the requests the operator takes by annotation:
// it acts once on each new value, and echoes the value in status.
type requestKind struct {
	name       string
	annotation string
	handled    func(*v1alpha1.QueueDrainerStatus) string
	// joins: an active run may serve the request (drains do, redrives wait).
	joins bool
	// outlook says what becomes of the request, when the drainer is not
	// suspended and its queue can be observed.
	outlook func(qd *v1alpha1.QueueDrainer) string
}

var (
	drainRequest = requestKind{
		name:       "drain",
		annotation: v1alpha1.DrainRequestAnnotation,
		handled:    func(st *v1alpha1.QueueDrainerStatus) string { return st.LastHandledDrainRequest },
		joins:      true,
		outlook: func(qd *v1alpha1.QueueDrainer) string {
			switch r := qd.Status.ActiveRun; {
			case r != nil && qd.Spec.ConcurrencyPolicy == v1alpha1.ReplaceConcurrent:
				return fmt.Sprintf("a new run, %s, replaces the active run %s (concurrencyPolicy Replace)", nextRun(qd), r.Name)
			case r != nil:
				return fmt.Sprintf("the active run %s serves it (concurrencyPolicy Forbid)", r.Name)
			default:
				return fmt.Sprintf("a new run, %s, serves it", nextRun(qd))
			}
		},
	}
	redriveRequest = requestKind{
		name:       "redrive",
		annotation: v1alpha1.RedriveRequestAnnotation,
		handled:    func(st *v1alpha1.QueueDrainerStatus) string { return st.LastHandledRedriveRequest },
		outlook: func(qd *v1alpha1.QueueDrainer) string {
			q := qd.Status.Queue
			switch {
			case q == nil:
				return "the operator has not observed the queue yet"
			case q.DeadLetter == nil:
				return "warning: the queue has no dead-letter queue (no RedrivePolicy): the operator answers with a RedriveImpossible event, and no run"
			case qd.Status.ActiveRun != nil:
				return fmt.Sprintf("it waits for the active run %s to finish: a redrive never runs beside a drain", qd.Status.ActiveRun.Name)
			default:
				return fmt.Sprintf("a new run, %s, moves the %d messages of %s back to the queue", nextRun(qd), q.DeadLetter.VisibleMessages, q.DeadLetter.URL)
			}
		},
	}
	requestKinds = []requestKind{drainRequest, redriveRequest}
)

// request sets the request's annotation to the current time, says which
// run serves it, and with --wait follows that run to its end.
func request(ctx context.Context, e *env, name string, k requestKind) int {
	qd, err := e.get(ctx, name)
	if err != nil {
		return e.errorf("%v", err)
	}
	value := requestValue(qd.Annotations[k.annotation], k.handled(&qd.Status))
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{k.annotation: value}}})
	if err != nil {
		return e.errorf("%v", err)
	}
	if err := e.c.Patch(ctx, qd, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return e.errorf("%v", explain(err))
	}
	fmt.Fprintf(e.out, "%s requested for %s/%s: %s=%s\n", k.name, qd.Namespace, qd.Name, k.annotation, value)
	forecast := outlook(qd, k)
	fmt.Fprintln(e.out, forecast)
	if !e.opts.wait {
		return exitOK
	}
	activeAtRequest := ""
	if qd.Status.ActiveRun != nil && k.joins {
		activeAtRequest = qd.Status.ActiveRun.Name
	}
	return follow(ctx, e, qd.Name, k, value, activeAtRequest, forecast)
}

// requestValue is the current time in RFC 3339. The operator acts only on
// a value it has not seen, and RFC 3339 here counts whole seconds, so a
// request in the same second as the previous one waits for the next second.
func requestValue(taken ...string) string {
	for {
		now := time.Now()
		if v := now.UTC().Format(time.RFC3339); !slices.Contains(taken, v) {
			return v
		}
		time.Sleep(now.Truncate(time.Second).Add(time.Second).Sub(now))
	}
}

// follow waits until the operator has handled the request, notes the run
// that serves it, prints its progress and ends with its result: exitOK if it
// succeeded, exitFailed if it did not or the timeout passed first.
func follow(parent context.Context, e *env, name string, k requestKind, value, activeAtRequest, said string) int {
	ctx, cancel := context.WithTimeout(parent, e.opts.timeout)
	defer cancel()
	requestedAt, _ := time.Parse(time.RFC3339, value)
	start := time.Now()
	say := func(s string) {
		if s != said {
			fmt.Fprintf(e.out, "%6s  %s\n", since(start), s)
			said = s
		}
	}
	var rate drainRate
	serving := ""
	for {
		qd, err := e.get(ctx, name)
		if err != nil && ctx.Err() == nil {
			return e.errorf("%v", err)
		}
		if err == nil {
			if serving == "" && k.handled(&qd.Status) == value {
				if serving = servingRun(qd, requestedAt, activeAtRequest); serving == "" {
					return e.errorf("the operator handled the %s request, but no run serves it: %s", k.name, noRun(qd, k))
				}
				say(fmt.Sprintf("run %s serves the request", serving))
			}
			switch {
			case serving == "":
				say(outlook(qd, k))
			case findRun(qd.Status.History, serving) != nil:
				r := *findRun(qd.Status.History, serving)
				say("run " + outcome(r))
				if r.Result == v1alpha1.RunSucceeded {
					return exitOK
				}
				return e.errorf("run %s %s: %s", r.Name, r.Result, orDash(r.Message))
			case qd.Status.ActiveRun == nil || qd.Status.ActiveRun.Name != serving:
				// The operator records a run's end with its history entry.
				return e.errorf("run %s has ended, but is not in status.history (beyond the history limits): its result is unknown", serving)
			default:
				rate.update(qd.Status.Queue)
				say(liveLine(qd, rate.perSecond))
			}
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return e.errorf("interrupted")
			}
			awaited := "the operator to handle the request"
			if serving != "" {
				awaited = "run " + serving + " to finish"
			}
			return e.errorf("timed out after %s waiting for %s", e.opts.timeout, awaited)
		case <-time.After(followEvery):
		}
	}
}

// outlook says what becomes of a request that is not handled yet.
func outlook(qd *v1alpha1.QueueDrainer, k requestKind) string {
	if suspended(qd) {
		return fmt.Sprintf("%s is suspended: the request waits until it is resumed (kubectl queuedrainer resume %s -n %s)", qd.Name, qd.Name, qd.Namespace)
	}
	if c := meta.FindStatusCondition(qd.Status.Conditions, v1alpha1.ConditionQueueReachable); c != nil && c.Status == metav1.ConditionFalse {
		return fmt.Sprintf("the queue cannot be observed (%s): the request waits until it can", c.Reason)
	}
	return k.outlook(qd)
}

// servingRun is the run that serves a request the operator has just
// handled. The operator writes the run in the same status update as the
// handled value: the active run (started for the request, or joined by it),
// or, when it has ended before this look, the first one in the history
// started at or after the request, or the run that was active when the
// request was made and that it joined.
func servingRun(qd *v1alpha1.QueueDrainer, requestedAt time.Time, activeAtRequest string) string {
	st := qd.Status
	if st.ActiveRun != nil {
		return st.ActiveRun.Name
	}
	for i := len(st.History) - 1; i >= 0; i-- { // oldest first
		if !st.History[i].StartedAt.Time.Before(requestedAt) {
			return st.History[i].Name
		}
	}
	if activeAtRequest != "" && findRun(st.History, activeAtRequest) != nil {
		return activeAtRequest
	}
	return ""
}

// noRun says why a handled request may have no run.
func noRun(qd *v1alpha1.QueueDrainer, k requestKind) string {
	if k.name == redriveRequest.name && qd.Status.Queue != nil && qd.Status.Queue.DeadLetter == nil {
		return fmt.Sprintf("the queue has no dead-letter queue (see kubectl events -n %s --for queuedrainer/%s)", qd.Namespace, qd.Name)
	}
	return "no run is active and none in status.history started after the request (beyond the history limits?)"
}

func findRun(history []v1alpha1.RunRecord, name string) *v1alpha1.RunRecord {
	for i := range history {
		if history[i].Name == name {
			return &history[i]
		}
	}
	return nil
}

// nextRun is the name the operator gives its next run.
func nextRun(qd *v1alpha1.QueueDrainer) string {
	return plan.RunName(qd.Name, qd.Status.LastRunNumber+1)
}
