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

// Package chart tests the Helm chart charts/queue-drainer with the real helm
// (bin/helm, `make helm`): lint, the rendered objects with default values
// and with every option on, the values schema, and that the chart's CRD,
// RBAC, alerts and dashboard are those generated under config/.
package chart

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/queuedrainer/queue-drainer/test/localcluster"
	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

const (
	release   = "qd"
	namespace = "ops"
)

func root() string { return localcluster.RepoRoot() }

func chartDir() string { return filepath.Join(root(), "charts", "queue-drainer") }

// everything is the values file that turns every option on.
func everything() string {
	return filepath.Join(root(), "test", "chart", "testdata", "everything.yaml")
}

// helm runs bin/helm with its own empty home, so that no user's repositories,
// plugins or cluster take part.
func helm(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	bin := filepath.Join(root(), "bin", "helm")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s not found: run make helm", bin)
	}
	home := helmHome(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"),
	)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

var (
	homeOnce sync.Once
	homeDir  string
)

func helmHome(t *testing.T) string {
	homeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "chart-test-helm-")
		if err != nil {
			t.Fatal(err)
		}
		homeDir = dir
	})
	return homeDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if homeDir != "" {
		_ = os.RemoveAll(homeDir)
	}
	os.Exit(code)
}

var (
	renderMu    sync.Mutex
	renderCache = map[string][]byte{}
)

// template runs `helm template qd charts/queue-drainer -n ops` with the given
// extra arguments (values files, --set) and returns its output; a failure
// fails the test.
func template(t *testing.T, args ...string) []byte {
	t.Helper()
	key := strings.Join(args, "\x00")
	renderMu.Lock()
	defer renderMu.Unlock()
	if out, ok := renderCache[key]; ok {
		return out
	}
	stdout, stderr, err := helm(t, append([]string{"template", release, chartDir(), "--namespace", namespace}, args...)...)
	if err != nil {
		t.Fatalf("helm template %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	renderCache[key] = []byte(stdout)
	return []byte(stdout)
}

// rendered decodes the output of template, one object per entry.
func rendered(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := localcluster.Objects(template(t, args...))
	if err != nil {
		t.Fatalf("decoding the rendered chart: %v", err)
	}
	if len(objs) == 0 {
		t.Fatal("the chart rendered no objects")
	}
	return objs
}

// valuesFile writes values to a temporary file and returns its path.
func valuesFile(t *testing.T, values string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(path, []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// one returns the object of a kind and name, converted to its Go type.
func one[T any](t *testing.T, objs []*unstructured.Unstructured, kind, name string) T {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("rendered %d %s named %q, want 1; rendered: %v", len(found), kind, name, inventory(objs))
	}
	return kubetest.OfKind[T](t, found, kind)[0]
}

// find returns the unstructured object of a kind and name, or nil.
func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// inventory lists the objects as Kind/name, in order.
func inventory(objs []*unstructured.Unstructured) []string {
	var names []string
	for _, o := range objs {
		names = append(names, o.GetKind()+"/"+o.GetName())
	}
	return names
}

// version is the project's version (the VERSION file).
func version(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(), "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		t.Fatal("VERSION is empty")
	}
	return v
}

// sourceObjects decodes a manifest of the repository (a path from its root).
func sourceObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(), path))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := localcluster.Objects(b)
	if err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	if len(objs) == 0 {
		t.Fatalf("%s holds no object", path)
	}
	return objs
}
