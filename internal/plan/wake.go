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

package plan

import (
	"time"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
)

// ObservationMatters reports whether a new observation of a drainer's queue
// can change what Decide does or says, compared with the last observation
// the drainer's reconcile read: then the drainer is worth waking. Other
// observations wait for the drainer's own next deadline (Decision's
// RequeueAfter), which also renews the counts in status.
//
// What matters: the first observation; an SQS or CloudWatch problem
// appearing, clearing or changing its reason; the dead-letter queue
// appearing, going or changing its depth; the queue becoming empty or not;
// and, unless the drainer is suspended, a depth or age threshold crossed
// either way, or a backlog for which the active run would be given more
// workers than it has (on every observation, until it has them).
func ObservationMatters(qd *v1alpha1.QueueDrainer, last, next Observation, now time.Time) bool {
	if last.At.IsZero() && last.Err == nil {
		return true // the drainer has not seen its queue yet
	}
	if reason(last.Err) != reason(next.Err) || reason(last.MetricsErr) != reason(next.MetricsErr) {
		return true
	}
	if next.Err != nil {
		return false // the counts mean nothing
	}
	if (last.DeadLetter == nil) != (next.DeadLetter == nil) {
		return true
	}
	if l, n := last.DeadLetter, next.DeadLetter; l != nil && (l.URL != n.URL || reason(l.Err) != reason(n.Err) || l.Visible != n.Visible) {
		return true
	}
	if (last.Visible+last.InFlight == 0) != (next.Visible+next.InFlight == 0) {
		return true
	}
	p := newPolicy(qd, 0, 0)
	if p.suspend {
		return false
	}
	crossed := func(threshold, l, n int64) bool { return threshold > 0 && (l >= threshold) != (n >= threshold) }
	if crossed(p.queueDepth, last.Visible, next.Visible) {
		return true
	}
	if p.oldestAge > 0 {
		l, lok := FreshAge(last, now)
		n, nok := FreshAge(next, now)
		if lok != nok || crossed(int64(p.oldestAge), int64(l), int64(n)) {
			return true
		}
	}
	st := &qd.Status
	// While the backlog wants more workers than the run has, every
	// observation matters: the raise may have waited for pending workers,
	// and must not wait for the next deadline once they run.
	if r := st.ActiveRun; r != nil && r.Trigger != v1alpha1.TriggerRedrive {
		return p.workers(next.Visible, st.Throughput) > r.Workers
	}
	return false
}

// FreshAge is the age of the oldest message an observation tells, when it
// tells one that planning would use (see observeQueue).
func FreshAge(o Observation, now time.Time) (time.Duration, bool) {
	if o.MetricsErr != nil || o.OldestAge == nil || now.Sub(o.OldestAge.At) > StaleAfter {
		return 0, false
	}
	return o.OldestAge.Age, true
}

func reason(p *Problem) string {
	if p == nil {
		return ""
	}
	return p.Reason
}
