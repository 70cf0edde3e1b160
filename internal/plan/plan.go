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

// Package plan decides what a QueueDrainer needs next. It does no I/O: the
// controller gathers the drainer, its Jobs and a queue observation, calls
// Decide, and applies the Decision. Time comes in through Input.Now.
package plan

import (
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/queueurl"
)

// StaleAfter is how old a CloudWatch datapoint may be before the age of the
// oldest message is treated as unknown. SQS metrics arrive one to several
// minutes late; older than this, a value says more about the past than now.
const StaleAfter = 5 * time.Minute

// minRequeue keeps a requeue strictly positive when a deadline is due now.
const minRequeue = 100 * time.Millisecond

// DefaultPendingGrace is how long workers may wait to run (for a node, an
// image) before the drainer says so. Pods usually start within seconds;
// a cluster autoscaler adding a node takes a minute or two.
const DefaultPendingGrace = time.Minute

// DefaultStatusRefresh is how old status.queue may grow while only its
// counts change. Each poll's numbers are in the metrics; status is for
// people and GitOps tools, and a write per poll per drainer would load the
// API server in proportion to the fleet (N drainers / pollInterval).
const DefaultStatusRefresh = time.Minute

// MaxBackoff caps how long ineffective runs hold back the next
// trigger-started run.
const MaxBackoff = time.Hour

// Input is everything a decision depends on.
type Input struct {
	Now     time.Time
	Drainer *v1alpha1.QueueDrainer
	// Jobs are the Jobs this drainer controls. A Job absent from this list
	// is gone: the caller confirms that with the API server first.
	Jobs  []Job
	Queue Observation
	// PendingGrace is how long workers may be pending before the drainer
	// says so; DefaultPendingGrace when zero.
	PendingGrace time.Duration
	// StatusRefresh is how often the queue's counts in status are renewed
	// when nothing else about the drainer changed; DefaultStatusRefresh
	// when zero.
	StatusRefresh time.Duration
}

// Job is what planning needs to know of a run's Job.
type Job struct {
	Name            string
	Trigger         v1alpha1.Trigger
	MessagesAtStart int64
	Created         time.Time
	Parallelism     int32
	// Indexed is true for an Indexed Job, whose completions grow with its
	// parallelism; a work-queue Job (from an older operator) creates no
	// pod once one has succeeded.
	Indexed bool
	// Suspended is the Job's spec.suspend: it creates no pods meanwhile.
	Suspended bool
	// Pods counts the Job's pods as its status does.
	Pods PodCounts
	// Waiting describes the oldest worker that is not running yet, when
	// Pods says some are pending.
	Waiting *Waiting
	// Finished is true once the Job is Complete or Failed.
	Finished   bool
	Succeeded  bool
	FinishedAt time.Time
	// Message says why a finished Job failed.
	Message string
	// Deleting is true once the Job has a deletion timestamp.
	Deleting bool

	// Report reads what the pods of the finished Job tell. Decide calls it
	// only for a run it records in this pass, once; nil means nothing is
	// told (no worker reported).
	Report func() Report
}

// Report is what the pods of a finished run tell, read once when the run
// is recorded.
type Report struct {
	// Processed and Failed are exact counts reported by the workers, when known.
	Processed *int64
	Failed    *int64
	// Queues are the queues the workers said they drained, without repeats.
	Queues []string
	// WorkerError is the first error a worker stopped with, naming its pod.
	WorkerError string
	// LastFailure is a handler failure a worker reported.
	LastFailure string
	// MostRan is the most workers that ran at once, from the pods' start
	// and finish times; 0 when no pod is left to tell.
	MostRan int32
}

// report reads j's report, if it has one.
func (j Job) report() Report {
	if j.Report == nil {
		return Report{}
	}
	return j.Report()
}

// PodCounts are a Job's status counts of its pods.
type PodCounts struct {
	// Active pods are pending or running; Ready ones are running (and ready).
	Active, Ready, Succeeded, Failed int32
}

// Pending is how many active pods are not running yet.
func (c PodCounts) Pending() int32 { return max(c.Active-c.Ready, 0) }

// Waiting is the oldest worker that is not running yet.
type Waiting struct {
	// Since is when its pod was created.
	Since time.Time
	// Message says why it waits, e.g. the scheduler's "0/3 nodes are available: ...".
	Message string
}

// Observation is what was learned about the queue.
type Observation struct {
	At       time.Time
	Visible  int64
	InFlight int64
	Delayed  int64
	// Err is set when SQS could not be asked; the counts are then meaningless.
	Err *Problem
	// OldestAge is the newest CloudWatch datapoint, nil when none is known.
	OldestAge *AgeSample
	// MetricsErr is set when CloudWatch could not be asked.
	MetricsErr *Problem
	// DeadLetter is the queue's dead-letter queue, nil when it has none.
	DeadLetter *DeadLetter
}

// DeadLetter is an observation of the dead-letter queue that the queue's
// RedrivePolicy names.
type DeadLetter struct {
	URL     string
	Visible int64
	// Err is set when its depth could not be read; Visible is then meaningless.
	Err *Problem
}

// AgeSample is a CloudWatch ApproximateAgeOfOldestMessage datapoint.
type AgeSample struct {
	Age time.Duration
	At  time.Time
}

// Problem is a failure to observe, as a condition reason and a message.
type Problem struct {
	Reason  string
	Message string
	// Permanent is true for what will not fix itself without a person (no
	// such queue, access denied, a role the operator does not allow): the
	// drainer is Stalled rather than in progress.
	Permanent bool
}

// Decision is what to do, as plain values: the new status, and the actions
// that bring the cluster to it.
type Decision struct {
	// Status is the drainer's new status.
	Status v1alpha1.QueueDrainerStatus
	// Start is true when Status.ActiveRun is a new run, to start by
	// creating its Job.
	Start bool
	// RedriveFrom is, when Start starts a Redrive run, the dead-letter
	// queue whose messages it moves back to the queue.
	RedriveFrom string
	// Scale is true when the Job of Status.ActiveRun is to run as many
	// workers as the run now wants (its Workers).
	Scale bool
	// Delete lists Jobs to delete: replaced runs and runs past the history limits.
	Delete []string
	// Finished lists the runs recorded in this decision; the history
	// limits may have left some out of Status.History already.
	Finished []v1alpha1.RunRecord
	Events   []Event
	// RequeueAfter is when to look again: the next deadline (a schedule
	// slot, the end of a cooldown, the pending grace, the status refresh);
	// always in (0, StatusRefresh]. New observations that matter wake the
	// drainer sooner (see ObservationMatters).
	RequeueAfter time.Duration
}

// Event is a Kubernetes Event to record on the drainer.
type Event struct {
	Warning bool
	Reason  string
	Message string
}

// NotStarted is the Warning Event for a run whose Job the API server did
// not create: its name is taken by a Job the drainer does not control
// (err nil), or the create failed with err.
func NotStarted(run string, err error) Event {
	if err == nil {
		return Event{Warning: true, Reason: v1alpha1.ReasonJobNameTaken, Message: fmt.Sprintf(
			"cannot start run %s: a Job of that name exists and is not controlled by this drainer", run)}
	}
	return Event{Warning: true, Reason: v1alpha1.ReasonJobCreateFailed, Message: fmt.Sprintf("cannot start run %s: %v", run, err)}
}

// Decide returns what the drainer needs next.
func Decide(in Input) Decision {
	p := newPolicy(in.Drainer, in.PendingGrace, in.StatusRefresh)
	st := *in.Drainer.Status.DeepCopy()
	if st.ObservedGeneration != 0 && st.ObservedGeneration != in.Drainer.Generation {
		st.IneffectiveRuns = 0 // a new spec deserves a fresh start
	}
	st.ObservedGeneration = in.Drainer.Generation
	d := &Decision{}

	q := observeQueue(&st, in.Queue, in.Now)
	activeJob := trackRuns(&st, in.Jobs, q, p, in.Now, d)

	sched, schedErr := p.schedule()
	triggers := evaluate(in, &st, p, q, sched)
	act(in, &st, p, q, triggers, activeJob, d)

	if sched != nil {
		st.NextScheduleTime = timePtr(sched.Next(in.Now))
	} else {
		st.NextScheduleTime = nil
	}
	pruneHistory(&st, in.Jobs, p, d)
	setConditions(&st, in, p, q, activeJob, schedErr, d)
	keepQueueStatus(&st, &in.Drainer.Status, p)
	d.RequeueAfter = requeueAfter(&st, p, q.reachable, activeJob, in.Now)
	d.Status = st
	return *d
}

// act starts, replaces or resizes runs for the triggers that fired.
func act(in Input, st *v1alpha1.QueueDrainerStatus, p policy, q queueView, t firing, activeJob *Job, d *Decision) {
	if p.suspend || !q.reachable {
		return
	}
	if st.ActiveRun != nil {
		if t.event != "" && p.concurrency == v1alpha1.ReplaceConcurrent {
			replaceActive(st, in.Jobs, q, p, in.Now, t.event, d)
			start(in, st, p, q, t.event, t.reasons[t.event], d)
			return
		}
		if t.manual {
			d.Events = append(d.Events, Event{Reason: v1alpha1.ReasonDrainRequestJoined, Message: fmt.Sprintf(
				"drain request %q is served by the active run %s", st.LastHandledDrainRequest, st.ActiveRun.Name)})
		}
		scaleUp(st, p, q, activeJob, d)
		return
	}
	if trig := t.first(); trig != "" {
		start(in, st, p, q, trig, t.reasons[trig], d)
		return
	}
	redrive(in, st, p, q, d)
}

// redrive serves a redrive request once the drainer is idle and no trigger
// wants a drain (a drain comes first; the request waits, unhandled, until
// then): a run moves the dead-letter queue's messages back to the queue.
func redrive(in Input, st *v1alpha1.QueueDrainerStatus, p policy, q queueView, d *Decision) {
	req := in.Drainer.Annotations[v1alpha1.RedriveRequestAnnotation]
	if req == "" || req == st.LastHandledRedriveRequest {
		return
	}
	st.LastHandledRedriveRequest = req
	if q.deadLetterURL == "" {
		d.Events = append(d.Events, Event{Warning: true, Reason: v1alpha1.ReasonRedriveImpossible, Message: fmt.Sprintf(
			"redrive request %q: the queue has no dead-letter queue (no RedrivePolicy)", req)})
		return
	}
	start(in, st, p, q, v1alpha1.TriggerRedrive, fmt.Sprintf("redrive requested (%s=%s): moving the messages of %s back to the queue",
		v1alpha1.RedriveRequestAnnotation, req, q.deadLetterURL), d)
}

func start(in Input, st *v1alpha1.QueueDrainerStatus, p policy, q queueView, trig v1alpha1.Trigger, why string, d *Decision) {
	n := st.LastRunNumber + 1
	workers, backlog := p.workers(q.visible, st.Throughput), q.visible
	if trig == v1alpha1.TriggerRedrive {
		// One mover: a dead-letter queue is small, and order is kept.
		workers, backlog = 1, ptr.Deref(q.deadLetter, 0)
	}
	name := RunName(in.Drainer.Name, n)
	d.Start = true
	if trig == v1alpha1.TriggerRedrive {
		d.RedriveFrom = q.deadLetterURL
	}
	st.LastRunNumber = n
	st.ActiveRun = &v1alpha1.ActiveRun{
		Name: name, Trigger: trig, StartedAt: metav1.NewTime(in.Now),
		Workers: workers, MessagesAtStart: backlog, DeadLetterAtStart: q.deadLetter,
	}
	st.ActiveRun.RunningOfWanted = runningOfWanted(st.ActiveRun)
	d.Events = append(d.Events, Event{Reason: v1alpha1.ReasonDrainStarted, Message: fmt.Sprintf(
		"started run %s with %d workers: %s", name, workers, why)})
	if trig == v1alpha1.TriggerRedrive {
		return // its Job runs the operator's mover, not the template's containers
	}
	for _, o := range overriddenQueueURLs(in.Drainer) {
		d.Events = append(d.Events, Event{Warning: true, Reason: v1alpha1.ReasonQueueURLOverridden, Message: fmt.Sprintf(
			"container %s sets %s to %s, not spec.queue.url %s: its workers drain that queue, and runs that do not reduce this queue's backlog back off",
			o.container, v1alpha1.EnvQueueURL, o.value, in.Drainer.Spec.Queue.URL)})
	}
}

// queueURLOverride is a container that sets its own QUEUE_URL to another queue.
type queueURLOverride struct{ container, value string }

// overriddenQueueURLs lists the containers of the drainer's template that
// set QUEUE_URL to a value naming another queue than spec.queue.url. Values
// from a ConfigMap or Secret cannot be read here; the workers' own reports
// show those.
func overriddenQueueURLs(qd *v1alpha1.QueueDrainer) []queueURLOverride {
	var out []queueURLOverride
	pod := qd.Spec.JobTemplate.Spec.Template.Spec
	for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		for _, e := range c.Env {
			if e.Name == v1alpha1.EnvQueueURL && e.ValueFrom == nil && !queueurl.SameQueue(e.Value, qd.Spec.Queue.URL) {
				out = append(out, queueURLOverride{container: c.Name, value: e.Value})
			}
		}
	}
	return out
}

// RunName is the name of run n of a drainer and of its Job. It depends only
// on the run number kept in status, so a restarted operator that plans the
// same run again gets the same name and cannot create a second Job.
func RunName(drainer string, n int64) string {
	return fmt.Sprintf("%s-%d", drainer, n)
}

// scaleUp raises the active run's workers for a grown backlog, when the
// pods it asks for will be created and can start: the Job is running and
// not suspended, it is Indexed (a work-queue Job creates no pod once one
// has succeeded), and none of its workers is still waiting to run (more
// would only wait beside them).
func scaleUp(st *v1alpha1.QueueDrainerStatus, p policy, q queueView, j *Job, d *Decision) {
	if st.ActiveRun.Trigger == v1alpha1.TriggerRedrive {
		return // a redrive moves what the dead-letter queue holds; the backlog is not its to drain
	}
	want := p.workers(q.visible, st.Throughput)
	if want <= st.ActiveRun.Workers {
		return // never scale down: workers exit on their own when the queue is empty
	}
	if j == nil || j.Finished || j.Deleting || j.Suspended || j.Pods.Pending() > 0 || (!j.Indexed && j.Pods.Succeeded > 0) {
		return
	}
	d.Scale = true
	d.Events = append(d.Events, Event{Reason: v1alpha1.ReasonDrainScaled, Message: fmt.Sprintf(
		"run %s raised from %d to %d workers: %d messages visible", st.ActiveRun.Name, st.ActiveRun.Workers, want, q.visible)})
	st.ActiveRun.Workers = want
	st.ActiveRun.RunningOfWanted = runningOfWanted(st.ActiveRun)
}

func requeueAfter(st *v1alpha1.QueueDrainerStatus, p policy, reachable bool, activeJob *Job, now time.Time) time.Duration {
	after := p.statusRefresh
	if q := st.Queue; q != nil && reachable {
		// When the counts in status are renewed; if that is due already,
		// a newer observation has not arrived yet: look again a poll later.
		if until := q.ObservedAt.Add(p.statusRefresh).Sub(now); until > 0 {
			after = until
		} else {
			after = p.pollInterval
		}
	}
	if rest := p.restUntil(st); st.ActiveRun == nil && !rest.IsZero() {
		if until := rest.Sub(now); until > 0 && until < after {
			after = until
		}
	}
	if w := waiting(st, activeJob); w != nil {
		if until := w.Since.Add(p.pendingGrace).Sub(now); until > 0 && until < after {
			after = until
		}
	}
	if st.NextScheduleTime != nil {
		if until := st.NextScheduleTime.Sub(now); until < after {
			after = until
		}
	}
	return max(after, minRequeue)
}

func timePtr(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t)
	return &mt
}
