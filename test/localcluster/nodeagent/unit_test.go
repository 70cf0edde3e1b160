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

package nodeagent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "alpha", "B": "beta", "EMPTY": ""}
	lookup := func(name string) (string, bool) { v, ok := vars[name]; return v, ok }
	for in, want := range map[string]string{
		"plain":               "plain",
		"$(A)":                "alpha",
		"$(A)-$(B)":           "alpha-beta",
		"x$(EMPTY)y":          "xy",
		"$$(A)":               "$(A)",
		"$$$(A)":              "$alpha",
		"$(UNKNOWN)":          "$(UNKNOWN)",
		"$(A":                 "$(A",
		"$(A $$":              "$(A $",       // unterminated: the rest is expanded
		"$(A $$ $(B)":         "$(A $$ $(B)", // one unknown name, "A $$ $(B"
		"cost $5":             "cost $5",
		"trailing $":          "trailing $",
		"$()":                 "$()",
		"$(A)$(B)$$(A)$(A)$$": "alphabeta$(A)alpha$",
	} {
		if got := expand(in, lookup); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestImageLookup(t *testing.T) {
	a := &Agent{images: map[string]string{
		"example.com/app":        "/bin/app",
		"example.com/app:v2":     "/bin/app-v2",
		"localhost:5000/tool":    "/bin/tool",
		"docker.io/library/base": "",
	}}
	for image, want := range map[string]string{
		"example.com/app:v1":              "/bin/app",
		"example.com/app:v2":              "/bin/app-v2",
		"example.com/app@sha256:abc":      "/bin/app",
		"example.com/app:v2@sha256:abc":   "/bin/app",
		"localhost:5000/tool":             "/bin/tool",
		"localhost:5000/tool:1":           "/bin/tool",
		"docker.io/library/base:bookworm": "",
	} {
		if got, ok := a.imageBinary(image); !ok || got != want {
			t.Errorf("imageBinary(%q) = %q, %v; want %q", image, got, ok, want)
		}
	}
	for _, image := range []string{"example.com/other:v1", "localhost:5000", "app"} {
		if got, ok := a.imageBinary(image); ok {
			t.Errorf("imageBinary(%q) = %q, want no binary", image, got)
		}
	}
}

func TestCommandLine(t *testing.T) {
	a := &Agent{images: map[string]string{"worker": "/opt/worker", "shell": ""}}
	env := map[string]string{"PATH": "/usr/bin:/bin", "Q": "orders"}
	for _, tc := range []struct {
		c    corev1.Container
		want string
	}{
		{corev1.Container{Image: "worker:1", Args: []string{"--queue", "$(Q)"}}, "/opt/worker --queue orders"},
		{corev1.Container{Image: "worker", Command: []string{"/drain-worker", "--exec"}, Args: []string{"--", "x"}}, "/opt/worker --exec -- x"},
		{corev1.Container{Image: "shell", Command: []string{"sh", "-c"}, Args: []string{"echo $(Q)"}}, "sh -c echo orders"},
	} {
		argv, err := a.commandLine(&tc.c, env)
		if err != nil {
			t.Errorf("%+v: %v", tc.c, err)
			continue
		}
		if tc.c.Image == "shell" {
			// The host command is resolved on the PATH.
			if !filepath.IsAbs(argv[0]) || filepath.Base(argv[0]) != "sh" {
				t.Errorf("sh resolved to %q", argv[0])
			}
			argv[0] = "sh"
		}
		if got := strings.Join(argv, " "); got != tc.want {
			t.Errorf("%+v: argv %q, want %q", tc.c, got, tc.want)
		}
	}
	if _, err := a.commandLine(&corev1.Container{Image: "shell"}, env); err == nil {
		t.Error("a host image without a command: no error")
	}
	if _, err := a.commandLine(&corev1.Container{Image: "unknown"}, env); !errors.Is(err, errImageNotMapped) {
		t.Errorf("unmapped image: %v", err)
	}
}

func TestLogTails(t *testing.T) {
	if got := lastLines("a\nb\nc\n", 2, 100); got != "b\nc\n" {
		t.Errorf("lastLines 2 = %q", got)
	}
	if got := lastLines("a\nb", 5, 100); got != "a\nb" {
		t.Errorf("lastLines 5 = %q", got)
	}
	if got := lastLines("abcdef\n", 1, 3); got != "ef\n" {
		t.Errorf("lastLines bytes = %q", got)
	}

	path := filepath.Join(t.TempDir(), "log")
	content := strings.Repeat("0123456789\n", 10000) + "last\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for n, want := range map[int]int64{0: int64(len(content)), 1: int64(len(content) - 5), 2: int64(len(content) - 16), 20000: 0} {
		if got, err := tailOffset(f, n); err != nil || got != want {
			t.Errorf("tailOffset(%d) = %d, %v; want %d", n, got, err, want)
		}
	}
}

func TestPodPhase(t *testing.T) {
	running := corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	exited := func(code int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
	}
	restarting := corev1.ContainerStatus{
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}},
	}
	waiting := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}}
	sidecar := corev1.Container{RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}
	for _, tc := range []struct {
		name     string
		policy   corev1.RestartPolicy
		inits    []corev1.Container
		initSt   []corev1.ContainerStatus
		apps     []corev1.ContainerStatus
		terminal bool
		want     corev1.PodPhase
	}{
		{"not started", corev1.RestartPolicyNever, nil, nil, []corev1.ContainerStatus{waiting}, false, corev1.PodPending},
		{"running", corev1.RestartPolicyNever, nil, nil, []corev1.ContainerStatus{running, exited(1)}, false, corev1.PodRunning},
		{"all succeeded", corev1.RestartPolicyOnFailure, nil, nil, []corev1.ContainerStatus{exited(0), exited(0)}, false, corev1.PodSucceeded},
		{"one failed, never", corev1.RestartPolicyNever, nil, nil, []corev1.ContainerStatus{exited(0), exited(2)}, false, corev1.PodFailed},
		{"restarting on failure", corev1.RestartPolicyOnFailure, nil, nil, []corev1.ContainerStatus{restarting}, false, corev1.PodRunning},
		{"always, all exited", corev1.RestartPolicyAlways, nil, nil, []corev1.ContainerStatus{exited(0)}, false, corev1.PodRunning},
		{"always, deleted", corev1.RestartPolicyAlways, nil, nil, []corev1.ContainerStatus{exited(0)}, true, corev1.PodSucceeded},
		{"init running", corev1.RestartPolicyNever, []corev1.Container{{}}, []corev1.ContainerStatus{running}, []corev1.ContainerStatus{waiting}, false, corev1.PodPending},
		{"init failed, never", corev1.RestartPolicyNever, []corev1.Container{{}}, []corev1.ContainerStatus{exited(1)}, []corev1.ContainerStatus{waiting}, false, corev1.PodFailed},
		{"init retrying", corev1.RestartPolicyOnFailure, []corev1.Container{{}}, []corev1.ContainerStatus{restarting}, []corev1.ContainerStatus{waiting}, false, corev1.PodPending},
		{"sidecar running, app done", corev1.RestartPolicyNever, []corev1.Container{sidecar}, []corev1.ContainerStatus{running}, []corev1.ContainerStatus{exited(0)}, false, corev1.PodRunning},
		{"sidecar stopped, app done", corev1.RestartPolicyNever, []corev1.Container{sidecar}, []corev1.ContainerStatus{exited(143)}, []corev1.ContainerStatus{exited(0)}, true, corev1.PodSucceeded},
	} {
		spec := &corev1.PodSpec{RestartPolicy: tc.policy, InitContainers: tc.inits}
		if got := podPhase(spec, tc.initSt, tc.apps, tc.terminal); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
