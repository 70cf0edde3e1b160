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
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
	"github.com/queuedrainer/queue-drainer/testutil/fixture"
)

// t0 is "now" in most tests: a Tuesday, 12:00 UTC, on a 15-minute slot.
var t0 = time.Date(2026, time.March, 10, 12, 0, 0, 0, time.UTC)

const drainerName = "orders"

// run is the name of run n of the test drainer.
func run(n int64) string { return plan.RunName(drainerName, n) }

type drainerOpt func(*v1alpha1.QueueDrainer)

// drainer is a QueueDrainer as the API server would store it after
// defaulting, created 30 days before t0, with no trigger unless an option
// adds one.
func drainer(opts ...drainerOpt) *v1alpha1.QueueDrainer {
	qd := fixture.Drainer("shop", drainerName,
		fixture.Generation(1),
		fixture.Triggers(v1alpha1.Triggers{}),
		fixture.Containers(corev1.Container{Name: "consumer", Image: "example/consumer:1"}),
		fixture.Workers(v1alpha1.WorkerPolicy{MessagesPerWorker: 1000, Min: 1, Max: 10}),
		fixture.PollInterval(30*time.Second),
		fixture.Cooldown(time.Minute),
		fixture.Spec(func(s *v1alpha1.QueueDrainerSpec) {
			s.ConcurrencyPolicy = v1alpha1.ForbidConcurrent
			s.SuccessfulRunsHistoryLimit, s.FailedRunsHistoryLimit = ptr[int32](3), ptr[int32](1)
		}))
	qd.CreationTimestamp = metav1.NewTime(t0.Add(-30 * 24 * time.Hour))
	for _, o := range opts {
		o(qd)
	}
	return qd
}

func ptr[T any](v T) *T { return &v }

func mtime(t time.Time) *metav1.Time { m := metav1.NewTime(t); return &m }

func depthTrigger(n int64) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) { qd.Spec.Triggers.QueueDepth = &n }
}

func ageTrigger(d time.Duration) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) {
		qd.Spec.Triggers.OldestMessageAge = &metav1.Duration{Duration: d}
	}
}

func schedule(expr string) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) { qd.Spec.Triggers.Schedule = expr }
}

func timeZone(tz string) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) { qd.Spec.Triggers.TimeZone = tz }
}

func workers(perWorker int64, min, max int32) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) {
		qd.Spec.Workers.MessagesPerWorker, qd.Spec.Workers.Min, qd.Spec.Workers.Max = perWorker, min, max
	}
}

func drainWithin(d time.Duration) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) { qd.Spec.Workers.DrainWithin = &metav1.Duration{Duration: d} }
}

func cooldown(d time.Duration) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) { qd.Spec.Cooldown = &metav1.Duration{Duration: d} }
}

func pollInterval(d *time.Duration) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) {
		if d == nil {
			qd.Spec.PollInterval = nil
			return
		}
		qd.Spec.PollInterval = &metav1.Duration{Duration: *d}
	}
}

func suspended(qd *v1alpha1.QueueDrainer) { qd.Spec.Suspend = ptr(true) }

func replace(qd *v1alpha1.QueueDrainer) { qd.Spec.ConcurrencyPolicy = v1alpha1.ReplaceConcurrent }

func historyLimits(succeeded, failed int32) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) {
		qd.Spec.SuccessfulRunsHistoryLimit, qd.Spec.FailedRunsHistoryLimit = &succeeded, &failed
	}
}

func createdAt(t time.Time) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) { qd.CreationTimestamp = metav1.NewTime(t) }
}

// requested sets the manual drain request annotation.
func requested(v string) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) {
		if qd.Annotations == nil {
			qd.Annotations = map[string]string{}
		}
		qd.Annotations[v1alpha1.DrainRequestAnnotation] = v
	}
}

func handled(v string) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) { qd.Status.LastHandledDrainRequest = v }
}

// activeRun records run n as in progress in status.
func activeRun(n int64, trig v1alpha1.Trigger, started time.Time, workers int32, atStart int64) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) {
		qd.Status.ActiveRun = &v1alpha1.ActiveRun{Name: run(n), Trigger: trig, StartedAt: metav1.NewTime(started),
			Workers: workers, MessagesAtStart: atStart}
		qd.Status.LastRunNumber = max(qd.Status.LastRunNumber, n)
	}
}

func lastRunNumber(n int64) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) { qd.Status.LastRunNumber = n }
}

func lastFinished(t time.Time) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) { qd.Status.LastRunFinishedAt = mtime(t) }
}

func lastSchedule(t time.Time) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) { qd.Status.LastScheduleTime = mtime(t) }
}

func throughput(rate string, runs int32) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) {
		qd.Status.Throughput = &v1alpha1.Throughput{MessagesPerWorkerSecond: rate, Runs: runs}
	}
}

func history(records ...v1alpha1.RunRecord) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) {
		qd.Status.History = append(qd.Status.History, records...)
		for _, r := range records {
			qd.Status.LastRunNumber = max(qd.Status.LastRunNumber, runNum(r.Name))
		}
	}
}

func queueStatus(qs v1alpha1.QueueStatus) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) { qd.Status.Queue = &qs }
}

func condition(typ string, status metav1.ConditionStatus, reason string, since time.Time) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) {
		meta.SetStatusCondition(&qd.Status.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason,
			Message: "before", LastTransitionTime: metav1.NewTime(since)})
	}
}

// record is a finished run n in history.
func record(n int64, result v1alpha1.RunResult, finished time.Time) v1alpha1.RunRecord {
	return v1alpha1.RunRecord{Name: run(n), Trigger: v1alpha1.TriggerQueueDepth, Result: result,
		StartedAt: metav1.NewTime(finished.Add(-5 * time.Minute)), FinishedAt: metav1.NewTime(finished),
		Workers: 2, MessagesAtStart: 2000}
}

func runNum(name string) int64 {
	var n int64
	i := len(name)
	for i > 0 && name[i-1] >= '0' && name[i-1] <= '9' {
		i--
	}
	for _, c := range name[i:] {
		n = n*10 + int64(c-'0')
	}
	return n
}

type obsOpt func(*plan.Observation)

// queue is an SQS observation with this many visible messages and no
// CloudWatch datapoint unless an option adds one.
func queue(visible int64, opts ...obsOpt) plan.Observation {
	o := plan.Observation{Visible: visible}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// observedAt sets when the observation was made (default: the decision's now).
func observedAt(at time.Time) obsOpt { return func(o *plan.Observation) { o.At = at } }

// oldest adds a CloudWatch age datapoint taken at `at`.
func oldest(age time.Duration, at time.Time) obsOpt {
	return func(o *plan.Observation) { o.OldestAge = &plan.AgeSample{Age: age, At: at} }
}

func inFlight(n int64) obsOpt { return func(o *plan.Observation) { o.InFlight = n } }

func metricsErr(reason string) obsOpt {
	return func(o *plan.Observation) { o.MetricsErr = &plan.Problem{Reason: reason, Message: "cloudwatch said no"} }
}

// unreachable is an observation where SQS could not be asked.
func unreachable(reason string) plan.Observation {
	return plan.Observation{Err: &plan.Problem{Reason: reason, Message: "SQS: " + reason}}
}

type jobOpt func(*plan.Job)

// job is run n's Job, running with the given parallelism, created 5 minutes before t0.
func job(n int64, parallelism int32, opts ...jobOpt) plan.Job {
	j := plan.Job{Name: run(n), Trigger: v1alpha1.TriggerQueueDepth, MessagesAtStart: 2000,
		Created: t0.Add(-5 * time.Minute), Parallelism: parallelism}
	for _, f := range opts {
		f(&j)
	}
	return j
}

// succeededAt finishes the Job at t; as many workers as it wanted ran.
func succeededAt(t time.Time) jobOpt {
	return func(j *plan.Job) {
		j.Finished, j.Succeeded, j.FinishedAt = true, true, t
		mostRan(j.Parallelism)(j)
	}
}

// failedAt fails the Job at t; as many workers as it wanted ran.
func failedAt(t time.Time, msg string) jobOpt {
	return func(j *plan.Job) {
		j.Finished, j.Succeeded, j.FinishedAt, j.Message = true, false, t, msg
		mostRan(j.Parallelism)(j)
	}
}

func processed(n int64) jobOpt { return reported(func(r *plan.Report) { r.Processed = &n }) }

// reported changes what the Job's pods tell when its run is recorded.
func reported(change func(*plan.Report)) jobOpt {
	return func(j *plan.Job) {
		before := j.Report
		j.Report = func() plan.Report {
			var r plan.Report
			if before != nil {
				r = before()
			}
			change(&r)
			return r
		}
	}
}

// reportOf is what the Job's pods tell.
func reportOf(j plan.Job) plan.Report {
	if j.Report == nil {
		return plan.Report{}
	}
	return j.Report()
}

func deleting(j *plan.Job) { j.Deleting = true }

func jobCreated(t time.Time) jobOpt { return func(j *plan.Job) { j.Created = t } }

func jobTrigger(tr v1alpha1.Trigger) jobOpt { return func(j *plan.Job) { j.Trigger = tr } }

// decide runs plan.Decide at now; the observation is taken at now unless it says otherwise.
func decide(qd *v1alpha1.QueueDrainer, now time.Time, obs plan.Observation, jobs ...plan.Job) plan.Decision {
	if obs.At.IsZero() && obs.Err == nil {
		obs.At = now
	}
	return plan.Decide(plan.Input{Now: now, Drainer: qd, Jobs: jobs, Queue: obs})
}

// next is the drainer as the controller leaves it after applying d: its
// status replaced by the decision's.
func next(qd *v1alpha1.QueueDrainer, d plan.Decision) *v1alpha1.QueueDrainer {
	n := qd.DeepCopy()
	n.Status = *d.Status.DeepCopy()
	return n
}

// jobsAfter is the Jobs as the controller leaves them after applying d.
func jobsAfter(jobs []plan.Job, d plan.Decision, now time.Time) []plan.Job {
	var out []plan.Job
	for _, j := range jobs {
		if slices.Contains(d.Delete, j.Name) {
			continue
		}
		if scaled(d) != nil && scaled(d).Job == j.Name {
			j.Parallelism = scaled(d).To
		}
		out = append(out, j)
	}
	if s := started(d); s != nil {
		out = append(out, plan.Job{Name: s.Name, Trigger: s.Trigger, MessagesAtStart: s.MessagesAtStart,
			Created: now, Parallelism: s.Workers})
	}
	return out
}

func cond(st v1alpha1.QueueDrainerStatus, typ string) *metav1.Condition {
	return meta.FindStatusCondition(st.Conditions, typ)
}

// wantCondition fails unless condition typ has this status and reason.
func wantCondition(t *testing.T, st v1alpha1.QueueDrainerStatus, typ string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	c := cond(st, typ)
	if c == nil {
		t.Errorf("condition %s missing; conditions: %+v", typ, st.Conditions)
		return
	}
	if c.Status != status || c.Reason != reason {
		t.Errorf("condition %s = %s/%s (%q), want %s/%s", typ, c.Status, c.Reason, c.Message, status, reason)
	}
}

func reasons(d plan.Decision) []string {
	var r []string
	for _, e := range d.Events {
		r = append(r, e.Reason)
	}
	return r
}

func hasEvent(d plan.Decision, reason string) bool { return slices.Contains(reasons(d), reason) }

func countEvents(d plan.Decision, reason string) int {
	n := 0
	for _, e := range d.Events {
		if e.Reason == reason {
			n++
		}
	}
	return n
}

// wantStart fails unless d starts a run with this trigger and workers.
func wantStart(t *testing.T, d plan.Decision, name string, trig v1alpha1.Trigger, workers int32) {
	t.Helper()
	if started(d) == nil {
		t.Fatalf("no run started, want %s by %s; events %v", name, trig, reasons(d))
	}
	if started(d).Name != name || started(d).Trigger != trig || started(d).Workers != workers {
		t.Errorf("started %+v, want name %s trigger %s workers %d", *started(d), name, trig, workers)
	}
	if d.Status.ActiveRun == nil || d.Status.ActiveRun.Name != started(d).Name || d.Status.ActiveRun.Trigger != started(d).Trigger ||
		d.Status.ActiveRun.Workers != started(d).Workers {
		t.Errorf("status.activeRun = %+v, want the started run %+v", d.Status.ActiveRun, *started(d))
	}
	if !hasEvent(d, v1alpha1.ReasonDrainStarted) {
		t.Errorf("events %v, want %s", reasons(d), v1alpha1.ReasonDrainStarted)
	}
	wantCondition(t, d.Status, v1alpha1.ConditionDraining, metav1.ConditionTrue, string(trig))
}

// wantNoStart fails if d starts a run.
func wantNoStart(t *testing.T, d plan.Decision) {
	t.Helper()
	if started(d) != nil {
		t.Errorf("started run %+v, want none", *started(d))
	}
	if hasEvent(d, v1alpha1.ReasonDrainStarted) {
		t.Errorf("events %v include %s, want none", reasons(d), v1alpha1.ReasonDrainStarted)
	}
}

func names(records []v1alpha1.RunRecord) []string {
	var n []string
	for _, r := range records {
		n = append(n, r.Name)
	}
	return n
}

func sameTime(a *metav1.Time, b time.Time) bool {
	if a == nil {
		return b.IsZero()
	}
	return a.Time.Equal(b)
}

func fmtTime(a *metav1.Time) string {
	if a == nil {
		return "<nil>"
	}
	return a.UTC().Format(time.RFC3339)
}

// Workers as the Job and its pods tell them.

// indexed makes the Job an Indexed Job, as the operator creates them.
func indexed(j *plan.Job) { j.Indexed = true }

// jobSuspended sets the Job's spec.suspend.
func jobSuspended(j *plan.Job) { j.Suspended = true }

// pods sets the Job's status counts of its pods.
func pods(active, ready, succeeded, failed int32) jobOpt {
	return func(j *plan.Job) {
		j.Pods = plan.PodCounts{Active: active, Ready: ready, Succeeded: succeeded, Failed: failed}
	}
}

// waitingSince says the oldest worker not running yet was created at t, and why it waits.
func waitingSince(t time.Time, msg string) jobOpt {
	return func(j *plan.Job) { j.Waiting = &plan.Waiting{Since: t, Message: msg} }
}

// mostRan sets how many workers the pods of a finished run say ran at once.
func mostRan(n int32) jobOpt { return reported(func(r *plan.Report) { r.MostRan = n }) }

// failedDeliveries sets the workers' reported count of failed deliveries.
func failedDeliveries(n int64) jobOpt { return reported(func(r *plan.Report) { r.Failed = &n }) }

// drained sets the queues the workers said they drained.
func drained(urls ...string) jobOpt { return reported(func(r *plan.Report) { r.Queues = urls }) }

// workerError sets the first error a worker stopped with.
func workerError(msg string) jobOpt { return reported(func(r *plan.Report) { r.WorkerError = msg }) }

// lastFailure sets the handler failure a worker reported last.
func lastFailure(msg string) jobOpt { return reported(func(r *plan.Report) { r.LastFailure = msg }) }

// ineffectiveRuns sets status.ineffectiveRuns.
func ineffectiveRuns(n int32) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) { qd.Status.IneffectiveRuns = n }
}

// generations sets metadata.generation and status.observedGeneration.
func generations(gen, observed int64) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) { qd.Generation, qd.Status.ObservedGeneration = gen, observed }
}

// mostRunning sets the most workers the active run was seen running.
func mostRunning(n int32) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) { qd.Status.ActiveRun.MostRunning = n }
}

// containerEnv adds an env var with a literal value to the template's consumer container.
func containerEnv(name, value string) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) {
		c := &qd.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
		c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
	}
}

// container adds a container to the template, init or not.
func container(init bool, c corev1.Container) drainerOpt {
	return func(qd *v1alpha1.QueueDrainer) {
		s := &qd.Spec.JobTemplate.Spec.Template.Spec
		if init {
			s.InitContainers = append(s.InitContainers, c)
		} else {
			s.Containers = append(s.Containers, c)
		}
	}
}

// started is the run the decision starts, its new activeRun, or nil.
func started(d plan.Decision) *v1alpha1.ActiveRun {
	if !d.Start {
		return nil
	}
	return d.Status.ActiveRun
}

// scale is a decision's scale-up: the active run's Job, from how many
// workers (as its DrainScaled Event says) to how many.
type scale struct {
	Job      string
	From, To int32
}

// scaled is the decision's scale-up, or nil.
func scaled(d plan.Decision) *scale {
	if !d.Scale {
		return nil
	}
	sc := &scale{Job: d.Status.ActiveRun.Name, From: -1, To: d.Status.ActiveRun.Workers}
	for _, e := range d.Events {
		var name string
		var to int32
		if e.Reason == v1alpha1.ReasonDrainScaled {
			_, _ = fmt.Sscanf(e.Message, "run %s raised from %d to %d workers", &name, &sc.From, &to)
		}
	}
	return sc
}
