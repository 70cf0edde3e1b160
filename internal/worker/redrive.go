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
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SendAPI is the part of the SQS client RedriveHandler uses.
type SendAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// RedriveHandler moves messages to another queue, TargetURL (the source
// queue of the dead-letter queue being drained): it sends each message
// there, and succeeds, so that the worker deletes it from the queue
// drained, only once SQS has taken the copy. A failed send leaves the
// message where it was.
//
// The copy has the body byte for byte and the message attributes with
// their data types; system attributes (ApproximateReceiveCount...) are not
// copied, except AWSTraceHeader, which stays a system attribute. On a FIFO
// target the copy keeps its message group, and its deduplication ID is the
// message's ID, so that a send retried after a lost answer (the message
// comes back to the dead-letter queue with the same ID) is deduplicated.
// The original's own deduplication ID is not reused: SQS accepts, then
// silently drops, a message whose deduplication ID it saw in the last five
// minutes, and a message that failed fast enough to be redriven within five
// minutes of its first send would be lost.
type RedriveHandler struct {
	API       SendAPI
	TargetURL string
}

// RequestedSystemAttributes implements SystemAttributeRequester: the trace
// header travels with the message.
func (h RedriveHandler) RequestedSystemAttributes() []sqstypes.MessageSystemAttributeName {
	return []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAWSTraceHeader}
}

// Handle implements Handler.
func (h RedriveHandler) Handle(ctx context.Context, m Message) error {
	in, err := h.sendInput(m)
	if err != nil {
		return err
	}
	if _, err := h.API.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("sending to %s: %w", h.TargetURL, err)
	}
	return nil
}

// sendInput is the SendMessage call that copies m to the target.
func (h RedriveHandler) sendInput(m Message) (*sqs.SendMessageInput, error) {
	in := &sqs.SendMessageInput{QueueUrl: aws.String(h.TargetURL), MessageBody: aws.String(m.Body)}
	if len(m.MessageAttributes) > 0 {
		in.MessageAttributes = make(map[string]sqstypes.MessageAttributeValue, len(m.MessageAttributes))
		for k, v := range m.MessageAttributes {
			// The list values are reserved by SQS: only these three travel.
			in.MessageAttributes[k] = sqstypes.MessageAttributeValue{DataType: v.DataType, StringValue: v.StringValue, BinaryValue: v.BinaryValue}
		}
	}
	if trace := m.SystemAttributes[string(sqstypes.MessageSystemAttributeNameAWSTraceHeader)]; trace != "" {
		in.MessageSystemAttributes = map[string]sqstypes.MessageSystemAttributeValue{
			string(sqstypes.MessageSystemAttributeNameAWSTraceHeader): {DataType: aws.String("String"), StringValue: aws.String(trace)},
		}
	}
	if strings.HasSuffix(h.TargetURL, ".fifo") {
		if m.GroupID == "" {
			return nil, fmt.Errorf("message %s has no message group, which the FIFO queue %s needs", m.ID, h.TargetURL)
		}
		in.MessageGroupId = aws.String(m.GroupID)
		in.MessageDeduplicationId = aws.String(m.ID)
	}
	return in, nil
}
