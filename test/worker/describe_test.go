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
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/queuedrainer/queue-drainer/internal/worker"
	"github.com/queuedrainer/queue-drainer/test/emulator"
)

// apiError wraps a service error as the SDK does.
func apiError(code, msg string) error {
	return fmt.Errorf("operation error SQS: GetQueueUrl, https response error StatusCode: 400, RequestID: r-1, %w",
		&smithy.GenericAPIError{Code: code, Message: msg})
}

func TestDescribeNamesWhatFailedAndKeepsTheCause(t *testing.T) {
	// A real failed call: an SQS client pointed at a loopback port nothing listens on.
	port, err := emulator.FreePort()
	must(t, err)
	api := sqs.New(sqs.Options{Region: emulator.Region, BaseEndpoint: aws.String(fmt.Sprintf("http://127.0.0.1:%d", port)),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	_, refused := api.GetQueueUrl(context.Background(), &sqs.GetQueueUrlInput{QueueName: aws.String("orders")})
	if refused == nil {
		t.Fatalf("GetQueueUrl at port %d succeeded", port)
	}
	t.Logf("the SDK says: %v", refused)
	wantRefused := fmt.Sprintf("could not reach SQS: dial tcp 127.0.0.1:%d: connect: connection refused", port)

	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"connection refused", refused, wantRefused},
		{"connection refused, wrapped", fmt.Errorf("receiving from q failed 10 times in a row: %w", refused), wantRefused},
		{"unknown host", fmt.Errorf("request send failed: %w", &net.OpError{Op: "dial", Net: "tcp",
			Err: &net.DNSError{Err: "no such host", Name: "sqs.nowhere.invalid", IsNotFound: true}}),
			"could not reach SQS: dial tcp: lookup sqs.nowhere.invalid: no such host"},
		{"no such queue", apiError("AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist."),
			"queue does not exist: AWS.SimpleQueueService.NonExistentQueue: The specified queue does not exist."},
		{"no such queue, the SDK's own type", fmt.Errorf("reading the queue's visibility timeout: %w", &sqstypes.QueueDoesNotExist{Message: aws.String("gone")}),
			"queue does not exist: QueueDoesNotExist: gone"},
		{"access denied", apiError("AccessDenied", "not authorized to perform sqs:ReceiveMessage"),
			"access denied: AccessDenied: not authorized to perform sqs:ReceiveMessage"},
		{"bad credentials", apiError("InvalidClientTokenId", "The security token included in the request is invalid."),
			"access denied: InvalidClientTokenId: The security token included in the request is invalid."},
		{"KMS key denied", apiError("KMS.AccessDeniedException", "no kms:Decrypt"), "access denied: KMS.AccessDeniedException: no kms:Decrypt"},
		{"throttled", apiError("ThrottlingException", "Rate exceeded"), "throttled: ThrottlingException: Rate exceeded"},
		{"another code", apiError("InvalidParameterValue", "bad"), "SQS error: InvalidParameterValue: bad"},
		{"a code without a message", apiError("RequestThrottled", ""), "throttled: RequestThrottled"},
		{"SIGTERM", fmt.Errorf("operation error SQS: GetQueueUrl, %w", context.Canceled), "interrupted: context canceled"},
		{"anything else", errors.New("loading AWS configuration: failed to get shared config profile, nope"),
			"loading AWS configuration: failed to get shared config profile, nope"},
	} {
		if got := worker.Describe(tc.err); got != tc.want {
			t.Errorf("%s: Describe gave\n\t%q, want\n\t%q", tc.name, got, tc.want)
		}
	}
}
