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

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
)

func TestObservationMattersOnlyWhenItCanChangeTheDecision(t *testing.T) {
	dlq := func(n int64) obsOpt {
		return func(o *plan.Observation) {
			o.DeadLetter = &plan.DeadLetter{URL: "https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq", Visible: n}
		}
	}
	at := observedAt(t0)
	for _, tc := range []struct {
		name       string
		qd         *v1alpha1.QueueDrainer
		last, next plan.Observation
		want       bool
	}{
		{name: "the first observation", qd: drainer(depthTrigger(1000)), last: plan.Observation{}, next: queue(5, at), want: true},
		{name: "counts move below the threshold", qd: drainer(depthTrigger(1000)), last: queue(5, at), next: queue(900, at), want: false},
		{name: "depth threshold crossed upwards", qd: drainer(depthTrigger(1000)), last: queue(999, at), next: queue(1000, at), want: true},
		{name: "depth threshold crossed downwards", qd: drainer(depthTrigger(1000)), last: queue(1200, at), next: queue(10, at), want: true},
		{name: "counts move above the threshold", qd: drainer(depthTrigger(1000)), last: queue(1200, at), next: queue(5000, at), want: false},
		{name: "suspended: a crossing does not matter", qd: drainer(depthTrigger(1000), suspended), last: queue(5, at), next: queue(5000, at), want: false},
		{name: "the queue becomes empty", qd: drainer(depthTrigger(1000)), last: queue(5, at), next: queue(0, at), want: true},
		{name: "messages arrive in an empty queue", qd: drainer(depthTrigger(1000)), last: queue(0, at), next: queue(0, at, inFlight(2)), want: true},
		{name: "SQS stops answering", qd: drainer(depthTrigger(1000)), last: queue(5, at), next: unreachable("Throttling"), want: true},
		{name: "SQS answers again", qd: drainer(depthTrigger(1000)), last: unreachable("Throttling"), next: queue(5, at), want: true},
		{name: "another error", qd: drainer(depthTrigger(1000)), last: unreachable("Throttling"), next: unreachable("AccessDenied"), want: true},
		{name: "the same error again", qd: drainer(depthTrigger(1000)), last: unreachable("Throttling"), next: unreachable("Throttling"), want: false},
		{name: "CloudWatch fails", qd: drainer(depthTrigger(1000)), last: queue(5, at), next: queue(5, at, metricsErr("Throttling")), want: true},
		{name: "the dead-letter queue grows", qd: drainer(depthTrigger(1000)), last: queue(5, at, dlq(0)), next: queue(5, at, dlq(3)), want: true},
		{name: "a dead-letter queue appears", qd: drainer(depthTrigger(1000)), last: queue(5, at), next: queue(5, at, dlq(0)), want: true},
		{name: "age threshold crossed", qd: drainer(ageTrigger(10 * time.Minute)),
			last: queue(5, at, oldest(9*time.Minute, t0)), next: queue(5, at, oldest(11*time.Minute, t0)), want: true},
		{name: "age moves below the threshold", qd: drainer(ageTrigger(10 * time.Minute)),
			last: queue(5, at, oldest(2*time.Minute, t0)), next: queue(5, at, oldest(3*time.Minute, t0)), want: false},
		{name: "age becomes stale", qd: drainer(ageTrigger(10 * time.Minute)),
			last: queue(5, at, oldest(2*time.Minute, t0)), next: queue(5, at, oldest(2*time.Minute, t0.Add(-plan.StaleAfter-time.Second))), want: true},
		{name: "active run: the backlog needs more workers", qd: drainer(depthTrigger(1000), workers(1000, 1, 10), activeRun(1, v1alpha1.TriggerQueueDepth, t0, 2, 2000)),
			last: queue(2000, at), next: queue(4500, at), want: true},
		{name: "active run: still more workers wanted than it has", qd: drainer(depthTrigger(1000), workers(1000, 1, 10), activeRun(1, v1alpha1.TriggerQueueDepth, t0, 2, 2000)),
			last: queue(4500, at), next: queue(4600, at), want: true},
		{name: "active run: the backlog shrinks", qd: drainer(depthTrigger(1000), workers(1000, 1, 10), activeRun(1, v1alpha1.TriggerQueueDepth, t0, 2, 2000)),
			last: queue(2000, at), next: queue(1500, at), want: false},
		{name: "active run at max workers: more backlog does not matter", qd: drainer(depthTrigger(1000), workers(1000, 1, 2), activeRun(1, v1alpha1.TriggerQueueDepth, t0, 2, 2000)),
			last: queue(3000, at), next: queue(9000, at), want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := plan.ObservationMatters(tc.qd, tc.last, tc.next, t0); got != tc.want {
				t.Errorf("ObservationMatters(last %d visible, next %d visible) = %v, want %v", tc.last.Visible, tc.next.Visible, got, tc.want)
			}
		})
	}
}
