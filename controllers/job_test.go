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
	"reflect"
	"slices"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/testutil/fixture"
)

// A Redrive run's Job runs the operator's mover as the template's pods run
// (same service account, placement, AWS settings), not their containers.
func TestRedriveJobRunsTheMoverAsTheTemplatesPodsRun(t *testing.T) {
	const url = "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
	const dlq = "https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq"
	restricted := &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), RunAsNonRoot: ptr.To(true)}
	qd := fixture.Drainer("shop", "orders", fixture.QueueURL(url),
		fixture.Template(batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](2), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			ServiceAccountName: "orders-drain",
			NodeSelector:       map[string]string{"pool": "batch"},
			InitContainers:     []corev1.Container{{Name: "handler", Image: "example/handler:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}},
			Containers: []corev1.Container{{Name: "consumer", Image: "example/consumer:1", SecurityContext: restricted,
				Env: []corev1.EnvVar{{Name: "AWS_ENDPOINT_URL_SQS", Value: "http://127.0.0.1:4566"}, {Name: v1alpha1.EnvQueueURL, Value: "https://elsewhere"}}}},
		}}}}))
	job := redriveJob(qd, &v1alpha1.ActiveRun{Name: "orders-7", Trigger: v1alpha1.TriggerRedrive, Workers: 1}, dlq, "mover:1",
		[]corev1.EnvVar{{Name: "AWS_ENDPOINT_URL_SQS", Value: "http://platform-default"}, {Name: "HTTPS_PROXY", Value: "http://proxy:3128"}})
	pod := job.Spec.Template.Spec
	if len(pod.InitContainers) != 0 || len(pod.Containers) != 1 {
		t.Fatalf("init containers %v, containers %v; want the mover alone", pod.InitContainers, pod.Containers)
	}
	c := pod.Containers[0]
	if c.Image != "mover:1" || !slices.Equal(c.Args, []string{"--redrive-to=" + url}) || !reflect.DeepEqual(c.SecurityContext, restricted) {
		t.Errorf("container %+v, want the mover moving to %s with the template's security context", c, url)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("%s set twice", e.Name)
		}
		env[e.Name] = e.Value
	}
	if env[v1alpha1.EnvQueueURL] != dlq || env["AWS_ENDPOINT_URL_SQS"] != "http://127.0.0.1:4566" || env[v1alpha1.EnvRun] != "orders-7" ||
		env["HTTPS_PROXY"] != "http://proxy:3128" {
		t.Errorf("env %v, want QUEUE_URL the dead-letter queue, the template's AWS settings, the consumer env and the run", env)
	}
	if pod.ServiceAccountName != "orders-drain" || pod.NodeSelector["pool"] != "batch" || ptr.Deref(job.Spec.BackoffLimit, 0) != 2 {
		t.Errorf("pod %+v, want the template's service account, placement and backoff limit", pod)
	}
	if job.Name != "orders-7" || job.Labels[v1alpha1.RunLabel] != "orders-7" || job.Annotations[v1alpha1.TriggerAnnotation] != "Redrive" ||
		ptr.Deref(job.Spec.Completions, 0) != 1 {
		t.Errorf("job %s labels %v annotations %v completions %v", job.Name, job.Labels, job.Annotations, job.Spec.Completions)
	}
}

// The manager's consumer env reaches every container of a run's pods, the
// handler sidecar too, after what the template and the operator set.
func TestRunJobGivesEveryContainerTheConsumerEnvUnlessSetBefore(t *testing.T) {
	qd := fixture.Drainer("shop", "orders", fixture.QueueURL("https://sqs.eu-west-1.amazonaws.com/123456789012/orders"),
		fixture.Template(batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "handler", Image: "example/handler:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}},
			Containers: []corev1.Container{{Name: "consumer", Image: "example/consumer:1",
				Env: []corev1.EnvVar{{Name: "AWS_ENDPOINT_URL_SQS", Value: "http://own"}}}},
		}}}}))
	consumerEnv := []corev1.EnvVar{
		{Name: "AWS_ENDPOINT_URL_SQS", Value: "http://emulator:4566"},
		{Name: "AWS_ENDPOINT_URL_CLOUDWATCH", Value: "http://emulator:4567"},
		{Name: v1alpha1.EnvRegion, Value: "us-east-1"},
	}
	job := runJob(qd, &v1alpha1.ActiveRun{Name: "orders-1", Trigger: v1alpha1.TriggerManual, Workers: 2}, consumerEnv)
	want := map[string]map[string]string{
		"handler": {"AWS_ENDPOINT_URL_SQS": "http://emulator:4566", "AWS_ENDPOINT_URL_CLOUDWATCH": "http://emulator:4567",
			v1alpha1.EnvRegion: "eu-west-1", v1alpha1.EnvRun: "orders-1", v1alpha1.EnvQueueURL: qd.Spec.Queue.URL},
		"consumer": {"AWS_ENDPOINT_URL_SQS": "http://own", "AWS_ENDPOINT_URL_CLOUDWATCH": "http://emulator:4567",
			v1alpha1.EnvRegion: "eu-west-1", v1alpha1.EnvRun: "orders-1", v1alpha1.EnvQueueURL: qd.Spec.Queue.URL},
	}
	pod := job.Spec.Template.Spec
	for _, c := range append(pod.InitContainers, pod.Containers...) {
		got := map[string]string{}
		for _, e := range c.Env {
			if _, dup := got[e.Name]; dup {
				t.Errorf("%s: %s set twice", c.Name, e.Name)
			}
			got[e.Name] = e.Value
		}
		if !reflect.DeepEqual(got, want[c.Name]) {
			t.Errorf("%s env %v, want %v (the template's own value, then the operator's region from the URL, win)", c.Name, got, want[c.Name])
		}
	}
}
