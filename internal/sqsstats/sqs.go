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

// Package sqsstats observes SQS queues: their depth from SQS
// GetQueueAttributes and the age of their oldest message from CloudWatch.
// It talks to AWS through narrow interfaces so tests can inject failures,
// and the same code runs against the SQS emulator in integration tests.
package sqsstats

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/queuedrainer/queue-drainer/internal/queueurl"
)

// SQSAPI is the part of the SQS client the observer uses.
type SQSAPI interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// Counts are a queue's approximate message counts.
type Counts struct {
	Visible  int64
	InFlight int64
	Delayed  int64
}

// observedAttributes are the attributes GetQueueAttributes is asked for:
// the counts, and the RedrivePolicy that names the dead-letter queue.
var observedAttributes = []sqstypes.QueueAttributeName{
	sqstypes.QueueAttributeNameApproximateNumberOfMessages,
	sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
	sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed,
	sqstypes.QueueAttributeNameRedrivePolicy,
}

// ParseCounts reads the counts from GetQueueAttributes output. A missing
// visible count is an error; the other two default to zero.
func ParseCounts(attrs map[string]string) (Counts, error) {
	var c Counts
	for _, f := range []struct {
		name     sqstypes.QueueAttributeName
		into     *int64
		required bool
	}{
		{sqstypes.QueueAttributeNameApproximateNumberOfMessages, &c.Visible, true},
		{sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible, &c.InFlight, false},
		{sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed, &c.Delayed, false},
	} {
		raw, ok := attrs[string(f.name)]
		if !ok {
			if f.required {
				return Counts{}, fmt.Errorf("GetQueueAttributes returned no %s", f.name)
			}
			continue
		}
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 {
			return Counts{}, fmt.Errorf("GetQueueAttributes returned %s=%q, not a count", f.name, raw)
		}
		*f.into = n
	}
	return c, nil
}

// ParseDeadLetterQueue reads the dead-letter queue that GetQueueAttributes
// output names in its RedrivePolicy; ok is false when there is none.
func ParseDeadLetterQueue(attrs map[string]string) (q queueurl.Queue, ok bool, err error) {
	raw := attrs[string(sqstypes.QueueAttributeNameRedrivePolicy)]
	if raw == "" {
		return queueurl.Queue{}, false, nil
	}
	var policy struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
	}
	if err := json.Unmarshal([]byte(raw), &policy); err != nil {
		return queueurl.Queue{}, false, fmt.Errorf("GetQueueAttributes returned RedrivePolicy %q: %w", raw, err)
	}
	if policy.DeadLetterTargetArn == "" {
		return queueurl.Queue{}, false, nil
	}
	q, err = queueurl.FromARN(policy.DeadLetterTargetArn)
	if err != nil {
		return queueurl.Queue{}, false, fmt.Errorf("GetQueueAttributes returned RedrivePolicy with %w", err)
	}
	return q, true, nil
}

// QueueState is what one GetQueueAttributes call says of a queue.
type QueueState struct {
	Counts
	// DeadLetter is the queue its RedrivePolicy sends messages to, if any.
	DeadLetter *queueurl.Queue
}

// resolve returns the URL SQS itself gives for a queue's name and account
// (GetQueueUrl): the configured URL on AWS, the emulator's own URL behind
// AWS_ENDPOINT_URL_SQS. A known URL is returned as it is.
func resolve(ctx context.Context, api SQSAPI, q queueurl.Queue, known string, opts ...func(*sqs.Options)) (string, error) {
	if known != "" {
		return known, nil
	}
	out, err := api.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(q.Name), QueueOwnerAWSAccountId: aws.String(q.Account)}, opts...)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.QueueUrl), nil
}

// CountsAt asks SQS for the counts of the queue at url, a URL SQS gave for
// it (GetQueueUrl, CreateQueue). An answer without them is an error.
func CountsAt(ctx context.Context, api SQSAPI, url string) (Counts, error) {
	s, err := StateAt(ctx, api, url)
	return s.Counts, err
}

// StateAt asks SQS for the counts and the dead-letter queue of the queue at
// url, in one call.
func StateAt(ctx context.Context, api SQSAPI, url string, opts ...func(*sqs.Options)) (QueueState, error) {
	out, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: observedAttributes}, opts...)
	if err != nil {
		return QueueState{}, err
	}
	c, err := ParseCounts(out.Attributes)
	if err != nil {
		return QueueState{}, badResponse{err}
	}
	s := QueueState{Counts: c}
	dlq, ok, err := ParseDeadLetterQueue(out.Attributes)
	if err != nil {
		return QueueState{}, badResponse{err}
	}
	if ok {
		s.DeadLetter = &dlq
	}
	return s, nil
}

// badResponse is an answer from SQS that could not be understood.
type badResponse struct{ error }

func (b badResponse) Unwrap() error { return b.error }
