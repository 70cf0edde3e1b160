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

package plan

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/queueurl"
)

// trackRuns brings status in line with the Jobs: a finished or vanished
// active run is recorded in history, a running one shows its workers as
// they are, and a Job that status does not know (the operator stopped
// between creating it and writing status) is adopted. It returns the
// active run's Job, if it has one.
func trackRuns(st *v1alpha1.QueueDrainerStatus, jobs []Job, q queueView, p policy, now time.Time, d *Decision) *Job {
	seen := st.LastRunNumber
	byName := make(map[string]Job, len(jobs))
	for _, j := range jobs {
		byName[j.Name] = j
		st.LastRunNumber = max(st.LastRunNumber, runNumber(j.Name))
	}
	if st.ActiveRun != nil {
		j, ok := byName[st.ActiveRun.Name]
		switch {
		case !ok || j.Deleting:
			// Deleted by someone else, or by a Replace whose status write was
			// lost; either way this run is over.
			record(st, *st.ActiveRun, outcome{result: v1alpha1.RunDeleted, message: "its Job was deleted before it finished"}, now, nil, q, p, d)
		case j.Finished:
			finish(st, *st.ActiveRun, j, q, p, now, d)
		default:
			observeWorkers(st.ActiveRun, j)
		}
	}
	// Jobs numbered past what status had seen belong to runs started just
	// before the operator stopped; adopt them, oldest first. Older ones were
	// handled already, and pruneHistory deletes those no longer wanted.
	var unseen []Job
	for _, j := range jobs {
		if !j.Deleting && runNumber(j.Name) > seen {
			unseen = append(unseen, j)
		}
	}
	slices.SortFunc(unseen, func(a, b Job) int { return cmp.Compare(runNumber(a.Name), runNumber(b.Name)) })
	for _, j := range unseen {
		run := v1alpha1.ActiveRun{Name: j.Name, Trigger: j.Trigger, StartedAt: metav1.NewTime(j.Created),
			Workers: j.Parallelism, MessagesAtStart: j.MessagesAtStart}
		switch {
		case j.Finished:
			finish(st, run, j, q, p, now, d)
		case st.ActiveRun == nil:
			observeWorkers(&run, j)
			st.ActiveRun = &run
		}
	}
	if st.ActiveRun == nil {
		return nil
	}
	if j, ok := byName[st.ActiveRun.Name]; ok {
		return &j
	}
	return nil
}

// observeWorkers shows a running Job's workers in its run as they are.
func observeWorkers(run *v1alpha1.ActiveRun, j Job) {
	run.Workers = j.Parallelism
	run.Running, run.Pending = j.Pods.Ready, j.Pods.Pending()
	run.Succeeded, run.Failed = j.Pods.Succeeded, j.Pods.Failed
	run.MostRunning = max(run.MostRunning, run.Running)
	run.RunningOfWanted = runningOfWanted(run)
}

func runningOfWanted(run *v1alpha1.ActiveRun) string {
	return fmt.Sprintf("%d/%d", run.Running, run.Workers)
}

// waiting is the active run's oldest waiting worker, if it has one.
func waiting(st *v1alpha1.QueueDrainerStatus, j *Job) *Waiting {
	if st.ActiveRun == nil || j == nil || j.Name != st.ActiveRun.Name || j.Finished || j.Pods.Pending() == 0 {
		return nil
	}
	return j.Waiting
}

// outcome is how a run ended.
type outcome struct {
	result  v1alpha1.RunResult
	message string
	// ineffective is true when the run did not reduce the backlog.
	ineffective bool
}

// finish records the run of a finished Job, with what its pods tell.
func finish(st *v1alpha1.QueueDrainerStatus, run v1alpha1.ActiveRun, j Job, q queueView, p policy, now time.Time, d *Decision) {
	rep := j.report()
	o := outcome{result: v1alpha1.RunSucceeded}
	if !j.Succeeded {
		o.result, o.message = v1alpha1.RunFailed, j.Message
		if rep.WorkerError != "" {
			o.message = rep.WorkerError + " (Job " + j.Message + ")"
		}
	}
	if why := ineffective(run, rep, q, p.queueURL); why != "" && run.Trigger != v1alpha1.TriggerRedrive {
		o.ineffective = true
		if o.result == v1alpha1.RunSucceeded {
			o.result, o.message = v1alpha1.RunIneffective, why
		} else {
			o.message += "; " + why
		}
	}
	at := j.FinishedAt
	if at.IsZero() {
		at = now
	}
	record(st, run, o, at, &finishedJob{parallelism: j.Parallelism, report: rep}, q, p, d)
}

// finishedJob is what a run's record takes from its Job: the workers
// wanted, and what the pods told.
type finishedJob struct {
	parallelism int32
	report      Report
}

// ineffective says why a finished run did not reduce the backlog, or ""
// when it did or when that cannot be told. The workers' own reports are
// believed first; a consumer that reports nothing is judged by the queue.
func ineffective(run v1alpha1.ActiveRun, rep Report, q queueView, queueURL string) string {
	for _, other := range rep.Queues {
		if !queueurl.SameQueue(other, queueURL) {
			return fmt.Sprintf("its workers drained %s, not spec.queue.url %s", other, queueURL)
		}
	}
	if run.MessagesAtStart <= 0 {
		return "" // nothing to reduce: a manual run of an empty queue, say
	}
	if rep.Processed != nil {
		if *rep.Processed > 0 {
			return ""
		}
		why := fmt.Sprintf("its workers processed no message while %d were visible", run.MessagesAtStart)
		if f := rep.Failed; f != nil && *f > 0 {
			why += fmt.Sprintf("; %d deliveries failed", *f)
			if rep.LastFailure != "" {
				why += ", the last with: " + rep.LastFailure
			}
		}
		return why
	}
	if q.reachable && q.visible >= run.MessagesAtStart {
		return fmt.Sprintf("%d messages were visible at its end, no fewer than the %d at its start, and its workers reported no counts",
			q.visible, run.MessagesAtStart)
	}
	return ""
}

// record moves a run into history, learns throughput from a success,
// counts ineffective runs in a row, and says so with an Event.
func record(st *v1alpha1.QueueDrainerStatus, run v1alpha1.ActiveRun, o outcome, at time.Time, j *finishedJob, q queueView, p policy, d *Decision) {
	result := o.result
	r := v1alpha1.RunRecord{
		Name: run.Name, Trigger: run.Trigger, Result: result, Message: o.message,
		StartedAt: run.StartedAt, FinishedAt: metav1.NewTime(at),
		Workers: run.MostRunning, WorkersWanted: run.Workers, MessagesAtStart: run.MessagesAtStart,
	}
	if q.reachable {
		r.MessagesAtEnd = ptr.To(q.visible)
	}
	if start, now := run.DeadLetterAtStart, q.deadLetter; start != nil && now != nil {
		r.MessagesDeadLettered = ptr.To(max(*now-*start, 0))
	}
	if j != nil {
		r.MessagesProcessed, r.MessagesFailed = j.report.Processed, j.report.Failed
		r.WorkersWanted = max(r.WorkersWanted, j.parallelism)
		r.Workers = max(r.Workers, j.report.MostRan)
	}
	switch {
	case o.ineffective:
		st.IneffectiveRuns++
	case r.Trigger == v1alpha1.TriggerRedrive:
		// a redrive tells nothing about the consumer
	case result == v1alpha1.RunSucceeded, result == v1alpha1.RunFailed:
		st.IneffectiveRuns = 0 // a replaced or deleted run tells nothing
	}
	seconds := at.Sub(run.StartedAt.Time).Seconds()
	if processed, ok := processedCount(r); ok && seconds >= 1 {
		r.MessagesPerSecond = formatRate(float64(processed) / seconds)
		if result == v1alpha1.RunSucceeded && processed > 0 && r.Workers > 0 && r.Trigger != v1alpha1.TriggerRedrive {
			learn(st, float64(processed)/(seconds*float64(r.Workers)))
		}
	}
	if st.ActiveRun != nil && st.ActiveRun.Name == run.Name {
		st.ActiveRun = nil
	}
	st.History = append([]v1alpha1.RunRecord{r}, st.History...)
	if st.LastRunFinishedAt == nil || at.After(st.LastRunFinishedAt.Time) {
		st.LastRunFinishedAt = timePtr(at)
	}
	d.Finished = append(d.Finished, r)
	e := runEvent(r)
	if o.ineffective {
		e.Message += fmt.Sprintf("; %s did not reduce the backlog, so the next one a trigger starts waits %s",
			runsInARow(st.IneffectiveRuns), p.rest(st.IneffectiveRuns))
	}
	d.Events = append(d.Events, e)
	if n := r.MessagesDeadLettered; n != nil && *n > 0 {
		d.Events = append(d.Events, Event{Warning: true, Reason: v1alpha1.ReasonDeadLettered, Message: fmt.Sprintf(
			"run %s: about %d messages went to the dead-letter queue %s during the run", r.Name, *n, st.Queue.DeadLetter.URL)})
	}
}

// processedCount is the workers' exact count when they reported it, else
// the drop in visible messages over the run, which undercounts when
// messages arrived meanwhile.
func processedCount(r v1alpha1.RunRecord) (int64, bool) {
	if r.MessagesProcessed != nil {
		return *r.MessagesProcessed, true
	}
	if r.MessagesAtEnd != nil {
		return max(r.MessagesAtStart-*r.MessagesAtEnd, 0), true
	}
	return 0, false
}

// learnWeight is how much a new run counts against what was learned before.
const learnWeight = 0.5

func learn(st *v1alpha1.QueueDrainerStatus, sample float64) {
	if prev := parseRate(st.Throughput); prev > 0 {
		sample = learnWeight*sample + (1-learnWeight)*prev
	}
	runs := int32(1)
	if st.Throughput != nil {
		runs = st.Throughput.Runs + 1
	}
	st.Throughput = &v1alpha1.Throughput{MessagesPerWorkerSecond: formatRate(sample), Runs: runs}
}

func runEvent(r v1alpha1.RunRecord) Event {
	took := r.FinishedAt.Sub(r.StartedAt.Time).Round(time.Second)
	switch {
	case r.Result == v1alpha1.RunSucceeded && r.Trigger == v1alpha1.TriggerRedrive:
		msg := fmt.Sprintf("run %s moved the dead-letter queue's messages back to the queue in %s", r.Name, took)
		if n := r.MessagesProcessed; n != nil {
			msg += fmt.Sprintf(": %d messages", *n)
		}
		return Event{Reason: v1alpha1.ReasonRedriveSucceeded, Message: msg}
	case r.Result == v1alpha1.RunSucceeded:
		msg := fmt.Sprintf("run %s drained the queue in %s with %d workers", r.Name, took, r.Workers)
		if n, ok := processedCount(r); ok {
			msg += fmt.Sprintf(", %d messages", n)
		}
		if f := r.MessagesFailed; f != nil && *f > 0 {
			msg += fmt.Sprintf("; %d deliveries failed", *f)
		}
		if n := r.MessagesDeadLettered; n != nil && *n > 0 {
			msg += fmt.Sprintf("; about %d messages went to the dead-letter queue", *n)
		}
		return Event{Reason: v1alpha1.ReasonDrainSucceeded, Message: msg}
	case r.Result == v1alpha1.RunReplaced:
		return Event{Reason: v1alpha1.ReasonDrainReplaced, Message: fmt.Sprintf("run %s replaced after %s: %s", r.Name, took, r.Message)}
	case r.Result == v1alpha1.RunIneffective:
		return Event{Warning: true, Reason: v1alpha1.ReasonDrainIneffective,
			Message: fmt.Sprintf("run %s did not reduce the backlog in %s: %s", r.Name, took, r.Message)}
	case r.Result == v1alpha1.RunDeleted:
		return Event{Warning: true, Reason: v1alpha1.ReasonDrainJobDeleted, Message: fmt.Sprintf("run %s ended after %s: %s", r.Name, took, r.Message)}
	default:
		return Event{Warning: true, Reason: v1alpha1.ReasonDrainFailed, Message: fmt.Sprintf("run %s failed after %s: %s", r.Name, took, r.Message)}
	}
}

// replaceActive ends the active run to make way for a new one.
func replaceActive(st *v1alpha1.QueueDrainerStatus, jobs []Job, q queueView, p policy, now time.Time, by v1alpha1.Trigger, d *Decision) {
	run := *st.ActiveRun
	var j *finishedJob
	for _, job := range jobs {
		if job.Name == run.Name {
			j = &finishedJob{parallelism: job.Parallelism} // its pods have not finished: nothing to report
		}
	}
	record(st, run, outcome{result: v1alpha1.RunReplaced, message: fmt.Sprintf("replaced by a %s trigger (concurrencyPolicy Replace)", by)}, now, j, q, p, d)
	d.Delete = append(d.Delete, run.Name)
}

// pruneHistory keeps the newest runs within the history limits and deletes
// every Job that is neither the active run nor a kept run.
func pruneHistory(st *v1alpha1.QueueDrainerStatus, jobs []Job, p policy, d *Decision) {
	slices.SortStableFunc(st.History, func(a, b v1alpha1.RunRecord) int {
		return b.FinishedAt.Compare(a.FinishedAt.Time)
	})
	kept := st.History[:0]
	succeeded, other := 0, 0
	for _, h := range st.History {
		if h.Result == v1alpha1.RunSucceeded {
			if succeeded++; succeeded > p.keepSucceeded {
				continue
			}
		} else if other++; other > p.keepFailed {
			continue
		}
		kept = append(kept, h)
	}
	st.History = slices.Clip(kept)
	if len(st.History) == 0 {
		st.History = nil
	}

	keep := map[string]bool{}
	if st.ActiveRun != nil {
		keep[st.ActiveRun.Name] = true
	}
	for _, h := range st.History {
		if h.Result == v1alpha1.RunSucceeded || h.Result == v1alpha1.RunFailed || h.Result == v1alpha1.RunIneffective {
			keep[h.Name] = true
		}
	}
	for _, j := range jobs {
		if !j.Deleting && !keep[j.Name] && !slices.Contains(d.Delete, j.Name) {
			d.Delete = append(d.Delete, j.Name)
		}
	}
}

// runNumber reads n from a run name <drainer>-<n>; 0 when there is none.
func runNumber(name string) int64 {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return 0
	}
	n, err := strconv.ParseInt(name[i+1:], 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
