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
// optional steady rate, for a count or a duration. Bodies are a filler of a
// given size, one fixed body, or a text/template rendered per message. On a
// FIFO queue the messages are spread over message groups, each group's
// messages sent in order, with deduplication IDs that make a call sent again
// after a lost answer harmless. test/cmd/loadgen is its command line.
package load

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
	"time"
	"unicode/utf8"

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

// MaxBatchBytes is the most a SendMessageBatch call may carry, all bodies
// together (1 MiB); it is also the largest body SQS takes.
const MaxBatchBytes = 1 << 20

// Options says what to send. Zero values take the defaults in brackets.
type Options struct {
	// Count is how many messages to send.
	Count int
	// Duration, with Rate, sends Rate × Duration messages (rounded) instead
	// of Count, which must then be 0: a steady rate for that long.
	Duration time.Duration
	// Size is the length of each body in bytes [256]. Bodies are ASCII and
	// start with the message's sequence number (see Body).
	Size int
	// Body, when not empty, is the body of every message, byte for byte,
	// instead of Size's filler. It must pass CheckBody.
	Body string
	// Template, when set, renders the body of every message from a
	// TemplateData, instead of Size's filler; not with Body. Each rendered
	// body must pass CheckBody.
	Template *template.Template
	// Concurrency is how many SendMessageBatch calls are in flight at once
	// [4]. On a FIFO queue it is at most Groups: one sender per group at a
	// time keeps each group's messages in order.
	Concurrency int
	// Rate caps the messages sent per second; 0 is as fast as the queue takes them.
	Rate float64
	// FIFO sends to a FIFO queue: message seq in group "group-<seq % Groups>",
	// with a deduplication ID unique to the Send and the message unless
	// ContentDedup.
	FIFO bool
	// Groups is how many message groups a FIFO send spreads over [1].
	Groups int
	// ContentDedup sends FIFO messages without a deduplication ID, for a
	// queue with ContentBasedDeduplication: SQS then takes equal bodies
	// sent within 5 minutes for one message, so bodies must differ.
	ContentDedup bool
	// Progress, when set, is called every ProgressEvery [1s] with the counts so far.
	Progress      func(Result)
	ProgressEvery time.Duration
}

// TemplateData is what Options.Template renders a body from.
type TemplateData struct {
	Seq  int    // the message's sequence number, from 0
	ID   string // an ID unique to the Send, the same for all its messages
	Time string // when the body was rendered, RFC 3339 in UTC with nanoseconds
}

// Result is what a Send did.
type Result struct {
	Sent    int64
	Bytes   int64 // of the bodies sent
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
	if o.Groups <= 0 {
		o.Groups = 1
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = time.Second
	}
	return o
}

// Messages is how many messages a Send of o sends: Count, or Rate × Duration.
func (o Options) Messages() int {
	if o.Duration > 0 {
		return int(math.Round(o.Rate * o.Duration.Seconds()))
	}
	return o.Count
}

// Validate reports what Send would refuse in o before sending anything.
func (o Options) Validate() error {
	o = o.withDefaults()
	switch {
	case o.Count < 0:
		return fmt.Errorf("count must not be negative, got %d", o.Count)
	case o.Rate < 0:
		return fmt.Errorf("rate must not be negative, got %g", o.Rate)
	case o.Duration < 0:
		return fmt.Errorf("duration must not be negative, got %v", o.Duration)
	case o.Duration > 0 && o.Rate == 0:
		return errors.New("a duration needs a rate: Rate × Duration is the count")
	case o.Duration > 0 && o.Count != 0:
		return errors.New("count and duration are exclusive: Rate × Duration is the count")
	case o.Size > MaxBatchBytes:
		return fmt.Errorf("size %d exceeds the SQS limit of %d bytes", o.Size, MaxBatchBytes)
	case o.Body != "" && o.Template != nil:
		return errors.New("a fixed body and a body template are exclusive")
	case o.Groups > 1 && !o.FIFO:
		return fmt.Errorf("%d message groups: groups are for FIFO queues", o.Groups)
	case o.ContentDedup && !o.FIFO:
		return errors.New("content-based deduplication is for FIFO queues")
	case o.ContentDedup && o.Body != "" && o.Messages() > 1:
		return errors.New("content-based deduplication with one body for every message: SQS would keep only the first")
	}
	if o.Body != "" {
		if err := CheckBody(o.Body); err != nil {
			return fmt.Errorf("body: %w", err)
		}
	}
	return nil
}

// CheckBody returns why SQS would refuse body as a message body, or nil:
// it must be 1 byte to MaxBatchBytes of UTF-8 in the characters SQS
// allows, #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000
// to #x10FFFF.
func CheckBody(body string) error {
	if body == "" {
		return errors.New("empty: SQS needs at least 1 character")
	}
	if len(body) > MaxBatchBytes {
		return fmt.Errorf("%d bytes exceeds the SQS limit of %d bytes", len(body), MaxBatchBytes)
	}
	for i, r := range body {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(body[i:]); n == 1 {
				return fmt.Errorf("byte %d (0x%02x) is not valid UTF-8; SQS bodies are Unicode text", i, body[i])
			}
		}
		if !sqsChar(r) {
			return fmt.Errorf("byte %d: character %U is not one SQS allows in a message body "+
				"(#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF)", i, r)
		}
	}
	return nil
}

func sqsChar(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD || 0x20 <= r && r <= 0xD7FF ||
		0xE000 <= r && r <= 0xFFFD || 0x10000 <= r && r <= 0x10FFFF
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

// GroupID is the message group of message seq in a FIFO send over groups groups.
func GroupID(seq, groups int) string { return "group-" + strconv.Itoa(seq%max(groups, 1)) }

// maxAttempts bounds how often one entry is sent after SQS refused it on
// its side (SenderFault false); the SDK already retries whole calls.
const maxAttempts = 5

// Send sends o.Messages() messages to queueURL and returns once all are
// accepted, or at the first error (a refused call, an entry refused as the
// sender's fault, a body SQS would refuse, or ctx ending). Options SQS
// would refuse, a fixed body included, are refused before anything is sent,
// and so is a template that fails to render the first body.
func Send(ctx context.Context, api SQSAPI, queueURL string, o Options) (Result, error) {
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	count := o.Messages()
	runID := newRunID()
	render := o.renderer(runID)
	if err := o.checkFirstBodies(render, count); err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	claims := o.claims(count, o.perCall())
	var (
		sent, sentBytes, calls, retried atomic.Int64
		pace                            = newPacer(o.Rate)
		start                           = time.Now()
		wg                              sync.WaitGroup
	)
	snapshot := func() Result {
		return Result{Sent: sent.Load(), Bytes: sentBytes.Load(), Calls: calls.Load(), Retried: retried.Load(), Elapsed: time.Since(start)}
	}
	for _, claim := range claims {
		wg.Go(func() {
			for ctx.Err() == nil {
				seqs := claim()
				if len(seqs) == 0 {
					return
				}
				entries, err := o.entries(seqs, render, runID)
				if err != nil {
					cancel(err)
					return
				}
				for len(entries) > 0 {
					call, n := splitBatch(entries)
					entries = entries[len(call):]
					if err := pace.wait(ctx, len(call)); err != nil {
						cancel(err)
						return
					}
					c, r, err := sendBatch(ctx, api, queueURL, o.FIFO, call)
					calls.Add(int64(c))
					retried.Add(int64(r))
					if err != nil {
						cancel(err)
						return
					}
					sent.Add(int64(len(call)))
					sentBytes.Add(int64(n))
				}
			}
		})
	}
	done := make(chan struct{})
	var reporter sync.WaitGroup // Progress is not called once Send returned
	if o.Progress != nil {
		reporter.Go(func() {
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
		})
	}
	wg.Wait()
	close(done)
	reporter.Wait()
	res := snapshot()
	if err := context.Cause(ctx); err != nil {
		return res, err
	}
	return res, nil
}

// checkFirstBodies renders the first body, and the second with
// ContentDedup, which must differ from the first, before anything is sent.
func (o Options) checkFirstBodies(render func(seq int) (string, error), count int) error {
	if count == 0 {
		return nil
	}
	first, err := render(0)
	if err != nil {
		return err
	}
	if o.ContentDedup && count > 1 {
		if second, err := render(1); err != nil {
			return err
		} else if second == first {
			return errors.New("content-based deduplication: the template renders messages 0 and 1 alike, SQS would keep only the first")
		}
	}
	return nil
}

// perCall is how many sequence numbers a sender claims at a time: as many
// bodies as fit in a call.
func (o Options) perCall() int {
	switch {
	case o.Body != "":
		return PerBatch(len(o.Body))
	case o.Template == nil:
		return PerBatch(o.Size)
	default:
		return 10 // a template's bodies are split by size once rendered
	}
}

// claims returns, for each sender, what hands out the sequence numbers it
// sends, per at a time, and nothing once all count are handed out.
func (o Options) claims(count, per int) []func() []int {
	var claims []func() []int
	if o.FIFO {
		// Each group has one sender, which sends its messages in order
		// and a call only once the one before is done.
		lanes := min(o.Concurrency, o.Groups)
		for k := range lanes {
			next := laneSeqs(k, lanes, o.Groups, count)
			claims = append(claims, func() []int {
				var seqs []int
				for len(seqs) < per {
					seq, ok := next()
					if !ok {
						break
					}
					seqs = append(seqs, seq)
				}
				return seqs
			})
		}
	} else {
		var next atomic.Int64 // next sequence number to claim
		claim := func() []int {
			first := int(next.Add(int64(per)) - int64(per))
			var seqs []int
			for seq := first; seq < min(first+per, count); seq++ {
				seqs = append(seqs, seq)
			}
			return seqs
		}
		for range min(o.Concurrency, max((count+per-1)/per, 1)) {
			claims = append(claims, claim)
		}
	}
	return claims
}

// entries renders the messages seqs into the entries of SendMessageBatch
// calls.
func (o Options) entries(seqs []int, render func(seq int) (string, error), runID string) ([]sqstypes.SendMessageBatchRequestEntry, error) {
	entries := make([]sqstypes.SendMessageBatchRequestEntry, len(seqs))
	for i, seq := range seqs {
		body, err := render(seq)
		if err != nil {
			return nil, err
		}
		e := sqstypes.SendMessageBatchRequestEntry{MessageBody: aws.String(body)}
		if o.FIFO {
			e.MessageGroupId = aws.String(GroupID(seq, o.Groups))
			if !o.ContentDedup {
				// The same in every attempt: SQS drops a copy sent
				// again after an answer was lost.
				e.MessageDeduplicationId = aws.String(runID + "-" + strconv.Itoa(seq))
			}
		}
		entries[i] = e
	}
	return entries, nil
}

// newRunID is an ID for one Send: its start time and random bits.
func newRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // never fails
	return strconv.FormatInt(time.Now().UnixNano(), 36) + hex.EncodeToString(b)
}

// renderer returns the body of message seq for o.
func (o Options) renderer(runID string) func(seq int) (string, error) {
	switch {
	case o.Body != "":
		return func(int) (string, error) { return o.Body, nil }
	case o.Template != nil:
		return func(seq int) (string, error) {
			var b bytes.Buffer
			data := TemplateData{Seq: seq, ID: runID, Time: time.Now().UTC().Format(time.RFC3339Nano)}
			if err := o.Template.Execute(&b, data); err != nil {
				return "", fmt.Errorf("body template, message %d: %w", seq, err)
			}
			if err := CheckBody(b.String()); err != nil {
				return "", fmt.Errorf("body template, message %d: %w", seq, err)
			}
			return b.String(), nil
		}
	default:
		return func(seq int) (string, error) { return Body(seq, o.Size), nil }
	}
}

// laneSeqs returns, one a call, the sequence numbers below count of the
// messages whose group (seq % groups) is lane k's of lanes, in order.
func laneSeqs(k, lanes, groups, count int) func() (int, bool) {
	base, g := 0, k
	return func() (int, bool) {
		if g >= groups {
			base, g = base+groups, k
		}
		seq := base + g
		if seq >= count {
			return 0, false
		}
		g += lanes
		return seq, true
	}
}

// splitBatch returns the leading entries one call may carry (at most 10
// and MaxBatchBytes of bodies) and the bytes of their bodies.
func splitBatch(entries []sqstypes.SendMessageBatchRequestEntry) ([]sqstypes.SendMessageBatchRequestEntry, int) {
	n, size := 0, 0
	for n < min(10, len(entries)) {
		l := len(aws.ToString(entries[n].MessageBody))
		if n > 0 && size+l > MaxBatchBytes {
			break
		}
		n, size = n+1, size+l
	}
	return entries[:n], size
}

// sendBatch sends entries in one call, and sends again the entries SQS
// refused on its side. It returns the calls made and the entries sent
// again. On a FIFO queue an entry cannot be sent again once a later entry
// of its group was accepted, as it would then come after it: that is an error.
func sendBatch(ctx context.Context, api SQSAPI, queueURL string, fifo bool, entries []sqstypes.SendMessageBatchRequestEntry) (calls, retried int, err error) {
	entries = append([]sqstypes.SendMessageBatchRequestEntry(nil), entries...)
	for i := range entries {
		entries[i].Id = aws.String(strconv.Itoa(i)) // the entry's place in the first call
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
		var again []sqstypes.SendMessageBatchRequestEntry
		for _, f := range out.Failed {
			if f.SenderFault || attempt == maxAttempts {
				return calls, retried, fmt.Errorf("SendMessageBatch refused message %s: %s: %s",
					aws.ToString(f.Id), aws.ToString(f.Code), aws.ToString(f.Message))
			}
			again = append(again, byID[aws.ToString(f.Id)])
		}
		if fifo {
			if err := checkOrder(again, out.Successful, byID); err != nil {
				return calls, retried, err
			}
		}
		entries = sortByID(again)
		retried += len(entries)
		select {
		case <-ctx.Done():
			return calls, retried, ctx.Err()
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		}
	}
}

// checkOrder returns an error when an entry to send again has a later entry
// of its group among those accepted.
func checkOrder(
	again []sqstypes.SendMessageBatchRequestEntry, accepted []sqstypes.SendMessageBatchResultEntry, byID map[string]sqstypes.SendMessageBatchRequestEntry,
) error {
	for _, e := range again {
		pos, _ := strconv.Atoi(aws.ToString(e.Id))
		for _, a := range accepted {
			later, _ := strconv.Atoi(aws.ToString(a.Id))
			if later > pos && aws.ToString(byID[aws.ToString(a.Id)].MessageGroupId) == aws.ToString(e.MessageGroupId) {
				return fmt.Errorf("SendMessageBatch refused message %d on its side but accepted message %d of the same group %s: "+
					"sending it again would break the group's order", pos, later, aws.ToString(e.MessageGroupId))
			}
		}
	}
	return nil
}

// sortByID puts entries back in the order of the first call.
func sortByID(entries []sqstypes.SendMessageBatchRequestEntry) []sqstypes.SendMessageBatchRequestEntry {
	slices.SortFunc(entries, func(a, b sqstypes.SendMessageBatchRequestEntry) int {
		x, _ := strconv.Atoi(aws.ToString(a.Id))
		y, _ := strconv.Atoi(aws.ToString(b.Id))
		return x - y
	})
	return entries
}

// pacer spaces sends so that they average rate messages a second: n
// messages go once n/rate seconds have passed since the ones before were
// due, so that count messages take count/rate seconds. Senders that fell
// behind (a slow call) catch up, by up to maxLag.
type pacer struct {
	rate float64
	mu   sync.Mutex
	next time.Time
}

// maxLag is how far behind its schedule a pacer may catch up.
const maxLag = time.Second

func newPacer(rate float64) *pacer { return &pacer{rate: rate} }

// wait blocks until n more messages may go.
func (p *pacer) wait(ctx context.Context, n int) error {
	if p.rate <= 0 {
		return nil
	}
	p.mu.Lock()
	now := time.Now()
	if now.Sub(p.next) > maxLag {
		p.next = now // no burst to make up for a long stall
	}
	p.next = p.next.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	at := p.next
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

// QueueAPI is the part of the SQS client ResolveOrCreate uses.
type QueueAPI interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	CreateQueue(ctx context.Context, in *sqs.CreateQueueInput, opts ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// QueueSpec is what ResolveOrCreate gives a queue it creates, besides
// FifoQueue for a .fifo name. Zero values leave SQS's defaults.
type QueueSpec struct {
	// VisibilityTimeout, when set, is the queue's VisibilityTimeout: whole
	// seconds from 0 to 12 hours.
	VisibilityTimeout *time.Duration
	// ContentDedup sets ContentBasedDeduplication on a FIFO queue.
	ContentDedup bool
	// DeadLetter names a dead-letter queue in the same account, of the
	// same kind (a .fifo name for a FIFO queue), created if it does not
	// exist; the queue's RedrivePolicy sends it a message received more
	// than MaxReceiveCount (1 to 1000) times.
	DeadLetter      string
	MaxReceiveCount int
}

// ResolveQueueURL returns the URL to send to: the one SQS gives with
// GetQueueUrl for the name and account in raw. For a canonical SQS URL
// (https://sqs.<region>.amazonaws.com/<account>/<name>) that is the URL
// itself on AWS and the emulator's URL behind AWS_ENDPOINT_URL_SQS; an
// emulator's URL is only read for its name (and account), since emulators
// know a queue by the exact URL they made. With create, a queue that does
// not exist is created (a .fifo name makes a FIFO queue).
func ResolveQueueURL(ctx context.Context, api SQSAPI, raw string, create bool) (string, error) {
	return resolve(ctx, api, raw, create)
}

// queueFinder is the part of the SQS client that finds and creates queues.
type queueFinder interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	CreateQueue(ctx context.Context, in *sqs.CreateQueueInput, opts ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error)
}

func resolve(ctx context.Context, api queueFinder, raw string, create bool) (string, error) {
	name, account, err := nameAndAccount(raw)
	if err != nil {
		return "", err
	}
	queueURL, err := lookUp(ctx, api, name, account)
	if err == nil || !create || !isMissing(err) {
		return queueURL, err
	}
	return createQueue(ctx, api, name, queueAttributes(name, QueueSpec{}, ""))
}

// ResolveOrCreate is ResolveQueueURL with create, making the queue as spec
// says: its dead-letter queue first when spec names one, then the queue
// with its RedrivePolicy naming the dead-letter queue's QueueArn. A queue
// that exists already is not changed: when spec asks for an attribute it
// does not have, that is an error.
func ResolveOrCreate(ctx context.Context, api QueueAPI, raw string, spec QueueSpec) (string, error) {
	name, account, err := nameAndAccount(raw)
	if err != nil {
		return "", err
	}
	if err := spec.check(name); err != nil {
		return "", err
	}
	if spec == (QueueSpec{}) {
		return resolve(ctx, api, raw, true) // no attribute to check: no GetQueueAttributes
	}
	queueURL, err := lookUp(ctx, api, name, account)
	if err != nil && !isMissing(err) {
		return "", err
	}
	exists := err == nil

	var dlqARN string
	if spec.DeadLetter != "" {
		dlqURL, err := lookUp(ctx, api, spec.DeadLetter, account)
		switch {
		case err == nil:
		case !isMissing(err):
			return "", err
		case exists:
			return "", fmt.Errorf("queue %s exists and its dead-letter queue %s does not: the queue is not changed, create %s or drop the dead-letter queue",
				name, spec.DeadLetter, spec.DeadLetter)
		default:
			if dlqURL, err = createQueue(ctx, api, spec.DeadLetter, queueAttributes(spec.DeadLetter, QueueSpec{}, "")); err != nil {
				return "", err
			}
		}
		if dlqARN, err = queueARN(ctx, api, dlqURL); err != nil {
			return "", fmt.Errorf("dead-letter queue %s: %w", spec.DeadLetter, err)
		}
	}
	want := queueAttributes(name, spec, dlqARN)
	if !exists {
		return createQueue(ctx, api, name, want)
	}
	out, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
	if err != nil {
		return "", fmt.Errorf("reading the attributes of queue %s: %w", name, err)
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if have := out.Attributes[k]; !sameAttribute(k, have, want[k]) {
			return "", fmt.Errorf("queue %s exists with %s %q, not the %q asked: the queue is not changed, delete it or drop the option", name, k, have, want[k])
		}
	}
	return queueURL, nil
}

// Check reports what ResolveOrCreate would refuse in s for the queue of
// URL raw, before anything is sent or created.
func (s QueueSpec) Check(raw string) error {
	name, _, err := nameAndAccount(raw)
	if err != nil {
		return err
	}
	return s.check(name)
}

func (s QueueSpec) check(name string) error {
	if v := s.VisibilityTimeout; v != nil && (*v < 0 || *v > 12*time.Hour || *v%time.Second != 0) {
		return fmt.Errorf("visibility timeout %v: SQS takes whole seconds from 0 to 12h", *v)
	}
	if s.ContentDedup && !IsFIFO(name) {
		return fmt.Errorf("content-based deduplication is for FIFO queues, and %s is not one", name)
	}
	switch {
	case s.DeadLetter == "" && s.MaxReceiveCount != 0:
		return errors.New("a maximum receive count needs a dead-letter queue")
	case s.DeadLetter == "":
	case s.MaxReceiveCount < 1 || s.MaxReceiveCount > 1000:
		return fmt.Errorf("dead-letter queue %s: the maximum receive count must be 1 to 1000, got %d", s.DeadLetter, s.MaxReceiveCount)
	case s.DeadLetter == name:
		return fmt.Errorf("queue %s cannot be its own dead-letter queue", name)
	case IsFIFO(name) && !IsFIFO(s.DeadLetter):
		return fmt.Errorf("the dead-letter queue of FIFO queue %s must be a FIFO queue: name it %s.fifo", name, s.DeadLetter)
	case !IsFIFO(name) && IsFIFO(s.DeadLetter):
		return fmt.Errorf("the dead-letter queue of standard queue %s must be a standard queue, not %s", name, s.DeadLetter)
	}
	return nil
}

// queueAttributes are the attributes CreateQueue gives queue name for spec.
func queueAttributes(name string, spec QueueSpec, dlqARN string) map[string]string {
	a := map[string]string{}
	if IsFIFO(name) {
		a[string(sqstypes.QueueAttributeNameFifoQueue)] = "true"
	}
	if spec.ContentDedup {
		a[string(sqstypes.QueueAttributeNameContentBasedDeduplication)] = "true"
	}
	if v := spec.VisibilityTimeout; v != nil {
		a[string(sqstypes.QueueAttributeNameVisibilityTimeout)] = strconv.Itoa(int(v.Seconds()))
	}
	if dlqARN != "" {
		policy, _ := json.Marshal(redrivePolicy{DeadLetterTargetARN: dlqARN, MaxReceiveCount: json.Number(strconv.Itoa(spec.MaxReceiveCount))})
		a[string(sqstypes.QueueAttributeNameRedrivePolicy)] = string(policy)
	}
	return a
}

// redrivePolicy is a RedrivePolicy attribute. SQS writes maxReceiveCount
// as a number or a string.
type redrivePolicy struct {
	DeadLetterTargetARN string      `json:"deadLetterTargetArn"`
	MaxReceiveCount     json.Number `json:"maxReceiveCount"`
}

func (p *redrivePolicy) UnmarshalJSON(b []byte) error {
	var raw struct {
		DeadLetterTargetARN string          `json:"deadLetterTargetArn"`
		MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	p.DeadLetterTargetARN = raw.DeadLetterTargetARN
	p.MaxReceiveCount = json.Number(strings.Trim(string(raw.MaxReceiveCount), `"`))
	return nil
}

// ParseRedrivePolicy reads a RedrivePolicy attribute: the dead-letter
// queue's ARN and the maximum receive count.
func ParseRedrivePolicy(attr string) (deadLetterARN string, maxReceiveCount int, err error) {
	var p redrivePolicy
	if err := json.Unmarshal([]byte(attr), &p); err != nil {
		return "", 0, fmt.Errorf("RedrivePolicy %q: %w", attr, err)
	}
	n, err := strconv.Atoi(p.MaxReceiveCount.String())
	if err != nil {
		return "", 0, fmt.Errorf("RedrivePolicy %q: maxReceiveCount: %w", attr, err)
	}
	return p.DeadLetterTargetARN, n, nil
}

func sameAttribute(name, have, want string) bool {
	if name != string(sqstypes.QueueAttributeNameRedrivePolicy) {
		return have == want
	}
	ha, hn, herr := ParseRedrivePolicy(have)
	wa, wn, werr := ParseRedrivePolicy(want)
	return herr == nil && werr == nil && ha == wa && hn == wn
}

func lookUp(ctx context.Context, api queueFinder, name, account string) (string, error) {
	in := &sqs.GetQueueUrlInput{QueueName: aws.String(name)}
	if account != "" {
		in.QueueOwnerAWSAccountId = aws.String(account)
	}
	out, err := api.GetQueueUrl(ctx, in)
	if err != nil {
		return "", fmt.Errorf("looking up queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

func isMissing(err error) bool {
	var missing *sqstypes.QueueDoesNotExist
	return errors.As(err, &missing)
}

func createQueue(ctx context.Context, api queueFinder, name string, attrs map[string]string) (string, error) {
	cin := &sqs.CreateQueueInput{QueueName: aws.String(name)}
	if len(attrs) > 0 {
		cin.Attributes = attrs
	}
	created, err := api.CreateQueue(ctx, cin)
	if err != nil {
		return "", fmt.Errorf("creating queue %s: %w", name, err)
	}
	return aws.ToString(created.QueueUrl), nil
}

// queueARN is the QueueArn attribute of a queue, as SQS gives it.
func queueARN(ctx context.Context, api QueueAPI, queueURL string) (string, error) {
	out, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return "", fmt.Errorf("reading its QueueArn: %w", err)
	}
	arn := out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	if arn == "" {
		return "", errors.New("SQS gave no QueueArn")
	}
	return arn, nil
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
