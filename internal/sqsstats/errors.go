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

package sqsstats

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/aws/smithy-go"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/awserr"
	"github.com/queuedrainer/queue-drainer/internal/plan"
)

// Classify turns an AWS SDK error into a condition reason and a message
// that carries the AWS error code.
func Classify(err error) *plan.Problem {
	if err == nil {
		return nil
	}
	var bad badResponse
	if errors.As(err, &bad) {
		return &plan.Problem{Reason: v1alpha1.ReasonBadResponse, Message: bad.Error()}
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		reason := awserr.Kind(apiErr.ErrorCode())
		if reason == "" {
			reason = v1alpha1.ReasonAWSError
		}
		return &plan.Problem{Reason: reason, Message: fmt.Sprintf("%s: %s", apiErr.ErrorCode(), apiErr.ErrorMessage()),
			Permanent: reason == v1alpha1.ReasonQueueDoesNotExist || reason == v1alpha1.ReasonAccessDenied}
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) {
		return &plan.Problem{Reason: v1alpha1.ReasonNetworkError, Message: err.Error()}
	}
	return &plan.Problem{Reason: v1alpha1.ReasonAWSError, Message: err.Error()}
}
