package sqsstats

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/aws/smithy-go"

	"github.com/queuedrainer/queue-drainer/internal/awserr"
	"github.com/queuedrainer/queue-drainer/internal/plan"
)

// Condition reasons for a queue that cannot be observed.
const (
	ReasonQueueDoesNotExist = awserr.QueueDoesNotExist
	ReasonAccessDenied      = awserr.AccessDenied
	ReasonThrottling        = awserr.Throttling
	ReasonNetworkError      = "NetworkError"
	ReasonAWSError          = "AWSError"
	ReasonRoleNotAllowed    = "RoleNotAllowed"
	ReasonInvalidQueueURL   = "InvalidQueueURL"
	ReasonBadResponse       = "BadResponse"
)

// Classify turns an AWS SDK error into a condition reason and a message
// that carries the AWS error code.
func Classify(err error) *plan.Problem {
	if err == nil {
		return nil
	}
	var bad badResponse
	if errors.As(err, &bad) {
		return &plan.Problem{Reason: ReasonBadResponse, Message: bad.Error()}
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		reason := awserr.Kind(apiErr.ErrorCode())
		if reason == "" {
			reason = ReasonAWSError
		}
		return &plan.Problem{Reason: reason, Message: fmt.Sprintf("%s: %s", apiErr.ErrorCode(), apiErr.ErrorMessage()),
			Permanent: reason == ReasonQueueDoesNotExist || reason == ReasonAccessDenied}
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) {
		return &plan.Problem{Reason: ReasonNetworkError, Message: err.Error()}
	}
	return &plan.Problem{Reason: ReasonAWSError, Message: err.Error()}
}
