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
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

func TestNodeRegistered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var node *corev1.Node
	// Not even the taint that admission puts on new nodes is left.
	kubetest.Eventually(t, 10*time.Second, "node Ready, without taints", func() string {
		n, err := client.CoreV1().Nodes().Get(ctx, testNode, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		node = n
		if ready(n).Status != corev1.ConditionTrue || len(n.Spec.Taints) > 0 {
			return fmt.Sprintf("conditions %v, taints %v", n.Status.Conditions, n.Spec.Taints)
		}
		return ""
	})
	for k, v := range map[string]string{corev1.LabelHostname: testNode, corev1.LabelOSStable: "linux"} {
		if node.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, node.Labels[k], v)
		}
	}
	if node.Labels[corev1.LabelArchStable] == "" {
		t.Errorf("no %s label", corev1.LabelArchStable)
	}
	// Room for 30 pods of 250m each, at least.
	if cpu := node.Status.Allocatable.Cpu(); cpu.Cmp(resource.MustParse("7500m")) < 0 {
		t.Errorf("allocatable cpu %s", cpu)
	}
	if pods := node.Status.Allocatable.Pods(); pods.Value() < 30 {
		t.Errorf("allocatable pods %s", pods)
	}
	if !slices.Contains(node.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}) {
		t.Errorf("addresses %v", node.Status.Addresses)
	}
	// The kubelet port is the log server's: it knows no such pod.
	logs := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := logs.Get(fmt.Sprintf("https://127.0.0.1:%d/containerLogs/none/none/none", node.Status.DaemonEndpoints.KubeletEndpoint.Port))
	kubetest.Must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("log server: %s", resp.Status)
	}
	if node.Status.NodeInfo.KubeletVersion == "" || node.Status.NodeInfo.OperatingSystem != "linux" {
		t.Errorf("node info %+v", node.Status.NodeInfo)
	}
	// The agent renews the Lease after it has updated the Node: the Node
	// can be Ready a moment before the Lease exists.
	var lease *coordinationv1.Lease
	kubetest.Eventually(t, 10*time.Second, "the node's Lease", func() string {
		l, err := client.CoordinationV1().Leases(nodeLeaseNamespace).Get(ctx, testNode, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		lease = l
		return ""
	})
	if ptr.Deref(lease.Spec.HolderIdentity, "") != testNode || lease.Spec.RenewTime == nil ||
		time.Since(lease.Spec.RenewTime.Time) > 30*time.Second {
		t.Errorf("lease spec %+v", lease.Spec)
	}
	if len(lease.OwnerReferences) != 1 || lease.OwnerReferences[0].UID != node.UID {
		t.Errorf("lease owners %v, node uid %s", lease.OwnerReferences, node.UID)
	}

	// A heartbeat moves lastHeartbeatTime (whole seconds), not the
	// transition time, and renews the lease.
	time.Sleep(1100 * time.Millisecond)
	kubetest.Must(t, agent.refreshNodeStatus(ctx))
	kubetest.Must(t, agent.renewLease(ctx))
	after, err := client.CoreV1().Nodes().Get(ctx, testNode, metav1.GetOptions{})
	kubetest.Must(t, err)
	before, now := ready(node), ready(after)
	if !now.LastHeartbeatTime.After(before.LastHeartbeatTime.Time) || !now.LastTransitionTime.Equal(&before.LastTransitionTime) {
		t.Errorf("Ready before %+v, after a heartbeat %+v", before, now)
	}
	renewed, err := client.CoordinationV1().Leases(nodeLeaseNamespace).Get(ctx, testNode, metav1.GetOptions{})
	kubetest.Must(t, err)
	if !renewed.Spec.RenewTime.After(lease.Spec.RenewTime.Time) {
		t.Errorf("lease renewed at %v, before at %v", renewed.Spec.RenewTime, lease.Spec.RenewTime)
	}
}

func ready(n *corev1.Node) corev1.NodeCondition {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c
		}
	}
	return corev1.NodeCondition{}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ok := createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "ok"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{selfContainer("main", "exit", "0", "all good")}},
	})
	fallback := shellContainer("fallback", "echo first; echo last; exit 2")
	fallback.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	failing := createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "failing"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{selfContainer("main", "exit", "3", "boom"), fallback}},
	})

	p := waitPod(t, ok, 20*time.Second, "Succeeded", phaseIs(corev1.PodSucceeded))
	s := p.Status.ContainerStatuses[0]
	if term := s.State.Terminated; term == nil || term.ExitCode != 0 || term.Reason != "Completed" || term.Message != "all good" ||
		!strings.HasPrefix(term.ContainerID, "process://") || term.FinishedAt.IsZero() {
		t.Errorf("container status %+v", s)
	}
	if s.Image != selfImage || s.ImageID == "" || s.Ready || s.RestartCount != 0 {
		t.Errorf("container status %+v", s)
	}
	if p.Status.StartTime == nil || !strings.HasPrefix(p.Status.PodIP, podIPPrefix) || p.Status.HostIP != "127.0.0.1" {
		t.Errorf("pod status %+v", p.Status)
	}
	wantConditions(t, p, map[corev1.PodConditionType]corev1.ConditionStatus{
		corev1.PodScheduled: corev1.ConditionTrue, corev1.PodInitialized: corev1.ConditionTrue,
		corev1.ContainersReady: corev1.ConditionFalse, corev1.PodReady: corev1.ConditionFalse,
	})
	waitNoProcesses(t, agent, ok.UID)

	p = waitPod(t, failing, 20*time.Second, "Failed", phaseIs(corev1.PodFailed))
	byName := map[string]*corev1.ContainerStateTerminated{}
	for _, s := range p.Status.ContainerStatuses {
		byName[s.Name] = s.State.Terminated
	}
	if term := byName["main"]; term == nil || term.ExitCode != 3 || term.Reason != "Error" || term.Message != "boom" {
		t.Errorf("main: %+v", term)
	}
	if term := byName["fallback"]; term == nil || term.ExitCode != 2 || term.Message != "first\nlast\n" {
		t.Errorf("fallback: %+v", term)
	}
}

func wantConditions(t *testing.T, p *corev1.Pod, want map[corev1.PodConditionType]corev1.ConditionStatus) {
	t.Helper()
	for typ, status := range want {
		found := false
		for _, c := range p.Status.Conditions {
			if c.Type == typ {
				found = true
				if c.Status != status {
					t.Errorf("condition %s is %s (%s: %s), want %s", typ, c.Status, c.Reason, c.Message, status)
				}
			}
		}
		if !found {
			t.Errorf("no condition %s in %v", typ, p.Status.Conditions)
		}
	}
}

func TestEnvironment(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ctx := context.Background()
	_, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"color": "blue", "size": "L"},
	}, metav1.CreateOptions{})
	kubetest.Must(t, err)
	_, err = client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds"}, Data: map[string][]byte{"password": []byte("hunter2")},
	}, metav1.CreateOptions{})
	kubetest.Must(t, err)

	field := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
	}
	c := selfContainer("main", "env", "$(GREETING)", "$$(GREETING)", "$(MISSING)")
	c.Env = append(c.Env, []corev1.EnvVar{
		{Name: "GREETING", Value: "hello"},
		{Name: "POD_NAME", ValueFrom: field("metadata.name")},
		{Name: "POD_UID", ValueFrom: field("metadata.uid")},
		{Name: "APP", ValueFrom: field("metadata.labels['app']")},
		{Name: "NOTE", ValueFrom: field("metadata.annotations['note']")},
		{Name: "NODE", ValueFrom: field("spec.nodeName")},
		{Name: "POD_IP", ValueFrom: field("status.podIP")},
		{Name: "COMBINED", Value: "$(GREETING)-$(POD_NAME)"},
		{Name: "ESCAPED", Value: "$$(GREETING)"},
		{Name: "MY_HOME", Value: "$(HOME)"},
		{Name: "COLOR", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "color"}}},
		{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "password"}}},
		{Name: "OPTIONAL", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Key: "x", Optional: ptr.To(true)}}},
		{Name: "CPU_MILLIS", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{
			Resource: "limits.cpu", Divisor: resource.MustParse("1m")}}},
	}...)
	c.EnvFrom = []corev1.EnvFromSource{{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}}
	c.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}
	pod := createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "env", Labels: map[string]string{"app": "demo"}, Annotations: map[string]string{"note": "hi"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{c}},
	})
	p := waitPod(t, pod, 20*time.Second, "Succeeded", phaseIs(corev1.PodSucceeded))

	logPath := agent.LogPath(ns, pod.Name, "main")
	out, err := os.ReadFile(logPath)
	kubetest.Must(t, err)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	podDir := filepath.Dir(filepath.Dir(logPath))
	want := []string{
		"arg=hello", "arg=$(GREETING)", "arg=$(MISSING)",
		"GREETING=hello", "POD_NAME=env", "POD_UID=" + string(pod.UID), "APP=demo", "NOTE=hi",
		"NODE=" + testNode, "POD_IP=" + p.Status.PodIP, "COMBINED=hello-env", "ESCAPED=$(GREETING)",
		"MY_HOME=" + podDir, "COLOR=blue", "PASSWORD=hunter2", "CPU_MILLIS=500", "CM_color=blue", "CM_size=L",
		"PATH=" + os.Getenv("PATH"), "HOME=" + podDir, "HOSTNAME=env",
		"KUBERNETES_SERVICE_HOST=127.0.0.1", "KUBECONFIG=" + filepath.Join(podDir, "kubeconfig"),
		"TERMINATION_MESSAGE_PATH=" + filepath.Join(podDir, "termination", "main"),
	}
	for _, w := range want {
		if !slices.Contains(lines, w) {
			t.Errorf("missing %q", w)
		}
	}
	// Nothing else: not the agent's environment, not the optional variable.
	for _, l := range lines {
		name, _, _ := strings.Cut(l, "=")
		if name == "arg" || name == "KUBERNETES_SERVICE_PORT" || name == "GORACE" {
			continue
		}
		if !slices.ContainsFunc(want, func(w string) bool { return strings.HasPrefix(w, name+"=") }) {
			t.Errorf("unexpected variable %q", l)
		}
	}
}

func TestServiceAccountToken(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ctx := context.Background()
	_, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reader"}}, metav1.CreateOptions{})
	kubetest.Must(t, err)
	_, err = client.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{})
	kubetest.Must(t, err)
	_, err = client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "reader", Namespace: ns}},
	}, metav1.CreateOptions{})
	kubetest.Must(t, err)

	c := selfContainer("main", "whoami")
	c.Env = append(c.Env, corev1.EnvVar{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}})
	pod := createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "whoami"},
		// OnFailure: the RBAC authorizer may not have seen the binding yet.
		Spec: corev1.PodSpec{ServiceAccountName: "reader", RestartPolicy: corev1.RestartPolicyOnFailure, Containers: []corev1.Container{c}},
	})
	noToken := createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "no-token"},
		Spec: corev1.PodSpec{AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{selfContainer("main", "env")}},
	})

	p := waitPod(t, pod, 30*time.Second, "Succeeded", phaseIs(corev1.PodSucceeded))
	if term := p.Status.ContainerStatuses[0].State.Terminated; term.Message != fmt.Sprintf("uid=%s secrets=forbidden", pod.UID) {
		t.Errorf("whoami said %q", term.Message)
	}
	podDir := filepath.Dir(filepath.Dir(agent.LogPath(ns, pod.Name, "main")))
	kubeconfig, err := clientcmd.LoadFromFile(filepath.Join(podDir, "kubeconfig"))
	kubetest.Must(t, err)
	user := kubeconfig.AuthInfos[kubeconfig.Contexts[kubeconfig.CurrentContext].AuthInfo]
	if user.TokenFile != filepath.Join(podDir, "serviceaccount", "token") || user.Token != "" {
		t.Errorf("kubeconfig user %+v: want the token file", user)
	}
	for _, f := range []string{"token", "ca.crt", "namespace"} {
		if _, err := os.Stat(filepath.Join(podDir, "serviceaccount", f)); err != nil {
			t.Error(err)
		}
	}

	waitPod(t, noToken, 20*time.Second, "Succeeded", phaseIs(corev1.PodSucceeded))
	out, err := os.ReadFile(agent.LogPath(ns, noToken.Name, "main"))
	kubetest.Must(t, err)
	if strings.Contains(string(out), "KUBECONFIG=") {
		t.Errorf("automountServiceAccountToken false, yet:\n%s", out)
	}
}

func TestDeletionStopsProcesses(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	marker := filepath.Join(t.TempDir(), "marker")
	pod := createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "trap"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{selfContainer("main", "trap", marker)}},
	})
	waitPod(t, pod, 20*time.Second, "Running", phaseIs(corev1.PodRunning))
	waitLog(t, agent, ns, pod.Name, "main", "running")
	podDir := filepath.Dir(filepath.Dir(agent.LogPath(ns, pod.Name, "main")))

	kubetest.Must(t, client.CoreV1().Pods(ns).Delete(context.Background(), pod.Name, metav1.DeleteOptions{}))
	waitGone(t, pod, 10*time.Second)
	waitNoProcesses(t, agent, pod.UID)
	if got, err := os.ReadFile(marker); err != nil || string(got) != "SIGTERM" {
		t.Errorf("marker: %q, %v", got, err)
	}
	kubetest.Eventually(t, 5*time.Second, "pod directory removed", func() string {
		if _, err := os.Stat(podDir); err == nil {
			return podDir + " exists"
		}
		return ""
	})

	// Force-deleted, the pod object goes at once, and its processes right
	// after, whatever they do with SIGTERM.
	forced := createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "forced"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{selfContainer("main", "ignore-term", marker+"-forced")}},
	})
	waitLog(t, agent, ns, forced.Name, "main", "running")
	kubetest.Must(t, client.CoreV1().Pods(ns).Delete(context.Background(), forced.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}))
	start := time.Now()
	waitNoProcesses(t, agent, forced.UID)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("processes of a force-deleted pod lived %s", took)
	}
}

func TestGracePeriodExceeded(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	marker := filepath.Join(t.TempDir(), "marker")
	const finalizer = "test.queuedrainer.io/keep"
	pod := createPod(t, ns, &corev1.Pod{
		// The finalizer keeps the pod, as the Job controller's does, so
		// that its final status can be read.
		ObjectMeta: metav1.ObjectMeta{Name: "stubborn", Finalizers: []string{finalizer}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers:                    []corev1.Container{selfContainer("main", "ignore-term", marker)},
		},
	})
	waitPod(t, pod, 20*time.Second, "Running", phaseIs(corev1.PodRunning))
	waitLog(t, agent, ns, pod.Name, "main", "running")

	deleted := time.Now()
	kubetest.Must(t, client.CoreV1().Pods(ns).Delete(context.Background(), pod.Name, metav1.DeleteOptions{}))
	p := waitPod(t, pod, 10*time.Second, "Failed", phaseIs(corev1.PodFailed))
	if took := time.Since(deleted); took < time.Second {
		t.Errorf("killed after %s, within the grace period", took)
	}
	if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 137 || term.Signal != 9 {
		t.Errorf("container status %s", describe(p.Status.ContainerStatuses))
	}
	if got, err := os.ReadFile(marker); err != nil || string(got) != "SIGTERM" {
		t.Errorf("SIGTERM before SIGKILL: marker %q, %v", got, err)
	}
	waitNoProcesses(t, agent, pod.UID)

	patch := []byte(`[{"op": "remove", "path": "/metadata/finalizers"}]`)
	_, err := client.CoreV1().Pods(ns).Patch(context.Background(), pod.Name, types.JSONPatchType, patch, metav1.PatchOptions{})
	kubetest.Must(t, err)
	waitGone(t, pod, 10*time.Second)
}

func TestOnFailureRestarts(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	c := shellContainer("main", `n=$(cat "$COUNTER" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$COUNTER"; echo "run $n"; [ "$n" -ge 3 ]`)
	c.Env = []corev1.EnvVar{{Name: "COUNTER", Value: filepath.Join(t.TempDir(), "count")}}
	pod := createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "flaky"},
		Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyOnFailure, Containers: []corev1.Container{c}},
	})
	// Backoffs of 1s and 2s.
	p := waitPod(t, pod, 20*time.Second, "Succeeded", phaseIs(corev1.PodSucceeded))
	s := p.Status.ContainerStatuses[0]
	if s.RestartCount != 2 || s.State.Terminated == nil || s.State.Terminated.ExitCode != 0 ||
		s.LastTerminationState.Terminated == nil || s.LastTerminationState.Terminated.ExitCode != 1 {
		t.Errorf("container status %+v", s)
	}
	out, err := os.ReadFile(agent.LogPath(ns, pod.Name, "main"))
	kubetest.Must(t, err)
	if string(out) != "run 1\nrun 2\nrun 3\n" {
		t.Errorf("log %q: want every run, appended", out)
	}
}

func TestNativeSidecar(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	dir := t.TempDir()
	started, stopped := filepath.Join(dir, "started"), filepath.Join(dir, "stopped")
	sidecar := selfContainer("sidecar", "sidecar", started, stopped)
	sidecar.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
	pod := createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sidecar"},
		Spec: corev1.PodSpec{
			// Started is all there is without probes: the sidecar may not
			// have written its marker yet.
			InitContainers: []corev1.Container{sidecar, selfContainer("init", "wait-file", started)},
			// The app runs while the sidecar does.
			Containers: []corev1.Container{selfContainer("app", "files", "+"+started, "-"+stopped)},
		},
	})
	p := waitPod(t, pod, 20*time.Second, "Succeeded", phaseIs(corev1.PodSucceeded))
	if _, err := os.Stat(stopped); err != nil {
		t.Errorf("the sidecar got no SIGTERM: %v", err)
	}
	for _, s := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		if term := s.State.Terminated; term == nil || term.ExitCode != 0 {
			t.Errorf("%s: %s", s.Name, describe([]corev1.ContainerStatus{s}))
		}
	}
	waitNoProcesses(t, agent, pod.UID)
}

// Two pods' sidecars listen on the same port, each on its pod's address,
// and each app container starts only once its sidecar's startup probe
// passes (the sidecar listens 300 ms after it starts; the app dials at once).
func TestSidecarStartupProbeOnPodAddress(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	podIP := corev1.EnvVar{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}
	var pods []*corev1.Pod
	for _, name := range []string{"one", "two"} {
		sidecar := selfContainer("handler", "listen", "$(POD_IP):18081")
		sidecar.Env = []corev1.EnvVar{podIP}
		sidecar.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		sidecar.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}}}
		sidecar.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 18081}}
		app := selfContainer("app", "dial", "$(POD_IP):18081")
		app.Env = []corev1.EnvVar{podIP}
		pods = append(pods, createPod(t, ns, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				RestartPolicy:  corev1.RestartPolicyNever,
				InitContainers: []corev1.Container{sidecar},
				Containers:     []corev1.Container{app},
			},
		}))
	}
	ips := map[string]bool{}
	for _, pod := range pods {
		p := waitPod(t, pod, 20*time.Second, "Succeeded", phaseIs(corev1.PodSucceeded))
		if !strings.HasPrefix(p.Status.PodIP, podIPPrefix) || ips[p.Status.PodIP] {
			t.Errorf("pod %s: address %q (others: %v)", p.Name, p.Status.PodIP, ips)
		}
		ips[p.Status.PodIP] = true
		waitNoProcesses(t, agent, pod.UID)
	}
}

func TestUnmappedImage(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	const image = "registry.example.com/team/unknown:2"
	pod := createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "unmapped"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: image}}},
	})
	waitPod(t, pod, 10*time.Second, "ImageNotMapped", func(p *corev1.Pod) string {
		if len(p.Status.ContainerStatuses) == 1 {
			if w := p.Status.ContainerStatuses[0].State.Waiting; w != nil && w.Reason == "ImageNotMapped" && strings.Contains(w.Message, image) {
				return ""
			}
		}
		return describe(p.Status.ContainerStatuses)
	})
	kubetest.Never(t, time.Second, "stays Pending", func() string {
		p, err := client.CoreV1().Pods(ns).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if p.Status.Phase != corev1.PodPending {
			return string(p.Status.Phase)
		}
		return ""
	})
	kubetest.Must(t, client.CoreV1().Pods(ns).Delete(context.Background(), pod.Name, metav1.DeleteOptions{}))
	waitGone(t, pod, 10*time.Second)
}

func TestKubectlLogs(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ctx := context.Background()
	done := createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "done"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{shellContainer("main", "for i in 1 2 3; do echo line $i; done")}},
	})
	waitPod(t, done, 20*time.Second, "Succeeded", phaseIs(corev1.PodSucceeded))
	// Through the API server, as kubectl logs does.
	out, err := client.CoreV1().Pods(ns).GetLogs(done.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
	kubetest.Must(t, err)
	if string(out) != "line 1\nline 2\nline 3\n" {
		t.Errorf("logs %q", out)
	}
	out, err = client.CoreV1().Pods(ns).GetLogs(done.Name, &corev1.PodLogOptions{TailLines: ptr.To[int64](2)}).DoRaw(ctx)
	kubetest.Must(t, err)
	if string(out) != "line 2\nline 3\n" {
		t.Errorf("last 2 lines %q", out)
	}
	// The agent knows the pod's containers, and only those.
	if agent.LogPath(ns, done.Name, "main") == "" || agent.LogPath(ns, done.Name, "other") != "" || agent.LogPath(ns, "nope", "main") != "" {
		t.Errorf("LogPath: main %q, other %q, pod nope %q; want only main's", agent.LogPath(ns, done.Name, "main"),
			agent.LogPath(ns, done.Name, "other"), agent.LogPath(ns, "nope", "main"))
	}

	running := createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "running"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{shellContainer("main", "echo a; sleep 1; echo b")}},
	})
	waitPod(t, running, 20*time.Second, "Running", phaseIs(corev1.PodRunning))
	stream, err := client.CoreV1().Pods(ns).GetLogs(running.Name, &corev1.PodLogOptions{Follow: true}).Stream(ctx)
	kubetest.Must(t, err)
	defer stream.Close()
	// The stream ends when the container does.
	all, err := io.ReadAll(stream)
	kubetest.Must(t, err)
	if string(all) != "a\nb\n" {
		t.Errorf("followed logs %q", all)
	}
}

// TestAgentShutdown runs its own agent, since it stops it.
func TestAgentShutdown(t *testing.T) {
	t.Parallel()
	const node = "node-b"
	ns := newNamespace(t)
	a, err := New(testOptions(node, t.TempDir()))
	kubetest.Must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx) }()

	dir := t.TempDir()
	marker, pidFile := filepath.Join(dir, "marker"), filepath.Join(dir, "pid")
	grandchild := shellContainer("main", `sleep 300 & echo $! > "$PID_FILE"; wait`)
	grandchild.Env = []corev1.EnvVar{{Name: "PID_FILE", Value: pidFile}}
	pods := []*corev1.Pod{
		createPod(t, ns, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "trap"},
			Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{selfContainer("main", "trap", marker)}},
		}),
		createPod(t, ns, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "grandchild"},
			Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{grandchild}},
		}),
	}
	for _, p := range pods {
		waitPod(t, p, 20*time.Second, "Running", phaseIs(corev1.PodRunning))
	}
	var pids []int
	kubetest.Eventually(t, 10*time.Second, "processes started", func() string {
		procs := a.Processes()
		pidData, err := os.ReadFile(pidFile)
		if len(procs) != 2 || err != nil {
			return fmt.Sprintf("processes %v, pid file: %v", procs, err)
		}
		pids = []int{}
		for _, ps := range procs {
			pids = append(pids, ps...)
		}
		var sleepPID int
		if _, err := fmt.Sscan(string(pidData), &sleepPID); err != nil {
			return err.Error()
		}
		pids = append(pids, sleepPID)
		return ""
	})
	waitLog(t, a, ns, "trap", "main", "running")

	cancel()
	select {
	case err := <-ran:
		kubetest.Must(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	if procs := a.Processes(); len(procs) != 0 {
		t.Errorf("processes left: %v", procs)
	}
	// The main processes are reaped; what they started goes with the
	// group's SIGKILL, which takes effect a moment later on a busy machine.
	kubetest.Eventually(t, 5*time.Second, "every process gone", func() string {
		for _, pid := range pids {
			if alive(pid) {
				return fmt.Sprintf("pid %d is alive", pid)
			}
		}
		return ""
	})
	if got, err := os.ReadFile(marker); err != nil || string(got) != "SIGTERM" {
		t.Errorf("no SIGTERM first: marker %q, %v", got, err)
	}
}

// waitLog waits for a line in a container's log.
func waitLog(t *testing.T, a *Agent, ns, pod, container, line string) {
	t.Helper()
	kubetest.Eventually(t, 10*time.Second, "log line "+line, func() string {
		f, err := os.Open(a.LogPath(ns, pod, container))
		if err != nil {
			return err.Error()
		}
		defer f.Close()
		for sc := bufio.NewScanner(f); sc.Scan(); {
			if sc.Text() == line {
				return ""
			}
		}
		return "not yet"
	})
}

// SIGTERM goes to the container's main process only, as a runtime signals a
// container's PID 1; what it started is its to stop, and SIGKILL of the
// whole group takes what is left once the main process is gone.
func TestSIGTERMReachesOnlyTheMainProcess(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	marker := filepath.Join(t.TempDir(), "marker")
	script := `sh -c 'trap "echo child-got-TERM >> ` + marker + `" TERM; while :; do sleep 0.1; done' &
trap 'echo main-got-TERM >> ` + marker + `; sleep 0.5; exit 0' TERM
echo running
while :; do sleep 0.1; done`
	pod := createPod(t, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "tree"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "main", Image: hostImage, Command: []string{"sh", "-c", script},
		}}},
	})
	waitLog(t, agent, ns, pod.Name, "main", "running")
	kubetest.Must(t, client.CoreV1().Pods(ns).Delete(context.Background(), pod.Name, metav1.DeleteOptions{}))
	waitGone(t, pod, 10*time.Second)
	waitNoProcesses(t, agent, pod.UID)
	got, err := os.ReadFile(marker)
	if err != nil || string(got) != "main-got-TERM\n" {
		t.Fatalf("marker %q (%v): want only the main process to get SIGTERM", got, err)
	}
	// The child, which never got SIGTERM, goes with the group's SIGKILL
	// (delivered as the main process is reaped, so allow it a moment).
	kubetest.Eventually(t, 5*time.Second, "the child process gone with its container", func() string {
		if out, _ := exec.Command("pgrep", "-f", "child-got-TERM").Output(); len(out) > 0 {
			return "still running: pids " + strings.TrimSpace(string(out))
		}
		return ""
	})
}
