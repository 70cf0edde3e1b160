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
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/test/emulator"
)

func TestQueueReceiving5000MessagesStartsADepthRun(t *testing.T) {
	key, url := newQueueAndDrainer(t, "deep", v1alpha1.Triggers{QueueDepth: ptr.To[int64](1000)})
	sent := time.Now()
	must(t, emulator.SendMessages(context.Background(), sqsAPI, url, 5000, 0))
	t.Logf("sent 5000 messages in %s", time.Since(sent).Round(time.Millisecond))

	eventually(t, 20*time.Second, "a QueueDepth run", func() string {
		jobs := jobsOf(t, key)
		if len(jobs) != 1 || jobs[0].Annotations[v1alpha1.TriggerAnnotation] != string(v1alpha1.TriggerQueueDepth) {
			return fmt.Sprintf("%d Jobs", len(jobs))
		}
		return ""
	})
	t.Logf("Job created %s after the last message was sent", time.Since(sent).Round(time.Millisecond))
	// The observer polls on its own schedule, so the run may have started
	// from a poll taken while the messages were still arriving: it is sized
	// for the backlog it saw (recorded on its Job), at least the threshold,
	// and raised as the rest arrives.
	job := jobsOf(t, key)[0]
	atStart, err := strconv.ParseInt(job.Annotations[v1alpha1.MessagesAtStartAnnotation], 10, 64)
	must(t, err)
	if atStart < 1000 || atStart > 5000 {
		t.Fatalf("run started with %d messages, want between the 1000 threshold and the 5000 sent", atStart)
	}
	if p, least := ptr.Deref(job.Spec.Parallelism, 0), int32((atStart+999)/1000); p < least || p > 5 {
		t.Errorf("parallelism %d, want ceil(%d/1000) = %d, or more up to 5 once the rest arrived", p, atStart, least)
	}
	eventually(t, 10*time.Second, "status shows the run, sized for 5000, and the depth", func() string {
		qd := get(t, key)
		j := jobsOf(t, key)[0]
		if qd.Status.ActiveRun == nil || qd.Status.ActiveRun.MessagesAtStart != atStart || qd.Status.ActiveRun.Workers != 5 ||
			ptr.Deref(j.Spec.Parallelism, 0) != 5 || qd.Status.Queue == nil || qd.Status.Queue.VisibleMessages != 5000 {
			return fmt.Sprintf("activeRun %+v queue %+v parallelism %d", qd.Status.ActiveRun, qd.Status.Queue, ptr.Deref(j.Spec.Parallelism, 0))
		}
		return ""
	})
	t.Logf("run started from %d visible messages, with %d workers; 5 once all 5000 were seen", atStart, (atStart+999)/1000)
}

// The age of the oldest message exists only in CloudWatch: it travels from
// fauxqs through the simulator's AWS/SQS publisher and the shared poller.
func TestOldestMessagePassingTwoMinutesStartsAnAgeRun(t *testing.T) {
	if testing.Short() {
		t.Skip("waits two minutes for a message to age")
	}
	key, url := newQueueAndDrainer(t, "aged", v1alpha1.Triggers{OldestMessageAge: &metav1.Duration{Duration: 2 * time.Minute}})
	sent := time.Now()
	must(t, emulator.SendMessages(context.Background(), sqsAPI, url, 3, 0))

	eventually(t, 30*time.Second, "the age is known", func() string {
		qd := get(t, key)
		if c := condition(qd, v1alpha1.ConditionMetricsAvailable); c.Status != metav1.ConditionTrue || qd.Status.Queue == nil || qd.Status.Queue.OldestMessageAge == nil {
			return fmt.Sprintf("MetricsAvailable %+v queue %+v", c, qd.Status.Queue)
		}
		return ""
	})
	// Until the message is two minutes old nothing starts.
	for time.Since(sent) < 2*time.Minute-5*time.Second {
		if jobs := jobsOf(t, key); len(jobs) != 0 {
			t.Fatalf("a run started after %s, before the oldest message was 2 minutes old", time.Since(sent).Round(time.Second))
		}
		time.Sleep(time.Second)
	}
	qd := get(t, key)
	if age := qd.Status.Queue.OldestMessageAge; age == nil || age.Duration < 90*time.Second {
		t.Errorf("oldestMessageAge %v after %s, want it to follow the message's age", age, time.Since(sent).Round(time.Second))
	}
	eventually(t, 30*time.Second, "an OldestMessageAge run", func() string {
		jobs := jobsOf(t, key)
		if len(jobs) != 1 || jobs[0].Annotations[v1alpha1.TriggerAnnotation] != string(v1alpha1.TriggerOldestMessageAge) {
			return fmt.Sprintf("%d Jobs", len(jobs))
		}
		return ""
	})
	t.Logf("run started when the oldest message was %s old (threshold 2m, metrics every %s)", time.Since(sent).Round(time.Second), period)
}

func TestMissingQueueIsUnreachableWithAnEvent(t *testing.T) {
	ns := "missing"
	must(t, k8sCreateNamespace(ns))
	key := createDrainer(t, ns, "never-created", v1alpha1.Triggers{QueueDepth: ptr.To[int64](1)})
	eventually(t, 20*time.Second, "QueueReachable=False", func() string {
		c := condition(get(t, key), v1alpha1.ConditionQueueReachable)
		if c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonQueueDoesNotExist {
			return fmt.Sprintf("%+v", c)
		}
		return ""
	})
	e := waitEvent(t, key, v1alpha1.ReasonQueueUnreachable)
	if !strings.Contains(e.Note, "NonExistentQueue") {
		t.Errorf("event note %q, want the AWS error code", e.Note)
	}
	if n := len(jobsOf(t, key)); n != 0 {
		t.Errorf("%d Jobs for a missing queue", n)
	}
}

func TestCloudWatchDownSaysMetricsUnavailableAndDepthStillStartsARun(t *testing.T) {
	cwDown.down.Store(true)
	defer cwDown.down.Store(false)
	key, url := newQueueAndDrainer(t, "blind", v1alpha1.Triggers{QueueDepth: ptr.To[int64](100), OldestMessageAge: &metav1.Duration{Duration: time.Minute}})
	eventually(t, 30*time.Second, "MetricsAvailable=False", func() string {
		c := condition(get(t, key), v1alpha1.ConditionMetricsAvailable)
		if c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonNetworkError {
			return fmt.Sprintf("%+v", c)
		}
		return ""
	})
	must(t, emulator.SendMessages(context.Background(), sqsAPI, url, 250, 0))
	eventually(t, 20*time.Second, "a QueueDepth run", func() string {
		jobs := jobsOf(t, key)
		if len(jobs) != 1 || jobs[0].Annotations[v1alpha1.TriggerAnnotation] != string(v1alpha1.TriggerQueueDepth) {
			return fmt.Sprintf("%d Jobs", len(jobs))
		}
		return ""
	})
	qd := get(t, key)
	if c := condition(qd, v1alpha1.ConditionReady); c.Status != metav1.ConditionTrue {
		t.Errorf("Ready %+v: CloudWatch being down must not make the drainer unready", c)
	}
}

func TestOneGetMetricDataCallPerPeriodForManyDrainers(t *testing.T) {
	// Several drainers, one poller: CloudWatch calls follow the period, not
	// the number of drainers or of reconciles (each polls SQS every second).
	for i := range 5 {
		newQueueAndDrainer(t, fmt.Sprintf("many-%d", i), v1alpha1.Triggers{QueueDepth: ptr.To[int64](1000)})
	}
	time.Sleep(2 * period) // new queues make the poller ask at once; let that settle
	before, start := cw.Calls("GetMetricData"), time.Now()
	time.Sleep(5 * period)
	calls := cw.Calls("GetMetricData") - before
	t.Logf("%d GetMetricData calls in %s (%s period) for every queue the drainers watch", calls, time.Since(start).Round(time.Millisecond), period)
	if calls < 4 || calls > 6 {
		t.Errorf("%d GetMetricData calls in 5 periods, want about one a period", calls)
	}
}

func TestOneGetQueueAttributesCallPerDrainerPerPoll(t *testing.T) {
	key, _ := newQueueAndDrainer(t, "polled", v1alpha1.Triggers{QueueDepth: ptr.To[int64](1000)})
	eventually(t, 10*time.Second, "first observation", func() string {
		if get(t, key).Status.Queue == nil {
			return "not yet"
		}
		return ""
	})
	before, start := sqsCalls.Calls("GetQueueAttributes", "/polled"), time.Now()
	time.Sleep(10 * time.Second) // pollInterval is 1s
	calls := sqsCalls.Calls("GetQueueAttributes", "/polled") - before
	polls := time.Since(start).Seconds()
	t.Logf("idle drainer, pollInterval 1s: %d GetQueueAttributes in %.1fs (%.2f per poll); GetQueueUrl %d in all",
		calls, polls, float64(calls)/polls, sqsCalls.Calls("GetQueueUrl", "/polled"))
	if calls < 8 || calls > 12 {
		t.Errorf("%d GetQueueAttributes calls in %.0f polls, want one a poll", calls, polls)
	}
	if n := sqsCalls.Calls("GetQueueUrl", "/polled"); n != 1 {
		t.Errorf("GetQueueUrl called %d times, want once: the resolved URL is cached", n)
	}
}
