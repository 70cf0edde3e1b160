package sqsstats

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/aws/smithy-go"

	"github.com/queuedrainer/queue-drainer/internal/plan"
)

// Condition reasons for a queue that cannot be observed.
const (
	ReasonQueueDoesNotExist = "QueueDoesNotExist"
	ReasonAccessDenied      = "AccessDenied"
	ReasonThrottling        = "Throttling"
	ReasonNetworkError      = "NetworkError"
	ReasonAWSError          = "AWSError"
	ReasonRoleNotAllowed    = "RoleNotAllowed"
	ReasonInvalidQueueURL   = "InvalidQueueURL"
	ReasonBadResponse       = "BadResponse"
)

var reasonByCode = map[string]string{
	"AWS.SimpleQueueService.NonExistentQueue": ReasonQueueDoesNotExist,
	"QueueDoesNotExist":                       ReasonQueueDoesNotExist,
	"AccessDenied":                            ReasonAccessDenied,
	"AccessDeniedException":                   ReasonAccessDenied,
	"InvalidClientTokenId":                    ReasonAccessDenied,
	"UnrecognizedClientException":             ReasonAccessDenied,
	"SignatureDoesNotMatch":                   ReasonAccessDenied,
	"ExpiredToken":                            ReasonAccessDenied,
	"InvalidSecurity":                         ReasonAccessDenied,
	"KMS.AccessDeniedException":               ReasonAccessDenied,
	"Throttling":                              ReasonThrottling,
	"ThrottlingException":                     ReasonThrottling,
	"RequestThrottled":                        ReasonThrottling,
	"TooManyRequestsException":                ReasonThrottling,
}

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
		reason, ok := reasonByCode[apiErr.ErrorCode()]
		if !ok {
			reason = ReasonAWSError
		}
		return &plan.Problem{Reason: reason, Message: fmt.Sprintf("%s: %s", apiErr.ErrorCode(), apiErr.ErrorMessage())}
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) {
		return &plan.Problem{Reason: ReasonNetworkError, Message: err.Error()}
	}
	return &plan.Problem{Reason: ReasonAWSError, Message: err.Error()}
}
