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
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
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

// Config tunes a drain. Zero values take the defaults in brackets.
type Config struct {
	// Receivers long-poll ReceiveMessage in parallel, 10 messages a call [4].
	Receivers int
	// Handlers is how many messages are handled at once [16].
	Handlers int
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
	// finish before they are released [20s].
	GracePeriod time.Duration
	// Progress, when set, is called every ProgressEvery with the counts so far.
	Progress      func(drainsummary.Summary)
	ProgressEvery time.Duration
}
