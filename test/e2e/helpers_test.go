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

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/sqsstats"
	"github.com/queuedrainer/queue-drainer/test/emulator"
	"github.com/queuedrainer/queue-drainer/test/load"
	"github.com/queuedrainer/queue-drainer/test/localcluster"
	"github.com/queuedrainer/queue-drainer/testutil/fixture"
	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

// scenario is one drainer in its own namespace, with its own queue.
type scenario struct {
	t        *testing.T
	key      types.NamespacedName
	queueURL string // the emulator's URL for the queue
}

func newScenario(t *testing.T, name string) *scenario {
	t.Helper()
	ctx := context.Background()
	ns := fmt.Sprintf("e2e-%d-%s", nsSeq.Add(1), name)
	kubetest.Must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	url, err := emulator.CreateQueue(ctx, sqsAPI, ns, nil)
	kubetest.Must(t, err)
	return &scenario{t: t, key: types.NamespacedName{Namespace: ns, Name: name}, queueURL: url}
}

// workerTemplate runs drain-worker with a host command as its handler,
// finding the queue empty after one 2 s long poll.
func workerTemplate(handler ...string) batchv1.JobTemplateSpec {
	args := append([]string{"--wait-time=2s", "--grace-period=2s", "--exec", "--"}, handler...)
	return batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
		BackoffLimit: ptr.To[int32](2),
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To[int64](10),
			Containers: []corev1.Container{{
				Name:  "drain-worker",
				Image: localcluster.WorkerImage + ":latest",
				Args:  args,
				// The emulators' endpoints and credentials come from the
				// operator (--consumer-env), as in the demo.
			}},
		}},
	}}
}

// createDrainer creates the scenario's drainer: poll every second, the
// given triggers and template, then edit as the scenario needs.
func (s *scenario) createDrainer(triggers v1alpha1.Triggers, tmpl batchv1.JobTemplateSpec, edit func(*v1alpha1.QueueDrainerSpec)) {
	s.t.Helper()
	qd := fixture.Drainer(s.key.Namespace, s.key.Name,
		fixture.QueueURL(emulator.CanonicalURL(s.key.Namespace)),
		fixture.Triggers(triggers),
		fixture.Template(tmpl),
		fixture.PollInterval(time.Second))
	if edit != nil {
		edit(&qd.Spec)
	}
	kubetest.Must(s.t, k8s.Create(context.Background(), qd))
	// Wait until the operator watches the queue, so that what follows is
	// measured from a polled state.
	kubetest.Eventually(s.t, 30*time.Second, "the drainer is Ready", func() string {
		got := s.drainer()
		if c := kubetest.Condition(got, v1alpha1.ConditionReady); c.Status != metav1.ConditionTrue {
			return fmt.Sprintf("Ready=%s %s: %s", c.Status, c.Reason, c.Message)
		}
		return ""
	})
}

func (s *scenario) drainer() *v1alpha1.QueueDrainer { return kubetest.Drainer(s.t, k8s, s.key) }
func (s *scenario) jobs() []batchv1.Job             { return kubetest.Jobs(s.t, k8s, s.key) }

// send puts n messages into the queue; progress, if set, sees the counts.
func (s *scenario) send(n int, progress func(load.Result)) load.Result {
	s.t.Helper()
	res, err := load.Send(context.Background(), sqsAPI, s.queueURL, load.Options{
		Count: n, Concurrency: 8, Progress: progress, ProgressEvery: 10 * time.Millisecond})
	kubetest.Must(s.t, err)
	return res
}

// messages returns the queue's visible and in-flight counts.
func (s *scenario) messages() (visible, inFlight int) {
	s.t.Helper()
	c, err := sqsstats.CountsAt(context.Background(), sqsAPI, s.queueURL)
	kubetest.Must(s.t, err)
	return int(c.Visible), int(c.InFlight)
}

// waitJob waits for the drainer's Job of run n.
func (s *scenario) waitJob(n int, within time.Duration) batchv1.Job {
	s.t.Helper()
	name := fmt.Sprintf("%s-%d", s.key.Name, n)
	var job batchv1.Job
	kubetest.Eventually(s.t, within, "Job "+name, func() string {
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: s.key.Namespace, Name: name}, &job); err != nil {
			return err.Error()
		}
		return ""
	})
	return job
}

// waitRecorded waits until run n is in the drainer's history.
func (s *scenario) waitRecorded(n int, within time.Duration) v1alpha1.RunRecord {
	s.t.Helper()
	name := fmt.Sprintf("%s-%d", s.key.Name, n)
	var rec v1alpha1.RunRecord
	kubetest.Eventually(s.t, within, "run "+name+" in the history", func() string {
		qd := s.drainer()
		for _, r := range qd.Status.History {
			if r.Name == name {
				rec = r
				return ""
			}
		}
		if qd.Status.ActiveRun != nil {
			return fmt.Sprintf("active run %s with %d workers; queue %s", qd.Status.ActiveRun.Name, qd.Status.ActiveRun.Workers, queueText(qd))
		}
		return fmt.Sprintf("history %d runs; queue %s", len(qd.Status.History), queueText(qd))
	})
	return rec
}

func queueText(qd *v1alpha1.QueueDrainer) string {
	if qd.Status.Queue == nil {
		return "not observed"
	}
	return fmt.Sprintf("%d visible, %d in flight", qd.Status.Queue.VisibleMessages, qd.Status.Queue.InFlightMessages)
}

// pods lists the pods of a Job.
func pods(t *testing.T, namespace, job string) []corev1.Pod {
	t.Helper()
	var list corev1.PodList
	kubetest.Must(t, k8s.List(context.Background(), &list, client.InNamespace(namespace),
		client.MatchingLabels{batchv1.JobNameLabel: job}))
	return list.Items
}

func running(p corev1.Pod) bool {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running != nil {
			return true
		}
	}
	return false
}

func jobCondition(job batchv1.Job, typ batchv1.JobConditionType) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == typ && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func processed(r v1alpha1.RunRecord) int64 { return ptr.Deref(r.MessagesProcessed, -1) }
