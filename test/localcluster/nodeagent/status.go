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

package nodeagent

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// nodeIP is the pods' and the node's address: processes share the host's
// network.
const nodeIP = "127.0.0.1"

// writeStatus sends the pod's status if it changed; false if that failed
// (a retry is scheduled).
func (w *podWorker) writeStatus(ctx context.Context) bool {
	if w.readOnly {
		return true
	}
	status := w.status(time.Now())
	if w.written != nil && apiequality.Semantic.DeepEqual(&status, w.written) {
		return true
	}
	pods := w.a.o.Client.CoreV1().Pods(w.namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := pods.Get(ctx, w.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pod.UID != w.uid {
			return apierrors.NewNotFound(corev1.Resource("pods"), w.name)
		}
		if isTerminal(pod.Status.Phase) && !isTerminal(status.Phase) {
			// Someone else (the pod garbage collector) ended the pod; a
			// phase does not come back from there.
			w.log.Info("the pod is terminal on the API server; its status is no longer updated", "phase", pod.Status.Phase)
			return nil
		}
		mergeStatus(&pod.Status, &status)
		_, err = pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		// Not found: the pod is gone, which the informer will tell.
		if !apierrors.IsNotFound(err) && ctx.Err() == nil {
			w.log.Error("updating the pod status", "error", err)
		}
		w.wake(time.Now().Add(retryInterval))
		return false
	}
	w.written = &status
	return true
}

// mergeStatus sets what the agent owns in a pod's status, leaving other
// writers' conditions (DisruptionTarget, readiness gates) alone.
func mergeStatus(dst, src *corev1.PodStatus) {
	dst.Phase = src.Phase
	dst.ObservedGeneration = src.ObservedGeneration
	if dst.StartTime == nil {
		dst.StartTime = src.StartTime
	}
	dst.HostIP, dst.HostIPs = src.HostIP, src.HostIPs
	dst.PodIP, dst.PodIPs = src.PodIP, src.PodIPs
	dst.InitContainerStatuses = src.InitContainerStatuses
	dst.ContainerStatuses = src.ContainerStatuses
	ours := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range src.Conditions {
		ours[c.Type] = c
	}
	conditions := make([]corev1.PodCondition, 0, len(dst.Conditions)+len(ours))
	for _, c := range dst.Conditions {
		if mine, ok := ours[c.Type]; ok {
			c = mine
			delete(ours, c.Type)
		}
		conditions = append(conditions, c)
	}
	for _, c := range src.Conditions {
		if _, left := ours[c.Type]; left {
			conditions = append(conditions, c)
		}
	}
	dst.Conditions = conditions
}

// status is the pod's status as the agent sees it.
func (w *podWorker) status(now time.Time) corev1.PodStatus {
	deleting := w.finished && !w.termStart.IsZero()
	st := corev1.PodStatus{
		ObservedGeneration: w.pod.Generation,
		HostIP:             nodeIP,
		HostIPs:            []corev1.HostIP{{IP: nodeIP}},
		PodIP:              w.podIP,
		PodIPs:             []corev1.PodIP{{IP: w.podIP}},
	}
	if !w.startTime.IsZero() {
		st.StartTime = ptr.To(w.startTime)
	}
	for _, c := range w.containers {
		s := w.containerStatus(c, deleting)
		if c.kind == appContainer {
			st.ContainerStatuses = append(st.ContainerStatuses, s)
		} else {
			st.InitContainerStatuses = append(st.InitContainerStatuses, s)
		}
	}
	st.Phase = podPhase(&w.pod.Spec, st.InitContainerStatuses, st.ContainerStatuses, w.finished)
	if w.finished && !isTerminal(st.Phase) {
		// Deleted before its containers could run.
		st.Phase = corev1.PodFailed
	}
	st.Conditions = w.conditions(&st, now)
	return st
}

func (w *podWorker) containerStatus(c *container, deleting bool) corev1.ContainerStatus {
	s := corev1.ContainerStatus{
		Name:         c.spec.Name,
		Image:        c.spec.Image,
		RestartCount: int32(max(c.runs-1, 0)),
		Started:      ptr.To(false),
	}
	if bin, ok := w.a.imageBinary(c.spec.Image); ok && c.runs > 0 {
		s.ImageID = "file://" + bin
		if bin == "" {
			s.ImageID = "host://"
		}
	}
	switch {
	case c.cmd != nil:
		s.State.Running = &corev1.ContainerStateRunning{StartedAt: c.startedAt}
		s.LastTerminationState.Terminated = c.last
		s.ContainerID = containerID(c.pid)
		// Without probes a running container is started and ready; a
		// sidecar's startup probe holds both until it passes.
		s.Ready, s.Started = c.started, ptr.To(c.started)
	case c.last != nil && (c.done || deleting):
		s.State.Terminated = c.last
		s.LastTerminationState.Terminated = c.prev
		s.ContainerID = c.last.ContainerID
		// A completed init container counts as ready, as with the kubelet.
		s.Ready = c.kind == initContainer && c.last.ExitCode == 0
	case deleting:
		s.State.Terminated = &corev1.ContainerStateTerminated{
			ExitCode: 137,
			Reason:   "ContainerStatusUnknown",
			Message:  "The container could not be located when the pod was terminated",
		}
	default:
		s.State.Waiting = c.waiting
		if s.State.Waiting == nil {
			s.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating", Message: w.prepareErr}
			if c.kind == appContainer && len(w.pod.Spec.InitContainers) > 0 && !w.initialized {
				s.State.Waiting.Reason = "PodInitializing"
			}
		}
		s.LastTerminationState.Terminated = c.last
	}
	return s
}

// podPhase computes the phase from the container statuses as the kubelet
// does; terminal says that no container will run again.
func podPhase(spec *corev1.PodSpec, inits, apps []corev1.ContainerStatus, terminal bool) corev1.PodPhase {
	initPending, initFailed := 0, 0
	running, waiting, stopped, succeeded := 0, 0, 0, 0
	for i, s := range inits {
		rp := spec.InitContainers[i].RestartPolicy
		sidecar := rp != nil && *rp == corev1.ContainerRestartPolicyAlways
		switch {
		case s.State.Running != nil && sidecar:
			running++
		case s.State.Running != nil:
			initPending++
		case s.State.Terminated != nil:
			// A sidecar's exit does not count.
			if !sidecar && s.State.Terminated.ExitCode != 0 {
				initFailed++
			}
		case s.LastTerminationState.Terminated != nil:
			// Waiting to restart after a failure.
			if !sidecar && s.LastTerminationState.Terminated.ExitCode != 0 {
				initFailed++
			}
		default:
			initPending++
		}
	}
	for _, s := range apps {
		switch {
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			stopped++
			if s.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case s.LastTerminationState.Terminated != nil:
			stopped++ // waiting to restart
		default:
			waiting++
		}
	}
	switch {
	case initFailed > 0 && spec.RestartPolicy == corev1.RestartPolicyNever:
		return corev1.PodFailed
	case initPending > 0 || waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped == 0:
		return corev1.PodPending
	case terminal && stopped == succeeded:
		return corev1.PodSucceeded
	case terminal:
		return corev1.PodFailed
	case spec.RestartPolicy == corev1.RestartPolicyAlways:
		return corev1.PodRunning // every container is about to restart
	case stopped == succeeded:
		return corev1.PodSucceeded
	case spec.RestartPolicy == corev1.RestartPolicyNever:
		return corev1.PodFailed
	}
	return corev1.PodRunning // OnFailure: restarting the failed ones
}

func isTerminal(p corev1.PodPhase) bool {
	return p == corev1.PodSucceeded || p == corev1.PodFailed
}

// conditions are the kubelet's pod conditions, without probes: a running
// container is ready.
func (w *podWorker) conditions(st *corev1.PodStatus, now time.Time) []corev1.PodCondition {
	var notInitialized, notReady []string
	for i, s := range st.InitContainerStatuses {
		c := w.containers[i]
		if c.kind == sidecarContainer {
			if !s.Ready {
				notReady = append(notReady, s.Name)
			}
			if !c.ran {
				notInitialized = append(notInitialized, s.Name)
			}
		} else if !c.succeeded() {
			notInitialized = append(notInitialized, s.Name)
		}
	}
	for _, s := range st.ContainerStatuses {
		if !s.Ready {
			notReady = append(notReady, s.Name)
		}
	}
	completed := st.Phase == corev1.PodSucceeded

	initialized := condition(corev1.PodInitialized, true, "", "")
	switch {
	case completed:
		initialized.Reason = "PodCompleted"
	case !w.initialized:
		initialized = condition(corev1.PodInitialized, false, "ContainersNotInitialized",
			fmt.Sprintf("containers with incomplete status: %v", notInitialized))
	}
	containersReady := condition(corev1.ContainersReady, true, "", "")
	switch {
	case completed:
		containersReady = condition(corev1.ContainersReady, false, "PodCompleted", "")
	case len(notReady) > 0:
		containersReady = condition(corev1.ContainersReady, false, "ContainersNotReady",
			fmt.Sprintf("containers with unready status: %v", notReady))
	}
	ready := containersReady
	ready.Type = corev1.PodReady
	if gates := w.unreadyGates(); ready.Status == corev1.ConditionTrue && len(gates) > 0 {
		ready = condition(corev1.PodReady, false, "ReadinessGatesNotReady",
			fmt.Sprintf("the status of pod readiness gates %v is not True", gates))
	}
	conditions := []corev1.PodCondition{
		condition(corev1.PodReadyToStartContainers, w.prepared && !w.finished, "", ""),
		initialized,
		containersReady,
		ready,
	}
	scheduled, found := findCondition(w.pod, corev1.PodScheduled)
	if !found {
		// The scheduler's, but a pod can come with its nodeName set.
		conditions = append(conditions, condition(corev1.PodScheduled, true, "", ""))
	}
	for i := range conditions {
		c := &conditions[i]
		c.ObservedGeneration = w.pod.Generation
		c.LastTransitionTime = stamp(now)
		if w.written != nil {
			for _, old := range w.written.Conditions {
				if old.Type == c.Type && old.Status == c.Status {
					c.LastTransitionTime = old.LastTransitionTime
				}
			}
		}
	}
	if found {
		conditions = append(conditions, scheduled)
	}
	return conditions
}

func condition(t corev1.PodConditionType, ok bool, reason, message string) corev1.PodCondition {
	status := corev1.ConditionFalse
	if ok {
		status = corev1.ConditionTrue
	}
	return corev1.PodCondition{Type: t, Status: status, Reason: reason, Message: message}
}

// unreadyGates lists the pod's readiness gates whose condition is not True.
func (w *podWorker) unreadyGates() []string {
	var out []string
	for _, g := range w.pod.Spec.ReadinessGates {
		ok := false
		for _, c := range w.pod.Status.Conditions {
			if c.Type == g.ConditionType {
				ok = c.Status == corev1.ConditionTrue
			}
		}
		if !ok {
			out = append(out, string(g.ConditionType))
		}
	}
	return out
}

func findCondition(pod *corev1.Pod, t corev1.PodConditionType) (corev1.PodCondition, bool) {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c, true
		}
	}
	return corev1.PodCondition{}, false
}

// stamp is a time as the API server keeps it (whole seconds), so that a
// status read back compares equal to the one written.
func stamp(t time.Time) metav1.Time {
	return metav1.NewTime(t.Truncate(time.Second))
}
