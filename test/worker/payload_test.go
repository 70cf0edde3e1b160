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

package worker_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/queuedrainer/queue-drainer/internal/drainsummary"
	"github.com/queuedrainer/queue-drainer/internal/worker"
)

// allBytes is every byte value, for binary attributes.
var allBytes = func() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

// unusualBodies are bodies SQS accepts that a careless consumer could
// alter: the control characters SQS allows, the edges of its character
// ranges, markup, non-ASCII text and 256 KiB. (SQS also allows characters
// above U+FFFF; fauxqs 1.9.2 refuses them in bodies, so they are tested
// in attributes here and in bodies against the handlers alone.)
var unusualBodies = map[string]string{
	"control":   "tab\there\nnewline\r\ncarriage return\r",
	"edges":     " \u007f\u0080\u07ff\u0800\ud7ff\ue000\ufffd",
	"markup":    `<a href="x&amp;y">]]></a> {"k":"\u0000"} \ % ' "`,
	"text":      "héllo wörld, 日本語, العربية, Ελληνικά, \ufeffBOM, e\u0301",
	"spaces":    "  \n\t ",
	"one":       "x",
	"256KiB":    strings.Repeat("0123456789abcdef", 256*1024/16),
	"256KiB-3B": strings.Repeat("€", 256*1024/3), // 3-byte characters, 262143 bytes
}

// attrs are the attributes every test message carries: string, number,
// binary and custom types, non-ASCII and beyond U+FFFF.
func attrs(key string) map[string]sqstypes.MessageAttributeValue {
	return map[string]sqstypes.MessageAttributeValue{
		"Key":          {DataType: aws.String("String"), StringValue: aws.String(key)},
		"Text":         {DataType: aws.String("String"), StringValue: aws.String("naïve 😀 \U0010FFFD")},
		"Amount":       {DataType: aws.String("Number"), StringValue: aws.String("-1.5e3")},
		"Blob":         {DataType: aws.String("Binary"), BinaryValue: allBytes},
		"Trace.Id":     {DataType: aws.String("String.trace"), StringValue: aws.String("1-5759e988-bd862e3fe1be46a994272793")},
		"Packed_bytes": {DataType: aws.String("Binary.gzip"), BinaryValue: []byte{0x1f, 0x8b, 0x08, 0x00, 0xff}},
	}
}

// sendUnusual sends each unusual body once and returns the body by key.
func sendUnusual(t *testing.T, api *sqs.Client, url string) map[string]string {
	t.Helper()
	for key, body := range unusualBodies {
		_, err := api.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url),
			MessageBody: aws.String(body), MessageAttributes: attrs(key)})
		must(t, err)
	}
	return unusualBodies
}

// deleteGuard fails the test if a message is deleted before its handler
// succeeded, and counts deletions per message.
type deleteGuard struct {
	worker.SQSAPI
	t         *testing.T
	succeeded func(key string) bool

	mu      sync.Mutex
	keyOf   map[string]string // receipt handle -> message key
	deleted map[string]int
}

func (g *deleteGuard) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	out, err := g.SQSAPI.ReceiveMessage(ctx, in, opts...)
	if err == nil {
		g.mu.Lock()
		for _, m := range out.Messages {
			g.keyOf[aws.ToString(m.ReceiptHandle)] = aws.ToString(m.MessageAttributes["Key"].StringValue)
		}
		g.mu.Unlock()
	}
	return out, err
}

func (g *deleteGuard) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	g.mu.Lock()
	for _, e := range in.Entries {
		key := g.keyOf[aws.ToString(e.ReceiptHandle)]
		if !g.succeeded(key) {
			g.t.Errorf("message %s deleted before its handler succeeded", key)
		}
		g.deleted[key]++
	}
	g.mu.Unlock()
	return g.SQSAPI.DeleteMessageBatch(ctx, in, opts...)
}

// failFirst remembers which messages have failed once and which succeeded.
type failFirst struct {
	mu            sync.Mutex
	calls, passed map[string]int
}

func newFailFirst() *failFirst { return &failFirst{calls: map[string]int{}, passed: map[string]int{}} }

// attempt records a handling of key and says whether it should succeed:
// the first attempt of every message fails.
func (f *failFirst) attempt(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[key]++
	return f.calls[key] > 1
}

func (f *failFirst) succeed(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.passed[key]++
}

func (f *failFirst) succeeded(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.passed[key] > 0
}

// checkDrained checks what every drain here must end with: each message
// handled twice (a failure, then a success), deleted once, after its
// success, and the queue empty.
func checkDrained(t *testing.T, api *sqs.Client, url string, sum drainsummary.Summary, f *failFirst, g *deleteGuard) {
	t.Helper()
	t.Logf("summary %+v", sum)
	for key := range unusualBodies {
		if f.calls[key] != 2 || f.passed[key] != 1 {
			t.Errorf("message %s: handled %d times, %d successes; want a failure, then the message back and a success", key, f.calls[key], f.passed[key])
		}
		if g.deleted[key] != 1 {
			t.Errorf("message %s deleted %d times, want once", key, g.deleted[key])
		}
	}
	n := int64(len(unusualBodies))
	if sum.Received != 2*n || sum.Failed != n || sum.Processed != n {
		t.Errorf("summary %+v, want %d received, %d failed, %d processed", sum, 2*n, n, n)
	}
	if v, inFlight := depth(t, api, url); v != 0 || inFlight != 0 {
		t.Errorf("queue left with %d visible, %d in flight", v, inFlight)
	}
}

func TestHTTPHandlerGetsUnusualMessagesByteExactAndOnlySuccessesAreDeleted(t *testing.T) {
	api, url := newQueue(t, "unusual-http", map[string]string{"VisibilityTimeout": "1"})
	bodies := sendUnusual(t, api, url)

	type request struct {
		body   []byte
		header http.Header
	}
	f := newFailFirst()
	var mu sync.Mutex
	got := map[string]request{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading a request: %v", err)
		}
		key := r.Header.Get("X-Message-Attribute-Key")
		if !f.attempt(key) {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		mu.Lock()
		got[key] = request{body: body, header: r.Header.Clone()}
		mu.Unlock()
		f.succeed(key)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	g := &deleteGuard{SQSAPI: api, t: t, succeeded: f.succeeded, keyOf: map[string]string{}, deleted: map[string]int{}}
	sum, err := worker.Run(context.Background(), g, url, worker.HTTPHandler{URL: srv.URL}, fast())
	must(t, err)
	checkDrained(t, api, url, sum, f, g)

	for key, want := range bodies {
		r, ok := got[key]
		if !ok {
			t.Errorf("message %s never reached the endpoint", key)
			continue
		}
		if !bytes.Equal(r.body, []byte(want)) {
			t.Errorf("message %s: the endpoint got %d bytes, sent %d, not the same", key, len(r.body), len(want))
		}
		if r.header.Get("X-Message-Id") == "" {
			t.Errorf("message %s: no X-Message-Id", key)
		}
		// Printable attributes as they are, binary ones in base64; the
		// non-ASCII one cannot travel in a header and is left out.
		for name, want := range map[string]string{
			"X-Message-Attribute-Amount":                  "-1.5e3",
			"X-Message-Attribute-Trace.Id":                "1-5759e988-bd862e3fe1be46a994272793",
			"X-Message-Binary-Attribute-Blob":             base64.StdEncoding.EncodeToString(allBytes),
			"X-Message-Binary-Attribute-Packed_bytes":     "H4sIAP8=",
			"X-Message-Attribute-Approximatereceivecount": "2",
		} {
			if v := r.header.Get(name); v != want {
				t.Errorf("message %s: header %s = %q, want %q", key, name, v, want)
			}
		}
		if v := r.header.Values("X-Message-Attribute-Text"); v != nil {
			t.Errorf("message %s: non-ASCII attribute sent as header %q", key, v)
		}
	}
}

func TestExecHandlerGetsUnusualMessagesByteExactAndOnlySuccessesAreDeleted(t *testing.T) {
	api, url := newQueue(t, "unusual-exec", map[string]string{"VisibilityTimeout": "1"})
	bodies := sendUnusual(t, api, url)

	// The command fails on a message's first delivery and saves its stdin on the second.
	dir := t.TempDir()
	script := `set -e
if [ -e "$OUT/$MESSAGE_ID.seen" ]; then cat > "$OUT/$MESSAGE_ID.body"; exit 0; fi
cat > /dev/null; touch "$OUT/$MESSAGE_ID.seen"; echo "first delivery fails" >&2; exit 1`
	t.Setenv("OUT", dir)
	h := worker.ExecHandler{Command: []string{"sh", "-c", script}}

	// The exec handler sees only the message ID; the wrapper maps it to
	// the test's key and mirrors the command's verdict.
	f := newFailFirst()
	var mu sync.Mutex
	idOf := map[string]string{}
	wrapped := worker.HandlerFunc(func(ctx context.Context, m worker.Message) error {
		key := m.Attributes["Key"]
		mu.Lock()
		idOf[key] = m.ID
		mu.Unlock()
		if !bytes.Equal(m.BinaryAttributes["Blob"], allBytes) || m.Attributes["Text"] != "naïve 😀 \U0010FFFD" {
			t.Errorf("message %s: attributes not handed over exactly: %q, %x", key, m.Attributes, m.BinaryAttributes)
		}
		f.attempt(key)
		err := h.Handle(ctx, m)
		if err == nil {
			f.succeed(key)
		}
		return err
	})
	g := &deleteGuard{SQSAPI: api, t: t, succeeded: f.succeeded, keyOf: map[string]string{}, deleted: map[string]int{}}
	sum, err := worker.Run(context.Background(), g, url, wrapped, fast())
	must(t, err)
	checkDrained(t, api, url, sum, f, g)

	for key, want := range bodies {
		got, err := os.ReadFile(filepath.Join(dir, idOf[key]+".body"))
		if err != nil {
			t.Errorf("message %s: the command did not save its body: %v", key, err)
			continue
		}
		if !bytes.Equal(got, []byte(want)) {
			t.Errorf("message %s: the command got %d bytes on stdin, sent %d, not the same", key, len(got), len(want))
		}
	}
}

// Characters above U+FFFF are valid in SQS bodies; the handlers pass them
// on unchanged (the emulator cannot carry them, so no queue here).
func TestHandlersPassCharactersBeyondTheBasicPlaneUnchanged(t *testing.T) {
	body := "emoji 😀, last code point \U0010FFFD, tab\tand CR\r"
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
	}))
	defer srv.Close()
	if err := (worker.HTTPHandler{URL: srv.URL}).Handle(context.Background(), worker.Message{ID: "m", Body: body}); err != nil {
		t.Fatal(err)
	}
	if string(got) != body {
		t.Errorf("HTTP endpoint got %q, want %q", got, body)
	}
	out := filepath.Join(t.TempDir(), "body")
	h := worker.ExecHandler{Command: []string{"sh", "-c", `cat > "$0"`, out}}
	if err := h.Handle(context.Background(), worker.Message{ID: "m", Body: body}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != body {
		t.Errorf("command got %q (%v), want %q", b, err, body)
	}
}

// What SQS refuses never reaches a worker: the sender gets the error.
func TestSQSRefusesBodiesItCannotCarryAtTheSender(t *testing.T) {
	api, url := newQueue(t, "limits", map[string]string{"MaximumMessageSize": "262144"})
	ctx := context.Background()
	for _, tc := range []struct {
		name, body, code, says string
	}{
		{"one byte over 256 KiB", strings.Repeat("x", 256*1024+1), "InvalidParameterValue", "Message must be shorter than 262144 bytes"},
		{"NUL", "before\x00after", "InvalidMessageContents", "Invalid characters found"},
		{"control character", "bell\a", "InvalidMessageContents", "Invalid characters found"},
		{"non-character U+FFFE", "x\ufffe", "InvalidMessageContents", "Invalid characters found"},
		{"empty", "", "MissingParameter", "MessageBody"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := api.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(tc.body)})
			// The code may carry the query protocol's prefix, AWS.SimpleQueueService.
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || !strings.HasSuffix(apiErr.ErrorCode(), tc.code) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("sending got %v, want error %s saying %q", err, tc.code, tc.says)
			}
			t.Logf("refused: %v", err)
		})
	}
	// A batch refuses the entry, not the call.
	out, err := api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []sqstypes.SendMessageBatchRequestEntry{
		{Id: aws.String("bad"), MessageBody: aws.String("nul\x00")},
	}})
	must(t, err)
	if len(out.Failed) != 1 || aws.ToString(out.Failed[0].Code) != "InvalidMessageContents" || !out.Failed[0].SenderFault {
		t.Errorf("batch with an invalid body: failed %+v, want the entry refused as InvalidMessageContents", out.Failed)
	}
	if v, inFlight := depth(t, api, url); v != 0 || inFlight != 0 {
		t.Fatalf("queue holds %d visible, %d in flight after refusals; want nothing", v, inFlight)
	}
	// The largest allowed body still goes through.
	_, err = api.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(strings.Repeat("x", 256*1024))})
	must(t, err)

	// Bytes that are not UTF-8 are not refused but replaced (U+FFFD) by the
	// SDK on the way out; the sender learns it from a checksum error, yet
	// the altered message is queued. Binary payloads belong in base64.
	_, err = api.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("a\xffb")})
	if err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("sending invalid UTF-8 got %v, want a checksum error", err)
	}
	if v, inFlight := depth(t, api, url); v != 2 || inFlight != 0 {
		t.Errorf("queue holds %d visible, %d in flight; want the 256 KiB message and the altered one", v, inFlight)
	}
}
