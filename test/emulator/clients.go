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

package emulator

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/queuedrainer/queue-drainer/internal/awshttp"
)

// AWSConfig is an SDK configuration for the emulators: static credentials
// and the region they use. Endpoints come from the standard
// AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL_CLOUDWATCH variables.
func AWSConfig(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	cfg.HTTPClient = awshttp.SafeBodies(cfg.HTTPClient)
	return cfg, err
}

// CanonicalURL is the SQS URL a QueueDrainer names for an emulator queue.
func CanonicalURL(name string) string {
	return fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s", Region, Account, name)
}

// CreateQueue creates a queue in the emulator and returns its emulator URL.
func CreateQueue(ctx context.Context, api *sqs.Client, name string, attrs map[string]string) (string, error) {
	out, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", fmt.Errorf("creating queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// SendMessages sends n small messages in batches of 10, each delayed by delaySeconds.
func SendMessages(ctx context.Context, api *sqs.Client, queueURL string, n int, delaySeconds int32) error {
	for sent := 0; sent < n; {
		var entries []sqstypes.SendMessageBatchRequestEntry
		for i := 0; i < 10 && sent < n; i++ {
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{
				Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(fmt.Sprintf("message %d", sent)), DelaySeconds: delaySeconds,
			})
			sent++
		}
		out, err := api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
		if err != nil {
			return err
		}
		if len(out.Failed) > 0 {
			return fmt.Errorf("%d messages refused: %s", len(out.Failed), strings.TrimSpace(aws.ToString(out.Failed[0].Message)))
		}
	}
	return nil
}
