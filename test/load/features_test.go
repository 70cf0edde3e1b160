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

package load_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/queuedrainer/queue-drainer/test/emulator"
	"github.com/queuedrainer/queue-drainer/test/load"
)

// received is a message as a receive gave it, with its FIFO attributes.
type received struct {
	body, group, dedupID string
}

// receiveAll receives until the queue gives nothing, deleting every
// message once received (which frees its FIFO group), and returns the
// messages in the order they came.
func receiveAll(t *testing.T, url string) []received {
	t.Helper()
	ctx := context.Background()
	var got []received
	for {
		out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: 60,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{
				sqstypes.MessageSystemAttributeNameMessageGroupId, sqstypes.MessageSystemAttributeNameMessageDeduplicationId}})
		must(t, err)
		if len(out.Messages) == 0 {
			return got
		}
		var del []sqstypes.DeleteMessageBatchRequestEntry
		for i, m := range out.Messages {
			got = append(got, received{body: aws.ToString(m.Body),
				group:   m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageGroupId)],
				dedupID: m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageDeduplicationId)]})
			del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
		}
		d, err := api.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: del})
		must(t, err)
		if len(d.Failed) > 0 {
			t.Fatalf("deleting: %+v", d.Failed)
		}
	}
}

// recording passes calls on, keeps every entry sent, optionally sends
// every call twice (as when an answer is lost and the call is sent again)
// and waits a random 0-15 ms before each call (so that calls sent at once
// reach the queue in any order).
type recording struct {
	load.SQSAPI
	twice, jitter bool

	mu      sync.Mutex
	entries []sqstypes.SendMessageBatchRequestEntry
	calls   int
}

func (r *recording) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	r.mu.Lock()
	r.entries = append(r.entries, in.Entries...)
	r.calls++
	r.mu.Unlock()
	if r.jitter {
		time.Sleep(time.Duration(rand.IntN(15)) * time.Millisecond)
	}
	if r.twice {
		if _, err := r.SQSAPI.SendMessageBatch(ctx, in, opts...); err != nil {
			return nil, err
		}
	}
	return r.SQSAPI.SendMessageBatch(ctx, in, opts...)
}

func createFIFO(t *testing.T, name string, attrs map[string]string) string {
	t.Helper()
	if attrs == nil {
		attrs = map[string]string{}
	}
	attrs["FifoQueue"] = "true"
	url, err := emulator.CreateQueue(context.Background(), api, name, attrs)
	must(t, err)
	return url
}

func TestBodyFileArrivesByteForByte(t *testing.T) {
	ctx := context.Background()
	// What a careless sender or receiver could alter: CR and CRLF, tabs,
	// spaces at the ends, markup, escapes, non-ASCII and the edges of SQS's
	// ranges in the Basic Multilingual Plane (fauxqs refuses the planes above).
	content := " \t{\"k\": \"v\\u0000\"}\r\n<a href=\"x&amp;y\">]]></a>\rhéllo 日本語 \u007f\u0080\ud7ff\ue000\ufffd\ufeff e\u0301 \n  "
	path := filepath.Join(t.TempDir(), "body.json")
	must(t, os.WriteFile(path, []byte(content), 0o600))
	file, err := os.ReadFile(path)
	must(t, err)

	url, err := emulator.CreateQueue(ctx, api, "body-file", nil)
	must(t, err)
	res, err := load.Send(ctx, api, url, load.Options{Count: 23, Body: string(file)})
	must(t, err)
	if res.Sent != 23 || res.Bytes != int64(23*len(file)) {
		t.Errorf("sent %d messages, %d bytes; want 23, %d", res.Sent, res.Bytes, 23*len(file))
	}
	got := receiveAll(t, url)
	if len(got) != 23 {
		t.Fatalf("received %d messages, want 23", len(got))
	}
	for _, m := range got {
		if !bytes.Equal([]byte(m.body), file) {
			t.Fatalf("body %q, want the file's %q", m.body, file)
		}
	}
}

func TestBodiesSQSWouldRefuseAreRefusedBeforeAnythingIsSent(t *testing.T) {
	ctx := context.Background()
	url, err := emulator.CreateQueue(ctx, api, "refused-bodies", nil)
	must(t, err)
	for name, tc := range map[string]struct{ body, want string }{
		"NUL":                {"abc\x00def", "byte 3: character U+0000"},
		"vertical tab":       {"a\vb", "byte 1: character U+000B"},
		"escape":             {"\x1b[31mred", "byte 0: character U+001B"},
		"U+FFFE":             {"ok \ufffe", "byte 3: character U+FFFE"},
		"U+FFFF":             {"\uffff", "character U+FFFF"},
		"invalid UTF-8":      {"caf\xe9", "byte 3 (0xe9) is not valid UTF-8"},
		"encoded surrogate":  {"x\xed\xa0\x80", "byte 1 (0xed) is not valid UTF-8"},
		"empty":              {"", "empty"},
		"longer than 1 MiB":  {strings.Repeat("x", load.MaxBatchBytes+1), "exceeds the SQS limit"},
		"template, NUL":      {"{{.Seq}}\x00", "message 0: byte 1: character U+0000"},
		"template, no field": {"{{.Nope}}", "can't evaluate field Nope"},
	} {
		t.Run(name, func(t *testing.T) {
			o := load.Options{Count: 20, Body: tc.body}
			if strings.HasPrefix(name, "template") {
				o = load.Options{Count: 20, Template: template.Must(template.New("b").Parse(tc.body))}
			} else if err := load.CheckBody(tc.body); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckBody: err = %v, want %q", err, tc.want)
			}
			if name == "empty" {
				o.Template = template.Must(template.New("b").Parse(""))
				o.Body = ""
			}
			rec := &recording{SQSAPI: api}
			_, err := load.Send(ctx, rec, url, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Send: err = %v, want %q", err, tc.want)
			}
			if rec.calls != 0 {
				t.Errorf("%d SendMessageBatch calls for a body SQS would refuse, want none", rec.calls)
			}
		})
	}
	// What SQS allows passes, the planes above the BMP included.
	for _, ok := range []string{"\t\n\r", " ", "\u0020\ud7ff\ue000\ufffd", "\U00010000\U0010ffff", "😀", strings.Repeat("x", load.MaxBatchBytes)} {
		if err := load.CheckBody(ok); err != nil {
			t.Errorf("CheckBody(%.20q): %v", ok, err)
		}
	}
	// A template whose later body SQS would refuse stops the send there.
	bad := template.Must(template.New("b").Parse("{{.Seq}}{{if eq .Seq 15}}\x00{{end}}"))
	_, err = load.Send(ctx, api, url, load.Options{Count: 30, Template: bad, Concurrency: 1})
	if err == nil || !strings.Contains(err.Error(), "message 15: byte 2: character U+0000") {
		t.Errorf("err = %v, want message 15's NUL", err)
	}
	if got := visible(t, url); got != 10 {
		t.Errorf("queue depth %d, want the 10 of the batch before message 15's", got)
	}
}

func TestTemplateRendersEachMessageWithItsSequenceNumberRunIDAndTime(t *testing.T) {
	ctx := context.Background()
	url := createFIFO(t, "template.fifo", nil) // one group: received in the order sent
	tmpl := template.Must(template.New("b").Parse(`{"order":{{.Seq}},"run":"{{.ID}}","at":"{{.Time}}"}`))
	before := time.Now()
	res, err := load.Send(ctx, api, url, load.Options{Count: 45, Template: tmpl, FIFO: true})
	must(t, err)
	after := time.Now()
	got := receiveAll(t, url)
	if len(got) != 45 {
		t.Fatalf("received %d messages, want 45", len(got))
	}
	var bodyBytes int64
	runs := map[string]bool{}
	for i, m := range got {
		bodyBytes += int64(len(m.body))
		var b struct {
			Order *int
			Run   string
			At    string
		}
		if err := json.Unmarshal([]byte(m.body), &b); err != nil || b.Order == nil {
			t.Fatalf("message %d: body %q: %v", i, m.body, err)
		}
		if *b.Order != i {
			t.Errorf("message %d received has order %d: bodies not rendered with their own, ordered .Seq", i, *b.Order)
		}
		at, err := time.Parse(time.RFC3339, b.At)
		if err != nil || at.Before(before.Add(-time.Second)) || at.After(after.Add(time.Second)) {
			t.Errorf("message %d: .Time %q (%v) is not RFC 3339 within the send", i, b.At, err)
		}
		runs[b.Run] = true
	}
	if len(runs) != 1 || runs[""] {
		t.Errorf(".ID took %d values %v, want one for the run", len(runs), runs)
	}
	if res.Bytes != bodyBytes {
		t.Errorf("result counts %d body bytes, received %d", res.Bytes, bodyBytes)
	}

	// Another run has another .ID.
	_, err = load.Send(ctx, api, url, load.Options{Count: 1, Template: tmpl, FIFO: true})
	must(t, err)
	again := receiveAll(t, url)
	if len(again) != 1 || strings.Contains(again[0].body, `"run":"`+firstKey(runs)+`"`) {
		t.Errorf("second run's body %v has the first run's .ID %s", again, firstKey(runs))
	}
}

func firstKey(m map[string]bool) string {
	for k := range m {
		return k
	}
	return ""
}

func TestFIFOGroupsSpreadTheMessagesAndKeepEachGroupInOrder(t *testing.T) {
	ctx := context.Background()
	url := createFIFO(t, "groups.fifo", nil)
	// Calls wait a random time before they reach the queue: calls of one
	// group sent at once would arrive out of order.
	rec := &recording{SQSAPI: api, jitter: true}
	const n, groups = 400, 7
	res, err := load.Send(ctx, rec, url, load.Options{Count: n, FIFO: true, Groups: groups, Concurrency: 8})
	must(t, err)
	if res.Sent != n {
		t.Fatalf("sent %d, want %d", res.Sent, n)
	}
	got := receiveAll(t, url)
	if len(got) != n {
		t.Fatalf("received %d messages, want %d", len(got), n)
	}
	last := map[string]int{}
	perGroup := map[string]int{}
	for _, m := range got {
		seq, err := strconv.Atoi(m.body[:8])
		must(t, err)
		if want := fmt.Sprintf("group-%d", seq%groups); m.group != want {
			t.Fatalf("message %d in group %q, want %q", seq, m.group, want)
		}
		if prev, ok := last[m.group]; ok && seq <= prev {
			t.Fatalf("group %s: message %d received after message %d", m.group, seq, prev)
		}
		last[m.group] = seq
		perGroup[m.group]++
	}
	if len(perGroup) != groups {
		t.Errorf("messages in %d groups, want %d: %v", len(perGroup), groups, perGroup)
	}
	for g, c := range perGroup {
		if c < n/groups || c > n/groups+1 {
			t.Errorf("group %s has %d messages, want %d or %d", g, c, n/groups, n/groups+1)
		}
	}
}

func TestFIFODeduplicationIDsMakeACallSentAgainHarmless(t *testing.T) {
	ctx := context.Background()
	url := createFIFO(t, "dedup.fifo", nil)
	rec := &recording{SQSAPI: api, twice: true} // every call arrives twice
	_, err := load.Send(ctx, rec, url, load.Options{Count: 35, FIFO: true, Groups: 3})
	must(t, err)
	if got := visible(t, url); got != 35 {
		t.Fatalf("queue depth %d after 35 messages each sent twice, want 35", got)
	}
	ids := map[string]bool{}
	for _, e := range rec.entries {
		ids[aws.ToString(e.MessageDeduplicationId)] = true
	}
	if len(ids) != 35 || ids[""] {
		t.Errorf("%d distinct deduplication IDs in the entries, want 35, none empty", len(ids))
	}
	for _, m := range receiveAll(t, url) {
		if !ids[m.dedupID] {
			t.Errorf("received deduplication ID %q is not one loadgen sent", m.dedupID)
		}
	}

	// With content-based deduplication the entries carry none, and SQS
	// deduplicates by body.
	cbd := createFIFO(t, "content-dedup.fifo", map[string]string{"ContentBasedDeduplication": "true"})
	rec = &recording{SQSAPI: api, twice: true}
	_, err = load.Send(ctx, rec, cbd, load.Options{Count: 12, FIFO: true, ContentDedup: true})
	must(t, err)
	for _, e := range rec.entries {
		if e.MessageDeduplicationId != nil {
			t.Fatalf("entry with deduplication ID %q under ContentDedup", aws.ToString(e.MessageDeduplicationId))
		}
	}
	if got := visible(t, cbd); got != 12 {
		t.Errorf("queue depth %d, want 12", got)
	}
	// Bodies all alike would be one message: refused.
	if _, err := load.Send(ctx, api, cbd, load.Options{Count: 2, FIFO: true, ContentDedup: true, Body: "same"}); err == nil {
		t.Error("ContentDedup with one fixed body was accepted")
	}
	same := template.Must(template.New("b").Parse("run {{.ID}}"))
	if _, err := load.Send(ctx, api, cbd, load.Options{Count: 2, FIFO: true, ContentDedup: true, Template: same}); err == nil {
		t.Error("ContentDedup with a template rendering equal bodies was accepted")
	}
}

func TestCreateSetsTheVisibilityTimeoutAndADeadLetterQueue(t *testing.T) {
	for _, kind := range []string{"", ".fifo"} {
		t.Run("queue"+kind, func(t *testing.T) {
			ctx := context.Background()
			src, dlqName := "redrive"+kind, "redrive-dlq"+kind
			spec := load.QueueSpec{VisibilityTimeout: ptr(17 * time.Second), DeadLetter: dlqName, MaxReceiveCount: 2}
			creates := &creating{Client: api}
			url, err := load.ResolveOrCreate(ctx, creates, emulator.CanonicalURL(src), spec)
			must(t, err)
			// fauxqs makes a .fifo name FIFO by itself; SQS needs FifoQueue.
			if len(creates.queues) != 2 || creates.queues[0] != dlqName || creates.queues[1] != src {
				t.Errorf("created %v, want %s then %s", creates.queues, dlqName, src)
			}
			for i, a := range creates.attrs {
				if fifo := kind != ""; (a["FifoQueue"] == "true") != fifo {
					t.Errorf("CreateQueue %s with FifoQueue %q, want FIFO = %v", creates.queues[i], a["FifoQueue"], fifo)
				}
			}

			attrs := attributes(t, url)
			if attrs["VisibilityTimeout"] != "17" {
				t.Errorf("VisibilityTimeout %q, want 17", attrs["VisibilityTimeout"])
			}
			dlqURL, err := load.ResolveQueueURL(ctx, api, emulator.CanonicalURL(dlqName), false)
			must(t, err)
			dlqAttrs := attributes(t, dlqURL)
			arn, maxReceives, err := load.ParseRedrivePolicy(attrs["RedrivePolicy"])
			must(t, err)
			if arn != dlqAttrs["QueueArn"] || maxReceives != 2 {
				t.Errorf("RedrivePolicy %s, want %s after 2 receives", attrs["RedrivePolicy"], dlqAttrs["QueueArn"])
			}
			if fifo := kind != ""; (attrs["FifoQueue"] == "true") != fifo || (dlqAttrs["FifoQueue"] == "true") != fifo {
				t.Errorf("FifoQueue %q and %q on the queue and its dead-letter queue, want FIFO = %v", attrs["FifoQueue"], dlqAttrs["FifoQueue"], fifo)
			}

			// Received twice and given back, the message moves to the dead-letter queue.
			_, err = load.Send(ctx, api, url, load.Options{Count: 1, Size: 40, FIFO: kind != ""})
			must(t, err)
			for i := range 2 {
				out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)})
				must(t, err)
				if len(out.Messages) != 1 {
					t.Fatalf("receive %d: %d messages, want 1", i+1, len(out.Messages))
				}
				_, err = api.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: out.Messages[0].ReceiptHandle})
				must(t, err) // VisibilityTimeout 0: visible again at once
			}
			out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)})
			must(t, err)
			if len(out.Messages) != 0 {
				t.Errorf("third receive got %d messages from the queue, want none", len(out.Messages))
			}
			moved := receiveAll(t, dlqURL)
			if len(moved) != 1 || moved[0].body != load.Body(0, 40) {
				t.Errorf("dead-letter queue has %v, want message 0", moved)
			}

			// Asked again alike, the same queue; an existing queue is never
			// changed, so asking it other attributes is an error.
			again, err := load.ResolveOrCreate(ctx, api, emulator.CanonicalURL(src), spec)
			must(t, err)
			if again != url {
				t.Errorf("second ResolveOrCreate gave %s, want %s", again, url)
			}
			other := spec
			other.VisibilityTimeout = ptr(30 * time.Second)
			if _, err := load.ResolveOrCreate(ctx, api, emulator.CanonicalURL(src), other); err == nil || !strings.Contains(err.Error(), "VisibilityTimeout") {
				t.Errorf("existing queue asked for another visibility timeout: err = %v", err)
			}
			other = spec
			other.MaxReceiveCount = 3
			if _, err := load.ResolveOrCreate(ctx, api, emulator.CanonicalURL(src), other); err == nil || !strings.Contains(err.Error(), "RedrivePolicy") {
				t.Errorf("existing queue asked for another redrive policy: err = %v", err)
			}
			if got := attributes(t, url)["VisibilityTimeout"]; got != "17" {
				t.Errorf("VisibilityTimeout changed to %s", got)
			}
		})
	}

	ctx := context.Background()
	for name, tc := range map[string]struct {
		queue string
		spec  load.QueueSpec
		want  string
	}{
		"standard DLQ of FIFO": {"bad.fifo", load.QueueSpec{DeadLetter: "bad-dlq", MaxReceiveCount: 1}, "name it bad-dlq.fifo"},
		"FIFO DLQ of standard": {"bad", load.QueueSpec{DeadLetter: "bad-dlq.fifo", MaxReceiveCount: 1}, "must be a standard queue"},
		"no receive count":     {"bad", load.QueueSpec{DeadLetter: "bad-dlq"}, "1 to 1000"},
		"count without DLQ":    {"bad", load.QueueSpec{MaxReceiveCount: 3}, "needs a dead-letter queue"},
		"its own DLQ":          {"bad", load.QueueSpec{DeadLetter: "bad", MaxReceiveCount: 3}, "its own"},
		"fraction of a second": {"bad", load.QueueSpec{VisibilityTimeout: ptr(1500 * time.Millisecond)}, "whole seconds"},
		"over 12 hours":        {"bad", load.QueueSpec{VisibilityTimeout: ptr(13 * time.Hour)}, "whole seconds from 0 to 12h"},
		"content dedup, std":   {"bad", load.QueueSpec{ContentDedup: true}, "for FIFO queues"},
	} {
		if _, err := load.ResolveOrCreate(ctx, api, emulator.CanonicalURL(tc.queue), tc.spec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
	for _, q := range []string{"bad", "bad.fifo", "bad-dlq", "bad-dlq.fifo"} {
		if _, err := load.ResolveQueueURL(ctx, api, emulator.CanonicalURL(q), false); err == nil {
			t.Errorf("queue %s created by a refused ResolveOrCreate", q)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// creating records the queues created and their attributes.
type creating struct {
	*sqs.Client
	queues []string
	attrs  []map[string]string
}

func (c *creating) CreateQueue(ctx context.Context, in *sqs.CreateQueueInput, opts ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error) {
	c.queues = append(c.queues, aws.ToString(in.QueueName))
	c.attrs = append(c.attrs, in.Attributes)
	return c.Client.CreateQueue(ctx, in, opts...)
}

func attributes(t *testing.T, url string) map[string]string {
	t.Helper()
	out, err := api.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
	must(t, err)
	return out.Attributes
}

func TestSteadyRateForADuration(t *testing.T) {
	ctx := context.Background()
	url, err := emulator.CreateQueue(ctx, api, "steady", nil)
	must(t, err)
	var mu sync.Mutex
	var progress []load.Result
	o := load.Options{Rate: 200, Duration: 2 * time.Second, Concurrency: 8,
		Progress: func(r load.Result) { mu.Lock(); progress = append(progress, r); mu.Unlock() }, ProgressEvery: 250 * time.Millisecond}
	if o.Messages() != 400 {
		t.Fatalf("Messages() = %d, want 400", o.Messages())
	}
	res, err := load.Send(ctx, api, url, o)
	must(t, err)
	t.Logf("sent %d in %v: %.1f msg/s, %d calls", res.Sent, res.Elapsed, res.PerSecond(), res.Calls)
	if res.Sent != 400 {
		t.Errorf("sent %d, want 400", res.Sent)
	}
	if res.Elapsed < 1800*time.Millisecond || res.Elapsed > 2200*time.Millisecond {
		t.Errorf("took %v, want 2s ± 10%%", res.Elapsed)
	}
	if r := res.PerSecond(); r < 180 || r > 220 {
		t.Errorf("achieved %.1f msg/s, want 200 ± 10%%", r)
	}
	// Steady: at every progress report, the count is near 200/s × elapsed
	// (within a batch each side and the reporter's delay).
	mu.Lock()
	defer mu.Unlock()
	if len(progress) < 4 {
		t.Fatalf("%d progress reports in 2s at 250ms, want 4 or more", len(progress))
	}
	for _, p := range progress {
		if want := 200 * p.Elapsed.Seconds(); float64(p.Sent) < want-30 || float64(p.Sent) > want+30 {
			t.Errorf("after %v sent %d, want %.0f ± 30: not steady", p.Elapsed, p.Sent, want)
		}
	}
	if got := visible(t, url); got != 400 {
		t.Errorf("queue depth %d, want 400", got)
	}

	for _, bad := range []load.Options{
		{Duration: time.Second},                    // no rate
		{Duration: time.Second, Rate: 5, Count: 5}, // both
		{Duration: -time.Second, Rate: 5},
	} {
		if _, err := load.Send(ctx, api, url, bad); err == nil {
			t.Errorf("Send(%+v) accepted", bad)
		}
	}
}

func TestFIFOEntryRefusedOnSQSSideIsSentAgainOnlyWhenItsGroupKeepsItsOrder(t *testing.T) {
	ctx := context.Background()
	// Ten groups in one call: entry 3 is alone in its group, sent again.
	url := createFIFO(t, "refused-groups.fifo", nil)
	res, err := load.Send(ctx, &refusing{SQSAPI: api}, url, load.Options{Count: 10, FIFO: true, Groups: 10, Concurrency: 1})
	must(t, err)
	if res.Retried != 1 || res.Sent != 10 {
		t.Errorf("sent %d, retried %d; want 10, 1", res.Sent, res.Retried)
	}
	if got := receiveAll(t, url); len(got) != 10 {
		t.Errorf("received %d, want 10", len(got))
	}

	// One group: messages 4-9 were accepted after 3, which cannot follow them.
	one := createFIFO(t, "refused-group.fifo", nil)
	_, err = load.Send(ctx, &refusing{SQSAPI: api}, one, load.Options{Count: 10, FIFO: true, Concurrency: 1})
	if err == nil || !strings.Contains(err.Error(), "would break the group's order") {
		t.Errorf("err = %v, want the group's order kept by stopping", err)
	}
}
