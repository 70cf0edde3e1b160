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

package awserr_test

import (
	"testing"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/awserr"
)

// The worker's error kinds and the operator's condition reasons are one
// vocabulary: a kind is the reason of the same name.
func TestKindsAreTheConditionReasons(t *testing.T) {
	for kind, reason := range map[string]string{
		awserr.QueueDoesNotExist: v1alpha1.ReasonQueueDoesNotExist,
		awserr.AccessDenied:      v1alpha1.ReasonAccessDenied,
		awserr.Throttling:        v1alpha1.ReasonThrottling,
	} {
		if kind != reason {
			t.Errorf("kind %q, condition reason %q: they must be equal", kind, reason)
		}
	}
	if got := awserr.Kind("AWS.SimpleQueueService.NonExistentQueue"); got != v1alpha1.ReasonQueueDoesNotExist {
		t.Errorf("Kind(NonExistentQueue) = %q, want %q", got, v1alpha1.ReasonQueueDoesNotExist)
	}
}
