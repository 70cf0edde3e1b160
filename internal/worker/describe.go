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
	"errors"
	"net"

	"github.com/aws/smithy-go"

	"github.com/queuedrainer/queue-drainer/internal/awserr"
)

// causeByKind names, for a person, what a kind of SQS error means.
var causeByKind = map[string]string{
	awserr.QueueDoesNotExist: "queue does not exist",
	awserr.AccessDenied:      "access denied",
	awserr.Throttling:        "throttled",
}

// Describe says why a call to SQS failed in a line a person reads: what
// failed, then the root cause verbatim. The SDK's own text buries the
// cause under the operation, its retries and the request.
func Describe(err error) string {
	if err == nil {
		return ""
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		what, ok := causeByKind[awserr.Kind(apiErr.ErrorCode())]
		if !ok {
			what = "SQS error"
		}
		cause := apiErr.ErrorCode()
		if msg := apiErr.ErrorMessage(); msg != "" {
			cause += ": " + msg
		}
		return what + ": " + cause
	}
	if errors.Is(err, context.Canceled) {
		// A SIGTERM, not SQS: the SDK reports it as a failed request.
		return "interrupted: " + context.Canceled.Error()
	}
	if cause := networkCause(err); cause != "" {
		return "could not reach SQS: " + cause
	}
	return err.Error()
}

// networkCause is the text of the innermost network error in err ("dial
// tcp 127.0.0.1:9999: connect: connection refused"), or "".
func networkCause(err error) string {
	var innermost *net.OpError
	for e := err; ; {
		var op *net.OpError
		if !errors.As(e, &op) {
			break
		}
		innermost, e = op, op.Err
	}
	if innermost != nil {
		return innermost.Error()
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.Error()
	}
	var netErr net.Error // *url.Error among others: a timeout, a TLS failure
	if errors.As(err, &netErr) {
		return netErr.Error()
	}
	return ""
}
