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

package integration_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/test/emulator"
	"github.com/queuedrainer/queue-drainer/test/faultproxy"
)

// argoTestdata holds the drainers the Argo CD health check is tested on:
// this test writes them, from real drainers in each state, when
// UPDATE_ARGOCD_TESTDATA=1, and otherwise checks that they still show the
// conditions that real drainers in those states have.
var argoTestdata = filepath.Join("..", "..", "config", "argocd", "drain.queuedrainer.io", "QueueDrainer", "testdata")

// TestKstatusTellsABrokenDrainerFromABusyOne computes what Flux computes
// (sigs.k8s.io/cli-utils kstatus) on drainers the real operator manages
// against fauxqs, in every state a pipeline must tell apart.
func TestKstatusTellsABrokenDrainerFromABusyOne(t *testing.T) {
	ctx := context.Background()
	ns := "kstatus"
	must(t, k8sCreateNamespace(ns))
	newQueue := func(name string, messages int) {
		url, err := emulator.CreateQueue(ctx, sqsAPI, name, nil)
		must(t, err)
		if messages > 0 {
			must(t, emulator.SendMessages(ctx, sqsAPI, url, messages, 0))
		}
	}
	// settled waits until the drainer's status shows what the state needs.
	settled := func(key types.NamespacedName, what string, ok func(*v1alpha1.QueueDrainer) bool) *v1alpha1.QueueDrainer {
		t.Helper()
		var qd *v1alpha1.QueueDrainer
		eventually(t, 30*time.Second, key.Name+": "+what, func() string {
			qd = get(t, key)
			if qd.Status.ObservedGeneration == qd.Generation && ok(qd) {
				return ""
			}
			return fmt.Sprintf("generation %d observed %d, conditions %s", qd.Generation, qd.Status.ObservedGeneration, conditionsText(qd))
		})
		return qd
	}
	has := func(typ string, s metav1.ConditionStatus, reason string) func(*v1alpha1.QueueDrainer) bool {
		return func(qd *v1alpha1.QueueDrainer) bool {
			c := condition(qd, typ)
			return c.Status == s && c.Reason == reason
		}
	}

	type state struct {
		file string
		qd   *v1alpha1.QueueDrainer
		want status.Status
	}
	var states []state

	// No status yet: what the API server answers to the create. kstatus
	// calls an object without status Current (it cannot know that an
	// operator will write one); Argo CD's check says Progressing.
	newQueue("ks-new", 0)
	fresh := newDrainerObject(ns, "ks-new", v1alpha1.Triggers{QueueDepth: ptr.To[int64](100)})
	must(t, k8s.Create(ctx, fresh))
	states = append(states, state{"no-status.yaml", fresh.DeepCopy(), status.CurrentStatus})

	// Healthy and idle, and its spec just changed (the answer to the update).
	idle := settled(client.ObjectKeyFromObject(fresh), "watching", has(v1alpha1.ConditionReady, metav1.ConditionTrue, "Watching"))
	states = append(states, state{"healthy-idle.yaml", idle, status.CurrentStatus})
	changed := idle.DeepCopy()
	changed.Spec.PollInterval = &metav1.Duration{Duration: 2 * time.Second}
	must(t, k8s.Update(ctx, changed))
	states = append(states, state{"spec-changed.yaml", changed.DeepCopy(), status.InProgressStatus})

	// Draining: a run is active (envtest has no Job controller: its Job stays as created).
	newQueue("ks-draining", 150)
	draining := settled(createDrainer(t, ns, "ks-draining", v1alpha1.Triggers{QueueDepth: ptr.To[int64](100)}), "draining",
		has(v1alpha1.ConditionDraining, metav1.ConditionTrue, string(v1alpha1.TriggerQueueDepth)))
	states = append(states, state{"healthy-draining.yaml", draining, status.CurrentStatus})

	// Suspended.
	newQueue("ks-suspended", 0)
	key := createDrainer(t, ns, "ks-suspended", v1alpha1.Triggers{QueueDepth: ptr.To[int64](100)})
	suspend(t, key)
	states = append(states, state{"suspended.yaml", settled(key, "suspended", has(v1alpha1.ConditionDraining, metav1.ConditionFalse, "Suspended")), status.CurrentStatus})

	// What will not fix itself: Failed.
	states = append(states, state{"stalled-queue-does-not-exist.yaml", settled(createDrainer(t, ns, "ks-never-created", v1alpha1.Triggers{QueueDepth: ptr.To[int64](1)}),
		"stalled", has(v1alpha1.ConditionStalled, metav1.ConditionTrue, "QueueDoesNotExist")), status.FailedStatus})
	newQueue("ks-role", 0)
	roleDrainer := newDrainerObject(ns, "ks-role", v1alpha1.Triggers{QueueDepth: ptr.To[int64](1)})
	roleDrainer.Spec.Queue.RoleARN = "arn:aws:iam::000000000000:role/not-allowed"
	must(t, k8s.Create(ctx, roleDrainer))
	states = append(states, state{"stalled-role-not-allowed.yaml", settled(client.ObjectKeyFromObject(roleDrainer), "stalled",
		has(v1alpha1.ConditionStalled, metav1.ConditionTrue, "RoleNotAllowed")), status.FailedStatus})
	newQueue("ks-schedule", 0)
	scheduleDrainer := newDrainerObject(ns, "ks-schedule", v1alpha1.Triggers{Schedule: "*/15 * * * *", TimeZone: "Nowhere/Town"})
	must(t, k8s.Create(ctx, scheduleDrainer))
	states = append(states, state{"stalled-invalid-schedule.yaml", settled(client.ObjectKeyFromObject(scheduleDrainer), "stalled",
		has(v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonInvalidSchedule)), status.FailedStatus})

	// An ineffective consumer: its Job completes and the 10 messages stay.
	newQueue("ks-ineffective", 10)
	key = createDrainer(t, ns, "ks-ineffective", v1alpha1.Triggers{QueueDepth: ptr.To[int64](1)})
	completeJob(t, waitOneRun(t, key, v1alpha1.TriggerQueueDepth))
	states = append(states, state{"stalled-ineffective-consumer.yaml", settled(key, "stalled",
		has(v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonIneffectiveConsumer)), status.FailedStatus})

	// Throttled on every call: retried, in progress.
	newQueue("ks-throttled", 0)
	sqsProxy.Inject(getAttrs, "ks-throttled", faultproxy.Always, faultproxy.RequestThrottled)
	defer sqsProxy.Clear()
	states = append(states, state{"reconciling-throttled.yaml", settled(createDrainer(t, ns, "ks-throttled", v1alpha1.Triggers{QueueDepth: ptr.To[int64](1)}),
		"reconciling", has(v1alpha1.ConditionReconciling, metav1.ConditionTrue, "Throttling")), status.InProgressStatus})

	// Workers that no node takes: their pod waits, Unschedulable.
	newQueue("ks-pending", 150)
	key = createDrainer(t, ns, "ks-pending", v1alpha1.Triggers{QueueDepth: ptr.To[int64](100)})
	pendingWorker(t, waitOneRun(t, key, v1alpha1.TriggerQueueDepth))
	states = append(states, state{"workers-pending.yaml", settled(key, "workers pending",
		has(v1alpha1.ConditionDraining, metav1.ConditionTrue, v1alpha1.ReasonWorkersPending)), status.CurrentStatus})

	for _, s := range states {
		u := unstructuredDrainer(t, s.qd)
		res, err := status.Compute(u)
		if err != nil {
			t.Fatalf("%s: kstatus: %v", s.file, err)
		}
		t.Logf("kstatus %-36s %-10s %s", s.file, res.Status, res.Message)
		if res.Status != s.want {
			t.Errorf("%s: kstatus %s (%s), want %s; conditions %s", s.file, res.Status, res.Message, s.want, conditionsText(s.qd))
		}
		checkArgoTestdata(t, s.file, u)
	}
}

func suspend(t *testing.T, key types.NamespacedName) {
	t.Helper()
	qd := get(t, key)
	patch := client.MergeFrom(qd.DeepCopy())
	qd.Spec.Suspend = ptr.To(true)
	must(t, k8s.Patch(context.Background(), qd, patch))
}

// completeJob writes the status the Job controller would once its pods
// found the queue empty (envtest runs no Job controller).
func completeJob(t *testing.T, job batchv1.Job) {
	t.Helper()
	now := metav1.Now()
	job.Status.StartTime, job.Status.CompletionTime = &now, &now
	job.Status.Succeeded = ptr.Deref(job.Spec.Completions, 1)
	job.Status.CompletedIndexes = fmt.Sprintf("0-%d", job.Status.Succeeded-1)
	if job.Status.Succeeded == 1 {
		job.Status.CompletedIndexes = "0"
	}
	job.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now, Reason: "CompletionsReached"},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now, Reason: "CompletionsReached"},
	}
	must(t, k8s.Status().Update(context.Background(), &job))
}

// pendingWorker gives the run's Job a worker pod the scheduler could not
// place, and the Job's status counts it active and not ready.
func pendingWorker(t *testing.T, job batchv1.Job) {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-0-pend1", Namespace: job.Namespace,
			Labels: map[string]string{v1alpha1.DrainerLabel: job.Labels[v1alpha1.DrainerLabel], v1alpha1.RunLabel: job.Name},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "consumer", Image: "example/consumer:1"}}},
	}
	must(t, k8s.Create(ctx, pod))
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", LastTransitionTime: metav1.Now(),
		Message: "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.",
	}}}
	must(t, k8s.Status().Update(ctx, pod))
	job.Status.StartTime, job.Status.Active, job.Status.Ready = ptr.To(metav1.Now()), 1, ptr.To[int32](0)
	must(t, k8s.Status().Update(ctx, &job))
}

func unstructuredDrainer(t *testing.T, qd *v1alpha1.QueueDrainer) *unstructured.Unstructured {
	t.Helper()
	qd = qd.DeepCopy()
	qd.APIVersion, qd.Kind = v1alpha1.GroupVersion.String(), "QueueDrainer"
	qd.ManagedFields = nil
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(qd)
	must(t, err)
	return &unstructured.Unstructured{Object: m}
}

// checkArgoTestdata writes a state's drainer as Argo CD's health check
// testdata (UPDATE_ARGOCD_TESTDATA=1), or checks that the file still shows
// what the real drainer shows: generation behind or not, suspension, the
// conditions' types, statuses and reasons.
func checkArgoTestdata(t *testing.T, file string, live *unstructured.Unstructured) {
	t.Helper()
	path := filepath.Join(argoTestdata, file)
	if os.Getenv("UPDATE_ARGOCD_TESTDATA") == "1" {
		obj := live.DeepCopy()
		for _, f := range []string{"uid", "resourceVersion", "creationTimestamp"} {
			unstructured.RemoveNestedField(obj.Object, "metadata", f)
		}
		out, err := yaml.Marshal(obj.Object)
		must(t, err)
		must(t, os.WriteFile(path, out, 0o644))
		return
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%v (UPDATE_ARGOCD_TESTDATA=1 writes it)", err)
		return
	}
	js, err := yaml.YAMLToJSON(raw)
	must(t, err)
	fixture := &unstructured.Unstructured{}
	must(t, fixture.UnmarshalJSON(js)) // numbers as int64, as the API server's
	if got, want := shape(fixture), shape(live); got != want {
		t.Errorf("%s no longer shows what a real drainer in this state shows (UPDATE_ARGOCD_TESTDATA=1 rewrites it):\n  file: %s\n  real: %s", path, got, want)
	}
}

// shape is what the health check reads of a drainer, as one line.
func shape(u *unstructured.Unstructured) string {
	gen, _, _ := unstructured.NestedInt64(u.Object, "metadata", "generation")
	observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	suspended, _, _ := unstructured.NestedBool(u.Object, "spec", "suspend")
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	var cs []string
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == v1alpha1.ConditionMetricsAvailable {
			continue // not read by the health check, and whether CloudWatch was polled yet is timing
		}
		cs = append(cs, fmt.Sprintf("%v=%v/%v", m["type"], m["status"], m["reason"]))
	}
	slices.Sort(cs)
	_, active, _ := unstructured.NestedMap(u.Object, "status", "activeRun")
	return fmt.Sprintf("behind=%v suspended=%v activeRun=%v conditions=[%s]", observed < gen, suspended, active, strings.Join(cs, " "))
}

func conditionsText(qd *v1alpha1.QueueDrainer) string {
	var cs []string
	for _, c := range qd.Status.Conditions {
		cs = append(cs, fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason))
	}
	return strings.Join(cs, " ")
}
