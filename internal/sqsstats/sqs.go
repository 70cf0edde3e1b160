// Package sqsstats observes SQS queues: their depth from SQS
// GetQueueAttributes and the age of their oldest message from CloudWatch.
// It talks to AWS through narrow interfaces so tests can inject failures,
// and the same code runs against the SQS emulator in integration tests.
package sqsstats

import (
	"context"
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

// countAttributes are the attributes GetQueueAttributes is asked for.
var countAttributes = []sqstypes.QueueAttributeName{
	sqstypes.QueueAttributeNameApproximateNumberOfMessages,
	sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
	sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed,
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

// queueCounts asks SQS for a queue's counts. The queue is addressed by the
// URL SQS itself gives for its name and account (GetQueueUrl), which is
// the configured URL on AWS and the emulator's own URL behind
// AWS_ENDPOINT_URL_SQS. The resolved URL is returned for caching.
func queueCounts(ctx context.Context, api SQSAPI, q queueurl.Queue, resolved string) (Counts, string, error) {
	if resolved == "" {
		out, err := api.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(q.Name), QueueOwnerAWSAccountId: aws.String(q.Account)})
		if err != nil {
			return Counts{}, "", err
		}
		resolved = aws.ToString(out.QueueUrl)
	}
	c, err := CountsAt(ctx, api, resolved)
	if err != nil {
		return Counts{}, "", err
	}
	return c, resolved, nil
}

// CountsAt asks SQS for the counts of the queue at url, a URL SQS gave for
// it (GetQueueUrl, CreateQueue). An answer without them is an error.
func CountsAt(ctx context.Context, api SQSAPI, url string) (Counts, error) {
	out, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: countAttributes})
	if err != nil {
		return Counts{}, err
	}
	c, err := ParseCounts(out.Attributes)
	if err != nil {
		return Counts{}, badResponse{err}
	}
	return c, nil
}

// badResponse is an answer from SQS that could not be understood.
type badResponse struct{ error }

func (b badResponse) Unwrap() error { return b.error }
