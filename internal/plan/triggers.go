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
	"fmt"
	"time"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
)

// firing is the set of triggers that demand a drain now.
type firing struct {
	// event is the schedule or manual trigger that came due now, if any:
	// these are one-off demands that can replace an active run.
	event  v1alpha1.Trigger
	manual bool
	// reasons holds, for every trigger that fired, why.
	reasons map[v1alpha1.Trigger]string
}

// precedence orders triggers when several fire at once.
var precedence = []v1alpha1.Trigger{
	v1alpha1.TriggerManual, v1alpha1.TriggerSchedule, v1alpha1.TriggerQueueDepth, v1alpha1.TriggerOldestMessageAge,
}

func (f firing) first() v1alpha1.Trigger {
	for _, t := range precedence {
		if _, ok := f.reasons[t]; ok {
			return t
		}
	}
	return ""
}

// evaluate works out which triggers fire, and consumes the one-off demands
// (a manual request, a schedule slot) that are handled by this decision.
//
//   - A manual request starts a run even in cooldown (or the backoff after
//     ineffective runs) or with an empty queue;
//     while suspended or while the queue is unreachable it waits.
//   - A schedule slot starts a run if messages are visible. Only the newest
//     missed slot counts, so downtime never replays a burst of runs. A slot
//     that comes due while suspended is skipped; one that comes due during
//     a run or its cooldown waits for them to end.
//   - Depth and age are levels, not events: they start a run when idle and
//     resize the active run otherwise. An unknown age never fires.
func evaluate(in Input, st *v1alpha1.QueueDrainerStatus, p policy, q queueView, sched schedule) firing {
	f := firing{reasons: map[v1alpha1.Trigger]string{}}
	now := in.Now
	if !q.reachable {
		return f // nothing can start, and one-off demands wait
	}
	active := st.ActiveRun != nil
	// Resting: the cooldown after the latest run, longer after ineffective ones.
	cooling := !active && now.Before(p.restUntil(st))

	if req := in.Drainer.Annotations[v1alpha1.DrainRequestAnnotation]; req != "" && req != st.LastHandledDrainRequest && !p.suspend {
		st.LastHandledDrainRequest = req
		f.manual = true
		f.reasons[v1alpha1.TriggerManual] = fmt.Sprintf("drain requested (%s=%s)", v1alpha1.DrainRequestAnnotation, req)
	}

	if sched != nil {
		// A schedule never handled before starts with its next time (or one
		// that passed within the last poll), not with slots from before it
		// was added.
		base := in.Drainer.CreationTimestamp.Time
		if recent := now.Add(-p.pollInterval); base.Before(recent) {
			base = recent
		}
		if st.LastScheduleTime != nil {
			base = st.LastScheduleTime.Time
		}
		if slot := latestSlot(sched, base, now); !slot.IsZero() {
			switch {
			case p.suspend:
				st.LastScheduleTime = timePtr(slot) // skipped
			case active && p.concurrency == v1alpha1.ForbidConcurrent, cooling:
				// waits; a newer slot will supersede it
			case q.visible > 0:
				st.LastScheduleTime = timePtr(slot)
				f.reasons[v1alpha1.TriggerSchedule] = fmt.Sprintf("scheduled at %s, %d messages visible", slot.UTC().Format(time.RFC3339), q.visible)
			default:
				st.LastScheduleTime = timePtr(slot) // nothing to drain at this slot
			}
		}
	}

	if p.suspend || (cooling && !f.manual) {
		return f
	}
	if p.queueDepth > 0 && q.visible >= p.queueDepth {
		f.reasons[v1alpha1.TriggerQueueDepth] = fmt.Sprintf("%d messages visible, threshold %d", q.visible, p.queueDepth)
	}
	if p.oldestAge > 0 && q.ageKnown && q.age >= p.oldestAge && q.visible > 0 {
		f.reasons[v1alpha1.TriggerOldestMessageAge] = fmt.Sprintf("oldest message is %s old, threshold %s", q.age.Round(time.Second), p.oldestAge)
	}
	for _, t := range []v1alpha1.Trigger{v1alpha1.TriggerManual, v1alpha1.TriggerSchedule} {
		if _, ok := f.reasons[t]; ok {
			f.event = t
			break
		}
	}
	return f
}

// latestSlot returns the newest schedule time in (after, now], or zero.
// It searches windows growing back from now, so a long outage costs a
// handful of steps, not one per missed slot.
func latestSlot(s schedule, after, now time.Time) time.Time {
	if !after.Before(now) {
		return time.Time{}
	}
	for _, w := range []time.Duration{time.Minute, time.Hour, 24 * time.Hour, 32 * 24 * time.Hour, 366 * 24 * time.Hour, 5 * 366 * 24 * time.Hour} {
		from := now.Add(-w)
		if from.Before(after) {
			from = after
		}
		t := s.Next(from)
		if t.IsZero() || t.After(now) {
			if from.Equal(after) {
				return time.Time{} // the whole interval has no slot
			}
			continue
		}
		for {
			next := s.Next(t)
			if next.IsZero() || next.After(now) {
				return t
			}
			t = next
		}
	}
	return time.Time{}
}
