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
)

func TestManualRequestStartsARunOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		visible int64
		workers int32
	}{
		{name: "with a backlog", visible: 2500, workers: 3},
		{name: "with an empty queue", visible: 0, workers: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qd := drainer(depthTrigger(1_000_000), requested("2026-03-10T12:00:00Z"))
			d := decide(qd, t0, queue(tc.visible))
			wantStart(t, d, run(1), v1alpha1.TriggerManual, tc.workers)
			if d.Status.LastHandledDrainRequest != "2026-03-10T12:00:00Z" {
				t.Errorf("lastHandledDrainRequest = %q, want the annotation value", d.Status.LastHandledDrainRequest)
			}

			// The same value again, once the run is over: nothing.
			qd = next(qd, d)
			d = decide(qd, t0.Add(10*time.Minute), queue(tc.visible), job(1, tc.workers, succeededAt(t0.Add(5*time.Minute))))
			wantNoStart(t, d)
			if d.Status.LastHandledDrainRequest != "2026-03-10T12:00:00Z" {
				t.Errorf("lastHandledDrainRequest = %q, want it kept", d.Status.LastHandledDrainRequest)
			}
		})
	}
}

func TestSameManualRequestValueDoesNothing(t *testing.T) {
	qd := drainer(depthTrigger(1_000_000), requested("a"), handled("a"), lastRunNumber(3))
	d := decide(qd, t0, queue(500))
	wantNoStart(t, d)
	if hasEvent(d, v1alpha1.ReasonDrainRequestJoined) {
		t.Errorf("events %v, want no word about an old request", reasons(d))
	}
}

func TestNewManualRequestValueStartsAgainAfterTheRunFinished(t *testing.T) {
	qd := drainer(depthTrigger(1_000_000), requested("first"))
	d := decide(qd, t0, queue(500))
	wantStart(t, d, run(1), v1alpha1.TriggerManual, 1)

	// The run finishes; the user asks again with a new value, within the cooldown.
	qd = next(qd, d)
	qd.Annotations[v1alpha1.DrainRequestAnnotation] = "second"
	d = decide(qd, t0.Add(2*time.Minute), queue(500), job(1, 1, jobTrigger(v1alpha1.TriggerManual), succeededAt(t0.Add(110*time.Second))))
	wantStart(t, d, run(2), v1alpha1.TriggerManual, 1)
	if d.Status.LastHandledDrainRequest != "second" {
		t.Errorf("lastHandledDrainRequest = %q, want %q", d.Status.LastHandledDrainRequest, "second")
	}
	if len(d.Status.History) != 1 || d.Status.History[0].Name != run(1) {
		t.Errorf("history %v, want the first run recorded", names(d.Status.History))
	}
}

func TestManualRequestBypassesCooldown(t *testing.T) {
	qd := drainer(requested("now"), cooldown(time.Hour), lastFinished(t0.Add(-time.Minute)), lastRunNumber(7))
	d := decide(qd, t0, queue(10))
	wantStart(t, d, run(8), v1alpha1.TriggerManual, 1)
}

func TestManualRequestWaitsWhileSuspended(t *testing.T) {
	qd := drainer(requested("now"), suspended)
	d := decide(qd, t0, queue(10))
	wantNoStart(t, d)
	if d.Status.LastHandledDrainRequest != "" {
		t.Errorf("lastHandledDrainRequest = %q, want the request still pending", d.Status.LastHandledDrainRequest)
	}

	qd = next(qd, d)
	qd.Spec.Suspend = ptr(false)
	d = decide(qd, t0.Add(time.Hour), queue(10))
	wantStart(t, d, run(1), v1alpha1.TriggerManual, 1)
	if d.Status.LastHandledDrainRequest != "now" {
		t.Errorf("lastHandledDrainRequest = %q, want %q", d.Status.LastHandledDrainRequest, "now")
	}
}

func TestManualRequestJoinsTheActiveRunUnderForbid(t *testing.T) {
	qd := drainer(requested("r2"), handled("r1"), activeRun(3, v1alpha1.TriggerQueueDepth, t0.Add(-time.Minute), 2, 2000))
	d := decide(qd, t0, queue(1500), job(3, 2))
	wantNoStart(t, d)
	if d.Status.LastHandledDrainRequest != "r2" {
		t.Errorf("lastHandledDrainRequest = %q, want r2 (served by the active run)", d.Status.LastHandledDrainRequest)
	}
	if !hasEvent(d, v1alpha1.ReasonDrainRequestJoined) {
		t.Errorf("events %v, want %s", reasons(d), v1alpha1.ReasonDrainRequestJoined)
	}
	if len(d.Delete) != 0 || d.Status.ActiveRun == nil || d.Status.ActiveRun.Name != run(3) {
		t.Errorf("delete %v activeRun %+v, want %s left running", d.Delete, d.Status.ActiveRun, run(3))
	}

	// After the run, the joined request does not start another.
	d = decide(next(qd, d), t0.Add(time.Hour), queue(1500), job(3, 2, succeededAt(t0.Add(10*time.Minute))))
	wantNoStart(t, d)
}

func TestManualRequestWaitsWhileQueueIsUnreachable(t *testing.T) {
	qd := drainer(requested("now"))
	d := decide(qd, t0, unreachable("QueueDoesNotExist"))
	wantNoStart(t, d)
	if d.Status.LastHandledDrainRequest != "" {
		t.Errorf("lastHandledDrainRequest = %q, want the request still pending", d.Status.LastHandledDrainRequest)
	}

	d = decide(next(qd, d), t0.Add(time.Minute), queue(0))
	wantStart(t, d, run(1), v1alpha1.TriggerManual, 1)
	wantCondition(t, d.Status, v1alpha1.ConditionQueueReachable, metav1.ConditionTrue, "QueueObserved")
}
