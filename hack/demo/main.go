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

// Command demo shows queue-drainer at work on this machine, with no cloud
// account and no cluster: it starts a local cluster (hack/localcluster), the
// SQS emulator and the CloudWatch simulator, deploys the operator from
// config/default, loads a queue with hack/loadgen, applies a QueueDrainer
// and shows the queue being drained. Ctrl-C stops everything it started.
//
// Run it with `make demo`, which builds what it needs first.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/hack/localcluster"
	"github.com/queuedrainer/queue-drainer/test/emulator"
	"github.com/queuedrainer/queue-drainer/test/kubetest"
)

func main() {
	var (
		kubeBin   = flag.String("kube-bin", "", "directory with etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubectl (hack/kube-binaries.sh)")
		binDir    = flag.String("bin", "bin", "directory with manager, drain-worker and loadgen")
		kustomize = flag.String("kustomize", "bin/kustomize", "the kustomize binary")
		messages  = flag.Int("messages", 50000, "messages to load into the queue")
		exit      = flag.Bool("exit", false, "stop everything once the queue is drained, instead of waiting for Ctrl-C")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, *kubeBin, *binDir, *kustomize, *messages, *exit)
	switch {
	case ctx.Err() != nil:
		fmt.Println("==> stopped: everything the demo started is stopped and removed")
	case err != nil:
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	default:
		fmt.Println("==> done: everything the demo started is stopped and removed")
	}
}

func run(ctx context.Context, kubeBin, binDir, kustomize string, messages int, exit bool) error {
	dir, err := os.MkdirTemp("", "queue-drainer-demo-")
	if err != nil {
		return err
	}
	binDir, _ = filepath.Abs(binDir)
	kustomize, _ = filepath.Abs(kustomize)
	step("starting a local cluster, the emulators and the operator (state in %s)", dir)
	stack, err := localcluster.StartStack(ctx, localcluster.StackOptions{
		Dir: dir, KubeBinDir: kubeBin, BinDir: binDir, Kustomize: kustomize,
		CloudWatchPeriod: 5 * time.Second,
		Progress:         indent{},
	})
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	defer func() {
		step("stopping the cluster and the emulators")
		stack.Stop()
		os.RemoveAll(dir)
	}()
	k8s, err := client.New(stack.Config, client.Options{Scheme: kubetest.Scheme()})
	if err != nil {
		return err
	}

	queueURL := emulator.CanonicalURL("orders")
	step("loading %d messages into %s with hack/loadgen", messages, queueURL)
	loadgen := exec.CommandContext(ctx, filepath.Join(binDir, "loadgen"), "--queue-url", queueURL, "--create",
		"--count", fmt.Sprint(messages), "--concurrency", "8")
	loadgen.Env = os.Environ()
	for _, e := range stack.AWSEnv() {
		loadgen.Env = append(loadgen.Env, e.Name+"="+e.Value)
	}
	loadgen.Stdout, loadgen.Stderr = indent{}, indent{}
	if err := loadgen.Run(); err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}

	step("applying the QueueDrainer demo/orders (hack/demo/queuedrainer.yaml)")
	if err := applyDrainer(ctx, stack, k8s); err != nil {
		return err
	}
	key := types.NamespacedName{Namespace: "demo", Name: "orders"}
	if err := watch(ctx, k8s, key); err != nil {
		return err
	}

	kubectl := exec.CommandContext(ctx, filepath.Join(kubeBin, "kubectl"), "--kubeconfig", stack.Kubeconfig, "get", "qd", "-A", "-o", "wide")
	kubectl.Stdout, kubectl.Stderr = os.Stdout, os.Stderr
	fmt.Println()
	fmt.Println("$ kubectl get qd -A -o wide")
	if err := kubectl.Run(); err != nil {
		return err
	}
	fmt.Printf(`
The emulators: SQS (fauxqs) at %s, CloudWatch (the simulator) at %s.
Explore the cluster and the emulators while the demo runs; in another shell:
  export KUBECONFIG=%s
  export PATH=%s:%s:$PATH   # kubectl, the kubectl queuedrainer plugin, loadgen
  export %s
  kubectl get qd,jobs,pods -A
  kubectl queuedrainer status orders -n demo
  loadgen --queue-url %s --count 5000   # past the 1,000 threshold: a new run after the 1m cooldown
  kubectl queuedrainer drain orders -n demo --wait   # or ask for a run now
Control-plane logs: %s; pod logs: %s/pods/.
`, stack.SQSEndpoint, stack.CloudWatchEndpoint, stack.Kubeconfig, kubeBin, binDir, envLine(stack.AWSEnv()), queueURL, stack.LogDir, dir)
	if exit {
		return nil
	}
	fmt.Println("Press Ctrl-C to stop; everything the demo started is stopped and removed.")
	<-ctx.Done()
	return nil
}

// applyDrainer applies hack/demo/queuedrainer.yaml with the emulators'
// endpoints in its worker's env.
func applyDrainer(ctx context.Context, stack *localcluster.Stack, k8s client.Client) error {
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "demo"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	data, err := os.ReadFile(filepath.Join(localcluster.RepoRoot(), "hack", "demo", "queuedrainer.yaml"))
	if err != nil {
		return err
	}
	objs, err := localcluster.Objects(data)
	if err != nil || len(objs) != 1 {
		return fmt.Errorf("hack/demo/queuedrainer.yaml: want one object (%v)", err)
	}
	var qd v1alpha1.QueueDrainer
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[0].Object, &qd); err != nil {
		return err
	}
	for i := range qd.Spec.JobTemplate.Spec.Template.Spec.Containers {
		c := &qd.Spec.JobTemplate.Spec.Template.Spec.Containers[i]
		c.Env = append(c.Env, stack.AWSEnv()...)
	}
	u, err := localcluster.ForApply(&qd)
	if err != nil {
		return err
	}
	return stack.Apply(ctx, []*unstructured.Unstructured{u})
}

// watch prints the drainer's progress every second until its first run is
// recorded and the queue is empty.
func watch(ctx context.Context, k8s client.Client, key types.NamespacedName) error {
	start := time.Now()
	var lastLeft int64 = -1
	var lastAt time.Time
	rate := 0.0
	lastLine, printed := "", time.Time{}
	for {
		var qd v1alpha1.QueueDrainer
		if err := k8s.Get(ctx, key, &qd); err != nil {
			return err
		}
		st := qd.Status
		line := ""
		if st.Queue == nil {
			line = "waiting for the operator to look at the queue"
		} else {
			left := st.Queue.VisibleMessages + st.Queue.InFlightMessages
			if at := st.Queue.ObservedAt.Time; at.After(lastAt) {
				if lastLeft >= 0 && left <= lastLeft {
					// Smoothed over a few observations: the counts are approximate.
					rate = 0.5*rate + 0.5*float64(lastLeft-left)/at.Sub(lastAt).Seconds()
				}
				lastLeft, lastAt = left, at
			}
			line += fmt.Sprintf("visible %6d  in flight %5d  ", st.Queue.VisibleMessages, st.Queue.InFlightMessages)
			switch {
			case st.ActiveRun != nil:
				r := st.ActiveRun
				line += fmt.Sprintf("run %s (%s), workers %d/%d running", r.Name, r.Trigger, r.Running, r.Workers)
				if r.Pending > 0 {
					line += fmt.Sprintf(" (%d pending)", r.Pending)
				}
				line += fmt.Sprintf(", %5.0f msg/s", rate)
			case len(st.History) > 0:
				h := st.History[0]
				line += fmt.Sprintf("run %s %s: %d messages in %s", h.Name, h.Result, ptr.Deref(h.MessagesProcessed, -1), h.FinishedAt.Sub(h.StartedAt.Time))
			default:
				line += "no run yet"
			}
		}
		// A line when something new was seen, at least every 10 seconds.
		if line != lastLine || time.Since(printed) >= 10*time.Second {
			fmt.Printf("%5.0fs  %s\n", time.Since(start).Seconds(), line)
			lastLine, printed = line, time.Now()
		}
		if st.Queue != nil && st.Queue.VisibleMessages+st.Queue.InFlightMessages == 0 && len(st.History) > 0 && st.ActiveRun == nil {
			h := st.History[0]
			if h.Result != v1alpha1.RunSucceeded {
				return fmt.Errorf("run %s ended %s: %s", h.Name, h.Result, h.Message)
			}
			step("queue drained: run %s processed %d messages, %s msg/s", h.Name, ptr.Deref(h.MessagesProcessed, -1), h.MessagesPerSecond)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		if time.Since(start) > 15*time.Minute {
			return errors.New("the queue was not drained within 15 minutes")
		}
	}
}

func step(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

// envLine is the variables as NAME=value words for an export line.
func envLine(env []corev1.EnvVar) string {
	words := make([]string, len(env))
	for i, e := range env {
		words[i] = e.Name + "=" + e.Value
	}
	return strings.Join(words, " ")
}

// indent prints a child's output under the current step.
type indent struct{}

func (indent) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		fmt.Println("    " + line)
	}
	return len(b), nil
}
