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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
)

const ordersDeadLetter = "https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq"

func deadLetter(visible int64) obsOpt {
	return func(o *plan.Observation) { o.DeadLetter = &plan.DeadLetter{URL: ordersDeadLetter, Visible: visible} }
}

func deadLetterUnknown(o *plan.Observation) {
	o.DeadLetter = &plan.DeadLetter{URL: ordersDeadLetter, Err: &plan.Problem{Reason: "Throttling", Message: "slow down"}}
}

// What will not fix itself is Stalled (kstatus: Failed); a transient AWS
// error is Reconciling (kstatus: InProgress); a healthy drainer has neither.
func TestStalledAndReconcilingFollowTheKstatusConventions(t *testing.T) {
	permanent := func(reason string) plan.Observation {
		o := unreachable(reason)
		o.Err.Permanent = true
		return o
	}
	for _, tc := range []struct {
		name               string
		qd                 *v1alpha1.QueueDrainer
		obs                plan.Observation
		stalled, retrying  string // the reason, "" for absent
		wantReadyFalseAlso bool
	}{
		{name: "healthy", qd: drainer(depthTrigger(100)), obs: queue(5)},
		{name: "queue does not exist", qd: drainer(depthTrigger(100)), obs: permanent("QueueDoesNotExist"), stalled: "QueueDoesNotExist", wantReadyFalseAlso: true},
		{name: "role not allowed", qd: drainer(depthTrigger(100)), obs: permanent("RoleNotAllowed"), stalled: "RoleNotAllowed", wantReadyFalseAlso: true},
		{name: "invalid schedule", qd: drainer(schedule("*/15 * * * *"), timeZone("Nowhere/Town")), obs: queue(5), stalled: v1alpha1.ReasonInvalidSchedule, wantReadyFalseAlso: true},
		{name: "ineffective consumer", qd: drainer(depthTrigger(100), ineffectiveRuns(2), lastFinished(t0.Add(-time.Minute)),
			history(record(3, v1alpha1.RunIneffective, t0.Add(-time.Minute)))), obs: queue(500), stalled: v1alpha1.ReasonIneffectiveConsumer, wantReadyFalseAlso: true},
		{name: "throttled", qd: drainer(depthTrigger(100)), obs: unreachable("Throttling"), retrying: "Throttling", wantReadyFalseAlso: true},
		{name: "network", qd: drainer(depthTrigger(100)), obs: unreachable("NetworkError"), retrying: "NetworkError", wantReadyFalseAlso: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(tc.qd, t0, tc.obs)
			for typ, want := range map[string]string{v1alpha1.ConditionStalled: tc.stalled, v1alpha1.ConditionReconciling: tc.retrying} {
				c := cond(d.Status, typ)
				switch {
				case want == "" && c != nil:
					t.Errorf("%s present (%s %q), want it absent", typ, c.Reason, c.Message)
				case want != "" && (c == nil || c.Status != metav1.ConditionTrue || c.Reason != want || c.Message == ""):
					t.Errorf("%s = %+v, want True/%s with a message", typ, c, want)
				}
			}
			if r := cond(d.Status, v1alpha1.ConditionReady); (r.Status == metav1.ConditionFalse) != tc.wantReadyFalseAlso {
				t.Errorf("Ready = %s/%s, want False: %v", r.Status, r.Reason, tc.wantReadyFalseAlso)
			}
		})
	}
	// Once the problem clears, Stalled goes away.
	qd := drainer(depthTrigger(100))
	d := decide(qd, t0, permanent("AccessDenied"))
	d = decide(next(qd, d), t0.Add(time.Minute), queue(5))
	if c := cond(d.Status, v1alpha1.ConditionStalled); c != nil {
		t.Errorf("Stalled %+v after the queue could be observed again, want it removed", c)
	}
}

// A new drainer is not a warning: CloudWatch not asked yet, or no datapoint
// for an empty queue, says so in MetricsAvailable without an Event.
func TestAHealthyNewDrainerEmitsNoWarning(t *testing.T) {
	notPolled := func(o *plan.Observation) {
		o.MetricsErr = &plan.Problem{Reason: v1alpha1.ReasonNotPolledYet, Message: "CloudWatch has not been asked about this queue yet"}
	}
	qd := drainer(ageTrigger(10 * time.Minute))
	d := decide(qd, t0, queue(0, notPolled))
	d = decide(next(qd, d), t0.Add(time.Minute), queue(0)) // polled: no datapoint for an empty queue
	for _, e := range d.Events {
		if e.Warning {
			t.Errorf("warning %s %q for a healthy empty queue", e.Reason, e.Message)
		}
	}
	wantCondition(t, d.Status, v1alpha1.ConditionMetricsAvailable, metav1.ConditionFalse, v1alpha1.ReasonNoDatapoint)
	// With messages waiting and still no datapoint, the age trigger is blind: that is news.
	d = decide(next(qd, d), t0.Add(2*time.Minute), queue(40))
	if !hasEvent(d, v1alpha1.ReasonMetricsUnavailable) {
		t.Errorf("events %v, want %s once messages wait and the age is unknown", reasons(d), v1alpha1.ReasonMetricsUnavailable)
	}
}

// CloudWatch lags: right after a drain it still gives the last message's
// age. An empty queue shows no age of minutes.
func TestAnEmptyQueueShowsNoOldMessage(t *testing.T) {
	d := decide(drainer(ageTrigger(10*time.Minute)), t0, queue(0, oldest(41*time.Second, t0.Add(-time.Minute))))
	if a := d.Status.Queue.OldestMessageAge; a == nil || a.Duration != 0 {
		t.Errorf("oldestMessageAge %v for an empty queue, want 0s", a)
	}
	d = decide(drainer(ageTrigger(10*time.Minute)), t0, queue(3, oldest(41*time.Second, t0.Add(-time.Minute))))
	if a := d.Status.Queue.OldestMessageAge; a == nil || a.Duration != 41*time.Second {
		t.Errorf("oldestMessageAge %v with messages waiting, want 41s", a)
	}
	d = decide(drainer(ageTrigger(10*time.Minute)), t0, queue(0, inFlight(2), oldest(41*time.Second, t0.Add(-time.Minute))))
	if a := d.Status.Queue.OldestMessageAge; a == nil || a.Duration != 41*time.Second {
		t.Errorf("oldestMessageAge %v with messages in flight, want 41s", a)
	}
}

// The dead-letter queue's depth is in status; a run records how many
// messages reached it (the rise), says so in a Warning, and in its Event.
func TestRunRecordsTheMessagesThatReachedTheDeadLetterQueue(t *testing.T) {
	qd := drainer(depthTrigger(100))
	d := decide(qd, t0, queue(500, deadLetter(7)))
	if dl := d.Status.Queue.DeadLetter; dl == nil || dl.URL != ordersDeadLetter || dl.VisibleMessages != 7 {
		t.Fatalf("status.queue.deadLetter %+v, want %s with 7", dl, ordersDeadLetter)
	}
	wantStart(t, d, run(1), v1alpha1.TriggerQueueDepth, 1)
	if a := d.Status.ActiveRun.DeadLetterAtStart; a == nil || *a != 7 {
		t.Fatalf("activeRun.deadLetterAtStart %v, want 7", a)
	}
	jobs := jobsAfter(nil, d, t0)
	jobs[0].Finished, jobs[0].Succeeded, jobs[0].FinishedAt = true, true, t0.Add(time.Minute)
	reported(func(r *plan.Report) { r.MostRan, r.Processed, r.Failed = 1, ptr[int64](450), ptr[int64](100) })(&jobs[0])
	d = decide(next(qd, d), t0.Add(time.Minute), queue(0, deadLetter(57)), jobs...)
	h := d.Status.History[0]
	if h.Result != v1alpha1.RunSucceeded || h.MessagesDeadLettered == nil || *h.MessagesDeadLettered != 50 {
		t.Fatalf("history[0] %s, dead-lettered %v; want Succeeded with 50", h.Result, h.MessagesDeadLettered)
	}
	var succeeded, warned string
	for _, e := range d.Events {
		switch e.Reason {
		case v1alpha1.ReasonDrainSucceeded:
			succeeded = e.Message
		case v1alpha1.ReasonDeadLettered:
			if !e.Warning {
				t.Errorf("%s is not a warning", e.Reason)
			}
			warned = e.Message
		}
	}
	if !strings.Contains(succeeded, "450 messages") || !strings.Contains(succeeded, "100 deliveries failed") || !strings.Contains(succeeded, "50 messages went to the dead-letter queue") {
		t.Errorf("DrainSucceeded %q, want the processed count, the failed deliveries and the dead-lettered messages", succeeded)
	}
	if !strings.Contains(warned, "50 messages") || !strings.Contains(warned, ordersDeadLetter) {
		t.Errorf("%s %q, want the count and the dead-letter queue", v1alpha1.ReasonDeadLettered, warned)
	}
}

// A dead-letter depth that cannot be read keeps the last one in status and
// makes no count up for the run.
func TestUnknownDeadLetterDepthKeepsTheLastAndCountsNothing(t *testing.T) {
	qd := drainer(depthTrigger(100), activeRun(1, v1alpha1.TriggerQueueDepth, t0.Add(-time.Minute), 1, 500),
		queueStatus(v1alpha1.QueueStatus{VisibleMessages: 3, DeadLetter: &v1alpha1.DeadLetterStatus{URL: ordersDeadLetter, VisibleMessages: 9}}))
	qd.Status.ActiveRun.DeadLetterAtStart = ptr[int64](9)
	d := decide(qd, t0, queue(0, deadLetterUnknown), job(1, 1, succeededAt(t0), processed(500)))
	if dl := d.Status.Queue.DeadLetter; dl == nil || dl.VisibleMessages != 9 {
		t.Errorf("status.queue.deadLetter %+v, want the last depth, 9", dl)
	}
	if h := d.Status.History[0]; h.MessagesDeadLettered != nil {
		t.Errorf("messagesDeadLettered %d while the depth is unknown, want none", *h.MessagesDeadLettered)
	}
	if hasEvent(d, v1alpha1.ReasonDeadLettered) {
		t.Errorf("events %v, want no %s", reasons(d), v1alpha1.ReasonDeadLettered)
	}
	// A queue without a dead-letter queue has none in status.
	d = decide(drainer(depthTrigger(100)), t0, queue(3))
	if d.Status.Queue.DeadLetter != nil {
		t.Errorf("status.queue.deadLetter %+v for a queue without one", d.Status.Queue.DeadLetter)
	}
}

func redriveRequested(v string) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) {
		if qd.Annotations == nil {
			qd.Annotations = map[string]string{}
		}
		qd.Annotations[v1alpha1.RedriveRequestAnnotation] = v
	}
}

// A redrive request starts one Redrive run, with one mover, once the
// drainer is idle; it is handled once, and never while a drain needs to run.
func TestRedriveRequestStartsOneRedriveRunWhenIdle(t *testing.T) {
	for _, tc := range []struct {
		name        string
		qd          *v1alpha1.QueueDrainer
		obs         plan.Observation
		jobs        []plan.Job
		wantStart   v1alpha1.Trigger // "" for none
		wantHandled bool
		wantEvent   string
	}{
		{name: "idle", qd: drainer(depthTrigger(1000), redriveRequested("r1")), obs: queue(5, deadLetter(50)),
			wantStart: v1alpha1.TriggerRedrive, wantHandled: true, wantEvent: v1alpha1.ReasonDrainStarted},
		{name: "in cooldown", qd: drainer(depthTrigger(1), redriveRequested("r1"), lastFinished(t0.Add(-10*time.Second))), obs: queue(5, deadLetter(50)),
			wantStart: v1alpha1.TriggerRedrive, wantHandled: true},
		{name: "a drain is active", qd: drainer(depthTrigger(1000), redriveRequested("r1"), activeRun(2, v1alpha1.TriggerQueueDepth, t0.Add(-time.Minute), 1, 100)),
			obs: queue(5, deadLetter(50)), jobs: []plan.Job{job(2, 1, indexed)}},
		{name: "a trigger wants a drain first", qd: drainer(depthTrigger(10), redriveRequested("r1")), obs: queue(500, deadLetter(50)),
			wantStart: v1alpha1.TriggerQueueDepth},
		{name: "suspended", qd: drainer(depthTrigger(1000), redriveRequested("r1"), suspended), obs: queue(5, deadLetter(50))},
		{name: "unreachable", qd: drainer(depthTrigger(1000), redriveRequested("r1")), obs: unreachable("Throttling")},
		{name: "handled before", qd: drainer(depthTrigger(1000), redriveRequested("r1")), obs: queue(5, deadLetter(50)), wantHandled: true},
		{name: "no dead-letter queue", qd: drainer(depthTrigger(1000), redriveRequested("r1")), obs: queue(5),
			wantHandled: true, wantEvent: v1alpha1.ReasonRedriveImpossible},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "handled before" {
				tc.qd.Status.LastHandledRedriveRequest = "r1"
			}
			d := decide(tc.qd, t0, tc.obs, tc.jobs...)
			switch {
			case tc.wantStart == "" && started(d) != nil:
				t.Fatalf("started %+v, want nothing", *started(d))
			case tc.wantStart != "" && (started(d) == nil || started(d).Trigger != tc.wantStart):
				t.Fatalf("start %+v, want a %s run", started(d), tc.wantStart)
			}
			if handled := d.Status.LastHandledRedriveRequest == "r1"; handled != tc.wantHandled {
				t.Errorf("lastHandledRedriveRequest %q, want handled: %v", d.Status.LastHandledRedriveRequest, tc.wantHandled)
			}
			if tc.wantEvent != "" && !hasEvent(d, tc.wantEvent) {
				t.Errorf("events %v, want %s", reasons(d), tc.wantEvent)
			}
			if tc.wantStart == v1alpha1.TriggerRedrive {
				s := started(d)
				if s.Workers != 1 || s.MessagesAtStart != 50 || d.RedriveFrom != ordersDeadLetter {
					t.Errorf("redrive start %+v, want 1 worker moving the 50 messages of %s", *s, ordersDeadLetter)
				}
			}
		})
	}
}

// A Redrive run is not scaled by the backlog, says what it moved when it
// ends, and tells nothing about the consumer: no backoff, no throughput.
func TestRedriveRunIsRecordedAsAMoveNotAsADrain(t *testing.T) {
	qd := drainer(depthTrigger(10), ineffectiveRuns(2), history(record(1, v1alpha1.RunIneffective, t0.Add(-time.Hour))),
		activeRun(2, v1alpha1.TriggerRedrive, t0.Add(-time.Minute), 1, 50))
	d := decide(qd, t0, queue(5000, deadLetter(30)), job(2, 1, indexed, pods(1, 1, 0, 0)))
	if scaled(d) != nil {
		t.Fatalf("scaled a redrive %+v", *scaled(d))
	}
	d = decide(next(qd, d), t0.Add(time.Minute), queue(5050, deadLetter(0)), job(2, 1, indexed, succeededAt(t0.Add(time.Minute)), processed(50)))
	h := d.Status.History[0]
	if h.Result != v1alpha1.RunSucceeded || h.MessagesProcessed == nil || *h.MessagesProcessed != 50 {
		t.Fatalf("history[0] %s with %v processed, want Succeeded with 50 moved", h.Result, h.MessagesProcessed)
	}
	if !hasEvent(d, v1alpha1.ReasonRedriveSucceeded) || hasEvent(d, v1alpha1.ReasonDrainSucceeded) {
		t.Errorf("events %v, want %s and no %s", reasons(d), v1alpha1.ReasonRedriveSucceeded, v1alpha1.ReasonDrainSucceeded)
	}
	if d.Status.IneffectiveRuns != 2 || d.Status.Throughput != nil {
		t.Errorf("ineffectiveRuns %d, throughput %+v: want 2 and none, a redrive tells nothing about the consumer", d.Status.IneffectiveRuns, d.Status.Throughput)
	}
}
