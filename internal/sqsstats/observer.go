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
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

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

// Defaults of the Observer's knobs.
const (
	DefaultConcurrency = 32
	DefaultTimeout     = 10 * time.Second
	// MaxQueueBackoff caps how far a failing queue's polls are spaced.
	MaxQueueBackoff = 2 * time.Minute
	// OutageAfter is how many polls in a row, of any queues of one region
	// and role, must fail for a reason not of their own (the endpoint
	// cannot be reached, the credentials are refused) before the observer
	// takes the whole region and role for out.
	OutageAfter = 3
	// ProbeInterval is how often one queue of a region and role that is
	// out is asked whether it is back.
	ProbeInterval = 2 * time.Second
)

// Observer is the manager's one SQS observer, a manager Runnable like the
// CloudWatch Poller. Drainers register their queue when they are
// reconciled; it polls each queue on its own schedule (the shortest
// pollInterval of the drainers that share it, which share one poll), at
// most Concurrency at once, and keeps the latest observation for the
// reconciles to read. It hands every new observation to Notify, which
// wakes the drainer when the observation matters.
//
// A failing queue backs off on its own (its poll interval doubled per
// failure in a row, up to MaxQueueBackoff) without delaying the others.
// When polls of a region and role fail in a row for a reason no queue has
// of its own, the region and role are out: every drainer there is told at
// once, and one queue is probed every ProbeInterval until it answers.
type Observer struct {
	Clients ClientSource
	Ages    AgeSource
	// AllowedRoleARNs are path.Match patterns; a drainer's roleARN must
	// match one, so that a namespace cannot borrow a role it was not given.
	AllowedRoleARNs []string
	// Concurrency bounds the queues polled at once; DefaultConcurrency when zero.
	Concurrency int
	// Timeout bounds one poll's SQS calls; DefaultTimeout when zero.
	Timeout time.Duration
	// Notify hears each new observation of a drainer's queue, with the one
	// the drainer's reconcile last read (zero before the first). It is
	// called from the polling goroutines, never with the observer locked.
	Notify func(drainer types.NamespacedName, last, next plan.Observation)
	Now    func() time.Time

	mu       sync.Mutex
	drainers map[types.NamespacedName]*watcher
	queues   map[Target]*queue
	outages  map[clientKey]*outage
	due      dueHeap
	kick     chan struct{}
}

// watcher is one drainer's registration.
type watcher struct {
	target   Target
	interval time.Duration
	// read is the observation its reconcile last read.
	read plan.Observation
}

// queue is one polled queue and the drainers that watch it.
type queue struct {
	target Target
	// drainers watch it: most often one, so a slice (a map costs a
	// fleet of 5,000 queues 4 MB).
	drainers []types.NamespacedName
	interval time.Duration // the shortest of its drainers'
	due      time.Time
	index    int // in the due heap; -1 while being polled or parked in an outage
	polling  bool
	polled   bool // once polled: its rhythm is set
	fails    int  // polls in a row that failed
	// obs is the latest observation, without the age of the oldest
	// message (which is per drainer, from Ages); observed is false before
	// the first.
	obs      plan.Observation
	observed bool
	urls     knownURLs
}

// knownURLs are SQS's own URLs for a queue and its dead-letter queue, kept
// so that each is asked for (GetQueueUrl) once; empty when not known.
type knownURLs struct {
	queue         string
	deadLetter    Target
	deadLetterURL string
}

// clientKey is what shares one set of credentials and one endpoint.
type clientKey struct{ region, roleARN string }

func (t Target) client() clientKey { return clientKey{t.Region, t.RoleARN} }

// outage is a region and role whose polls fail for no queue's own reason.
type outage struct {
	failsInARow int
	// down is set while the region and role are out: every drainer there
	// reads it as its queue's problem.
	down    *plan.Problem
	since   time.Time
	parked  map[*queue]bool
	probing bool
	probeAt time.Time
}

// Observe implements controllers.QueueObserver: it registers the drainer's
// queue (polled at the drainer's interval from now on) and returns the
// latest observation, with ok false when the queue has not been polled yet.
// It does no I/O.
func (o *Observer) Observe(_ context.Context, drainer types.NamespacedName, spec v1alpha1.QueueSpec, interval time.Duration) (plan.Observation, bool) {
	t, problem := o.target(spec)
	if problem != nil {
		o.Forget(drainer)
		return plan.Observation{At: o.now(), Err: problem, MetricsErr: problem}, true
	}
	o.Ages.Watch(drainer, t)
	o.mu.Lock()
	o.init()
	q := o.register(drainer, t, interval)
	obs, ok := o.observationOf(q)
	o.mu.Unlock()
	if !ok {
		return plan.Observation{}, false
	}
	// What Notify compares the next observation with: as read, age included.
	obs = o.withAge(drainer, obs)
	o.mu.Lock()
	if w := o.drainers[drainer]; w != nil {
		w.read = obs
	}
	o.mu.Unlock()
	return obs, true
}

// withAge adds the drainer's age of the oldest message, from Ages.
func (o *Observer) withAge(drainer types.NamespacedName, obs plan.Observation) plan.Observation {
	if obs.Err != nil && obs.Err.Permanent {
		return obs
	}
	obs.OldestAge, obs.MetricsErr = o.Ages.Age(drainer)
	return obs
}

// observationOf is what a drainer of q reads now; o.mu is held.
func (o *Observer) observationOf(q *queue) (plan.Observation, bool) {
	if out := o.outages[q.target.client()]; out != nil && out.down != nil {
		return plan.Observation{At: out.since, Err: out.down}, true
	}
	return q.obs, q.observed
}

// register records that the drainer watches t; o.mu is held.
func (o *Observer) register(drainer types.NamespacedName, t Target, interval time.Duration) *queue {
	if interval <= 0 {
		interval = plan.DefaultPollInterval
	}
	w := o.drainers[drainer]
	if w != nil && w.target != t {
		o.unregister(drainer, w)
		w = nil
	}
	if w == nil {
		w = &watcher{target: t}
		o.drainers[drainer] = w
	}
	q := o.queues[t]
	if q == nil {
		q = &queue{target: t, interval: interval, due: o.now(), index: -1}
		o.queues[t] = q
		o.push(q)
	}
	if !slices.Contains(q.drainers, drainer) {
		q.drainers = append(q.drainers, drainer)
	}
	if w.interval != interval {
		w.interval = interval
		o.retime(q)
	}
	return q
}

// retime sets a queue's interval to the shortest of its drainers' and
// brings its next poll forward when that is shorter now; o.mu is held.
func (o *Observer) retime(q *queue) {
	shortest := time.Duration(0)
	for _, d := range q.drainers {
		if w := o.drainers[d]; w != nil && (shortest == 0 || w.interval < shortest) {
			shortest = w.interval
		}
	}
	if shortest == 0 || shortest == q.interval {
		return
	}
	q.interval = shortest
	if soon := o.now().Add(shortest); q.fails == 0 && q.index >= 0 && soon.Before(q.due) {
		q.due = soon
		heap.Fix(&o.due, q.index)
	}
}

// Forget implements controllers.QueueObserver.
func (o *Observer) Forget(drainer types.NamespacedName) {
	o.Ages.Forget(drainer)
	o.mu.Lock()
	defer o.mu.Unlock()
	if w := o.drainers[drainer]; w != nil {
		o.unregister(drainer, w)
	}
}

// unregister removes the drainer, and its queue when no other drainer
// watches it; o.mu is held.
func (o *Observer) unregister(drainer types.NamespacedName, w *watcher) {
	delete(o.drainers, drainer)
	q := o.queues[w.target]
	if q == nil {
		return
	}
	q.drainers = slices.DeleteFunc(q.drainers, func(d types.NamespacedName) bool { return d == drainer })
	if len(q.drainers) > 0 {
		o.retime(q)
		return
	}
	delete(o.queues, w.target)
	if q.index >= 0 {
		heap.Remove(&o.due, q.index)
	}
	if out := o.outages[w.target.client()]; out != nil {
		delete(out.parked, q)
	}
}

// NeedLeaderElection keeps followers from calling SQS.
func (o *Observer) NeedLeaderElection() bool { return true }

// Start polls the registered queues as they come due until ctx ends.
func (o *Observer) Start(ctx context.Context) error {
	o.mu.Lock()
	o.init()
	kick := o.kick
	o.mu.Unlock()
	slots := make(chan struct{}, cmp.Or(o.Concurrency, DefaultConcurrency))
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var polls sync.WaitGroup
	defer polls.Wait()
	for {
		o.mu.Lock()
		q, probe, wait := o.next()
		o.mu.Unlock()
		if q == nil {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return nil
			case <-kick:
			case <-timer.C:
			}
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		polls.Add(1)
		go func() {
			defer polls.Done()
			defer func() { <-slots }()
			o.poll(ctx, q, probe)
		}()
	}
}

// Poll polls every registered queue once now, except those of a region and
// role that is out and those being polled already, and returns when all
// have answered. Their schedule then goes on from their due time.
func (o *Observer) Poll(ctx context.Context) {
	o.mu.Lock()
	o.init()
	batch := make([]*queue, 0, len(o.due))
	for len(o.due) > 0 {
		q := heap.Pop(&o.due).(*queue)
		q.polling = true
		batch = append(batch, q)
	}
	o.mu.Unlock()
	slots := make(chan struct{}, cmp.Or(o.Concurrency, DefaultConcurrency))
	var polls sync.WaitGroup
	for _, q := range batch {
		slots <- struct{}{}
		polls.Add(1)
		go func() {
			defer polls.Done()
			defer func() { <-slots }()
			o.poll(ctx, q, false)
		}()
	}
	polls.Wait()
}

// next takes the queue to poll now, or says how long until one is due;
// o.mu is held. A probe is a poll of a region and role that is out.
func (o *Observer) next() (q *queue, probe bool, wait time.Duration) {
	now := o.now()
	wait = time.Minute
	for key, out := range o.outages {
		if out.down == nil || out.probing {
			continue
		}
		if until := out.probeAt.Sub(now); until > 0 {
			wait = min(wait, until)
			continue
		}
		if len(out.parked) == 0 {
			delete(o.outages, key) // nothing left to probe: its drainers are gone
			continue
		}
		for p := range out.parked {
			if !p.polling {
				out.probing = true
				p.polling = true
				return p, true, 0
			}
		}
	}
	if len(o.due) == 0 {
		return nil, false, wait
	}
	q = o.due[0]
	if until := q.due.Sub(now); until > 0 {
		return nil, false, min(wait, until)
	}
	heap.Pop(&o.due)
	q.polling = true
	return q, false, 0
}

// poll asks SQS about one queue, then files the answer.
func (o *Observer) poll(ctx context.Context, q *queue, probe bool) {
	o.mu.Lock()
	t, urls := q.target, q.urls
	o.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, cmp.Or(o.Timeout, DefaultTimeout))
	defer cancel()
	obs, urls, err := o.ask(ctx, t, urls)
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return // the manager is stopping
	}
	if err != nil {
		log.FromContext(ctx).V(1).Info("SQS GetQueueAttributes failed", "queue", t.Queue.Name, "region", t.Region, "error", err.Error())
	}
	notes := o.file(q, obs, err, urls, probe)
	if o.Notify == nil {
		return
	}
	for _, n := range notes {
		o.Notify(n.drainer, n.last, o.withAge(n.drainer, n.next))
	}
}

// note is one Notify call to make.
type note struct {
	drainer    types.NamespacedName
	last, next plan.Observation
}

// ask observes a queue, and its dead-letter queue when it has one, at the
// URLs SQS gave for them, and returns those URLs (asked for when not known,
// forgotten when a call failed: the queue may have been recreated).
func (o *Observer) ask(ctx context.Context, t Target, urls knownURLs) (plan.Observation, knownURLs, error) {
	api := o.Clients.SQS(t.Region, t.RoleARN)
	obs := plan.Observation{At: o.now()}
	state, url, err := stateOf(ctx, api, t, urls.queue)
	urls.queue = url
	if err != nil {
		obs.Err = Classify(err)
		return obs, urls, err
	}
	obs.Visible, obs.InFlight, obs.Delayed = state.Visible, state.InFlight, state.Delayed
	// It lives in the queue's account and region, so the same client reaches it.
	if dlq := state.DeadLetter; dlq != nil {
		if dt := (Target{Region: dlq.Region, RoleARN: t.RoleARN, Queue: *dlq}); dt != urls.deadLetter {
			urls.deadLetter, urls.deadLetterURL = dt, ""
		}
		obs.DeadLetter = &plan.DeadLetter{URL: dlq.URL()}
		s, url, err := stateOf(ctx, api, urls.deadLetter, urls.deadLetterURL)
		urls.deadLetterURL = url
		if err != nil {
			obs.DeadLetter.Err = Classify(err)
		} else {
			obs.DeadLetter.Visible = s.Visible
		}
	}
	return obs, urls, nil
}

// pollRetries keeps the SDK's attempts (a lone throttle or 5xx should not
// flip a drainer to unreachable) but waits at most half a second between
// them: the next poll is the observer's own retry, and the SDK's up to 20 s
// would hold a poll slot for that long on every failing queue.
func pollRetries(o *sqs.Options) {
	o.Retryer = retry.AddWithMaxBackoffDelay(o.Retryer, 500*time.Millisecond)
}

// stateOf asks SQS about a queue at the URL it gave for it (known, or asked
// for when empty), and returns that URL, or none when a call failed.
func stateOf(ctx context.Context, api SQSAPI, t Target, known string) (QueueState, string, error) {
	url, err := resolve(ctx, api, t.Queue, known, pollRetries)
	if err != nil {
		return QueueState{}, "", err
	}
	state, err := StateAt(ctx, api, url, pollRetries)
	if err != nil {
		return QueueState{}, "", err
	}
	return state, url, nil
}

// file records a poll's answer and schedules the next poll. It returns the
// drainers to tell and what to tell them.
func (o *Observer) file(q *queue, obs plan.Observation, err error, urls knownURLs, probe bool) []note {
	o.mu.Lock()
	defer o.mu.Unlock()
	defer o.wake() // the next due time may be another now
	q.polling = false
	if o.queues[q.target] != q {
		return nil // forgotten while it was polled
	}
	now := o.now()
	key := q.target.client()
	out := o.outages[key]
	if out == nil {
		out = &outage{parked: map[*queue]bool{}}
		o.outages[key] = out
	}
	if probe {
		out.probing = false
	}
	q.urls = urls
	var notes []note
	switch {
	case err != nil && endpointWide(err):
		out.failsInARow++
		if out.down != nil {
			out.probeAt = now.Add(ProbeInterval) // still out
			q.obs, q.observed = obs, true
			out.parked[q] = true
			return nil
		}
		if out.failsInARow >= OutageAfter {
			return o.goDown(key, out, obs, now)
		}
	case out.down != nil:
		// It answered: the region and role are back. Poll every queue now.
		log.Log.Info("SQS answers again", "region", key.region, "role", key.roleARN, "outFor", now.Sub(out.since).Round(time.Second).String())
		out.down, out.failsInARow = nil, 0
		for p := range out.parked {
			delete(out.parked, p)
			p.polled = false          // all polled now: spread them again
			if !p.polling && p != q { // one being polled is rescheduled when it answers
				p.due = now
				o.push(p)
			}
		}
	case err == nil:
		out.failsInARow = 0
	}
	q.obs, q.observed = obs, true
	if err != nil {
		q.fails++
	} else {
		q.fails = 0
	}
	o.reschedule(q, now)
	for _, d := range q.drainers {
		if w := o.drainers[d]; w != nil {
			notes = append(notes, note{drainer: d, last: w.read, next: obs})
		}
	}
	return notes
}

// goDown takes a region and role for out: its queues are parked, and every
// drainer there is told; o.mu is held.
func (o *Observer) goDown(key clientKey, out *outage, cause plan.Observation, now time.Time) []note {
	out.down = &plan.Problem{Reason: cause.Err.Reason, Message: fmt.Sprintf(
		"SQS in %s cannot be reached (%d polls in a row failed; the latest: %s); polling waits until it answers again",
		key.region, out.failsInARow, cause.Err.Message)}
	if key.roleARN != "" {
		out.down.Message = fmt.Sprintf("SQS in %s with role %s cannot be reached (%d polls in a row failed; the latest: %s); polling waits until it answers again",
			key.region, key.roleARN, out.failsInARow, cause.Err.Message)
	}
	out.since, out.probeAt = now, now.Add(ProbeInterval)
	log.Log.Info("SQS unreachable: polling paused, probing", "region", key.region, "role", key.roleARN, "cause", cause.Err.Message)
	down := plan.Observation{At: now, Err: out.down}
	var notes []note
	for t, q := range o.queues {
		if t.client() != key {
			continue
		}
		if q.index >= 0 {
			heap.Remove(&o.due, q.index)
		}
		out.parked[q] = true
		for _, d := range q.drainers {
			if w := o.drainers[d]; w != nil {
				notes = append(notes, note{drainer: d, last: w.read, next: down})
			}
		}
	}
	return notes
}

// reschedule puts a queue back in the due heap: one interval after its
// last due time (so polls keep their rhythm), or after its backoff when it
// failed; o.mu is held.
func (o *Observer) reschedule(q *queue, now time.Time) {
	if out := o.outages[q.target.client()]; out != nil && out.down != nil {
		out.parked[q] = true
		return
	}
	next := q.due.Add(q.interval)
	if !q.polled {
		// Drainers registered together (a manager starting with a fleet)
		// would keep polling together, in bursts of the whole fleet: the
		// second poll of each queue comes at a random point of its
		// interval's second half, and the rhythm goes on from there.
		q.polled = true
		next = now.Add(q.interval/2 + rand.N(q.interval/2))
	}
	if q.fails > 0 {
		backoff := q.interval
		for i := 1; i < q.fails && backoff < MaxQueueBackoff; i++ {
			backoff *= 2
		}
		next = now.Add(min(backoff, max(MaxQueueBackoff, q.interval)))
	}
	if next.Before(now) {
		next = now // behind: as soon as a slot frees
	}
	q.due = next
	o.push(q)
}

// push queues a queue for polling and wakes the loop, which may be waiting
// for a later one; o.mu is held.
func (o *Observer) push(q *queue) {
	heap.Push(&o.due, q)
	o.wake()
}

// wake makes the polling loop look again at what is due.
func (o *Observer) wake() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// endpointWide reports whether a failure says nothing about the queue
// itself: the endpoint could not be reached or did not answer in time, or
// the credentials were refused or could not be had. Throttling and server
// errors are the queue's own: SQS answers them per request.
func endpointWide(err error) bool {
	var signing *v4.SigningError
	if errors.As(err, &signing) {
		return true // no credentials: nothing was sent
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "ExpiredToken", "InvalidSecurity":
			return true
		}
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded)
}

func (o *Observer) init() {
	if o.drainers == nil {
		o.drainers = map[types.NamespacedName]*watcher{}
		o.queues = map[Target]*queue{}
		o.outages = map[clientKey]*outage{}
		o.kick = make(chan struct{}, 1)
	}
}

// target checks the queue spec against what the operator allows.
func (o *Observer) target(spec v1alpha1.QueueSpec) (Target, *plan.Problem) {
	q, err := queueurl.Parse(spec.URL)
	if err != nil {
		return Target{}, &plan.Problem{Reason: v1alpha1.ReasonInvalidQueueURL, Message: err.Error(), Permanent: true}
	}
	t := Target{Region: queueurl.Region(spec.URL, spec.Region), RoleARN: spec.RoleARN, Queue: q}
	if t.RoleARN != "" && !RoleAllowed(o.AllowedRoleARNs, t.RoleARN) {
		return Target{}, &plan.Problem{Reason: v1alpha1.ReasonRoleNotAllowed, Permanent: true, Message: fmt.Sprintf(
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

// dueHeap orders queues by their next poll.
type dueHeap []*queue

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *dueHeap) Push(x any) {
	q := x.(*queue)
	q.index = len(*h)
	*h = append(*h, q)
}
func (h *dueHeap) Pop() any {
	old := *h
	q := old[len(old)-1]
	old[len(old)-1] = nil
	q.index = -1
	*h = old[:len(old)-1]
	return q
}
