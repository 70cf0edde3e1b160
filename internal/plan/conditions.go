package plan

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
)

// setConditions derives the four conditions from the decision so far, and
// adds an Event when the queue or its metrics become unavailable or return.
func setConditions(st *v1alpha1.QueueDrainerStatus, in Input, p policy, q queueView, schedErr error, d *Decision) {
	gen := in.Drainer.Generation
	set := func(t string, ok bool, reason, msg string) {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg,
			ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(in.Now)})
	}
	was := func(t string) *metav1.Condition { return meta.FindStatusCondition(in.Drainer.Status.Conditions, t) }

	if q.reachable {
		set(v1alpha1.ConditionQueueReachable, true, "QueueObserved", fmt.Sprintf("%d messages visible", q.visible))
		if c := was(v1alpha1.ConditionQueueReachable); c != nil && c.Status == metav1.ConditionFalse {
			d.Events = append(d.Events, Event{Reason: ReasonQueueReachable, Message: "the queue can be observed again"})
		}
	} else {
		set(v1alpha1.ConditionQueueReachable, false, q.problem.Reason, q.problem.Message)
		if c := was(v1alpha1.ConditionQueueReachable); c == nil || c.Status != metav1.ConditionFalse || c.Reason != q.problem.Reason {
			d.Events = append(d.Events, Event{Warning: true, Reason: ReasonQueueUnreachable, Message: q.problem.Message})
		}
	}

	if q.metricsProblem == nil {
		set(v1alpha1.ConditionMetricsAvailable, true, "DatapointFresh", "the age of the oldest message is known")
	} else {
		set(v1alpha1.ConditionMetricsAvailable, false, q.metricsProblem.Reason, q.metricsProblem.Message)
		// Only an age trigger depends on metrics; without one this is no news.
		if c := was(v1alpha1.ConditionMetricsAvailable); p.oldestAge > 0 && (c == nil || c.Status != metav1.ConditionFalse || c.Reason != q.metricsProblem.Reason) {
			d.Events = append(d.Events, Event{Warning: true, Reason: ReasonMetricsUnavailable, Message: q.metricsProblem.Message})
		}
	}

	switch r := st.ActiveRun; {
	case r != nil:
		reason := string(r.Trigger)
		if reason == "" {
			reason = "RunActive" // adopted from a Job that does not say what started it
		}
		set(v1alpha1.ConditionDraining, true, reason, fmt.Sprintf("run %s has %d workers", r.Name, r.Workers))
	case p.suspend:
		set(v1alpha1.ConditionDraining, false, "Suspended", "spec.suspend is true: no run starts")
	case st.LastRunFinishedAt != nil && in.Now.Before(st.LastRunFinishedAt.Add(p.cooldown)):
		set(v1alpha1.ConditionDraining, false, "CoolingDown", "no trigger starts a run before "+st.LastRunFinishedAt.Add(p.cooldown).UTC().Format("15:04:05"))
	default:
		set(v1alpha1.ConditionDraining, false, "Idle", "no run is active")
	}

	switch {
	case schedErr != nil:
		set(v1alpha1.ConditionReady, false, ReasonInvalidSchedule, schedErr.Error()+"; the schedule trigger is off")
		if c := was(v1alpha1.ConditionReady); c == nil || c.Reason != ReasonInvalidSchedule {
			d.Events = append(d.Events, Event{Warning: true, Reason: ReasonInvalidSchedule, Message: schedErr.Error()})
		}
	case !q.reachable:
		set(v1alpha1.ConditionReady, false, q.problem.Reason, "the queue cannot be observed: "+q.problem.Message)
	default:
		set(v1alpha1.ConditionReady, true, "Watching", fmt.Sprintf("the queue is observed every %s", p.pollInterval))
	}
}
