package plan

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
	// metricsProblem says why the age is unknown, nil when it is known.
	metricsProblem *Problem
}

// observeQueue folds the observation into status. When SQS could not be
// asked, the last good counts stay in status (their observedAt shows their age).
func observeQueue(st *v1alpha1.QueueDrainerStatus, o Observation, now time.Time, d *Decision) queueView {
	v := queueView{reachable: o.Err == nil, problem: o.Err, visible: o.Visible}
	switch {
	case o.MetricsErr != nil:
		v.metricsProblem = o.MetricsErr
	case o.OldestAge == nil:
		v.metricsProblem = &Problem{Reason: "NoDatapoint", Message: "CloudWatch has no recent ApproximateAgeOfOldestMessage datapoint for this queue"}
	case now.Sub(o.OldestAge.At) > StaleAfter:
		v.metricsProblem = &Problem{Reason: "StaleDatapoint", Message: "the newest ApproximateAgeOfOldestMessage datapoint is from " +
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
		qs.OldestMessageAge = &metav1.Duration{Duration: v.age.Round(time.Second)}
		qs.OldestMessageAgeTimestamp = timePtr(o.OldestAge.At)
	}
	st.Queue = qs
	return v
}
