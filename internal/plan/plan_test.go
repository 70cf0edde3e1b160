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
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
)

func TestDrainStartsWhenQueueDepthReachesThreshold(t *testing.T) {
	for _, tc := range []struct {
		name        string
		visible     int64
		wantStart   bool
		wantWorkers int32
	}{
		{name: "below the threshold", visible: 999},
		{name: "at the threshold", visible: 1000, wantStart: true, wantWorkers: 1},
		{name: "above the threshold", visible: 4500, wantStart: true, wantWorkers: 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(drainer(depthTrigger(1000)), t0, queue(tc.visible))
			if !tc.wantStart {
				wantNoStart(t, d)
				wantCondition(t, d.Status, v1alpha1.ConditionDraining, metav1.ConditionFalse, "Idle")
				return
			}
			wantStart(t, d, run(1), v1alpha1.TriggerQueueDepth, tc.wantWorkers)
			if started(d).MessagesAtStart != tc.visible || d.Status.ActiveRun.MessagesAtStart != tc.visible {
				t.Errorf("messages at start = %d (status %d), want %d", started(d).MessagesAtStart, d.Status.ActiveRun.MessagesAtStart, tc.visible)
			}
			if !d.Status.ActiveRun.StartedAt.Time.Equal(t0) {
				t.Errorf("activeRun.startedAt = %v, want %v", d.Status.ActiveRun.StartedAt, t0)
			}
			if d.Status.LastRunNumber != 1 {
				t.Errorf("lastRunNumber = %d, want 1", d.Status.LastRunNumber)
			}
		})
	}
}

func TestDrainStartsWhenOldestMessageIsTooOld(t *testing.T) {
	for _, tc := range []struct {
		name      string
		age       time.Duration
		wantStart bool
	}{
		{name: "younger than the threshold", age: 9*time.Minute + 59*time.Second},
		{name: "exactly the threshold", age: 10 * time.Minute, wantStart: true},
		{name: "older than the threshold", age: 25 * time.Minute, wantStart: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(drainer(ageTrigger(10*time.Minute)), t0, queue(300, oldest(tc.age, t0.Add(-2*time.Minute))))
			if tc.wantStart {
				wantStart(t, d, run(1), v1alpha1.TriggerOldestMessageAge, 1)
			} else {
				wantNoStart(t, d)
			}
			wantCondition(t, d.Status, v1alpha1.ConditionMetricsAvailable, metav1.ConditionTrue, "DatapointFresh")
		})
	}
}

func TestOldestMessageAgeNeedsVisibleMessages(t *testing.T) {
	// An hour-old datapoint age with nothing visible (all in flight) must
	// not start a run: there is nothing to drain.
	d := decide(drainer(ageTrigger(10*time.Minute)), t0, queue(0, inFlight(40), oldest(time.Hour, t0.Add(-time.Minute))))
	wantNoStart(t, d)
}

func TestUnknownOrStaleAgeNeverFiresAndIsNotShownAsZero(t *testing.T) {
	for _, tc := range []struct {
		name       string
		obs        plan.Observation
		wantReason string
	}{
		{name: "no datapoint", obs: queue(500), wantReason: "NoDatapoint"},
		{name: "datapoint older than StaleAfter", obs: queue(500, oldest(time.Hour, t0.Add(-plan.StaleAfter-time.Second))), wantReason: "StaleDatapoint"},
		{name: "a very old datapoint", obs: queue(500, oldest(3*time.Hour, t0.Add(-2*time.Hour))), wantReason: "StaleDatapoint"},
		{name: "CloudWatch failed", obs: queue(500, oldest(time.Hour, t0), metricsErr("AccessDenied")), wantReason: "AccessDenied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Status showed an age before: it must not linger, and must not become 0.
			qd := drainer(ageTrigger(10*time.Minute), queueStatus(v1alpha1.QueueStatus{VisibleMessages: 400,
				OldestMessageAge: &metav1.Duration{Duration: 11 * time.Minute}, OldestMessageAgeTimestamp: mtime(t0.Add(-time.Hour)),
				ObservedAt: metav1.NewTime(t0.Add(-30 * time.Second))}))
			d := decide(qd, t0, tc.obs)
			wantNoStart(t, d)
			if d.Status.Queue == nil {
				t.Fatal("status.queue is nil, want the new observation")
			}
			if d.Status.Queue.VisibleMessages != 500 {
				t.Errorf("status.queue.visibleMessages = %d, want 500", d.Status.Queue.VisibleMessages)
			}
			if d.Status.Queue.OldestMessageAge != nil {
				t.Errorf("status.queue.oldestMessageAge = %v, want absent (unknown)", d.Status.Queue.OldestMessageAge.Duration)
			}
			if d.Status.Queue.OldestMessageAgeTimestamp != nil {
				t.Errorf("status.queue.oldestMessageAgeTimestamp = %v, want absent", d.Status.Queue.OldestMessageAgeTimestamp)
			}
			wantCondition(t, d.Status, v1alpha1.ConditionMetricsAvailable, metav1.ConditionFalse, tc.wantReason)
			if !hasEvent(d, v1alpha1.ReasonMetricsUnavailable) {
				t.Errorf("events %v, want %s (an age trigger depends on the metric)", reasons(d), v1alpha1.ReasonMetricsUnavailable)
			}
		})
	}
}

func TestDepthTriggerKeepsWorkingWhenAgeIsUnknown(t *testing.T) {
	d := decide(drainer(depthTrigger(100), ageTrigger(time.Minute)), t0, queue(500, metricsErr("Throttling")))
	wantStart(t, d, run(1), v1alpha1.TriggerQueueDepth, 1)
	wantCondition(t, d.Status, v1alpha1.ConditionMetricsAvailable, metav1.ConditionFalse, "Throttling")
	wantCondition(t, d.Status, v1alpha1.ConditionReady, metav1.ConditionTrue, "Watching")
}

func TestFreshAgeIsShownWithItsDatapointTime(t *testing.T) {
	at := t0.Add(-3 * time.Minute)
	d := decide(drainer(ageTrigger(time.Hour)), t0, queue(7, oldest(11*time.Minute+400*time.Millisecond, at)))
	q := d.Status.Queue
	if q == nil || q.OldestMessageAge == nil {
		t.Fatalf("status.queue = %+v, want an oldest message age", q)
	}
	if q.OldestMessageAge.Duration != 11*time.Minute {
		t.Errorf("oldestMessageAge = %v, want 11m0s", q.OldestMessageAge.Duration)
	}
	if !sameTime(q.OldestMessageAgeTimestamp, at) {
		t.Errorf("oldestMessageAgeTimestamp = %s, want the datapoint's %s", fmtTime(q.OldestMessageAgeTimestamp), at.Format(time.RFC3339))
	}
	if !q.ObservedAt.Time.Equal(t0) {
		t.Errorf("observedAt = %v, want %v", q.ObservedAt, t0)
	}
}

func TestTriggerPrecedenceWhenSeveralFire(t *testing.T) {
	// t0 is 12:00, a */15 slot; the previous slot was handled.
	all := []drainerOpt{depthTrigger(100), ageTrigger(5 * time.Minute), schedule("*/15 * * * *"), lastSchedule(t0.Add(-15 * time.Minute))}
	fresh := oldest(time.Hour, t0.Add(-time.Minute))
	for _, tc := range []struct {
		name string
		opts []drainerOpt
		obs  plan.Observation
		want v1alpha1.Trigger
	}{
		{name: "manual beats schedule, depth and age", opts: append(all, requested("now")), obs: queue(500, fresh), want: v1alpha1.TriggerManual},
		{name: "schedule beats depth and age", opts: all, obs: queue(500, fresh), want: v1alpha1.TriggerSchedule},
		{name: "depth beats age", opts: []drainerOpt{depthTrigger(100), ageTrigger(5 * time.Minute)}, obs: queue(500, fresh), want: v1alpha1.TriggerQueueDepth},
		{name: "age alone", opts: []drainerOpt{depthTrigger(1000), ageTrigger(5 * time.Minute)}, obs: queue(500, fresh), want: v1alpha1.TriggerOldestMessageAge},
		{name: "schedule alone", opts: []drainerOpt{depthTrigger(1000), schedule("*/15 * * * *"), lastSchedule(t0.Add(-15 * time.Minute))}, obs: queue(500), want: v1alpha1.TriggerSchedule},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(drainer(tc.opts...), t0, tc.obs)
			wantStart(t, d, run(1), tc.want, 1)
			if n := countEvents(d, v1alpha1.ReasonDrainStarted); n != 1 {
				t.Errorf("%d DrainStarted events, want exactly 1", n)
			}
		})
	}
}

func TestNothingStartsWhenNoTriggerFires(t *testing.T) {
	d := decide(drainer(depthTrigger(1000), ageTrigger(time.Hour), schedule("0 3 * * *"), lastSchedule(t0.Add(-9*time.Hour))),
		t0, queue(999, oldest(59*time.Minute, t0.Add(-time.Minute))))
	wantNoStart(t, d)
	if scaled(d) != nil || len(d.Delete) != 0 {
		t.Errorf("scale %+v delete %v, want nothing to do", scaled(d), d.Delete)
	}
	wantCondition(t, d.Status, v1alpha1.ConditionDraining, metav1.ConditionFalse, "Idle")
	wantCondition(t, d.Status, v1alpha1.ConditionReady, metav1.ConditionTrue, "Watching")
	wantCondition(t, d.Status, v1alpha1.ConditionQueueReachable, metav1.ConditionTrue, "QueueObserved")
	if d.Status.ObservedGeneration != 1 {
		t.Errorf("observedGeneration = %d, want 1", d.Status.ObservedGeneration)
	}
}

func TestCooldownHoldsBackTriggeredRuns(t *testing.T) {
	fresh := oldest(time.Hour, t0.Add(-time.Minute))
	for _, tc := range []struct {
		name      string
		opts      []drainerOpt
		finished  time.Time
		wantStart v1alpha1.Trigger
	}{
		{name: "depth within cooldown", opts: []drainerOpt{depthTrigger(10)}, finished: t0.Add(-59 * time.Second)},
		{name: "age within cooldown", opts: []drainerOpt{ageTrigger(time.Minute)}, finished: t0.Add(-59 * time.Second)},
		{name: "schedule slot within cooldown", opts: []drainerOpt{schedule("*/15 * * * *"), lastSchedule(t0.Add(-15 * time.Minute))}, finished: t0.Add(-30 * time.Second)},
		{name: "depth when cooldown just ended", opts: []drainerOpt{depthTrigger(10)}, finished: t0.Add(-time.Minute), wantStart: v1alpha1.TriggerQueueDepth},
		{name: "age after cooldown", opts: []drainerOpt{ageTrigger(time.Minute)}, finished: t0.Add(-2 * time.Minute), wantStart: v1alpha1.TriggerOldestMessageAge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]drainerOpt{cooldown(time.Minute), lastFinished(tc.finished), lastRunNumber(3)}, tc.opts...)
			d := decide(drainer(opts...), t0, queue(500, fresh))
			if tc.wantStart == "" {
				wantNoStart(t, d)
				wantCondition(t, d.Status, v1alpha1.ConditionDraining, metav1.ConditionFalse, "CoolingDown")
				return
			}
			wantStart(t, d, run(4), tc.wantStart, 1)
		})
	}
}

func TestRequeueAfterIsRemainingCooldownWhenItEndsBeforeTheStatusRefresh(t *testing.T) {
	for _, tc := range []struct {
		name     string
		finished time.Time
		want     time.Duration
	}{
		{name: "10s of cooldown left", finished: t0.Add(-50 * time.Second), want: 10 * time.Second},
		{name: "45s of cooldown left", finished: t0.Add(-15 * time.Second), want: 45 * time.Second},
		{name: "cooldown over: the status refresh", finished: t0.Add(-5 * time.Minute), want: time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(drainer(depthTrigger(10), cooldown(time.Minute), lastFinished(tc.finished), lastRunNumber(1)), t0, queue(500))
			if tc.finished.Add(time.Minute).After(t0) {
				wantNoStart(t, d)
			}
			if d.RequeueAfter != tc.want {
				t.Errorf("requeueAfter = %v, want %v", d.RequeueAfter, tc.want)
			}
		})
	}
}

func TestSuspendStartsNothing(t *testing.T) {
	fresh := oldest(time.Hour, t0.Add(-time.Minute))
	for _, tc := range []struct {
		name string
		opts []drainerOpt
	}{
		{name: "depth", opts: []drainerOpt{depthTrigger(1)}},
		{name: "age", opts: []drainerOpt{ageTrigger(time.Minute)}},
		{name: "schedule slot", opts: []drainerOpt{schedule("*/15 * * * *"), lastSchedule(t0.Add(-15 * time.Minute))}},
		{name: "manual request", opts: []drainerOpt{depthTrigger(1_000_000), requested("please")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(drainer(append(tc.opts, suspended)...), t0, queue(5000, fresh))
			wantNoStart(t, d)
			wantCondition(t, d.Status, v1alpha1.ConditionDraining, metav1.ConditionFalse, "Suspended")
		})
	}
}

func TestForbidNeverStartsASecondRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []drainerOpt
	}{
		{name: "depth", opts: []drainerOpt{depthTrigger(1)}},
		{name: "schedule slot", opts: []drainerOpt{schedule("*/15 * * * *"), lastSchedule(t0.Add(-15 * time.Minute))}},
		{name: "manual request", opts: []drainerOpt{requested("again")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qd := drainer(append(tc.opts, activeRun(4, v1alpha1.TriggerQueueDepth, t0.Add(-5*time.Minute), 5, 5000))...)
			d := decide(qd, t0, queue(4000), job(4, 5))
			wantNoStart(t, d)
			if len(d.Delete) != 0 {
				t.Errorf("delete %v, want the active run kept", d.Delete)
			}
			if d.Status.ActiveRun == nil || d.Status.ActiveRun.Name != run(4) {
				t.Errorf("activeRun = %+v, want %s still active", d.Status.ActiveRun, run(4))
			}
			wantCondition(t, d.Status, v1alpha1.ConditionDraining, metav1.ConditionTrue, string(v1alpha1.TriggerQueueDepth))
		})
	}
}

func TestReplaceStopsTheActiveRunForManualRequestOrSchedule(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []drainerOpt
		want v1alpha1.Trigger
	}{
		{name: "manual request", opts: []drainerOpt{requested("again")}, want: v1alpha1.TriggerManual},
		{name: "schedule slot", opts: []drainerOpt{schedule("*/15 * * * *"), lastSchedule(t0.Add(-15 * time.Minute))}, want: v1alpha1.TriggerSchedule},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qd := drainer(append(tc.opts, replace, activeRun(4, v1alpha1.TriggerQueueDepth, t0.Add(-5*time.Minute), 3, 5000))...)
			d := decide(qd, t0, queue(4000), job(4, 3))
			wantStart(t, d, run(5), tc.want, 4)
			if len(d.Delete) != 1 || d.Delete[0] != run(4) {
				t.Errorf("delete %v, want [%s]", d.Delete, run(4))
			}
			if len(d.Status.History) == 0 || d.Status.History[0].Name != run(4) || d.Status.History[0].Result != v1alpha1.RunReplaced {
				t.Fatalf("history %+v, want %s first as Replaced", d.Status.History, run(4))
			}
			if h := d.Status.History[0]; !h.FinishedAt.Time.Equal(t0) || h.Message == "" {
				t.Errorf("replaced record = %+v, want finishedAt now and a message", h)
			}
			if !hasEvent(d, v1alpha1.ReasonDrainReplaced) {
				t.Errorf("events %v, want %s", reasons(d), v1alpha1.ReasonDrainReplaced)
			}
			if d.Status.LastRunNumber != 5 {
				t.Errorf("lastRunNumber = %d, want 5", d.Status.LastRunNumber)
			}
		})
	}
}

func TestDepthAndAgeNeverReplaceTheActiveRun(t *testing.T) {
	qd := drainer(replace, depthTrigger(10), ageTrigger(time.Minute), activeRun(4, v1alpha1.TriggerQueueDepth, t0.Add(-5*time.Minute), 3, 3000))
	d := decide(qd, t0, queue(2000, oldest(time.Hour, t0.Add(-time.Minute))), job(4, 3))
	wantNoStart(t, d)
	if len(d.Delete) != 0 {
		t.Errorf("delete %v, want the active run kept", d.Delete)
	}
	if d.Status.ActiveRun == nil || d.Status.ActiveRun.Name != run(4) {
		t.Errorf("activeRun = %+v, want %s", d.Status.ActiveRun, run(4))
	}
	if len(d.Status.History) != 0 {
		t.Errorf("history %+v, want nothing replaced", d.Status.History)
	}
}

// With the observation outside the reconcile, a drainer looks again at its
// next deadline: at the latest when the counts in status are due for
// renewal, a minute after they were observed.
func TestRequeueAfterIsTheNextDeadlineAndAtMostTheStatusRefresh(t *testing.T) {
	dur := func(d time.Duration) *time.Duration { return &d }
	for _, tc := range []struct {
		name string
		poll *time.Duration
		opts []drainerOpt
		obs  plan.Observation
		jobs []plan.Job
		want time.Duration // 0: only the bounds are checked
	}{
		{name: "counts observed now: renewed in a minute", poll: dur(45 * time.Second), obs: queue(0), want: time.Minute},
		{name: "poll interval unset", poll: nil, obs: queue(0), want: time.Minute},
		{name: "counts observed 40s ago", poll: dur(10 * time.Second), obs: queue(0, observedAt(t0.Add(-40*time.Second))), want: 20 * time.Second},
		{name: "renewal due and no newer observation: a poll later", poll: dur(10 * time.Second),
			obs: queue(0, observedAt(t0.Add(-2*time.Minute))), want: 10 * time.Second},
		{name: "cooldown ending now", poll: dur(time.Minute), opts: []drainerOpt{lastFinished(t0.Add(-time.Minute + time.Nanosecond))}, obs: queue(5)},
		{name: "cooldown ending in 20s", poll: dur(time.Minute), opts: []drainerOpt{lastFinished(t0.Add(-40 * time.Second))}, obs: queue(5), want: 20 * time.Second},
		{name: "queue unreachable: the observer wakes it when that changes", poll: dur(10 * time.Second), obs: unreachable("AccessDenied"), want: time.Minute},
		{name: "schedule slot in 30s", poll: dur(5 * time.Minute), opts: []drainerOpt{schedule("* * * * *")}, obs: queue(0, observedAt(t0.Add(-30*time.Second))),
			want: 30 * time.Second},
		{name: "active run", poll: dur(20 * time.Second), opts: []drainerOpt{activeRun(1, v1alpha1.TriggerManual, t0, 1, 1)}, obs: queue(0), jobs: []plan.Job{job(1, 1)}, want: time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qd := drainer(append([]drainerOpt{depthTrigger(10), pollInterval(tc.poll)}, tc.opts...)...)
			d := decide(qd, t0, tc.obs, tc.jobs...)
			if d.RequeueAfter <= 0 || d.RequeueAfter > plan.DefaultStatusRefresh {
				t.Errorf("requeueAfter = %v, want in (0, %v]", d.RequeueAfter, plan.DefaultStatusRefresh)
			}
			if tc.want != 0 && d.RequeueAfter != tc.want {
				t.Errorf("requeueAfter = %v, want %v", d.RequeueAfter, tc.want)
			}
		})
	}
}
