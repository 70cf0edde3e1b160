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

// Package worker is the drain engine of cmd/drain-worker: it empties an SQS
// queue through a handler and returns once the queue is empty. It never
// deletes a message its handler did not accept, and on shutdown it finishes
// or releases (visibility 0) every message it holds. The handlers are
// HTTPHandler, ExecHandler and RedriveHandler, which moves a dead-letter
// queue's messages back to their source queue (drain-worker --redrive-to).
package worker

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/queuedrainer/queue-drainer/internal/drainsummary"
)

// SQSAPI is the part of the SQS client the worker uses.
type SQSAPI interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput,
		opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

// Message is what a handler gets.
type Message struct {
	ID   string
	Body string
	// GroupID is the FIFO message group, "" on standard queues.
	GroupID string
	// Attributes holds the message attributes (string and number values)
	// and the system attributes, such as ApproximateReceiveCount.
	Attributes map[string]string
	// BinaryAttributes holds the message attributes of binary type.
	BinaryAttributes map[string][]byte
	ReceiveCount     int
	// MessageAttributes are the message attributes as received, with their
	// data types ("Number.float", "Binary.gzip"...); Attributes and
	// BinaryAttributes are the same values without them.
	MessageAttributes map[string]sqstypes.MessageAttributeValue
	// SystemAttributes are the system attributes received, apart from the
	// message attributes: ApproximateReceiveCount, MessageGroupId, and those
	// a SystemAttributeRequester asks for.
	SystemAttributes map[string]string
}

// Handler processes one message. A nil error means the message is done and
// may be deleted; any error leaves it to SQS to deliver again (and, past the
// queue's maxReceiveCount, to its dead-letter queue).
type Handler interface {
	Handle(ctx context.Context, m Message) error
}

// SystemAttributeRequester is a Handler that needs system attributes besides
// ApproximateReceiveCount and MessageGroupId, which are always asked for:
// Run asks for these too, and they arrive in Message.SystemAttributes.
type SystemAttributeRequester interface {
	Handler
	RequestedSystemAttributes() []sqstypes.MessageSystemAttributeName
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, m Message) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, m Message) error { return f(ctx, m) }

// The defaults of Config, which cmd/drain-worker's flags default to too.
//
// A drain is bound by round trips: each receiver gets at most 10 messages
// per ReceiveMessage and each delete sender deletes at most 10 per
// DeleteMessageBatch, so a pod drains at most 10 x calls in flight / the
// latency of a call. SQS answers in milliseconds (about 10 ms inside a
// region; an emulator on loopback, in microseconds), so the defaults keep
// 64 receives and 64 deletes in flight: at most 64,000 messages a second
// at 10 ms a call, 12,800 at 50 ms.
// make bench-worker (test/cmd/benchworker) measured them on a 2-core machine
// against fauxqs at 10 ms per call: 48 of each reached 83% of what the
// emulator serves there, 64 91-95%, 96 97%. The handlers [16] are the load
// the worker puts on what it calls; 16 are more than a no-op handler needs
// at those rates.
//
// Each receiver holds the up to 10 messages it received until a handler is
// free to take them: with slow handlers, that is Receivers x 10 messages
// held (their visibility kept up) beyond the ones handled; lower
// --receivers to hold fewer.
const (
	DefaultReceivers      = 64
	DefaultHandlers       = 16
	DefaultDeleters       = 64
	DefaultHandlerTimeout = time.Minute
	DefaultWaitTime       = 20 * time.Second
	DefaultEmptyPolls     = 1
	DefaultGracePeriod    = 20 * time.Second
)

// Config tunes a drain. Zero values take the defaults (Default*), in brackets.
type Config struct {
	// Receivers long-poll ReceiveMessage in parallel, 10 messages a call [DefaultReceivers].
	Receivers int
	// Handlers is how many messages are handled at once [DefaultHandlers].
	Handlers int
	// Deleters is how many DeleteMessageBatch calls, 10 messages each, may
	// be in flight at once [DefaultDeleters].
	Deleters int
	// HandlerTimeout bounds one message's handling [1m].
	HandlerTimeout time.Duration
	// WaitTime is the long-poll wait of ReceiveMessage, at most 20 s [20s].
	WaitTime time.Duration
	// VisibilityTimeout is asked for on receive [the queue's own].
	VisibilityTimeout time.Duration
	// EmptyPolls is how many empty long polls in a row, per receiver, with
	// nothing in flight, mean the queue is empty [1].
	EmptyPolls int
	// GracePeriod is how long, after ctx ends, in-flight messages may still
	// finish, and their failed deletes be tried again, before they are
	// released [20s].
	GracePeriod time.Duration
	// Progress, when set, is called every ProgressEvery with the counts so far.
	Progress      func(drainsummary.Summary)
	ProgressEvery time.Duration
}
