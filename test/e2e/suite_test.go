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

// Package e2e runs the operator in a local cluster (test/localcluster): real
// etcd, kube-apiserver, kube-controller-manager and kube-scheduler, a node
// agent running pods as processes, the operator deployed from config/default
// with its own service account, drain-worker consumers, fauxqs and the
// CloudWatch simulator. Run by `make test` (target test-e2e).
package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/queuedrainer/queue-drainer/test/emulator"
	"github.com/queuedrainer/queue-drainer/test/localcluster"
	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

// cloudWatchPeriod is how often ages are published and fetched: short, so
// that the age trigger can be seen in seconds.
const cloudWatchPeriod = 2 * time.Second

var (
	stack  *localcluster.Stack
	k8s    client.Client
	sqsAPI *sqs.Client
	nsSeq  atomic.Int32
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped with -short (it starts a whole local cluster)")
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	root := localcluster.RepoRoot()
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "e2e:", err); return 1 }

	// What the cluster runs, built on demand and cached: the Kubernetes
	// binaries, kustomize, the operator's two programs and the no-op handler.
	kubeBin, err := output(root, filepath.Join(root, "hack", "kube-binaries.sh"),
		"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
	if err != nil {
		return fail(err)
	}
	if _, err := output(root, "make", "--no-print-directory", "-s", "kustomize"); err != nil {
		return fail(err)
	}
	binDir, err := os.MkdirTemp("", "qd-e2e-bin-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(binDir)
	if _, err := output(root, "go", "build", "-o", binDir+"/", "./cmd/manager", "./cmd/drain-worker"); err != nil {
		return fail(err)
	}
	if err := localcluster.BuildHandler(ctx, binDir); err != nil {
		return fail(err)
	}

	dir, err := os.MkdirTemp("", "qd-e2e-")
	if err != nil {
		return fail(err)
	}
	start := time.Now()
	stack, err = localcluster.StartStack(ctx, localcluster.StackOptions{
		Dir:              dir,
		KubeBinDir:       kubeBin,
		BinDir:           binDir,
		Kustomize:        filepath.Join(root, "bin", "kustomize"),
		CloudWatchPeriod: cloudWatchPeriod,
		ManagerArgs:      []string{"--workers-pending-grace=" + pendingGrace.String()},
		Progress:         prefixed{"e2e: "},
	})
	if err != nil {
		return fail(fmt.Errorf("%w (state and logs kept in %s)", err, dir))
	}
	fmt.Printf("e2e: local cluster, emulators and operator up in %s\n", time.Since(start).Round(100*time.Millisecond))

	// The tests' own SDK clients find the emulators as the pods do.
	for _, e := range stack.AWSEnv() {
		os.Setenv(e.Name, e.Value)
	}
	awsCfg, err := emulator.AWSConfig(ctx)
	if err != nil {
		return fail(err)
	}
	sqsAPI = sqs.NewFromConfig(awsCfg)
	if k8s, err = client.New(stack.Config, client.Options{Scheme: kubetest.Scheme()}); err != nil {
		return fail(err)
	}

	code := m.Run()
	stack.Stop()
	if code != 0 {
		fmt.Printf("e2e: failed; cluster state and logs kept in %s\n", dir)
	} else {
		os.RemoveAll(dir)
	}
	return code
}

// output runs a command in dir, passing its stderr through (build
// progress), and returns the last line of its stdout.
func output(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1], nil
}

// prefixed writes progress lines to stdout with a prefix.
type prefixed struct{ prefix string }

func (p prefixed) Write(b []byte) (int, error) {
	fmt.Print(p.prefix + string(b))
	return len(b), nil
}
