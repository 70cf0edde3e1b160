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

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
)

// queueView is the observation as planning uses it.
type queueView struct {
	reachable bool
	visible   int64
	// age is the age of the oldest message; ageKnown is false when no
	// datapoint is fresh enough. Unknown is never read as zero.
	age      time.Duration
	ageKnown bool
	problem  *Problem // why SQS could not be asked
	// empty is true when SQS said the queue holds no message, visible or in flight.
	empty bool
	// metricsProblem says why the age is unknown, nil when it is known.
	metricsProblem *Problem
	// deadLetter is the dead-letter queue's depth, nil when it has none or
	// its depth is unknown; deadLetterURL is "" when it has none.
	deadLetter    *int64
	deadLetterURL string
}

// observeQueue folds the observation into status. When SQS could not be
// asked, the last good counts stay in status (their observedAt shows their age).
func observeQueue(st *v1alpha1.QueueDrainerStatus, o Observation, now time.Time) queueView {
	v := queueView{reachable: o.Err == nil, problem: o.Err, visible: o.Visible, empty: o.Err == nil && o.Visible+o.InFlight == 0}
	switch {
	case o.MetricsErr != nil:
		v.metricsProblem = o.MetricsErr
	case o.OldestAge == nil:
		v.metricsProblem = &Problem{Reason: v1alpha1.ReasonNoDatapoint, Message: "CloudWatch has no recent ApproximateAgeOfOldestMessage datapoint for this queue"}
	case now.Sub(o.OldestAge.At) > StaleAfter:
		v.metricsProblem = &Problem{Reason: v1alpha1.ReasonStaleDatapoint, Message: "the newest ApproximateAgeOfOldestMessage datapoint is from " +
			o.OldestAge.At.UTC().Format(time.RFC3339) + ", older than " + StaleAfter.String() + "; the age is unknown"}
	default:
		v.age, v.ageKnown = o.OldestAge.Age, true
	}
	if !v.reachable {
		v.visible = 0
		return v
	}
	qs := &v1alpha1.QueueStatus{
		VisibleMessages:  o.Visible,
		InFlightMessages: o.InFlight,
		DelayedMessages:  o.Delayed,
		ObservedAt:       metav1.NewTime(o.At),
	}
	if o.At.IsZero() {
		qs.ObservedAt = metav1.NewTime(now)
	}
	if v.ageKnown {
		// CloudWatch lags SQS by minutes: right after a drain it still says
		// how old the last message was. An empty queue has no oldest message.
		age := v.age
		if v.empty {
			age = 0
		}
		qs.OldestMessageAge = &metav1.Duration{Duration: age.Round(time.Second)}
		qs.OldestMessageAgeTimestamp = timePtr(o.OldestAge.At)
	}
	if dl := o.DeadLetter; dl != nil {
		v.deadLetterURL = dl.URL
		switch prev := st.Queue; {
		case dl.Err == nil:
			v.deadLetter = ptr.To(dl.Visible)
			qs.DeadLetter = &v1alpha1.DeadLetterStatus{URL: dl.URL, VisibleMessages: dl.Visible}
		case prev != nil && prev.DeadLetter != nil && prev.DeadLetter.URL == dl.URL:
			qs.DeadLetter = prev.DeadLetter // the last good depth, as for the queue's own counts
		default:
			qs.DeadLetter = &v1alpha1.DeadLetterStatus{URL: dl.URL}
		}
	}
	st.Queue = qs
	return v
}

// keepQueueStatus keeps the previous status.queue when the only news is in
// its live numbers (the counts, the age, observedAt) and they were observed
// less than a status refresh after the previous ones, so that an unchanged
// drainer's status is written at most once a refresh. Anything else that
// changed in status carries the new numbers along; so do a queue becoming
// empty or not, the age becoming known or unknown, and any change of the
// dead-letter queue.
func keepQueueStatus(st, prev *v1alpha1.QueueDrainerStatus, p policy) {
	old, cur := prev.Queue, st.Queue
	// Observation to observation, not from now: the reconcile that renews
	// the counts may run before a newer poll has arrived, and must not
	// shorten the next refresh by writing an older observation.
	if old == nil || cur == nil || old == cur || cur.ObservedAt.Sub(old.ObservedAt.Time) >= p.statusRefresh {
		return
	}
	if empty(old) != empty(cur) || (old.OldestMessageAge == nil) != (cur.OldestMessageAge == nil) {
		return
	}
	same := *cur
	same.VisibleMessages, same.InFlightMessages, same.DelayedMessages = old.VisibleMessages, old.InFlightMessages, old.DelayedMessages
	same.ObservedAt, same.OldestMessageAge, same.OldestMessageAgeTimestamp = old.ObservedAt, old.OldestMessageAge, old.OldestMessageAgeTimestamp
	if !equality.Semantic.DeepEqual(&same, old) {
		return
	}
	st.Queue = old
	if !equality.Semantic.DeepEqual(st, prev) {
		st.Queue = cur // something else is written anyway
	}
}

func empty(q *v1alpha1.QueueStatus) bool { return q.VisibleMessages+q.InFlightMessages == 0 }
