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

package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/test/load"
	"github.com/queuedrainer/queue-drainer/test/localcluster"
	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

func TestEndToEnd(t *testing.T) {
	// These share the operator and run side by side, each with its own
	// namespace and queue.
	t.Run("side by side", func(t *testing.T) {
		t.Run("DepthTriggerDrains20000Messages", depthTriggerDrains20000Messages)
		t.Run("OldestMessageAgeTriggersARun", oldestMessageAgeTriggersARun)
		t.Run("ScheduleTriggersARun", scheduleTriggersARun)
		t.Run("ManualRequestTriggersOneRun", manualRequestTriggersOneRun)
		t.Run("DeletedDrainerTakesItsJobPodsAndProcesses", deletedDrainerTakesItsJobPodsAndProcesses)
		t.Run("FailingConsumerIsRecordedAndBacksOff", failingConsumerIsRecordedAndBacksOff)
		t.Run("ScaleUpAfterAWorkerExitedStartsPods", scaleUpAfterAWorkerExitedStartsPods)
		t.Run("ConsumerOnAnotherQueueBacksOff", consumerOnAnotherQueueBacksOff)
		t.Run("WorkerErrorReachesTheDrainer", workerErrorReachesTheDrainer)
		t.Run("UnschedulableWorkersArePending", unschedulableWorkersArePending)
		t.Run("DeadLettersAreCountedAndRedriven", deadLettersAreCountedAndRedriven)
	})
	// These stop the operator or the API server, so they run alone.
	t.Run("OperatorPodDeletedMidRun", operatorPodDeletedMidRun)
	t.Run("OperatorKilledMidRun", operatorKilledMidRun)
	t.Run("APIServerRestartedMidRun", apiServerRestartedMidRun)
}

// (a) The depth trigger starts one run whose drain-worker pods empty the
// queue; the Job completes and the history counts every message.
func depthTriggerDrains20000Messages(t *testing.T) {
	t.Parallel()
	const total, threshold = 20000, 1000
	pollInterval := time.Second
	s := newScenario(t, "depth")
	s.createDrainer(v1alpha1.Triggers{QueueDepth: ptr.To[int64](threshold)}, workerTemplate("true"),
		func(spec *v1alpha1.QueueDrainerSpec) {
			spec.Workers = v1alpha1.WorkerPolicy{MessagesPerWorker: 5000, Min: 1, Max: 4}
		})

	// The threshold is crossed when the sender has had the threshold's
	// worth of messages accepted; the send goes on meanwhile.
	var crossed time.Time
	var once sync.Once
	sent := make(chan load.Result, 1)
	go func() {
		sent <- s.send(total, func(r load.Result) {
			if r.Sent >= threshold {
				once.Do(func() { crossed = time.Now() })
			}
		})
	}()

	var jobSeen, workerSeen time.Time
	jobName := s.key.Name + "-1"
	kubetest.Eventually(t, 60*time.Second, "the first worker running", func() string {
		if jobSeen.IsZero() {
			var job batchv1.Job
			if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: s.key.Namespace, Name: jobName}, &job); err != nil {
				return err.Error()
			}
			jobSeen = time.Now()
		}
		for _, p := range pods(t, s.key.Namespace, jobName) {
			if running(p) {
				workerSeen = time.Now()
				return ""
			}
		}
		return "Job created, no worker running yet"
	})
	res := <-sent
	once.Do(func() { crossed = time.Now() }) // only if Progress never reported the threshold

	var completed time.Time
	kubetest.Eventually(t, 5*time.Minute, "Job "+jobName+" complete", func() string {
		job := s.waitJob(1, time.Second)
		if jobCondition(job, batchv1.JobComplete) {
			completed = time.Now()
			return ""
		}
		if jobCondition(job, batchv1.JobFailed) {
			t.Fatalf("Job %s failed: %+v", jobName, job.Status.Conditions)
		}
		v, f := s.messages()
		return fmt.Sprintf("%d active pods; queue %d visible, %d in flight", job.Status.Active, v, f)
	})
	rec := s.waitRecorded(1, 30*time.Second)
	if rec.Result != v1alpha1.RunSucceeded || rec.Trigger != v1alpha1.TriggerQueueDepth {
		t.Fatalf("run recorded as %s by %s, want Succeeded by QueueDepth: %+v", rec.Result, rec.Trigger, rec)
	}
	if processed(rec) != total {
		t.Fatalf("history says %d messages processed, want %d (failed: %d)", processed(rec), total, ptr.Deref(rec.MessagesFailed, -1))
	}
	if v, f := s.messages(); v+f != 0 {
		t.Fatalf("queue not empty after the run: %d visible, %d in flight", v, f)
	}

	toJob := jobSeen.Sub(crossed)
	drain := completed.Sub(workerSeen)
	report(t, "depth trigger, %d messages sent at %.0f msg/s", total, res.PerSecond())
	report(t, "threshold crossed -> Job created:    %s (target <= pollInterval + 2s = %s)", toJob.Round(10*time.Millisecond), pollInterval+2*time.Second)
	report(t, "threshold crossed -> first worker:   %s", workerSeen.Sub(crossed).Round(10*time.Millisecond))
	report(t, "first worker -> Job complete:        %s, %.0f msg/s over the run (%d workers; recorded %s msg/s)",
		drain.Round(10*time.Millisecond), float64(total)/drain.Seconds(), rec.Workers, rec.MessagesPerSecond)
	if toJob > pollInterval+2*time.Second {
		t.Errorf("Job created %s after the threshold was crossed, want at most %s", toJob, pollInterval+2*time.Second)
	}
}

// (b) Messages older than oldestMessageAge start a run, not before.
func oldestMessageAgeTriggersARun(t *testing.T) {
	t.Parallel()
	const age = 15 * time.Second
	s := newScenario(t, "age")
	s.createDrainer(v1alpha1.Triggers{OldestMessageAge: &metav1.Duration{Duration: age}}, workerTemplate("true"), nil)
	s.send(5, nil)
	sentAt := time.Now()
	job := s.waitJob(1, age+45*time.Second)
	seen := time.Since(sentAt)
	if seen < age {
		t.Fatalf("Job started %s after the send, before the messages were %s old", seen, age)
	}
	if got := job.Annotations[v1alpha1.TriggerAnnotation]; got != string(v1alpha1.TriggerOldestMessageAge) {
		t.Fatalf("Job trigger %q, want OldestMessageAge", got)
	}
	rec := s.waitRecorded(1, time.Minute)
	if rec.Result != v1alpha1.RunSucceeded || processed(rec) != 5 {
		t.Fatalf("run recorded %s with %d processed, want Succeeded with 5", rec.Result, processed(rec))
	}
	report(t, "age trigger (%s): Job created %s after the send (CloudWatch period %s)", age, seen.Round(100*time.Millisecond), cloudWatchPeriod)
}

// (c) A schedule slot starts a run.
func scheduleTriggersARun(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "schedule")
	s.createDrainer(v1alpha1.Triggers{Schedule: "* * * * *"}, workerTemplate("true"), nil)
	s.send(10, nil)
	job := s.waitJob(1, 75*time.Second)
	if got := job.Annotations[v1alpha1.TriggerAnnotation]; got != string(v1alpha1.TriggerSchedule) {
		t.Fatalf("Job trigger %q, want Schedule", got)
	}
	rec := s.waitRecorded(1, time.Minute)
	if rec.Result != v1alpha1.RunSucceeded || processed(rec) != 10 {
		t.Fatalf("run recorded %s with %d processed, want Succeeded with 10", rec.Result, processed(rec))
	}
	qd := s.drainer()
	if qd.Status.LastScheduleTime == nil || qd.Status.NextScheduleTime == nil || !qd.Status.NextScheduleTime.After(qd.Status.LastScheduleTime.Time) {
		t.Fatalf("schedule times not advanced: last %v, next %v", qd.Status.LastScheduleTime, qd.Status.NextScheduleTime)
	}
	report(t, "schedule trigger: Job %s for the slot %s", job.Name, qd.Status.LastScheduleTime.UTC().Format(time.TimeOnly))
}

// (d) A manual request starts exactly one run, even far below the depth
// threshold.
func manualRequestTriggersOneRun(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "manual")
	s.createDrainer(v1alpha1.Triggers{QueueDepth: ptr.To[int64](100000)}, workerTemplate("true"), nil)
	s.send(50, nil)
	kubetest.Never(t, 3*time.Second, "no run before the request", func() string {
		if n := len(s.jobs()); n > 0 {
			return fmt.Sprintf("%d Jobs", n)
		}
		return ""
	})
	request := time.Now().UTC().Format(time.RFC3339)
	qd := s.drainer()
	patch := client.MergeFrom(qd.DeepCopy())
	qd.Annotations = map[string]string{v1alpha1.DrainRequestAnnotation: request}
	kubetest.Must(t, k8s.Patch(context.Background(), qd, patch))
	requested := time.Now()

	job := s.waitJob(1, 15*time.Second)
	latency := time.Since(requested)
	if got := job.Annotations[v1alpha1.TriggerAnnotation]; got != string(v1alpha1.TriggerManual) {
		t.Fatalf("Job trigger %q, want Manual", got)
	}
	rec := s.waitRecorded(1, time.Minute)
	if rec.Result != v1alpha1.RunSucceeded || processed(rec) != 50 {
		t.Fatalf("run recorded %s with %d processed, want Succeeded with 50", rec.Result, processed(rec))
	}
	if got := s.drainer().Status.LastHandledDrainRequest; got != request {
		t.Fatalf("lastHandledDrainRequest %q, want %q", got, request)
	}
	kubetest.Never(t, 3*time.Second, "one run per request", func() string {
		if n := len(s.jobs()); n != 1 {
			return fmt.Sprintf("%d Jobs", n)
		}
		return ""
	})
	report(t, "manual request: Job seen %s after the annotation", latency.Round(10*time.Millisecond))
}

// (e) Deleting the drainer mid-run: the garbage collector removes its Job
// and pods, the node agent stops their processes, and the messages the
// workers held go back to the queue.
func deletedDrainerTakesItsJobPodsAndProcesses(t *testing.T) {
	t.Parallel()
	const messages = 20
	s := newScenario(t, "deleted")
	tmpl := workerTemplate("sleep", "600")
	tmpl.Spec.Template.Spec.Containers[0].Args = append([]string{"--handler-timeout=15m", "--concurrency=4"}, tmpl.Spec.Template.Spec.Containers[0].Args...)
	s.createDrainer(v1alpha1.Triggers{QueueDepth: ptr.To[int64](1)}, tmpl, func(spec *v1alpha1.QueueDrainerSpec) {
		spec.Workers = v1alpha1.WorkerPolicy{MessagesPerWorker: 10, Max: 2}
	})
	s.send(messages, nil)
	job := s.waitJob(1, 15*time.Second)

	var pids []int
	kubetest.Eventually(t, 30*time.Second, "2 workers running, holding messages", func() string {
		pids = nil
		ps := pods(t, s.key.Namespace, job.Name)
		for _, p := range ps {
			if running(p) {
				pids = append(pids, stack.Agent.Processes()[p.UID]...)
			}
		}
		if _, inFlight := s.messages(); len(pids) < 2 || inFlight == 0 {
			return fmt.Sprintf("%d pods, %d processes, %d messages in flight", len(ps), len(pids), inFlight)
		}
		return ""
	})

	deleted := time.Now()
	kubetest.Must(t, k8s.Delete(context.Background(), &v1alpha1.QueueDrainer{ObjectMeta: metav1.ObjectMeta{Name: s.key.Name, Namespace: s.key.Namespace}}))
	kubetest.Eventually(t, 90*time.Second, "Job, pods and processes gone", func() string {
		var j batchv1.Job
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(&job), &j); !apierrors.IsNotFound(err) {
			return fmt.Sprintf("Job still there (%v)", err)
		}
		if ps := pods(t, s.key.Namespace, job.Name); len(ps) > 0 {
			return fmt.Sprintf("%d pods still there", len(ps))
		}
		for _, pid := range pids {
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				return fmt.Sprintf("process %d still alive", pid)
			}
		}
		return ""
	})
	gone := time.Since(deleted)
	kubetest.Eventually(t, 30*time.Second, "every message back in the queue", func() string {
		if v, f := s.messages(); v != messages {
			return fmt.Sprintf("%d visible, %d in flight, want %d visible", v, f, messages)
		}
		return ""
	})
	report(t, "drainer deleted mid-run: Job, its pods and their %d processes gone in %s; %d of %d messages back in the queue",
		len(pids), gone.Round(100*time.Millisecond), messages, messages)
}

// (g) A consumer that always fails: the run is recorded Failed with the
// end of its log (terminationMessagePolicy FallbackToLogsOnError), and,
// since it took no message, the next run waits twice the cooldown (the
// backoff of runs that do not reduce the backlog) instead of retrying at once.
func failingConsumerIsRecordedAndBacksOff(t *testing.T) {
	t.Parallel()
	const cooldown = 10 * time.Second
	const backoff = 2 * cooldown
	s := newScenario(t, "failing")
	tmpl := batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
		BackoffLimit: ptr.To[int32](1),
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "consumer", Image: localcluster.ShellImage,
				Command:                  []string{"sh", "-c", "echo 'cannot reach the database' >&2; exit 1"},
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			}},
		}},
	}}
	s.createDrainer(v1alpha1.Triggers{QueueDepth: ptr.To[int64](5)}, tmpl, func(spec *v1alpha1.QueueDrainerSpec) {
		spec.Cooldown = &metav1.Duration{Duration: cooldown}
	})
	s.send(10, nil)
	s.waitJob(1, 15*time.Second)
	rec := s.waitRecorded(1, 90*time.Second)
	if rec.Result != v1alpha1.RunFailed || !strings.Contains(rec.Message, "exited with code 1: cannot reach the database") {
		t.Fatalf("run recorded %s %q, want Failed with the consumer's exit code and last log line", rec.Result, rec.Message)
	}
	finished := rec.FinishedAt.Time
	kubetest.Never(t, time.Until(finished.Add(backoff-time.Second)), "no run during the backoff", func() string {
		if n := len(s.jobs()); n != 1 {
			return fmt.Sprintf("%d Jobs", n)
		}
		return ""
	})
	second := s.waitJob(2, 30*time.Second)
	gap := second.CreationTimestamp.Sub(finished)
	if gap < backoff-time.Second { // timestamps have whole seconds
		t.Fatalf("run 2 started %s after run 1 failed, within the %s backoff", gap, backoff)
	}
	// Stop here: suspend, and check nothing was taken from the queue.
	qd := s.drainer()
	patch := client.MergeFrom(qd.DeepCopy())
	qd.Spec.Suspend = ptr.To(true)
	kubetest.Must(t, k8s.Patch(context.Background(), qd, patch))
	if v, f := s.messages(); v+f != 10 {
		t.Fatalf("queue holds %d visible + %d in flight, want the 10 messages the failing consumer never deleted", v, f)
	}
	report(t, "failing consumer: run 1 %s (%s); run 2 started %s after it (cooldown %s, backoff %s); %d Jobs in %s",
		rec.Result, rec.Message, gap.Round(time.Second), cooldown, backoff, len(s.jobs()), time.Since(rec.StartedAt.Time).Round(time.Second))
}

// (f) Deleting the operator's pod mid-run: the Deployment starts another,
// which adopts the running Job instead of starting a second, and records it.
func operatorPodDeletedMidRun(t *testing.T) { operatorPodGoneMidRun(t, "operator-restart", nil) }

// The same with the operator killed (grace period 0: SIGKILL at once), so
// that it cannot release its lease: the new pod waits for it to expire.
func operatorKilledMidRun(t *testing.T) {
	operatorPodGoneMidRun(t, "operator-killed", ptr.To[int64](0))
}

func operatorPodGoneMidRun(t *testing.T, name string, grace *int64) {
	const messages = 40
	s := newScenario(t, name)
	s.createSlowDrainer()

	// Count the drainer's Jobs all along.
	var mu sync.Mutex
	most := 0
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			var list batchv1.JobList
			if err := k8s.List(context.Background(), &list, client.InNamespace(s.key.Namespace)); err == nil {
				mu.Lock()
				most = max(most, len(list.Items))
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()

	s.send(messages, nil)
	s.waitWorkerRunning(s.waitJob(1, 15*time.Second))

	old := operatorPod(t)
	if old.Name == "" {
		t.Fatal("no operator pod")
	}
	deleted := time.Now()
	kubetest.Must(t, k8s.Delete(context.Background(), &old, &client.DeleteOptions{GracePeriodSeconds: grace}))
	var replacement corev1.Pod
	kubetest.Eventually(t, 60*time.Second, "a new operator pod running", func() string {
		p := operatorPod(t)
		if p.UID == old.UID || !running(p) {
			return "not yet"
		}
		replacement = p
		return ""
	})
	back := time.Since(deleted)
	// The new manager acts once it holds the lease: it observes the queue again.
	kubetest.Eventually(t, 60*time.Second, "the new operator observing the queue", func() string {
		if q := s.drainer().Status.Queue; q == nil || !q.ObservedAt.After(replacement.CreationTimestamp.Time) {
			return "status not refreshed since the replacement started"
		}
		return ""
	})
	acting := time.Since(deleted)

	rec := s.waitRecorded(1, 2*time.Minute)
	close(stop)
	<-watched
	if rec.Result != v1alpha1.RunSucceeded || processed(rec) != messages {
		t.Fatalf("run recorded %s with %d processed, want Succeeded with %d", rec.Result, processed(rec), messages)
	}
	if most != 1 {
		t.Fatalf("saw %d Jobs at once for the drainer, want 1", most)
	}
	if n := s.drainer().Status.LastRunNumber; n != 1 {
		t.Fatalf("lastRunNumber %d, want 1", n)
	}
	how := "deleted"
	if grace != nil {
		how = fmt.Sprintf("deleted with grace period %ds", *grace)
	}
	report(t, "operator pod %s mid-run: replacement %s running %s later, observing the queue again after %s; run %s recorded (%d processed); Jobs at most %d",
		how, replacement.Name, back.Round(100*time.Millisecond), acting.Round(100*time.Millisecond), rec.Name, processed(rec), most)

	// Its logs reach kubectl through the API server and the node agent.
	logs, err := stack.Client.CoreV1().Pods(replacement.Namespace).GetLogs(replacement.Name, &corev1.PodLogOptions{Container: "manager"}).DoRaw(context.Background())
	kubetest.Must(t, err)
	if !strings.Contains(string(logs), "starting manager") {
		t.Fatalf("the manager's log through the API server lacks \"starting manager\": %.300s", logs)
	}
}

// A restarted API server (an upgrade, say) during a run: watches break and
// come back; the run goes on, is recorded once, and no second Job starts.
func apiServerRestartedMidRun(t *testing.T) {
	const messages = 30
	s := newScenario(t, "apiserver-restart")
	s.createSlowDrainer()
	s.send(messages, nil)
	s.waitWorkerRunning(s.waitJob(1, 15*time.Second))
	restart := time.Now()
	kubetest.Must(t, stack.RestartAPIServer(context.Background()))
	down := time.Since(restart)

	rec := s.waitRecorded(1, 2*time.Minute)
	if rec.Result != v1alpha1.RunSucceeded || processed(rec) != messages {
		t.Fatalf("run recorded %s with %d processed, want Succeeded with %d", rec.Result, processed(rec), messages)
	}
	if jobs := s.jobs(); len(jobs) != 1 {
		t.Fatalf("%d Jobs, want the one run", len(jobs))
	}
	if n := s.drainer().Status.LastRunNumber; n != 1 {
		t.Fatalf("lastRunNumber %d, want 1", n)
	}
	report(t, "API server restarted mid-run: back in %s; run %s recorded (%d processed), 1 Job", down.Round(100*time.Millisecond), rec.Name, processed(rec))
}

// operatorPod returns the operator's newest pod that is not being deleted,
// or a zero pod.
func operatorPod(t *testing.T) corev1.Pod {
	t.Helper()
	var list corev1.PodList
	kubetest.Must(t, k8s.List(context.Background(), &list, client.InNamespace(localcluster.OperatorNamespace),
		client.MatchingLabels{"control-plane": "controller-manager"}))
	var newest corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && (newest.Name == "" || p.CreationTimestamp.After(newest.CreationTimestamp.Time)) {
			newest = p
		}
	}
	return newest
}

// report prints a measured figure in the test output.
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("FIGURE "+format, args...)
}

// createSlowDrainer makes a drainer whose one worker handles two messages
// a second, so that a run lasts while a test disturbs the cluster.
func (s *scenario) createSlowDrainer() {
	s.t.Helper()
	tmpl := workerTemplate("sleep", "1")
	tmpl.Spec.Template.Spec.Containers[0].Args = append([]string{"--concurrency=2"}, tmpl.Spec.Template.Spec.Containers[0].Args...)
	s.createDrainer(v1alpha1.Triggers{QueueDepth: ptr.To[int64](10)}, tmpl, func(spec *v1alpha1.QueueDrainerSpec) {
		spec.Workers = v1alpha1.WorkerPolicy{Max: 1}
	})
}

// waitWorkerRunning waits for a pod of the Job with a running container.
func (s *scenario) waitWorkerRunning(job batchv1.Job) {
	s.t.Helper()
	kubetest.Eventually(s.t, 30*time.Second, "a worker of "+job.Name+" running", func() string {
		for _, p := range pods(s.t, s.key.Namespace, job.Name) {
			if running(p) {
				return ""
			}
		}
		return "none yet"
	})
}
