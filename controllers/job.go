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
	"slices"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
	"github.com/queuedrainer/queue-drainer/internal/queueurl"
)

// runJob builds the Job of a run from the drainer's template: an Indexed
// Job with one index per worker (completions equal to parallelism), each
// draining until the queue is empty and exiting 0, so that it completes
// when the queue is drained. Indexed, because a work-queue Job (completions
// unset) creates no pod once one has succeeded, so a run could not grow
// after its first worker found the queue empty; raising both counts
// together (an elastic Indexed Job) starts the new indexes at any time.
// A failed worker's replacement starts only once it has fully terminated
// (podReplacementPolicy Failed), so the two never hold messages at once.
// Every container gets the queue, the run and the region, then consumerEnv
// (the manager's --consumer-env), each unless it sets the variable itself.
// The owner reference is set by the caller.
func runJob(qd *v1alpha1.QueueDrainer, run *v1alpha1.ActiveRun, consumerEnv []corev1.EnvVar) *batchv1.Job {
	tmpl := qd.Spec.JobTemplate.DeepCopy()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:        run.Name,
			Namespace:   qd.Namespace,
			Labels:      tmpl.Labels,
			Annotations: tmpl.Annotations,
		},
		Spec: tmpl.Spec,
	}
	labels := map[string]string{v1alpha1.DrainerLabel: qd.Name, v1alpha1.RunLabel: run.Name}
	job.Labels = merge(job.Labels, labels)
	job.Spec.Template.Labels = merge(job.Spec.Template.Labels, labels)
	job.Annotations = merge(job.Annotations, map[string]string{
		v1alpha1.TriggerAnnotation:         string(run.Trigger),
		v1alpha1.MessagesAtStartAnnotation: strconv.FormatInt(run.MessagesAtStart, 10),
	})
	job.Spec.Parallelism = ptr.To(run.Workers)
	job.Spec.Completions = ptr.To(run.Workers)
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	if job.Spec.PodReplacementPolicy == nil {
		job.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
	}
	if job.Spec.Template.Spec.RestartPolicy == "" {
		job.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	}

	region := queueurl.Region(qd.Spec.Queue.URL, qd.Spec.Queue.Region)
	env := []corev1.EnvVar{{Name: v1alpha1.EnvQueueURL, Value: qd.Spec.Queue.URL}, {Name: v1alpha1.EnvRun, Value: run.Name}}
	if region != "" {
		env = append(env, corev1.EnvVar{Name: v1alpha1.EnvRegion, Value: region})
	}
	env = withDefaults(env, consumerEnv)
	pod := &job.Spec.Template.Spec
	for _, cs := range [][]corev1.Container{pod.InitContainers, pod.Containers} {
		for i := range cs {
			cs[i].Env = withDefaults(cs[i].Env, env)
		}
	}
	return job
}

// DefaultRedriveImage is the drain-worker image that moves a dead-letter
// queue's messages back in a Redrive run.
const DefaultRedriveImage = "ghcr.io/queuedrainer/drain-worker:latest"

// redriveJob builds the Job of a Redrive run: one drain-worker in redrive
// mode, draining the dead-letter queue at URL from into the queue. It runs as the
// template's pods do (service account, so the same AWS role; placement;
// security context; the first container's environment and security
// context, which carry the AWS settings), but with the operator's mover
// instead of the template's containers.
func redriveJob(qd *v1alpha1.QueueDrainer, run *v1alpha1.ActiveRun, from, image string, consumerEnv []corev1.EnvVar) *batchv1.Job {
	drain := runJob(qd, run, consumerEnv)
	pod := &drain.Spec.Template.Spec
	var first corev1.Container
	if len(pod.Containers) > 0 {
		first = pod.Containers[0]
	}
	env := slices.DeleteFunc(slices.Clone(first.Env), func(e corev1.EnvVar) bool { return e.Name == v1alpha1.EnvQueueURL })
	pod.InitContainers = nil
	pod.Containers = []corev1.Container{{
		Name:            "redrive",
		Image:           image,
		Args:            []string{"--redrive-to=" + qd.Spec.Queue.URL},
		Env:             append([]corev1.EnvVar{{Name: v1alpha1.EnvQueueURL, Value: from}}, env...),
		EnvFrom:         first.EnvFrom,
		Resources:       first.Resources,
		SecurityContext: first.SecurityContext,
	}}
	return drain
}

// withDefaults appends the variables the container does not set itself.
func withDefaults(have, defaults []corev1.EnvVar) []corev1.EnvVar {
	set := map[string]bool{}
	for _, e := range have {
		set[e.Name] = true
	}
	for _, e := range defaults {
		if !set[e.Name] {
			have = append(have, e)
		}
	}
	return have
}

func merge(into, from map[string]string) map[string]string {
	if into == nil {
		into = make(map[string]string, len(from))
	}
	for k, v := range from {
		into[k] = v
	}
	return into
}

// indexed reports whether a Job is an Indexed Job, whose completions grow
// with its parallelism (runs from before Indexed runs are not).
func indexed(j *batchv1.Job) bool {
	return ptr.Deref(j.Spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion
}

// jobView is what planning needs to know of a Job.
func jobView(j *batchv1.Job) plan.Job {
	v := plan.Job{
		Name:      j.Name,
		Trigger:   v1alpha1.Trigger(j.Annotations[v1alpha1.TriggerAnnotation]),
		Created:   j.CreationTimestamp.Time,
		Deleting:  j.DeletionTimestamp != nil,
		Indexed:   indexed(j),
		Suspended: ptr.Deref(j.Spec.Suspend, false),
		Pods: plan.PodCounts{Active: j.Status.Active, Ready: ptr.Deref(j.Status.Ready, 0),
			Succeeded: j.Status.Succeeded, Failed: j.Status.Failed},
	}
	v.MessagesAtStart, _ = strconv.ParseInt(j.Annotations[v1alpha1.MessagesAtStartAnnotation], 10, 64)
	if j.Spec.Parallelism != nil {
		v.Parallelism = *j.Spec.Parallelism
	}
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue || (c.Type != batchv1.JobComplete && c.Type != batchv1.JobFailed) {
			continue
		}
		v.Finished, v.Succeeded = true, c.Type == batchv1.JobComplete
		v.FinishedAt = c.LastTransitionTime.Time
		if !v.Succeeded {
			v.Message = c.Reason
			if c.Message != "" {
				v.Message += ": " + c.Message
			}
		}
	}
	if v.Succeeded && j.Status.CompletionTime != nil {
		v.FinishedAt = j.Status.CompletionTime.Time
	}
	return v
}
