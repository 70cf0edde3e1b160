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

// Package emulator starts the AWS emulators the integration tests and the
// demo use: fauxqs (SQS, from npm, pinned by package-lock.json) and the
// project's CloudWatch simulator.
package emulator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// Region and Account are what the emulators use for queues created by the tests.
const (
	Region  = "us-east-1"
	Account = "000000000000"
)

// Dir is this package's directory, where package.json and node_modules live.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// fauxqsLauncher starts fauxqs (installed by `make emulators`) on loopback.
func fauxqsLauncher() string {
	return filepath.Join(Dir(), "fauxqs.mjs")
}

// Process is a running emulator.
type Process struct {
	Endpoint string
	cmd      *exec.Cmd
	exited   chan struct{} // closed once the process has ended; then exitErr is its status
	exitErr  error
}

// StartFauxqs starts fauxqs on a free loopback port and waits until it answers.
func StartFauxqs(ctx context.Context, logTo *os.File) (*Process, error) {
	if _, err := os.Stat(filepath.Join(Dir(), "node_modules", "fauxqs", "package.json")); err != nil {
		return nil, fmt.Errorf("fauxqs is not installed in %s: run `make emulators`", Dir())
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("node", fauxqsLauncher())
	cmd.Dir = Dir()
	cmd.Env = append(os.Environ(), fmt.Sprintf("FAUXQS_PORT=%d", port), "FAUXQS_HOST=localhost",
		"FAUXQS_DEFAULT_REGION="+Region)
	cmd.Stdout, cmd.Stderr = logTo, logTo
	// Its own process group, so that stopping it stops anything it started;
	// killed with the test process if that dies without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting fauxqs: %w", err)
	}
	p := &Process{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, exited: make(chan struct{})}
	go func() { p.exitErr = cmd.Wait(); close(p.exited) }()
	if err := p.waitReady(ctx, p.Endpoint+"/_fauxqs/queues"); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

func (p *Process) waitReady(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		select {
		case <-p.exited:
			err := p.exitErr
			if err == nil { // cmd.Wait says nil for exit status 0
				return errors.New("emulator exited before answering: exit status 0")
			}
			return fmt.Errorf("emulator exited before answering: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("emulator did not answer at %s within 30s", url)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop ends the emulator: SIGTERM, then SIGKILL after 5 seconds.
func (p *Process) Stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	// Its exit status says nothing: it was told to stop. exited is closed,
	// not sent on, so that Stop returns after waitReady saw the exit too.
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
