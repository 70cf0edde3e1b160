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
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

// The tests run one agent for node testNode against envtest's API server
// and etcd. There is no scheduler: pods are created with their nodeName.
const (
	testNode = "node-a"
	// selfImage stands for the test binary, which acts as a child (see
	// child) when its first argument is "child".
	selfImage = "test/self:1"
	// hostImage runs its command from the host, for shell scripts.
	hostImage = "host/shell"
	// leakVar is in the agent's environment and must not reach pods.
	leakVar = "NODEAGENT_TEST_AGENT_SECRET"
)

var (
	cfg    *rest.Config
	client kubernetes.Interface
	agent  *Agent
	self   string // the test binary
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		os.Exit(child(os.Args[2:]))
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	env, c, err := kubetest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	cfg, client = c, kubernetes.NewForConfigOrDie(c)
	if self, err = os.Executable(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Setenv(leakVar, "leaked")

	dir, err := os.MkdirTemp("", "nodeagent-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	agent, err = New(testOptions(testNode, filepath.Join(dir, testNode)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx) }()

	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		return 1
	}
	return code
}

func testOptions(node, dir string) Options {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	return Options{
		NodeName:  node,
		Client:    client,
		APIServer: cfg.Host,
		CAData:    cfg.CAData,
		Dir:       dir,
		Images:    map[string]string{"test/self": self, hostImage: ""},
		Log:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}
}

// child is what the test binary does as a pod's process.
func child(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "child: no mode")
		return 2
	}
	switch mode, args := args[0], args[1:]; mode {
	case "exit": // exit CODE [MESSAGE]: leave a termination message and exit
		if len(args) > 1 {
			_ = os.WriteFile(os.Getenv("TERMINATION_MESSAGE_PATH"), []byte(args[1]), 0o644)
		}
		code, _ := strconv.Atoi(args[0])
		return code
	case "env": // print the arguments and the environment
		for _, a := range args {
			fmt.Println("arg=" + a)
		}
		env := os.Environ()
		sort.Strings(env)
		for _, e := range env {
			fmt.Println(e)
		}
		return 0
	case "whoami": // read the own pod with the pod's credentials
		return whoami()
	case "trap": // trap MARKER: run until SIGTERM, then write MARKER and exit 0
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		fmt.Println("running")
		<-sigs
		_ = os.WriteFile(args[0], []byte("SIGTERM"), 0o644)
		return 0
	case "ignore-term": // ignore-term MARKER: note SIGTERM in MARKER, keep running
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		fmt.Println("running")
		for range sigs {
			_ = os.WriteFile(args[0], []byte("SIGTERM"), 0o644)
		}
	case "sidecar": // sidecar STARTED STOPPED: mark the start, and the SIGTERM
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		_ = os.WriteFile(args[0], nil, 0o644)
		<-sigs
		_ = os.WriteFile(args[1], nil, 0o644)
		return 0
	case "listen": // listen ADDR: after a pause, accept connections on ADDR until SIGTERM
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		time.Sleep(300 * time.Millisecond)
		l, err := net.Listen("tcp", args[0])
		if err != nil {
			fmt.Println(err)
			return 1
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				_ = c.Close()
			}
		}()
		<-sigs
		return 0
	case "dial": // dial ADDR: exit 0 if ADDR accepts a connection at once
		c, err := net.Dial("tcp", args[0])
		if err != nil {
			fmt.Println(err)
			return 1
		}
		_ = c.Close()
		return 0
	case "wait-file": // wait-file PATH: exit 0 once PATH exists, 1 after 10s
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if _, err := os.Stat(args[0]); err == nil {
				return 0
			}
		}
		return 1
	case "files": // files [+PATH|-PATH]...: exit 1 unless each is present (+) or absent (-)
		for _, a := range args {
			_, err := os.Stat(a[1:])
			if exists := err == nil; exists != (a[0] == '+') {
				fmt.Println("unexpected:", a)
				return 1
			}
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "child: unknown mode", args[0])
	return 2
}

// whoami reads its own pod through KUBECONFIG, as client-go and
// controller-runtime programs do, and checks that it may not list secrets.
// It reports in its termination message.
func whoami() int {
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), nil)
	report := func(code int, format string, a ...any) int {
		msg := fmt.Sprintf(format, a...)
		fmt.Println(msg)
		_ = os.WriteFile(os.Getenv("TERMINATION_MESSAGE_PATH"), []byte(msg), 0o644)
		return code
	}
	c, err := loader.ClientConfig()
	if err != nil {
		return report(1, "config: %v", err)
	}
	ns, _, err := loader.Namespace()
	if err != nil {
		return report(1, "namespace: %v", err)
	}
	cs, err := kubernetes.NewForConfig(c)
	if err != nil {
		return report(1, "client: %v", err)
	}
	ctx := context.Background()
	pod, err := cs.CoreV1().Pods(ns).Get(ctx, os.Getenv("POD_NAME"), metav1.GetOptions{})
	if err != nil {
		return report(1, "get pod: %v", err)
	}
	_, err = cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		return report(1, "list secrets: want Forbidden, got %v", err)
	}
	return report(0, "uid=%s secrets=forbidden", pod.UID)
}

// newNamespace makes a namespace for a test, with the default service
// account that the missing controller manager would have created.
func newNamespace(t *testing.T) string {
	t.Helper()
	name := strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	ctx := context.Background()
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	kubetest.Must(t, err)
	_, err = client.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	kubetest.Must(t, err)
	return name
}

// createPod creates a pod bound to the test node.
func createPod(t *testing.T, ns string, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	pod.Namespace = ns
	if pod.Spec.NodeName == "" {
		pod.Spec.NodeName = testNode
	}
	if pod.Spec.ServiceAccountName == "" {
		// What the ServiceAccount admission plugin, off in envtest, does.
		pod.Spec.ServiceAccountName = "default"
	}
	if pod.Spec.RestartPolicy == "" {
		pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	}
	created, err := client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
	kubetest.Must(t, err)
	return created
}

// waitPod waits until cond, given the pod, returns "".
func waitPod(t *testing.T, pod *corev1.Pod, within time.Duration, what string, cond func(*corev1.Pod) string) *corev1.Pod {
	t.Helper()
	var got *corev1.Pod
	kubetest.Eventually(t, within, pod.Name+": "+what, func() string {
		p, err := client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		got = p
		return cond(p)
	})
	return got
}

func phaseIs(phase corev1.PodPhase) func(*corev1.Pod) string {
	return func(p *corev1.Pod) string {
		if p.Status.Phase != phase {
			return fmt.Sprintf("phase %q; containers %s", p.Status.Phase, describe(p.Status.ContainerStatuses))
		}
		return ""
	}
}

// waitGone waits until the pod object is deleted.
func waitGone(t *testing.T, pod *corev1.Pod, within time.Duration) {
	t.Helper()
	kubetest.Eventually(t, within, pod.Name+" deleted", func() string {
		p, err := client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return ""
		}
		if err != nil {
			return err.Error()
		}
		return fmt.Sprintf("still there, phase %s, deletionTimestamp %v", p.Status.Phase, p.DeletionTimestamp)
	})
}

// waitNoProcesses waits until the agent runs nothing for the pod.
func waitNoProcesses(t *testing.T, a *Agent, uid types.UID) {
	t.Helper()
	kubetest.Eventually(t, 10*time.Second, "no processes left", func() string {
		if pids := a.Processes()[uid]; len(pids) > 0 {
			return fmt.Sprintf("pids %v", pids)
		}
		return ""
	})
}

func describe(statuses []corev1.ContainerStatus) string {
	var parts []string
	for _, s := range statuses {
		state := "?"
		switch {
		case s.State.Running != nil:
			state = "running"
		case s.State.Terminated != nil:
			state = fmt.Sprintf("terminated(%d %s %q)", s.State.Terminated.ExitCode, s.State.Terminated.Reason, s.State.Terminated.Message)
		case s.State.Waiting != nil:
			state = fmt.Sprintf("waiting(%s %q)", s.State.Waiting.Reason, s.State.Waiting.Message)
		}
		parts = append(parts, fmt.Sprintf("%s=%s restarts=%d", s.Name, state, s.RestartCount))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func selfContainer(name string, args ...string) corev1.Container {
	return corev1.Container{
		Name: name, Image: selfImage, Args: append([]string{"child"}, args...),
		// Under -race, a process otherwise lingers a second on exit.
		Env: []corev1.EnvVar{{Name: "GORACE", Value: "atexit_sleep_ms=0"}},
	}
}

func shellContainer(name, script string) corev1.Container {
	return corev1.Container{Name: name, Image: hostImage, Command: []string{"sh", "-c", script}}
}

// alive says whether a process exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}
