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

// Package failover runs two operator managers with leader election on one
// API server (envtest), as two replicas of the operator would, and stops
// the leader without releasing its lease, as a crash would.
package failover_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/controllers"
	"github.com/queuedrainer/queue-drainer/internal/plan"
	"github.com/queuedrainer/queue-drainer/testutil/fixture"
	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

// Short leader election timings, so that a failover takes seconds.
const (
	leaseDuration = 4 * time.Second
	renewDeadline = 3 * time.Second
	retryPeriod   = 500 * time.Millisecond
)

func TestMain(m *testing.M) {
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	os.Exit(m.Run())
}

// replica is one operator manager.
type replica struct {
	mgr ctrl.Manager
	// observed counts its reconciles: each one observes the queue.
	observed atomic.Int32
	stop     context.CancelFunc
	done     chan struct{}
}

// Observe reports a reachable queue with 500 visible messages, enough for
// the drainers' depth trigger.
func (r *replica) Observe(context.Context, types.NamespacedName, v1alpha1.QueueSpec, time.Duration) (plan.Observation, bool) {
	r.observed.Add(1)
	return plan.Observation{At: time.Now(), Visible: 500}, true
}

func (r *replica) Forget(types.NamespacedName) {}

func startReplica(t *testing.T, cfg *rest.Config) *replica {
	t.Helper()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  kubetest.Scheme(),
		Cache:                   controllers.CacheOptions(),
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		LeaderElection:          true,
		LeaderElectionID:        "queue-drainer.drain.queuedrainer.io",
		LeaderElectionNamespace: "default",
		LeaseDuration:           ptr.To(leaseDuration),
		RenewDeadline:           ptr.To(renewDeadline),
		RetryPeriod:             ptr.To(retryPeriod),
		// A crashed replica does not hand its lease over.
		LeaderElectionReleaseOnCancel: false,
		// Both replicas live in this process and register the same controller.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	kubetest.Must(t, err)
	r := &replica{mgr: mgr, done: make(chan struct{})}
	kubetest.Must(t, (&controllers.QueueDrainerReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Recorder: mgr.GetEventRecorder("queue-drainer"), Clock: clock.RealClock{}, Observer: r,
	}).SetupWithManager(mgr))
	var ctx context.Context
	ctx, r.stop = context.WithCancel(context.Background())
	go func() {
		defer close(r.done)
		_ = mgr.Start(ctx)
	}()
	t.Cleanup(func() { r.stop(); <-r.done })
	return r
}

func (r *replica) waitElected(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case <-r.mgr.Elected():
	case <-time.After(within):
		t.Fatalf("not elected within %s", within)
	}
}

func TestLeaderCrashFailsOverWithinTheLeaseAndNoJobIsDuplicated(t *testing.T) {
	env, cfg, err := kubetest.Start()
	kubetest.Must(t, err)
	// Cleanups run last first: the replicas stop before the API server.
	t.Cleanup(func() { _ = env.Stop() })
	k8s, err := client.New(cfg, client.Options{Scheme: kubetest.Scheme()})
	kubetest.Must(t, err)
	kubetest.Must(t, k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}))

	a := startReplica(t, cfg)
	a.waitElected(t, 30*time.Second)
	b := startReplica(t, cfg)

	// Only the leader reconciles: it starts the run, the other does nothing.
	first := createDrainer(t, k8s, "first")
	job := waitOneJob(t, k8s, first)
	kubetest.Eventually(t, 10*time.Second, "the run in status", func() string { return activeRunIs(t, k8s, first, job.Name) })
	kubetest.Never(t, 2*time.Second, "the follower reconciles", func() string {
		if n := b.observed.Load(); n != 0 {
			return fmt.Sprintf("the follower reconciled %d times", n)
		}
		return ""
	})
	if a.observed.Load() == 0 {
		t.Fatal("the leader never reconciled")
	}
	select {
	case <-b.mgr.Elected():
		t.Fatal("both replicas are elected")
	default:
	}

	// The leader crashes: it stops renewing and keeps its lease until it expires.
	a.stop()
	crashed := time.Now()
	second := createDrainer(t, k8s, "second")
	b.waitElected(t, 3*leaseDuration)
	elected := time.Since(crashed)
	waitOneJob(t, k8s, second)
	acted := time.Since(crashed)
	t.Logf("FIGURE leader failover: %.1f s to take over the lease, %.1f s until the new leader started a run (lease %s, renew deadline %s, retry %s)",
		elected.Seconds(), acted.Seconds(), leaseDuration, renewDeadline, retryPeriod)
	// The lease expires leaseDuration after the follower last saw it
	// renewed, and the follower looks every retry period (jittered by up to
	// 20%): two of those, plus a second for a loaded machine.
	if limit := leaseDuration + 3*time.Second; elected > limit {
		t.Errorf("took over after %s, want within %s", elected.Round(time.Millisecond), limit)
	}
	if b.observed.Load() == 0 {
		t.Error("the new leader has not reconciled")
	}

	// The run the old leader started is adopted as it is, not started again.
	kubetest.Never(t, 3*time.Second, "one Job per drainer", func() string {
		jobs := kubetest.Jobs(t, k8s, first)
		if len(jobs) != 1 || jobs[0].UID != job.UID {
			return fmt.Sprintf("%d Jobs for %s, want only %s", len(jobs), first.Name, job.Name)
		}
		if n := len(kubetest.Jobs(t, k8s, second)); n != 1 {
			return fmt.Sprintf("%d Jobs for %s, want 1", n, second.Name)
		}
		return activeRunIs(t, k8s, first, job.Name)
	})
}

func createDrainer(t *testing.T, k8s client.Client, name string) types.NamespacedName {
	t.Helper()
	qd := fixture.Drainer("shop", name,
		fixture.Triggers(v1alpha1.Triggers{QueueDepth: ptr.To[int64](100)}),
		fixture.PollInterval(time.Second))
	kubetest.Must(t, k8s.Create(context.Background(), qd))
	return client.ObjectKeyFromObject(qd)
}

func waitOneJob(t *testing.T, k8s client.Client, key types.NamespacedName) batchv1.Job {
	t.Helper()
	var job batchv1.Job
	kubetest.Eventually(t, 20*time.Second, "a Job for "+key.Name, func() string {
		jobs := kubetest.Jobs(t, k8s, key)
		if len(jobs) != 1 {
			return fmt.Sprintf("%d Jobs", len(jobs))
		}
		job = jobs[0]
		return ""
	})
	return job
}

func activeRunIs(t *testing.T, k8s client.Client, key types.NamespacedName, name string) string {
	if r := kubetest.Drainer(t, k8s, key).Status.ActiveRun; r == nil || r.Name != name {
		return fmt.Sprintf("activeRun %+v, want %s", r, name)
	}
	return ""
}
