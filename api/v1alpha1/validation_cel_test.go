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

package v1alpha1_test

// These tests install the generated CRD (config/crd/bases) into a real
// kube-apiserver and check what a user applying a QueueDrainer sees: bad specs
// are refused with a message naming the field and what is wrong, good specs
// are accepted and defaulted, and the shipped samples are valid.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	drainv1alpha1 "github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/testutil/fixture"
	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

// k8s talks to the test API server. Unknown fields are refused, as
// `kubectl apply` does, so a misspelt key in a test or a sample fails loudly
// instead of being pruned.
var k8s client.Client

func TestMain(m *testing.M) {
	os.Exit(runWithAPIServer(m))
}

func runWithAPIServer(m *testing.M) int {
	env, cfg, err := kubetest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping the test API server: %v\n", err)
		}
	}()
	scheme := kubetest.Scheme()
	k8s, err = client.New(cfg, client.Options{Scheme: scheme, FieldValidation: metav1.FieldValidationStrict})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// newNamespace creates a namespace for one test, so tests never clash on names.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "qd-cel-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), ns) })
	return ns.Name
}

// validQueueDrainer is a QueueDrainer that sets every field to a valid value.
// Each case below changes one thing in it.
func validQueueDrainer(namespace, name string) *drainv1alpha1.QueueDrainer {
	return &drainv1alpha1.QueueDrainer{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: drainv1alpha1.QueueDrainerSpec{
			Queue: drainv1alpha1.QueueSpec{
				URL:     "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
				Region:  "us-east-1",
				RoleARN: "arn:aws:iam::123456789012:role/orders-drain",
			},
			Triggers: drainv1alpha1.Triggers{
				QueueDepth:       ptr.To[int64](1000),
				OldestMessageAge: &metav1.Duration{Duration: 10 * time.Minute},
				Schedule:         "*/15 * * * *",
				TimeZone:         "Asia/Seoul",
			},
			Workers: drainv1alpha1.WorkerPolicy{
				MessagesPerWorker: 1000,
				Min:               1,
				Max:               20,
				DrainWithin:       &metav1.Duration{Duration: 5 * time.Minute},
			},
			JobTemplate: batchv1.JobTemplateSpec{
				Spec: batchv1.JobSpec{
					BackoffLimit: ptr.To[int32](4),
					Template: corev1.PodTemplateSpec{
						Spec: corev1.PodSpec{
							RestartPolicy: corev1.RestartPolicyNever,
							Containers: []corev1.Container{{
								Name:  "consumer",
								Image: "ghcr.io/queuedrainer/drain-worker:latest",
								Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
									corev1.ResourceCPU:    resource.MustParse("250m"),
									corev1.ResourceMemory: resource.MustParse("128Mi"),
								}},
							}},
						},
					},
				},
			},
			PollInterval:               &metav1.Duration{Duration: 30 * time.Second},
			Cooldown:                   &metav1.Duration{Duration: time.Minute},
			ConcurrencyPolicy:          drainv1alpha1.ForbidConcurrent,
			Suspend:                    ptr.To(false),
			SuccessfulRunsHistoryLimit: ptr.To[int32](3),
			FailedRunsHistoryLimit:     ptr.To[int32](1),
		},
	}
}

// rawEdit changes the object as a user's YAML would, for values the Go types
// cannot send: a zero that omitempty drops, a string that is not a duration,
// a required key left out.
type rawEdit func(t *testing.T, obj map[string]any)

// set sets the value at a dotted path, such as "spec.workers.min".
func set(path string, value any) rawEdit {
	return func(t *testing.T, obj map[string]any) {
		t.Helper()
		if err := unstructured.SetNestedField(obj, value, strings.Split(path, ".")...); err != nil {
			t.Fatalf("setting %s: %v", path, err)
		}
	}
}

// remove deletes the key at a dotted path.
func remove(path string) rawEdit {
	return func(t *testing.T, obj map[string]any) {
		unstructured.RemoveNestedField(obj, strings.Split(path, ".")...)
	}
}

// createAsYAMLUserWould sends qd, changed by edits, as an untyped object.
func createAsYAMLUserWould(t *testing.T, qd *drainv1alpha1.QueueDrainer, edits ...rawEdit) error {
	t.Helper()
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(qd)
	if err != nil {
		t.Fatalf("converting %s: %v", qd.Name, err)
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetGroupVersionKind(drainv1alpha1.GroupVersion.WithKind("QueueDrainer"))
	for _, edit := range edits {
		edit(t, u.Object)
	}
	return k8s.Create(context.Background(), u)
}

func TestInvalidQueueDrainersAreRefused(t *testing.T) {
	ns := newNamespace(t)

	cases := []struct {
		name   string
		mutate func(qd *drainv1alpha1.QueueDrainer)
		raw    []rawEdit
		// field is the path the API server must name, message a distinctive
		// part of what it must say.
		field, message string
		// causeField is the field of the error's cause when it is not field.
		causeField string
	}{
		// Triggers.
		{
			name: "no trigger",
			mutate: func(qd *drainv1alpha1.QueueDrainer) {
				qd.Spec.Triggers = drainv1alpha1.Triggers{}
			},
			field: "spec.triggers", message: "at least one of queueDepth, oldestMessageAge or schedule",
		},
		{
			name:   "queueDepth 0",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.Triggers.QueueDepth = ptr.To[int64](0) },
			field:  "spec.triggers.queueDepth", message: "greater than or equal to 1",
		},
		{
			name:   "queueDepth negative",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.Triggers.QueueDepth = ptr.To[int64](-5) },
			field:  "spec.triggers.queueDepth", message: "greater than or equal to 1",
		},
		{
			name:  "oldestMessageAge negative",
			raw:   []rawEdit{set("spec.triggers.oldestMessageAge", "-5m")},
			field: "spec.triggers.oldestMessageAge", message: "oldestMessageAge must be a positive duration",
		},
		{
			name:  "oldestMessageAge not a duration",
			raw:   []rawEdit{set("spec.triggers.oldestMessageAge", "banana")},
			field: "spec.triggers.oldestMessageAge", message: "oldestMessageAge must be a positive duration",
		},
		{
			name:  "oldestMessageAge zero",
			raw:   []rawEdit{set("spec.triggers.oldestMessageAge", "0s")},
			field: "spec.triggers.oldestMessageAge", message: "oldestMessageAge must be a positive duration",
		},
		{
			name:   "schedule minute 61",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.Triggers.Schedule = "61 * * * *" },
			field:  "spec.triggers.schedule", message: "schedule must be a cron expression with 5 fields",
		},
		{
			name:   "schedule in words",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.Triggers.Schedule = "every day" },
			field:  "spec.triggers.schedule", message: "schedule must be a cron expression with 5 fields",
		},
		{
			name:   "schedule with a seconds field",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.Triggers.Schedule = "0 */15 * * * *" },
			field:  "spec.triggers.schedule", message: "schedule must be a cron expression with 5 fields",
		},
		{
			name:   "schedule with a step of zero",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.Triggers.Schedule = "*/0 * * * *" },
			field:  "spec.triggers.schedule", message: "schedule must be a cron expression with 5 fields",
		},
		{
			name: "timeZone without schedule",
			mutate: func(qd *drainv1alpha1.QueueDrainer) {
				qd.Spec.Triggers.Schedule = ""
				qd.Spec.Triggers.TimeZone = "Asia/Seoul"
			},
			field: "spec.triggers.timeZone", message: "timeZone only applies to triggers.schedule",
		},
		{
			name:   "timeZone with a space",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.Triggers.TimeZone = "Asia/ Seoul" },
			field:  "spec.triggers.timeZone", message: "timeZone must be an IANA time zone name",
		},
		{
			name:   "timeZone with shell characters",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.Triggers.TimeZone = "UTC;rm" },
			field:  "spec.triggers.timeZone", message: "timeZone must be an IANA time zone name",
		},
		{
			// time.LoadLocation("Local") is the operator's own zone, not the user's.
			name:   "timeZone Local",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.Triggers.TimeZone = "Local" },
			field:  "spec.triggers.timeZone", message: "timeZone must be an IANA time zone name",
		},
		{
			name: "schedule longer than 128 characters",
			mutate: func(qd *drainv1alpha1.QueueDrainer) {
				qd.Spec.Triggers.Schedule = "0" + strings.Repeat(",0", 70) + " * * * *"
			},
			field: "spec.triggers.schedule", message: "Too long",
		},
		{
			name:  "queueDepth beyond int64",
			raw:   []rawEdit{set("spec.triggers.queueDepth", 1e30)},
			field: "spec.triggers.queueDepth", message: "must be of type int64",
		},
		{
			name:  "queueDepth as a string",
			raw:   []rawEdit{set("spec.triggers.queueDepth", "100")},
			field: "spec.triggers.queueDepth", message: "must be of type integer",
		},
		{
			// Past what a Go time.Duration holds: CEL's duration() fails on it.
			name:  "oldestMessageAge too large for a duration",
			raw:   []rawEdit{set("spec.triggers.oldestMessageAge", "9999999999h")},
			field: "spec.triggers.oldestMessageAge", message: "oldestMessageAge must be a positive duration",
		},

		// Queue.
		{
			name:  "missing queue url",
			raw:   []rawEdit{remove("spec.queue.url")},
			field: "spec.queue.url", message: "Required value",
		},
		{
			name:   "empty queue url",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.Queue.URL = "" },
			field:  "spec.queue.url", message: "queue.url must be an SQS queue URL",
		},
		{
			name:   "queue url not SQS",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.Queue.URL = "https://example.com/q" },
			field:  "spec.queue.url", message: "queue.url must be an SQS queue URL",
		},
		{
			name: "queue url whose region is not a region",
			mutate: func(qd *drainv1alpha1.QueueDrainer) {
				qd.Spec.Queue.URL = "https://sqs.x.amazonaws.com/123456789012/orders"
			},
			field: "spec.queue.url", message: "queue.url must be an SQS queue URL",
		},
		{
			name: "queue url over http",
			mutate: func(qd *drainv1alpha1.QueueDrainer) {
				qd.Spec.Queue.URL = "http://sqs.us-east-1.amazonaws.com/123456789012/orders"
			},
			field: "spec.queue.url", message: "queue.url must be an SQS queue URL",
		},
		{
			name: "queue url without 12-digit account",
			mutate: func(qd *drainv1alpha1.QueueDrainer) {
				qd.Spec.Queue.URL = "https://sqs.us-east-1.amazonaws.com/12345/orders"
			},
			field: "spec.queue.url", message: "queue.url must be an SQS queue URL",
		},
		{
			name: "queue url with bad queue name characters",
			mutate: func(qd *drainv1alpha1.QueueDrainer) {
				qd.Spec.Queue.URL = "https://sqs.us-east-1.amazonaws.com/123456789012/orders!v2"
			},
			field: "spec.queue.url", message: "queue.url must be an SQS queue URL",
		},
		{
			name: "queue url with a queue name too long",
			mutate: func(qd *drainv1alpha1.QueueDrainer) {
				qd.Spec.Queue.URL = "https://sqs.us-east-1.amazonaws.com/123456789012/" + strings.Repeat("q", 81)
			},
			field: "spec.queue.url", message: "queue.url must be an SQS queue URL",
		},
		{
			name:   "queue url of another host with an SQS-like path",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.Queue.URL = "https://example.com/123456789012/q" },
			field:  "spec.queue.url", message: "queue.url must be an SQS queue URL",
		},
		{
			name: "queue url of S3",
			mutate: func(qd *drainv1alpha1.QueueDrainer) {
				qd.Spec.Queue.URL = "https://s3.us-east-1.amazonaws.com/123456789012/orders"
			},
			field: "spec.queue.url", message: "queue.url must be an SQS queue URL",
		},
		{
			name:   "queue url with the s3 scheme",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.Queue.URL = "s3://orders-bucket/123456789012/orders" },
			field:  "spec.queue.url", message: "queue.url must be an SQS queue URL",
		},
		{
			name: "queue url on a look-alike host",
			mutate: func(qd *drainv1alpha1.QueueDrainer) {
				qd.Spec.Queue.URL = "https://sqs.us-east-1.amazonaws.com.evil.example/123456789012/orders"
			},
			field: "spec.queue.url", message: "queue.url must be an SQS queue URL",
		},
		{
			name: "queue url with a query",
			mutate: func(qd *drainv1alpha1.QueueDrainer) {
				qd.Spec.Queue.URL = "https://sqs.us-east-1.amazonaws.com/123456789012/orders?Action=PurgeQueue"
			},
			field: "spec.queue.url", message: "queue.url must be an SQS queue URL",
		},
		{
			name: "queue url with a trailing newline",
			mutate: func(qd *drainv1alpha1.QueueDrainer) {
				qd.Spec.Queue.URL = "https://sqs.us-east-1.amazonaws.com/123456789012/orders\n"
			},
			field: "spec.queue.url", message: "queue.url must be an SQS queue URL",
		},
		{
			name: "queue url longer than 256 characters",
			mutate: func(qd *drainv1alpha1.QueueDrainer) {
				qd.Spec.Queue.URL = "https://sqs.us-east-1.amazonaws.com/123456789012/" + strings.Repeat("q", 220)
			},
			field: "spec.queue.url", message: "Too long",
		},
		{
			name: "region of another region's legacy url",
			mutate: func(qd *drainv1alpha1.QueueDrainer) {
				qd.Spec.Queue = drainv1alpha1.QueueSpec{URL: "https://eu-west-1.queue.amazonaws.com/123456789012/orders", Region: "us-east-1"}
			},
			field: "spec.queue.region", message: "queue.region us-east-1 does not match the region in queue.url https://eu-west-1.queue.amazonaws.com/",
		},
		{
			name: "region other than the China url's",
			mutate: func(qd *drainv1alpha1.QueueDrainer) {
				qd.Spec.Queue = drainv1alpha1.QueueSpec{URL: "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/orders", Region: "cn-northwest-1"}
			},
			field: "spec.queue.region", message: "queue.region cn-northwest-1 does not match the region in queue.url",
		},
		{
			name:   "roleARN with a wildcard",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.Queue.RoleARN = "arn:aws:iam::123456789012:role/*" },
			field:  "spec.queue.roleARN", message: "queue.roleARN must be an IAM role ARN",
		},
		{
			name:   "region not the url's region",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.Queue.Region = "eu-west-1" },
			field:  "spec.queue.region", message: "queue.region eu-west-1 does not match the region in queue.url https://sqs.us-east-1.amazonaws.com/123456789012/orders",
		},
		{
			name:   "malformed region",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.Queue.Region = "US_EAST_1" },
			field:  "spec.queue.region", message: "queue.region must be an AWS region",
		},
		{
			name: "region other than us-east-1 with the legacy queue.amazonaws.com url",
			mutate: func(qd *drainv1alpha1.QueueDrainer) {
				qd.Spec.Queue = drainv1alpha1.QueueSpec{URL: "https://queue.amazonaws.com/123456789012/orders", Region: "eu-west-1"}
			},
			field: "spec.queue.region", message: "queue.region eu-west-1 does not match the region in queue.url https://queue.amazonaws.com/",
		},
		{
			name: "roleARN of a user, not a role",
			mutate: func(qd *drainv1alpha1.QueueDrainer) {
				qd.Spec.Queue.RoleARN = "arn:aws:iam::123456789012:user/orders-drain"
			},
			field: "spec.queue.roleARN", message: "queue.roleARN must be an IAM role ARN",
		},

		// Workers.
		{
			name:   "workers min greater than max",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.Workers.Min, qd.Spec.Workers.Max = 25, 20 },
			field:  "spec.workers", message: "workers.min (25) must not be greater than workers.max (20)",
		},
		{
			// max is defaulted before the rule runs, and the message says so by its number.
			name:  "workers min above the default max",
			raw:   []rawEdit{remove("spec.workers"), set("spec.workers.min", int64(15))},
			field: "spec.workers", message: "workers.min (15) must not be greater than workers.max (10)",
		},
		{
			name:  "workers min 0",
			raw:   []rawEdit{set("spec.workers.min", int64(0))},
			field: "spec.workers.min", message: "greater than or equal to 1",
		},
		{
			name:   "workers max 1001",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.Workers.Max = 1001 },
			field:  "spec.workers.max", message: "less than or equal to 1000",
		},
		{
			name:  "workers max 1000000",
			raw:   []rawEdit{set("spec.workers.max", int64(1_000_000))},
			field: "spec.workers.max", message: "less than or equal to 1000",
		},
		{
			name:  "workers max beyond int32",
			raw:   []rawEdit{set("spec.workers.max", int64(99_999_999_999))},
			field: "spec.workers.max", message: "less than or equal to 1000",
		},
		{
			name:   "messagesPerWorker negative",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.Workers.MessagesPerWorker = -1000 },
			field:  "spec.workers.messagesPerWorker", message: "greater than or equal to 1",
		},
		{
			name:  "messagesPerWorker 0",
			raw:   []rawEdit{set("spec.workers.messagesPerWorker", int64(0))},
			field: "spec.workers.messagesPerWorker", message: "greater than or equal to 1",
		},
		{
			name:  "drainWithin zero",
			raw:   []rawEdit{set("spec.workers.drainWithin", "0s")},
			field: "spec.workers.drainWithin", message: "drainWithin must be a positive duration",
		},

		// Job template.
		{
			name:   "jobTemplate sets parallelism",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.JobTemplate.Spec.Parallelism = ptr.To[int32](5) },
			field:  "spec.jobTemplate.spec.parallelism", message: "parallelism is set by the operator from workers",
		},
		{
			name:   "jobTemplate sets completions",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.JobTemplate.Spec.Completions = ptr.To[int32](1) },
			field:  "spec.jobTemplate.spec.completions", message: "completions is set by the operator, equal to parallelism",
		},
		{
			name: "jobTemplate asks for a work-queue Job",
			mutate: func(qd *drainv1alpha1.QueueDrainer) {
				qd.Spec.JobTemplate.Spec.CompletionMode = ptr.To(batchv1.NonIndexedCompletion)
			},
			field: "spec.jobTemplate.spec.completionMode", message: "completionMode must be Indexed or unset",
		},
		{
			name: "jobTemplate restartPolicy Always",
			mutate: func(qd *drainv1alpha1.QueueDrainer) {
				qd.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
			},
			field: "spec.jobTemplate.spec.template.spec.restartPolicy", message: "restartPolicy must be Never or OnFailure",
		},
		{
			name:  "jobTemplate restartPolicy not a policy",
			raw:   []rawEdit{set("spec.jobTemplate.spec.template.spec.restartPolicy", "Sometimes")},
			field: "spec.jobTemplate.spec.template.spec.restartPolicy", message: "restartPolicy must be Never or OnFailure",
		},
		{
			name: "jobTemplate with an empty container list",
			mutate: func(qd *drainv1alpha1.QueueDrainer) {
				qd.Spec.JobTemplate.Spec.Template.Spec.Containers = []corev1.Container{}
			},
			field: "spec.jobTemplate", message: "containers must list at least one consumer container",
		},
		{
			name:  "jobTemplate without containers",
			raw:   []rawEdit{remove("spec.jobTemplate.spec.template.spec.containers")},
			field: "spec.jobTemplate.spec.template.spec.containers", message: "Required value",
		},

		// Polling, cooldown, concurrency, history.
		{
			name:  "pollInterval zero",
			raw:   []rawEdit{set("spec.pollInterval", "0s")},
			field: "spec.pollInterval", message: "pollInterval must be a duration of at least 1s",
		},
		{
			name:  "pollInterval under a second",
			raw:   []rawEdit{set("spec.pollInterval", "500ms")},
			field: "spec.pollInterval", message: "pollInterval must be a duration of at least 1s",
		},
		{
			name:  "pollInterval 1ns",
			raw:   []rawEdit{set("spec.pollInterval", "1ns")},
			field: "spec.pollInterval", message: "pollInterval must be a duration of at least 1s",
		},
		{
			name:  "pollInterval too large for a duration",
			raw:   []rawEdit{set("spec.pollInterval", "9999999999h")},
			field: "spec.pollInterval", message: "pollInterval must be a duration of at least 1s",
		},
		{
			// Once accepted, it could not be decoded by the operator (a Go
			// time.Duration overflows), which would break listing every drainer.
			name:  "cooldown too large for a duration",
			raw:   []rawEdit{set("spec.cooldown", "9999999999h")},
			field: "spec.cooldown", message: "cooldown must be a non-negative duration",
		},
		{
			name:  "cooldown negative",
			raw:   []rawEdit{set("spec.cooldown", "-1m")},
			field: "spec.cooldown", message: "cooldown must be a non-negative duration",
		},
		{
			name:   "concurrencyPolicy Allow",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.ConcurrencyPolicy = "Allow" },
			field:  "spec.concurrencyPolicy", message: `supported values: "Forbid", "Replace"`,
		},
		{
			name:   "successfulRunsHistoryLimit negative",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.SuccessfulRunsHistoryLimit = ptr.To[int32](-1) },
			field:  "spec.successfulRunsHistoryLimit", message: "greater than or equal to 0",
		},
		{
			name:  "successfulRunsHistoryLimit beyond int32",
			raw:   []rawEdit{set("spec.successfulRunsHistoryLimit", int64(99_999_999_999))},
			field: "spec.successfulRunsHistoryLimit", message: "less than or equal to 20",
		},
		{
			name:   "failedRunsHistoryLimit 21",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Spec.FailedRunsHistoryLimit = ptr.To[int32](21) },
			field:  "spec.failedRunsHistoryLimit", message: "less than or equal to 20",
		},

		// Metadata.
		{
			// The rule is on the object's root: the API server refuses
			// fieldPath .metadata.name ("must be a valid path"), so the cause
			// has no field and the message itself names metadata.name.
			name:   "name longer than 52 characters",
			mutate: func(qd *drainv1alpha1.QueueDrainer) { qd.Name = strings.Repeat("n", 53) },
			field:  "metadata.name", message: "metadata.name must be at most 52 characters",
			causeField: "<nil>",
		},
	}

	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			qd := validQueueDrainer(ns, fmt.Sprintf("bad-%02d", i))
			if tc.mutate != nil {
				tc.mutate(qd)
			}
			err := createAsYAMLUserWould(t, qd, tc.raw...)
			if err == nil {
				t.Fatalf("the API server accepted the QueueDrainer; want it refused with %s: ...%s...", tc.field, tc.message)
			}
			t.Logf("refused: %v", err)
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want an Invalid error, got reason %q: %v", apierrors.ReasonForError(err), err)
			}
			text := err.Error()
			if !strings.Contains(text, tc.field) {
				t.Errorf("the error does not name the field %s", tc.field)
			}
			if !strings.Contains(text, tc.message) {
				t.Errorf("the error does not say %q", tc.message)
			}
			causeField := tc.field
			if tc.causeField != "" {
				causeField = tc.causeField
			}
			if !hasCause(err, causeField, tc.message) {
				t.Errorf("no cause of the error has field %s and a message containing %q; causes: %+v",
					causeField, tc.message, causes(err))
			}
		})
	}
}

func causes(err error) []metav1.StatusCause {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return nil
	}
	return status.Status().Details.Causes
}

// hasCause reports whether one cause of err is about field and says message:
// the text check alone could match the field in one cause and the message in
// another.
func hasCause(err error, field, message string) bool {
	for _, c := range causes(err) {
		if c.Field == field && strings.Contains(c.Message, message) {
			return true
		}
	}
	return false
}

func TestValidQueueDrainersAreAccepted(t *testing.T) {
	ns := newNamespace(t)

	cases := []struct {
		name   string
		mutate func(qd *drainv1alpha1.QueueDrainer)
	}{
		{"every field set", func(qd *drainv1alpha1.QueueDrainer) {}},
		{"only queueDepth", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.Triggers = drainv1alpha1.Triggers{QueueDepth: ptr.To[int64](1)}
		}},
		{"only oldestMessageAge", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.Triggers = drainv1alpha1.Triggers{OldestMessageAge: &metav1.Duration{Duration: time.Second}}
		}},
		{"schedule @hourly", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.Triggers = drainv1alpha1.Triggers{Schedule: "@hourly"}
		}},
		{"schedule @daily in a time zone", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.Triggers = drainv1alpha1.Triggers{Schedule: "@daily", TimeZone: "America/Argentina/Buenos_Aires"}
		}},
		{"schedule on weekdays at 9", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.Triggers = drainv1alpha1.Triggers{Schedule: "0 9 * * 1-5", TimeZone: "Etc/GMT+9"}
		}},
		{"schedule every 15 minutes", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.Triggers = drainv1alpha1.Triggers{Schedule: "*/15 * * * *"}
		}},
		{"schedule with month names", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.Triggers = drainv1alpha1.Triggers{Schedule: "0 0 1 jan,jul *"}
		}},
		{"schedule with day names and lists", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.Triggers = drainv1alpha1.Triggers{Schedule: "5,35 8-18/2 * * MON-FRI"}
		}},
		{"legacy regional url", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.Queue = drainv1alpha1.QueueSpec{URL: "https://us-east-1.queue.amazonaws.com/123456789012/orders"}
		}},
		{"legacy regional url with its region", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.Queue = drainv1alpha1.QueueSpec{URL: "https://eu-west-1.queue.amazonaws.com/123456789012/orders", Region: "eu-west-1"}
		}},
		{"legacy url without region", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.Queue = drainv1alpha1.QueueSpec{URL: "https://queue.amazonaws.com/123456789012/orders"}
		}},
		{"China url", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.Queue = drainv1alpha1.QueueSpec{
				URL:     "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/orders",
				Region:  "cn-north-1",
				RoleARN: "arn:aws-cn:iam::123456789012:role/orders-drain",
			}
		}},
		{"FIFO url", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.Queue = drainv1alpha1.QueueSpec{URL: "https://sqs.us-east-2.amazonaws.com/123456789012/orders_v2-eu.fifo"}
		}},
		{"region set and matching", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.Queue = drainv1alpha1.QueueSpec{URL: "https://sqs.ap-northeast-2.amazonaws.com/123456789012/orders", Region: "ap-northeast-2"}
		}},
		{"GovCloud region and role with a path", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.Queue = drainv1alpha1.QueueSpec{
				URL:     "https://sqs.us-gov-west-1.amazonaws.com/123456789012/orders",
				Region:  "us-gov-west-1",
				RoleARN: "arn:aws-us-gov:iam::123456789012:role/drainers/orders-drain",
			}
		}},
		{"queue name of 80 characters", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.Queue = drainv1alpha1.QueueSpec{URL: "https://sqs.us-east-1.amazonaws.com/123456789012/" + strings.Repeat("q", 80)}
		}},
		{"cooldown 0s", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.Cooldown = &metav1.Duration{}
		}},
		{"compound durations", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.Triggers.OldestMessageAge = &metav1.Duration{Duration: time.Hour + 30*time.Minute}
			qd.Spec.Workers.DrainWithin = &metav1.Duration{Duration: 2*time.Minute + 30*time.Second}
			qd.Spec.PollInterval = &metav1.Duration{Duration: time.Second}
			qd.Spec.Cooldown = &metav1.Duration{Duration: 1500 * time.Millisecond}
		}},
		{"min equal to max", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.Workers.Min, qd.Spec.Workers.Max = 1000, 1000
		}},
		{"restartPolicy OnFailure", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		}},
		{"restartPolicy unset", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = ""
		}},
		{"Replace, suspended, history limits 0 and 20", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.ConcurrencyPolicy = drainv1alpha1.ReplaceConcurrent
			qd.Spec.Suspend = ptr.To(true)
			qd.Spec.SuccessfulRunsHistoryLimit = ptr.To[int32](0)
			qd.Spec.FailedRunsHistoryLimit = ptr.To[int32](20)
		}},
		{"name of 52 characters", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Name = strings.Repeat("n", 52)
		}},
		{"largest numbers", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.Triggers.QueueDepth = ptr.To[int64](math.MaxInt64)
			qd.Spec.Workers.MessagesPerWorker = math.MaxInt64
		}},
		{"longest durations a Go time.Duration holds", func(qd *drainv1alpha1.QueueDrainer) {
			qd.Spec.PollInterval = &metav1.Duration{Duration: 999 * time.Hour}
			qd.Spec.Cooldown = &metav1.Duration{Duration: math.MaxInt64}
			qd.Spec.Triggers.OldestMessageAge = &metav1.Duration{Duration: math.MaxInt64}
		}},
		// The drainer the tests build with testutil/fixture, which sets only what is required.
		{"the tests' fixture drainer", func(qd *drainv1alpha1.QueueDrainer) {
			*qd = *fixture.Drainer(qd.Namespace, qd.Name)
		}},
	}

	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			qd := validQueueDrainer(ns, fmt.Sprintf("good-%02d", i))
			tc.mutate(qd)
			if err := k8s.Create(context.Background(), qd); err != nil {
				t.Fatalf("the API server refused a valid QueueDrainer: %v", err)
			}
		})
	}
}

func TestAPIServerDefaultsAMinimalQueueDrainer(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()

	// What a user writes at the least: the queue, one trigger and a consumer.
	var minimal unstructured.Unstructured
	if err := yaml.Unmarshal([]byte(`
apiVersion: drain.queuedrainer.io/v1alpha1
kind: QueueDrainer
metadata:
  name: minimal
spec:
  queue:
    url: https://sqs.us-east-1.amazonaws.com/123456789012/orders
  triggers:
    queueDepth: 100
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: consumer
            image: ghcr.io/queuedrainer/drain-worker:latest
`), &minimal.Object); err != nil {
		t.Fatal(err)
	}
	minimal.SetNamespace(ns)
	if err := k8s.Create(ctx, &minimal); err != nil {
		t.Fatalf("the API server refused a minimal QueueDrainer: %v", err)
	}

	var got drainv1alpha1.QueueDrainer
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "minimal"}, &got); err != nil {
		t.Fatal(err)
	}
	s := got.Spec
	if s.PollInterval == nil || s.PollInterval.Duration != 30*time.Second {
		t.Errorf("pollInterval = %v, want 30s", s.PollInterval)
	}
	if s.Cooldown == nil || s.Cooldown.Duration != time.Minute {
		t.Errorf("cooldown = %v, want 1m", s.Cooldown)
	}
	if s.ConcurrencyPolicy != drainv1alpha1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy = %q, want Forbid", s.ConcurrencyPolicy)
	}
	wantWorkers := drainv1alpha1.WorkerPolicy{MessagesPerWorker: 1000, Min: 1, Max: 10}
	if s.Workers != wantWorkers {
		t.Errorf("workers = %+v, want %+v", s.Workers, wantWorkers)
	}
	if s.SuccessfulRunsHistoryLimit == nil || *s.SuccessfulRunsHistoryLimit != 3 {
		t.Errorf("successfulRunsHistoryLimit = %v, want 3", ptrString(s.SuccessfulRunsHistoryLimit))
	}
	if s.FailedRunsHistoryLimit == nil || *s.FailedRunsHistoryLimit != 1 {
		t.Errorf("failedRunsHistoryLimit = %v, want 1", ptrString(s.FailedRunsHistoryLimit))
	}
	if s.Suspend != nil {
		t.Errorf("suspend = %v, want unset", *s.Suspend)
	}
	if s.JobTemplate.Spec.Parallelism != nil || s.JobTemplate.Spec.Completions != nil {
		t.Errorf("jobTemplate parallelism/completions were defaulted: %v/%v",
			ptrString(s.JobTemplate.Spec.Parallelism), ptrString(s.JobTemplate.Spec.Completions))
	}
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "<unset>"
	}
	return fmt.Sprint(*p)
}

func TestSamplesAreAccepted(t *testing.T) {
	ns := newNamespace(t)

	paths, err := filepath.Glob(filepath.Join("..", "..", "config", "samples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var samples []string
	for _, p := range paths {
		if filepath.Base(p) != "kustomization.yaml" {
			samples = append(samples, p)
		}
	}
	if len(samples) == 0 {
		t.Fatal("no samples found in config/samples")
	}

	for _, path := range samples {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// The sample must decode into the Go types without unknown fields...
			var typed drainv1alpha1.QueueDrainer
			if err := yaml.UnmarshalStrict(data, &typed); err != nil {
				t.Fatalf("decoding: %v", err)
			}
			if typed.GroupVersionKind() != drainv1alpha1.GroupVersion.WithKind("QueueDrainer") {
				t.Fatalf("the sample is a %v, want a QueueDrainer", typed.GroupVersionKind())
			}
			if typed.Namespace != "" {
				t.Errorf("the sample sets namespace %q; samples are applied with -n", typed.Namespace)
			}
			// ...and be accepted as written, as `kubectl apply` sends it.
			var sample unstructured.Unstructured
			if err := yaml.Unmarshal(data, &sample.Object); err != nil {
				t.Fatal(err)
			}
			sample.SetNamespace(ns)
			if err := k8s.Create(context.Background(), &sample); err != nil {
				t.Fatalf("the API server refused the sample: %v", err)
			}
		})
	}
}
