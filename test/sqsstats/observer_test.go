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

package sqsstats_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"k8s.io/apimachinery/pkg/types"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
	"github.com/queuedrainer/queue-drainer/internal/sqsstats"
	"github.com/queuedrainer/queue-drainer/testutil/fixture"
)

// fleetSQS is SQS for many queues: each answers its own count, a failing
// queue answers its error after a delay (as the SDK's retries would take),
// and down makes every call fail as an unreachable endpoint does.
type fleetSQS struct {
	mu      sync.Mutex
	failing map[string]error
	slow    time.Duration // how long a failing queue takes to fail
	down    error
	polls   map[string][]time.Time // GetQueueAttributes per queue
}

func newFleetSQS() *fleetSQS {
	return &fleetSQS{failing: map[string]error{}, polls: map[string][]time.Time{}}
}

func (f *fleetSQS) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down != nil {
		return nil, f.down
	}
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String("http://sqs.local/123456789012/" + aws.ToString(in.QueueName))}, nil
}

func (f *fleetSQS) GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	name := path.Base(aws.ToString(in.QueueUrl))
	f.mu.Lock()
	f.polls[name] = append(f.polls[name], time.Now())
	down, failing, slow := f.down, f.failing[name], f.slow
	f.mu.Unlock()
	if down != nil {
		return nil, down
	}
	if failing != nil {
		select {
		case <-time.After(slow):
		case <-ctx.Done():
		}
		return nil, failing
	}
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{"ApproximateNumberOfMessages": "7"}}, nil
}

func (f *fleetSQS) set(fn func(f *fleetSQS)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fleetSQS) pollsOf(name string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.polls[name])
}

// notes records Notify calls: the latest observation told to each drainer.
type notes struct {
	mu     sync.Mutex
	latest map[types.NamespacedName]plan.Observation
	count  map[types.NamespacedName]int
}

func (n *notes) notify(d types.NamespacedName, _, next plan.Observation) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.latest[d] = next
	n.count[d]++
}

// all reports whether every drainer's latest observation satisfies ok.
func (n *notes) all(drainers []types.NamespacedName, ok func(plan.Observation) bool) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, d := range drainers {
		if o, seen := n.latest[d]; !seen || !ok(o) {
			return false
		}
	}
	return true
}

func queueName(i int) string { return fmt.Sprintf("q%04d", i) }

// startFleet registers n drainers, one queue each, polled every interval
// by a running observer with the given concurrency.
func startFleet(t *testing.T, api *fleetSQS, n, concurrency int, interval time.Duration) (*sqsstats.Observer, *notes, []types.NamespacedName) {
	t.Helper()
	rec := &notes{latest: map[types.NamespacedName]plan.Observation{}, count: map[types.NamespacedName]int{}}
	o := &sqsstats.Observer{Clients: &fakeClients{sqs: api}, Ages: &fakeAges{}, Concurrency: concurrency, Notify: rec.notify}
	var drainers []types.NamespacedName
	for i := range n {
		d := types.NamespacedName{Namespace: "team", Name: queueName(i)}
		drainers = append(drainers, d)
		if _, ok := o.Observe(context.Background(), d, v1alpha1.QueueSpec{URL: "https://sqs.us-east-1.amazonaws.com/123456789012/" + queueName(i)}, interval); ok {
			t.Fatalf("%s observed before any poll", d)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = o.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return o, rec, drainers
}

func waitWithin(t *testing.T, within time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > within {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// gaps are the times between a queue's polls.
func gaps(polls []time.Time) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(polls); i++ {
		out = append(out, polls[i].Sub(polls[i-1]))
	}
	return out
}

// Queues that fail slowly (as SQS's 503s do, with the SDK's retries) take
// poll slots; each backs off on its own, and the healthy queues keep their
// rhythm. Before the observer left the reconcile, 5% of such queues slowed
// every other queue's polls fourfold.
func TestFailingQueuesBackOffWithoutDelayingHealthyOnes(t *testing.T) {
	api := newFleetSQS()
	const n, interval = 100, 300 * time.Millisecond
	api.set(func(f *fleetSQS) {
		f.slow = 250 * time.Millisecond
		for i := range 10 {
			f.failing[queueName(i)] = apiError("ServiceUnavailable")
		}
	})
	_, rec, drainers := startFleet(t, api, n, 4, interval)
	time.Sleep(4 * time.Second)

	var worst time.Duration
	for i := 10; i < n; i++ {
		g := gaps(api.pollsOf(queueName(i)))
		if len(g) < 8 {
			t.Errorf("healthy %s polled %d times in 4s, want about 13 at %v", queueName(i), len(g)+1, interval)
		}
		for _, d := range g {
			worst = max(worst, d)
		}
	}
	if worst > 2*interval {
		t.Errorf("a healthy queue waited %v between polls, want under %v (interval %v)", worst, 2*interval, interval)
	}
	for i := range 10 {
		polls := api.pollsOf(queueName(i))
		if len(polls) > 6 {
			t.Errorf("failing %s polled %d times in 4s, want it backed off (interval doubled per failure)", queueName(i), len(polls))
		}
		g := gaps(polls)
		for j := 1; j < len(g); j++ {
			if g[j] < g[j-1] {
				t.Errorf("failing %s: gaps %v, want them growing", queueName(i), g)
				break
			}
		}
	}
	if !rec.all(drainers[:10], func(o plan.Observation) bool { return o.Err != nil && o.Err.Reason == v1alpha1.ReasonAWSError }) {
		t.Errorf("the failing queues' drainers were not told their error")
	}
	if !rec.all(drainers[10:], func(o plan.Observation) bool { return o.Err == nil && o.Visible == 7 }) {
		t.Errorf("the healthy queues' drainers were not told their counts")
	}
}

// An unreachable endpoint is detected once for every drainer of the region,
// within a round of polls; then one queue is probed, not all of them, and
// when it answers every queue is polled again at once.
func TestOutageIsDetectedOnceForTheRegionAndProbed(t *testing.T) {
	api := newFleetSQS()
	const n, interval = 200, time.Second
	o, rec, drainers := startFleet(t, api, n, 8, interval)
	waitWithin(t, 5*time.Second, "every drainer told its counts", func() bool {
		return rec.all(drainers, func(o plan.Observation) bool { return o.Err == nil })
	})

	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	api.set(func(f *fleetSQS) { f.down = refused })
	outageAt := time.Now()
	took := waitWithin(t, interval+2*time.Second, "every drainer told of the outage", func() bool {
		return rec.all(drainers, func(o plan.Observation) bool { return o.Err != nil && o.Err.Reason == v1alpha1.ReasonNetworkError })
	})
	t.Logf("all %d drainers told of the outage after %v", n, took.Round(time.Millisecond))
	if got, ok := o.Observe(context.Background(), drainers[n-1], v1alpha1.QueueSpec{URL: "https://sqs.us-east-1.amazonaws.com/123456789012/" + queueName(n-1)}, interval); !ok ||
		got.Err == nil {
		t.Errorf("a drainer reading during the outage got %+v, want the outage", got.Err)
	}

	time.Sleep(3 * sqsstats.ProbeInterval)
	calls := 0
	for i := range n {
		for _, at := range api.pollsOf(queueName(i)) {
			if at.After(outageAt.Add(took + 100*time.Millisecond)) {
				calls++
			}
		}
	}
	if calls > 4 {
		t.Errorf("%d GetQueueAttributes calls in %v of outage after it was detected, want only the probes (one every %v)",
			calls, 3*sqsstats.ProbeInterval, sqsstats.ProbeInterval)
	}

	api.set(func(f *fleetSQS) { f.down = nil })
	back := waitWithin(t, sqsstats.ProbeInterval+3*time.Second, "every drainer told SQS answers again", func() bool {
		return rec.all(drainers, func(o plan.Observation) bool { return o.Err == nil && o.Visible == 7 })
	})
	t.Logf("all %d drainers told SQS answers again %v after it did", n, back.Round(time.Millisecond))
}

// Drainers of one queue share its polls, at the shorter of their intervals.
func TestDrainersOfOneQueueShareItsPolls(t *testing.T) {
	api := newFleetSQS()
	rec := &notes{latest: map[types.NamespacedName]plan.Observation{}, count: map[types.NamespacedName]int{}}
	o := &sqsstats.Observer{Clients: &fakeClients{sqs: api}, Ages: &fakeAges{}, Notify: rec.notify}
	spec := v1alpha1.QueueSpec{URL: "https://sqs.us-east-1.amazonaws.com/123456789012/shared"}
	a, b := types.NamespacedName{Namespace: "a", Name: "x"}, types.NamespacedName{Namespace: "b", Name: "y"}
	o.Observe(context.Background(), a, spec, time.Second)
	o.Observe(context.Background(), b, spec, 300*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = o.Start(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	time.Sleep(2 * time.Second)
	polls := len(api.pollsOf("shared"))
	if polls < 5 || polls > 9 {
		t.Errorf("%d polls of the shared queue in 2s, want about 7: one every 300ms for both drainers", polls)
	}
	rec.mu.Lock()
	na, nb := rec.count[a], rec.count[b]
	rec.mu.Unlock()
	if na != polls || nb != polls {
		t.Errorf("drainers told %d and %d times of %d polls, want every poll told to both", na, nb, polls)
	}

	o.Forget(b) // a's own interval again
	before := len(api.pollsOf("shared"))
	time.Sleep(2100 * time.Millisecond)
	if n := len(api.pollsOf("shared")) - before; n < 1 || n > 3 {
		t.Errorf("%d polls in 2.1s once only the 1s drainer is left, want about 2", n)
	}
	o.Forget(a)
	time.Sleep(100 * time.Millisecond)
	before = len(api.pollsOf("shared"))
	time.Sleep(1500 * time.Millisecond)
	if n := len(api.pollsOf("shared")) - before; n != 0 {
		t.Errorf("%d polls after every drainer of the queue was forgotten, want none", n)
	}
}

// Notify compares each new observation with the one the drainer's reconcile
// read, the age of the oldest message included: an unchanged queue whose
// CloudWatch has no datapoint matters to no one.
func TestNotifyComparesWithWhatTheDrainerRead(t *testing.T) {
	api := newFleetSQS()
	type told struct{ last, next plan.Observation }
	var notes []told
	ages := &fakeAges{problem: &plan.Problem{Reason: v1alpha1.ReasonNoDatapoint, Message: "no datapoint"}}
	o := &sqsstats.Observer{Clients: &fakeClients{sqs: api}, Ages: ages,
		Notify: func(_ types.NamespacedName, last, next plan.Observation) { notes = append(notes, told{last, next}) }}
	d := types.NamespacedName{Namespace: "shop", Name: "orders"}
	spec := v1alpha1.QueueSpec{URL: "https://sqs.us-east-1.amazonaws.com/123456789012/orders"}
	qd := fixture.Drainer(d.Namespace, d.Name, fixture.QueueURL(spec.URL), fixture.Triggers(v1alpha1.Triggers{QueueDepth: aws.Int64(100)}))

	observeNow(t, o, d, spec) // the first poll, read by the drainer
	o.Poll(context.Background())
	if len(notes) != 2 {
		t.Fatalf("%d notifications for 2 polls, want 2", len(notes))
	}
	n := notes[1]
	if n.last.MetricsErr == nil || n.last.MetricsErr.Reason != v1alpha1.ReasonNoDatapoint || n.last.Visible != 7 {
		t.Errorf("last = %+v (metrics %+v), want what the drainer read: 7 visible, NoDatapoint", n.last, n.last.MetricsErr)
	}
	if plan.ObservationMatters(qd, n.last, n.next, time.Now()) {
		t.Errorf("an unchanged queue's second poll matters: last %+v, next %+v", n.last, n.next)
	}
}
