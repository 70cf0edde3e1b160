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
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
)

func TestWorkersAreBacklogPerMessagesPerWorkerWithinMinAndMax(t *testing.T) {
	for _, tc := range []struct {
		name          string
		perWorker     int64
		min, max      int32
		visible, want int64
	}{
		{name: "empty queue gets min", perWorker: 1000, min: 2, max: 10, visible: 0, want: 2},
		{name: "one message gets one worker", perWorker: 1000, min: 1, max: 10, visible: 1, want: 1},
		{name: "exact multiple", perWorker: 1000, min: 1, max: 10, visible: 3000, want: 3},
		{name: "rounds up", perWorker: 1000, min: 1, max: 10, visible: 3001, want: 4},
		{name: "below min is raised to min", perWorker: 1000, min: 5, max: 10, visible: 1500, want: 5},
		{name: "above max is capped at max", perWorker: 1000, min: 1, max: 20, visible: 1_000_000, want: 20},
		{name: "huge backlog is capped at max", perWorker: 1, min: 1, max: 1000, visible: math.MaxInt64, want: 1000},
		{name: "min equals max", perWorker: 10, min: 4, max: 4, visible: 1000, want: 4},
		{name: "unset messagesPerWorker defaults to 1000", perWorker: 0, min: 1, max: 10, visible: 2500, want: 3},
		{name: "unset min and max default to 1 and 10", perWorker: 1000, min: 0, max: 0, visible: 50_000, want: 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qd := drainer(workers(tc.perWorker, tc.min, tc.max), requested("go"))
			d := decide(qd, t0, queue(tc.visible))
			wantStart(t, d, run(1), v1alpha1.TriggerManual, int32(tc.want))
		})
	}
}

func TestDrainWithinUsesLearnedThroughput(t *testing.T) {
	// 10 messages per worker-second, 60 s to drain 12,000 messages: 20
	// workers, where messagesPerWorker alone asks for 12.
	for _, tc := range []struct {
		name string
		opts []drainerOpt
		want int32
	}{
		{name: "drainWithin needs more than messagesPerWorker", opts: []drainerOpt{throughput("10.0", 3), drainWithin(time.Minute)}, want: 20},
		{name: "drainWithin is capped at max", opts: []drainerOpt{throughput("10.0", 3), drainWithin(time.Second)}, want: 30},
		{name: "messagesPerWorker wins when it needs more", opts: []drainerOpt{throughput("1000.0", 3), drainWithin(time.Hour)}, want: 12},
		{name: "no learned throughput falls back to messagesPerWorker", opts: []drainerOpt{drainWithin(time.Minute)}, want: 12},
		{name: "unreadable learned throughput falls back", opts: []drainerOpt{throughput("fast", 1), drainWithin(time.Minute)}, want: 12},
		{name: "learned throughput without drainWithin is not used", opts: []drainerOpt{throughput("10.0", 3)}, want: 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qd := drainer(append([]drainerOpt{workers(1000, 1, 30), depthTrigger(100)}, tc.opts...)...)
			d := decide(qd, t0, queue(12_000))
			wantStart(t, d, run(1), v1alpha1.TriggerQueueDepth, tc.want)
		})
	}
}

func TestActiveRunScalesUpWhenBacklogGrows(t *testing.T) {
	for _, tc := range []struct {
		name      string
		jobWorker int32
		visible   int64
		wantTo    int32 // 0: no scale
	}{
		{name: "backlog grew", jobWorker: 2, visible: 4500, wantTo: 5},
		{name: "backlog grew past max", jobWorker: 2, visible: 500_000, wantTo: 8},
		{name: "already at max", jobWorker: 8, visible: 500_000},
		{name: "backlog shrank: never scale down", jobWorker: 5, visible: 1000},
		{name: "unchanged", jobWorker: 3, visible: 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qd := drainer(workers(1000, 1, 8), depthTrigger(100),
				activeRun(4, v1alpha1.TriggerQueueDepth, t0.Add(-time.Minute), tc.jobWorker, 2000))
			d := decide(qd, t0, queue(tc.visible), job(4, tc.jobWorker))
			wantNoStart(t, d)
			if tc.wantTo == 0 {
				if scaled(d) != nil {
					t.Errorf("scale %+v, want none", *scaled(d))
				}
				if hasEvent(d, v1alpha1.ReasonDrainScaled) {
					t.Errorf("events %v, want no %s", reasons(d), v1alpha1.ReasonDrainScaled)
				}
				if d.Status.ActiveRun.Workers != tc.jobWorker {
					t.Errorf("activeRun.workers = %d, want %d", d.Status.ActiveRun.Workers, tc.jobWorker)
				}
				return
			}
			want := scale{Job: run(4), From: tc.jobWorker, To: tc.wantTo}
			if scaled(d) == nil || *scaled(d) != want {
				t.Fatalf("scale %+v, want %+v", scaled(d), want)
			}
			if !hasEvent(d, v1alpha1.ReasonDrainScaled) {
				t.Errorf("events %v, want %s", reasons(d), v1alpha1.ReasonDrainScaled)
			}
			if d.Status.ActiveRun.Workers != tc.wantTo {
				t.Errorf("activeRun.workers = %d, want %d", d.Status.ActiveRun.Workers, tc.wantTo)
			}
		})
	}
}

func TestActiveRunWorkersFollowTheJobsParallelism(t *testing.T) {
	// Someone (or a previous scale-up whose status write failed) set the
	// Job's parallelism to 6; status follows the Job, and no scale is asked.
	qd := drainer(workers(1000, 1, 10), activeRun(2, v1alpha1.TriggerManual, t0.Add(-time.Minute), 2, 2000))
	d := decide(qd, t0, queue(3000), job(2, 6))
	if scaled(d) != nil {
		t.Errorf("scale %+v, want none", *scaled(d))
	}
	if d.Status.ActiveRun == nil || d.Status.ActiveRun.Workers != 6 {
		t.Errorf("activeRun = %+v, want 6 workers", d.Status.ActiveRun)
	}
}

// A slow consumer (a few seconds or more per message) must teach a
// throughput that drainWithin can use, like a fast one does.
func TestDrainWithinUsesSlowLearnedThroughput(t *testing.T) {
	// Run 1: 10 workers processed 120 messages in 10 minutes: 0.02 messages per worker-second.
	qd := drainer(workers(1000, 1, 50), drainWithin(10*time.Minute), cooldown(0),
		activeRun(1, v1alpha1.TriggerManual, t0.Add(-10*time.Minute), 10, 120))
	d := decide(qd, t0, queue(0), job(1, 10, processed(120), succeededAt(t0)))
	if d.Status.Throughput == nil {
		t.Fatal("status.throughput not learned from a succeeded run")
	}
	rate, err := strconv.ParseFloat(d.Status.Throughput.MessagesPerWorkerSecond, 64)
	if err != nil || math.Abs(rate-0.02) > 0.002 {
		t.Errorf("status.throughput.messagesPerWorkerSecond = %q, want about 0.02", d.Status.Throughput.MessagesPerWorkerSecond)
	}

	// Run 2: 1,200 messages to drain within 10 minutes at 0.02/worker-s
	// need 100 workers, capped at 50; messagesPerWorker alone says 2.
	qd = next(qd, d)
	qd.Annotations = map[string]string{v1alpha1.DrainRequestAnnotation: "go"}
	d = decide(qd, t0.Add(time.Minute), queue(1200), job(1, 10, processed(120), succeededAt(t0)))
	wantStart(t, d, run(2), v1alpha1.TriggerManual, 50)
}
