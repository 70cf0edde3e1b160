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

package integration_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/test/emulator"
	"github.com/queuedrainer/queue-drainer/test/faultproxy"
	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

// quiet is how long a test watches for something that must not happen: a
// drainer polls every second, so this spans several decisions.
const quiet = 3 * time.Second

const getAttrs = "GetQueueAttributes"

func TestSQSThrottlingAndServerErrorsAreRetriedThenReportedWithoutAJobStorm(t *testing.T) {
	key, url := newQueueAndDrainer(t, "throttled", v1alpha1.Triggers{QueueDepth: ptr.To[int64](100)})
	defer sqsProxy.Clear()
	reachable := waitCondition(t, key, v1alpha1.ConditionQueueReachable, metav1.ConditionTrue, "QueueObserved", "")

	// A throttle and a 503, then success: the SDK retries within one
	// observation and the drainer never notices.
	seen := sqsProxy.Calls(getAttrs, key.Name)
	sqsProxy.Inject(getAttrs, key.Name, 1, faultproxy.RequestThrottled)
	sqsProxy.Inject(getAttrs, key.Name, 1, faultproxy.ServiceUnavailable)
	var reqs []faultproxy.Request // the faulted attempts and the one after them
	eventually(t, 20*time.Second, "both faults served and the next attempt forwarded", func() string {
		all := sqsProxy.Requests(getAttrs, key.Name)[seen:]
		for i, r := range all {
			if r.Fault != nil {
				all = all[i:]
				break
			}
		}
		if len(all) < 3 || all[0].Fault == nil || all[1].Fault == nil || all[2].Fault != nil {
			return fmt.Sprintf("%d requests since the injection", len(all))
		}
		reqs = all[:3]
		return ""
	})
	t.Logf("FIGURE SQS retries: throttled, retried after %s, 503, retried after %s, answered",
		reqs[1].At.Sub(reqs[0].At).Round(time.Millisecond), reqs[2].At.Sub(reqs[1].At).Round(time.Millisecond))
	time.Sleep(time.Second) // let the observation that got through be written
	if c := condition(get(t, key), v1alpha1.ConditionQueueReachable); c.Status != metav1.ConditionTrue || !c.LastTransitionTime.Equal(&reachable.LastTransitionTime) {
		t.Errorf("QueueReachable %+v after two retried faults, want it True since %s", c, reachable.LastTransitionTime)
	}
	if e := kubetest.FindEvent(t, k8s, key, v1alpha1.ReasonQueueUnreachable, ""); e != nil {
		t.Errorf("event %s %q for faults the SDK retried through", e.Reason, e.Note)
	}

	// Throttled on every attempt: the retries run out and the drainer says
	// so. Messages arrive meanwhile; nothing starts on a queue it cannot see.
	callsBefore, attemptsBefore, since := sqsCalls.Calls(getAttrs, "/"+key.Name), sqsProxy.Calls(getAttrs, key.Name), time.Now()
	sqsProxy.Inject(getAttrs, key.Name, faultproxy.Always, faultproxy.RequestThrottled)
	must(t, emulator.SendMessages(context.Background(), sqsAPI, url, 250, 0))
	waitCondition(t, key, v1alpha1.ConditionQueueReachable, metav1.ConditionFalse, v1alpha1.ReasonThrottling, "RequestThrottled")
	if e := waitEvent(t, key, v1alpha1.ReasonQueueUnreachable); !strings.Contains(e.Note, "RequestThrottled") {
		t.Errorf("event note %q, want the AWS error code", e.Note)
	}
	if c := condition(get(t, key), v1alpha1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonThrottling {
		t.Errorf("Ready %+v, want False/Throttling", c)
	}
	kubetest.Never(t, quiet, "no run while throttled", func() string { return jobCount(t, key, 0) })
	calls, attempts := sqsCalls.Calls(getAttrs, "/"+key.Name)-callsBefore, sqsProxy.Calls(getAttrs, key.Name)-attemptsBefore
	t.Logf("FIGURE SQS throttled for %s: %d GetQueueAttributes calls, %d HTTP attempts (%.1f per call)",
		time.Since(since).Round(time.Second), calls, attempts, float64(attempts)/float64(calls))
	if calls == 0 || attempts < 2*calls {
		t.Errorf("%d calls made %d attempts, want the SDK's retries (3 attempts a call)", calls, attempts)
	}

	// Now a server error on every attempt: the reason follows the error.
	sqsProxy.Clear()
	sqsProxy.Inject(getAttrs, key.Name, faultproxy.Always, faultproxy.InternalError)
	waitCondition(t, key, v1alpha1.ConditionQueueReachable, metav1.ConditionFalse, v1alpha1.ReasonAWSError, "InternalError")
	kubetest.WaitEvent(t, k8s, key, v1alpha1.ReasonQueueUnreachable, "InternalError", 20*time.Second)

	// SQS recovers: the drainer sees the backlog and starts exactly one run.
	sqsProxy.Clear()
	waitCondition(t, key, v1alpha1.ConditionQueueReachable, metav1.ConditionTrue, "QueueObserved", "")
	waitEvent(t, key, v1alpha1.ReasonQueueReachable)
	job := waitOneRun(t, key, v1alpha1.TriggerQueueDepth)
	kubetest.Never(t, quiet, "a second Job", func() string { return jobCount(t, key, 1) })
	if run := get(t, key).Status.ActiveRun; run == nil || run.Name != job.Name || run.MessagesAtStart != 250 {
		t.Errorf("activeRun %+v, want %s with 250 messages", run, job.Name)
	}
	t.Logf("FIGURE SQS faults on %s: %d HTTP requests seen by the proxy, %d of them injected faults; 1 Job",
		key.Name, sqsProxy.Calls(getAttrs, key.Name), sqsProxy.Injected(getAttrs, key.Name))
	managerAlive(t)
}

func TestSQSDownDuringARunKeepsTheRun(t *testing.T) {
	key, url := newQueueAndDrainer(t, "outage", v1alpha1.Triggers{QueueDepth: ptr.To[int64](100)})
	must(t, emulator.SendMessages(context.Background(), sqsAPI, url, 250, 0))
	job := waitOneRun(t, key, v1alpha1.TriggerQueueDepth)
	eventually(t, 10*time.Second, "the run in status", func() string { return activeRunIs(get(t, key), job.Name) })

	// The whole SQS endpoint refuses connections, for every drainer.
	must(t, sqsProxy.SetDown(true))
	defer func() { must(t, sqsProxy.SetDown(false)) }()
	down := time.Now()
	waitCondition(t, key, v1alpha1.ConditionQueueReachable, metav1.ConditionFalse, v1alpha1.ReasonNetworkError, "connection refused")
	t.Logf("FIGURE SQS down: QueueReachable=False/NetworkError %s after the endpoint went down", time.Since(down).Round(time.Millisecond))
	kubetest.Never(t, quiet, "the run kept while SQS is down", func() string { return sameRun(t, key, job) })
	if c := condition(get(t, key), v1alpha1.ConditionDraining); c.Status != metav1.ConditionTrue {
		t.Errorf("Draining %+v while SQS is down, want True: the run goes on", c)
	}

	must(t, sqsProxy.SetDown(false))
	up := time.Now()
	waitCondition(t, key, v1alpha1.ConditionQueueReachable, metav1.ConditionTrue, "QueueObserved", "")
	t.Logf("FIGURE SQS back: QueueReachable=True %s after the endpoint came back", time.Since(up).Round(time.Millisecond))
	kubetest.Never(t, quiet, "the run kept after SQS is back", func() string { return sameRun(t, key, job) })
	managerAlive(t)
}

func TestCloudWatchThrottlingLeavesTheAgeUnknownUntilItRecovers(t *testing.T) {
	key, url := newQueueAndDrainer(t, "cwthrottled", v1alpha1.Triggers{OldestMessageAge: &metav1.Duration{Duration: 3 * time.Second}})
	waitCondition(t, key, v1alpha1.ConditionMetricsAvailable, metav1.ConditionTrue, "DatapointFresh", "")
	// Every attempt throttled, the SDK's retries included.
	cw.FailNext("GetMetricData", 1_000_000, "Throttling", 400)
	defer cw.FailNext("GetMetricData", 0, "", 0)
	must(t, emulator.SendMessages(context.Background(), sqsAPI, url, 1, 0))
	waitCondition(t, key, v1alpha1.ConditionMetricsAvailable, metav1.ConditionFalse, v1alpha1.ReasonThrottling, "Throttling")
	kubetest.WaitEvent(t, k8s, key, v1alpha1.ReasonMetricsUnavailable, "Throttling", 20*time.Second)
	// The message is now older than the threshold, but its age is unknown.
	kubetest.Never(t, 2*quiet, "no age run on an unknown age", func() string { return jobCount(t, key, 0) })

	cw.FailNext("GetMetricData", 0, "", 0)
	waitCondition(t, key, v1alpha1.ConditionMetricsAvailable, metav1.ConditionTrue, "DatapointFresh", "")
	waitOneRun(t, key, v1alpha1.TriggerOldestMessageAge)
	managerAlive(t)
}

func TestQueueWithoutDatapointsInAPartialAnswerHasNoAgeRunButADepthRun(t *testing.T) {
	// Both queues are in the same GetMetricData calls; only "lit" has datapoints.
	darkQueues.hide("dark")
	age := v1alpha1.Triggers{OldestMessageAge: &metav1.Duration{Duration: 3 * time.Second}}
	lit, litURL := newQueueAndDrainer(t, "lit", age)
	age.QueueDepth = ptr.To[int64](100)
	dark, darkURL := newQueueAndDrainer(t, "dark", age)
	must(t, emulator.SendMessages(context.Background(), sqsAPI, litURL, 1, 0))
	must(t, emulator.SendMessages(context.Background(), sqsAPI, darkURL, 1, 0))

	waitOneRun(t, lit, v1alpha1.TriggerOldestMessageAge)
	waitCondition(t, dark, v1alpha1.ConditionMetricsAvailable, metav1.ConditionFalse, "NoDatapoint", "")
	waitEvent(t, dark, v1alpha1.ReasonMetricsUnavailable)
	kubetest.Never(t, quiet, "no age run for the queue without datapoints", func() string { return jobCount(t, dark, 0) })
	if q := get(t, dark).Status.Queue; q == nil || q.OldestMessageAge != nil || q.VisibleMessages != 1 {
		t.Errorf("queue status %+v, want 1 visible and no age", q)
	}

	must(t, emulator.SendMessages(context.Background(), sqsAPI, darkURL, 100, 0))
	waitOneRun(t, dark, v1alpha1.TriggerQueueDepth)
}

func TestStatusWriteConflictsAreRetriedAndConverge(t *testing.T) {
	key, url := newQueueAndDrainer(t, "contended", v1alpha1.Triggers{QueueDepth: ptr.To[int64](100)})
	waitCondition(t, key, v1alpha1.ConditionQueueReachable, metav1.ConditionTrue, "QueueObserved", "")
	conflictsBefore := statusConflicts(t)

	// Two other writers change the drainer's annotations as fast as the API
	// server lets them, so the operator's optimistic-lock status patches
	// keep meeting a newer version of the drainer.
	ctx, stop := context.WithCancel(context.Background())
	var pokes atomic.Int32
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for ctx.Err() == nil {
				patch := fmt.Sprintf(`{"metadata":{"annotations":{"test.queuedrainer.io/poke":"%d"}}}`, pokes.Add(1))
				_ = k8s.Patch(ctx, &v1alpha1.QueueDrainer{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}},
					client.RawPatch(types.MergePatchType, []byte(patch)))
			}
		})
	}
	sent := time.Now()
	must(t, emulator.SendMessages(context.Background(), sqsAPI, url, 250, 0))
	var started time.Duration
	for time.Since(sent) < 5*time.Second {
		if started == 0 && len(jobsOf(t, key)) > 0 {
			started = time.Since(sent)
		}
		time.Sleep(kubetest.Tick)
	}
	stop()
	wg.Wait()
	stopped := time.Now()

	job := waitOneRun(t, key, v1alpha1.TriggerQueueDepth)
	if started == 0 {
		started = time.Since(sent)
	}
	t.Logf("FIGURE contention: %d writes by others in 5s; the Job appeared %s after the messages were sent",
		pokes.Load(), started.Round(100*time.Millisecond))
	eventually(t, 10*time.Second, "status converged", func() string {
		qd := get(t, key)
		if msg := activeRunIs(qd, job.Name); msg != "" {
			return msg
		}
		if qd.Status.Queue == nil || qd.Status.Queue.VisibleMessages != 250 {
			return fmt.Sprintf("queue %+v", qd.Status.Queue)
		}
		return ""
	})
	t.Logf("FIGURE contention: status converged %s after the other writers stopped", time.Since(stopped).Round(100*time.Millisecond))
	kubetest.Never(t, quiet, "a second Job", func() string { return jobCount(t, key, 1) })
	conflicts := statusConflicts(t) - conflictsBefore
	t.Logf("FIGURE contention: %d status patches refused with 409 Conflict, all retried", conflicts)
	if conflicts == 0 {
		t.Error("no status write conflicted: the test did not contend")
	}
}

// waitCondition waits for a condition with this status and reason whose
// message contains msg, and returns it.
func waitCondition(t *testing.T, key types.NamespacedName, typ string, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
	t.Helper()
	var c metav1.Condition
	eventually(t, 30*time.Second, fmt.Sprintf("%s=%s/%s", typ, status, reason), func() string {
		c = condition(get(t, key), typ)
		if c.Status != status || c.Reason != reason || !strings.Contains(c.Message, msg) {
			return fmt.Sprintf("%+v", c)
		}
		return ""
	})
	return c
}

// waitOneRun waits for the drainer's only Job, started by trig.
func waitOneRun(t *testing.T, key types.NamespacedName, trig v1alpha1.Trigger) batchv1.Job {
	t.Helper()
	var job batchv1.Job
	eventually(t, 30*time.Second, "a "+string(trig)+" run", func() string {
		jobs := jobsOf(t, key)
		if len(jobs) != 1 || jobs[0].Annotations[v1alpha1.TriggerAnnotation] != string(trig) {
			return fmt.Sprintf("%d Jobs", len(jobs))
		}
		job = jobs[0]
		return ""
	})
	return job
}

func jobCount(t *testing.T, key types.NamespacedName, want int) string {
	if n := len(jobsOf(t, key)); n != want {
		return fmt.Sprintf("%d Jobs, want %d", n, want)
	}
	return ""
}

func activeRunIs(qd *v1alpha1.QueueDrainer, name string) string {
	if r := qd.Status.ActiveRun; r == nil || r.Name != name {
		return fmt.Sprintf("activeRun %+v, want %s", r, name)
	}
	return ""
}

// sameRun says what changed if the drainer no longer has exactly job, live
// and recorded as its active run.
func sameRun(t *testing.T, key types.NamespacedName, job batchv1.Job) string {
	jobs := jobsOf(t, key)
	if len(jobs) != 1 || jobs[0].UID != job.UID || jobs[0].DeletionTimestamp != nil {
		return fmt.Sprintf("%d Jobs, want only %s (uid %s) and not being deleted", len(jobs), job.Name, job.UID)
	}
	return activeRunIs(get(t, key), job.Name)
}

// managerAlive fails the test if the operator's manager has stopped.
func managerAlive(t *testing.T) {
	t.Helper()
	select {
	case <-managerStopped:
		t.Fatal("the manager stopped")
	default:
	}
}

// statusConflicts is the API server's count of QueueDrainer status writes
// it refused with 409 Conflict, from its own metrics.
func statusConflicts(t *testing.T) int {
	t.Helper()
	cs, err := kubernetes.NewForConfig(restCfg)
	must(t, err)
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	must(t, err)
	n := 0
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "apiserver_request_total{") && strings.Contains(line, `code="409"`) &&
			strings.Contains(line, `resource="queuedrainers"`) && strings.Contains(line, `subresource="status"`) {
			var v int
			if _, err := fmt.Sscan(line[strings.LastIndex(line, " ")+1:], &v); err == nil {
				n += v
			}
		}
	}
	return n
}
