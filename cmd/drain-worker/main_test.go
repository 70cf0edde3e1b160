package main_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/queuedrainer/queue-drainer/internal/drainsummary"
	"github.com/queuedrainer/queue-drainer/test/emulator"
)

// The binary as a Job runs it: QUEUE_URL is the canonical SQS URL, the
// endpoint comes from AWS_ENDPOINT_URL_SQS, the summary goes to the
// termination-message file.
func TestDrainWorkerDrainsThroughExecAndWritesItsSummary(t *testing.T) {
	bin := build(t)
	ctx := context.Background()
	p, err := emulator.StartFauxqs(ctx, os.Stderr)
	must(t, err)
	defer p.Stop()
	t.Setenv("AWS_ENDPOINT_URL_SQS", p.Endpoint)
	cfg, err := emulator.AWSConfig(ctx)
	must(t, err)
	api := sqs.NewFromConfig(cfg)
	url, err := emulator.CreateQueue(ctx, api, "orders", nil)
	must(t, err)
	must(t, emulator.SendMessages(ctx, api, url, 120, 0))

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
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
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
