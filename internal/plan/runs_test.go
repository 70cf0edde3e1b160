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
	"slices"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
)

func TestCompletedJobIsRecordedAsSucceeded(t *testing.T) {
	started, finished := t0.Add(-10*time.Minute), t0.Add(-20*time.Second)
	qd := drainer(depthTrigger(100), activeRun(3, v1alpha1.TriggerQueueDepth, started, 4, 4000))
	d := decide(qd, t0, queue(12), job(3, 4, succeededAt(finished)))

	if d.Status.ActiveRun != nil {
		t.Errorf("activeRun = %+v, want none", d.Status.ActiveRun)
	}
	if len(d.Status.History) != 1 {
		t.Fatalf("history %+v, want one run", d.Status.History)
	}
	h := d.Status.History[0]
	if h.Name != run(3) || h.Result != v1alpha1.RunSucceeded || h.Trigger != v1alpha1.TriggerQueueDepth ||
		h.Workers != 4 || h.MessagesAtStart != 4000 || !h.StartedAt.Time.Equal(started) || !h.FinishedAt.Time.Equal(finished) {
		t.Errorf("history[0] = %+v, want run 3 Succeeded by QueueDepth, 4 workers, 4000 at start, %v..%v", h, started, finished)
	}
	if h.MessagesAtEnd == nil || *h.MessagesAtEnd != 12 {
		t.Errorf("messagesAtEnd = %v, want 12", h.MessagesAtEnd)
	}
	if h.Message != "" {
		t.Errorf("message = %q, want none for a success", h.Message)
	}
	if !sameTime(d.Status.LastRunFinishedAt, finished) {
		t.Errorf("lastRunFinishedAt = %s, want %s", fmtTime(d.Status.LastRunFinishedAt), finished.Format(time.RFC3339))
	}
	if !hasEvent(d, v1alpha1.ReasonDrainSucceeded) {
		t.Errorf("events %v, want %s", reasons(d), v1alpha1.ReasonDrainSucceeded)
	}
	if len(d.Finished) != 1 || d.Finished[0].Name != run(3) {
		t.Errorf("finished %v, want [%s]", names(d.Finished), run(3))
	}
	// 12 visible is below the threshold and the cooldown holds anyway.
	wantNoStart(t, d)
	wantCondition(t, d.Status, v1alpha1.ConditionDraining, metav1.ConditionFalse, "CoolingDown")
	if slices.Contains(d.Delete, run(3)) {
		t.Errorf("delete %v, want the kept run's Job kept", d.Delete)
	}
}

func TestFailedJobIsRecordedAsFailed(t *testing.T) {
	qd := drainer(activeRun(3, v1alpha1.TriggerSchedule, t0.Add(-10*time.Minute), 2, 4000))
	d := decide(qd, t0, queue(3000), job(3, 2, failedAt(t0.Add(-time.Minute), "BackoffLimitExceeded: Job has reached the specified backoff limit")))
	if d.Status.ActiveRun != nil {
		t.Errorf("activeRun = %+v, want none", d.Status.ActiveRun)
	}
	if len(d.Status.History) != 1 {
		t.Fatalf("history %+v, want one run", d.Status.History)
	}
	h := d.Status.History[0]
	if h.Result != v1alpha1.RunFailed || h.Message != "BackoffLimitExceeded: Job has reached the specified backoff limit" {
		t.Errorf("history[0] = %s %q, want Failed with the Job's message", h.Result, h.Message)
	}
	if !hasEvent(d, v1alpha1.ReasonDrainFailed) {
		t.Errorf("events %v, want %s", reasons(d), v1alpha1.ReasonDrainFailed)
	}
	for _, e := range d.Events {
		if e.Reason == v1alpha1.ReasonDrainFailed && !e.Warning {
			t.Errorf("event %s is not a warning", e.Reason)
		}
	}
	if !sameTime(d.Status.LastRunFinishedAt, t0.Add(-time.Minute)) {
		t.Errorf("lastRunFinishedAt = %s, want the Job's end", fmtTime(d.Status.LastRunFinishedAt))
	}
}

func TestActiveRunWhoseJobVanishedIsRecordedAsDeleted(t *testing.T) {
	qd := drainer(activeRun(5, v1alpha1.TriggerManual, t0.Add(-3*time.Minute), 2, 900))
	d := decide(qd, t0, queue(400)) // no Jobs at all
	if d.Status.ActiveRun != nil {
		t.Errorf("activeRun = %+v, want none", d.Status.ActiveRun)
	}
	if len(d.Status.History) != 1 || d.Status.History[0].Name != run(5) || d.Status.History[0].Result != v1alpha1.RunDeleted {
		t.Fatalf("history %+v, want %s Deleted", d.Status.History, run(5))
	}
	if !hasEvent(d, v1alpha1.ReasonDrainJobDeleted) {
		t.Errorf("events %v, want %s", reasons(d), v1alpha1.ReasonDrainJobDeleted)
	}
	if !sameTime(d.Status.LastRunFinishedAt, t0) {
		t.Errorf("lastRunFinishedAt = %s, want now", fmtTime(d.Status.LastRunFinishedAt))
	}
}

func TestUnknownNewerJobIsAdoptedAfterOperatorRestart(t *testing.T) {
	// The operator created orders-4 and stopped before writing status.
	qd := drainer(depthTrigger(100), lastRunNumber(3), history(record(3, v1alpha1.RunSucceeded, t0.Add(-time.Hour))))
	j := job(4, 3, jobCreated(t0.Add(-20*time.Second)))
	j.MessagesAtStart = 2800
	d := decide(qd, t0, queue(2500), job(3, 2, succeededAt(t0.Add(-time.Hour))), j)

	wantNoStart(t, d)
	a := d.Status.ActiveRun
	if a == nil || a.Name != run(4) || a.Workers != 3 || a.MessagesAtStart != 2800 || a.Trigger != v1alpha1.TriggerQueueDepth ||
		!a.StartedAt.Time.Equal(t0.Add(-20*time.Second)) {
		t.Errorf("activeRun = %+v, want %s adopted from its Job", a, run(4))
	}
	if d.Status.LastRunNumber != 4 {
		t.Errorf("lastRunNumber = %d, want 4", d.Status.LastRunNumber)
	}
	if len(d.Delete) != 0 {
		t.Errorf("delete %v, want nothing", d.Delete)
	}
	wantCondition(t, d.Status, v1alpha1.ConditionDraining, metav1.ConditionTrue, string(v1alpha1.TriggerQueueDepth))
}

func TestUnknownNewerFinishedJobIsRecorded(t *testing.T) {
	qd := drainer(depthTrigger(100), lastRunNumber(3), cooldown(0))
	d := decide(qd, t0, queue(50), job(4, 3, succeededAt(t0.Add(-time.Minute)), processed(1800)))
	wantNoStart(t, d)
	if d.Status.ActiveRun != nil {
		t.Errorf("activeRun = %+v, want none", d.Status.ActiveRun)
	}
	if len(d.Status.History) != 1 || d.Status.History[0].Name != run(4) || d.Status.History[0].Result != v1alpha1.RunSucceeded {
		t.Errorf("history %+v, want %s Succeeded", d.Status.History, run(4))
	}
	if d.Status.LastRunNumber != 4 {
		t.Errorf("lastRunNumber = %d, want 4", d.Status.LastRunNumber)
	}
}

func TestRunNamesAreDeterministic(t *testing.T) {
	if got := plan.RunName("orders", 7); got != "orders-7" {
		t.Errorf("RunName(orders, 7) = %q, want orders-7", got)
	}
	qd := drainer(depthTrigger(100), lastRunNumber(41))
	in := plan.Input{Now: t0, Drainer: qd, Queue: queue(500)}
	in.Queue.At = t0
	first, second := plan.Decide(in), plan.Decide(in)
	if started(first) == nil || started(second) == nil {
		t.Fatalf("starts %+v and %+v, want both to start", started(first), started(second))
	}
	if started(first).Name != plan.RunName("orders", 42) || started(second).Name != started(first).Name {
		t.Errorf("start names %q and %q, want both %q", started(first).Name, started(second).Name, plan.RunName("orders", 42))
	}
	if qd.Status.LastRunNumber != 41 || qd.Status.ActiveRun != nil {
		t.Errorf("the input drainer's status was changed: %+v", qd.Status)
	}
	// The Job was created but status was not written: deciding again from
	// the old status and the new Job starts nothing.
	again := decide(qd, t0.Add(time.Second), queue(500), jobsAfter(nil, first, t0)...)
	wantNoStart(t, again)
	if again.Status.ActiveRun == nil || again.Status.ActiveRun.Name != started(first).Name {
		t.Errorf("activeRun = %+v, want %s adopted", again.Status.ActiveRun, started(first).Name)
	}
}

func TestThroughputIsLearnedFromSucceededRuns(t *testing.T) {
	started := t0.Add(-100 * time.Second)
	for _, tc := range []struct {
		name       string
		learned    []drainerOpt
		job        plan.Job
		atStart    int64
		visibleEnd int64
		wantRate   string // "" = no throughput
		wantRuns   int32
		wantRunMPS string
	}{
		{
			name: "exact counts from the workers", atStart: 10_000, visibleEnd: 0,
			job:      job(1, 2, processed(6000), succeededAt(t0)),
			wantRate: "30.0", wantRuns: 1, wantRunMPS: "60.0",
		},
		{
			name: "drop in visible messages when the workers do not report", atStart: 10_000, visibleEnd: 0,
			job:      job(1, 2, succeededAt(t0)),
			wantRate: "50.0", wantRuns: 1, wantRunMPS: "100.0",
		},
		{
			name: "second run blends with the first", atStart: 10_000, visibleEnd: 0, learned: []drainerOpt{throughput("30.0", 1)},
			job:      job(1, 2, succeededAt(t0)),
			wantRate: "40.0", wantRuns: 2, wantRunMPS: "100.0",
		},
		{
			name: "failed run does not teach", atStart: 10_000, visibleEnd: 0, learned: []drainerOpt{throughput("30.0", 1)},
			job:      job(1, 2, processed(9000), failedAt(t0, "pods crashed")),
			wantRate: "30.0", wantRuns: 1, wantRunMPS: "90.0",
		},
		{
			name: "failed first run leaves throughput unknown", atStart: 10_000, visibleEnd: 0,
			job:        job(1, 2, failedAt(t0, "pods crashed")),
			wantRunMPS: "100.0",
		},
		{
			name: "a run that processed nothing does not teach", atStart: 0, visibleEnd: 0, learned: []drainerOpt{throughput("30.0", 4)},
			job:      job(1, 2, processed(0), succeededAt(t0)),
			wantRate: "30.0", wantRuns: 4, wantRunMPS: "0.0",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qd := drainer(append([]drainerOpt{activeRun(1, v1alpha1.TriggerQueueDepth, started, 2, tc.atStart)}, tc.learned...)...)
			d := decide(qd, t0, queue(tc.visibleEnd), tc.job)
			if len(d.Status.History) != 1 {
				t.Fatalf("history %+v, want the run recorded", d.Status.History)
			}
			if got := d.Status.History[0].MessagesPerSecond; !sameRate(got, tc.wantRunMPS) {
				t.Errorf("history[0].messagesPerSecond = %q, want %s", got, tc.wantRunMPS)
			}
			if want := reportOf(tc.job).Processed; want != nil {
				if p := d.Status.History[0].MessagesProcessed; p == nil || *p != *want {
					t.Errorf("history[0].messagesProcessed = %v, want %d", p, *want)
				}
			}
			th := d.Status.Throughput
			if tc.wantRate == "" {
				if th != nil {
					t.Errorf("throughput = %+v, want none", *th)
				}
				return
			}
			if th == nil || !sameRate(th.MessagesPerWorkerSecond, tc.wantRate) || th.Runs != tc.wantRuns {
				t.Errorf("throughput = %+v, want %s from %d runs", th, tc.wantRate, tc.wantRuns)
			}
		})
	}
}

func TestHistoryIsPrunedToLimitsAndDroppedJobsAreDeleted(t *testing.T) {
	past := func(m int) time.Time { return t0.Add(-time.Duration(m) * time.Minute) }
	hist := history(
		record(5, v1alpha1.RunSucceeded, past(10)),
		record(4, v1alpha1.RunFailed, past(20)),
		record(3, v1alpha1.RunSucceeded, past(30)),
		record(2, v1alpha1.RunFailed, past(40)),
		record(1, v1alpha1.RunSucceeded, past(50)),
	)
	finishedJobs := []plan.Job{
		job(1, 2, succeededAt(past(50))), job(2, 2, failedAt(past(40), "x")), job(3, 2, succeededAt(past(30))),
		job(4, 2, failedAt(past(20), "x")), job(5, 2, succeededAt(past(10))),
	}
	for _, tc := range []struct {
		name        string
		active      plan.Job
		wantHistory []string
		wantDelete  []string
	}{
		{
			name: "active run still going", active: job(6, 2),
			wantHistory: []string{run(5), run(4), run(3)}, wantDelete: []string{run(1), run(2)},
		},
		{
			name: "active run finishes and pushes out the oldest success", active: job(6, 2, succeededAt(past(1))),
			wantHistory: []string{run(6), run(5), run(4)}, wantDelete: []string{run(1), run(2), run(3)},
		},
		{
			name: "active run fails and pushes out the older failure", active: job(6, 2, failedAt(past(1), "x")),
			wantHistory: []string{run(6), run(5), run(3)}, wantDelete: []string{run(1), run(2), run(4)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qd := drainer(historyLimits(2, 1), hist, activeRun(6, v1alpha1.TriggerQueueDepth, past(5), 2, 2000))
			d := decide(qd, t0, queue(0), append(slices.Clone(finishedJobs), tc.active)...)
			if got := names(d.Status.History); !slices.Equal(got, tc.wantHistory) {
				t.Errorf("history %v, want %v", got, tc.wantHistory)
			}
			got := slices.Sorted(slices.Values(d.Delete))
			if !slices.Equal(got, tc.wantDelete) {
				t.Errorf("delete %v, want %v", got, tc.wantDelete)
			}
			if d.Status.ActiveRun != nil && slices.Contains(d.Delete, d.Status.ActiveRun.Name) {
				t.Errorf("delete %v includes the active run %s", d.Delete, d.Status.ActiveRun.Name)
			}
		})
	}
	t.Run("Jobs already being deleted are not deleted again", func(t *testing.T) {
		qd := drainer(historyLimits(2, 1), hist)
		jobs := slices.Clone(finishedJobs)
		jobs[0].Deleting = true
		d := decide(qd, t0, queue(0), jobs...)
		if got := slices.Sorted(slices.Values(d.Delete)); !slices.Equal(got, []string{run(2)}) {
			t.Errorf("delete %v, want [%s]", got, run(2))
		}
	})
}

// When an operator restarts in the middle of a Replace (the old Job is
// being deleted, the new Job exists, status was not written), the new run
// is the drainer's run: it must be adopted, not deleted.
func TestRestartDuringReplaceAdoptsTheReplacementRun(t *testing.T) {
	qd := drainer(replace, depthTrigger(100), activeRun(5, v1alpha1.TriggerQueueDepth, t0.Add(-10*time.Minute), 2, 2000))
	old := job(5, 2, deleting)
	replacement := job(6, 3, jobTrigger(v1alpha1.TriggerSchedule), jobCreated(t0.Add(-30*time.Second)))
	d := decide(qd, t0, queue(2500), old, replacement)
	if slices.Contains(d.Delete, run(6)) {
		t.Errorf("delete %v includes the replacement run %s", d.Delete, run(6))
	}
	if d.Status.ActiveRun == nil || d.Status.ActiveRun.Name != run(6) {
		t.Errorf("activeRun = %+v, want %s adopted", d.Status.ActiveRun, run(6))
	}
	if scaled(d) != nil && scaled(d).Job == run(5) {
		t.Errorf("scale %+v resizes the Job being deleted", *scaled(d))
	}
	wantNoStart(t, d)
}

func TestRunFinishedWhileQueueUnreachableHasNoMessagesAtEnd(t *testing.T) {
	qd := drainer(activeRun(2, v1alpha1.TriggerQueueDepth, t0.Add(-10*time.Minute), 2, 3000))
	d := decide(qd, t0, unreachable("Throttling"), job(2, 2, succeededAt(t0.Add(-time.Minute))))
	if len(d.Status.History) != 1 || d.Status.History[0].Result != v1alpha1.RunSucceeded {
		t.Fatalf("history %+v, want the run recorded as Succeeded", d.Status.History)
	}
	if e := d.Status.History[0].MessagesAtEnd; e != nil {
		t.Errorf("messagesAtEnd = %d, want unknown (SQS did not answer), not a number", *e)
	}
	if d.Status.Throughput != nil {
		t.Errorf("throughput = %+v, want nothing learned from an unknown count", *d.Status.Throughput)
	}
}

// The controller lists a run's pods for the workers' counts only when
// Decide asks for its report; Decide must ask exactly when it records the
// run, once, and use the counts, so that none are gathered in vain and none
// are missing when a run is recorded.
func TestWorkerCountsAreWantedExactlyWhenTheRunIsRecorded(t *testing.T) {
	active := activeRun(5, v1alpha1.TriggerQueueDepth, t0.Add(-10*time.Minute), 2, 2000)
	done := succeededAt(t0.Add(-time.Minute))
	for _, tc := range []struct {
		name    string
		drainer *v1alpha1.QueueDrainer
		job     plan.Job
		want    bool
	}{
		{name: "the active run finished", drainer: drainer(active), job: job(5, 2, done), want: true},
		{name: "the active run failed", drainer: drainer(active), job: job(5, 2, failedAt(t0, "BackoffLimitExceeded")), want: true},
		{name: "the active run is still running", drainer: drainer(active), job: job(5, 2)},
		{name: "the active run's Job is being deleted", drainer: drainer(active), job: job(5, 2, done, deleting)},
		{name: "a finished run status has not seen", drainer: drainer(lastRunNumber(4)), job: job(5, 2, done), want: true},
		{name: "a running run status has not seen", drainer: drainer(lastRunNumber(4)), job: job(5, 2)},
		{name: "a run already in history", drainer: drainer(history(record(5, v1alpha1.RunSucceeded, t0.Add(-time.Hour)))), job: job(5, 2, done)},
		{name: "an older run kept as history", drainer: drainer(active), job: job(4, 2, done)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := tc.job
			before, asked := j.Report, 0
			j.Report = func() plan.Report {
				asked++
				var r plan.Report
				if before != nil {
					r = before()
				}
				r.Processed, r.Failed = ptr[int64](1234), ptr[int64](7)
				return r
			}
			d := decide(tc.drainer, t0, queue(0), j)
			if asked > 1 || (asked == 1) != tc.want {
				t.Errorf("Decide asked for the report %d times, want it asked: %v", asked, tc.want)
			}
			used := false
			for _, r := range d.Finished {
				if r.Name == j.Name && r.MessagesProcessed != nil && *r.MessagesProcessed == 1234 &&
					r.MessagesFailed != nil && *r.MessagesFailed == 7 {
					used = true
				}
			}
			if used != tc.want {
				t.Errorf("Decide used the counts: %v, want %v (finished %+v)", used, tc.want, d.Finished)
			}
		})
	}
}

// sameRate compares decimal strings by value: "30" and "30.0" are the same rate.
func sameRate(got, want string) bool {
	g, err1 := strconv.ParseFloat(got, 64)
	w, err2 := strconv.ParseFloat(want, 64)
	return err1 == nil && err2 == nil && math.Abs(g-w) <= 1e-9*math.Max(1, math.Abs(w))
}
