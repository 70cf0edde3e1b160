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
// account and no cluster: it starts a local cluster (test/localcluster), the
// SQS emulator and the CloudWatch simulator, deploys the operator from
// config/default, loads a queue with test/cmd/loadgen, applies a QueueDrainer
// and shows the queue being drained. Ctrl-C stops everything it started.
//
// Its consumer is drain-worker --http with test/cmd/noophttp, a no-op handler,
// as a native sidecar (hack/demo/queuedrainer.yaml), so that the drain goes
// at the worker's speed; --handler=exec applies the exec example of
// config/samples instead (a process per message). --queues N shards the
// messages over N queues, each with its drainer: fauxqs keeps a queue in
// one array and takes each received message off its front, which costs
// time in proportion to the queue's length.
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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/sqsstats"
	"github.com/queuedrainer/queue-drainer/test/emulator"
	"github.com/queuedrainer/queue-drainer/test/localcluster"
	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

func main() {
	var (
		kubeBin   = flag.String("kube-bin", "", "directory with etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubectl (hack/kube-binaries.sh)")
		binDir    = flag.String("bin", "bin", "directory with manager, drain-worker and loadgen")
		kustomize = flag.String("kustomize", "bin/kustomize", "the kustomize binary")
		o         options
	)
	flag.IntVar(&o.messages, "messages", 50000, "messages to load (over all the queues)")
	flag.BoolVar(&o.exit, "exit", false, "stop everything once the queue is drained, instead of waiting for Ctrl-C")
	flag.IntVar(&o.queues, "queues", 1, "queues to shard the messages over (orders-0, orders-1, ...), a drainer each")
	flag.StringVar(&o.handler, "handler", "http", "the consumer: http (drain-worker --http and the no-op sidecar, hack/demo/queuedrainer.yaml) "+
		"or exec (a process per message, config/samples/drain_v1alpha1_queuedrainer_exec.yaml)")
	flag.IntVar(&o.size, "size", 0, "message body size in bytes (0: loadgen's default, 256)")
	flag.IntVar(&o.maxWorkers, "max-workers", 0, "workers.max of each drainer (0: the manifest's)")
	flag.Parse()
	if o.queues < 1 || o.messages < o.queues || (o.handler != "http" && o.handler != "exec") {
		fmt.Fprintln(os.Stderr, "demo: --queues must be at least 1 and at most --messages, --handler http or exec")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, *kubeBin, *binDir, *kustomize, o)
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

// options are the demo's flags.
type options struct {
	messages, queues, size, maxWorkers int
	handler                            string
	exit                               bool
}

// queueNames are the demo's queues: orders, or orders-0 ... orders-N-1.
func (o options) queueNames() []string {
	if o.queues == 1 {
		return []string{"orders"}
	}
	names := make([]string, o.queues)
	for i := range names {
		names[i] = fmt.Sprintf("orders-%d", i)
	}
	return names
}

func run(ctx context.Context, kubeBin, binDir, kustomize string, o options) error {
	dir, err := os.MkdirTemp("", "queue-drainer-demo-")
	if err != nil {
		return err
	}
	binDir, _ = filepath.Abs(binDir)
	kustomize, _ = filepath.Abs(kustomize)
	if o.handler == "http" {
		// Built here rather than by `make demo`, so that the handler the
		// node agent maps is always this tree's.
		if err := localcluster.BuildHandler(ctx, binDir); err != nil {
			os.RemoveAll(dir)
			return err
		}
	}
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

	names := o.queueNames()
	fauxqs := localcluster.ProcessOf(stack.FauxqsPID())
	loaded, err := load(ctx, stack, binDir, names, o)
	if err != nil {
		return err
	}
	if rss := fauxqs.RSS(); rss > 0 {
		fmt.Printf("    fauxqs holds them in %d MB (RSS)\n", rss>>20)
	}

	manifest := filepath.Join("hack", "demo", "queuedrainer.yaml")
	if o.handler == "exec" {
		manifest = filepath.Join("config", "samples", "drain_v1alpha1_queuedrainer_exec.yaml")
	}
	if len(names) == 1 {
		step("applying the QueueDrainer demo/orders (%s)", manifest)
	} else {
		step("applying %d QueueDrainers, demo/%s to demo/%s (%s)", len(names), names[0], names[len(names)-1], manifest)
	}
	cpuBefore := fauxqs.CPU()
	keys, err := applyDrainers(ctx, stack, k8s, manifest, names, o.maxWorkers)
	if err != nil {
		return err
	}
	if err := watch(ctx, stack, k8s, keys, loaded, fauxqs, cpuBefore); err != nil {
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
The operator passes their endpoints and test credentials to every consumer
pod (--consumer-env), so a drainer needs none of its own.

Try your own while the demo runs; in another shell:
  export KUBECONFIG=%s
  export PATH=%s:%s:$PATH   # kubectl, the kubectl queuedrainer plugin, loadgen
  export %s
  kubectl get qd,jobs,pods -A
  # 1. a second queue, with a dead-letter queue, and 2,000 messages in it
  loadgen --queue-url %s --create --dead-letter payments-dlq --max-receive-count 3 --count 2000
  # 2. its drainer (below its 5,000 depth trigger: it waits to be asked)
  kubectl apply -f %s
  # 3. ask for a drain and follow it to its end
  kubectl queuedrainer drain payments -n demo --wait
  kubectl queuedrainer status -n demo
Control-plane logs: %s; pod logs: %s/pods/.
`, stack.SQSEndpoint, stack.CloudWatchEndpoint, stack.Kubeconfig, kubeBin, binDir, envLine(stack.AWSEnv()),
		emulator.CanonicalURL("payments"), filepath.Join(localcluster.RepoRoot(), "hack", "demo", "try-it.yaml"), stack.LogDir, dir)
	if o.exit {
		return nil
	}
	fmt.Println("Press Ctrl-C to stop; everything the demo started is stopped and removed.")
	<-ctx.Done()
	return nil
}

// load fills the queues with test/cmd/loadgen, one loadgen per queue at once,
// the messages split evenly.
// It returns how many messages went into each queue.
func load(ctx context.Context, stack *localcluster.Stack, binDir string, names []string, o options) ([]int64, error) {
	if len(names) == 1 {
		step("loading %d messages into %s with test/cmd/loadgen", o.messages, emulator.CanonicalURL(names[0]))
	} else {
		step("loading %d messages into %d queues (%s to %s) with test/cmd/loadgen", o.messages, len(names), names[0], names[len(names)-1])
	}
	// One queue after the other: fauxqs serves one process's requests on
	// one core, and loading the queues side by side was slower.
	start := time.Now()
	loaded := make([]int64, len(names))
	for i, name := range names {
		count := o.messages / len(names)
		if i < o.messages%len(names) {
			count++
		}
		loaded[i] = int64(count)
		args := []string{"--queue-url", emulator.CanonicalURL(name), "--create", "--count", fmt.Sprint(count), "--concurrency", "8"}
		if o.size > 0 {
			args = append(args, "--size", fmt.Sprint(o.size))
		}
		loadgen := exec.CommandContext(ctx, filepath.Join(binDir, "loadgen"), args...)
		loadgen.Env = os.Environ()
		for _, e := range stack.AWSEnv() {
			loadgen.Env = append(loadgen.Env, e.Name+"="+e.Value)
		}
		loadgen.Stdout, loadgen.Stderr = indent{}, indent{}
		if err := loadgen.Run(); err != nil {
			return nil, fmt.Errorf("loadgen %s: %w", name, err)
		}
	}
	if len(names) > 1 {
		took := time.Since(start)
		fmt.Printf("    loaded %d messages in %s: %.0f msg/s\n", o.messages, took.Round(100*time.Millisecond), float64(o.messages)/took.Seconds())
	}
	return loaded, nil
}

// applyDrainers applies the manifest's QueueDrainer in the namespace demo,
// once per queue, named after it. The emulators' endpoints reach its pods
// from the operator (--consumer-env), as they would for a drainer applied
// by hand.
func applyDrainers(
	ctx context.Context, stack *localcluster.Stack, k8s client.Client, manifest string, names []string, maxWorkers int,
) ([]types.NamespacedName, error) {
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "demo"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(localcluster.RepoRoot(), manifest))
	if err != nil {
		return nil, err
	}
	objs, err := localcluster.Objects(data)
	if err != nil {
		return nil, fmt.Errorf("%s: want one object (%w)", manifest, err)
	}
	if len(objs) != 1 {
		return nil, fmt.Errorf("%s: want one object, found %d", manifest, len(objs))
	}
	var keys []types.NamespacedName
	var apply []*unstructured.Unstructured
	for _, name := range names {
		var qd v1alpha1.QueueDrainer
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[0].DeepCopy().Object, &qd); err != nil {
			return nil, err
		}
		qd.Namespace, qd.Name = "demo", name
		qd.Spec.Queue.URL = emulator.CanonicalURL(name)
		if maxWorkers > 0 {
			qd.Spec.Workers.Max = int32(maxWorkers)
		}
		u, err := localcluster.ForApply(&qd)
		if err != nil {
			return nil, err
		}
		apply = append(apply, u)
		keys = append(keys, types.NamespacedName{Namespace: qd.Namespace, Name: qd.Name})
	}
	return keys, stack.Apply(ctx, apply)
}

// progress follows one queue as SQS counts it (status.queue is renewed
// less often while a run goes on): the messages left, and a drain rate
// smoothed over a few seconds (the counts are approximate).
type progress struct {
	url               string // the emulator's URL for the queue
	visible, inFlight int64
	lastLeft          int64
	lastAt            time.Time
	rate              float64
}

func (p *progress) observe(ctx context.Context, api *sqs.Client) error {
	c, err := sqsstats.CountsAt(ctx, api, p.url)
	if err != nil {
		return err
	}
	now := time.Now()
	p.visible, p.inFlight = c.Visible, c.InFlight
	left := c.Visible + c.InFlight
	if !p.lastAt.IsZero() && left <= p.lastLeft {
		p.rate = 0.5*p.rate + 0.5*float64(p.lastLeft-left)/now.Sub(p.lastAt).Seconds()
	}
	p.lastLeft, p.lastAt = left, now
	return nil
}

// watch prints the drainers' progress every second until each has its
// first run recorded and its queue empty, then the drain's figures.
func watch(
	ctx context.Context, stack *localcluster.Stack, k8s client.Client, keys []types.NamespacedName, loaded []int64,
	fauxqs localcluster.Process, cpuBefore time.Duration,
) error {
	api, err := sqsClient(ctx, stack)
	if err != nil {
		return err
	}
	prog := make([]progress, len(keys))
	for i, key := range keys {
		out, err := api.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(key.Name)})
		if err != nil {
			return err
		}
		prog[i].url = aws.ToString(out.QueueUrl)
	}
	start := time.Now()
	lastLine, printed := "", time.Time{}
	for {
		drainers := make([]v1alpha1.QueueDrainer, len(keys))
		for i, key := range keys {
			if err := k8s.Get(ctx, key, &drainers[i]); err != nil {
				return err
			}
			if err := prog[i].observe(ctx, api); err != nil {
				return err
			}
		}
		var line string
		if len(keys) == 1 {
			line = drainerLine(&drainers[0], &prog[0])
		} else {
			line = totalLine(drainers, prog)
		}
		// A line when something new was seen, at least every 10 seconds.
		if line != lastLine || time.Since(printed) >= 10*time.Second {
			fmt.Printf("%5.0fs  %s\n", time.Since(start).Seconds(), line)
			lastLine, printed = line, time.Now()
		}
		if done(drainers, prog) {
			if err := summarize(drainers, fauxqs, cpuBefore); err != nil {
				return err
			}
			if err := account(drainers, loaded); err != nil {
				printSummaries(ctx, k8s)
				return err
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		if time.Since(start) > 30*time.Minute {
			return errors.New("the queues were not drained within 30 minutes")
		}
	}
}

// done: every drainer has finished a run and its queue is empty.
func done(drainers []v1alpha1.QueueDrainer, prog []progress) bool {
	for i, qd := range drainers {
		st := qd.Status
		if prog[i].visible+prog[i].inFlight != 0 || len(st.History) == 0 || st.ActiveRun != nil {
			return false
		}
	}
	return true
}

func drainerLine(qd *v1alpha1.QueueDrainer, p *progress) string {
	st := qd.Status
	if st.Queue == nil {
		return "waiting for the operator to look at the queue"
	}
	line := fmt.Sprintf("visible %7d  in flight %5d  ", p.visible, p.inFlight)
	switch {
	case st.ActiveRun != nil:
		r := st.ActiveRun
		line += fmt.Sprintf("run %s (%s), workers %d/%d running", r.Name, r.Trigger, r.Running, r.Workers)
		if r.Pending > 0 {
			line += fmt.Sprintf(" (%d pending)", r.Pending)
		}
		line += fmt.Sprintf(", %6.0f msg/s", p.rate)
	case len(st.History) > 0:
		h := st.History[0]
		line += fmt.Sprintf("run %s %s: %d messages in %s", h.Name, h.Result, ptr.Deref(h.MessagesProcessed, -1), h.FinishedAt.Sub(h.StartedAt.Time))
	default:
		line += "no run yet"
	}
	return line
}

// totalLine sums the drainers up.
func totalLine(drainers []v1alpha1.QueueDrainer, prog []progress) string {
	var visible, inFlight int64
	var active, finished, running, wanted, pending int32
	rate := 0.0
	for i := range drainers {
		st := drainers[i].Status
		if st.Queue == nil {
			return "waiting for the operator to look at the queues"
		}
		visible += prog[i].visible
		inFlight += prog[i].inFlight
		switch {
		case st.ActiveRun != nil:
			active++
			running += st.ActiveRun.Running
			wanted += st.ActiveRun.Workers
			pending += st.ActiveRun.Pending
			rate += prog[i].rate
		case len(st.History) > 0:
			finished++
		}
	}
	line := fmt.Sprintf("visible %7d  in flight %5d  runs: %d active, %d finished", visible, inFlight, active, finished)
	if active > 0 {
		line += fmt.Sprintf("; workers %d/%d running", running, wanted)
		if pending > 0 {
			line += fmt.Sprintf(" (%d pending)", pending)
		}
		line += fmt.Sprintf(", %6.0f msg/s", rate)
	}
	return line
}

// summarize checks the runs and prints what the drain took: from the
// first run's start to the last one's end.
func summarize(drainers []v1alpha1.QueueDrainer, fauxqs localcluster.Process, cpuBefore time.Duration) error {
	var processed int64
	var first, last time.Time
	var workers int32
	for _, qd := range drainers {
		h := qd.Status.History[0]
		if h.Result != v1alpha1.RunSucceeded {
			return fmt.Errorf("run %s ended %s: %s", h.Name, h.Result, h.Message)
		}
		if len(drainers) == 1 {
			step("queue drained: run %s processed %d messages in %s with %d workers, %s msg/s", h.Name,
				ptr.Deref(h.MessagesProcessed, -1), h.FinishedAt.Sub(h.StartedAt.Time), h.Workers, h.MessagesPerSecond)
		}
		processed += ptr.Deref(h.MessagesProcessed, 0)
		workers += h.Workers
		if first.IsZero() || h.StartedAt.Before(&metav1.Time{Time: first}) {
			first = h.StartedAt.Time
		}
		if h.FinishedAt.After(last) {
			last = h.FinishedAt.Time
		}
	}
	took := last.Sub(first)
	if len(drainers) > 1 {
		step("queues drained: %d runs processed %d messages in %s (first start to last finish) with %d workers in all, %.0f msg/s",
			len(drainers), processed, took, workers, float64(processed)/took.Seconds())
	}
	if cpu := fauxqs.CPU() - cpuBefore; cpu > 0 && took > 0 {
		fmt.Printf("    fauxqs used %.1f s of CPU since the drainers were applied: %.0f%% of one core over the drain\n",
			cpu.Seconds(), 100*cpu.Seconds()/took.Seconds())
	}
	return nil
}

// account checks that each queue's drainer processed, over all its runs (a
// queue may have taken more than one), at least the messages loaded into
// it, and says so, or which queues' runs tell fewer. More is no error: SQS
// delivers a message again when its visibility lapses (an overloaded
// emulator answers late), and a second handling counts again.
func account(drainers []v1alpha1.QueueDrainer, loaded []int64) error {
	var total, processed int64
	var short []string
	for i, qd := range drainers {
		var p, failed int64
		var runs []string
		for _, h := range qd.Status.History {
			p += ptr.Deref(h.MessagesProcessed, 0)
			failed += ptr.Deref(h.MessagesFailed, 0)
			runs = append(runs, fmt.Sprintf("%s %d", h.Name, ptr.Deref(h.MessagesProcessed, 0)))
		}
		total += loaded[i]
		processed += p
		if p < loaded[i] {
			short = append(short, fmt.Sprintf("%s: %d loaded, %d processed (%d failed) by its runs (%s)",
				qd.Name, loaded[i], p, failed, strings.Join(runs, ", ")))
		}
	}
	if len(short) > 0 {
		return fmt.Errorf("the queues are empty but their runs processed fewer messages than were loaded (%d loaded, %d processed):\n    %s",
			total, processed, strings.Join(short, "\n    "))
	}
	again := ""
	if processed > total {
		again = fmt.Sprintf(", %d of them again after SQS delivered them a second time", processed-total)
	}
	step("every message accounted for: %d loaded, %d processed%s; each queue empty", total, processed, again)
	return nil
}

// printSummaries prints what each worker of the demo's runs said when it
// exited (its termination message: received, processed, failed, released).
func printSummaries(ctx context.Context, k8s client.Client) {
	var pods corev1.PodList
	if err := k8s.List(ctx, &pods, client.InNamespace("demo")); err != nil {
		fmt.Printf("    listing the workers' pods: %v\n", err)
		return
	}
	for _, p := range pods.Items {
		for _, c := range p.Status.ContainerStatuses {
			if t := c.State.Terminated; t != nil {
				fmt.Printf("    %s %s exited %d: %s\n", p.Name, c.Name, t.ExitCode, strings.TrimSpace(t.Message))
			}
		}
	}
}

// sqsClient reaches the emulator as the pods do.
func sqsClient(ctx context.Context, stack *localcluster.Stack) (*sqs.Client, error) {
	cfg, err := emulator.AWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(stack.SQSEndpoint) }), nil
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
