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

package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/queuedrainer/queue-drainer/test/emulator"
	"github.com/queuedrainer/queue-drainer/test/emulator/cwsim"
)

const (
	// OperatorNamespace and OperatorDeployment are config/default's names.
	OperatorNamespace  = "queue-drainer-system"
	OperatorDeployment = "queue-drainer-controller-manager"
	// ManagerImage is the Helm chart's manager image (config/manager's is
	// "controller").
	ManagerImage = "ghcr.io/queuedrainer/queue-drainer"
	// WorkerImage is the drain-worker image the samples use.
	WorkerImage = "ghcr.io/queuedrainer/drain-worker"
	// ShellImage runs its command from the host's PATH (sh, true, ...).
	ShellImage = "busybox"
	// HandlerImage is a message handler that does nothing, fast: test/cmd/noophttp,
	// answering 204 to every POST (noophttp --listen ADDR). The demo and the
	// end-to-end suite run it as drain-worker --http's native sidecar.
	HandlerImage = "ghcr.io/queuedrainer/noop-http"
)

// HandlerBinary is test/cmd/noophttp's binary in a stack's BinDir.
const HandlerBinary = "noophttp"

// BuildHandler builds test/cmd/noophttp into binDir (in the test module,
// test/go.mod).
func BuildHandler(ctx context.Context, binDir string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(binDir, HandlerBinary), "./cmd/noophttp")
	cmd.Dir = filepath.Join(RepoRoot(), "test")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building test/cmd/noophttp: %w\n%s", err, out)
	}
	return nil
}

// StackOptions configure a Stack.
type StackOptions struct {
	Dir        string // state; the caller creates and removes it
	KubeBinDir string // from hack/kube-binaries.sh
	BinDir     string // manager and drain-worker, from `make build`; noophttp is built there if missing
	Kustomize  string // the kustomize binary
	// CloudWatchPeriod is how often the simulator publishes the queues'
	// metrics and the operator fetches them. Default 60s, as AWS.
	CloudWatchPeriod time.Duration
	// ManagerArgs are added to (or replace) the manager's flags.
	ManagerArgs []string
	Progress    io.Writer
	Log         *slog.Logger
}

// Stack is what the demo and the end-to-end tests run: the local cluster,
// the SQS emulator (fauxqs), the CloudWatch simulator publishing the
// queues' metrics, and the operator deployed from config/default.
type Stack struct {
	*Cluster
	SQSEndpoint        string
	CloudWatchEndpoint string
	CloudWatch         *cwsim.Server

	fauxqs      *emulator.Process
	stopCW      func() error
	stopPublish context.CancelFunc
	publishDone chan struct{}
}

// RepoRoot is the repository this package was built from (this file is
// test/localcluster/stack.go).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// RunIn changes to the repository's directory elem and exits with run's
// code: the TestMain (run is m.Run) of tests that read, or write, files
// there by their relative paths.
func RunIn(run func() int, elem ...string) {
	if err := os.Chdir(filepath.Join(append([]string{RepoRoot()}, elem...)...)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(run())
}

// StartStack starts everything and returns once the operator is available.
func StartStack(ctx context.Context, o StackOptions) (_ *Stack, err error) {
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.CloudWatchPeriod <= 0 {
		o.CloudWatchPeriod = time.Minute
	}
	s := &Stack{}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if err := os.MkdirAll(filepath.Join(o.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}

	fmt.Fprintln(o.Progress, "starting the SQS emulator (fauxqs)")
	fauxqsLog, err := os.Create(filepath.Join(o.Dir, "logs", "fauxqs.log"))
	if err != nil {
		return nil, err
	}
	defer fauxqsLog.Close() // the child keeps its own descriptor
	if s.fauxqs, err = emulator.StartFauxqs(ctx, fauxqsLog); err != nil {
		return nil, err
	}
	s.SQSEndpoint = s.fauxqs.Endpoint

	fmt.Fprintf(o.Progress, "starting the CloudWatch simulator (publishing every %s)\n", o.CloudWatchPeriod)
	s.CloudWatch = cwsim.New(cwsim.Options{})
	if s.CloudWatchEndpoint, s.stopCW, err = s.CloudWatch.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	pub, err := cwsim.NewPublisher(s.CloudWatch, cwsim.PublisherOptions{SQSEndpoint: s.SQSEndpoint, Period: o.CloudWatchPeriod})
	if err != nil {
		return nil, err
	}
	pubCtx, stopPublish := context.WithCancel(context.Background())
	s.stopPublish, s.publishDone = stopPublish, make(chan struct{})
	go func() { defer close(s.publishDone); _ = pub.Run(pubCtx) }()

	if _, err := os.Stat(filepath.Join(o.BinDir, HandlerBinary)); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintln(o.Progress, "building the no-op HTTP handler (test/cmd/noophttp)")
		if err := BuildHandler(ctx, o.BinDir); err != nil {
			return nil, err
		}
	}
	if s.Cluster, err = Start(ctx, Options{
		Dir:        o.Dir,
		KubeBinDir: o.KubeBinDir,
		Images: map[string]string{
			"controller": filepath.Join(o.BinDir, "manager"), // config/manager's image
			ManagerImage: filepath.Join(o.BinDir, "manager"),
			WorkerImage:  filepath.Join(o.BinDir, "drain-worker"),
			HandlerImage: filepath.Join(o.BinDir, HandlerBinary),
			ShellImage:   "",
		},
		Progress: o.Progress,
		Log:      o.Log,
	}); err != nil {
		return nil, err
	}

	fmt.Fprintln(o.Progress, "deploying the operator from config/default")
	if err := s.DeployOperator(ctx, o.Kustomize, o.CloudWatchPeriod, o.ManagerArgs); err != nil {
		return nil, err
	}
	return s, nil
}

// DeployOperator renders config/default, points the manager at the
// emulators, applies it and waits for the manager to be available.
func (s *Stack) DeployOperator(ctx context.Context, kustomize string, cloudWatchPeriod time.Duration, args []string) error {
	manifests, err := Kustomize(ctx, kustomize, filepath.Join(RepoRoot(), "config", "default"))
	if err != nil {
		return err
	}
	objs, err := Objects(manifests)
	if err != nil {
		return err
	}
	err = ChangeManager(objs, ManagerChanges{
		Env:  s.AWSEnv(),
		Args: append(s.ManagerArgs(cloudWatchPeriod), args...),
	})
	if err != nil {
		return err
	}
	if err := s.Apply(ctx, objs); err != nil {
		return err
	}
	return s.WaitAvailable(ctx, OperatorNamespace, OperatorDeployment, 2*time.Minute)
}

// ManagerArgs are the manager's flags for this stack, however it is
// deployed: pods share the host's network here, so the kernel picks the
// metrics and probe ports (replicas and a rolling update's new pod do not
// collide); the emulators' variables of AWSEnv, which the manager has too,
// are passed on to every consumer pod (--consumer-env), so that drainers
// need no AWS settings of their own.
func (s *Stack) ManagerArgs(cloudWatchPeriod time.Duration) []string {
	names := make([]string, 0, len(s.AWSEnv()))
	for _, e := range s.AWSEnv() {
		names = append(names, e.Name)
	}
	return []string{
		"--metrics-bind-address=127.0.0.1:0",
		"--health-probe-bind-address=127.0.0.1:0",
		"--cloudwatch-period=" + cloudWatchPeriod.String(),
		"--consumer-env=" + strings.Join(names, ","),
	}
}

// AWSEnv is the environment a pod needs to reach the emulators: the
// standard endpoint variables, a region, and static credentials standing
// for the pod's AWS identity.
func (s *Stack) AWSEnv() []corev1.EnvVar {
	return []corev1.EnvVar{
		{Name: "AWS_ENDPOINT_URL_SQS", Value: s.SQSEndpoint},
		{Name: "AWS_ENDPOINT_URL_CLOUDWATCH", Value: s.CloudWatchEndpoint},
		{Name: "AWS_REGION", Value: emulator.Region},
		{Name: "AWS_ACCESS_KEY_ID", Value: "test"},
		{Name: "AWS_SECRET_ACCESS_KEY", Value: "test"},
	}
}

// Stop stops the cluster (and so every pod), then the emulators.
func (s *Stack) Stop() {
	if s.Cluster != nil {
		s.Cluster.Stop()
	}
	if s.stopPublish != nil {
		s.stopPublish()
		<-s.publishDone
	}
	if s.stopCW != nil {
		_ = s.stopCW()
	}
	s.fauxqs.Stop()
}

// FauxqsPID is the SQS emulator's process ID, 0 if it cannot be told.
func (s *Stack) FauxqsPID() int {
	_, port, _ := strings.Cut(strings.TrimPrefix(s.SQSEndpoint, "http://"), ":")
	want := []byte("FAUXQS_PORT=" + port + "\x00")
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if !bytes.Contains(cmdline, []byte("fauxqs.mjs")) {
			continue
		}
		if env, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "environ")); bytes.Contains(env, want) {
			return pid
		}
	}
	return 0
}

// Process reads a process's CPU time and memory from /proc (Linux); the
// zero Process, or one that has ended, reads 0.
type Process struct{ pid int }

// ProcessOf is the process pid (0: none).
func ProcessOf(pid int) Process { return Process{pid} }

// CPU is the user and system time the process has used.
func (p Process) CPU() time.Duration {
	if p.pid == 0 {
		return 0
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 12th and 13th, in clock ticks (100 a second on Linux).
	_, rest, _ := bytes.Cut(stat, []byte(") "))
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// RSS is the process's resident memory in bytes.
func (p Process) RSS() int64 {
	if p.pid == 0 {
		return 0
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
