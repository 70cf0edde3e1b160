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

// Package load fills SQS queues for load tests, benchmarks and demos:
// SendMessageBatch with up to 10 messages a call from several senders, at an
// optional steady rate. hack/loadgen is its command line.
package load

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/queuedrainer/queue-drainer/internal/queueurl"
)

// SQSAPI is the part of the SQS client the load generator uses.
type SQSAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	CreateQueue(ctx context.Context, in *sqs.CreateQueueInput, opts ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error)
}

// MaxBatchBytes is the most a SendMessageBatch call may carry, all bodies together (1 MiB).
const MaxBatchBytes = 1 << 20

// Options says what to send. Zero values take the defaults in brackets.
type Options struct {
	// Count is how many messages to send.
	Count int
	// Size is the length of each body in bytes [256]. Bodies are ASCII and
	// start with the message's sequence number.
	Size int
	// Concurrency is how many SendMessageBatch calls are in flight at once [4].
	Concurrency int
	// Rate caps the messages sent per second; 0 is as fast as the queue takes them.
	Rate float64
	// FIFO sends to a FIFO queue: every message in group GroupID ["load"],
	// with a deduplication ID unique to the Send and the message.
	FIFO    bool
	GroupID string
	// Progress, when set, is called every ProgressEvery [1s] with the counts so far.
	Progress      func(Result)
	ProgressEvery time.Duration
}

// Result is what a Send did.
type Result struct {
	Sent    int64
	Calls   int64
	Retried int64 // entries SQS refused for a reason of its own and that were sent again
	Elapsed time.Duration
}

// PerSecond is the send rate.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Sent) / r.Elapsed.Seconds()
}

func (o Options) withDefaults() Options {
	if o.Size <= 0 {
		o.Size = 256
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.GroupID == "" {
		o.GroupID = "load"
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = time.Second
	}
	return o
}

// PerBatch is how many messages of the given size one SendMessageBatch carries.
func PerBatch(size int) int {
	return max(1, min(10, MaxBatchBytes/max(size, 1)))
}

// Body is the body of message seq: its sequence number padded with dots to size bytes.
func Body(seq, size int) string {
	s := fmt.Sprintf("%08d", seq)
	if len(s) >= size {
		return s[:size]
	}
	return s + strings.Repeat(".", size-len(s))
}

// maxAttempts bounds how often one entry is sent after SQS refused it on
// its side (SenderFault false); the SDK already retries whole calls.
const maxAttempts = 5

// Send sends o.Count messages to queueURL and returns once all are accepted,
// or at the first error (a refused call, an entry refused as the sender's
// fault, or ctx ending).
func Send(ctx context.Context, api SQSAPI, queueURL string, o Options) (Result, error) {
	o = o.withDefaults()
	if o.Count < 0 {
		return Result{}, fmt.Errorf("count must not be negative, got %d", o.Count)
	}
	if o.Size > MaxBatchBytes {
		return Result{}, fmt.Errorf("size %d exceeds the SQS limit of %d bytes", o.Size, MaxBatchBytes)
	}
	if o.Rate < 0 {
		return Result{}, fmt.Errorf("rate must not be negative, got %g", o.Rate)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	runID := strconv.FormatInt(time.Now().UnixNano(), 36)
	per := PerBatch(o.Size)
	batches := (o.Count + per - 1) / per
	var (
		next                 atomic.Int64 // next batch to send
		sent, calls, retried atomic.Int64
		pace                 = newPacer(o.Rate)
		start                = time.Now()
		wg                   sync.WaitGroup
	)
	snapshot := func() Result {
		return Result{Sent: sent.Load(), Calls: calls.Load(), Retried: retried.Load(), Elapsed: time.Since(start)}
	}
	for range min(o.Concurrency, max(batches, 1)) {
		wg.Go(func() {
			for {
				b := int(next.Add(1) - 1)
				if b >= batches || ctx.Err() != nil {
					return
				}
				first, n := b*per, min(per, o.Count-b*per)
				if err := pace.wait(ctx, n); err != nil {
					cancel(err)
					return
				}
				c, r, err := sendBatch(ctx, api, queueURL, o, runID, first, n)
				calls.Add(int64(c))
				retried.Add(int64(r))
				if err != nil {
					cancel(err)
					return
				}
				sent.Add(int64(n))
			}
		})
	}
	done := make(chan struct{})
	if o.Progress != nil {
		go func() {
			t := time.NewTicker(o.ProgressEvery)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					o.Progress(snapshot())
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	res := snapshot()
	if err := context.Cause(ctx); err != nil {
		return res, err
	}
	return res, nil
}

// sendBatch sends messages first..first+n-1 in one call, and sends again
// the entries SQS refused on its side. It returns the calls made and the
// entries sent again.
func sendBatch(ctx context.Context, api SQSAPI, queueURL string, o Options, runID string, first, n int) (calls, retried int, err error) {
	entries := make([]sqstypes.SendMessageBatchRequestEntry, n)
	for i := range entries {
		seq := first + i
		e := sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(Body(seq, o.Size))}
		if o.FIFO {
			e.MessageGroupId = aws.String(o.GroupID)
			e.MessageDeduplicationId = aws.String(runID + "-" + strconv.Itoa(seq))
		}
		entries[i] = e
	}
	for attempt := 1; ; attempt++ {
		out, err := api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
		calls++
		if err != nil {
			return calls, retried, fmt.Errorf("SendMessageBatch: %w", err)
		}
		if len(out.Failed) == 0 {
			return calls, retried, nil
		}
		byID := make(map[string]sqstypes.SendMessageBatchRequestEntry, len(entries))
		for _, e := range entries {
			byID[aws.ToString(e.Id)] = e
		}
		entries = entries[:0]
		for _, f := range out.Failed {
			if f.SenderFault || attempt == maxAttempts {
				return calls, retried, fmt.Errorf("SendMessageBatch refused message %s: %s: %s",
					aws.ToString(f.Id), aws.ToString(f.Code), aws.ToString(f.Message))
			}
			entries = append(entries, byID[aws.ToString(f.Id)])
		}
		retried += len(entries)
		select {
		case <-ctx.Done():
			return calls, retried, ctx.Err()
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		}
	}
}

// pacer spaces sends so that they average rate messages a second.
type pacer struct {
	rate float64
	mu   sync.Mutex
	next time.Time
}

func newPacer(rate float64) *pacer { return &pacer{rate: rate} }

// wait blocks until n more messages may go.
func (p *pacer) wait(ctx context.Context, n int) error {
	if p.rate <= 0 {
		return nil
	}
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	at := p.next
	p.next = p.next.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	p.mu.Unlock()
	if d := time.Until(at); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// ResolveQueueURL returns the URL to send to: the one SQS gives with
// GetQueueUrl for the name and account in raw. For a canonical SQS URL
// (https://sqs.<region>.amazonaws.com/<account>/<name>) that is the URL
// itself on AWS and the emulator's URL behind AWS_ENDPOINT_URL_SQS; an
// emulator's URL is only read for its name (and account), since emulators
// know a queue by the exact URL they made. With create, a queue that does
// not exist is created (a .fifo name makes a FIFO queue).
func ResolveQueueURL(ctx context.Context, api SQSAPI, raw string, create bool) (string, error) {
	name, account, err := nameAndAccount(raw)
	if err != nil {
		return "", err
	}
	in := &sqs.GetQueueUrlInput{QueueName: aws.String(name)}
	if account != "" {
		in.QueueOwnerAWSAccountId = aws.String(account)
	}
	out, err := api.GetQueueUrl(ctx, in)
	if err == nil {
		return aws.ToString(out.QueueUrl), nil
	}
	var missing *sqstypes.QueueDoesNotExist
	if !errors.As(err, &missing) || !create {
		return "", fmt.Errorf("looking up queue %s: %w", name, err)
	}
	cin := &sqs.CreateQueueInput{QueueName: aws.String(name)}
	if IsFIFO(name) {
		cin.Attributes = map[string]string{string(sqstypes.QueueAttributeNameFifoQueue): "true"}
	}
	created, err := api.CreateQueue(ctx, cin)
	if err != nil {
		return "", fmt.Errorf("creating queue %s: %w", name, err)
	}
	return aws.ToString(created.QueueUrl), nil
}

var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// nameAndAccount reads the queue name of a queue URL (its last path
// segment) and its account (the segment before, when that is an account ID).
func nameAndAccount(raw string) (name, account string, err error) {
	if q, err := queueurl.Parse(raw); err == nil {
		return q.Name, q.Account, nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", "", fmt.Errorf("queue URL %q: not a URL", raw)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	name = parts[len(parts)-1]
	if name == "" {
		return "", "", fmt.Errorf("queue URL %q: no queue name at the end of the path", raw)
	}
	if len(parts) >= 2 && accountID.MatchString(parts[len(parts)-2]) {
		account = parts[len(parts)-2]
	}
	return name, account, nil
}

// IsAWS reports whether raw is a canonical SQS URL rather than an emulator's.
func IsAWS(raw string) bool {
	_, err := queueurl.Parse(raw)
	return err == nil
}

// IsFIFO reports whether a queue URL names a FIFO queue.
func IsFIFO(queueURL string) bool { return strings.HasSuffix(queueURL, ".fifo") }
