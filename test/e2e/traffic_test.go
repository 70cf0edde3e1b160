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

// What ordinary traffic does to a drain, through the real Job controller
// and scheduler: a run that grows after a worker has exited, a consumer
// pointed at another queue, a worker that cannot reach SQS, and workers
// that no node can take.

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/sqsstats"
	"github.com/queuedrainer/queue-drainer/test/emulator"
	"github.com/queuedrainer/queue-drainer/test/localcluster"
	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

// pendingGrace is the operator's --workers-pending-grace here (default 1m).
const pendingGrace = 5 * time.Second

// A trickle lets one worker find the queue empty and exit 0 while the
// other still works; then a burst arrives. The run grows to 6 workers and
// the new ones really run. As a control, a plain work-queue Job (what runs
// were before) gets no new pod from the same parallelism raise.
func scaleUpAfterAWorkerExitedStartsPods(t *testing.T) {
	t.Parallel()
	const burst, wantWorkers = 3000, 6
	s := newScenario(t, "scaleup")
	// One message takes 15 s, so its worker stays while the other, finding
	// the queue empty, exits; the others take 20 ms.
	tmpl := workerTemplate("sh", "-c", `read -r body; case "$body" in slow*) sleep 15;; *) sleep 0.02;; esac`)
	// Few receivers, as for any slow handler: with the default 64, the
	// worker still running would take 640 of the burst into its hands at
	// once, and the backlog the run is sized by would be the rest.
	tmpl.Spec.Template.Spec.Containers[0].Args = append([]string{"--concurrency=4", "--receivers=4"}, tmpl.Spec.Template.Spec.Containers[0].Args...)
	s.createDrainer(v1alpha1.Triggers{QueueDepth: ptr.To[int64](1)}, tmpl, func(spec *v1alpha1.QueueDrainerSpec) {
		spec.Workers = v1alpha1.WorkerPolicy{MessagesPerWorker: burst / wantWorkers, Min: 2, Max: wantWorkers}
	})
	ctx := context.Background()
	_, err := sqsAPI.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(s.queueURL), MessageBody: aws.String("slow")})
	kubetest.Must(t, err)

	jobName := s.key.Name + "-1"
	watch := watchRunningPods(t, s.key.Namespace, jobName)
	kubetest.Eventually(t, 60*time.Second, "one worker done, the other still running", func() string {
		job := s.waitJob(1, 10*time.Second)
		if job.Status.Succeeded >= 1 && job.Status.Active == 1 {
			return ""
		}
		return fmt.Sprintf("%d active, %d succeeded", job.Status.Active, job.Status.Succeeded)
	})
	before := watch.now()
	s.send(burst, nil)
	kubetest.Eventually(t, 60*time.Second, fmt.Sprintf("%d workers running at once", wantWorkers/2+1), func() string {
		if n := watch.now(); n <= wantWorkers/2 {
			return fmt.Sprintf("%d running", n)
		}
		return ""
	})
	rec := s.waitRecorded(1, 3*time.Minute)
	watch.stop()
	after, created := watch.most(), len(pods(t, s.key.Namespace, jobName))

	if rec.Result != v1alpha1.RunSucceeded || processed(rec) != burst+1 {
		t.Fatalf("run recorded %s with %d processed, want Succeeded with all %d messages: %+v", rec.Result, processed(rec), burst+1, rec)
	}
	if v, f := s.messages(); v+f != 0 {
		t.Fatalf("queue not empty after the run: %d visible, %d in flight", v, f)
	}
	if rec.WorkersWanted != wantWorkers || created < wantWorkers {
		t.Fatalf("run wanted %d workers and %d pods were created, want %d and at least %d", rec.WorkersWanted, created, wantWorkers, wantWorkers)
	}
	// The record reads pods' start and finish times, in whole seconds; the
	// test polls every 100 ms: either can miss what the other sees by one.
	if ran := int(rec.Workers); ran < after-1 || ran > after+1 || ran > wantWorkers {
		t.Fatalf("history says %d workers ran at once, the test saw %d (wanted %d)", rec.Workers, after, wantWorkers)
	}
	kubetest.WaitEvent(t, k8s, s.key, v1alpha1.ReasonDrainScaled, fmt.Sprintf("to %d workers", wantWorkers), 10*time.Second)

	control := workQueueJobControl(t, s.key.Namespace, wantWorkers)
	report(t, "scale-up after a worker exited: %d running when the burst came, %d at once after it; %d pods created; history: %d ran, %d wanted, %d messages",
		before, after, created, rec.Workers, rec.WorkersWanted, processed(rec))
	report(t, "control, a plain work-queue Job (completions unset) raised from 2 to %d after one pod succeeded: %d pods ever created", wantWorkers, control)
	if control != 2 {
		t.Errorf("the control work-queue Job got %d pods, want 2 (the Job controller's rule this operator works around)", control)
	}
}

// workQueueJobControl runs the Job shape the operator used before: a
// work-queue Job (completions unset) of 2 pods, one of which exits 0 at
// once while the other sleeps; raised to the given parallelism after that,
// it creates no pod. It returns how many pods the Job ever had.
func workQueueJobControl(t *testing.T, namespace string, raiseTo int32) int {
	t.Helper()
	ctx := context.Background()
	lock := t.TempDir() + "/first"
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "work-queue-control", Namespace: namespace},
		Spec: batchv1.JobSpec{
			Parallelism: ptr.To[int32](2),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "worker", Image: localcluster.ShellImage,
					// The first pod to make the directory stays; the other exits 0.
					Command: []string{"sh", "-c", "if mkdir " + lock + "; then sleep 20; fi"}}},
			}},
		},
	}
	kubetest.Must(t, k8s.Create(ctx, job))
	kubetest.Eventually(t, 60*time.Second, "one control pod succeeded", func() string {
		kubetest.Must(t, k8s.Get(ctx, client.ObjectKeyFromObject(job), job))
		if job.Status.Succeeded == 1 && job.Status.Active == 1 {
			return ""
		}
		return fmt.Sprintf("%d active, %d succeeded", job.Status.Active, job.Status.Succeeded)
	})
	patch := client.MergeFrom(job.DeepCopy())
	job.Spec.Parallelism = ptr.To(raiseTo)
	kubetest.Must(t, k8s.Patch(ctx, job, patch))
	time.Sleep(5 * time.Second) // the Job controller acts within a second when it acts
	n := len(pods(t, namespace, job.Name))
	kubetest.Must(t, k8s.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)))
	return n
}

// runningPods polls a Job's pods and remembers the most seen running at once.
type runningPods struct {
	mu         sync.Mutex
	cur, peak  int
	stopPoll   chan struct{}
	pollsEnded chan struct{}
}

func watchRunningPods(t *testing.T, namespace, job string) *runningPods {
	w := &runningPods{stopPoll: make(chan struct{}), pollsEnded: make(chan struct{})}
	go func() {
		defer close(w.pollsEnded)
		for {
			var list corev1.PodList
			if err := k8s.List(context.Background(), &list, client.InNamespace(namespace),
				client.MatchingLabels{batchv1.JobNameLabel: job}); err == nil {
				n := 0
				for _, p := range list.Items {
					if running(p) {
						n++
					}
				}
				w.mu.Lock()
				w.cur, w.peak = n, max(w.peak, n)
				w.mu.Unlock()
			}
			select {
			case <-w.stopPoll:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(w.stop)
	return w
}

func (w *runningPods) now() int  { w.mu.Lock(); defer w.mu.Unlock(); return w.cur }
func (w *runningPods) most() int { w.mu.Lock(); defer w.mu.Unlock(); return w.peak }

func (w *runningPods) stop() {
	select {
	case <-w.stopPoll:
	default:
		close(w.stopPoll)
	}
	<-w.pollsEnded
}

// A consumer whose container sets QUEUE_URL to another queue: the operator
// warns at each start, records its runs as ineffective, and backs off
// (cooldown 2 s doubled per run) instead of starting one every cooldown.
// Fixing the template clears it, and the next run drains the queue.
func consumerOnAnotherQueueBacksOff(t *testing.T) {
	t.Parallel()
	const messages, cooldown, window = 50, 2 * time.Second, 80 * time.Second
	s := newScenario(t, "otherqueue")
	ctx := context.Background()
	otherName := s.key.Namespace + "-other"
	otherURL, err := emulator.CreateQueue(ctx, sqsAPI, otherName, nil)
	kubetest.Must(t, err)
	kubetest.Must(t, emulator.SendMessages(ctx, sqsAPI, otherURL, 20, 0))

	tmpl := workerTemplate("true")
	c := &tmpl.Spec.Template.Spec.Containers[0]
	c.Env = append(c.Env, corev1.EnvVar{Name: v1alpha1.EnvQueueURL, Value: emulator.CanonicalURL(otherName)})
	s.createDrainer(v1alpha1.Triggers{QueueDepth: ptr.To[int64](1)}, tmpl, func(spec *v1alpha1.QueueDrainerSpec) {
		spec.Cooldown = &metav1.Duration{Duration: cooldown}
		spec.FailedRunsHistoryLimit = ptr.To[int32](20) // keep every run to measure the gaps
	})
	s.send(messages, nil)
	first := s.waitJob(1, 15*time.Second)
	if e := kubetest.WaitEvent(t, k8s, s.key, v1alpha1.ReasonQueueURLOverridden, "", 10*time.Second); !strings.Contains(e.Note, otherName) {
		t.Errorf("%s event %q does not name the other queue", v1alpha1.ReasonQueueURLOverridden, e.Note)
	}
	time.Sleep(time.Until(first.CreationTimestamp.Add(window)))

	qd := s.drainer()
	runs := slices.Clone(qd.Status.History)
	slices.Reverse(runs) // oldest first
	if len(runs) < 3 {
		t.Fatalf("%d runs recorded in %s, want at least 3 to see the backoff: %+v", len(runs), window, runs)
	}
	var gaps []time.Duration
	for i, r := range runs {
		if r.Result != v1alpha1.RunIneffective || !strings.Contains(r.Message, "not spec.queue.url") {
			t.Fatalf("run %s recorded %s %q, want Ineffective naming the other queue", r.Name, r.Result, r.Message)
		}
		if i > 0 {
			gap := r.StartedAt.Sub(runs[i-1].FinishedAt.Time)
			// The n-th ineffective run in a row holds the next for cooldown × 2^n.
			if want := cooldown << i; gap < want-time.Second { // timestamps have whole seconds
				t.Fatalf("run %s started %s after the one before ended, want at least %s (backoff): gaps %v", r.Name, gap, want, gaps)
			}
			gaps = append(gaps, gap)
		}
	}
	jobs := int(qd.Status.LastRunNumber)
	if jobs > 6 {
		t.Fatalf("%d runs in %s, want at most 6 with the backoff", jobs, window)
	}
	if c := kubetest.Condition(qd, v1alpha1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonIneffectiveConsumer ||
		!strings.Contains(c.Message, otherName) {
		t.Fatalf("Ready = %s/%s %q, want False/%s naming the other queue", c.Status, c.Reason, c.Message, v1alpha1.ReasonIneffectiveConsumer)
	}
	if e := kubetest.WaitEvent(t, k8s, s.key, v1alpha1.ReasonDrainIneffective, "not spec.queue.url", 10*time.Second); e.Type != corev1.EventTypeWarning {
		t.Fatalf("%s event naming the queue mismatch is %s, want a Warning", v1alpha1.ReasonDrainIneffective, e.Type)
	}
	if v, f := s.messages(); v+f != messages {
		t.Fatalf("the declared queue holds %d visible + %d in flight, want its %d messages untouched", v, f, messages)
	}
	var took time.Duration
	for _, r := range runs {
		took += r.FinishedAt.Sub(r.StartedAt.Time)
	}
	perRun := took / time.Duration(len(runs))
	report(t, "ineffective consumer (another queue), cooldown %s: %d runs in %s, gaps %v; without the backoff one run every cooldown + %s run = about %d",
		cooldown, jobs, window, gaps, perRun.Round(100*time.Millisecond), int(window/(cooldown+perRun)))

	// Fix the template: the spec change clears the backoff.
	qd = s.drainer()
	patch := client.MergeFrom(qd.DeepCopy())
	env := &qd.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Env
	*env = slices.DeleteFunc(*env, func(e corev1.EnvVar) bool { return e.Name == v1alpha1.EnvQueueURL })
	kubetest.Must(t, k8s.Patch(ctx, qd, patch))
	fixed := time.Now()
	kubetest.Eventually(t, 2*time.Minute, "a run that drains the declared queue", func() string {
		qd := s.drainer()
		if len(qd.Status.History) > 0 && qd.Status.History[0].Result == v1alpha1.RunSucceeded {
			if h := qd.Status.History[0]; processed(h) != messages {
				return fmt.Sprintf("run %s processed %d, want %d", h.Name, processed(h), messages)
			}
			if c := kubetest.Condition(qd, v1alpha1.ConditionReady); c.Status != metav1.ConditionTrue {
				return fmt.Sprintf("Ready %s/%s: %s", c.Status, c.Reason, c.Message)
			}
			return ""
		}
		return fmt.Sprintf("ineffectiveRuns %d, latest %s", qd.Status.IneffectiveRuns, latestResult(qd))
	})
	report(t, "template fixed: the queue drained and Ready=True %s later", time.Since(fixed).Round(100*time.Millisecond))
}

func latestResult(qd *v1alpha1.QueueDrainer) string {
	if qd.Status.ActiveRun != nil {
		return "run " + qd.Status.ActiveRun.Name + " active"
	}
	if len(qd.Status.History) == 0 {
		return "no run"
	}
	return fmt.Sprintf("run %s %s", qd.Status.History[0].Name, qd.Status.History[0].Result)
}

// A worker given a wrong SQS endpoint: the run fails, and its history and
// DrainFailed Event carry the worker's own error, while the operator,
// which can reach SQS, keeps saying QueueReachable=True.
func workerErrorReachesTheDrainer(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "wrongendpoint")
	closed := closedPort(t)
	tmpl := workerTemplate("true")
	tmpl.Spec.BackoffLimit = ptr.To[int32](1)
	// The template's own endpoint wins over the one the operator passes on
	// (--consumer-env).
	tmpl.Spec.Template.Spec.Containers[0].Env = append(tmpl.Spec.Template.Spec.Containers[0].Env,
		corev1.EnvVar{Name: "AWS_ENDPOINT_URL_SQS", Value: "http://" + closed})
	s.createDrainer(v1alpha1.Triggers{QueueDepth: ptr.To[int64](1)}, tmpl, func(spec *v1alpha1.QueueDrainerSpec) {
		spec.Workers = v1alpha1.WorkerPolicy{Max: 1}
		spec.Cooldown = &metav1.Duration{Duration: time.Hour}
	})
	s.send(10, nil)
	rec := s.waitRecorded(1, 2*time.Minute)
	want := "could not reach SQS: dial tcp " + closed + ": connect: connection refused"
	if rec.Result != v1alpha1.RunFailed || !strings.Contains(rec.Message, want) {
		t.Fatalf("run recorded %s %q, want Failed with %q", rec.Result, rec.Message, want)
	}
	kubetest.WaitEvent(t, k8s, s.key, v1alpha1.ReasonDrainFailed, want, 10*time.Second)
	if c := kubetest.Condition(s.drainer(), v1alpha1.ConditionQueueReachable); c.Status != metav1.ConditionTrue {
		t.Fatalf("QueueReachable = %s/%s, want True: the operator reaches the queue", c.Status, c.Reason)
	}
	if v, f := s.messages(); v+f != 10 {
		t.Fatalf("queue holds %d visible + %d in flight, want the 10 messages", v, f)
	}
	report(t, "worker with a wrong endpoint: run %s %s: %s", rec.Name, rec.Result, rec.Message)
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	kubetest.Must(t, err)
	addr := l.Addr().String()
	kubetest.Must(t, l.Close())
	return addr
}

// Workers whose nodeSelector no node has: status shows them pending (not
// running), the drainer says so after the grace with the scheduler's
// message, and the run is not raised while they wait.
func unschedulableWorkersArePending(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "pending")
	tmpl := workerTemplate("true")
	tmpl.Spec.Template.Spec.NodeSelector = map[string]string{"queuedrainer.io/e2e-no-such-node": "true"}
	s.createDrainer(v1alpha1.Triggers{QueueDepth: ptr.To[int64](1)}, tmpl, func(spec *v1alpha1.QueueDrainerSpec) {
		spec.Workers = v1alpha1.WorkerPolicy{MessagesPerWorker: 100, Min: 2, Max: 10}
	})
	s.send(5, nil)
	s.waitJob(1, 15*time.Second)
	var seen time.Time
	kubetest.Eventually(t, 30*time.Second, "2 workers pending in status", func() string {
		r := s.drainer().Status.ActiveRun
		if r == nil || r.Pending != 2 || r.Running != 0 || r.RunningOfWanted != "0/2" {
			return fmt.Sprintf("activeRun %+v", r)
		}
		seen = time.Now()
		return ""
	})
	var cond metav1.Condition
	kubetest.Eventually(t, pendingGrace+15*time.Second, "Draining says workers are pending", func() string {
		cond = kubetest.Condition(s.drainer(), v1alpha1.ConditionDraining)
		if cond.Reason != v1alpha1.ReasonWorkersPending || !strings.Contains(cond.Message, "didn't match Pod's node affinity/selector") {
			return fmt.Sprintf("Draining %s/%s: %s", cond.Status, cond.Reason, cond.Message)
		}
		return ""
	})
	e := kubetest.WaitEvent(t, k8s, s.key, v1alpha1.ReasonWorkersPending, "", 10*time.Second)
	if e.Type != corev1.EventTypeWarning || !strings.Contains(e.Note, "didn't match Pod's node affinity/selector") {
		t.Fatalf("%s event %s %q, want a Warning with the scheduler's message", v1alpha1.ReasonWorkersPending, e.Type, e.Note)
	}
	// More backlog: no more workers while these wait.
	s.send(1000, nil)
	kubetest.Never(t, 5*time.Second, "no scale-up while workers are pending", func() string {
		if r := s.drainer().Status.ActiveRun; r == nil || r.Workers != 2 {
			return fmt.Sprintf("activeRun %+v", r)
		}
		if e := kubetest.FindEvent(t, k8s, s.key, v1alpha1.ReasonDrainScaled, ""); e != nil {
			return "DrainScaled: " + e.Note
		}
		return ""
	})
	report(t, "unschedulable workers: pending in status at once (%s after the Job), %s: %s",
		seen.Sub(s.waitJob(1, time.Second).CreationTimestamp.Time).Round(time.Second), cond.Reason, cond.Message)
	// Delete the drainer, so that its pending pods leave with it.
	kubetest.Must(t, k8s.Delete(context.Background(), s.drainer()))
}

// Poison messages go to the dead-letter queue: the run says how many, the
// drainer shows the dead-letter depth, and a redrive request moves them
// back with one Redrive run, none lost, none doubled.
func deadLettersAreCountedAndRedriven(t *testing.T) {
	t.Parallel()
	const good, poison = 80, 20
	s := newScenario(t, "deadletter")
	ctx := context.Background()
	dlqName := s.key.Namespace + "-dlq"
	dlqURL, err := emulator.CreateQueue(ctx, sqsAPI, dlqName, nil)
	kubetest.Must(t, err)
	_, err = sqsAPI.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(s.queueURL), Attributes: map[string]string{
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":"arn:aws:sqs:%s:%s:%s","maxReceiveCount":"2"}`, emulator.Region, emulator.Account, dlqName),
		"VisibilityTimeout": "1",
	}})
	kubetest.Must(t, err)
	// The handler fails every poison message.
	tmpl := workerTemplate("sh", "-c", `read -r body; case "$body" in poison*) exit 1;; esac`)
	s.createDrainer(v1alpha1.Triggers{QueueDepth: ptr.To[int64](100000)}, tmpl, nil)
	for i := 0; i < good+poison; i += 10 {
		var entries []sqstypes.SendMessageBatchRequestEntry
		for j := i; j < i+10; j++ {
			body := fmt.Sprintf("ok-%d", j)
			if j%((good+poison)/poison) == 0 {
				body = fmt.Sprintf("poison-%d", j)
			}
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)), MessageBody: aws.String(body)})
		}
		_, err := sqsAPI.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(s.queueURL), Entries: entries})
		kubetest.Must(t, err)
	}
	annotate(t, s, v1alpha1.DrainRequestAnnotation, "drain-1")
	rec := s.waitRecorded(1, 2*time.Minute)
	if rec.Result != v1alpha1.RunSucceeded || processed(rec) != good || ptr.Deref(rec.MessagesDeadLettered, -1) != poison {
		t.Fatalf("run 1 recorded %s, %d processed, %d dead-lettered; want Succeeded, %d and %d: %+v",
			rec.Result, processed(rec), ptr.Deref(rec.MessagesDeadLettered, -1), good, poison, rec)
	}
	if e := kubetest.WaitEvent(t, k8s, s.key, v1alpha1.ReasonDeadLettered, fmt.Sprintf("about %d messages", poison), 10*time.Second); e.Type != corev1.EventTypeWarning {
		t.Fatalf("%s event for the %d dead-lettered messages is %s, want a Warning", v1alpha1.ReasonDeadLettered, poison, e.Type)
	}
	kubetest.WaitEvent(t, k8s, s.key, v1alpha1.ReasonDrainSucceeded, "deliveries failed", 10*time.Second)
	kubetest.Eventually(t, 15*time.Second, "the dead-letter depth in status", func() string {
		if dl := s.drainer().Status.Queue.DeadLetter; dl == nil || dl.URL != emulator.CanonicalURL(dlqName) || dl.VisibleMessages != poison {
			return fmt.Sprintf("deadLetter %+v", dl)
		}
		return ""
	})

	annotate(t, s, v1alpha1.RedriveRequestAnnotation, "redrive-1")
	moved := s.waitRecorded(2, 2*time.Minute)
	if moved.Trigger != v1alpha1.TriggerRedrive || moved.Result != v1alpha1.RunSucceeded || processed(moved) != poison {
		t.Fatalf("run 2 recorded %s by %s with %d processed, want a Succeeded Redrive that moved %d: %+v", moved.Result, moved.Trigger, processed(moved), poison, moved)
	}
	dlq, err := sqsstats.CountsAt(ctx, sqsAPI, dlqURL)
	kubetest.Must(t, err)
	if v, f := s.messages(); v != poison || f != 0 || dlq.Visible+dlq.InFlight != 0 {
		t.Fatalf("after the redrive: queue %d visible, %d in flight; dead-letter queue %+v; want the %d poison messages back, the dead-letter queue empty", v, f, dlq, poison)
	}
	if got := s.drainer().Status.LastHandledRedriveRequest; got != "redrive-1" {
		t.Fatalf("lastHandledRedriveRequest %q, want redrive-1", got)
	}
	kubetest.WaitEvent(t, k8s, s.key, v1alpha1.ReasonRedriveSucceeded, "", 10*time.Second)
	report(t, "dead letters: run 1 processed %d, %d deliveries failed, %d dead-lettered; redrive run %s moved %d back in %s",
		processed(rec), ptr.Deref(rec.MessagesFailed, -1), ptr.Deref(rec.MessagesDeadLettered, -1), moved.Name, processed(moved),
		moved.FinishedAt.Sub(moved.StartedAt.Time).Round(time.Second))
}

// annotate sets an annotation of the scenario's drainer.
func annotate(t *testing.T, s *scenario, key, value string) {
	t.Helper()
	qd := s.drainer()
	patch := client.MergeFrom(qd.DeepCopy())
	if qd.Annotations == nil {
		qd.Annotations = map[string]string{}
	}
	qd.Annotations[key] = value
	kubetest.Must(t, k8s.Patch(context.Background(), qd, patch))
}
