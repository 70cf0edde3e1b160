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

// Package awserr reads AWS error codes: one table, shared by the operator
// (which turns them into condition reasons) and drain-worker (which writes
// them into its summary), so that both tell the same failure by one name.
package awserr

// Kinds of AWS error codes that a person acts on differently. Each is the
// condition reason of the same name in api/v1alpha1 (a test holds them
// equal); they are not taken from there so that drain-worker, which writes
// them, does not link the Kubernetes API types.
const (
	QueueDoesNotExist = "QueueDoesNotExist"
	AccessDenied      = "AccessDenied"
	Throttling        = "Throttling"
)

var kindByCode = map[string]string{
	"AWS.SimpleQueueService.NonExistentQueue": QueueDoesNotExist,
	"QueueDoesNotExist":                       QueueDoesNotExist,
	"AccessDenied":                            AccessDenied,
	"AccessDeniedException":                   AccessDenied,
	"InvalidClientTokenId":                    AccessDenied,
	"UnrecognizedClientException":             AccessDenied,
	"SignatureDoesNotMatch":                   AccessDenied,
	"ExpiredToken":                            AccessDenied,
	"InvalidSecurity":                         AccessDenied,
	"KMS.AccessDeniedException":               AccessDenied,
	"Throttling":                              Throttling,
	"ThrottlingException":                     Throttling,
	"RequestThrottled":                        Throttling,
	"TooManyRequestsException":                Throttling,
}

// Kind is the kind of an AWS error code, or "" for codes of no known kind.
func Kind(code string) string {
	return kindByCode[code]
}
