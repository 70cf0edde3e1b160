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
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
)

// setConditions derives the conditions from the decision so far, and adds
// an Event when the queue or its metrics become unavailable or return.
func setConditions(st *v1alpha1.QueueDrainerStatus, in Input, p policy, q queueView, activeJob *Job, schedErr error, d *Decision) {
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
		// No count in the message: it would make every poll a status write.
		set(v1alpha1.ConditionQueueReachable, true, v1alpha1.ReasonQueueObserved, "SQS answers for the queue")
		if c := was(v1alpha1.ConditionQueueReachable); c != nil && c.Status == metav1.ConditionFalse {
			d.Events = append(d.Events, Event{Reason: v1alpha1.ReasonQueueReachable, Message: "the queue can be observed again"})
		}
	} else {
		set(v1alpha1.ConditionQueueReachable, false, q.problem.Reason, q.problem.Message)
		if c := was(v1alpha1.ConditionQueueReachable); c == nil || c.Status != metav1.ConditionFalse || c.Reason != q.problem.Reason {
			d.Events = append(d.Events, Event{Warning: true, Reason: v1alpha1.ReasonQueueUnreachable, Message: q.problem.Message})
		}
	}

	if q.metricsProblem == nil {
		set(v1alpha1.ConditionMetricsAvailable, true, v1alpha1.ReasonDatapointFresh, "the age of the oldest message is known")
	} else {
		set(v1alpha1.ConditionMetricsAvailable, false, q.metricsProblem.Reason, q.metricsProblem.Message)
		// Only an age trigger depends on metrics; without one this is no
		// news. Nor is a queue CloudWatch has not been asked about yet, nor
		// an empty one, of which it often has no recent datapoint.
		c := was(v1alpha1.ConditionMetricsAvailable)
		alreadyTold := c != nil && c.Status == metav1.ConditionFalse && c.Reason == q.metricsProblem.Reason &&
			!expectedGap(c.Reason, in.Drainer.Status.Queue == nil || in.Drainer.Status.Queue.VisibleMessages+in.Drainer.Status.Queue.InFlightMessages == 0)
		if p.oldestAge > 0 && !expectedGap(q.metricsProblem.Reason, q.empty) && !alreadyTold {
			d.Events = append(d.Events, Event{Warning: true, Reason: v1alpha1.ReasonMetricsUnavailable, Message: q.metricsProblem.Message})
		}
	}

	setDraining(st, in, p, activeJob, set, was, d)

	switch {
	case schedErr != nil:
		set(v1alpha1.ConditionReady, false, v1alpha1.ReasonInvalidSchedule, schedErr.Error()+"; the schedule trigger is off")
		if c := was(v1alpha1.ConditionReady); c == nil || c.Reason != v1alpha1.ReasonInvalidSchedule {
			d.Events = append(d.Events, Event{Warning: true, Reason: v1alpha1.ReasonInvalidSchedule, Message: schedErr.Error()})
		}
	case !q.reachable:
		set(v1alpha1.ConditionReady, false, q.problem.Reason, "the queue cannot be observed: "+q.problem.Message)
	case st.IneffectiveRuns > 0:
		set(v1alpha1.ConditionReady, false, v1alpha1.ReasonIneffectiveConsumer, fmt.Sprintf(
			"%s did not reduce the backlog; the latest: %s. Trigger-started runs back off (now %s after a run) until a run reduces it or the spec changes",
			runsInARow(st.IneffectiveRuns), lastIneffective(st.History), p.rest(st.IneffectiveRuns)))
	default:
		set(v1alpha1.ConditionReady, true, v1alpha1.ReasonWatching, fmt.Sprintf("the queue is observed every %s", p.pollInterval))
	}
	setKstatus(st, q, schedErr, set)
}

// setDraining says whether a run is active, and if not, why none starts.
func setDraining(st *v1alpha1.QueueDrainerStatus, in Input, p policy, activeJob *Job,
	set func(t string, ok bool, reason, msg string), was func(t string) *metav1.Condition, d *Decision) {
	rest := p.restUntil(st)
	switch r, w := st.ActiveRun, waiting(st, activeJob); {
	case r != nil && w != nil && in.Now.Sub(w.Since) >= p.pendingGrace:
		msg := fmt.Sprintf("run %s: %d of %d workers pending for %s", r.Name, r.Pending, r.Workers, in.Now.Sub(w.Since).Round(time.Second))
		if w.Message != "" {
			msg += ": " + w.Message
		}
		set(v1alpha1.ConditionDraining, true, v1alpha1.ReasonWorkersPending, msg)
		if c := was(v1alpha1.ConditionDraining); c == nil || c.Reason != v1alpha1.ReasonWorkersPending {
			d.Events = append(d.Events, Event{Warning: true, Reason: v1alpha1.ReasonWorkersPending, Message: msg})
		}
	case r != nil:
		reason := string(r.Trigger)
		if reason == "" {
			reason = v1alpha1.ReasonRunActive // adopted from a Job that does not say what started it
		}
		set(v1alpha1.ConditionDraining, true, reason, fmt.Sprintf("run %s: %d of %d workers running, %d pending, %d done",
			r.Name, r.Running, r.Workers, r.Pending, r.Succeeded))
	case p.suspend:
		set(v1alpha1.ConditionDraining, false, v1alpha1.ReasonSuspended, "spec.suspend is true: no run starts")
	case in.Now.Before(rest) && st.IneffectiveRuns > 0:
		set(v1alpha1.ConditionDraining, false, v1alpha1.ReasonBackingOff, fmt.Sprintf("%s did not reduce the backlog: no trigger starts a run before %s",
			runsInARow(st.IneffectiveRuns), rest.UTC().Format(time.RFC3339)))
	case in.Now.Before(rest):
		set(v1alpha1.ConditionDraining, false, v1alpha1.ReasonCoolingDown, "no trigger starts a run before "+rest.UTC().Format("15:04:05"))
	default:
		set(v1alpha1.ConditionDraining, false, v1alpha1.ReasonIdle, "no run is active")
	}
}

// setKstatus sets the abnormal-true conditions that kstatus (Flux) and
// Argo CD read, present only while true: Stalled for what will not fix
// itself (the queue does not exist, access is denied, the role is not
// allowed, the schedule is invalid, the consumer does not reduce the
// backlog), Reconciling while a transient AWS error is retried.
func setKstatus(st *v1alpha1.QueueDrainerStatus, q queueView, schedErr error, set func(t string, ok bool, reason, msg string)) {
	stalled, retrying := false, false
	switch {
	case !q.reachable && q.problem.Permanent:
		stalled = true
		set(v1alpha1.ConditionStalled, true, q.problem.Reason, "the queue cannot be observed: "+q.problem.Message)
	case schedErr != nil:
		stalled = true
		set(v1alpha1.ConditionStalled, true, v1alpha1.ReasonInvalidSchedule, schedErr.Error())
	case st.IneffectiveRuns > 0:
		stalled = true
		c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady)
		set(v1alpha1.ConditionStalled, true, v1alpha1.ReasonIneffectiveConsumer, c.Message)
	}
	if !q.reachable && !q.problem.Permanent {
		retrying = true
		set(v1alpha1.ConditionReconciling, true, q.problem.Reason, "retrying: "+q.problem.Message)
	}
	if !stalled {
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionStalled)
	}
	if !retrying {
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionReconciling)
	}
}

// runsInARow says how many runs in a row: "1 run in a row", "3 runs in a row".
func runsInARow(n int32) string {
	if n == 1 {
		return "1 run in a row"
	}
	return fmt.Sprintf("%d runs in a row", n)
}

// expectedGap reports whether a lack of metrics is expected, and so no
// news: CloudWatch has not been asked about the queue yet, or has no
// datapoint of an empty queue.
func expectedGap(reason string, empty bool) bool {
	return reason == v1alpha1.ReasonNotPolledYet || reason == v1alpha1.ReasonNoDatapoint && empty
}

// lastIneffective is what the newest history entry that did not reduce the
// backlog says about it.
func lastIneffective(history []v1alpha1.RunRecord) string {
	for _, h := range history {
		if h.Result == v1alpha1.RunIneffective || h.Result == v1alpha1.RunFailed {
			return fmt.Sprintf("run %s %s: %s", h.Name, strings.ToLower(string(h.Result)), h.Message)
		}
	}
	return "no longer in the history"
}
