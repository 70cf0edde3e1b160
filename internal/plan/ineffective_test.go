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

package plan_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
)

const (
	ordersURL     = "https://sqs.us-east-1.amazonaws.com/123456789012/orders" // spec.queue.url of drainer()
	ordersDLQ     = "https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq"
	ordersEU      = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"
	ordersLocal   = "http://localstack:4566/123456789012/orders" // an emulator's URL for the same queue
	endRunStarted = -10 * time.Minute
)

// endRun decides at t0 for run 3, active since 10 minutes before with 2
// workers and 2,000 messages visible at its start, whose Job ended as jopts
// say (use succeededAt or failedAt).
func endRun(opts []drainerOpt, obs plan.Observation, jopts ...jobOpt) plan.Decision {
	opts = append([]drainerOpt{activeRun(3, v1alpha1.TriggerQueueDepth, t0.Add(endRunStarted), 2, 2000)}, opts...)
	return decide(drainer(opts...), t0, obs, job(3, 2, jopts...))
}

// wantRecorded fails unless d recorded exactly run n with this result and
// a message containing msg, and left ineffectiveRuns at ineffective.
func wantRecorded(t *testing.T, d plan.Decision, n int64, result v1alpha1.RunResult, msg string, ineffective int32) {
	t.Helper()
	if len(d.Finished) != 1 || d.Finished[0].Name != run(n) {
		t.Fatalf("finished %v, want %s", names(d.Finished), run(n))
	}
	r := d.Finished[0]
	if r.Result != result || !strings.Contains(r.Message, msg) {
		t.Errorf("recorded %s %q, want %s with a message containing %q", r.Result, r.Message, result, msg)
	}
	if msg == "" && r.Message != "" {
		t.Errorf("recorded message %q, want none", r.Message)
	}
	if len(d.Status.History) == 0 || d.Status.History[0].Name != run(n) || d.Status.History[0].Result != result {
		t.Errorf("history %v, want %s %s first", d.Status.History, run(n), result)
	}
	if d.Status.IneffectiveRuns != ineffective {
		t.Errorf("ineffectiveRuns = %d, want %d", d.Status.IneffectiveRuns, ineffective)
	}
}

func TestRunThatProcessedNothingIsIneffectiveAndBacksOff(t *testing.T) {
	// The consumer's handler fails every message: the run "succeeds" (its
	// workers exit 0 once nothing more is visible to them) and processed none.
	end := t0.Add(-10 * time.Second)
	d := endRun([]drainerOpt{depthTrigger(100)}, queue(2000),
		succeededAt(end), processed(0), failedDeliveries(40), lastFailure("decode order: unexpected EOF"))
	wantRecorded(t, d, 3, v1alpha1.RunIneffective,
		"its workers processed no message while 2000 were visible; 40 deliveries failed, the last with: decode order: unexpected EOF", 1)
	if hasEvent(d, v1alpha1.ReasonDrainSucceeded) || !hasEvent(d, v1alpha1.ReasonDrainIneffective) {
		t.Errorf("events %v, want %s and no %s", reasons(d), v1alpha1.ReasonDrainIneffective, v1alpha1.ReasonDrainSucceeded)
	}
	for _, e := range d.Events {
		if e.Reason == v1alpha1.ReasonDrainIneffective && (!e.Warning || !strings.Contains(e.Message, "waits 2m0s")) {
			t.Errorf("event %+v, want a Warning that says the next run waits 2m0s", e)
		}
	}
	if strings.Contains(strings.Join(d.Delete, ","), run(3)) {
		t.Errorf("delete %v, want the ineffective run's Job kept to look at", d.Delete)
	}
	if d.Status.Throughput != nil {
		t.Errorf("throughput %+v learned from a run that processed nothing", d.Status.Throughput)
	}
	wantNoStart(t, d)
	wantCondition(t, d.Status, v1alpha1.ConditionDraining, metav1.ConditionFalse, v1alpha1.ReasonBackingOff)
	wantCondition(t, d.Status, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonIneffectiveConsumer)
	if c := cond(d.Status, v1alpha1.ConditionReady); !strings.Contains(c.Message, run(3)) || !strings.Contains(c.Message, "decode order") {
		t.Errorf("Ready message %q, want it to name run 3 and why", c.Message)
	}

	// The cooldown alone (1m) would be over; the backoff (2m) is not.
	qd := next(drainer(depthTrigger(100)), d)
	jobs := []plan.Job{job(3, 2, succeededAt(end), processed(0))}
	d = decide(qd, end.Add(time.Minute+30*time.Second), queue(2000), jobs...)
	wantNoStart(t, d)
	wantCondition(t, d.Status, v1alpha1.ConditionDraining, metav1.ConditionFalse, v1alpha1.ReasonBackingOff)
	if d.RequeueAfter != 30*time.Second {
		t.Errorf("requeueAfter = %v, want 30s, when the backoff ends", d.RequeueAfter)
	}
	d = decide(next(qd, d), end.Add(2*time.Minute), queue(2000), jobs...)
	wantStart(t, d, run(4), v1alpha1.TriggerQueueDepth, 2)
	// The count holds while the new run is out.
	wantCondition(t, d.Status, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonIneffectiveConsumer)
}

func TestRunOnAnotherQueueIsIneffectiveEvenIfItProcessedMessages(t *testing.T) {
	end := t0.Add(-5 * time.Minute)
	for _, tc := range []struct {
		name       string
		job        []jobOpt
		wantResult v1alpha1.RunResult
		wantMsg    string
		wantCount  int32
	}{
		{name: "another queue of the account", job: []jobOpt{succeededAt(end), processed(1500), drained(ordersDLQ)},
			wantResult: v1alpha1.RunIneffective, wantMsg: "its workers drained " + ordersDLQ + ", not spec.queue.url " + ordersURL, wantCount: 1},
		{name: "the same name in another region", job: []jobOpt{succeededAt(end), processed(1500), drained(ordersEU)},
			wantResult: v1alpha1.RunIneffective, wantMsg: "drained " + ordersEU, wantCount: 1},
		{name: "one of two queues is another", job: []jobOpt{succeededAt(end), processed(1500), drained(ordersURL, ordersDLQ)},
			wantResult: v1alpha1.RunIneffective, wantMsg: "drained " + ordersDLQ, wantCount: 1},
		{name: "another queue, and the run failed", job: []jobOpt{failedAt(end, "BackoffLimitExceeded"), processed(1500), drained(ordersDLQ)},
			wantResult: v1alpha1.RunFailed, wantMsg: "BackoffLimitExceeded; its workers drained " + ordersDLQ, wantCount: 1},
		{name: "another queue, even with nothing to drain here", job: []jobOpt{succeededAt(end), processed(0), drained(ordersDLQ)},
			wantResult: v1alpha1.RunIneffective, wantMsg: "drained " + ordersDLQ, wantCount: 1},
		{name: "an emulator's URL of the same queue", job: []jobOpt{succeededAt(end), processed(1500), drained(ordersLocal)},
			wantResult: v1alpha1.RunSucceeded},
		{name: "spec.queue.url itself", job: []jobOpt{succeededAt(end), processed(1500), drained(ordersURL)},
			wantResult: v1alpha1.RunSucceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := endRun(nil, queue(500), tc.job...)
			wantRecorded(t, d, 3, tc.wantResult, tc.wantMsg, tc.wantCount)
			if tc.wantCount > 0 {
				wantCondition(t, d.Status, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonIneffectiveConsumer)
			} else {
				wantCondition(t, d.Status, v1alpha1.ConditionReady, metav1.ConditionTrue, "Watching")
			}
			if hasEvent(d, v1alpha1.ReasonDrainIneffective) != (tc.wantResult == v1alpha1.RunIneffective) {
				t.Errorf("events %v, want %s: %v", reasons(d), v1alpha1.ReasonDrainIneffective, tc.wantResult == v1alpha1.RunIneffective)
			}
		})
	}
}

func TestConsumerThatReportsNoCountsIsJudgedByTheQueue(t *testing.T) {
	// A consumer that writes no report: its run started with 2,000 visible.
	end := t0.Add(-5 * time.Minute)
	for _, tc := range []struct {
		name       string
		obs        plan.Observation
		wantResult v1alpha1.RunResult
		wantCount  int32
	}{
		{name: "drained the queue is not ineffective", obs: queue(0), wantResult: v1alpha1.RunSucceeded},
		{name: "fewer left than at the start is not ineffective", obs: queue(1999), wantResult: v1alpha1.RunSucceeded},
		{name: "as many left as at the start is ineffective", obs: queue(2000), wantResult: v1alpha1.RunIneffective, wantCount: 3},
		{name: "more left than at the start is ineffective", obs: queue(9000), wantResult: v1alpha1.RunIneffective, wantCount: 3},
		{name: "an unreachable queue cannot tell", obs: unreachable("AccessDenied"), wantResult: v1alpha1.RunSucceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := endRun([]drainerOpt{ineffectiveRuns(2)}, tc.obs, succeededAt(end))
			msg := ""
			if tc.wantResult == v1alpha1.RunIneffective {
				msg = "messages were visible at its end, no fewer than the 2000 at its start, and its workers reported no counts"
			}
			wantRecorded(t, d, 3, tc.wantResult, msg, tc.wantCount)
		})
	}
}

func TestRunOfAnEmptyQueueIsNotIneffective(t *testing.T) {
	// A manual run of an empty queue has nothing to reduce.
	qd := drainer(ineffectiveRuns(1), activeRun(3, v1alpha1.TriggerManual, t0.Add(-time.Minute), 1, 0))
	d := decide(qd, t0, queue(0), job(3, 1, succeededAt(t0.Add(-time.Second)), processed(0)))
	wantRecorded(t, d, 3, v1alpha1.RunSucceeded, "", 0)
}

// gaps drives runs that each process nothing: every run starts when a
// depth trigger may start it, and ends 10 seconds later. It returns, for
// each run after the first, the wait from the previous run's end to its start.
func gaps(t *testing.T, qd *v1alpha1.QueueDrainer, runs int) []time.Duration {
	t.Helper()
	now := t0
	var jobs []plan.Job
	d := decide(qd, now, queue(5000), jobs...)
	wantStart(t, d, run(1), v1alpha1.TriggerQueueDepth, 5)
	var out []time.Duration
	for i := 1; i < runs; i++ {
		qd, jobs = next(qd, d), jobsAfter(jobs, d, now)
		end := now.Add(10 * time.Second)
		j := &jobs[len(jobs)-1]
		j.Finished, j.Succeeded, j.FinishedAt = true, true, end
		reported(func(r *plan.Report) { r.Processed, r.MostRan = ptr[int64](0), j.Parallelism })(j)
		now = end
		d = decide(qd, now, queue(5000), jobs...)
		if len(d.Finished) != 1 || d.Finished[0].Result != v1alpha1.RunIneffective || d.Status.IneffectiveRuns != int32(i) {
			t.Fatalf("run %d: recorded %+v with ineffectiveRuns %d, want it Ineffective and %d in a row", i, d.Finished, d.Status.IneffectiveRuns, i)
		}
		for steps := 0; started(d) == nil; steps++ {
			if steps > 500 {
				t.Fatalf("no run started within %s after run %d", now.Sub(end), i)
			}
			wantCondition(t, d.Status, v1alpha1.ConditionDraining, metav1.ConditionFalse, v1alpha1.ReasonBackingOff)
			qd, jobs = next(qd, d), jobsAfter(jobs, d, now)
			now = now.Add(d.RequeueAfter)
			d = decide(qd, now, queue(5000), jobs...)
		}
		if started(d).Trigger != v1alpha1.TriggerQueueDepth || started(d).Name != run(int64(i+1)) {
			t.Fatalf("started %+v, want run %d by %s", *started(d), i+1, v1alpha1.TriggerQueueDepth)
		}
		out = append(out, now.Sub(end))
	}
	return out
}

func TestBackoffDoublesUpToAnHour(t *testing.T) {
	m := time.Minute
	for _, tc := range []struct {
		name           string
		cooldown, poll time.Duration
		want           []time.Duration
	}{
		{name: "cooldown 1m, poll 30s", cooldown: m, poll: 30 * time.Second, want: []time.Duration{2 * m, 4 * m, 8 * m, 16 * m, 32 * m, time.Hour, time.Hour}},
		{name: "no cooldown backs off from the poll interval", cooldown: 0, poll: 30 * time.Second,
			want: []time.Duration{m, 2 * m, 4 * m, 8 * m, 16 * m, 32 * m, time.Hour, time.Hour}},
		{name: "poll interval longer than the cooldown", cooldown: m, poll: 5 * m, want: []time.Duration{10 * m, 20 * m, 40 * m, time.Hour}},
		{name: "a cooldown of 40m reaches the cap at once", cooldown: 40 * m, poll: 30 * time.Second, want: []time.Duration{time.Hour, time.Hour}},
		{name: "a cooldown above the cap stays", cooldown: 2 * time.Hour, poll: 30 * time.Second, want: []time.Duration{2 * time.Hour, 2 * time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qd := drainer(depthTrigger(100), workers(1000, 1, 10), cooldown(tc.cooldown), pollInterval(&tc.poll))
			got := gaps(t, qd, len(tc.want)+1)
			if len(got) != len(tc.want) {
				t.Fatalf("gaps %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("gaps %v, want %v", got, tc.want)
					break
				}
			}
		})
	}
}

func TestManualRequestIsNotHeldBackByTheBackoff(t *testing.T) {
	// Three runs in a row did nothing; the last ended 2 minutes ago, so the
	// depth trigger waits until 8 minutes after it (1m doubled 3 times).
	backingOff := []drainerOpt{depthTrigger(100), ineffectiveRuns(3), lastFinished(t0.Add(-2 * time.Minute)),
		history(record(3, v1alpha1.RunIneffective, t0.Add(-2*time.Minute))), handled("earlier")}

	d := decide(drainer(backingOff...), t0, queue(5000))
	wantNoStart(t, d)
	wantCondition(t, d.Status, v1alpha1.ConditionDraining, metav1.ConditionFalse, v1alpha1.ReasonBackingOff)
	if c := cond(d.Status, v1alpha1.ConditionDraining); !strings.Contains(c.Message, "2026-03-10T12:06:00Z") {
		t.Errorf("Draining message %q, want it to say when runs start again (12:06:00)", c.Message)
	}

	d = decide(drainer(append(backingOff, requested("retry-after-fix"))...), t0, queue(5000))
	wantStart(t, d, run(4), v1alpha1.TriggerManual, 5)
	if d.Status.LastHandledDrainRequest != "retry-after-fix" {
		t.Errorf("lastHandledDrainRequest = %q, want the request handled", d.Status.LastHandledDrainRequest)
	}
	if d.Status.IneffectiveRuns != 3 {
		t.Errorf("ineffectiveRuns = %d, want 3 until the run tells", d.Status.IneffectiveRuns)
	}
}

func TestEffectiveRunClearsTheBackoff(t *testing.T) {
	end := t0.Add(-10 * time.Second)
	for _, tc := range []struct {
		name       string
		opts       []drainerOpt
		jobs       []plan.Job
		obs        plan.Observation
		wantResult v1alpha1.RunResult
		wantCount  int32
	}{
		{name: "a run that processed messages", jobs: []plan.Job{job(3, 2, succeededAt(end), processed(1800))}, obs: queue(300),
			wantResult: v1alpha1.RunSucceeded},
		{name: "a failed run that processed messages", jobs: []plan.Job{job(3, 2, failedAt(end, "BackoffLimitExceeded"), processed(900))}, obs: queue(1100),
			wantResult: v1alpha1.RunFailed},
		{name: "a run without counts that drained the queue", jobs: []plan.Job{job(3, 2, succeededAt(end))}, obs: queue(0),
			wantResult: v1alpha1.RunSucceeded},
		{name: "another run that processed nothing", jobs: []plan.Job{job(3, 2, succeededAt(end), processed(0))}, obs: queue(2000),
			wantResult: v1alpha1.RunIneffective, wantCount: 4},
		{name: "a run whose Job was deleted tells nothing", obs: queue(2000),
			wantResult: v1alpha1.RunDeleted, wantCount: 3},
		{name: "a replaced run tells nothing", opts: []drainerOpt{replace, requested("now")}, jobs: []plan.Job{job(3, 2)}, obs: queue(2000),
			wantResult: v1alpha1.RunReplaced, wantCount: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]drainerOpt{depthTrigger(100), ineffectiveRuns(3), activeRun(3, v1alpha1.TriggerQueueDepth, t0.Add(-10*time.Minute), 2, 2000)}, tc.opts...)
			qd := drainer(opts...)
			d := decide(qd, t0, tc.obs, tc.jobs...)
			if len(d.Finished) != 1 || d.Finished[0].Result != tc.wantResult {
				t.Fatalf("finished %+v, want run 3 %s", d.Finished, tc.wantResult)
			}
			if d.Status.IneffectiveRuns != tc.wantCount {
				t.Errorf("ineffectiveRuns = %d, want %d", d.Status.IneffectiveRuns, tc.wantCount)
			}
			if tc.wantCount != 0 {
				wantCondition(t, d.Status, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonIneffectiveConsumer)
				return
			}
			wantCondition(t, d.Status, v1alpha1.ConditionReady, metav1.ConditionTrue, "Watching")
			wantCondition(t, d.Status, v1alpha1.ConditionDraining, metav1.ConditionFalse, "CoolingDown")
			// Only the cooldown holds back the next run now, not 8 minutes.
			d = decide(next(qd, d), end.Add(time.Minute), queue(5000), jobsAfter(tc.jobs, d, t0)...)
			wantStart(t, d, run(4), v1alpha1.TriggerQueueDepth, 5)
		})
	}
}

func TestSpecChangeClearsTheBackoff(t *testing.T) {
	for _, tc := range []struct {
		name          string
		gen, observed int64
		wantCount     int32
	}{
		{name: "the spec changed", gen: 3, observed: 2, wantCount: 0},
		{name: "the spec is as observed", gen: 2, observed: 2, wantCount: 4},
		{name: "no generation observed yet", gen: 2, observed: 0, wantCount: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qd := drainer(depthTrigger(100), generations(tc.gen, tc.observed), ineffectiveRuns(4), lastFinished(t0.Add(-2*time.Minute)),
				history(record(3, v1alpha1.RunIneffective, t0.Add(-2*time.Minute))))
			d := decide(qd, t0, queue(5000))
			if d.Status.IneffectiveRuns != tc.wantCount {
				t.Errorf("ineffectiveRuns = %d, want %d", d.Status.IneffectiveRuns, tc.wantCount)
			}
			if d.Status.ObservedGeneration != tc.gen {
				t.Errorf("observedGeneration = %d, want %d", d.Status.ObservedGeneration, tc.gen)
			}
			if tc.wantCount == 0 {
				// The cooldown of 1m is over: the fixed consumer runs now.
				wantStart(t, d, run(4), v1alpha1.TriggerQueueDepth, 5)
				wantCondition(t, d.Status, v1alpha1.ConditionReady, metav1.ConditionTrue, "Watching")
				return
			}
			wantNoStart(t, d)
			wantCondition(t, d.Status, v1alpha1.ConditionDraining, metav1.ConditionFalse, v1alpha1.ReasonBackingOff)
			wantCondition(t, d.Status, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonIneffectiveConsumer)
		})
	}
}

func TestFailedRunCarriesTheFirstWorkerError(t *testing.T) {
	const (
		jobMsg = "BackoffLimitExceeded: Job has reached the specified backoff limit"
		podErr = "pod orders-3-1-x7k2p: dial tcp 10.0.0.7:5432: connect: connection refused"
	)
	end := t0.Add(-time.Minute)
	for _, tc := range []struct {
		name      string
		job       []jobOpt
		wantMsg   string
		wantCount int32
	}{
		{name: "a worker error", job: []jobOpt{failedAt(end, jobMsg), processed(10), workerError(podErr)},
			wantMsg: podErr + " (Job " + jobMsg + ")"},
		{name: "no worker error", job: []jobOpt{failedAt(end, jobMsg), processed(10)},
			wantMsg: jobMsg},
		{name: "a worker error, and nothing processed", job: []jobOpt{failedAt(end, jobMsg), processed(0), workerError(podErr)},
			wantMsg: podErr + " (Job " + jobMsg + "); its workers processed no message while 2000 were visible", wantCount: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := endRun([]drainerOpt{ineffectiveRuns(2)}, queue(1990), tc.job...)
			wantRecorded(t, d, 3, v1alpha1.RunFailed, tc.wantMsg, tc.wantCount)
			if r := d.Finished[0]; r.Message != tc.wantMsg {
				t.Errorf("message %q, want exactly %q", r.Message, tc.wantMsg)
			}
			if hasEvent(d, v1alpha1.ReasonDrainIneffective) || !hasEvent(d, v1alpha1.ReasonDrainFailed) {
				t.Errorf("events %v, want %s only", reasons(d), v1alpha1.ReasonDrainFailed)
			}
			for _, e := range d.Events {
				if e.Reason == v1alpha1.ReasonDrainFailed && (!e.Warning || !strings.Contains(e.Message, tc.wantMsg)) {
					t.Errorf("event %+v, want a Warning with %q", e, tc.wantMsg)
				}
			}
		})
	}
}

func TestQueueURLOverrideIsWarnedAtRunStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  drainerOpt
		want []string // in the Warning's message; nil: no Warning
	}{
		{name: "the consumer drains another queue", opt: containerEnv(v1alpha1.EnvQueueURL, ordersDLQ),
			want: []string{"container consumer", ordersDLQ, ordersURL}},
		{name: "an init container names another region", opt: container(true, corev1.Container{Name: "migrate",
			Env: []corev1.EnvVar{{Name: v1alpha1.EnvQueueURL, Value: ordersEU}}}), want: []string{"container migrate", ordersEU}},
		{name: "a sidecar drains another queue", opt: container(false, corev1.Container{Name: "sidecar",
			Env: []corev1.EnvVar{{Name: v1alpha1.EnvQueueURL, Value: ordersDLQ}}}), want: []string{"container sidecar"}},
		{name: "an emulator's URL of the same queue", opt: containerEnv(v1alpha1.EnvQueueURL, ordersLocal)},
		{name: "spec.queue.url itself", opt: containerEnv(v1alpha1.EnvQueueURL, ordersURL)},
		{name: "another variable", opt: containerEnv("DLQ_URL", ordersDLQ)},
		{name: "from a ConfigMap, which cannot be read here", opt: container(false, corev1.Container{Name: "sidecar",
			Env: []corev1.EnvVar{{Name: v1alpha1.EnvQueueURL, ValueFrom: &corev1.EnvVarSource{
				ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "queues"}, Key: "url"}}}}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(drainer(depthTrigger(100), tc.opt), t0, queue(3000))
			wantStart(t, d, run(1), v1alpha1.TriggerQueueDepth, 3)
			var got []plan.Event
			for _, e := range d.Events {
				if e.Reason == v1alpha1.ReasonQueueURLOverridden {
					got = append(got, e)
				}
			}
			if tc.want == nil {
				if len(got) != 0 {
					t.Errorf("events %+v, want no %s", got, v1alpha1.ReasonQueueURLOverridden)
				}
				return
			}
			if len(got) != 1 || !got[0].Warning {
				t.Fatalf("events %+v, want one Warning %s", d.Events, v1alpha1.ReasonQueueURLOverridden)
			}
			for _, w := range tc.want {
				if !strings.Contains(got[0].Message, w) {
					t.Errorf("%s message %q, want it to name %q", v1alpha1.ReasonQueueURLOverridden, got[0].Message, w)
				}
			}

			// Not again while the run is out.
			d = decide(next(drainer(depthTrigger(100), tc.opt), d), t0.Add(30*time.Second), queue(3000), job(1, 3, indexed, pods(3, 3, 0, 0)))
			if hasEvent(d, v1alpha1.ReasonQueueURLOverridden) {
				t.Errorf("events %v, want %s only when a run starts", reasons(d), v1alpha1.ReasonQueueURLOverridden)
			}
		})
	}
}

func TestReadySaysTheConsumerIsIneffectiveUnlessWorseIsWrong(t *testing.T) {
	ineffective := []drainerOpt{ineffectiveRuns(2), lastFinished(t0.Add(-time.Hour)),
		history(record(3, v1alpha1.RunIneffective, t0.Add(-time.Hour)))}
	for _, tc := range []struct {
		name   string
		opts   []drainerOpt
		obs    plan.Observation
		reason string
	}{
		{name: "ineffective runs", opts: ineffective, obs: queue(10), reason: v1alpha1.ReasonIneffectiveConsumer},
		{name: "ineffective runs and an invalid schedule", opts: append([]drainerOpt{schedule("every day")}, ineffective...), obs: queue(10),
			reason: v1alpha1.ReasonInvalidSchedule},
		{name: "ineffective runs and an unreachable queue", opts: ineffective, obs: unreachable("AccessDenied"), reason: "AccessDenied"},
		{name: "no ineffective run", opts: []drainerOpt{lastFinished(t0.Add(-time.Hour))}, obs: queue(10), reason: "Watching"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(drainer(tc.opts...), t0, tc.obs)
			status := metav1.ConditionFalse
			if tc.reason == "Watching" {
				status = metav1.ConditionTrue
			}
			wantCondition(t, d.Status, v1alpha1.ConditionReady, status, tc.reason)
			// The backoff after 2 ineffective runs (4m) is long over.
			wantCondition(t, d.Status, v1alpha1.ConditionDraining, metav1.ConditionFalse, "Idle")
		})
	}
}
