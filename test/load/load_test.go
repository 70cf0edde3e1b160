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
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/queuedrainer/queue-drainer/internal/awshttp"
	"github.com/queuedrainer/queue-drainer/internal/sqsstats"
	"github.com/queuedrainer/queue-drainer/test/emulator"
	"github.com/queuedrainer/queue-drainer/test/load"
)

// api talks to one fauxqs shared by the tests of this package; each test
// uses queues of its own.
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
		os.Setenv("AWS_ENDPOINT_URL_SQS", p.Endpoint)
		cfg, err := emulator.AWSConfig(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		cfg.HTTPClient = awshttp.SafeBodies(cfg.HTTPClient)
		api = sqs.NewFromConfig(cfg)
		return m.Run()
	}())
}

func TestSendFillsTheQueueWithEveryMessageAtTheAskedSize(t *testing.T) {
	ctx := context.Background()
	url, err := emulator.CreateQueue(ctx, api, "fill", nil)
	must(t, err)

	res, err := load.Send(ctx, api, url, load.Options{Count: 1234, Size: 100, Concurrency: 4})
	must(t, err)
	if res.Sent != 1234 || res.Calls != 124 {
		t.Errorf("sent %d in %d calls, want 1234 in 124", res.Sent, res.Calls)
	}
	if got := visible(t, url); got != 1234 {
		t.Fatalf("queue depth %d after sending 1234", got)
	}

	// Every sequence number arrives once, in a body of exactly 100 bytes.
	seen := map[int]bool{}
	for len(seen) < 1234 {
		out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: 60})
		must(t, err)
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			body := aws.ToString(m.Body)
			seq, err := strconv.Atoi(body[:8])
			if len(body) != 100 || err != nil || seen[seq] {
				t.Fatalf("unexpected body %q (already seen: %v)", body, seen[seq])
			}
			seen[seq] = true
		}
	}
	if len(seen) != 1234 {
		t.Errorf("received %d distinct messages, want 1234", len(seen))
	}
}

func TestCanonicalURLResolvesToTheEmulatorQueueAndCreateMakesIt(t *testing.T) {
	ctx := context.Background()
	canonical := emulator.CanonicalURL("orders-load")

	_, err := load.ResolveQueueURL(ctx, api, canonical, false)
	var missing *sqstypes.QueueDoesNotExist
	if !errors.As(err, &missing) {
		t.Fatalf("resolving a missing queue without create: err = %v, want QueueDoesNotExist", err)
	}
	created, err := load.ResolveQueueURL(ctx, api, canonical, true)
	must(t, err)
	if created == canonical || !strings.HasSuffix(created, "/"+emulator.Account+"/orders-load") {
		t.Fatalf("created queue URL %q, want the emulator's URL of orders-load", created)
	}
	again, err := load.ResolveQueueURL(ctx, api, canonical, false)
	must(t, err)
	if again != created {
		t.Errorf("second resolution gave %q, want %q", again, created)
	}
	// The emulator's own URL, and one with another host for the same queue,
	// resolve to the same queue.
	viaEmulatorURL, err := load.ResolveQueueURL(ctx, api, "http://127.0.0.1:1/"+emulator.Account+"/orders-load", false)
	must(t, err)
	if viaEmulatorURL != created {
		t.Errorf("emulator URL resolved to %q, want %q", viaEmulatorURL, created)
	}

	_, err = load.Send(ctx, api, created, load.Options{Count: 25})
	must(t, err)
	if got := visible(t, created); got != 25 {
		t.Errorf("queue depth %d after sending 25", got)
	}
}

func TestFIFOQueueGetsEveryMessage(t *testing.T) {
	ctx := context.Background()
	url, err := load.ResolveQueueURL(ctx, api, emulator.CanonicalURL("orders-load.fifo"), true)
	must(t, err)
	if !load.IsFIFO(url) {
		t.Fatalf("%s is not a FIFO queue URL", url)
	}
	for range 2 { // deduplication IDs differ between sends
		_, err = load.Send(ctx, api, url, load.Options{Count: 35, FIFO: true})
		must(t, err)
	}
	if got := visible(t, url); got != 70 {
		t.Errorf("FIFO queue depth %d after two sends of 35", got)
	}
}

func TestLargeBodiesAreSplitToStayUnderTheBatchLimit(t *testing.T) {
	ctx := context.Background()
	url, err := emulator.CreateQueue(ctx, api, "large", nil)
	must(t, err)
	res, err := load.Send(ctx, api, url, load.Options{Count: 12, Size: 200_000})
	must(t, err)
	if per := load.PerBatch(200_000); per != 5 || res.Calls != 3 {
		t.Errorf("%d messages a batch in %d calls, want 5 in 3", per, res.Calls)
	}
	if got := visible(t, url); got != 12 {
		t.Errorf("queue depth %d after sending 12", got)
	}
}

func TestRateSpacesTheSends(t *testing.T) {
	ctx := context.Background()
	url, err := emulator.CreateQueue(ctx, api, "paced", nil)
	must(t, err)
	var progress int
	res, err := load.Send(ctx, api, url, load.Options{Count: 300, Rate: 500, Concurrency: 8,
		Progress: func(load.Result) { progress++ }, ProgressEvery: 100 * time.Millisecond})
	must(t, err)
	// 30 batches of 10 at 500 messages/s: the last may go 29 × 20 ms after the first.
	if res.Elapsed < 550*time.Millisecond {
		t.Errorf("300 messages at 500/s took %v, want at least 0.55s", res.Elapsed)
	}
	if progress == 0 {
		t.Error("no progress reported during a send of more than 0.5s")
	}
	if got := visible(t, url); got != 300 {
		t.Errorf("queue depth %d after sending 300", got)
	}
}

func TestMissingQueueIsAnError(t *testing.T) {
	_, err := load.Send(context.Background(), api, emulator.CanonicalURL("nowhere"), load.Options{Count: 10})
	var missing *sqstypes.QueueDoesNotExist
	if !errors.As(err, &missing) {
		t.Fatalf("err = %v, want QueueDoesNotExist", err)
	}
}

func visible(t *testing.T, url string) int {
	t.Helper()
	c, err := sqsstats.CountsAt(context.Background(), api, url)
	must(t, err)
	return int(c.Visible)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// refusing passes calls on to the emulator after refusing entry "3" of the
// first call, as SQS does when it fails on its side (or, with senderFault,
// when the entry is bad).
type refusing struct {
	load.SQSAPI
	senderFault bool
	refused     bool
}

func (r *refusing) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	if r.refused {
		return r.SQSAPI.SendMessageBatch(ctx, in, opts...)
	}
	r.refused = true
	var rest []sqstypes.SendMessageBatchRequestEntry
	for _, e := range in.Entries {
		if aws.ToString(e.Id) != "3" {
			rest = append(rest, e)
		}
	}
	out, err := r.SQSAPI.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: in.QueueUrl, Entries: rest}, opts...)
	if err != nil {
		return nil, err
	}
	out.Failed = append(out.Failed, sqstypes.BatchResultErrorEntry{Id: aws.String("3"), Code: aws.String("InternalError"), SenderFault: r.senderFault})
	return out, nil
}

func TestEntriesRefusedBySQSAreSentAgainAndSenderFaultsStopTheSend(t *testing.T) {
	ctx := context.Background()
	url, err := emulator.CreateQueue(ctx, api, "refused", nil)
	must(t, err)
	res, err := load.Send(ctx, &refusing{SQSAPI: api}, url, load.Options{Count: 10, Concurrency: 1})
	must(t, err)
	if res.Sent != 10 || res.Retried != 1 || res.Calls != 2 {
		t.Errorf("sent %d, retried %d, in %d calls; want 10, 1, 2", res.Sent, res.Retried, res.Calls)
	}
	if got := visible(t, url); got != 10 {
		t.Errorf("queue depth %d, want 10", got)
	}

	_, err = load.Send(ctx, &refusing{SQSAPI: api, senderFault: true}, url, load.Options{Count: 10, Concurrency: 1})
	if err == nil || !strings.Contains(err.Error(), "InternalError") {
		t.Errorf("err = %v, want the refused entry's code", err)
	}
}
