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

package controllers_test

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
	"github.com/queuedrainer/queue-drainer/testutil/fixture"
	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

const (
	wait = 15 * time.Second
	// quiet is how long a test watches for something that must not happen;
	// the drainers poll every second, so this spans several observations.
	quiet = 3 * time.Second
)

var nsCounter atomic.Int32

// newDrainer creates a namespace and a drainer in it that polls every second.
func newDrainer(t *testing.T, mutate ...func(*v1alpha1.QueueDrainer)) types.NamespacedName {
	t.Helper()
	ctx := context.Background()
	ns := fmt.Sprintf("t%d-%s", nsCounter.Add(1), strings.ToLower(strings.TrimPrefix(t.Name(), "Test")))
	if len(ns) > 50 {
		ns = ns[:50]
	}
	must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	qd := fixture.Drainer(ns, "orders",
		fixture.QueueURL("https://sqs.eu-west-1.amazonaws.com/123456789012/orders"),
		fixture.Containers(corev1.Container{Name: "consumer", Image: "example/consumer:1"}),
		fixture.PollInterval(time.Second),
		fixture.Cooldown(0))
	for _, m := range mutate {
		m(qd)
	}
	key := client.ObjectKeyFromObject(qd)
	observer.set(key, plan.Observation{Visible: 0})
	must(t, k8s.Create(ctx, qd))
	return key
}

func get(t *testing.T, key types.NamespacedName) *v1alpha1.QueueDrainer {
	return kubetest.Drainer(t, k8s, key)
}

func jobsOf(t *testing.T, key types.NamespacedName) []batchv1.Job { return kubetest.Jobs(t, k8s, key) }

func eventually(t *testing.T, what string, cond func() string) {
	kubetest.Eventually(t, wait, what, cond)
}

func never(t *testing.T, what string, cond func() string) { kubetest.Never(t, quiet, what, cond) }

func waitEvent(t *testing.T, key types.NamespacedName, reason string) eventsv1.Event {
	return kubetest.WaitEvent(t, k8s, key, reason, "", wait)
}

var (
	condition = kubetest.Condition
	must      = kubetest.Must
)

func setVisible(key types.NamespacedName, n int64) {
	observer.set(key, plan.Observation{Visible: n})
}

// waitJobs waits until the drainer has exactly n Jobs and returns them.
func waitJobs(t *testing.T, key types.NamespacedName, n int) []batchv1.Job {
	t.Helper()
	var jobs []batchv1.Job
	eventually(t, fmt.Sprintf("%d Jobs", n), func() string {
		jobs = jobsOf(t, key)
		if len(jobs) != n {
			return fmt.Sprintf("%d Jobs", len(jobs))
		}
		return ""
	})
	return jobs
}

func waitStatus(t *testing.T, key types.NamespacedName, what string, cond func(*v1alpha1.QueueDrainer) string) *v1alpha1.QueueDrainer {
	t.Helper()
	var qd *v1alpha1.QueueDrainer
	eventually(t, what, func() string {
		qd = get(t, key)
		return cond(qd)
	})
	return qd
}

// finishJob writes the status the Job controller would write when the
// Job's pods have all exited, successfully or not. It stamps the end with
// the suite's clock, which the operator reads too, so that a run lasts as
// long as the test says even after a test stepped the clock.
func finishJob(t *testing.T, job *batchv1.Job, succeeded bool) {
	t.Helper()
	ctx := context.Background()
	must(t, k8s.Get(ctx, client.ObjectKeyFromObject(job), job))
	now := metav1.NewTime(clk.Now())
	start := metav1.NewTime(job.CreationTimestamp.Time)
	job.Status.StartTime = &start
	if succeeded {
		job.Status.CompletionTime = &now
		job.Status.Succeeded = 1
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now, Reason: "CompletionsReached"},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now, Reason: "CompletionsReached"},
		}
	} else {
		job.Status.Failed = 1
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"},
		}
	}
	must(t, k8s.Status().Update(ctx, job))
}

func TestDrainStartsWhenDepthCrossesThreshold(t *testing.T) {
	key := newDrainer(t)
	setVisible(key, 999)
	waitStatus(t, key, "queue observed", func(qd *v1alpha1.QueueDrainer) string {
		if qd.Status.Queue == nil || qd.Status.Queue.VisibleMessages != 999 {
			return fmt.Sprintf("queue status %+v", qd.Status.Queue)
		}
		return ""
	})
	never(t, "no Job below the threshold", func() string {
		if n := len(jobsOf(t, key)); n != 0 {
			return fmt.Sprintf("%d Jobs", n)
		}
		return ""
	})
	startedBefore := metricValue(t, "queuedrainer_runs_started_total", key, "QueueDepth")

	setVisible(key, 4500)
	job := waitJobs(t, key, 1)[0]
	if job.Name != "orders-1" {
		t.Errorf("Job name %q, want orders-1", job.Name)
	}
	if got := ptr.Deref(job.Spec.Parallelism, 0); got != 5 {
		t.Errorf("parallelism %d, want ceil(4500/1000) = 5", got)
	}
	// An Indexed Job, one index per worker, so that it can grow after some
	// workers have exited; a failed worker's replacement waits for it to end.
	if ptr.Deref(job.Spec.CompletionMode, "") != batchv1.IndexedCompletion || ptr.Deref(job.Spec.Completions, 0) != 5 {
		t.Errorf("completionMode %v, completions %v; want Indexed with completions = parallelism = 5",
			ptr.Deref(job.Spec.CompletionMode, ""), ptr.Deref(job.Spec.Completions, 0))
	}
	if ptr.Deref(job.Spec.PodReplacementPolicy, "") != batchv1.Failed {
		t.Errorf("podReplacementPolicy %v, want Failed", ptr.Deref(job.Spec.PodReplacementPolicy, ""))
	}
	if job.Labels[v1alpha1.DrainerLabel] != "orders" || job.Labels[v1alpha1.RunLabel] != "orders-1" ||
		job.Spec.Template.Labels[v1alpha1.RunLabel] != "orders-1" {
		t.Errorf("labels: job %v, pod %v", job.Labels, job.Spec.Template.Labels)
	}
	qd := get(t, key)
	owner := metav1.GetControllerOf(&job)
	if owner == nil || owner.UID != qd.UID || owner.Kind != "QueueDrainer" || !ptr.Deref(owner.BlockOwnerDeletion, false) {
		t.Errorf("controller reference %+v, want the drainer %s", owner, qd.UID)
	}
	qd = waitStatus(t, key, "active run in status", func(qd *v1alpha1.QueueDrainer) string {
		if qd.Status.ActiveRun == nil || condition(qd, v1alpha1.ConditionDraining).Status != metav1.ConditionTrue {
			return fmt.Sprintf("activeRun %+v, conditions %+v", qd.Status.ActiveRun, qd.Status.Conditions)
		}
		return ""
	})
	if r := qd.Status.ActiveRun; r.Name != "orders-1" || r.Trigger != v1alpha1.TriggerQueueDepth || r.Workers != 5 || r.MessagesAtStart != 4500 {
		t.Errorf("active run %+v", r)
	}
	if qd.Status.ObservedGeneration != qd.Generation {
		t.Errorf("observedGeneration %d, generation %d", qd.Status.ObservedGeneration, qd.Generation)
	}
	e := waitEvent(t, key, v1alpha1.ReasonDrainStarted)
	if !strings.Contains(e.Note, "orders-1") || !strings.Contains(e.Note, "4500 messages visible") {
		t.Errorf("DrainStarted note %q", e.Note)
	}
	if got := metricValue(t, "queuedrainer_runs_started_total", key, "QueueDepth") - startedBefore; got != 1 {
		t.Errorf("queuedrainer_runs_started_total grew by %v, want 1", got)
	}
	if got := metricValue(t, "queuedrainer_queue_visible_messages", key, ""); got != 4500 {
		t.Errorf("queuedrainer_queue_visible_messages %v, want 4500", got)
	}
}

func TestNoSecondJobWhileOneIsActive(t *testing.T) {
	key := newDrainer(t)
	setVisible(key, 50_000)
	waitJobs(t, key, 1)
	never(t, "a single Job while the backlog stays above the threshold", func() string {
		if jobs := jobsOf(t, key); len(jobs) != 1 {
			return fmt.Sprintf("%d Jobs", len(jobs))
		}
		return ""
	})
}

func TestCompletedJobIsRecordedInHistoryAndDrainerGoesIdle(t *testing.T) {
	key := newDrainer(t)
	setVisible(key, 3000)
	job := waitJobs(t, key, 1)[0]
	waitStatus(t, key, "active run", func(qd *v1alpha1.QueueDrainer) string {
		if qd.Status.ActiveRun == nil {
			return "no active run"
		}
		return ""
	})
	setVisible(key, 0)
	finishJob(t, &job, true)
	qd := waitStatus(t, key, "run recorded", func(qd *v1alpha1.QueueDrainer) string {
		if qd.Status.ActiveRun != nil || len(qd.Status.History) != 1 {
			return fmt.Sprintf("activeRun %+v, history %+v", qd.Status.ActiveRun, qd.Status.History)
		}
		return ""
	})
	h := qd.Status.History[0]
	if h.Name != "orders-1" || h.Result != v1alpha1.RunSucceeded || h.Trigger != v1alpha1.TriggerQueueDepth ||
		h.MessagesAtStart != 3000 || ptr.Deref(h.MessagesAtEnd, -1) != 0 || h.WorkersWanted != 3 || h.Workers != 0 {
		// envtest runs no Job controller: the run wanted 3 workers, and no pod ran.
		t.Errorf("history entry %+v, want 3 workers wanted and none that ran", h)
	}
	if c := condition(qd, v1alpha1.ConditionDraining); c.Status != metav1.ConditionFalse || c.Reason != "Idle" {
		t.Errorf("Draining condition %+v, want False/Idle", c)
	}
	if qd.Status.LastRunFinishedAt == nil {
		t.Error("lastRunFinishedAt not set")
	}
	waitEvent(t, key, v1alpha1.ReasonDrainSucceeded)
	// The finished Job is kept as history (limit 3 by default).
	if n := len(jobsOf(t, key)); n != 1 {
		t.Errorf("%d Jobs after the run, want the finished one kept", n)
	}
}

func TestExactCountsFromWorkerSummariesAreRecorded(t *testing.T) {
	key := newDrainer(t)
	setVisible(key, 5000)
	job := waitJobs(t, key, 1)[0]
	waitStatus(t, key, "active run", func(qd *v1alpha1.QueueDrainer) string {
		if qd.Status.ActiveRun == nil {
			return "no active run"
		}
		return ""
	})
	// The run's pods, as the Job controller would have made them: a pod
	// that failed part-way and was retried, its successful retry, and one
	// whose worker left no summary. A stranger that copied the run's labels
	// but is not the Job's does not count.
	workerPod(t, &job, "a", true, corev1.PodFailed, 1, `{"kind":"DrainSummary","received":1210,"processed":1200,"failed":3,"released":7,"seconds":40.5}`)
	workerPod(t, &job, "b", true, corev1.PodSucceeded, 0, `{"kind":"DrainSummary","received":800,"processed":800,"failed":0,"released":0,"seconds":61}`+"\n")
	workerPod(t, &job, "c", true, corev1.PodSucceeded, 0, "drained, bye")
	workerPod(t, &job, "stranger", false, corev1.PodSucceeded, 0, `{"kind":"DrainSummary","processed":99999,"failed":99}`)

	// Messages kept arriving: the visible backlog fell by only 1000.
	setVisible(key, 4000)
	clk.Step(20 * time.Second) // the run lasted at least 20 s by the operator's clock
	finishJob(t, &job, true)
	qd := waitStatus(t, key, "run recorded", func(qd *v1alpha1.QueueDrainer) string {
		if len(qd.Status.History) != 1 {
			return fmt.Sprintf("history %+v", qd.Status.History)
		}
		return ""
	})
	h := qd.Status.History[0]
	if got := ptr.Deref(h.MessagesProcessed, -1); got != 2000 {
		t.Errorf("messagesProcessed %v, want 2000 (1200 + 800 from the workers' summaries)", got)
	}
	if got := ptr.Deref(h.MessagesFailed, -1); got != 3 {
		t.Errorf("messagesFailed %v, want 3", got)
	}
	seconds := h.FinishedAt.Sub(h.StartedAt.Time).Seconds()
	if seconds < 20 {
		t.Fatalf("run lasted %vs by its record (%+v), want at least 20", seconds, h)
	}
	if want := 2000 / seconds; !closeRate(h.MessagesPerSecond, want) {
		t.Errorf("messagesPerSecond %q, want about %.4g (2000 messages in %vs)", h.MessagesPerSecond, want, seconds)
	}
	th := qd.Status.Throughput
	if th == nil || th.Runs != 1 {
		t.Fatalf("throughput %+v, want learned from this run", th)
	}
	if want := 2000 / (seconds * float64(h.Workers)); !closeRate(th.MessagesPerWorkerSecond, want) {
		t.Errorf("throughput %q messages per worker-second, want about %.4g (2000 messages, %d workers, %vs)",
			th.MessagesPerWorkerSecond, want, h.Workers, seconds)
	}
	if e := waitEvent(t, key, v1alpha1.ReasonDrainSucceeded); !strings.Contains(e.Note, "2000 messages") {
		t.Errorf("DrainSucceeded note %q, want the exact count", e.Note)
	}
}

// workerPod creates a pod of the run's Job (or, when !ofJob, a pod with the
// same labels that the Job does not control) and writes the status a
// kubelet would once its container exited with this termination message.
func workerPod(t *testing.T, job *batchv1.Job, suffix string, ofJob bool, phase corev1.PodPhase, exitCode int32, message string) {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-" + suffix, Namespace: job.Namespace,
			Labels: map[string]string{v1alpha1.DrainerLabel: job.Labels[v1alpha1.DrainerLabel], v1alpha1.RunLabel: job.Name}},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "consumer", Image: "example/consumer:1"}},
		},
	}
	if ofJob {
		pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID,
			Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
	}
	must(t, k8s.Create(ctx, pod))
	now := metav1.NewTime(time.Now())
	pod.Status = corev1.PodStatus{
		Phase: phase,
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "consumer", Image: "example/consumer:1", ImageID: "example/consumer@sha256:0123",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: exitCode, Reason: "Completed", Message: message, StartedAt: now, FinishedAt: now}},
		}},
	}
	must(t, k8s.Status().Update(ctx, pod))
}

// closeRate compares a decimal string from status, rounded to four
// significant digits, with the rate it should be.
func closeRate(got string, want float64) bool {
	g, err := strconv.ParseFloat(got, 64)
	return err == nil && math.Abs(g-want) <= 1e-3*want
}

func TestFailedJobIsRecordedAsFailedAndCooldownHoldsBackTheNextRun(t *testing.T) {
	key := newDrainer(t, func(qd *v1alpha1.QueueDrainer) {
		qd.Spec.Cooldown = &metav1.Duration{Duration: time.Hour}
	})
	setVisible(key, 2000)
	job := waitJobs(t, key, 1)[0]
	setVisible(key, 1500) // the run took some messages before it failed
	finishJob(t, &job, false)
	qd := waitStatus(t, key, "failed run recorded", func(qd *v1alpha1.QueueDrainer) string {
		if len(qd.Status.History) != 1 {
			return fmt.Sprintf("history %+v", qd.Status.History)
		}
		return ""
	})
	if h := qd.Status.History[0]; h.Result != v1alpha1.RunFailed || !strings.Contains(h.Message, "BackoffLimitExceeded") {
		t.Errorf("history entry %+v, want Failed with the Job's reason", h)
	}
	waitEvent(t, key, v1alpha1.ReasonDrainFailed)
	if c := condition(qd, v1alpha1.ConditionDraining); c.Reason != "CoolingDown" {
		t.Errorf("Draining condition %+v, want reason CoolingDown", c)
	}
	// The backlog is still above the threshold, but the cooldown holds.
	never(t, "no new run during the cooldown", func() string {
		if n := len(jobsOf(t, key)); n != 1 {
			return fmt.Sprintf("%d Jobs", n)
		}
		return ""
	})
	clk.Step(time.Hour)
	observer.wake(key) // as the reconciles of an hour of real time would
	waitJobs(t, key, 2)
}

func TestParallelismIsRaisedMidRunWhenTheBacklogGrows(t *testing.T) {
	key := newDrainer(t, func(qd *v1alpha1.QueueDrainer) { qd.Spec.Workers.Max = 8 })
	setVisible(key, 2000)
	job := waitJobs(t, key, 1)[0]
	if p := ptr.Deref(job.Spec.Parallelism, 0); p != 2 {
		t.Fatalf("initial parallelism %d, want 2", p)
	}
	setVisible(key, 20_000)
	eventually(t, "parallelism and completions raised to max", func() string {
		must(t, k8s.Get(context.Background(), client.ObjectKeyFromObject(&job), &job))
		// Together: the API server refuses an Indexed Job whose completions
		// change to another value than its parallelism.
		if p, c := ptr.Deref(job.Spec.Parallelism, 0), ptr.Deref(job.Spec.Completions, 0); p != 8 || c != 8 {
			return fmt.Sprintf("parallelism %d, completions %d", p, c)
		}
		return ""
	})
	waitEvent(t, key, v1alpha1.ReasonDrainScaled)
	waitStatus(t, key, "status shows 8 workers", func(qd *v1alpha1.QueueDrainer) string {
		if qd.Status.ActiveRun == nil || qd.Status.ActiveRun.Workers != 8 {
			return fmt.Sprintf("active run %+v", qd.Status.ActiveRun)
		}
		return ""
	})
	// A shrinking backlog never lowers parallelism: workers exit by themselves.
	setVisible(key, 100)
	never(t, "parallelism not lowered", func() string {
		must(t, k8s.Get(context.Background(), client.ObjectKeyFromObject(&job), &job))
		if p := ptr.Deref(job.Spec.Parallelism, 0); p != 8 {
			return fmt.Sprintf("parallelism %d", p)
		}
		return ""
	})
	if n := len(jobsOf(t, key)); n != 1 {
		t.Errorf("%d Jobs, want 1", n)
	}
}

func TestSuspendedDrainerStartsNothing(t *testing.T) {
	key := newDrainer(t, func(qd *v1alpha1.QueueDrainer) { qd.Spec.Suspend = ptr.To(true) })
	setVisible(key, 100_000)
	waitStatus(t, key, "Draining=False Suspended", func(qd *v1alpha1.QueueDrainer) string {
		if c := condition(qd, v1alpha1.ConditionDraining); c.Reason != "Suspended" {
			return fmt.Sprintf("Draining %+v", c)
		}
		return ""
	})
	never(t, "no Job while suspended", func() string {
		if n := len(jobsOf(t, key)); n != 0 {
			return fmt.Sprintf("%d Jobs", n)
		}
		return ""
	})
	setSuspend(t, key, false)
	waitJobs(t, key, 1)
}

func TestManualRequestStartsExactlyOneRun(t *testing.T) {
	key := newDrainer(t)
	setVisible(key, 10) // far below the depth threshold
	requestDrain(t, key, "2026-11-21T10:00:00Z")
	job := waitJobs(t, key, 1)[0]
	if job.Annotations[v1alpha1.TriggerAnnotation] != string(v1alpha1.TriggerManual) {
		t.Errorf("trigger annotation %q, want Manual", job.Annotations[v1alpha1.TriggerAnnotation])
	}
	waitStatus(t, key, "request handled", func(qd *v1alpha1.QueueDrainer) string {
		if qd.Status.LastHandledDrainRequest != "2026-11-21T10:00:00Z" {
			return fmt.Sprintf("lastHandledDrainRequest %q", qd.Status.LastHandledDrainRequest)
		}
		return ""
	})
	finishJob(t, &job, true)
	waitStatus(t, key, "run recorded", func(qd *v1alpha1.QueueDrainer) string {
		if len(qd.Status.History) != 1 {
			return fmt.Sprintf("history %d", len(qd.Status.History))
		}
		return ""
	})
	never(t, "the same request is not served twice", func() string {
		if n := len(jobsOf(t, key)); n != 1 {
			return fmt.Sprintf("%d Jobs", n)
		}
		return ""
	})
	requestDrain(t, key, "2026-11-21T11:00:00Z")
	waitJobs(t, key, 2)
}

func setSuspend(t *testing.T, key types.NamespacedName, suspend bool) {
	t.Helper()
	qd := get(t, key)
	patch := client.MergeFrom(qd.DeepCopy())
	qd.Spec.Suspend = ptr.To(suspend)
	must(t, k8s.Patch(context.Background(), qd, patch))
}

func requestDrain(t *testing.T, key types.NamespacedName, value string) {
	t.Helper()
	qd := get(t, key)
	patch := client.MergeFrom(qd.DeepCopy())
	metav1.SetMetaDataAnnotation(&qd.ObjectMeta, v1alpha1.DrainRequestAnnotation, value)
	must(t, k8s.Patch(context.Background(), qd, patch))
}

func TestOldJobsArePrunedPastTheHistoryLimit(t *testing.T) {
	key := newDrainer(t, func(qd *v1alpha1.QueueDrainer) { qd.Spec.SuccessfulRunsHistoryLimit = ptr.To[int32](1) })
	for run := 1; run <= 3; run++ {
		setVisible(key, 5000)
		var job batchv1.Job
		eventually(t, fmt.Sprintf("run %d started", run), func() string {
			for _, j := range jobsOf(t, key) {
				if j.Name == fmt.Sprintf("orders-%d", run) {
					job = j
					return ""
				}
			}
			return "not yet"
		})
		setVisible(key, 0)
		finishJob(t, &job, true)
		waitStatus(t, key, fmt.Sprintf("run %d recorded", run), func(qd *v1alpha1.QueueDrainer) string {
			if len(qd.Status.History) == 0 || qd.Status.History[0].Name != job.Name {
				return fmt.Sprintf("history %+v", qd.Status.History)
			}
			return ""
		})
	}
	jobs := waitJobs(t, key, 1)
	if jobs[0].Name != "orders-3" {
		t.Errorf("kept Job %s, want the newest, orders-3", jobs[0].Name)
	}
	qd := get(t, key)
	if len(qd.Status.History) != 1 || qd.Status.History[0].Name != "orders-3" {
		t.Errorf("history %+v, want only orders-3", qd.Status.History)
	}
}

func TestReplacePolicyStopsTheActiveRunForANewRequest(t *testing.T) {
	key := newDrainer(t, func(qd *v1alpha1.QueueDrainer) { qd.Spec.ConcurrencyPolicy = v1alpha1.ReplaceConcurrent })
	setVisible(key, 5000)
	waitJobs(t, key, 1)
	waitStatus(t, key, "active run", func(qd *v1alpha1.QueueDrainer) string {
		if qd.Status.ActiveRun == nil {
			return "none"
		}
		return ""
	})
	requestDrain(t, key, "new-consumer-image")
	eventually(t, "orders-1 replaced by orders-2", func() string {
		jobs := jobsOf(t, key)
		if len(jobs) != 1 || jobs[0].Name != "orders-2" {
			return fmt.Sprintf("%d Jobs, first %v", len(jobs), jobs)
		}
		return ""
	})
	qd := waitStatus(t, key, "replaced run recorded", func(qd *v1alpha1.QueueDrainer) string {
		if len(qd.Status.History) != 1 || qd.Status.ActiveRun == nil {
			return fmt.Sprintf("history %+v active %+v", qd.Status.History, qd.Status.ActiveRun)
		}
		return ""
	})
	if h := qd.Status.History[0]; h.Name != "orders-1" || h.Result != v1alpha1.RunReplaced {
		t.Errorf("history %+v, want orders-1 Replaced", h)
	}
	if r := qd.Status.ActiveRun; r.Name != "orders-2" || r.Trigger != v1alpha1.TriggerManual {
		t.Errorf("active run %+v, want orders-2 Manual", r)
	}
	waitEvent(t, key, v1alpha1.ReasonDrainReplaced)
}

func TestQueueSettingsAreInjectedWithoutOverridingTheUsersValues(t *testing.T) {
	key := newDrainer(t, func(qd *v1alpha1.QueueDrainer) {
		pod := &qd.Spec.JobTemplate.Spec.Template.Spec
		pod.InitContainers = []corev1.Container{{Name: "setup", Image: "example/setup:1"}}
		pod.Containers = append(pod.Containers, corev1.Container{Name: "sidecar", Image: "example/sidecar:1",
			Env: []corev1.EnvVar{{Name: "AWS_REGION", Value: "us-west-2"}, {Name: "QUEUE_URL", Value: "user-choice"}}})
		qd.Spec.JobTemplate.Labels = map[string]string{"team": "shop"}
	})
	setVisible(key, 1000)
	job := waitJobs(t, key, 1)[0]
	if job.Labels["team"] != "shop" {
		t.Errorf("template label lost: %v", job.Labels)
	}
	pod := job.Spec.Template.Spec
	want := map[string]map[string]string{
		"setup":    {"QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders", "AWS_REGION": "eu-west-1", "DRAIN_RUN": "orders-1"},
		"consumer": {"QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders", "AWS_REGION": "eu-west-1", "DRAIN_RUN": "orders-1"},
		"sidecar":  {"QUEUE_URL": "user-choice", "AWS_REGION": "us-west-2", "DRAIN_RUN": "orders-1"},
	}
	for _, c := range append(pod.InitContainers, pod.Containers...) {
		got := map[string]string{}
		for _, e := range c.Env {
			if _, dup := got[e.Name]; dup {
				t.Errorf("container %s sets %s twice", c.Name, e.Name)
			}
			got[e.Name] = e.Value
		}
		for name, value := range want[c.Name] {
			if got[name] != value {
				t.Errorf("container %s: %s=%q, want %q", c.Name, name, got[name], value)
			}
		}
	}
}

func TestUnreachableQueueIsReportedAndStartsNothing(t *testing.T) {
	key := newDrainer(t, func(qd *v1alpha1.QueueDrainer) { qd.Spec.Suspend = ptr.To(true) })
	observer.set(key, plan.Observation{Err: &plan.Problem{Reason: "QueueDoesNotExist",
		Message: "AWS.SimpleQueueService.NonExistentQueue: The specified queue does not exist"}})
	requestDrain(t, key, "please")
	setSuspend(t, key, false)
	qd := waitStatus(t, key, "QueueReachable=False", func(qd *v1alpha1.QueueDrainer) string {
		if c := condition(qd, v1alpha1.ConditionQueueReachable); c.Status != metav1.ConditionFalse || c.Reason != "QueueDoesNotExist" {
			return fmt.Sprintf("QueueReachable %+v", c)
		}
		return ""
	})
	if c := condition(qd, v1alpha1.ConditionReady); c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "NonExistentQueue") {
		t.Errorf("Ready %+v, want False naming the AWS error", c)
	}
	e := waitEvent(t, key, v1alpha1.ReasonQueueUnreachable)
	if e.Type != corev1.EventTypeWarning || !strings.Contains(e.Note, "NonExistentQueue") {
		t.Errorf("event %s %q", e.Type, e.Note)
	}
	never(t, "no Job while the queue is unreachable", func() string {
		if n := len(jobsOf(t, key)); n != 0 {
			return fmt.Sprintf("%d Jobs", n)
		}
		return ""
	})
	// The manual request waited; it is served once the queue answers.
	setVisible(key, 0)
	waitJobs(t, key, 1)
}

func TestRestartedOperatorAdoptsTheRunItStartedInsteadOfStartingAnother(t *testing.T) {
	key := newDrainer(t, func(qd *v1alpha1.QueueDrainer) { qd.Spec.Suspend = ptr.To(true) })
	qd := get(t, key)
	// As if an operator created run 1 and stopped before recording it.
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "orders-1", Namespace: key.Namespace,
			Labels:      map[string]string{v1alpha1.DrainerLabel: "orders", v1alpha1.RunLabel: "orders-1"},
			Annotations: map[string]string{v1alpha1.TriggerAnnotation: "QueueDepth", v1alpha1.MessagesAtStartAnnotation: "7000"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: v1alpha1.GroupVersion.String(), Kind: "QueueDrainer",
				Name: qd.Name, UID: qd.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}},
		Spec: *qd.Spec.JobTemplate.Spec.DeepCopy(),
	}
	job.Spec.Parallelism = ptr.To[int32](7)
	job.Spec.Template.Labels = job.Labels
	must(t, k8s.Create(context.Background(), job))

	setVisible(key, 7000)
	setSuspend(t, key, false)
	qd = waitStatus(t, key, "run adopted", func(qd *v1alpha1.QueueDrainer) string {
		if qd.Status.ActiveRun == nil || qd.Status.ActiveRun.Name != "orders-1" {
			return fmt.Sprintf("active run %+v", qd.Status.ActiveRun)
		}
		return ""
	})
	if r := qd.Status.ActiveRun; r.Trigger != v1alpha1.TriggerQueueDepth || r.MessagesAtStart != 7000 || r.Workers != 7 || qd.Status.LastRunNumber != 1 {
		t.Errorf("adopted run %+v, lastRunNumber %d", r, qd.Status.LastRunNumber)
	}
	never(t, "no second Job", func() string {
		if n := len(jobsOf(t, key)); n != 1 {
			return fmt.Sprintf("%d Jobs", n)
		}
		return ""
	})
}

func TestDeletedDrainerIsForgotten(t *testing.T) {
	key := newDrainer(t)
	setVisible(key, 10)
	waitStatus(t, key, "observed", func(qd *v1alpha1.QueueDrainer) string {
		if qd.Status.Queue == nil {
			return "not yet"
		}
		return ""
	})
	must(t, k8s.Delete(context.Background(), get(t, key)))
	eventually(t, "observer told to forget the queue", func() string {
		if !observer.wasForgotten(key) {
			return "not forgotten"
		}
		return ""
	})
}

// metricValue reads a drainer's series from the manager's metrics registry;
// trigger, when set, selects the series of that trigger. Missing is 0.
func metricValue(t *testing.T, name string, key types.NamespacedName, trigger string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	must(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			want := map[string]string{"namespace": key.Namespace, "name": key.Name}
			if trigger != "" {
				want["trigger"] = trigger
			}
			for _, l := range m.GetLabel() {
				if v, ok := want[l.GetName()]; ok && v != l.GetValue() {
					continue series
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
