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
	"math"
	"strconv"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/test/localcluster"
	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

// The drainWithin scenario's numbers. Each worker hands its messages to
// test/cmd/noophttp in a native sidecar that answers after handlerDelay, two at
// a time, so that a worker drains about 2 / 4 ms = 500 msg/s and workers add
// up, as they do against a real downstream service (a CPU-bound no-op
// handler would not: 4 workers on 2 cores do not go 4 times as fast).
const (
	drainWithin       = 30 * time.Second
	handlerDelay      = "4ms"
	handlerParallel   = "2"
	firstBacklog      = 12000  // one worker, about 25 s: teaches the throughput
	deadlineWorkers   = 4      // the second backlog needs this many at the learned rate
	messagesPerWorker = 100000 // alone it would give either backlog one worker
	drainWithinSlack  = 0.2    // the second run must finish within ±20% of drainWithin
)

// TestDrainWithin: after one run has taught status.throughput, a run with
// workers.drainWithin is sized to finish within the deadline, and does.
// It runs alone (after TestEndToEnd in the suite) so that the two runs'
// speeds are comparable.
func TestDrainWithin(t *testing.T) {
	s := newScenario(t, "deadline")
	s.createDrainer(v1alpha1.Triggers{QueueDepth: ptr.To[int64](10000000)}, httpWorkerTemplate(), func(spec *v1alpha1.QueueDrainerSpec) {
		spec.Workers = v1alpha1.WorkerPolicy{MessagesPerWorker: messagesPerWorker, Min: 1, Max: 10}
		spec.Cooldown = &metav1.Duration{Duration: time.Second}
	})

	// Run 1: no throughput known, so drainWithin could not be honoured
	// yet; it is not set. One worker by messagesPerWorker.
	first := s.drainOnRequest(1, firstBacklog)
	if first.Workers != 1 {
		t.Fatalf("run 1 ran %d workers at once, want 1", first.Workers)
	}
	learned := s.drainer().Status.Throughput
	if learned == nil {
		t.Fatalf("no throughput learned from run 1: %+v", first)
	}
	rate, err := strconv.ParseFloat(learned.MessagesPerWorkerSecond, 64)
	kubetest.Must(t, err)

	// Run 2: drainWithin set, and a backlog that needs deadlineWorkers
	// workers at the learned rate (a little under, so that the ceiling
	// lands on deadlineWorkers), where messagesPerWorker alone gives 1.
	qd := s.drainer()
	patch := client.MergeFrom(qd.DeepCopy())
	qd.Spec.Workers.DrainWithin = &metav1.Duration{Duration: drainWithin}
	kubetest.Must(t, k8s.Patch(context.Background(), qd, patch))
	backlog := int(math.Floor(rate * drainWithin.Seconds() * (deadlineWorkers - 0.05)))
	if backlog >= messagesPerWorker {
		t.Fatalf("learned %.1f msg/s per worker: a backlog of %d would not show drainWithin (messagesPerWorker %d)", rate, backlog, messagesPerWorker)
	}
	second := s.drainOnRequest(2, backlog)
	took := second.FinishedAt.Sub(second.StartedAt.Time)
	ratio := took.Seconds() / drainWithin.Seconds()
	report(t, "drainWithin: run 1, %d messages, 1 worker, %s (recorded %s msg/s) taught %s msg/s per worker; "+
		"run 2, %d messages, drainWithin %s: %d workers wanted (messagesPerWorker alone: 1), %d ran at once, finished in %s, "+
		"%.2fx the deadline (%s msg/s)",
		firstBacklog, first.FinishedAt.Sub(first.StartedAt.Time), first.MessagesPerSecond, learned.MessagesPerWorkerSecond,
		backlog, drainWithin, second.WorkersWanted, second.Workers, took, ratio, second.MessagesPerSecond)
	if second.WorkersWanted != deadlineWorkers {
		t.Errorf("run 2 wanted %d workers, want %d (learned %.1f msg/s per worker, backlog %d, drainWithin %s)",
			second.WorkersWanted, deadlineWorkers, rate, backlog, drainWithin)
	}
	if math.Abs(ratio-1) > drainWithinSlack {
		t.Errorf("run 2 took %s, %.2fx drainWithin %s: not within ±%.0f%%", took, ratio, drainWithin, 100*drainWithinSlack)
	}
}

// drainOnRequest fills the queue with n messages, asks for run number run
// once the operator has polled them all, and returns its record.
func (s *scenario) drainOnRequest(run, n int) v1alpha1.RunRecord {
	s.t.Helper()
	s.send(n, nil)
	// status.queue is renewed less often than the queue is polled (only
	// what matters to a decision wakes the drainer), so wait for SQS to
	// count them all, then for two polls of the operator's.
	kubetest.Eventually(s.t, 30*time.Second, fmt.Sprintf("%d messages in the queue", n), func() string {
		if v, f := s.messages(); v != n || f != 0 {
			return fmt.Sprintf("%d visible, %d in flight", v, f)
		}
		return ""
	})
	time.Sleep(2 * time.Second)
	annotate(s.t, s, v1alpha1.DrainRequestAnnotation, fmt.Sprintf("deadline-%d", run))
	rec := s.waitRecorded(run, 3*time.Minute)
	if rec.Result != v1alpha1.RunSucceeded || processed(rec) != int64(n) || rec.MessagesAtStart != int64(n) {
		s.t.Fatalf("run %d recorded %s with %d processed, %d at its start; want Succeeded with %d: %+v",
			run, rec.Result, processed(rec), rec.MessagesAtStart, n, rec)
	}
	return rec
}

// httpWorkerTemplate runs drain-worker --http with test/cmd/noophttp as its
// native sidecar, both on the pod's address (the local cluster gives each
// pod its own on the loopback): the sidecar answers 204 after
// handlerDelay, and the worker handles handlerParallel messages at once.
func httpWorkerTemplate() batchv1.JobTemplateSpec {
	podIP := corev1.EnvVar{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}
	return batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
		BackoffLimit: ptr.To[int32](2),
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To[int64](10),
			InitContainers: []corev1.Container{{
				Name:          "handler",
				Image:         localcluster.HandlerImage + ":latest",
				RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				Args:          []string{"--listen", "$(POD_IP):8080", "--delay", handlerDelay},
				Env:           []corev1.EnvVar{podIP},
				Ports:         []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				StartupProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}},
					PeriodSeconds: 1,
				},
			}},
			Containers: []corev1.Container{{
				Name:  "drain-worker",
				Image: localcluster.WorkerImage + ":latest",
				// Few receivers: each holds what it received until a
				// handler is free, and the workers should share the
				// backlog evenly to the end.
				Args: []string{"--wait-time=2s", "--grace-period=2s", "--receivers=4", "--concurrency=" + handlerParallel,
					"--http", "http://$(POD_IP):8080/"},
				Env: []corev1.EnvVar{podIP},
			}},
		}},
	}}
}
