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
	"reflect"
	"regexp"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
)

func TestUnreachableQueueStartsNothingAndKeepsTheLastObservation(t *testing.T) {
	last := v1alpha1.QueueStatus{VisibleMessages: 5000, InFlightMessages: 3, ObservedAt: metav1.NewTime(t0.Add(-time.Minute)),
		OldestMessageAge: &metav1.Duration{Duration: 20 * time.Minute}, OldestMessageAgeTimestamp: mtime(t0.Add(-2 * time.Minute))}
	qd := drainer(depthTrigger(10), ageTrigger(time.Minute), schedule("*/15 * * * *"), lastSchedule(t0.Add(-15*time.Minute)),
		requested("now"), queueStatus(last))
	d := decide(qd, t0, unreachable("QueueDoesNotExist"))

	wantNoStart(t, d)
	if d.Status.Queue == nil || !reflect.DeepEqual(*d.Status.Queue, last) {
		t.Errorf("status.queue = %+v, want the last observation %+v kept", d.Status.Queue, last)
	}
	wantCondition(t, d.Status, v1alpha1.ConditionQueueReachable, metav1.ConditionFalse, "QueueDoesNotExist")
	wantCondition(t, d.Status, v1alpha1.ConditionReady, metav1.ConditionFalse, "QueueDoesNotExist")
	if !hasEvent(d, v1alpha1.ReasonQueueUnreachable) {
		t.Errorf("events %v, want %s", reasons(d), v1alpha1.ReasonQueueUnreachable)
	}
	if !sameTime(d.Status.LastScheduleTime, t0.Add(-15*time.Minute)) || d.Status.LastHandledDrainRequest != "" {
		t.Errorf("lastScheduleTime %s, lastHandledDrainRequest %q: want the slot and the request still pending",
			fmtTime(d.Status.LastScheduleTime), d.Status.LastHandledDrainRequest)
	}
}

func TestUnreachableQueueDoesNotScaleTheActiveRun(t *testing.T) {
	qd := drainer(activeRun(2, v1alpha1.TriggerQueueDepth, t0.Add(-time.Minute), 1, 1000))
	d := decide(qd, t0, unreachable("Throttling"), job(2, 1))
	if scaled(d) != nil || started(d) != nil || len(d.Delete) != 0 {
		t.Errorf("scale %+v start %+v delete %v, want nothing done blind", scaled(d), started(d), d.Delete)
	}
	if d.Status.ActiveRun == nil || d.Status.ActiveRun.Name != run(2) {
		t.Errorf("activeRun = %+v, want %s still active", d.Status.ActiveRun, run(2))
	}
}

func TestQueueUnreachableEventOnlyOnTransition(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      []drainerOpt
		wantEvent bool
	}{
		{name: "first observation fails", wantEvent: true},
		{name: "was reachable", opts: []drainerOpt{condition(v1alpha1.ConditionQueueReachable, metav1.ConditionTrue, "QueueObserved", t0.Add(-time.Hour))}, wantEvent: true},
		{name: "already unreachable for the same reason", opts: []drainerOpt{condition(v1alpha1.ConditionQueueReachable, metav1.ConditionFalse, "QueueDoesNotExist", t0.Add(-time.Hour))}},
		{name: "unreachable for another reason before", opts: []drainerOpt{condition(v1alpha1.ConditionQueueReachable, metav1.ConditionFalse, "AccessDenied", t0.Add(-time.Hour))}, wantEvent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(drainer(append(tc.opts, depthTrigger(1))...), t0, unreachable("QueueDoesNotExist"))
			wantCondition(t, d.Status, v1alpha1.ConditionQueueReachable, metav1.ConditionFalse, "QueueDoesNotExist")
			if got := countEvents(d, v1alpha1.ReasonQueueUnreachable); got != map[bool]int{true: 1, false: 0}[tc.wantEvent] {
				t.Errorf("%d %s events, want event=%v", got, v1alpha1.ReasonQueueUnreachable, tc.wantEvent)
			}
			wantNoStart(t, d)
		})
	}
}

func TestQueueReachableAgainIsAnnounced(t *testing.T) {
	qd := drainer(depthTrigger(100), condition(v1alpha1.ConditionQueueReachable, metav1.ConditionFalse, "AccessDenied", t0.Add(-time.Hour)))
	d := decide(qd, t0, queue(500))
	wantCondition(t, d.Status, v1alpha1.ConditionQueueReachable, metav1.ConditionTrue, "QueueObserved")
	wantCondition(t, d.Status, v1alpha1.ConditionReady, metav1.ConditionTrue, "Watching")
	if !hasEvent(d, v1alpha1.ReasonQueueReachable) {
		t.Errorf("events %v, want %s", reasons(d), v1alpha1.ReasonQueueReachable)
	}
	wantStart(t, d, run(1), v1alpha1.TriggerQueueDepth, 1)
}

func TestMetricsUnavailableEventOnlyOnTransition(t *testing.T) {
	stale := oldest(time.Hour, t0.Add(-time.Hour))
	for _, tc := range []struct {
		name      string
		opts      []drainerOpt
		obs       plan.Observation
		wantEvent bool
	}{
		{name: "datapoint goes stale", opts: []drainerOpt{condition(v1alpha1.ConditionMetricsAvailable, metav1.ConditionTrue, "DatapointFresh", t0.Add(-time.Hour))}, obs: queue(5, stale), wantEvent: true},
		{name: "still stale", opts: []drainerOpt{condition(v1alpha1.ConditionMetricsAvailable, metav1.ConditionFalse, "StaleDatapoint", t0.Add(-time.Hour))}, obs: queue(5, stale)},
		{name: "stale, then CloudWatch fails", opts: []drainerOpt{condition(v1alpha1.ConditionMetricsAvailable, metav1.ConditionFalse, "StaleDatapoint", t0.Add(-time.Hour))}, obs: queue(5, metricsErr("AccessDenied")), wantEvent: true},
		{name: "fresh again", opts: []drainerOpt{condition(v1alpha1.ConditionMetricsAvailable, metav1.ConditionFalse, "StaleDatapoint", t0.Add(-time.Hour))}, obs: queue(5, oldest(time.Minute, t0))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(drainer(append(tc.opts, ageTrigger(time.Hour))...), t0, tc.obs)
			if got := countEvents(d, v1alpha1.ReasonMetricsUnavailable); (got == 1) != tc.wantEvent || got > 1 {
				t.Errorf("%d %s events, want event=%v", got, v1alpha1.ReasonMetricsUnavailable, tc.wantEvent)
			}
		})
	}
}

func TestMetricsUnavailableIsNoNewsWithoutAnAgeTrigger(t *testing.T) {
	d := decide(drainer(depthTrigger(100)), t0, queue(5))
	wantCondition(t, d.Status, v1alpha1.ConditionMetricsAvailable, metav1.ConditionFalse, "NoDatapoint")
	if hasEvent(d, v1alpha1.ReasonMetricsUnavailable) {
		t.Errorf("events %v, want no %s without an age trigger", reasons(d), v1alpha1.ReasonMetricsUnavailable)
	}
}

// Decide takes time from Input.Now only: a condition that appears or
// changes status is stamped with Input.Now, so that a decision is
// reproducible and a fake clock in the controller tests governs it.
func TestConditionTransitionTimesComeFromInputNow(t *testing.T) {
	now := time.Date(2031, time.July, 1, 8, 0, 0, 0, time.UTC) // not the wall clock
	t.Run("new conditions", func(t *testing.T) {
		d := decide(drainer(depthTrigger(100)), now, queue(5))
		for _, typ := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionDraining, v1alpha1.ConditionQueueReachable, v1alpha1.ConditionMetricsAvailable} {
			if c := cond(d.Status, typ); c == nil || !c.LastTransitionTime.Time.Equal(now) {
				t.Errorf("condition %s = %+v, want lastTransitionTime %v", typ, c, now)
			}
		}
	})
	t.Run("a condition that changes status", func(t *testing.T) {
		qd := drainer(depthTrigger(100), condition(v1alpha1.ConditionQueueReachable, metav1.ConditionTrue, "QueueObserved", now.Add(-time.Hour)))
		d := decide(qd, now, unreachable("AccessDenied"))
		if c := cond(d.Status, v1alpha1.ConditionQueueReachable); c == nil || !c.LastTransitionTime.Time.Equal(now) {
			t.Errorf("condition QueueReachable = %+v, want lastTransitionTime %v", c, now)
		}
	})
	t.Run("a condition that keeps its status keeps its time", func(t *testing.T) {
		since := now.Add(-time.Hour)
		qd := drainer(depthTrigger(100), condition(v1alpha1.ConditionQueueReachable, metav1.ConditionTrue, "QueueObserved", since))
		d := decide(qd, now, queue(5))
		if c := cond(d.Status, v1alpha1.ConditionQueueReachable); c == nil || !c.LastTransitionTime.Time.Equal(since) {
			t.Errorf("condition QueueReachable = %+v, want lastTransitionTime %v kept", c, since)
		}
	})
	t.Run("deciding twice gives the same status", func(t *testing.T) {
		in := plan.Input{Now: now, Drainer: drainer(depthTrigger(100)), Queue: queue(500)}
		a, b := plan.Decide(in), plan.Decide(in)
		if !reflect.DeepEqual(a.Status, b.Status) {
			t.Errorf("two decisions from one input differ:\n%+v\n%+v", a.Status.Conditions, b.Status.Conditions)
		}
	})
}

// conditionReason is the pattern the API server enforces on metav1.Condition.reason.
var conditionReason = regexp.MustCompile(`^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`)

func TestConditionReasonsAreValidForTheAPIServer(t *testing.T) {
	for _, tc := range []struct {
		name string
		qd   *v1alpha1.QueueDrainer
		obs  plan.Observation
		jobs []plan.Job
	}{
		{name: "a run starts", qd: drainer(depthTrigger(1)), obs: queue(5)},
		{name: "suspended", qd: drainer(depthTrigger(1), suspended), obs: queue(5)},
		{name: "cooling down", qd: drainer(depthTrigger(1), lastFinished(t0)), obs: queue(5)},
		{name: "unreachable", qd: drainer(depthTrigger(1)), obs: unreachable("QueueDoesNotExist")},
		{name: "stale metrics", qd: drainer(ageTrigger(time.Minute)), obs: queue(5, oldest(time.Hour, t0.Add(-time.Hour)))},
		{name: "invalid schedule", qd: drainer(schedule("*/15 * * * *"), timeZone("Nowhere/Town")), obs: queue(5)},
		// A Job whose trigger annotation was lost (edited away, or created
		// by hand with the drainer's labels) is still adopted.
		{name: "adopted Job with no recorded trigger", qd: drainer(depthTrigger(1)), obs: queue(5), jobs: []plan.Job{job(1, 1, jobTrigger(""))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(tc.qd, t0, tc.obs, tc.jobs...)
			// The four always, and Stalled or Reconciling while true.
			if n := len(d.Status.Conditions); n < 4 || n > 5 {
				t.Errorf("%d conditions, want Ready, Draining, QueueReachable and MetricsAvailable, and Stalled or Reconciling while true", n)
			}
			for _, c := range d.Status.Conditions {
				if !conditionReason.MatchString(c.Reason) || len(c.Reason) > 1024 {
					t.Errorf("condition %s has reason %q, which the API server refuses", c.Type, c.Reason)
				}
				if c.Status != metav1.ConditionTrue && c.Status != metav1.ConditionFalse {
					t.Errorf("condition %s has status %q", c.Type, c.Status)
				}
			}
		})
	}
}
