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

// Package kubetest holds what the envtest suites share: starting a real
// kube-apiserver and etcd with the project's CRD, and waiting for what a
// user would see on the API server. It belongs to the product's module, for
// the product's own envtest tests (controllers, api/v1alpha1,
// cmd/kubectl-queuedrainer), and the test module (test/) imports it too; it
// imports nothing the product's go.mod does not already need.
package kubetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
)

// Tick is how often the waiting helpers look again.
const Tick = 100 * time.Millisecond

// Scheme knows the Kubernetes types and the QueueDrainer API.
func Scheme() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Start runs kube-apiserver and etcd from KUBEBUILDER_ASSETS with the
// project's CRD installed. The caller stops the environment.
func Start() (*envtest.Environment, *rest.Config, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, nil, errors.New("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, which builds kube-apiserver and etcd")
	}
	_, file, _, _ := runtime.Caller(0)
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(filepath.Dir(file), "..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("starting envtest: %w", err)
	}
	return env, cfg, nil
}

// Eventually retries cond until it returns "" or the time is up; the last
// non-empty answer says what was seen instead.
func Eventually(t testing.TB, within time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		if last = cond(); last == "" {
			return
		}
		time.Sleep(Tick)
	}
	t.Fatalf("%s: still not true after %s: %s", what, within, last)
}

// Never fails as soon as cond returns a non-empty answer during the period.
func Never(t testing.TB, during time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(during)
	for time.Now().Before(deadline) {
		if got := cond(); got != "" {
			t.Fatalf("%s: %s", what, got)
		}
		time.Sleep(Tick)
	}
}

// Drainer reads a QueueDrainer.
func Drainer(t testing.TB, c client.Client, key types.NamespacedName) *v1alpha1.QueueDrainer {
	t.Helper()
	qd := &v1alpha1.QueueDrainer{}
	Must(t, c.Get(context.Background(), key, qd))
	return qd
}

// Jobs lists the Jobs labelled as the drainer's.
func Jobs(t testing.TB, c client.Client, key types.NamespacedName) []batchv1.Job {
	t.Helper()
	var list batchv1.JobList
	Must(t, c.List(context.Background(), &list, client.InNamespace(key.Namespace), client.MatchingLabels{v1alpha1.DrainerLabel: key.Name}))
	return list.Items
}

// Condition returns a condition of the drainer, or a zero one.
func Condition(qd *v1alpha1.QueueDrainer, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(qd.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// WaitEvent waits for an Event about the drainer with this reason whose
// note contains noting ("" for any note). The manager records Events
// through a broadcaster, after the status write that tells the same news:
// a test that has seen the status must still wait for the Event.
func WaitEvent(t testing.TB, c client.Client, key types.NamespacedName, reason, noting string, within time.Duration) eventsv1.Event {
	t.Helper()
	var found *eventsv1.Event
	Eventually(t, within, fmt.Sprintf("event %s noting %q", reason, noting), func() string {
		if found = FindEvent(t, c, key, reason, noting); found == nil {
			return "none yet"
		}
		return ""
	})
	return *found
}

// FindEvent returns an Event about the drainer with this reason whose note
// contains noting ("" for any note), or nil.
func FindEvent(t testing.TB, c client.Client, key types.NamespacedName, reason, noting string) *eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	Must(t, c.List(context.Background(), &list, client.InNamespace(key.Namespace)))
	for i, e := range list.Items {
		if e.Regarding.Name == key.Name && e.Reason == reason && strings.Contains(e.Note, noting) {
			return &list.Items[i]
		}
	}
	return nil
}

// Must stops the test on an error.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// OfKind returns the objects of a kind, converted to their Go type; a field
// the type does not know fails the test (rendered manifests are checked
// with it).
func OfKind[T any](t *testing.T, objs []*unstructured.Unstructured, kind string) []T {
	t.Helper()
	var typed []T
	for _, o := range objs {
		if o.GetKind() != kind {
			continue
		}
		var v T
		if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, &v, true); err != nil {
			t.Fatalf("%s %s: %v", kind, o.GetName(), err)
		}
		typed = append(typed, v)
	}
	return typed
}
