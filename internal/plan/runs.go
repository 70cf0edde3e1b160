package plan

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
)

// trackRuns brings status in line with the Jobs: a finished or vanished
// active run is recorded in history, and a Job that status does not know
// (the operator stopped between creating it and writing status) is adopted.
func trackRuns(st *v1alpha1.QueueDrainerStatus, jobs []Job, q queueView, now time.Time, d *Decision) {
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
			record(st, *st.ActiveRun, v1alpha1.RunDeleted, "its Job was deleted before it finished", now, nil, q, d)
		case j.Finished:
			finish(st, *st.ActiveRun, j, q, now, d)
		default:
			st.ActiveRun.Workers = j.Parallelism
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
			finish(st, run, j, q, now, d)
		case st.ActiveRun == nil:
			st.ActiveRun = &run
		}
	}
}

// WantsCounts reports whether Decide, given this status, records the run of
// Job j from j as finished, and so uses its Processed and Failed counts:
// j is finished and not being deleted, and it is the active run or a run
// newer than any status has seen (as trackRuns decides). The controller
// gathers the workers' counts only for these Jobs, not on every poll.
func WantsCounts(st *v1alpha1.QueueDrainerStatus, j Job) bool {
	if !j.Finished || j.Deleting {
		return false
	}
	active := st.ActiveRun != nil && st.ActiveRun.Name == j.Name
	return active || runNumber(j.Name) > st.LastRunNumber
}

func finish(st *v1alpha1.QueueDrainerStatus, run v1alpha1.ActiveRun, j Job, q queueView, now time.Time, d *Decision) {
	result, msg := v1alpha1.RunSucceeded, ""
	if !j.Succeeded {
		result, msg = v1alpha1.RunFailed, j.Message
	}
	at := j.FinishedAt
	if at.IsZero() {
		at = now
	}
	run.Workers = max(run.Workers, j.Parallelism)
	record(st, run, result, msg, at, &j, q, d)
}

// record moves a run into history, learns throughput from a success, and
// says so with an Event.
func record(st *v1alpha1.QueueDrainerStatus, run v1alpha1.ActiveRun, result v1alpha1.RunResult, msg string,
	at time.Time, j *Job, q queueView, d *Decision) {
	r := v1alpha1.RunRecord{
		Name: run.Name, Trigger: run.Trigger, Result: result, Message: msg,
		StartedAt: run.StartedAt, FinishedAt: metav1.NewTime(at),
		Workers: run.Workers, MessagesAtStart: run.MessagesAtStart,
	}
	if q.reachable {
		r.MessagesAtEnd = ptr(q.visible)
	}
	if j != nil {
		r.MessagesProcessed, r.MessagesFailed = j.Processed, j.Failed
	}
	seconds := at.Sub(run.StartedAt.Time).Seconds()
	if processed, ok := processedCount(r); ok && seconds >= 1 {
		r.MessagesPerSecond = formatRate(float64(processed) / seconds)
		if result == v1alpha1.RunSucceeded && processed > 0 && r.Workers > 0 {
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
	d.Events = append(d.Events, runEvent(r))
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
	switch r.Result {
	case v1alpha1.RunSucceeded:
		msg := fmt.Sprintf("run %s drained the queue in %s with %d workers", r.Name, took, r.Workers)
		if n, ok := processedCount(r); ok {
			msg += fmt.Sprintf(", %d messages", n)
		}
		return Event{Reason: ReasonDrainSucceeded, Message: msg}
	case v1alpha1.RunReplaced:
		return Event{Reason: ReasonDrainReplaced, Message: fmt.Sprintf("run %s replaced after %s: %s", r.Name, took, r.Message)}
	case v1alpha1.RunDeleted:
		return Event{Warning: true, Reason: ReasonDrainJobDeleted, Message: fmt.Sprintf("run %s ended after %s: %s", r.Name, took, r.Message)}
	default:
		return Event{Warning: true, Reason: ReasonDrainFailed, Message: fmt.Sprintf("run %s failed after %s: %s", r.Name, took, r.Message)}
	}
}

// replaceActive ends the active run to make way for a new one.
func replaceActive(st *v1alpha1.QueueDrainerStatus, jobs []Job, q queueView, now time.Time, by v1alpha1.Trigger, d *Decision) {
	run := *st.ActiveRun
	var j *Job
	for i := range jobs {
		if jobs[i].Name == run.Name {
			j = &jobs[i]
		}
	}
	record(st, run, v1alpha1.RunReplaced, fmt.Sprintf("replaced by a %s trigger (concurrencyPolicy Replace)", by), now, j, q, d)
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
		if h.Result == v1alpha1.RunSucceeded || h.Result == v1alpha1.RunFailed {
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

func ptr[T any](v T) *T { return &v }
