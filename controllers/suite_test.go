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

package controllers_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/controllers"
	"github.com/queuedrainer/queue-drainer/internal/plan"
	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

// The suite runs the real manager against a real kube-apiserver and etcd.
// There is no Job controller in envtest: tests finish Jobs by writing their
// status, and garbage collection does not run.
var (
	k8s      client.Client
	clk      = &steppingClock{}
	observer = newFakeObserver()
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true), zap.Level(zapLevel())))
	env, cfg, err := kubetest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()

	scheme := kubetest.Scheme()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Cache:   controllers.CacheOptions(),
		Metrics: metricsserver.Options{BindAddress: "0"},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating manager:", err)
		return 1
	}
	r := &controllers.QueueDrainerReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("queue-drainer"),
		Clock:     clk,
		Observer:  observer,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		fmt.Fprintln(os.Stderr, "setting up controller:", err)
		return 1
	}
	observer.notify = r.Notify
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager stopped:", err)
		}
	}()
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating client:", err)
		return 1
	}
	return m.Run()
}

func zapLevel() zapcore.Level {
	if os.Getenv("TEST_VERBOSE_LOGS") != "" {
		return -1
	}
	return 2 // errors only; TEST_VERBOSE_LOGS=1 shows the manager's logs
}

// fakeObserver serves observations set by the tests, per drainer; the
// default is a reachable, empty queue. Like the real observer, it tells the
// reconciler of each new observation, which wakes the drainer if it matters.
type fakeObserver struct {
	mu        sync.Mutex
	obs       map[types.NamespacedName]plan.Observation
	read      map[types.NamespacedName]plan.Observation
	forgotten map[types.NamespacedName]bool
	notify    func(d types.NamespacedName, last, next plan.Observation)
}

func newFakeObserver() *fakeObserver {
	return &fakeObserver{obs: map[types.NamespacedName]plan.Observation{}, read: map[types.NamespacedName]plan.Observation{},
		forgotten: map[types.NamespacedName]bool{}}
}

func (f *fakeObserver) Observe(_ context.Context, d types.NamespacedName, _ v1alpha1.QueueSpec, _ time.Duration) (plan.Observation, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.obs[d]
	if o.At.IsZero() {
		o.At = clk.Now()
	}
	f.read[d] = o
	return o, true
}

func (f *fakeObserver) Forget(d types.NamespacedName) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.obs, d)
	f.forgotten[d] = true
}

func (f *fakeObserver) set(d types.NamespacedName, o plan.Observation) {
	f.mu.Lock()
	o.At = clk.Now()
	f.obs[d] = o
	last := f.read[d]
	f.mu.Unlock()
	f.notify(d, last, o)
}

// wake makes the drainer look again, as a deadline passing would on the
// operator's clock after a test stepped it.
func (f *fakeObserver) wake(d types.NamespacedName) {
	f.mu.Lock()
	o := f.obs[d]
	f.mu.Unlock()
	o.At = clk.Now()
	f.notify(d, plan.Observation{}, o) // a first observation always matters
}

func (f *fakeObserver) wasForgotten(d types.NamespacedName) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.forgotten[d]
}

// steppingClock is real time plus an offset that tests step forward. The
// API server stamps Jobs with real time, so a frozen fake clock would fall
// behind them; this one stays consistent and can still skip ahead.
type steppingClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *steppingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *steppingClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

func (c *steppingClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}
