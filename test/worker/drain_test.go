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
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/queuedrainer/queue-drainer/internal/drainsummary"
	"github.com/queuedrainer/queue-drainer/internal/sqsstats"
	"github.com/queuedrainer/queue-drainer/internal/worker"
	"github.com/queuedrainer/queue-drainer/test/emulator"
)

// newQueue starts fauxqs for one test and creates a queue in it.
func newQueue(t *testing.T, name string, attrs map[string]string) (*sqs.Client, string) {
	t.Helper()
	ctx := context.Background()
	p, err := emulator.StartFauxqs(ctx, os.Stderr)
	must(t, err)
	t.Cleanup(p.Stop)
	t.Setenv("AWS_ENDPOINT_URL_SQS", p.Endpoint)
	cfg, err := emulator.AWSConfig(ctx)
	must(t, err)
	api := sqs.NewFromConfig(cfg)
	url, err := emulator.CreateQueue(ctx, api, name, attrs)
	must(t, err)
	return api, url
}

// sendNumbered sends bodies "0".."n-1".
func sendNumbered(t *testing.T, api *sqs.Client, url string, n int) {
	t.Helper()
	for from := 0; from < n; from += 10 {
		var entries []sqstypes.SendMessageBatchRequestEntry
		for i := from; i < min(from+10, n); i++ {
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(strconv.Itoa(i))})
		}
		out, err := api.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
		must(t, err)
		if len(out.Failed) > 0 {
			t.Fatalf("%d sends refused", len(out.Failed))
		}
	}
}

func depth(t *testing.T, api *sqs.Client, url string) (visible, inFlight int) {
	t.Helper()
	c, err := sqsstats.CountsAt(context.Background(), api, url)
	must(t, err)
	return int(c.Visible), int(c.InFlight)
}

// spy records which messages were deleted, to check that each had been
// handled successfully first.
type spy struct {
	worker.SQSAPI
	mu       sync.Mutex
	bodyOf   map[string]string // receipt handle -> body
	deleted  map[string]int    // body -> deletions
	extended int
}

func newSpy(api worker.SQSAPI) *spy {
	return &spy{SQSAPI: api, bodyOf: map[string]string{}, deleted: map[string]int{}}
}

func (s *spy) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	out, err := s.SQSAPI.ReceiveMessage(ctx, in, opts...)
	if err == nil {
		s.mu.Lock()
		for _, m := range out.Messages {
			s.bodyOf[aws.ToString(m.ReceiptHandle)] = aws.ToString(m.Body)
		}
		s.mu.Unlock()
	}
	return out, err
}

func (s *spy) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	out, err := s.SQSAPI.DeleteMessageBatch(ctx, in, opts...)
	if err == nil {
		failed := map[string]bool{}
		for _, f := range out.Failed {
			failed[aws.ToString(f.Id)] = true
		}
		s.mu.Lock()
		for _, e := range in.Entries {
			if !failed[aws.ToString(e.Id)] {
				s.deleted[s.bodyOf[aws.ToString(e.ReceiptHandle)]]++
			}
		}
		s.mu.Unlock()
	}
	return out, err
}

func (s *spy) ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	s.mu.Lock()
	for _, e := range in.Entries {
		if e.VisibilityTimeout > 0 {
			s.extended++
		}
	}
	s.mu.Unlock()
	return s.SQSAPI.ChangeMessageVisibilityBatch(ctx, in, opts...)
}

// ledger is a handler's record of what it did.
type ledger struct {
	mu        sync.Mutex
	succeeded map[string]int
	calls     map[string]int
}

func newLedger() *ledger { return &ledger{succeeded: map[string]int{}, calls: map[string]int{}} }

func (l *ledger) record(body string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls[body]++
	if ok {
		l.succeeded[body]++
	}
}

func fast() worker.Config {
	return worker.Config{WaitTime: time.Second, GracePeriod: 5 * time.Second}
}

func TestEveryMessageIsProcessedExactlyOnceWhenTheHandlerFailsOneTimeInFive(t *testing.T) {
	const n = 500
	api, url := newQueue(t, "flaky", map[string]string{"VisibilityTimeout": "1"})
	sendNumbered(t, api, url, n)
	s := newSpy(api)
	l := newLedger()
	var rngMu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	h := worker.HandlerFunc(func(_ context.Context, m worker.Message) error {
		rngMu.Lock()
		ok := rng.IntN(5) != 0
		rngMu.Unlock()
		l.record(m.Body, ok)
		if !ok {
			return fmt.Errorf("simulated failure")
		}
		return nil
	})
	sum, err := worker.Run(context.Background(), s, url, h, fast())
	must(t, err)
	t.Logf("summary %+v", sum)

	failures := 0
	for i := range n {
		body := strconv.Itoa(i)
		if l.succeeded[body] != 1 {
			t.Errorf("message %s succeeded %d times, want exactly once", body, l.succeeded[body])
		}
		if s.deleted[body] != 1 {
			t.Errorf("message %s deleted %d times, want once", body, s.deleted[body])
		}
		failures += l.calls[body] - l.succeeded[body]
	}
	for body, n := range s.deleted {
		if l.succeeded[body] < n {
			t.Errorf("message %q deleted %d times but handled successfully %d times", body, n, l.succeeded[body])
		}
	}
	if sum.Processed != n || sum.Failed != int64(failures) {
		t.Errorf("summary processed %d failed %d, want %d and %d", sum.Processed, sum.Failed, n, failures)
	}
	if v, f := depth(t, api, url); v != 0 || f != 0 {
		t.Errorf("queue left with %d visible, %d in flight", v, f)
	}
}

// lostAnswers does every DeleteMessageBatch, but for a while from the first
// one answers with an error, as when SQS is too busy to answer in time or
// the answer is lost on the way back.
type lostAnswers struct {
	worker.SQSAPI
	window time.Duration
	mu     sync.Mutex
	from   time.Time
	lost   int
}

func (l *lostAnswers) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	out, err := l.SQSAPI.DeleteMessageBatch(ctx, in, opts...)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.from.IsZero() {
		l.from = time.Now()
	}
	if err == nil && time.Since(l.from) < l.window {
		l.lost++
		return nil, fmt.Errorf("operation error SQS: DeleteMessageBatch, answer lost: %w", context.DeadlineExceeded)
	}
	return out, err
}

// A delete that SQS did but whose answer was lost is tried again until it
// is answered (SQS deletes idempotently): the message counts as processed,
// not released, and is not delivered again. (With 3 tries 0.2 s apart, a
// 2-second loss counted every deleted message of a batch as released.)
func TestADeleteWhoseAnswerWasLostIsCountedAsProcessed(t *testing.T) {
	const n = 200
	api, url := newQueue(t, "lost-answers", nil)
	sendNumbered(t, api, url, n)
	s := newSpy(api)
	lossy := &lostAnswers{SQSAPI: s, window: 2 * time.Second}
	l := newLedger()
	h := worker.HandlerFunc(func(_ context.Context, m worker.Message) error {
		l.record(m.Body, true)
		return nil
	})
	sum, err := worker.Run(context.Background(), lossy, url, h, fast())
	must(t, err)
	t.Logf("summary %+v; %d delete answers lost", sum, lossy.lost)
	if lossy.lost == 0 {
		t.Fatal("no delete answer was lost: the test tested nothing")
	}
	if sum.Processed != n || sum.Released != 0 || sum.Received != n {
		t.Errorf("summary received %d, processed %d, released %d; want %d, %d, 0", sum.Received, sum.Processed, sum.Released, n, n)
	}
	for i := range n {
		if body := strconv.Itoa(i); l.succeeded[body] != 1 {
			t.Errorf("message %s handled %d times, want once", body, l.succeeded[body])
		}
	}
	if v, f := depth(t, api, url); v != 0 || f != 0 {
		t.Errorf("queue left with %d visible, %d in flight", v, f)
	}
}

// deniedDeletes refuses every DeleteMessageBatch as SQS refuses a role
// without sqs:DeleteMessage, and counts the tries of each receipt handle.
type deniedDeletes struct {
	worker.SQSAPI
	mu    sync.Mutex
	tries map[string]int
}

func (d *deniedDeletes) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range in.Entries {
		d.tries[aws.ToString(e.ReceiptHandle)]++
	}
	return nil, apiError("AccessDenied", "not authorized to perform sqs:DeleteMessage")
}

// A delete SQS refuses outright (access denied) is not tried again while
// the message is held: the message is given back at once, counted as
// released, and nothing is deleted.
func TestADeleteRefusedOutrightIsNotTriedAgain(t *testing.T) {
	const n = 20
	api, url := newQueue(t, "denied", nil)
	sendNumbered(t, api, url, n)
	denied := &deniedDeletes{SQSAPI: api, tries: map[string]int{}}
	ctx, sigterm := context.WithTimeout(context.Background(), 3*time.Second)
	defer sigterm()
	cfg := fast()
	cfg.GracePeriod = time.Second
	sum, _ := worker.Run(ctx, denied, url, worker.HandlerFunc(func(context.Context, worker.Message) error { return nil }), cfg)
	t.Logf("summary %+v; %d receipt handles tried", sum, len(denied.tries))
	if len(denied.tries) < n {
		t.Fatalf("%d receipt handles tried, want every message's at least", len(denied.tries))
	}
	for receipt, tries := range denied.tries {
		if tries != 1 {
			t.Fatalf("receipt %.12s... tried %d times, want once", receipt, tries)
		}
	}
	if sum.Processed != 0 || sum.Released == 0 {
		t.Errorf("summary processed %d, released %d; want 0 and the messages given back", sum.Processed, sum.Released)
	}
	if v, f := depth(t, api, url); v+f != n {
		t.Errorf("queue holds %d visible, %d in flight; want all %d", v, f, n)
	}
}

// When the answers stay lost until the grace period after a SIGTERM ends,
// the deletes are given up and the messages given back; SQS says it no
// longer holds them (it did delete them), so they count as processed, not
// released. (The 1.2 million message replay counted 64 of them short.)
func TestDeletesGivenUpAtShutdownThatSQSHadDoneCountAsProcessed(t *testing.T) {
	const n = 100
	api, url := newQueue(t, "lost-at-shutdown", nil)
	sendNumbered(t, api, url, n)
	lossy := &lostAnswers{SQSAPI: api, window: time.Minute}
	l := newLedger()
	h := worker.HandlerFunc(func(_ context.Context, m worker.Message) error {
		l.record(m.Body, true)
		return nil
	})
	ctx, sigterm := context.WithCancel(context.Background())
	done := make(chan drainsummary.Summary)
	go func() {
		cfg := fast()
		cfg.GracePeriod = time.Second
		sum, _ := worker.Run(ctx, lossy, url, h, cfg)
		done <- sum
	}()
	deadline := time.Now().Add(20 * time.Second)
	for handled := 0; handled < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages handled in 20s", handled, n)
		}
		time.Sleep(50 * time.Millisecond)
		l.mu.Lock()
		handled = len(l.succeeded)
		l.mu.Unlock()
	}
	sigterm()
	sum := <-done
	t.Logf("summary %+v; %d delete answers lost", sum, lossy.lost)
	if lossy.lost == 0 {
		t.Fatal("no delete answer was lost: the test tested nothing")
	}
	if sum.Processed != n || sum.Released != 0 {
		t.Errorf("summary processed %d, released %d; want %d and 0: SQS had deleted every message", sum.Processed, sum.Released, n)
	}
	if v, f := depth(t, api, url); v != 0 || f != 0 {
		t.Errorf("queue left with %d visible, %d in flight", v, f)
	}
}

func TestMessagesThatAlwaysFailEndInTheDeadLetterQueue(t *testing.T) {
	api, dlq := newQueue(t, "orders-dlq", nil)
	attrs, err := api.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(dlq),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	must(t, err)
	url, err := emulator.CreateQueue(context.Background(), api, "orders", map[string]string{
		"VisibilityTimeout": "1",
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"3"}`, attrs.Attributes["QueueArn"]),
	})
	must(t, err)
	sendNumbered(t, api, url, 20)
	s := newSpy(api)
	l := newLedger()
	sum, err := worker.Run(context.Background(), s, url, worker.HandlerFunc(func(_ context.Context, m worker.Message) error {
		l.record(m.Body, false)
		return fmt.Errorf("poison")
	}), fast())
	must(t, err)
	t.Logf("summary %+v", sum)
	if sum.Processed != 0 || len(s.deleted) != 0 {
		t.Errorf("processed %d, deleted %v: nothing may be deleted when every handling fails", sum.Processed, s.deleted)
	}
	if sum.LastFailure != "poison" {
		t.Errorf("summary's last failure %q, want the handler's error, poison", sum.LastFailure)
	}
	for i := range 20 {
		if c := l.calls[strconv.Itoa(i)]; c != 3 {
			t.Errorf("message %d handled %d times, want maxReceiveCount = 3", i, c)
		}
	}
	if v, _ := depth(t, api, dlq); v != 20 {
		t.Errorf("dead-letter queue holds %d messages, want 20", v)
	}
	if v, f := depth(t, api, url); v != 0 || f != 0 {
		t.Errorf("queue left with %d visible, %d in flight", v, f)
	}
}

func TestSIGTERMInTheMiddleOfADrainLosesNothing(t *testing.T) {
	const n = 400
	api, url := newQueue(t, "interrupted", map[string]string{"VisibilityTimeout": "30"})
	sendNumbered(t, api, url, n)
	s := newSpy(api)
	l := newLedger()
	ctx, sigterm := context.WithCancel(context.Background())
	cfg := fast()
	cfg.Handlers = 4
	cfg.GracePeriod = 2 * time.Second
	go func() { time.Sleep(time.Second); sigterm() }()
	sum, err := worker.Run(ctx, s, url, worker.HandlerFunc(func(ctx context.Context, m worker.Message) error {
		select {
		case <-time.After(50 * time.Millisecond):
			l.record(m.Body, true)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}), cfg)
	must(t, err)
	t.Logf("summary %+v", sum)
	if sum.Processed == 0 || sum.Processed >= n {
		t.Fatalf("processed %d of %d: the SIGTERM should have come mid-drain", sum.Processed, n)
	}
	// Everything is either processed (and deleted) or back in the queue, visible now.
	visible, inFlight := depth(t, api, url)
	if inFlight != 0 || int64(visible)+sum.Processed != n {
		t.Errorf("after SIGTERM: %d processed + %d visible (+%d in flight), want %d and none in flight", sum.Processed, visible, inFlight, n)
	}
	for body, c := range s.deleted {
		if c != 1 || l.succeeded[body] != 1 {
			t.Errorf("message %s deleted %d times, handled %d times", body, c, l.succeeded[body])
		}
	}
	if int64(len(s.deleted)) != sum.Processed {
		t.Errorf("%d messages deleted, summary says %d processed", len(s.deleted), sum.Processed)
	}
}

func TestEmptyQueueEndsTheDrainWithinOneLongPoll(t *testing.T) {
	_, url := newQueue(t, "empty", nil)
	api := sqsClient(t)
	cfg := fast()
	cfg.WaitTime = 2 * time.Second
	start := time.Now()
	sum, err := worker.Run(context.Background(), api, url, worker.HandlerFunc(func(context.Context, worker.Message) error { return nil }), cfg)
	must(t, err)
	took := time.Since(start)
	t.Logf("empty queue: returned after %s (long-poll wait %s)", took.Round(time.Millisecond), cfg.WaitTime)
	if took > cfg.WaitTime+time.Second || sum.Received != 0 {
		t.Errorf("returned after %s having received %d, want within one long poll (%s)", took, sum.Received, cfg.WaitTime)
	}
}

func TestSlowHandlerKeepsItsMessageInvisibleAndGetsNoDuplicate(t *testing.T) {
	api, url := newQueue(t, "slow", map[string]string{"VisibilityTimeout": "2"})
	sendNumbered(t, api, url, 3)
	s := newSpy(api)
	l := newLedger()
	cfg := fast()
	sum, err := worker.Run(context.Background(), s, url, worker.HandlerFunc(func(_ context.Context, m worker.Message) error {
		time.Sleep(5 * time.Second) // 2.5 visibility timeouts
		l.record(m.Body, true)
		return nil
	}), cfg)
	must(t, err)
	t.Logf("summary %+v, visibility extensions %d", sum, s.extended)
	for i := range 3 {
		if c := l.calls[strconv.Itoa(i)]; c != 1 {
			t.Errorf("message %d handled %d times, want once: its visibility must be extended", i, c)
		}
	}
	if s.extended == 0 || sum.Received != 3 || sum.Processed != 3 {
		t.Errorf("extensions %d, received %d, processed %d", s.extended, sum.Received, sum.Processed)
	}
}

func TestFIFOGroupsAreHandledInOrderEvenAfterAFailure(t *testing.T) {
	api, url := newQueue(t, "ordered.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true", "VisibilityTimeout": "1"})
	const groups, perGroup = 3, 10
	for g := range groups {
		for i := range perGroup {
			_, err := api.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url),
				MessageBody: aws.String(fmt.Sprintf("%d/%d", g, i)), MessageGroupId: aws.String(strconv.Itoa(g))})
			must(t, err)
		}
	}
	var mu sync.Mutex
	next := map[string]int{} // group -> next expected index
	failedOnce := false
	sum, err := worker.Run(context.Background(), api, url, worker.HandlerFunc(func(_ context.Context, m worker.Message) error {
		var g, i int
		if _, err := fmt.Sscanf(m.Body, "%d/%d", &g, &i); err != nil {
			t.Errorf("body %q is not one the test sent: %v", m.Body, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if i != next[m.GroupID] {
			t.Errorf("group %s: got message %d, expected %d", m.GroupID, i, next[m.GroupID])
		}
		if g == 1 && i == 4 && !failedOnce {
			failedOnce = true
			return fmt.Errorf("fail once in the middle of group 1")
		}
		next[m.GroupID] = i + 1
		return nil
	}), fast())
	must(t, err)
	t.Logf("summary %+v", sum)
	for g := range groups {
		if next[strconv.Itoa(g)] != perGroup {
			t.Errorf("group %d: handled up to %d, want all %d", g, next[strconv.Itoa(g)], perGroup)
		}
	}
	if sum.Processed != groups*perGroup || sum.Failed != 1 {
		t.Errorf("processed %d failed %d, want %d and 1", sum.Processed, sum.Failed, groups*perGroup)
	}
}

func sqsClient(t *testing.T) *sqs.Client {
	t.Helper()
	cfg, err := emulator.AWSConfig(context.Background())
	must(t, err)
	return sqs.NewFromConfig(cfg)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// lostResponses stands for a network that cannot take back a long poll:
// SQS hands out messages even when the caller has given up on the call, and
// the caller then never learns of them.
type lostResponses struct {
	worker.SQSAPI
	polling chan struct{} // closed when the first poll starts
	once    sync.Once
}

func (l *lostResponses) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	l.once.Do(func() { close(l.polling) })
	out, err := l.SQSAPI.ReceiveMessage(context.Background(), in, opts...)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return out, err
}

// A long poll in flight at SIGTERM is not abandoned: what it brings back
// is released at once instead of staying invisible for the visibility timeout.
func TestMessagesFromAPollInFlightAtShutdownAreReleasedAtOnce(t *testing.T) {
	api, url := newQueue(t, "shutdown-poll", map[string]string{"VisibilityTimeout": "300"})
	l := &lostResponses{SQSAPI: api, polling: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	cfg := worker.Config{Receivers: 1, WaitTime: 5 * time.Second, GracePeriod: 10 * time.Second}
	done := make(chan drainsummary.Summary, 1)
	go func() {
		s, _ := worker.Run(ctx, l, url, worker.HandlerFunc(func(context.Context, worker.Message) error { return nil }), cfg)
		done <- s
	}()
	<-l.polling
	cancel()
	time.Sleep(200 * time.Millisecond)
	sendNumbered(t, api, url, 5)
	s := <-done
	if s.Processed != 0 || s.Released != s.Received {
		t.Fatalf("summary %+v: after shutdown nothing is handled and everything received is released", s)
	}
	if visible, inFlight := depth(t, api, url); visible != 5 || inFlight != 0 {
		t.Fatalf("queue: %d visible, %d in flight; want all 5 visible", visible, inFlight)
	}
}
