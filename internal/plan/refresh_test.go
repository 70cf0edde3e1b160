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
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
)

// write is a decision whose status differs from the drainer's: the
// controller writes it.
type write struct {
	at time.Time
	plan.Decision
}

// pollEvery decides for an idle drainer at each observation, polled every
// 10 s for the given time, and returns the status writes.
func pollEvery(qd *v1alpha1.QueueDrainer, span time.Duration, obsAt func(i int, at time.Time) plan.Observation) []write {
	var writes []write
	for i, at := 0, t0; at.Before(t0.Add(span)); i, at = i+1, at.Add(10*time.Second) {
		obs := obsAt(i, at)
		obs.At = at
		d := decide(qd, at, obs)
		if !equality.Semantic.DeepEqual(qd.Status, d.Status) {
			writes = append(writes, write{at, d})
		}
		qd = next(qd, d)
	}
	return writes
}

// A queue whose counts move below the threshold: status is written once at
// first and then once a minute, with the counts of the latest poll.
func TestCountsAloneRenewStatusAtMostOncePerRefresh(t *testing.T) {
	writes := pollEvery(drainer(depthTrigger(1000)), 5*time.Minute, func(i int, _ time.Time) plan.Observation {
		return queue(int64(100+i), inFlight(int64(i%3+1)))
	})
	if len(writes) != 5 {
		t.Fatalf("%d status writes in 5 minutes of polls every 10s, want 5 (the first, then one a minute)", len(writes))
	}
	for i := 1; i < len(writes); i++ {
		gap := writes[i].Status.Queue.ObservedAt.Sub(writes[i-1].Status.Queue.ObservedAt.Time)
		if gap < plan.DefaultStatusRefresh {
			t.Errorf("write %d came %v after the one before, want at least %v", i, gap, plan.DefaultStatusRefresh)
		}
	}
	last := writes[len(writes)-1].Status.Queue
	if want := int64(100 + 24); last.VisibleMessages != want {
		t.Errorf("the last write says %d visible, want %d: the counts of the poll it was written at", last.VisibleMessages, want)
	}
}

// Anything but the counts is written at once, with the counts that go along.
func TestMeaningfulChangesAreWrittenAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		qd     *v1alpha1.QueueDrainer
		change func(at time.Time) plan.Observation // from the 3rd poll on
	}{
		{name: "the queue becomes empty", qd: drainer(depthTrigger(1000)),
			change: func(time.Time) plan.Observation { return queue(0) }},
		{name: "SQS stops answering", qd: drainer(depthTrigger(1000)),
			change: func(time.Time) plan.Observation { return unreachable("Throttling") }},
		{name: "messages reach the dead-letter queue", qd: drainer(depthTrigger(1000)),
			change: func(time.Time) plan.Observation {
				o := queue(50)
				o.DeadLetter = &plan.DeadLetter{URL: "https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq", Visible: 7}
				return o
			}},
		{name: "the depth threshold is crossed", qd: drainer(depthTrigger(1000)),
			change: func(time.Time) plan.Observation { return queue(1500) }},
		{name: "the age of the oldest message becomes known", qd: drainer(ageTrigger(time.Hour)),
			change: func(at time.Time) plan.Observation { return queue(50, oldest(time.Minute, at)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writes := pollEvery(tc.qd, 30*time.Second, func(i int, at time.Time) plan.Observation {
				if i == 2 {
					return tc.change(at)
				}
				return queue(int64(50 + i))
			})
			if len(writes) != 2 || !writes[1].at.Equal(t0.Add(20*time.Second)) {
				t.Fatalf("%d status writes, want 2: the first poll's and the change's, 20s later", len(writes))
			}
			if q := writes[1].Status.Queue; q.ObservedAt.Time.Before(t0.Add(20*time.Second)) && tc.name != "SQS stops answering" {
				t.Errorf("the change's write carries counts observed at %v, want the change's own", q.ObservedAt)
			}
		})
	}
}
