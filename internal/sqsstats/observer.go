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
	"fmt"
	"path"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
	"github.com/queuedrainer/queue-drainer/internal/queueurl"
)

// Target names a queue in the account and region its clients reach.
type Target struct {
	Region  string
	RoleARN string
	Queue   queueurl.Queue
}

// ClientSource hands out AWS clients for a region and an optional role.
type ClientSource interface {
	SQS(region, roleARN string) SQSAPI
	CloudWatch(region, roleARN string) CloudWatchAPI
}

// AgeSource is the shared CloudWatch poller, as the observer sees it.
type AgeSource interface {
	// Watch registers a drainer's queue; the next period fetches its age.
	Watch(drainer types.NamespacedName, t Target)
	Forget(drainer types.NamespacedName)
	// Age is the newest datapoint known for the drainer's queue, or why there is none.
	Age(drainer types.NamespacedName) (*plan.AgeSample, *plan.Problem)
}

// Observer observes queues for the QueueDrainer controller: depth from SQS on
// every call, age of the oldest message from the shared CloudWatch poller's
// cache (it never calls CloudWatch itself).
type Observer struct {
	Clients ClientSource
	Ages    AgeSource
	// AllowedRoleARNs are path.Match patterns; a drainer's roleARN must
	// match one, so that a namespace cannot borrow a role it was not given.
	AllowedRoleARNs []string
	// Timeout bounds one observation's SQS calls.
	Timeout time.Duration
	Now     func() time.Time

	mu       sync.Mutex
	resolved map[Target]string // SQS's own URL for each queue
}

// Observe implements controllers.QueueObserver.
func (o *Observer) Observe(ctx context.Context, drainer types.NamespacedName, spec v1alpha1.QueueSpec) plan.Observation {
	obs := plan.Observation{At: o.now()}
	t, problem := o.target(spec)
	if problem != nil {
		obs.Err = problem
		obs.MetricsErr = problem
		o.Ages.Forget(drainer)
		return obs
	}
	o.Ages.Watch(drainer, t)
	obs.OldestAge, obs.MetricsErr = o.Ages.Age(drainer)

	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	api := o.Clients.SQS(t.Region, t.RoleARN)
	state, err := o.stateOf(ctx, api, t)
	if err != nil {
		obs.Err = Classify(err)
		return obs
	}
	obs.Visible, obs.InFlight, obs.Delayed = state.Visible, state.InFlight, state.Delayed
	// The dead-letter queue, when the queue has one: one more call. It lives
	// in the queue's account and region, so the same client reaches it.
	if dlq := state.DeadLetter; dlq != nil {
		obs.DeadLetter = &plan.DeadLetter{URL: dlq.URL()}
		if s, err := o.stateOf(ctx, api, Target{Region: dlq.Region, RoleARN: t.RoleARN, Queue: *dlq}); err != nil {
			obs.DeadLetter.Err = Classify(err)
		} else {
			obs.DeadLetter.Visible = s.Visible
		}
	}
	return obs
}

// stateOf asks SQS about a queue at the URL it gave for it, which is cached.
func (o *Observer) stateOf(ctx context.Context, api SQSAPI, t Target) (QueueState, error) {
	o.mu.Lock()
	known := o.resolved[t]
	o.mu.Unlock()
	url, err := resolve(ctx, api, t.Queue, known)
	var state QueueState
	if err == nil {
		state, err = StateAt(ctx, api, url)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.resolved == nil {
		o.resolved = map[Target]string{}
	}
	if err != nil {
		delete(o.resolved, t) // the queue may have been recreated elsewhere
	} else {
		o.resolved[t] = url
	}
	return state, err
}

// Forget implements controllers.QueueObserver.
func (o *Observer) Forget(drainer types.NamespacedName) {
	o.Ages.Forget(drainer)
}

// target checks the queue spec against what the operator allows.
func (o *Observer) target(spec v1alpha1.QueueSpec) (Target, *plan.Problem) {
	q, err := queueurl.Parse(spec.URL)
	if err != nil {
		return Target{}, &plan.Problem{Reason: ReasonInvalidQueueURL, Message: err.Error(), Permanent: true}
	}
	t := Target{Region: spec.Region, RoleARN: spec.RoleARN, Queue: q}
	if t.Region == "" {
		t.Region = q.Region
	}
	if t.RoleARN != "" && !RoleAllowed(o.AllowedRoleARNs, t.RoleARN) {
		return Target{}, &plan.Problem{Reason: ReasonRoleNotAllowed, Permanent: true, Message: fmt.Sprintf(
			"role %s is not permitted by the operator's --allowed-role-arns", t.RoleARN)}
	}
	return t, nil
}

// RoleAllowed reports whether any pattern matches the role ARN.
func RoleAllowed(patterns []string, roleARN string) bool {
	for _, p := range patterns {
		if ok, err := path.Match(p, roleARN); err == nil && ok {
			return true
		}
	}
	return false
}

func (o *Observer) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}
