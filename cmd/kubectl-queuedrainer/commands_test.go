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
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

// contains fails the test for each wanted text missing from the output.
func contains(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, out)
		}
	}
}

func ok(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := kq(args...)
	if code != exitOK {
		t.Fatalf("%v: exit %d, stderr:\n%s\nstdout:\n%s", args, code, errOut, out)
	}
	t.Logf("$ kubectl queuedrainer %s\n%s", strings.Join(args, " "), out)
	return out
}

func TestStatusOfOneDrainer(t *testing.T) {
	out := ok(t, "status", "invoices", "-n", "shop")
	contains(t, "status invoices", out,
		"https://sqs.us-east-1.amazonaws.com/123456789012/invoices",
		"12 visible, 3 in flight",
		"Oldest:      40s",
		"37 messages in https://sqs.us-east-1.amazonaws.com/123456789012/invoices-dlq",
		"Ready:       True",
		"Active run:  none",
		"FAILED DELIVERIES",
		"could not reach SQS: dial tcp 127.0.0.1:9999", // the Failed run's message
	)
	// The last 3 runs, newest first: not the fourth.
	if i, j, k := strings.Index(out, "invoices-4"), strings.Index(out, "invoices-3"), strings.Index(out, "invoices-2"); !(i >= 0 && i < j && j < k) {
		t.Errorf("last runs not newest first:\n%s", out)
	}
	if strings.Contains(out, "invoices-1") {
		t.Errorf("more than 3 last runs:\n%s", out)
	}
	if !regexp.MustCompile(`invoices-4\s+Schedule\s+Succeeded\s+10m ago\s+60s\s+2/2\s+1234\s+3\s+1\s+20.6`).MatchString(out) {
		t.Errorf("invoices-4's row lacks its counts:\n%s", out)
	}

	out = ok(t, "status", "orders", "--namespace=shop")
	contains(t, "status orders", out,
		"48410 visible, 1001 in flight",
		"Oldest:      11m",
		"Dead letter: none",
		"orders-7 (Manual), workers 4/6 running (2 pending), started 3m",
	)

	out = ok(t, "status", "payments", "-n", "shop")
	contains(t, "status payments", out,
		"Messages:    not observed yet",
		"Ready:       False  QueueDoesNotExist: the queue cannot be observed",
		"Stalled:     QueueDoesNotExist: the queue cannot be observed: AWS.SimpleQueueService.NonExistentQueue",
	)

	code, _, errOut := kq("status", "nope", "-n", "shop")
	if code != exitFailed || !strings.Contains(errOut, `queuedrainer "nope" not found in namespace shop`) {
		t.Errorf("status of a missing drainer: exit %d, %q", code, errOut)
	}
}

func TestStatusOfAllDrainers(t *testing.T) {
	out := ok(t, "status", "-n", "shop")
	rows := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = line
		}
	}
	for name, want := range map[string]*regexp.Regexp{
		"invoices": regexp.MustCompile(`^invoices\s+invoices\s+12\s+3\s+40s\s+37\s+Ready\s+-\s+-\s+Succeeded 9m[0-9]*s? ago`),
		"orders":   regexp.MustCompile(`^orders\s+orders\s+48410\s+1001\s+11m\s+-\s+Ready\s+orders-7 \(Manual\)\s+4/6\s+Succeeded`),
		"payments": regexp.MustCompile(`^payments\s+payments\s+-\s+-\s+-\s+-\s+Stalled: QueueDoesNotExist\s+-\s+-\s+-`),
	} {
		if !want.MatchString(rows[name]) {
			t.Errorf("row of %s is %q, want %s", name, rows[name], want)
		}
	}
	contains(t, "status -n shop", out,
		"shop/payments: Stalled QueueDoesNotExist: the queue cannot be observed: AWS.SimpleQueueService.NonExistentQueue")
	if strings.Contains(out, "shop/invoices:") || strings.Contains(out, "shop/orders:") {
		t.Errorf("healthy drainers have notes:\n%s", out)
	}
	if strings.Contains(out, "ledger") {
		t.Errorf("status -n shop lists billing's drainer:\n%s", out)
	}

	out = ok(t, "status", "-A")
	if !regexp.MustCompile(`(?m)^billing\s+ledger\s+ledger\s+0\s+0\s+0s\s+-\s+Ready`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^shop\s+orders\s`).MatchString(out) {
		t.Errorf("status -A lacks the namespaces' drainers:\n%s", out)
	}

	code, _, errOut := kq("status", "-n", "empty-namespace")
	if code != exitOK || !strings.Contains(errOut, "No QueueDrainers found in empty-namespace namespace.") {
		t.Errorf("status of an empty namespace: exit %d, %q", code, errOut)
	}
}

func TestHistoryIsNewestFirst(t *testing.T) {
	out := ok(t, "history", "invoices", "-n", "shop")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("want a header and 4 runs:\n%s", out)
	}
	for i, want := range []string{"invoices-4", "invoices-3", "invoices-2", "invoices-1"} {
		if !strings.HasPrefix(lines[i+1], want+" ") {
			t.Errorf("row %d is %q, want run %s", i+1, lines[i+1], want)
		}
	}
	contains(t, "history", lines[2], "QueueDepth", "Failed", "4/5", "120", "could not reach SQS")
	contains(t, "history", lines[4], "Redrive", "Succeeded", "9")
}

func TestSuspendAndResume(t *testing.T) {
	key := newNamespace(t, "t-suspend", func(st *v1alpha1.QueueDrainerStatus) {
		st.ActiveRun = &v1alpha1.ActiveRun{Name: "orders-1", Trigger: v1alpha1.TriggerQueueDepth, StartedAt: metav1.Now(), Workers: 1, MessagesAtStart: 500}
	})
	out := ok(t, "suspend", "orders", "-n", key.Namespace)
	contains(t, "suspend", out, "t-suspend/orders suspended: no new run starts; the active run orders-1 goes on")
	if s := kubetest.Drainer(t, k8s, key).Spec.Suspend; s == nil || !*s {
		t.Fatalf("spec.suspend after suspend: %v", s)
	}
	contains(t, "status", ok(t, "status", "orders", "-n", key.Namespace), "Suspended:   yes")

	out = ok(t, "resume", "orders", "-n", key.Namespace)
	contains(t, "resume", out, "t-suspend/orders resumed")
	if s := kubetest.Drainer(t, k8s, key).Spec.Suspend; s == nil || *s {
		t.Fatalf("spec.suspend after resume: %v", s)
	}
}

func TestDrainSetsTheAnnotation(t *testing.T) {
	key := newNamespace(t, "t-drain", func(st *v1alpha1.QueueDrainerStatus) { st.LastRunNumber = 2 })
	before := time.Now().Truncate(time.Second)
	out := ok(t, "drain", "orders", "-n", key.Namespace)
	first := kubetest.Drainer(t, k8s, key).Annotations[v1alpha1.DrainRequestAnnotation]
	at, err := time.Parse(time.RFC3339, first)
	if err != nil || at.Before(before) || at.After(time.Now()) {
		t.Fatalf("annotation %s=%q: not an RFC 3339 time of now (%v)", v1alpha1.DrainRequestAnnotation, first, err)
	}
	contains(t, "drain", out, "drain requested for t-drain/orders: drain.queuedrainer.io/requested-at="+first, "a new run, orders-3, serves it")

	// A second request is a new value even within the same second, or the operator would ignore it.
	ok(t, "drain", "orders", "-n", key.Namespace)
	if second := kubetest.Drainer(t, k8s, key).Annotations[v1alpha1.DrainRequestAnnotation]; second == first {
		t.Errorf("a second drain request kept the value %q", first)
	}
}

// operator plays the operator's part for one request: when the annotation
// has a new value, it records it as handled with a run (or lets the active
// run serve it), reports the run's workers, and finishes it with result.
type operator struct {
	request v1alpha1.Trigger // Manual for drain, Redrive for redrive
	result  v1alpha1.RunResult
	message string
	// instant handles the request and finishes its run in one status
	// update, as when the run ends between two looks of the plugin.
	instant bool
}

func (o operator) start(t *testing.T, key types.NamespacedName) <-chan struct{} {
	done := make(chan struct{})
	annotation, handled := v1alpha1.DrainRequestAnnotation, func(st *v1alpha1.QueueDrainerStatus) *string { return &st.LastHandledDrainRequest }
	if o.request == v1alpha1.TriggerRedrive {
		annotation, handled = v1alpha1.RedriveRequestAnnotation, func(st *v1alpha1.QueueDrainerStatus) *string { return &st.LastHandledRedriveRequest }
	}
	step := func(change func(*v1alpha1.QueueDrainerStatus)) bool {
		if err := writeStatus(key, change); err != nil {
			t.Errorf("operator: %v", err)
			return false
		}
		time.Sleep(500 * time.Millisecond) // a few looks of the plugin
		return true
	}
	finish := func(st *v1alpha1.QueueDrainerStatus) {
		r := st.ActiveRun
		st.ActiveRun = nil
		st.Queue = queue(0, 0)
		st.History = append([]v1alpha1.RunRecord{{Name: r.Name, Trigger: r.Trigger, Result: o.result, Message: o.message,
			StartedAt: r.StartedAt, FinishedAt: metav1.Now(), Workers: 3, WorkersWanted: 3,
			MessagesAtStart: r.MessagesAtStart, MessagesProcessed: ptr.To(r.MessagesAtStart)}}, st.History...)
	}
	go func() {
		defer close(done)
		value := ""
		for deadline := time.Now().Add(20 * time.Second); value == ""; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("operator: no request")
				return
			}
			qd := &v1alpha1.QueueDrainer{}
			if err := k8s.Get(context.Background(), key, qd); err == nil {
				if v := qd.Annotations[annotation]; v != "" && v != *handled(&qd.Status) {
					value = v
				}
			}
		}
		handle := func(st *v1alpha1.QueueDrainerStatus) {
			*handled(st) = value
			if st.ActiveRun == nil { // else the active run serves it
				st.LastRunNumber++
				st.ActiveRun = &v1alpha1.ActiveRun{Name: plan.RunName(key.Name, st.LastRunNumber), Trigger: o.request, StartedAt: metav1.Now(),
					Workers: 3, Running: 1, Pending: 2, RunningOfWanted: "1/3", MessagesAtStart: 500}
			}
			st.Queue = queue(500, 0)
		}
		if o.instant {
			step(func(st *v1alpha1.QueueDrainerStatus) { handle(st); finish(st) })
			return
		}
		_ = step(handle) &&
			step(func(st *v1alpha1.QueueDrainerStatus) {
				st.ActiveRun.Running, st.ActiveRun.Pending, st.ActiveRun.RunningOfWanted = 3, 0, "3/3"
				st.Queue = queue(200, 30)
			}) &&
			step(finish)
	}()
	return done
}

func TestDrainWaitSucceeded(t *testing.T) {
	key := newNamespace(t, "t-wait-ok", nil)
	done := operator{request: v1alpha1.TriggerManual, result: v1alpha1.RunSucceeded}.start(t, key)
	out := ok(t, "drain", "orders", "-n", key.Namespace, "--wait", "--timeout", "30s")
	<-done
	contains(t, "drain --wait", out,
		"a new run, orders-1, serves it",
		"run orders-1 serves the request",
		"run orders-1 (Manual), workers 1/3 running (2 pending)",
		"run orders-1 Succeeded: 500 messages in")
	qd := kubetest.Drainer(t, k8s, key)
	if qd.Status.LastHandledDrainRequest != qd.Annotations[v1alpha1.DrainRequestAnnotation] {
		t.Errorf("the operator did not handle the request the plugin made")
	}
}

func TestDrainWaitFailed(t *testing.T) {
	key := newNamespace(t, "t-wait-failed", nil)
	done := operator{request: v1alpha1.TriggerManual, result: v1alpha1.RunFailed,
		message: "worker orders-1-0-x7k2p: could not reach SQS: connection refused (Job BackoffLimitExceeded)"}.start(t, key)
	code, out, errOut := kq("drain", "orders", "-n", key.Namespace, "--wait")
	<-done
	t.Logf("stdout:\n%s\nstderr:\n%s", out, errOut)
	if code != exitFailed {
		t.Errorf("exit %d for a failed run, want %d", code, exitFailed)
	}
	contains(t, "stderr", errOut, "error: run orders-1 Failed: worker orders-1-0-x7k2p: could not reach SQS: connection refused")
}

func TestDrainWaitJoinsTheActiveRun(t *testing.T) {
	key := newNamespace(t, "t-wait-join", func(st *v1alpha1.QueueDrainerStatus) {
		st.LastRunNumber = 4
		st.ActiveRun = &v1alpha1.ActiveRun{Name: "orders-4", Trigger: v1alpha1.TriggerQueueDepth, StartedAt: metav1.NewTime(time.Now().Add(-time.Minute)),
			Workers: 3, Running: 3, RunningOfWanted: "3/3", MessagesAtStart: 500}
	})
	done := operator{request: v1alpha1.TriggerManual, result: v1alpha1.RunSucceeded}.start(t, key)
	out := ok(t, "drain", "orders", "-n", key.Namespace, "--wait")
	<-done
	contains(t, "drain --wait", out, "the active run orders-4 serves it (concurrencyPolicy Forbid)", "run orders-4 serves the request", "run orders-4 Succeeded")
}

func TestDrainWaitRunEndedBetweenLooks(t *testing.T) {
	key := newNamespace(t, "t-wait-instant", func(st *v1alpha1.QueueDrainerStatus) {
		st.LastRunNumber = 1
		st.History = []v1alpha1.RunRecord{{Name: "orders-1", Trigger: v1alpha1.TriggerQueueDepth, Result: v1alpha1.RunFailed,
			StartedAt: metav1.NewTime(time.Now().Add(-time.Hour)), FinishedAt: metav1.NewTime(time.Now().Add(-time.Hour)), Message: "an older run"}}
	})
	done := operator{request: v1alpha1.TriggerManual, result: v1alpha1.RunSucceeded, instant: true}.start(t, key)
	out := ok(t, "drain", "orders", "-n", key.Namespace, "--wait")
	<-done
	contains(t, "drain --wait", out, "run orders-2 serves the request", "run orders-2 Succeeded")
}

func TestDrainWaitTimesOut(t *testing.T) {
	key := newNamespace(t, "t-wait-timeout", nil)
	start := time.Now()
	code, out, errOut := kq("drain", "orders", "-n", key.Namespace, "--wait", "--timeout", "1s")
	if code != exitFailed || time.Since(start) < time.Second {
		t.Errorf("exit %d after %s with no operator, want %d after the 1s timeout", code, time.Since(start), exitFailed)
	}
	contains(t, "stderr", errOut, "error: timed out after 1s waiting for the operator to handle the request")
	contains(t, "stdout", out, "a new run, orders-1, serves it")
}

func TestDrainOfASuspendedDrainerWaits(t *testing.T) {
	key := newNamespace(t, "t-wait-suspended", nil, func(s *v1alpha1.QueueDrainerSpec) { s.Suspend = ptr.To(true) })
	code, out, errOut := kq("drain", "orders", "-n", key.Namespace, "--wait", "--timeout", "1s")
	t.Logf("stdout:\n%s\nstderr:\n%s", out, errOut)
	if code != exitFailed {
		t.Errorf("exit %d, want %d", code, exitFailed)
	}
	contains(t, "stdout", out, "orders is suspended: the request waits until it is resumed")
	contains(t, "stderr", errOut, "timed out after 1s")
	if kubetest.Drainer(t, k8s, key).Annotations[v1alpha1.DrainRequestAnnotation] == "" {
		t.Errorf("no drain request on the suspended drainer")
	}
}

func TestRedriveWait(t *testing.T) {
	key := newNamespace(t, "t-redrive", func(st *v1alpha1.QueueDrainerStatus) {
		st.Queue.DeadLetter = &v1alpha1.DeadLetterStatus{URL: "https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq", VisibleMessages: 50}
	})
	done := operator{request: v1alpha1.TriggerRedrive, result: v1alpha1.RunSucceeded}.start(t, key)
	out := ok(t, "redrive", "orders", "-n", key.Namespace, "--wait")
	<-done
	qd := kubetest.Drainer(t, k8s, key)
	if v := qd.Annotations[v1alpha1.RedriveRequestAnnotation]; v == "" || v != qd.Status.LastHandledRedriveRequest {
		t.Errorf("redrive annotation %q, handled %q", v, qd.Status.LastHandledRedriveRequest)
	}
	contains(t, "redrive --wait", out,
		"redrive requested for t-redrive/orders: drain.queuedrainer.io/redrive-requested-at=",
		"a new run, orders-1, moves the 50 messages of https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq back",
		"run orders-1 (Redrive)",
		"run orders-1 Succeeded: 500 messages moved back from the dead-letter queue")
}

func TestWatch(t *testing.T) {
	key := newNamespace(t, "t-watch", nil)
	go func() {
		time.Sleep(400 * time.Millisecond)
		if err := writeStatus(key, func(st *v1alpha1.QueueDrainerStatus) {
			st.ActiveRun = &v1alpha1.ActiveRun{Name: "orders-1", Trigger: v1alpha1.TriggerQueueDepth, StartedAt: metav1.Now(),
				Workers: 5, Running: 5, RunningOfWanted: "5/5", MessagesAtStart: 500}
			st.Queue = queue(120, 40)
		}); err != nil {
			t.Error(err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	code, out, errOut := kqContext(ctx, "watch", "orders", "-n", key.Namespace)
	t.Logf("watch:\n%s", out)
	if code != exitOK {
		t.Fatalf("watch ended with %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a line for the first look and one for the change, got:\n%s", out)
	}
	contains(t, "first line", lines[0], "visible    500  in flight     0  no run yet")
	contains(t, "second line", lines[1], "visible    120  in flight    40  run orders-1 (QueueDepth), workers 5/5 running")

	ctx, cancel = context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	code, out, _ = kqContext(ctx, "watch", "-n", "shop")
	if code != exitOK || !strings.Contains(out, "NAME") || !strings.Contains(out, "orders-7 (Manual)") {
		t.Errorf("watch of the namespace: exit %d:\n%s", code, out)
	}
}

func TestKubeconfigNamespaceAndContext(t *testing.T) {
	path := writeKubeconfig(t)
	runKubeconfig := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut, nil); code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errOut.String())
		}
		return out.String()
	}
	// The current context's namespace is shop.
	contains(t, "status invoices", runKubeconfig("--kubeconfig", path, "status", "invoices"), "Name:        shop/invoices")
	out := runKubeconfig("status", "--kubeconfig="+path, "--context", "billing")
	if !strings.Contains(out, "ledger") || strings.Contains(out, "invoices") {
		t.Errorf("--context billing does not list billing's drainers:\n%s", out)
	}
	contains(t, "-n over the context", runKubeconfig("status", "--kubeconfig", path, "--context", "billing", "-n", "shop"), "invoices")
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"history"},
		{"drain", "a", "b"},
		{"status", "orders", "-A"},
		{"history", "orders", "-A"}, // -A only with status and watch
		{"suspend", "orders", "--wait"},
	} {
		if code, _, _ := kq(args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
	if code, out, _ := kq("--help"); code != exitOK || !strings.Contains(out, "kubectl queuedrainer drain NAME [--wait]") {
		t.Errorf("--help: exit %d:\n%s", code, out)
	}
}
