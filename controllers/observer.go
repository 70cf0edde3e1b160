package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/types"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
)

// QueueObserver reports the state of a drainer's queue. Implementations are
// safe for concurrent use; failures are returned inside the Observation
// (Err, MetricsErr) with a condition reason, never as a Go error.
type QueueObserver interface {
	// Observe returns the queue's counts and the age of its oldest message,
	// and keeps watching the queue's metrics for the drainer.
	Observe(ctx context.Context, drainer types.NamespacedName, queue v1alpha1.QueueSpec) plan.Observation
	// Forget stops watching the queue of a deleted drainer.
	Forget(drainer types.NamespacedName)
}
