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

package controllers

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/queuedrainer/queue-drainer/internal/drainsummary"
	"github.com/queuedrainer/queue-drainer/internal/plan"
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
	for _, t := range terminations(pods) {
		if s, ok := drainsummary.Parse(t.state.Message); ok {
			p = addCapped(p, s.Processed)
			f = addCapped(f, s.Failed)
			reported = true
		}
	}
	if !reported {
		return nil, nil, false
	}
	return &p, &f, true
}

// report is what the pods of a finished run tell: the workers'
// counts, the queues they drained, the first error one stopped with, a
// handler failure, and how many ran at once.
func report(pods []corev1.Pod) plan.Report {
	var rep plan.Report
	rep.Processed, rep.Failed, _ = workerCounts(pods)
	ts := terminations(pods)
	slices.SortStableFunc(ts, func(a, b termination) int { return a.state.FinishedAt.Compare(b.state.FinishedAt.Time) })
	for _, t := range ts {
		s, isSummary := drainsummary.Parse(t.state.Message)
		if isSummary && s.Queue != "" && !slices.Contains(rep.Queues, s.Queue) {
			rep.Queues = append(rep.Queues, s.Queue)
		}
		if isSummary && s.LastFailure != "" {
			rep.LastFailure = s.LastFailure
		}
		if why := failure(t, s, isSummary); why != "" && rep.WorkerError == "" {
			rep.WorkerError = fmt.Sprintf("worker %s: %s", t.pod, why)
		}
	}
	rep.MostRan = mostAtOnce(pods)
	return rep
}

// failure says why a container stopped in error: the error in its summary,
// else for a failed exit its reason, exit code and termination message
// (which FallbackToLogsOnError fills with the end of its log). "" when it
// did not fail.
func failure(t termination, s drainsummary.Summary, isSummary bool) string {
	if isSummary {
		if s.Error != "" || t.state.ExitCode == 0 {
			return s.Error
		}
		return fmt.Sprintf("container %s exited with code %d", t.container, t.state.ExitCode)
	}
	if t.state.ExitCode == 0 {
		return ""
	}
	why := fmt.Sprintf("container %s exited with code %d", t.container, t.state.ExitCode)
	if r := t.state.Reason; r != "" && r != "Error" {
		why += " (" + r + ")"
	}
	if msg := strings.TrimSpace(t.state.Message); msg != "" {
		why += ": " + lastLine(msg)
	}
	return why
}

// lastLine is the last line of a log tail, where the error usually is.
func lastLine(s string) string {
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// termination is one terminated attempt of a container.
type termination struct {
	pod, container string
	state          *corev1.ContainerStateTerminated
}

// terminations lists every terminated attempt of every container of the pods.
func terminations(pods []corev1.Pod) []termination {
	var out []termination
	for i := range pods {
		st := &pods[i].Status
		for _, statuses := range [][]corev1.ContainerStatus{st.InitContainerStatuses, st.ContainerStatuses} {
			for _, cs := range statuses {
				for _, term := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
					if term != nil {
						out = append(out, termination{pod: pods[i].Name, container: cs.Name, state: term})
					}
				}
			}
		}
	}
	return out
}

// mostAtOnce is the most pods whose containers ran at the same time, from
// the containers' start and finish times: a pod runs from its first
// container's start to its last one's finish, or on if one still runs.
func mostAtOnce(pods []corev1.Pod) int32 {
	type edge struct {
		at    time.Time
		delta int32
	}
	var edges []edge
	for i := range pods {
		var start, end time.Time
		running := false
		for _, cs := range pods[i].Status.ContainerStatuses {
			for _, s := range []corev1.ContainerState{cs.State, cs.LastTerminationState} {
				switch {
				case s.Running != nil:
					start, running = earliest(start, s.Running.StartedAt.Time), true
				case s.Terminated != nil && !s.Terminated.StartedAt.IsZero():
					start = earliest(start, s.Terminated.StartedAt.Time)
					if s.Terminated.FinishedAt.After(end) {
						end = s.Terminated.FinishedAt.Time
					}
				}
			}
		}
		if start.IsZero() {
			continue // never ran
		}
		edges = append(edges, edge{start, 1})
		if !running {
			// Timestamps have whole seconds: a pod that ran within one
			// second ran for that second.
			edges = append(edges, edge{latest(end, start.Add(time.Second)), -1})
		}
	}
	// At equal times a finish comes before a start: a pod that ended as
	// another began did not overlap it.
	slices.SortFunc(edges, func(a, b edge) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.delta, b.delta))
	})
	var now, most int32
	for _, e := range edges {
		now += e.delta
		most = max(most, now)
	}
	return most
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// oldestWaiting is the oldest of the pods that are not running yet (or not
// ready), and why it waits.
func oldestWaiting(pods []corev1.Pod) *plan.Waiting {
	var oldest *corev1.Pod
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || isReady(p) {
			continue
		}
		if oldest == nil || p.CreationTimestamp.Before(&oldest.CreationTimestamp) {
			oldest = p
		}
	}
	if oldest == nil {
		return nil
	}
	return &plan.Waiting{Since: oldest.CreationTimestamp.Time, Message: fmt.Sprintf("pod %s: %s", oldest.Name, whyWaiting(oldest))}
}

// whyWaiting is what holds a pod back: the scheduler's message, a
// container's waiting reason, or its readiness.
func whyWaiting(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return strings.TrimSpace(c.Reason + ": " + c.Message)
		}
	}
	for _, cs := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "PodInitializing" && w.Reason != "ContainerCreating" {
			return strings.TrimSuffix("container "+cs.Name+" "+w.Reason+": "+w.Message, ": ")
		}
	}
	if p.Status.Phase == corev1.PodRunning {
		return "running, not ready"
	}
	if p.Spec.NodeName == "" {
		return "not scheduled yet"
	}
	return "starting on node " + p.Spec.NodeName
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// addCapped adds two counts that are not negative.
func addCapped(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
