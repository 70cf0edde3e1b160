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

package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/queuedrainer/queue-drainer/test/emulator"
	"github.com/queuedrainer/queue-drainer/test/load"
)

// api talks to the fauxqs the command runs against in these tests.
var api *sqs.Client

func TestMain(m *testing.M) {
	os.Exit(func() int {
		ctx := context.Background()
		p, err := emulator.StartFauxqs(ctx, os.Stderr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer p.Stop()
		// What the command finds in its environment: the emulator's
		// endpoint and placeholder credentials.
		os.Setenv("AWS_ENDPOINT_URL_SQS", p.Endpoint)
		os.Setenv("AWS_ACCESS_KEY_ID", "test")
		os.Setenv("AWS_SECRET_ACCESS_KEY", "test")
		os.Unsetenv("AWS_SESSION_TOKEN")
		cfg, err := emulator.AWSConfig(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		api = sqs.NewFromConfig(cfg)
		return m.Run()
	}())
}

func parseArgs(args ...string) (options, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return parse(fs, args)
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCommandLineIsCheckedBeforeAnythingIsSent(t *testing.T) {
	q, fifo := emulator.CanonicalURL("orders"), emulator.CanonicalURL("orders.fifo")
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no queue":               {[]string{"--count", "1"}, "--queue-url is required"},
		"size and body file":     {[]string{"--queue-url", q, "--size", "10", "--body-file", writeFile(t, "x")}, "--size and --body-file: give one of"},
		"body file and template": {[]string{"--queue-url", q, "--body-file", writeFile(t, "x"), "--body-template", "x"}, "--body-file and --body-template: give one of"},
		"count and duration":     {[]string{"--queue-url", q, "--count", "5", "--rate", "5", "--duration", "1s"}, "--count and --duration are exclusive"},
		"zero duration":          {[]string{"--queue-url", q, "--rate", "5", "--duration", "0s"}, "--duration must be more than 0"},
		"duration without rate":  {[]string{"--queue-url", q, "--duration", "1s"}, "--duration needs --rate"},
		"groups, standard":       {[]string{"--queue-url", q, "--groups", "3"}, "--groups: only for a FIFO queue"},
		"content dedup, std":     {[]string{"--queue-url", q, "--content-dedup"}, "--content-dedup: only for a FIFO queue"},
		"zero groups":            {[]string{"--queue-url", fifo, "--groups", "0"}, "--groups must be at least 1"},
		"attributes, no create":  {[]string{"--queue-url", q, "--visibility-timeout", "10s"}, "--visibility-timeout: queue attributes, only with --create"},
		"DLQ without count":      {[]string{"--queue-url", q, "--create", "--dead-letter", "dlq"}, "--dead-letter and --max-receive-count go together"},
		"standard DLQ of FIFO":   {[]string{"--queue-url", fifo, "--create", "--dead-letter", "dlq", "--max-receive-count", "3"}, "name it dlq.fifo"},
		"receive count 0":        {[]string{"--queue-url", q, "--create", "--dead-letter", "dlq", "--max-receive-count", "0"}, "1 to 1000"},
		"fractional visibility":  {[]string{"--queue-url", q, "--create", "--visibility-timeout", "1.5s"}, "whole seconds"},
		"body file, NUL":         {[]string{"--queue-url", q, "--body-file", writeFile(t, "{\"a\":\x00}")}, "SQS would refuse it: byte 5: character U+0000"},
		"body file, Latin-1":     {[]string{"--queue-url", q, "--body-file", writeFile(t, "caf\xe9")}, "byte 3 (0xe9) is not valid UTF-8"},
		"body file, empty":       {[]string{"--queue-url", q, "--body-file", writeFile(t, "")}, "empty"},
		"body file, missing":     {[]string{"--queue-url", q, "--body-file", "/nonexistent/body"}, "no such file"},
		"template, bad":          {[]string{"--queue-url", q, "--body-template", "{{.Seq"}, "--body-template:"},
		"content dedup, 1 body":  {[]string{"--queue-url", fifo, "--content-dedup", "--body-file", writeFile(t, "x")}, "SQS would keep only the first"},
		"argument":               {[]string{"--queue-url", q, "extra"}, "unexpected arguments"},
	} {
		if _, err := parseArgs(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}

	o, err := parseArgs("--queue-url", q, "--rate", "50", "--duration", "3s")
	if err != nil || o.send.Count != 0 || o.send.Messages() != 150 {
		t.Errorf("--rate 50 --duration 3s: count %d, messages %d, err %v; want 0, 150", o.send.Count, o.send.Messages(), err)
	}
	content := "line 1\r\nline\t2 \u00e9\n"
	o, err = parseArgs("--queue-url", fifo, "--create", "--body-file", writeFile(t, content), "--groups", "5",
		"--visibility-timeout", "45s", "--dead-letter", "d.fifo", "--max-receive-count", "4")
	switch {
	case err != nil:
		t.Fatal(err)
	case o.send.Body != content || o.send.Groups != 5 || !o.send.FIFO:
		t.Errorf("send options %+v", o.send)
	case o.spec.VisibilityTimeout == nil || *o.spec.VisibilityTimeout != 45*time.Second || o.spec.DeadLetter != "d.fifo" || o.spec.MaxReceiveCount != 4:
		t.Errorf("queue spec %+v", o.spec)
	}
}

// loadgen runs the command and returns what it printed.
func loadgen(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	o, err := parseArgs(args...)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), o, &out, &errOut); err != nil {
		t.Fatalf("loadgen %q: %v\n%s", args, err, errOut.String())
	}
	return out.String(), errOut.String()
}

var finalLine = regexp.MustCompile(`^sent (\d+) messages of (\d+) bytes in \d+\.\d\ds: (\d+) msg/s \((\d+) SendMessageBatch calls, 0 entries sent again\)\n$`)

func TestLoadgenCreatesAFIFOQueueWithADeadLetterQueueAndFillsItFromATemplate(t *testing.T) {
	ctx := context.Background()
	stdout, stderr := loadgen(t, "--queue-url", emulator.CanonicalURL("cli.fifo"), "--create",
		"--visibility-timeout", "17s", "--dead-letter", "cli-dlq.fifo", "--max-receive-count", "3",
		"--groups", "4", "--body-template", `{"order":{{.Seq}}}`, "--count", "40", "--quiet")
	m := finalLine.FindStringSubmatch(stdout)
	if m == nil || m[1] != "40" {
		t.Fatalf("stdout %q, want the final line for 40 messages", stdout)
	}
	if !strings.Contains(stderr, "resolved from "+emulator.CanonicalURL("cli.fifo")) || strings.Contains(stderr, "msg/s") {
		t.Errorf("stderr %q: want the resolution and, with --quiet, no progress", stderr)
	}

	url, err := load.ResolveQueueURL(ctx, api, emulator.CanonicalURL("cli.fifo"), false)
	must(t, err)
	dlq, err := load.ResolveQueueURL(ctx, api, emulator.CanonicalURL("cli-dlq.fifo"), false)
	must(t, err)
	attrs, dlqAttrs := attributes(t, url), attributes(t, dlq)
	arn, n, err := load.ParseRedrivePolicy(attrs["RedrivePolicy"])
	must(t, err)
	if attrs["VisibilityTimeout"] != "17" || arn != dlqAttrs["QueueArn"] || n != 3 || dlqAttrs["FifoQueue"] != "true" {
		t.Errorf("queue attributes %v, dead-letter queue's %v", attrs, dlqAttrs)
	}

	// 40 bodies {"order":0}..{"order":39}, over 4 groups, each in order.
	last, seen := map[string]int{}, 0
	for {
		out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameMessageGroupId}})
		must(t, err)
		if len(out.Messages) == 0 {
			break
		}
		for _, msg := range out.Messages {
			body := aws.ToString(msg.Body)
			seq, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(body, `{"order":`), "}"))
			must(t, err)
			group := msg.Attributes["MessageGroupId"]
			if group != fmt.Sprintf("group-%d", seq%4) {
				t.Errorf("%s in %s", body, group)
			}
			if prev, ok := last[group]; ok && seq <= prev {
				t.Errorf("%s: %d after %d", group, seq, prev)
			}
			last[group] = seq
			seen++
			_, err = api.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: msg.ReceiptHandle})
			must(t, err)
		}
	}
	if seen != 40 || len(last) != 4 {
		t.Errorf("received %d messages in %d groups, want 40 in 4", seen, len(last))
	}
}

func TestLoadgenSendsABodyFileAtARateForADuration(t *testing.T) {
	ctx := context.Background()
	content := "{\"id\": 1,\r\n \"note\": \"tab\there, ünïcödé\"}\n"
	stdout, stderr := loadgen(t, "--queue-url", emulator.CanonicalURL("cli-file"), "--create",
		"--body-file", writeFile(t, content), "--rate", "100", "--duration", "1500ms")
	m := finalLine.FindStringSubmatch(stdout)
	if m == nil || m[1] != "150" || m[2] != strconv.Itoa(len(content)) {
		t.Fatalf("stdout %q, want 150 messages of %d bytes", stdout, len(content))
	}
	if rate, _ := strconv.Atoi(m[3]); rate < 90 || rate > 110 {
		t.Errorf("achieved %d msg/s, want 100 ± 10%%", rate)
	}
	if !strings.Contains(stderr, "/150  ") || !strings.Contains(stderr, "of 1.5s") {
		t.Errorf("stderr %q: want progress against 150 and the duration", stderr)
	}
	url, err := load.ResolveQueueURL(ctx, api, emulator.CanonicalURL("cli-file"), false)
	must(t, err)
	seen := 0
	for {
		out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: 60})
		must(t, err)
		if len(out.Messages) == 0 {
			break
		}
		for _, msg := range out.Messages {
			if aws.ToString(msg.Body) != content {
				t.Fatalf("body %q, want the file's %q", aws.ToString(msg.Body), content)
			}
			seen++
		}
	}
	if seen != 150 {
		t.Errorf("received %d messages, want 150", seen)
	}
}

func attributes(t *testing.T, url string) map[string]string {
	t.Helper()
	out, err := api.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
	must(t, err)
	return out.Attributes
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
