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

package v1alpha1_test

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	drainv1alpha1 "github.com/queuedrainer/queue-drainer/api/v1alpha1"
)

// setActiveRun writes status.activeRun through the status subresource, as
// the operator does when it starts a run; nil clears it, as when a run ends.
func setActiveRun(t *testing.T, qd *drainv1alpha1.QueueDrainer, run *drainv1alpha1.ActiveRun) {
	t.Helper()
	qd.Status.ActiveRun = run
	if err := k8s.Status().Update(context.Background(), qd); err != nil {
		t.Fatalf("writing status.activeRun: %v", err)
	}
}

func reread(t *testing.T, qd *drainv1alpha1.QueueDrainer) *drainv1alpha1.QueueDrainer {
	t.Helper()
	got := &drainv1alpha1.QueueDrainer{}
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(qd), got); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestQueueCannotChangeWhileARunIsActive(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	qd := validQueueDrainer(ns, "orders")
	if err := k8s.Create(ctx, qd); err != nil {
		t.Fatal(err)
	}
	setActiveRun(t, qd, &drainv1alpha1.ActiveRun{Name: "orders-7", Trigger: drainv1alpha1.TriggerQueueDepth,
		StartedAt: metav1.NewTime(time.Now().Truncate(time.Second)), Workers: 3, MessagesAtStart: 4000})

	const refusal = "spec.queue cannot change while run orders-7 is active: wait for it to finish, or delete its Job"
	for _, tc := range []struct {
		name   string
		change func(q *drainv1alpha1.QueueSpec)
	}{
		{"url", func(q *drainv1alpha1.QueueSpec) {
			q.URL = "https://sqs.us-east-1.amazonaws.com/123456789012/invoices"
		}},
		{"region", func(q *drainv1alpha1.QueueSpec) {
			q.URL, q.Region = "https://sqs.us-east-1.amazonaws.com/123456789012/orders", ""
		}},
		{"roleARN", func(q *drainv1alpha1.QueueSpec) { q.RoleARN = "arn:aws:iam::123456789012:role/other" }},
	} {
		t.Run("changing the "+tc.name+" is refused", func(t *testing.T) {
			changed := reread(t, qd)
			tc.change(&changed.Spec.Queue)
			err := k8s.Update(ctx, changed)
			if err == nil {
				t.Fatalf("the API server accepted a change of spec.queue to %+v during run orders-7", changed.Spec.Queue)
			}
			t.Logf("refused: %v", err)
			if !apierrors.IsInvalid(err) || !hasCause(err, "spec.queue", refusal) {
				t.Errorf("want an Invalid error with a cause on spec.queue saying %q; got %v, causes %+v", refusal, err, causes(err))
			}
			if got := reread(t, qd).Spec.Queue; got != qd.Spec.Queue {
				t.Errorf("spec.queue is now %+v, want it unchanged %+v", got, qd.Spec.Queue)
			}
		})
	}

	t.Run("other fields may change during the run", func(t *testing.T) {
		changed := reread(t, qd)
		changed.Spec.Workers.Max = 50
		changed.Spec.Suspend = ptr.To(true)
		if err := k8s.Update(ctx, changed); err != nil {
			t.Fatalf("changing workers.max and suspend during a run was refused: %v", err)
		}
	})

	t.Run("the queue may change once the run has ended", func(t *testing.T) {
		setActiveRun(t, reread(t, qd), nil)
		changed := reread(t, qd)
		changed.Spec.Queue.URL = "https://sqs.us-east-1.amazonaws.com/123456789012/invoices"
		if err := k8s.Update(ctx, changed); err != nil {
			t.Fatalf("changing spec.queue with no active run was refused: %v", err)
		}
		if got := reread(t, qd).Spec.Queue.URL; got != changed.Spec.Queue.URL {
			t.Errorf("spec.queue.url = %s after the update, want %s", got, changed.Spec.Queue.URL)
		}
	})
}

func TestQueueOfADrainerThatNeverRanMayChange(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	qd := validQueueDrainer(ns, "fresh")
	if err := k8s.Create(ctx, qd); err != nil {
		t.Fatal(err)
	}
	qd.Spec.Queue = drainv1alpha1.QueueSpec{URL: "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"}
	if err := k8s.Update(ctx, qd); err != nil {
		t.Fatalf("changing spec.queue of a drainer without status was refused: %v", err)
	}
}
