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
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/test/localcluster"
	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

const (
	helmRelease   = "qd"
	helmNamespace = "queue-drainer"
	// helmDeployment is the chart's fullname for the release.
	helmDeployment = helmRelease + "-queue-drainer"
	crdName        = "queuedrainers.drain.queuedrainer.io"
)

// The operator installed with its Helm chart in place of config/default, as
// a cluster operator would: install, drain a queue, upgrade to a changed
// value while a run is active (the run survives), roll back, uninstall (the
// CRD and the drainers stay). It runs after the other tests, alone, and
// puts config/default's operator back when it ends.
func TestHelmChart(t *testing.T) {
	ctx := context.Background()
	root := localcluster.RepoRoot()
	helm := filepath.Join(root, "bin", "helm")
	if _, err := os.Stat(helm); err != nil {
		t.Fatalf("%s: run make helm", helm)
	}
	chart := filepath.Join(root, "charts", "queue-drainer")

	// One operator at a time: config/default's leaves, and comes back at the end.
	removeKustomizeOperator(t)
	t.Cleanup(func() {
		kubetest.Must(t, stack.DeployOperator(ctx, filepath.Join(root, "bin", "kustomize"), cloudWatchPeriod,
			[]string{"--workers-pending-grace=" + pendingGrace.String()}))
	})
	// The namespace enforces the restricted Pod Security Standard: the API
	// server refuses a manager pod that does not meet it.
	kubetest.Must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: helmNamespace,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}))
	// The CRD config/default installed is adopted by the release, as when a
	// cluster moves from `make deploy` to the chart (README, "Install with Helm").
	adoptCRD(t)

	values := map[string]any{
		"cloudWatchPeriod":    cloudWatchPeriod.String(),
		"workersPendingGrace": pendingGrace.String(),
		"consumerEnv":         map[string]string{},
		// Pods share the host's network here: the kernel picks the ports,
		// so that the rolling update's new pod does not collide with the old.
		"extraArgs": []string{"--metrics-bind-address=127.0.0.1:0", "--health-probe-bind-address=127.0.0.1:0"},
	}
	for _, e := range stack.AWSEnv() {
		values["consumerEnv"].(map[string]string)[e.Name] = e.Value
	}
	valuesFile := filepath.Join(t.TempDir(), "values.yaml")
	data, err := yaml.Marshal(values)
	kubetest.Must(t, err)
	kubetest.Must(t, os.WriteFile(valuesFile, data, 0o600))

	start := time.Now()
	runHelm(t, "install", helmRelease, chart, "-n", helmNamespace, "-f", valuesFile, "--wait", "--timeout", "2m")
	installed := helmManagerPod(t, "")
	report(t, "helm install: manager %s running %s after the install began", installed.Name, time.Since(start).Round(100*time.Millisecond))
	if img := installed.Spec.Containers[0].Image; !strings.HasPrefix(img, localcluster.ManagerImage+":") {
		t.Fatalf("manager image %s, want the chart's %s", img, localcluster.ManagerImage)
	}

	// A run under the chart's operator, upgraded while it is active.
	const messages = 60 // 30 s at the slow drainer's 2 messages a second
	s := newScenario(t, "helm")
	s.createSlowDrainer()
	s.send(messages, nil)
	job := s.waitJob(1, 15*time.Second)
	s.waitWorkerRunning(job)

	start = time.Now()
	runHelm(t, "upgrade", helmRelease, chart, "-n", helmNamespace, "-f", valuesFile, "--set", "maxConcurrentReconciles=4",
		"--wait", "--timeout", "2m")
	upgraded := helmManagerPod(t, "--max-concurrent-reconciles=4")
	rolled := time.Since(start)
	if upgraded.UID == installed.UID {
		t.Fatal("helm upgrade kept the manager pod; a changed flag must roll it")
	}
	if s.drainer().Status.ActiveRun == nil {
		t.Fatal("the run ended before the upgrade had rolled the manager: nothing was shown about a run surviving it")
	}
	kubetest.Eventually(t, time.Minute, "the upgraded operator observing the queue", func() string {
		if q := s.drainer().Status.Queue; q == nil || !q.ObservedAt.After(upgraded.CreationTimestamp.Time) {
			return "status not refreshed since the upgraded manager started"
		}
		return ""
	})
	rec := s.waitRecorded(1, 2*time.Minute)
	if rec.Result != v1alpha1.RunSucceeded || processed(rec) != messages {
		t.Fatalf("run recorded %s with %d processed, want Succeeded with %d", rec.Result, processed(rec), messages)
	}
	if jobs := s.jobs(); len(jobs) != 1 || jobs[0].UID != job.UID {
		t.Fatalf("%d Jobs after the upgrade, want the one run's", len(jobs))
	}
	report(t, "helm upgrade mid-run: manager rolled to %s in %s; run %s went on and recorded %d processed, 1 Job",
		upgraded.Name, rolled.Round(100*time.Millisecond), rec.Name, processed(rec))

	// Roll back to the first release: the first flags, and an operator that acts.
	runHelm(t, "rollback", helmRelease, "1", "-n", helmNamespace, "--wait", "--timeout", "2m")
	back := helmManagerPod(t, "")
	if hasArg(back, "--max-concurrent-reconciles=4") {
		t.Fatalf("after the rollback the manager still runs with %v", back.Spec.Containers[0].Args)
	}
	const more = 4 // below the depth trigger: only the request starts the run
	s.send(more, nil)
	requestDrain(t, s)
	if rec := s.waitRecorded(2, time.Minute); rec.Result != v1alpha1.RunSucceeded || processed(rec) != more {
		t.Fatalf("after the rollback, run %s recorded %s with %d processed, want Succeeded with %d", rec.Name, rec.Result, processed(rec), more)
	}

	// Uninstall: the operator goes; the CRD and the drainers stay.
	runHelm(t, "uninstall", helmRelease, "-n", helmNamespace, "--wait", "--timeout", "2m")
	var d appsv1.Deployment
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: helmNamespace, Name: helmDeployment}, &d); !apierrors.IsNotFound(err) {
		t.Fatalf("the Deployment after helm uninstall: %v, want it gone", err)
	}
	crd := queueDrainerCRD()
	kubetest.Must(t, k8s.Get(ctx, client.ObjectKeyFromObject(crd), crd))
	if crd.GetDeletionTimestamp() != nil {
		t.Fatal("helm uninstall is deleting the CRD, which would delete every drainer")
	}
	if qd := s.drainer(); len(qd.Status.History) != 2 {
		t.Fatalf("the drainer after helm uninstall has %d runs in its history, want 2", len(qd.Status.History))
	}
	report(t, "helm rollback and uninstall: run 2 after the rollback drained %d; after uninstall the CRD and the drainer (2 runs) remain", more)
}

func runHelm(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(localcluster.RepoRoot(), "bin", "helm"), append(args, "--kubeconfig", stack.Kubeconfig)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("helm %s:\n%s", args[0], strings.TrimSpace(string(out)))
}

// helmManagerPod waits for the release's one manager pod, running, none
// other left, with arg among its flags if given.
func helmManagerPod(t *testing.T, arg string) corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	kubetest.Eventually(t, 2*time.Minute, "one running manager pod of the release", func() string {
		var list corev1.PodList
		kubetest.Must(t, k8s.List(context.Background(), &list, client.InNamespace(helmNamespace)))
		if len(list.Items) != 1 {
			return fmt.Sprintf("%d pods", len(list.Items))
		}
		pod = list.Items[0]
		if !running(pod) || pod.DeletionTimestamp != nil {
			return "pod " + pod.Name + " not running"
		}
		if arg != "" && !hasArg(pod, arg) {
			return fmt.Sprintf("pod %s args %v, want %s", pod.Name, pod.Spec.Containers[0].Args, arg)
		}
		return ""
	})
	return pod
}

func hasArg(p corev1.Pod, arg string) bool { return slices.Contains(p.Spec.Containers[0].Args, arg) }

// queueDrainerCRD is the CRD, to read or patch by name.
func queueDrainerCRD() *unstructured.Unstructured {
	crd := &unstructured.Unstructured{}
	crd.SetAPIVersion("apiextensions.k8s.io/v1")
	crd.SetKind("CustomResourceDefinition")
	crd.SetName(crdName)
	return crd
}

// removeKustomizeOperator deletes config/default's Deployment and waits for
// its pods to be gone.
func removeKustomizeOperator(t *testing.T) {
	t.Helper()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: localcluster.OperatorNamespace, Name: localcluster.OperatorDeployment}}
	kubetest.Must(t, k8s.Delete(context.Background(), d, client.PropagationPolicy(metav1.DeletePropagationForeground)))
	kubetest.Eventually(t, time.Minute, "config/default's operator gone", func() string {
		if p := operatorPod(t); p.Name != "" {
			return "pod " + p.Name + " still there"
		}
		return ""
	})
}

// adoptCRD marks the installed CRD as the release's, which is what Helm
// asks before it takes over an object it did not create.
func adoptCRD(t *testing.T) {
	t.Helper()
	crd := queueDrainerCRD()
	patch := fmt.Sprintf(`{"metadata":{"labels":{"app.kubernetes.io/managed-by":"Helm"},`+
		`"annotations":{"meta.helm.sh/release-name":%q,"meta.helm.sh/release-namespace":%q}}}`, helmRelease, helmNamespace)
	kubetest.Must(t, k8s.Patch(context.Background(), crd, client.RawPatch(types.MergePatchType, []byte(patch))))
}

// requestDrain sets the drainer's manual request annotation.
func requestDrain(t *testing.T, s *scenario) {
	t.Helper()
	qd := s.drainer()
	patch := client.MergeFrom(qd.DeepCopy())
	qd.Annotations = map[string]string{v1alpha1.DrainRequestAnnotation: time.Now().UTC().Format(time.RFC3339Nano)}
	kubetest.Must(t, k8s.Patch(context.Background(), qd, patch))
}
