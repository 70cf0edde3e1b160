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

package controllers

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
)

// QueueObserver keeps the latest observation of each drainer's queue,
// polled outside the reconcile; the reconciler's Notify hears of new ones.
// Implementations are safe for concurrent use and do no I/O in these
// calls; failures are returned inside the Observation (Err, MetricsErr)
// with a condition reason, never as a Go error.
type QueueObserver interface {
	// Observe registers the drainer's queue, to be polled every interval,
	// and returns its latest observation: counts, the age of its oldest
	// message and its dead-letter queue. ok is false until the queue has
	// been polled; Notify follows when it has.
	Observe(ctx context.Context, drainer types.NamespacedName, queue v1alpha1.QueueSpec, interval time.Duration) (obs plan.Observation, ok bool)
	// Forget stops watching the queue of a deleted drainer.
	Forget(drainer types.NamespacedName)
}
