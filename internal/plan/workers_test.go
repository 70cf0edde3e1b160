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

// wantScale fails unless d raises run's Job from `from` to `to` workers and
// says so; to == 0 means no scale at all.
func wantScale(t *testing.T, d plan.Decision, name string, from, to int32) {
	t.Helper()
	if to == 0 {
		if scaled(d) != nil {
			t.Errorf("scale %+v, want none", *scaled(d))
		}
		if hasEvent(d, v1alpha1.ReasonDrainScaled) {
			t.Errorf("events %v, want no %s", reasons(d), v1alpha1.ReasonDrainScaled)
		}
		if a := d.Status.ActiveRun; a == nil || a.Workers != from {
			t.Errorf("activeRun = %+v, want it to keep wanting %d workers", a, from)
		}
		return
	}
	want := scale{Job: name, From: from, To: to}
	if scaled(d) == nil || *scaled(d) != want {
		t.Fatalf("scale %+v, want %+v", scaled(d), want)
	}
	if !hasEvent(d, v1alpha1.ReasonDrainScaled) {
		t.Errorf("events %v, want %s", reasons(d), v1alpha1.ReasonDrainScaled)
	}
	if a := d.Status.ActiveRun; a == nil || a.Workers != to {
		t.Errorf("activeRun = %+v, want %d workers wanted", a, to)
	}
}

func TestScaleUpWaitsWhileWorkersArePending(t *testing.T) {
	// 5,000 visible at 1,000 a worker want 5 workers; the run has 2.
	for _, tc := range []struct {
		name string
		job  []jobOpt
		want int32 // 0: no scale
	}{
		{name: "all workers running", job: []jobOpt{indexed, pods(2, 2, 0, 0)}, want: 5},
		{name: "no pod created yet", job: []jobOpt{indexed, pods(0, 0, 0, 0)}, want: 5},
		{name: "one worker waits for a node", job: []jobOpt{indexed, pods(2, 1, 0, 0), waitingSince(t0.Add(-10*time.Second), "0/3 nodes are available")}},
		{name: "workers created, none running yet", job: []jobOpt{indexed, pods(2, 0, 0, 0)}},
		{name: "pending without a known waiting pod", job: []jobOpt{indexed, pods(2, 1, 0, 0)}},
		{name: "a replacement for a failed worker is pending", job: []jobOpt{indexed, pods(2, 1, 0, 1)}},
		{name: "the Job is suspended", job: []jobOpt{indexed, jobSuspended, pods(0, 0, 0, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qd := drainer(workers(1000, 1, 8), depthTrigger(100), activeRun(4, v1alpha1.TriggerQueueDepth, t0.Add(-2*time.Minute), 2, 2000))
			d := decide(qd, t0, queue(5000), job(4, 2, tc.job...))
			wantNoStart(t, d)
			wantScale(t, d, run(4), 2, tc.want)
		})
	}

	// Once the pending workers run, the run grows.
	qd := drainer(workers(1000, 1, 8), depthTrigger(100), activeRun(4, v1alpha1.TriggerQueueDepth, t0.Add(-2*time.Minute), 2, 2000))
	d := decide(qd, t0, queue(5000), job(4, 2, indexed, pods(2, 0, 0, 0), waitingSince(t0.Add(-20*time.Second), "pulling image")))
	wantScale(t, d, run(4), 2, 0)
	d = decide(next(qd, d), t0.Add(30*time.Second), queue(5000), job(4, 2, indexed, pods(2, 2, 0, 0)))
	wantScale(t, d, run(4), 2, 5)
}

func TestScaleUpOfAWorkQueueJobStopsOnceAWorkerSucceeded(t *testing.T) {
	// A Job from an older operator runs in work-queue mode: once one worker
	// has found the queue empty and exited 0, it creates no new pod, so a
	// higher parallelism would only be a number in status.
	for _, tc := range []struct {
		name string
		job  []jobOpt
		want int32
	}{
		{name: "work-queue Job, all workers still running", job: []jobOpt{pods(2, 2, 0, 0)}, want: 6},
		{name: "work-queue Job, one worker succeeded", job: []jobOpt{pods(1, 1, 1, 0)}},
		{name: "work-queue Job, every worker succeeded but the Job is not complete yet", job: []jobOpt{pods(0, 0, 2, 0)}},
		{name: "work-queue Job, a worker failed (and was replaced)", job: []jobOpt{pods(2, 2, 0, 1)}, want: 6},
		{name: "Indexed Job, one worker succeeded", job: []jobOpt{indexed, pods(1, 1, 1, 0)}, want: 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qd := drainer(workers(1000, 1, 10), depthTrigger(100), activeRun(2, v1alpha1.TriggerQueueDepth, t0.Add(-5*time.Minute), 2, 2000))
			d := decide(qd, t0, queue(6000), job(2, 2, tc.job...))
			wantScale(t, d, run(2), 2, tc.want)
		})
	}
}

func TestScaleUpStartsNewIndexesAfterSomeWorkersExited(t *testing.T) {
	// Two of three workers found the queue empty and exited; then 6,000
	// messages arrived. The Indexed Job grows to 6 indexes, and status
	// shows the one running of the six wanted.
	qd := drainer(workers(1000, 1, 10), depthTrigger(100), activeRun(3, v1alpha1.TriggerQueueDepth, t0.Add(-5*time.Minute), 3, 3000))
	jobs := []plan.Job{job(3, 3, indexed, pods(1, 1, 2, 0))}
	d := decide(qd, t0, queue(6000), jobs...)
	wantScale(t, d, run(3), 3, 6)
	if a := d.Status.ActiveRun; a.RunningOfWanted != "1/6" || a.Running != 1 || a.Succeeded != 2 {
		t.Errorf("activeRun = %+v, want 1/6 running, 2 succeeded", a)
	}
	for _, e := range d.Events {
		if e.Reason == v1alpha1.ReasonDrainScaled && !strings.Contains(e.Message, "from 3 to 6 workers") {
			t.Errorf("event %s %q does not say 3 to 6 workers", e.Reason, e.Message)
		}
	}

	// The new indexes start: nothing more to raise.
	jobs = jobsAfter(jobs, d, t0)
	if jobs[0].Parallelism != 6 {
		t.Fatalf("Job parallelism %d after the scale, want 6", jobs[0].Parallelism)
	}
	jobs[0].Pods = plan.PodCounts{Active: 4, Ready: 4, Succeeded: 2}
	d = decide(next(qd, d), t0.Add(30*time.Second), queue(5800), jobs...)
	wantScale(t, d, run(3), 6, 0)
	if a := d.Status.ActiveRun; a.RunningOfWanted != "4/6" || a.MostRunning != 4 {
		t.Errorf("activeRun = %+v, want 4/6 running, at most 4", a)
	}
}

func TestActiveRunShowsWorkersAsTheJobCountsThem(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pods     plan.PodCounts
		seenMost int32
		adopted  bool // the Job is unknown to status (the operator restarted)
		want     v1alpha1.ActiveRun
		draining string // in the Draining condition's message
	}{
		{name: "some running, one pending, some done", pods: plan.PodCounts{Active: 5, Ready: 4, Succeeded: 1, Failed: 2},
			want:     v1alpha1.ActiveRun{Workers: 6, Running: 4, Pending: 1, Succeeded: 1, Failed: 2, MostRunning: 4, RunningOfWanted: "4/6"},
			draining: "4 of 6 workers running, 1 pending, 1 done"},
		{name: "fewer running than seen before", pods: plan.PodCounts{Active: 2, Ready: 2, Succeeded: 4}, seenMost: 5,
			want:     v1alpha1.ActiveRun{Workers: 6, Running: 2, Succeeded: 4, MostRunning: 5, RunningOfWanted: "2/6"},
			draining: "2 of 6 workers running, 0 pending, 4 done"},
		{name: "no pod yet", pods: plan.PodCounts{},
			want:     v1alpha1.ActiveRun{Workers: 6, RunningOfWanted: "0/6"},
			draining: "0 of 6 workers running, 0 pending, 0 done"},
		{name: "more ready than active never gives negative pending", pods: plan.PodCounts{Active: 1, Ready: 3},
			want: v1alpha1.ActiveRun{Workers: 6, Running: 3, MostRunning: 3, RunningOfWanted: "3/6"}},
		{name: "adopted after a restart", adopted: true, pods: plan.PodCounts{Active: 6, Ready: 5},
			want:     v1alpha1.ActiveRun{Workers: 6, Running: 5, Pending: 1, MostRunning: 5, RunningOfWanted: "5/6"},
			draining: "5 of 6 workers running, 1 pending"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := activeRun(4, v1alpha1.TriggerQueueDepth, t0.Add(-5*time.Minute), 6, 2000)
			if tc.adopted {
				opt = lastRunNumber(3)
			}
			qd := drainer(workers(1000, 1, 10), opt)
			if !tc.adopted {
				qd.Status.ActiveRun.MostRunning = tc.seenMost
			}
			j := job(4, 6, indexed)
			j.Pods = tc.pods
			d := decide(qd, t0, queue(100), j) // 100 visible want 1 worker: no scale
			a := d.Status.ActiveRun
			if a == nil {
				t.Fatal("no active run")
			}
			got := v1alpha1.ActiveRun{Workers: a.Workers, Running: a.Running, Pending: a.Pending, Succeeded: a.Succeeded,
				Failed: a.Failed, MostRunning: a.MostRunning, RunningOfWanted: a.RunningOfWanted}
			if got != tc.want {
				t.Errorf("activeRun workers = %+v, want %+v", got, tc.want)
			}
			if c := cond(d.Status, v1alpha1.ConditionDraining); c == nil || !strings.Contains(c.Message, tc.draining) {
				t.Errorf("Draining condition %+v, want its message to say %q", c, tc.draining)
			}
		})
	}
}

func TestHistoryRecordsTheMostWorkersThatRan(t *testing.T) {
	// The run is raised from 2 to 5 workers, all 5 run, then they exit one
	// by one; history says 5 ran of 5 wanted even when no pod is left to
	// tell.
	qd := drainer(workers(1000, 1, 10), depthTrigger(100), activeRun(4, v1alpha1.TriggerQueueDepth, t0.Add(-10*time.Minute), 2, 2000))
	jobs := []plan.Job{job(4, 2, indexed, pods(2, 2, 0, 0))}
	now := t0
	d := decide(qd, now, queue(5000), jobs...)
	wantScale(t, d, run(4), 2, 5)
	for _, p := range []plan.PodCounts{{Active: 5, Ready: 5}, {Active: 3, Ready: 3, Succeeded: 2}} {
		qd, jobs, now = next(qd, d), jobsAfter(jobs, d, now), now.Add(30*time.Second)
		jobs[0].Pods = p
		d = decide(qd, now, queue(3000), jobs...)
	}
	if a := d.Status.ActiveRun; a == nil || a.MostRunning != 5 || a.RunningOfWanted != "3/5" {
		t.Fatalf("activeRun = %+v, want 3/5 running, at most 5", a)
	}
	qd, jobs = next(qd, d), jobsAfter(jobs, d, now)
	end := now.Add(10 * time.Second)

	for _, tc := range []struct {
		name                 string
		mostRan              int32 // what the pods say, 0 when none is left
		wantWorkers, wantFor int32
	}{
		{name: "no pod left to tell", mostRan: 0, wantWorkers: 5, wantFor: 5},
		{name: "pods tell fewer than were seen", mostRan: 4, wantWorkers: 5, wantFor: 5},
		{name: "pods tell as many as were seen", mostRan: 5, wantWorkers: 5, wantFor: 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js := append([]plan.Job(nil), jobs...)
			js[0] = job(4, 5, indexed, succeededAt(end), processed(5000), mostRan(tc.mostRan), pods(0, 0, 5, 0))
			d := decide(qd, end.Add(time.Second), queue(0), js...)
			if len(d.Finished) != 1 {
				t.Fatalf("finished %v, want run 4", names(d.Finished))
			}
			if r := d.Finished[0]; r.Workers != tc.wantWorkers || r.WorkersWanted != tc.wantFor {
				t.Errorf("recorded %d of %d workers, want %d of %d", r.Workers, r.WorkersWanted, tc.wantWorkers, tc.wantFor)
			}
		})
	}

	for _, tc := range []struct {
		name                 string
		opts                 []drainerOpt
		jobs                 []plan.Job
		wantWorkers, wantFor int32
	}{
		{name: "a short run seen by no poll", opts: []drainerOpt{lastRunNumber(6)},
			jobs: []plan.Job{job(7, 3, indexed, succeededAt(t0.Add(-time.Second)), processed(300), mostRan(3))}, wantWorkers: 3, wantFor: 3},
		{name: "only 2 of 3 workers ever ran", opts: []drainerOpt{activeRun(7, v1alpha1.TriggerQueueDepth, t0.Add(-time.Minute), 3, 3000)},
			jobs: []plan.Job{job(7, 3, indexed, succeededAt(t0.Add(-time.Second)), processed(3000), mostRan(2))}, wantWorkers: 2, wantFor: 3},
		{name: "its Job vanished", opts: []drainerOpt{activeRun(7, v1alpha1.TriggerQueueDepth, t0.Add(-time.Minute), 5, 3000), mostRunning(4)},
			wantWorkers: 4, wantFor: 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(drainer(tc.opts...), t0, queue(0), tc.jobs...)
			if len(d.Finished) != 1 || d.Finished[0].Name != run(7) {
				t.Fatalf("finished %v, want run 7", names(d.Finished))
			}
			if r := d.Finished[0]; r.Workers != tc.wantWorkers || r.WorkersWanted != tc.wantFor {
				t.Errorf("recorded %d of %d workers, want %d of %d", r.Workers, r.WorkersWanted, tc.wantWorkers, tc.wantFor)
			}
		})
	}
}

func TestWorkersPendingPastTheGraceSayThereOnce(t *testing.T) {
	const why = "0/3 nodes are available: 3 Insufficient cpu."
	qd := drainer(workers(1000, 1, 3), depthTrigger(100), activeRun(4, v1alpha1.TriggerQueueDepth, t0.Add(-2*time.Minute), 3, 3000))
	pendingJob := job(4, 3, indexed, pods(3, 1, 0, 0), waitingSince(t0.Add(-40*time.Second), why))

	// 40s of the minute's grace passed: nothing to say yet, but look again when it ends.
	d := decide(qd, t0, queue(3000), pendingJob)
	wantCondition(t, d.Status, v1alpha1.ConditionDraining, metav1.ConditionTrue, string(v1alpha1.TriggerQueueDepth))
	if hasEvent(d, v1alpha1.ReasonWorkersPending) {
		t.Errorf("events %v, want no %s within the grace", reasons(d), v1alpha1.ReasonWorkersPending)
	}
	if d.RequeueAfter != 20*time.Second {
		t.Errorf("requeueAfter = %v, want 20s, when the grace ends", d.RequeueAfter)
	}

	// The grace is over: Draining says so, with the scheduler's reason, and one Warning Event.
	qd = next(qd, d)
	d = decide(qd, t0.Add(20*time.Second), queue(3000), pendingJob)
	wantCondition(t, d.Status, v1alpha1.ConditionDraining, metav1.ConditionTrue, v1alpha1.ReasonWorkersPending)
	want := "2 of 3 workers pending for 1m0s: " + why
	if c := cond(d.Status, v1alpha1.ConditionDraining); !strings.Contains(c.Message, want) {
		t.Errorf("Draining message %q, want it to say %q", c.Message, want)
	}
	if n := countEvents(d, v1alpha1.ReasonWorkersPending); n != 1 {
		t.Errorf("%d %s events, want 1", n, v1alpha1.ReasonWorkersPending)
	}
	for _, e := range d.Events {
		if e.Reason == v1alpha1.ReasonWorkersPending && (!e.Warning || !strings.Contains(e.Message, want)) {
			t.Errorf("event %+v, want a Warning saying %q", e, want)
		}
	}

	// Still pending: the condition follows, no second Event.
	qd = next(qd, d)
	d = decide(qd, t0.Add(50*time.Second), queue(3000), pendingJob)
	wantCondition(t, d.Status, v1alpha1.ConditionDraining, metav1.ConditionTrue, v1alpha1.ReasonWorkersPending)
	if c := cond(d.Status, v1alpha1.ConditionDraining); !strings.Contains(c.Message, "pending for 1m30s") {
		t.Errorf("Draining message %q, want pending for 1m30s", c.Message)
	}
	if hasEvent(d, v1alpha1.ReasonWorkersPending) {
		t.Errorf("events %v, want no second %s", reasons(d), v1alpha1.ReasonWorkersPending)
	}

	// A node came: all run.
	qd = next(qd, d)
	d = decide(qd, t0.Add(80*time.Second), queue(2500), job(4, 3, indexed, pods(3, 3, 0, 0)))
	wantCondition(t, d.Status, v1alpha1.ConditionDraining, metav1.ConditionTrue, string(v1alpha1.TriggerQueueDepth))
	if hasEvent(d, v1alpha1.ReasonWorkersPending) {
		t.Errorf("events %v, want no %s", reasons(d), v1alpha1.ReasonWorkersPending)
	}

	// A worker failed and its replacement waits past the grace: that is news again.
	qd = next(qd, d)
	d = decide(qd, t0.Add(5*time.Minute), queue(2000), job(4, 3, indexed, pods(3, 2, 0, 1), waitingSince(t0.Add(3*time.Minute), "Back-off pulling image")))
	wantCondition(t, d.Status, v1alpha1.ConditionDraining, metav1.ConditionTrue, v1alpha1.ReasonWorkersPending)
	if n := countEvents(d, v1alpha1.ReasonWorkersPending); n != 1 {
		t.Errorf("%d %s events, want 1", n, v1alpha1.ReasonWorkersPending)
	}
}

func TestPendingWorkersAreReportedOnlyPastTheGrace(t *testing.T) {
	for _, tc := range []struct {
		name  string
		grace time.Duration
		job   []jobOpt
		want  bool
	}{
		{name: "2m pending, default grace of 1m", job: []jobOpt{pods(3, 1, 0, 0), waitingSince(t0.Add(-2*time.Minute), "")}, want: true},
		{name: "exactly the grace", job: []jobOpt{pods(3, 1, 0, 0), waitingSince(t0.Add(-time.Minute), "")}, want: true},
		{name: "2m pending, grace of 5m", grace: 5 * time.Minute, job: []jobOpt{pods(3, 1, 0, 0), waitingSince(t0.Add(-2*time.Minute), "")}},
		{name: "6m pending, grace of 5m", grace: 5 * time.Minute, job: []jobOpt{pods(3, 1, 0, 0), waitingSince(t0.Add(-6*time.Minute), "")}, want: true},
		{name: "pending, but when since is unknown", job: []jobOpt{pods(3, 1, 0, 0)}},
		{name: "a stale waiting pod, all running now", job: []jobOpt{pods(3, 3, 0, 0), waitingSince(t0.Add(-2*time.Minute), "")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qd := drainer(activeRun(4, v1alpha1.TriggerManual, t0.Add(-10*time.Minute), 3, 3000))
			d := plan.Decide(plan.Input{Now: t0, Drainer: qd, Jobs: []plan.Job{job(4, 3, append([]jobOpt{indexed}, tc.job...)...)},
				Queue: queue(3000, func(o *plan.Observation) { o.At = t0 }), PendingGrace: tc.grace})
			reason := string(v1alpha1.TriggerManual)
			if tc.want {
				reason = v1alpha1.ReasonWorkersPending
			}
			wantCondition(t, d.Status, v1alpha1.ConditionDraining, metav1.ConditionTrue, reason)
			if hasEvent(d, v1alpha1.ReasonWorkersPending) != tc.want {
				t.Errorf("events %v, want %s: %v", reasons(d), v1alpha1.ReasonWorkersPending, tc.want)
			}
		})
	}
}

// Replace ends the active run while its workers wait for a node; the new
// run's Job has no pod yet, so none of its workers can have waited.
func TestNewRunDoesNotInheritTheReplacedRunsPendingWorkers(t *testing.T) {
	qd := drainer(replace, requested("now"), handled("before"),
		activeRun(4, v1alpha1.TriggerQueueDepth, t0.Add(-10*time.Minute), 3, 3000))
	old := job(4, 3, indexed, pods(3, 1, 0, 0), waitingSince(t0.Add(-5*time.Minute), "0/3 nodes are available"))
	d := decide(qd, t0, queue(3000), old)
	wantStart(t, d, run(5), v1alpha1.TriggerManual, 3)
	if hasEvent(d, v1alpha1.ReasonWorkersPending) {
		t.Errorf("events %v: %s for run %s, whose Job was just created", reasons(d), v1alpha1.ReasonWorkersPending, run(5))
	}
}

// kubectl shows runningOfWanted as the drainer's Workers column; a run just
// started has none of its workers running yet.
func TestStartedRunShowsNoneOfItsWorkersRunningYet(t *testing.T) {
	d := decide(drainer(depthTrigger(100)), t0, queue(3000))
	wantStart(t, d, run(1), v1alpha1.TriggerQueueDepth, 3)
	if a := d.Status.ActiveRun; a.RunningOfWanted != "0/3" || a.Running != 0 || a.Pending != 0 {
		t.Errorf("activeRun = %+v, want runningOfWanted 0/3", a)
	}
}
