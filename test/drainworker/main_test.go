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

package drainworker_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/queuedrainer/queue-drainer/internal/drainsummary"
	"github.com/queuedrainer/queue-drainer/internal/sqsstats"
	"github.com/queuedrainer/queue-drainer/test/emulator"
	"github.com/queuedrainer/queue-drainer/test/localcluster"
)

// The binary as a Job runs it: QUEUE_URL is the canonical SQS URL, the
// endpoint comes from AWS_ENDPOINT_URL_SQS, the summary goes to the
// termination-message file.
func TestDrainWorkerDrainsThroughExecAndWritesItsSummary(t *testing.T) {
	bin := build(t)
	ctx := context.Background()
	api, _ := startFauxqs(t)
	queueURL, err := emulator.CreateQueue(ctx, api, "orders", nil)
	must(t, err)
	must(t, emulator.SendMessages(ctx, api, queueURL, 120, 0))

	dir := t.TempDir()
	termLog, seen := filepath.Join(dir, "termination-log"), filepath.Join(dir, "seen")
	cmd := exec.Command(bin, "--wait-time", "1s", "--termination-log", termLog, "--exec", "--", "sh", "-c", `cat >> "$SEEN"; echo >> "$SEEN"`)
	queue := emulator.CanonicalURL("orders")
	cmd.Env = append(os.Environ(), "QUEUE_URL="+queue, "SEEN="+seen,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION="+emulator.Region)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("drain-worker: %v\n%s", err, stderrOf(err))
	}
	// Read as the operator reads it.
	raw, err := os.ReadFile(termLog)
	must(t, err)
	if sum, ok := drainsummary.Parse(string(raw)); !ok || sum.Processed != 120 || sum.Failed != 0 || sum.Queue != queue || sum.Error != "" {
		t.Errorf("termination message %s, want a summary of 120 processed from %s, without an error", raw, queue)
	}
	if !strings.Contains(string(out), `"processed":120`) {
		t.Errorf("stdout %q does not carry the summary", out)
	}
	bodies, err := os.ReadFile(seen)
	must(t, err)
	if n := strings.Count(string(bodies), "message "); n != 120 {
		t.Errorf("the handler saw %d bodies, want 120", n)
	}
}

func TestDrainWorkerExitCodes(t *testing.T) {
	bin := build(t)
	ctx := context.Background()
	p, err := emulator.StartFauxqs(ctx, os.Stderr)
	must(t, err)
	defer p.Stop()
	env := append(os.Environ(), "AWS_ENDPOINT_URL_SQS="+p.Endpoint, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION="+emulator.Region)
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		code int
		says string
	}{
		{"no handler", nil, []string{"QUEUE_URL=" + emulator.CanonicalURL("orders")}, 2, "choose a handler"},
		{"no queue", []string{"--http", "http://127.0.0.1:1/"}, []string{"QUEUE_URL="}, 2, "no queue"},
		{"both handlers", []string{"--http", "http://127.0.0.1:1/", "--exec", "--", "true"}, []string{"QUEUE_URL=" + emulator.CanonicalURL("orders")}, 2, "choose one"},
		{"queue does not exist", []string{"--termination-log", "", "--exec", "--", "true"}, []string{"QUEUE_URL=" + emulator.CanonicalURL("missing")}, 1, "NonExistentQueue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = append(append([]string{}, env...), tc.env...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != tc.code || !strings.Contains(string(out), tc.says) {
				t.Errorf("exit %v, output %q; want code %d saying %q", err, out, tc.code, tc.says)
			}
		})
	}
}

// A worker that fails still leaves a summary, which names the queue it
// was given and says why it failed, for the operator to show.
func TestDrainWorkerThatCannotReachSQSSaysSoInItsSummary(t *testing.T) {
	bin := build(t)
	port, err := emulator.FreePort() // nothing listens there
	must(t, err)
	queue := "https://sqs.us-east-1.amazonaws.com/000000000000/nothing"
	sum, took := runFailing(t, bin, "QUEUE_URL="+queue, fmt.Sprintf("AWS_ENDPOINT_URL_SQS=http://127.0.0.1:%d", port))
	if !strings.HasPrefix(sum.Error, "could not reach SQS: ") || !strings.Contains(sum.Error, "connection refused") || sum.Queue != queue {
		t.Errorf("summary %+v, want queue %s and an error saying SQS could not be reached: connection refused", sum, queue)
	}
	if took > 15*time.Second {
		t.Errorf("gave up after %s, want within a few seconds", took)
	}
}

func TestDrainWorkerSummarizesWhyItFailed(t *testing.T) {
	bin := build(t)
	ctx := context.Background()
	p, err := emulator.StartFauxqs(ctx, os.Stderr)
	must(t, err)
	defer p.Stop()
	missing := p.Endpoint + "/" + emulator.Account + "/missing"
	for _, tc := range []struct {
		name, queue string
		env         []string
		want        string
	}{
		// GetQueueUrl fails.
		{"queue does not exist", emulator.CanonicalURL("missing"), nil, "queue does not exist: "},
		// An emulator's URL is not resolved: worker.Run's first call fails.
		{"queue does not exist, emulator URL", missing, nil, "queue does not exist: "},
		{"bad AWS configuration", emulator.CanonicalURL("orders"), []string{"AWS_PROFILE=nope",
			"AWS_CONFIG_FILE=" + filepath.Join(t.TempDir(), "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(t.TempDir(), "none")},
			"loading AWS configuration: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sum, _ := runFailing(t, bin, append([]string{"QUEUE_URL=" + tc.queue, "AWS_ENDPOINT_URL_SQS=" + p.Endpoint}, tc.env...)...)
			if !strings.HasPrefix(sum.Error, tc.want) || sum.Queue != tc.queue {
				t.Errorf("summary %+v, want queue %s and an error starting %q", sum, tc.queue, tc.want)
			}
		})
	}
}

// runFailing runs drain-worker with env, expects exit code 1 and returns
// the summary it left in its termination-message file.
func runFailing(t *testing.T, bin string, env ...string) (drainsummary.Summary, time.Duration) {
	t.Helper()
	termLog := filepath.Join(t.TempDir(), "termination-log")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--wait-time", "1s", "--termination-log", termLog, "--exec", "--", "true")
	cmd.Env = append(append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION="+emulator.Region), env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit %v after %s, want code 1; output:\n%s", err, took, out)
	}
	raw, err := os.ReadFile(termLog)
	must(t, err)
	sum, ok := drainsummary.Parse(string(raw))
	if !ok {
		t.Fatalf("termination message %q is not a summary", raw)
	}
	t.Logf("after %s: error %q", took.Round(time.Millisecond), sum.Error)
	return sum, took
}

func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "drain-worker")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/drain-worker")
	cmd.Dir = localcluster.RepoRoot()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func stderrOf(err error) string {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(exit.Stderr)
	}
	return ""
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// --redrive-to is a handler of its own: with another, or aimed where it
// cannot work, it is a usage error; a target that does not exist fails
// the drain and says so.
func TestDrainWorkerRedriveExitCodes(t *testing.T) {
	bin := build(t)
	ctx := context.Background()
	api, p := startFauxqs(t)
	dlqURL, err := emulator.CreateQueue(ctx, api, "orders-dlq", nil)
	must(t, err)
	must(t, emulator.SendMessages(ctx, api, dlqURL, 5, 0))

	dlq, target := emulator.CanonicalURL("orders-dlq"), emulator.CanonicalURL("orders")
	env := append(os.Environ(), "AWS_ENDPOINT_URL_SQS="+p.Endpoint, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_REGION="+emulator.Region, "QUEUE_URL="+dlq)
	for _, tc := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"with --http", []string{"--redrive-to", target, "--http", "http://127.0.0.1:1/"}, 2, "choose one of --http, --exec and --redrive-to"},
		{"with --exec", []string{"--redrive-to", target, "--exec", "--", "true"}, 2, "choose one of --http, --exec and --redrive-to"},
		{"with a command", []string{"--redrive-to", target, "--", "true"}, 2, "--redrive-to takes no command"},
		{"to the queue drained", []string{"--redrive-to", dlq}, 2, "names the queue drained"},
		{"standard to FIFO", []string{"--redrive-to", emulator.CanonicalURL("orders.fifo")}, 2, "cannot redrive the standard queue"},
		{"target does not exist", []string{"--redrive-to", target}, 1, "NonExistentQueue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			termLog := filepath.Join(t.TempDir(), "termination-log")
			cmd := exec.Command(bin, append([]string{"--wait-time", "1s", "--termination-log", termLog}, tc.args...)...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != tc.code || !strings.Contains(string(out), tc.says) {
				t.Errorf("exit %v, output %q; want code %d saying %q", err, out, tc.code, tc.says)
			}
			if tc.code == 1 {
				raw, err := os.ReadFile(termLog)
				must(t, err)
				if sum, ok := drainsummary.Parse(string(raw)); !ok || !strings.HasPrefix(sum.Error, "queue does not exist: ") || sum.Queue != dlq || sum.Received != 0 {
					t.Errorf("termination message %s, want the dead-letter queue, nothing received, and that the queue does not exist", raw)
				}
			}
		})
	}
	// Nothing was taken from the dead-letter queue.
	c, err := sqsstats.CountsAt(ctx, api, dlqURL)
	must(t, err)
	if c.Visible != 5 || c.InFlight != 0 {
		t.Errorf("dead-letter queue holds %d visible, %d in flight; want its 5 messages", c.Visible, c.InFlight)
	}
}

// slowSends puts fauxqs behind a proxy that holds every SendMessage for
// delay, so that a redrive takes long enough to be interrupted; it
// returns the proxy's endpoint and the number of sends it passed. A send
// the worker gives up on still reaches fauxqs, as one may reach SQS.
func slowSends(t *testing.T, endpoint string, delay time.Duration) (string, *atomic.Int64) {
	t.Helper()
	u, err := url.Parse(endpoint)
	must(t, err)
	proxy := httputil.NewSingleHostReverseProxy(u)
	var sends atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") == "AmazonSQS.SendMessage" {
			sends.Add(1)
			time.Sleep(delay)
			r = r.WithContext(context.WithoutCancel(r.Context()))
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &sends
}

func TestRedriveInterruptedBySIGTERMLosesNothing(t *testing.T) {
	const n, grace = 3000, 5 * time.Second
	bin := build(t)
	ctx := context.Background()
	api, p := startFauxqs(t)
	dlq, err := emulator.CreateQueue(ctx, api, "orders-dlq", map[string]string{"VisibilityTimeout": "60"})
	must(t, err)
	target, err := emulator.CreateQueue(ctx, api, "orders", nil)
	must(t, err)
	must(t, emulator.SendMessages(ctx, api, dlq, n, 0))

	endpoint, sends := slowSends(t, p.Endpoint, 200*time.Millisecond)
	termLog := filepath.Join(t.TempDir(), "termination-log")
	cmd := exec.Command(bin, "--wait-time", "1s", "--grace-period", grace.String(), "--termination-log", termLog,
		"--redrive-to", emulator.CanonicalURL("orders"))
	cmd.Env = append(os.Environ(), "QUEUE_URL="+emulator.CanonicalURL("orders-dlq"), "AWS_ENDPOINT_URL_SQS="+endpoint,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION="+emulator.Region)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// SIGTERM once a twentieth has been moved, with 16 sends under way.
	for moved := int64(0); moved < n/20; {
		select {
		case err := <-exited:
			t.Fatalf("drain-worker exited before the SIGTERM (%v), having moved %d:\n%s", err, moved, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		c, err := sqsstats.CountsAt(ctx, api, target)
		must(t, err)
		moved = c.Visible
	}
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	sigterm := time.Now()
	var exitErr error
	select {
	case exitErr = <-exited:
	case <-time.After(2 * grace):
		_ = cmd.Process.Kill()
		t.Fatalf("drain-worker still running %s after SIGTERM", 2*grace)
	}
	took := time.Since(sigterm)
	if exitErr != nil {
		t.Fatalf("drain-worker after SIGTERM: %v\n%s", exitErr, stderr.String())
	}
	raw, err := os.ReadFile(termLog)
	must(t, err)
	sum, ok := drainsummary.Parse(string(raw))
	if !ok {
		t.Fatalf("termination message %q is not a summary", raw)
	}
	dlqCounts, err := sqsstats.CountsAt(ctx, api, dlq)
	must(t, err)
	targetCounts, err := sqsstats.CountsAt(ctx, api, target)
	must(t, err)
	t.Logf("SIGTERM after %d sends; exited %s later; summary %s; dead-letter queue %d visible, %d in flight; target %d",
		sends.Load(), took.Round(time.Millisecond), strings.TrimSpace(string(raw)), dlqCounts.Visible, dlqCounts.InFlight, targetCounts.Visible)
	if took > grace {
		t.Errorf("exited %s after SIGTERM, past its grace period of %s", took, grace)
	}
	if sum.Processed <= 0 || sum.Processed >= n || sum.Queue != emulator.CanonicalURL("orders-dlq") || sum.Error != "" {
		t.Errorf("summary %s: want some but not all of %d moved, from the dead-letter queue, without an error", raw, n)
	}
	// Everything is in one queue or the other, visible now; what the
	// summary counts as moved is what the target holds.
	if dlqCounts.InFlight != 0 || dlqCounts.Visible+targetCounts.Visible != n || targetCounts.Visible != sum.Processed {
		t.Errorf("after SIGTERM: %d in the dead-letter queue (+%d in flight) and %d in the target (%d moved by the summary), want %d in all, none in flight",
			dlqCounts.Visible, dlqCounts.InFlight, targetCounts.Visible, sum.Processed, n)
	}
	// And each message is there once.
	where := map[string][]string{}
	for _, q := range []struct{ name, url string }{{"dead-letter queue", dlq}, {"target", target}} {
		for _, body := range readBodies(t, api, q.url) {
			where[body] = append(where[body], q.name)
		}
	}
	for i := range n {
		if body := fmt.Sprintf("message %d", i); len(where[body]) != 1 {
			t.Errorf("%s is in %v, want exactly one queue", body, where[body])
		}
	}
	if len(where) != n {
		t.Errorf("%d distinct messages in the two queues, want %d", len(where), n)
	}
}

// readBodies receives and deletes every message of a queue.
func readBodies(t *testing.T, api *sqs.Client, queueURL string) []string {
	t.Helper()
	var bodies []string
	for empties := 0; empties < 2; {
		out, err := api.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL),
			MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 120})
		must(t, err)
		if len(out.Messages) == 0 {
			empties++
			continue
		}
		empties = 0
		var entries []sqstypes.DeleteMessageBatchRequestEntry
		for i, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			entries = append(entries, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
		}
		_, err = api.DeleteMessageBatch(context.Background(), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
		must(t, err)
	}
	return bodies
}

// startFauxqs runs the SQS emulator for one test, and a client of the
// test's own that reaches it (through AWS_ENDPOINT_URL_SQS).
func startFauxqs(t *testing.T) (*sqs.Client, *emulator.Process) {
	t.Helper()
	ctx := context.Background()
	p, err := emulator.StartFauxqs(ctx, os.Stderr)
	must(t, err)
	t.Cleanup(p.Stop)
	t.Setenv("AWS_ENDPOINT_URL_SQS", p.Endpoint)
	cfg, err := emulator.AWSConfig(ctx)
	must(t, err)
	return sqs.NewFromConfig(cfg), p
}
