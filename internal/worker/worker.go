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

package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/queuedrainer/queue-drainer/internal/awserr"
	"github.com/queuedrainer/queue-drainer/internal/drainsummary"
)

// maxReceiveErrors in a row end the drain with an error: the queue is gone,
// or access was taken away.
const maxReceiveErrors = 10

// systemAttributes are the system attributes the worker reads; asking for
// all of them costs the service work on every receive.
var systemAttributes = []sqstypes.MessageSystemAttributeName{
	sqstypes.MessageSystemAttributeNameApproximateReceiveCount,
	sqstypes.MessageSystemAttributeNameMessageGroupId,
}

// WithDefaults is c with the default of every setting left zero.
func (c Config) WithDefaults() Config {
	if c.Receivers <= 0 {
		c.Receivers = DefaultReceivers
	}
	if c.Handlers <= 0 {
		c.Handlers = DefaultHandlers
	}
	if c.Deleters <= 0 {
		c.Deleters = DefaultDeleters
	}
	if c.HandlerTimeout <= 0 {
		c.HandlerTimeout = DefaultHandlerTimeout
	}
	if c.WaitTime <= 0 || c.WaitTime > DefaultWaitTime {
		c.WaitTime = DefaultWaitTime
	}
	if c.EmptyPolls <= 0 {
		c.EmptyPolls = DefaultEmptyPolls
	}
	if c.GracePeriod <= 0 {
		c.GracePeriod = DefaultGracePeriod
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 5 * time.Second
	}
	return c
}

// held is a received message the worker is responsible for until it is
// deleted, left to SQS after a failure, or released.
type held struct {
	msg      Message
	receipt  string
	deadline time.Time // when SQS would make it visible again
}

type drain struct {
	api      SQSAPI
	queueURL string
	handler  Handler
	cfg      Config
	fifo     bool
	vis      time.Duration
	// sysAttrs are the system attributes asked for on receive.
	sysAttrs []sqstypes.MessageSystemAttributeName

	mu      sync.Mutex
	held    map[string]*held // by receipt handle
	parked  int
	wake    chan struct{} // closed when messages arrive, to unpark receivers
	dueBack time.Time     // failed messages reappear until then
	drained chan struct{}
	fatal   error
	// lastFailure is the text of the handler's last error, for the summary.
	lastFailure string

	received, processed, failed, released atomic.Int64

	work    chan []*held // one message, or a FIFO group's messages in order
	deletes chan *held
}

// Run drains the queue and returns when it is empty, or when ctx ends (a
// SIGTERM) after finishing or releasing what it holds. The error is set
// when the queue could not be drained (it cannot be read, for example).
func Run(ctx context.Context, api SQSAPI, queueURL string, h Handler, cfg Config) (drainsummary.Summary, error) {
	start := time.Now()
	cfg = cfg.WithDefaults()
	d := &drain{
		api: api, queueURL: queueURL, handler: h, cfg: cfg,
		fifo:    strings.HasSuffix(queueURL, ".fifo"),
		held:    map[string]*held{},
		wake:    make(chan struct{}),
		drained: make(chan struct{}),
		work:    make(chan []*held, cfg.Handlers),
		deletes: make(chan *held, 10*cfg.Handlers),
	}
	d.sysAttrs = requestedSystemAttributes(h)
	var err error
	if d.vis, err = visibilityTimeout(ctx, api, queueURL, cfg.VisibilityTimeout); err != nil {
		return d.summary(start), err
	}

	// Receiving stops when the queue is drained, on a fatal error, or when ctx ends.
	recvCtx, stopReceiving := context.WithCancel(ctx)
	defer stopReceiving()
	go func() {
		select {
		case <-d.drained:
		case <-recvCtx.Done():
		}
		stopReceiving()
	}()
	// Handling goes on for the grace period after ctx ends.
	handleCtx, stopHandling := context.WithCancel(context.Background())
	defer stopHandling()
	go func() {
		select {
		case <-ctx.Done():
		case <-handleCtx.Done(): // Run returned without a shutdown
			return
		}
		select {
		case <-time.After(cfg.GracePeriod):
			stopHandling()
		case <-handleCtx.Done():
		}
	}()

	var receivers, handlers, background sync.WaitGroup
	for range cfg.Receivers {
		receivers.Add(1)
		go func() { defer receivers.Done(); d.receive(recvCtx, handleCtx) }()
	}
	for range cfg.Handlers {
		handlers.Add(1)
		go func() { defer handlers.Done(); d.handle(ctx, handleCtx) }()
	}
	// One loop gathers handled messages into batches of 10 for several
	// senders: with one call in flight, a drain is capped at 10 messages per
	// DeleteMessageBatch round trip; with a batch per sender, batches would
	// fill more slowly as the senders grew.
	var deleters sync.WaitGroup
	batches := make(chan []*held)
	deleters.Add(1)
	go func() { defer deleters.Done(); d.batchDeletes(batches) }()
	for range cfg.Deleters {
		deleters.Add(1)
		go func() {
			defer deleters.Done()
			for batch := range batches {
				d.deleteBatch(handleCtx, batch)
			}
		}()
	}
	extendCtx, stopExtending := context.WithCancel(context.Background())
	background.Add(2)
	go func() { defer background.Done(); d.extendLoop(extendCtx) }()
	go func() { defer background.Done(); d.progressLoop(extendCtx, start) }()

	receivers.Wait()
	close(d.work)
	handlers.Wait()
	close(d.deletes)
	deleters.Wait()
	stopExtending()
	background.Wait()
	d.releaseAll() // whatever is still held after the grace period

	d.mu.Lock()
	err = d.fatal
	d.mu.Unlock()
	return d.summary(start), err
}

func (d *drain) summary(start time.Time) drainsummary.Summary {
	d.mu.Lock()
	lastFailure := d.lastFailure
	d.mu.Unlock()
	return drainsummary.Summary{Received: d.received.Load(), Processed: d.processed.Load(),
		Failed: d.failed.Load(), Released: d.released.Load(), Seconds: time.Since(start).Seconds(),
		LastFailure: lastFailure}
}

// visibilityTimeout is the configured one or the queue's own.
func visibilityTimeout(ctx context.Context, api SQSAPI, queueURL string, configured time.Duration) (time.Duration, error) {
	if configured > 0 {
		return configured, nil
	}
	out, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameVisibilityTimeout}})
	if err != nil {
		return 0, fmt.Errorf("reading the queue's visibility timeout: %w", err)
	}
	secs, err := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameVisibilityTimeout)])
	if err != nil || secs <= 0 {
		return 30 * time.Second, nil // SQS's default
	}
	return time.Duration(secs) * time.Second, nil
}

// receive long-polls until the queue is drained or receiving stops. After
// EmptyPolls empty polls with nothing held and no failed message due back,
// a receiver parks; when all have parked, the queue is drained.
//
// A poll in flight when receiving stops is left to finish (pollCtx ends
// only with the grace period): SQS may already have handed it messages,
// and an aborted call would leave them invisible until their visibility
// timeout instead of being released at once.
func (d *drain) receive(ctx, pollCtx context.Context) {
	empties, errorsInRow := 0, 0
	for ctx.Err() == nil {
		if empties >= d.cfg.EmptyPolls {
			if done, polled := d.park(ctx); done {
				return
			} else if polled {
				empties = 0
			}
		}
		out, err := d.api.ReceiveMessage(pollCtx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(d.queueURL),
			MaxNumberOfMessages:         10,
			WaitTimeSeconds:             int32(d.cfg.WaitTime / time.Second),
			VisibilityTimeout:           int32(d.vis / time.Second),
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: d.sysAttrs,
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errorsInRow++; errorsInRow >= maxReceiveErrors {
				d.stop(fmt.Errorf("receiving from %s failed %d times in a row: %w", d.queueURL, errorsInRow, err))
				return
			}
			sleep(ctx, time.Second)
			continue
		}
		errorsInRow = 0
		if len(out.Messages) == 0 {
			empties++
			continue
		}
		empties = 0
		d.dispatch(ctx, d.hold(out.Messages))
	}
}

// park waits while nothing is held, until messages arrive elsewhere (then
// polled is true) or every receiver has parked (then done is true). It does
// not park while messages are held or failed ones are due back.
func (d *drain) park(ctx context.Context) (done, polled bool) {
	d.mu.Lock()
	if len(d.held) > 0 || time.Now().Before(d.dueBack) {
		d.mu.Unlock()
		return false, false
	}
	d.parked++
	if d.parked == d.cfg.Receivers {
		select {
		case <-d.drained:
		default:
			close(d.drained)
		}
		d.mu.Unlock()
		return true, false
	}
	wake := d.wake
	d.mu.Unlock()
	select {
	case <-wake:
		d.mu.Lock()
		d.parked--
		d.mu.Unlock()
		return false, true
	case <-d.drained:
		return true, false
	case <-ctx.Done():
		return true, false
	}
}

// stop ends receiving because of a fatal error.
func (d *drain) stop(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fatal == nil {
		d.fatal = err
	}
	select {
	case <-d.drained:
	default:
		close(d.drained)
	}
}

// hold records received messages and wakes parked receivers.
func (d *drain) hold(msgs []sqstypes.Message) []*held {
	now := time.Now()
	hs := make([]*held, 0, len(msgs))
	d.mu.Lock()
	for _, m := range msgs {
		h := &held{msg: toMessage(m), receipt: aws.ToString(m.ReceiptHandle), deadline: now.Add(d.vis)}
		d.held[h.receipt] = h
		hs = append(hs, h)
	}
	close(d.wake)
	d.wake = make(chan struct{})
	d.mu.Unlock()
	d.received.Add(int64(len(msgs)))
	return hs
}

// dispatch hands messages to the handlers: one at a time on standard
// queues; on FIFO queues the messages of one group go together, in order.
func (d *drain) dispatch(ctx context.Context, hs []*held) {
	units := workUnits(hs, d.fifo)
	for i, u := range units {
		select {
		case d.work <- u:
		case <-ctx.Done():
			for _, rest := range units[i:] {
				d.release(rest)
			}
			return
		}
	}
}

// workUnits splits received messages into what one handler takes at a
// time: each message alone, or on FIFO queues each group's messages in the
// order received, groups in the order they first appear.
func workUnits(hs []*held, fifo bool) [][]*held {
	var units [][]*held
	if !fifo {
		for _, h := range hs {
			units = append(units, []*held{h})
		}
		return units
	}
	byGroup := map[string]int{}
	for _, h := range hs {
		i, ok := byGroup[h.msg.GroupID]
		if !ok {
			i = len(units)
			byGroup[h.msg.GroupID] = i
			units = append(units, nil)
		}
		units[i] = append(units[i], h)
	}
	return units
}

// handle runs messages through the handler. Once ctx ends it starts
// nothing new and releases what it is given; handleCtx bounds the grace
// period of what has started.
func (d *drain) handle(ctx, handleCtx context.Context) {
	for unit := range d.work {
		for i, h := range unit {
			if ctx.Err() != nil {
				d.release(unit[i:])
				break
			}
			hctx, cancel := context.WithTimeout(handleCtx, d.cfg.HandlerTimeout)
			err := d.handler.Handle(hctx, h.msg)
			cancel()
			if err == nil {
				d.deletes <- h
				continue
			}
			if handleCtx.Err() != nil {
				d.release(unit[i:]) // cut short by shutdown: back to the queue now
				break
			}
			d.fail(h, err)
			if d.fifo {
				d.release(unit[i+1:]) // later messages of the group must wait for this one
				break
			}
		}
	}
}

// fail leaves a message to SQS: it is visible again at its deadline.
func (d *drain) fail(h *held, err error) {
	d.failed.Add(1)
	d.mu.Lock()
	d.lastFailure = err.Error()
	delete(d.held, h.receipt)
	if h.deadline.After(d.dueBack) {
		d.dueBack = h.deadline
	}
	d.mu.Unlock()
}

// flushDeletesAfter is how long a batch of fewer than 10 handled messages
// may wait for more before it is deleted.
const flushDeletesAfter = 50 * time.Millisecond

// batchDeletes gathers handled messages into batches of up to 10 for the
// senders, until d.deletes is closed; then it closes batches.
func (d *drain) batchDeletes(batches chan<- []*held) {
	defer close(batches)
	var batch []*held
	flush := time.NewTimer(flushDeletesAfter)
	flush.Stop()
	for {
		select {
		case h, ok := <-d.deletes:
			if !ok {
				if len(batch) > 0 {
					batches <- batch
				}
				return
			}
			if batch = append(batch, h); len(batch) == 1 {
				flush.Reset(flushDeletesAfter)
			}
			if len(batch) == 10 {
				flush.Stop()
				batches <- batch
				batch = nil
			}
		case <-flush.C:
			if len(batch) > 0 {
				batches <- batch
				batch = nil
			}
		}
	}
}

// deleteBatch deletes handled messages. A call that failed is tried again,
// backing off, while the worker still holds the messages (their visibility
// kept extended) and handling goes on (ctx): the failure may be an answer
// lost on the way back, or SQS too busy to answer in time, of a delete it
// did, and a delete tried again succeeds (SQS deletes idempotently). Entries
// SQS refused are tried 3 times. What is still not deleted then goes to
// giveBackHandled.
func (d *drain) deleteBatch(ctx context.Context, batch []*held) {
	pending := batch
	refused := 0
	for backoff := 200 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		entries := make([]sqstypes.DeleteMessageBatchRequestEntry, len(pending))
		for i, h := range pending {
			entries[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(h.receipt)}
		}
		callCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := d.api.DeleteMessageBatch(callCtx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(d.queueURL), Entries: entries})
		cancel()
		if err == nil {
			var retry []*held
			for _, f := range out.Failed {
				if i, err := strconv.Atoi(aws.ToString(f.Id)); err == nil && i < len(pending) {
					retry = append(retry, pending[i])
				}
			}
			d.forget(pending, retry)
			d.processed.Add(int64(len(pending) - len(retry)))
			if pending = retry; len(pending) == 0 {
				return
			}
			if refused++; refused == 3 {
				break
			}
		}
		if refusedOutright(err) || !d.stillHeld(pending, time.Now().Add(backoff)) {
			break
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	d.giveBackHandled(ctx, pending)
}

// refusedOutright reports whether SQS answered a call with a refusal that
// trying again does not change (access denied, no such queue): the delete
// was not done. Anything else (no answer, throttling, a server error) may
// go another way next time.
func refusedOutright(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	kind := awserr.Kind(apiErr.ErrorCode())
	return kind == awserr.AccessDenied || kind == awserr.QueueDoesNotExist
}

// stillHeld reports whether SQS keeps every one of the messages invisible
// for the worker until at least then.
func (d *drain) stillHeld(hs []*held, then time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, h := range hs {
		if h.deadline.Before(then) {
			return false
		}
	}
	return true
}

// giveBackHandled gives back handled messages whose delete could not be
// done or confirmed. Those SQS says are not the worker's any more (a
// receipt it does not know, a message not in flight) were most likely
// deleted by a call whose answer was lost, or else delivered again after
// their visibility lapsed: either way the handler processed them, and they
// count so. The others count as released: SQS delivers them again. A call
// that got no answer is tried twice more while handling goes on (ctx), as
// its answer decides the count.
func (d *drain) giveBackHandled(ctx context.Context, hs []*held) {
	if len(hs) == 0 {
		return
	}
	gone := 0
	ask := hs
	for attempt := 0; len(ask) > 0 && attempt < 3; attempt++ {
		if attempt > 0 {
			if ctx.Err() != nil {
				break // shutting down: no time to wait for an answer
			}
			time.Sleep(time.Duration(attempt) * 500 * time.Millisecond)
		}
		notHeld, unanswered := d.changeVisibility(ask, 0)
		gone += len(notHeld)
		ask = unanswered
	}
	d.processed.Add(int64(gone))
	d.released.Add(int64(len(hs) - gone))
	d.forget(hs, nil)
}

// forget drops messages from held: all of done but those in keep.
func (d *drain) forget(done, keep []*held) {
	kept := map[*held]bool{}
	for _, h := range keep {
		kept[h] = true
	}
	d.mu.Lock()
	for _, h := range done {
		if !kept[h] {
			delete(d.held, h.receipt)
		}
	}
	d.mu.Unlock()
}

// release gives messages back to the queue at once (visibility 0).
func (d *drain) release(hs []*held) {
	if len(hs) == 0 {
		return
	}
	d.changeVisibility(hs, 0)
	d.released.Add(int64(len(hs)))
	d.forget(hs, nil)
}

func (d *drain) releaseAll() {
	d.mu.Lock()
	hs := make([]*held, 0, len(d.held))
	for _, h := range d.held {
		hs = append(hs, h)
	}
	d.mu.Unlock()
	d.release(hs)
}

// extendLoop keeps held messages invisible: a message past half its
// visibility timeout gets a new one, so a slow handler is not raced by a
// second delivery.
func (d *drain) extendLoop(ctx context.Context) {
	every := min(time.Second, d.vis/4)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		var due []*held
		d.mu.Lock()
		for _, h := range d.held {
			if h.deadline.Sub(now) < d.vis/2 {
				due = append(due, h)
			}
		}
		d.mu.Unlock()
		if len(due) > 0 {
			d.changeVisibility(due, d.vis)
		}
	}
}

// changeVisibility sets the visibility timeout of messages, 10 per call;
// a failed change is left alone (the message may already be gone). It
// returns the messages SQS says the worker no longer holds, and those of
// calls that got no answer.
func (d *drain) changeVisibility(hs []*held, to time.Duration) (notHeld, unanswered []*held) {
	for from := 0; from < len(hs); from += 10 {
		part := hs[from:min(from+10, len(hs))]
		entries := make([]sqstypes.ChangeMessageVisibilityBatchRequestEntry, len(part))
		for i, h := range part {
			entries[i] = sqstypes.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)),
				ReceiptHandle: aws.String(h.receipt), VisibilityTimeout: int32(to / time.Second)}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := d.api.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(d.queueURL), Entries: entries})
		cancel()
		if err != nil {
			unanswered = append(unanswered, part...)
			continue
		}
		failed := map[string]bool{}
		for _, f := range out.Failed {
			failed[aws.ToString(f.Id)] = true
			if i, err := strconv.Atoi(aws.ToString(f.Id)); err == nil && i < len(part) && notInFlight(aws.ToString(f.Code)) {
				notHeld = append(notHeld, part[i])
			}
		}
		deadline := time.Now().Add(to)
		d.mu.Lock()
		for i, h := range part {
			if !failed[strconv.Itoa(i)] {
				h.deadline = deadline
			}
		}
		d.mu.Unlock()
	}
	return notHeld, unanswered
}

// notInFlight reports whether a refused entry's code says the receipt no
// longer holds the message: deleted, or delivered again.
func notInFlight(code string) bool {
	return code == "ReceiptHandleIsInvalid" || strings.HasSuffix(code, "MessageNotInflight")
}

func (d *drain) progressLoop(ctx context.Context, start time.Time) {
	if d.cfg.Progress == nil {
		return
	}
	t := time.NewTicker(d.cfg.ProgressEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.cfg.Progress(d.summary(start))
		}
	}
}

// requestedSystemAttributes are the system attributes the worker asks for
// and those h asks for besides.
func requestedSystemAttributes(h Handler) []sqstypes.MessageSystemAttributeName {
	names := slices.Clone(systemAttributes)
	if r, ok := h.(SystemAttributeRequester); ok {
		for _, n := range r.RequestedSystemAttributes() {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names
}

func toMessage(m sqstypes.Message) Message {
	msg := Message{ID: aws.ToString(m.MessageId), Body: aws.ToString(m.Body), Attributes: map[string]string{},
		MessageAttributes: m.MessageAttributes, SystemAttributes: m.Attributes}
	for k, v := range m.Attributes {
		msg.Attributes[k] = v
	}
	for k, v := range m.MessageAttributes {
		switch {
		case v.StringValue != nil:
			msg.Attributes[k] = *v.StringValue
		case v.BinaryValue != nil:
			if msg.BinaryAttributes == nil {
				msg.BinaryAttributes = map[string][]byte{}
			}
			msg.BinaryAttributes[k] = v.BinaryValue
		}
	}
	msg.GroupID = m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageGroupId)]
	msg.ReceiveCount, _ = strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
	return msg
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
