package controllers

import (
	"math"

	corev1 "k8s.io/api/core/v1"

	"github.com/queuedrainer/queue-drainer/internal/drainsummary"
)

// workerCounts adds up the summaries that the containers of a run's pods
// left in their termination messages. Every attempt counts: a pod the Job
// retried, a failed pod, an init container, and a container's previous
// termination when the pod restarted it in place, since each attempt
// processed different messages (a message is deleted only once processed).
// Containers that have not terminated, and messages that are not a
// summary, add nothing; sums too large for an int64 stay at its maximum
// rather than wrap negative. reported is false, and the counts nil, when
// no container reported.
func workerCounts(pods []corev1.Pod) (processed, failed *int64, reported bool) {
	var p, f int64
	for i := range pods {
		st := &pods[i].Status
		for _, statuses := range [][]corev1.ContainerStatus{st.InitContainerStatuses, st.ContainerStatuses} {
			for _, cs := range statuses {
				for _, term := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
					if term == nil {
						continue
					}
					if s, ok := drainsummary.Parse(term.Message); ok {
						p = addCapped(p, s.Processed)
						f = addCapped(f, s.Failed)
						reported = true
					}
				}
			}
		}
	}
	if !reported {
		return nil, nil, false
	}
	return &p, &f, true
}

// addCapped adds two counts that are not negative.
func addCapped(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
