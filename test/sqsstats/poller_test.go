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
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
	"k8s.io/apimachinery/pkg/types"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
	"github.com/queuedrainer/queue-drainer/internal/queueurl"
	"github.com/queuedrainer/queue-drainer/internal/sqsstats"
)

// point is one ApproximateAgeOfOldestMessage datapoint, in seconds.
type point struct {
	at  time.Time
	age float64
}

var queryID = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]*$`)

// fakeCW is CloudWatchAPI over a set of series by queue name. Like
// CloudWatch it refuses more than 500 queries or bad/duplicate Ids, returns
// only datapoints inside [StartTime, EndTime), and pages its answer every
// pageSize datapoints (0: one page) with a NextToken, splitting series.
type fakeCW struct {
	mu       sync.Mutex
	calls    []cloudwatch.GetMetricDataInput
	series   map[string][]point
	pageSize int
	err      error
}

func (f *fakeCW) GetMetricData(_ context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, *in) // a copy: the caller reuses in for the next page
	if f.err != nil {
		return nil, f.err
	}
	if len(in.MetricDataQueries) > sqsstats.MaxQueriesPerCall {
		return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "MetricDataQueries must not have more than 500 members"}
	}
	type entry struct {
		id string
		p  *point // nil: a series with no datapoint
	}
	var all []entry
	ids := map[string]bool{}
	for _, q := range in.MetricDataQueries {
		id := aws.ToString(q.Id)
		if !queryID.MatchString(id) || ids[id] || q.MetricStat == nil || q.MetricStat.Metric == nil || len(q.MetricStat.Metric.Dimensions) != 1 {
			return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: fmt.Sprintf("bad query %q", id)}
		}
		ids[id] = true
		n := len(all)
		for i, p := range f.series[aws.ToString(q.MetricStat.Metric.Dimensions[0].Value)] {
			if !p.at.Before(aws.ToTime(in.StartTime)) && p.at.Before(aws.ToTime(in.EndTime)) {
				all = append(all, entry{id, &f.series[aws.ToString(q.MetricStat.Metric.Dimensions[0].Value)][i]})
			}
		}
		if len(all) == n {
			all = append(all, entry{id: id})
		}
	}
	from, _ := strconv.Atoi(aws.ToString(in.NextToken))
	to := len(all)
	if f.pageSize > 0 {
		to = min(from+f.pageSize, len(all))
	}
	out := &cloudwatch.GetMetricDataOutput{}
	at := map[string]int{}
	for _, e := range all[from:to] {
		i, ok := at[e.id]
		if !ok {
			i, at[e.id] = len(out.MetricDataResults), len(out.MetricDataResults)
			out.MetricDataResults = append(out.MetricDataResults, cwtypes.MetricDataResult{Id: aws.String(e.id), StatusCode: cwtypes.StatusCodeComplete})
		}
		if e.p != nil {
			r := &out.MetricDataResults[i]
			r.Timestamps, r.Values = append(r.Timestamps, e.p.at), append(r.Values, e.p.age)
		}
	}
	if to < len(all) {
		out.NextToken = aws.String(strconv.Itoa(to))
	}
	return out, nil
}

func (f *fakeCW) recorded() []cloudwatch.GetMetricDataInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]cloudwatch.GetMetricDataInput(nil), f.calls...)
}

// queriedQueues are the queue names the calls asked about, once per query.
func queriedQueues(calls []cloudwatch.GetMetricDataInput) []string {
	var names []string
	for _, c := range calls {
		if c.NextToken != nil {
			continue // the same queries again, for the next page
		}
		for _, q := range c.MetricDataQueries {
			names = append(names, aws.ToString(q.MetricStat.Metric.Dimensions[0].Value))
		}
	}
	return names
}

func newPoller(cws map[string]*fakeCW) (*sqsstats.Poller, *fakeClients) {
	clients := &fakeClients{cw: map[string]sqsstats.CloudWatchAPI{}}
	for region, cw := range cws {
		clients.cw[region] = cw
	}
	p := sqsstats.NewPoller(clients)
	p.Now = func() time.Time { return observed }
	return p, clients
}

func target(region, role, name string) sqsstats.Target {
	return sqsstats.Target{Region: region, RoleARN: role, Queue: queueurl.Queue{Region: region, Account: "123456789012", Name: name}}
}

func nn(name string) types.NamespacedName { return types.NamespacedName{Namespace: "shop", Name: name} }

func wantAge(t *testing.T, p *sqsstats.Poller, d types.NamespacedName, want plan.AgeSample) {
	t.Helper()
	got, problem := p.Age(d)
	if problem != nil || got == nil || *got != want {
		t.Errorf("Age(%s) = %v, %+v; want %v", d, got, problem, want)
	}
}

func TestPollerFetches1200QueuesIn3Calls(t *testing.T) {
	const queues = 1200
	cw := &fakeCW{series: map[string][]point{}}
	for i := range queues {
		cw.series[fmt.Sprintf("q-%04d", i)] = []point{
			{observed.Add(-3 * time.Minute), float64(5000 + i)}, // older first: the newest must win anyway
			{observed.Add(-1 * time.Minute), float64(i)},
		}
	}
	p, clients := newPoller(map[string]*fakeCW{"us-east-1": cw})
	for i := range queues {
		p.Watch(nn(fmt.Sprintf("d-%04d", i)), target("us-east-1", "", fmt.Sprintf("q-%04d", i)))
	}

	for poll := 1; poll <= 2; poll++ {
		before := len(cw.recorded())
		p.Poll(context.Background())
		calls := cw.recorded()[before:]
		sizes := make([]int, len(calls))
		for i, c := range calls {
			sizes[i] = len(c.MetricDataQueries)
		}
		t.Logf("poll %d of %d queues: %d GetMetricData calls, queries per call %v", poll, queues, len(calls), sizes)
		if len(calls) != 3 {
			t.Fatalf("poll %d made %d GetMetricData calls for %d queues, want 3", poll, len(calls), queues)
		}
		asked := map[string]int{}
		for i, c := range calls {
			if len(c.MetricDataQueries) > 500 {
				t.Errorf("call %d has %d queries, more than 500", i, len(c.MetricDataQueries))
			}
			if got, want := aws.ToTime(c.EndTime), observed; !got.Equal(want) {
				t.Errorf("call %d EndTime = %v, want now %v", i, got, want)
			}
			if got, want := aws.ToTime(c.StartTime), observed.Add(-10*time.Minute); !got.Equal(want) {
				t.Errorf("call %d StartTime = %v, want now - window %v", i, got, want)
			}
			for _, q := range c.MetricDataQueries {
				ms := q.MetricStat
				m := ms.Metric
				if aws.ToString(m.Namespace) != "AWS/SQS" || aws.ToString(m.MetricName) != "ApproximateAgeOfOldestMessage" ||
					len(m.Dimensions) != 1 || aws.ToString(m.Dimensions[0].Name) != "QueueName" ||
					aws.ToString(ms.Stat) != "Maximum" || aws.ToInt32(ms.Period) != 60 || q.Expression != nil {
					t.Fatalf("call %d query %s = %s %s %v %s/%d, want AWS/SQS ApproximateAgeOfOldestMessage by QueueName, Maximum over 60 s",
						i, aws.ToString(q.Id), aws.ToString(m.Namespace), aws.ToString(m.MetricName), m.Dimensions, aws.ToString(ms.Stat), aws.ToInt32(ms.Period))
				}
				asked[aws.ToString(m.Dimensions[0].Value)]++
			}
		}
		if len(asked) != queues {
			t.Errorf("poll %d asked about %d distinct queues, want %d", poll, len(asked), queues)
		}
		for q, n := range asked {
			if n != 1 {
				t.Errorf("poll %d asked about %s %d times", poll, q, n)
			}
		}
		for i := range queues {
			wantAge(t, p, nn(fmt.Sprintf("d-%04d", i)), plan.AgeSample{Age: time.Duration(i) * time.Second, At: observed.Add(-time.Minute)})
		}
	}
	for _, a := range clients.askedFor() {
		if a != "CloudWatch us-east-1 " {
			t.Errorf("asked for client %q, want only CloudWatch of us-east-1 without a role", a)
		}
	}
}

func TestPollerAsksOnceForAQueueSharedByTwoDrainers(t *testing.T) {
	cw := &fakeCW{series: map[string][]point{"orders": {{observed.Add(-time.Minute), 90}}}}
	p, _ := newPoller(map[string]*fakeCW{"us-east-1": cw})
	p.Watch(nn("a"), target("us-east-1", "", "orders"))
	p.Watch(nn("b"), target("us-east-1", "", "orders"))
	p.Poll(context.Background())

	if got := queriedQueues(cw.recorded()); len(got) != 1 || got[0] != "orders" {
		t.Errorf("queried %v, want orders once", got)
	}
	for _, d := range []string{"a", "b"} {
		wantAge(t, p, nn(d), plan.AgeSample{Age: 90 * time.Second, At: observed.Add(-time.Minute)})
	}
}

func TestPollerCallsEachRegionWithItsOwnClient(t *testing.T) {
	us := &fakeCW{series: map[string][]point{"orders": {{observed.Add(-time.Minute), 10}}, "refunds": {{observed.Add(-time.Minute), 20}}}}
	eu := &fakeCW{series: map[string][]point{"orders": {{observed.Add(-2 * time.Minute), 30}}}}
	p, clients := newPoller(map[string]*fakeCW{"us-east-1": us, "eu-west-1": eu})
	p.Watch(nn("us-orders"), target("us-east-1", "", "orders"))
	p.Watch(nn("us-refunds"), target("us-east-1", "", "refunds"))
	p.Watch(nn("eu-orders"), target("eu-west-1", "", "orders"))
	p.Poll(context.Background())

	if got := us.recorded(); len(got) != 1 || strings.Join(queriedQueues(got), ",") != "orders,refunds" {
		t.Errorf("us-east-1 got %d calls for %v, want 1 call for orders,refunds", len(got), queriedQueues(got))
	}
	if got := eu.recorded(); len(got) != 1 || strings.Join(queriedQueues(got), ",") != "orders" {
		t.Errorf("eu-west-1 got %d calls for %v, want 1 call for orders", len(got), queriedQueues(got))
	}
	asked := map[string]bool{}
	for _, a := range clients.askedFor() {
		asked[a] = true
	}
	if !asked["CloudWatch us-east-1 "] || !asked["CloudWatch eu-west-1 "] || len(asked) != 2 {
		t.Errorf("asked for clients %v, want CloudWatch of us-east-1 and of eu-west-1", clients.askedFor())
	}
	wantAge(t, p, nn("us-orders"), plan.AgeSample{Age: 10 * time.Second, At: observed.Add(-time.Minute)})
	wantAge(t, p, nn("us-refunds"), plan.AgeSample{Age: 20 * time.Second, At: observed.Add(-time.Minute)})
	wantAge(t, p, nn("eu-orders"), plan.AgeSample{Age: 30 * time.Second, At: observed.Add(-2 * time.Minute)})
}

func TestPollerFollowsNextToken(t *testing.T) {
	cw := &fakeCW{series: map[string][]point{}, pageSize: 100}
	p, _ := newPoller(map[string]*fakeCW{"us-east-1": cw})
	for i := range 250 {
		name := fmt.Sprintf("q-%03d", i)
		cw.series[name] = []point{{observed.Add(-time.Minute), float64(i)}}
		p.Watch(nn(name), target("us-east-1", "", name))
	}
	p.Poll(context.Background())

	calls := cw.recorded()
	var tokens []string
	for _, c := range calls {
		tokens = append(tokens, aws.ToString(c.NextToken))
		if len(c.MetricDataQueries) != 250 {
			t.Errorf("a page request has %d queries, want the same 250", len(c.MetricDataQueries))
		}
	}
	if strings.Join(tokens, ",") != ",100,200" {
		t.Errorf("NextToken of the calls = %q, want \"\", \"100\", \"200\"", tokens)
	}
	for i := range 250 {
		name := fmt.Sprintf("q-%03d", i)
		wantAge(t, p, nn(name), plan.AgeSample{Age: time.Duration(i) * time.Second, At: observed.Add(-time.Minute)})
	}
}

func TestPollerKeepsTheNewestDatapointOfASeriesSplitAcrossPages(t *testing.T) {
	cw := &fakeCW{pageSize: 2, series: map[string][]point{"orders": {
		{observed.Add(-5 * time.Minute), 500},
		{observed.Add(-4 * time.Minute), 400},
		// second page:
		{observed.Add(-3 * time.Minute), 300},
		{observed.Add(-1 * time.Minute), 100},
	}}}
	p, _ := newPoller(map[string]*fakeCW{"us-east-1": cw})
	p.Watch(nn("orders"), target("us-east-1", "", "orders"))
	p.Poll(context.Background())

	if n := len(cw.recorded()); n != 2 {
		t.Errorf("made %d calls, want 2 pages", n)
	}
	wantAge(t, p, nn("orders"), plan.AgeSample{Age: 100 * time.Second, At: observed.Add(-time.Minute)})
}

func TestPollerKeepsTheNewestDatapoint(t *testing.T) {
	for _, tc := range []struct {
		name   string
		series []point
		want   plan.AgeSample
	}{
		{"one", []point{{observed.Add(-time.Minute), 42}}, plan.AgeSample{Age: 42 * time.Second, At: observed.Add(-time.Minute)}},
		{"newest first", []point{{observed.Add(-time.Minute), 60}, {observed.Add(-2 * time.Minute), 900}, {observed.Add(-3 * time.Minute), 5}},
			plan.AgeSample{Age: time.Minute, At: observed.Add(-time.Minute)}},
		{"newest last", []point{{observed.Add(-3 * time.Minute), 5}, {observed.Add(-2 * time.Minute), 900}, {observed.Add(-time.Minute), 60}},
			plan.AgeSample{Age: time.Minute, At: observed.Add(-time.Minute)}},
		{"newest in the middle", []point{{observed.Add(-2 * time.Minute), 30}, {observed.Add(-time.Minute), 60}, {observed.Add(-5 * time.Minute), 600}},
			plan.AgeSample{Age: time.Minute, At: observed.Add(-time.Minute)}},
		{"newest is zero", []point{{observed.Add(-2 * time.Minute), 700}, {observed.Add(-time.Minute), 0}},
			plan.AgeSample{Age: 0, At: observed.Add(-time.Minute)}},
		{"fractional seconds", []point{{observed.Add(-time.Minute), 1.5}}, plan.AgeSample{Age: 1500 * time.Millisecond, At: observed.Add(-time.Minute)}},
		{"older than the window is not asked for", []point{{observed.Add(-time.Hour), 9999}, {observed.Add(-9 * time.Minute), 540}},
			plan.AgeSample{Age: 9 * time.Minute, At: observed.Add(-9 * time.Minute)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cw := &fakeCW{series: map[string][]point{"orders": tc.series}}
			p, _ := newPoller(map[string]*fakeCW{"us-east-1": cw})
			p.Watch(nn("orders"), target("us-east-1", "", "orders"))
			p.Poll(context.Background())
			wantAge(t, p, nn("orders"), tc.want)
		})
	}
}

func TestPollerReportsNoAgeForAQueueWithoutDatapoints(t *testing.T) {
	cw := &fakeCW{series: map[string][]point{
		"busy":  {{observed.Add(-time.Minute), 10}},
		"stale": {{observed.Add(-time.Hour), 10}}, // outside the 10-minute window
	}}
	p, _ := newPoller(map[string]*fakeCW{"us-east-1": cw})
	for _, q := range []string{"busy", "quiet", "stale"} {
		p.Watch(nn(q), target("us-east-1", "", q))
	}
	p.Poll(context.Background())

	for _, q := range []string{"quiet", "stale"} {
		if age, problem := p.Age(nn(q)); age != nil || problem != nil {
			t.Errorf("Age(%s) = %v, %+v; want nil, nil (no datapoint)", q, age, problem)
		}
	}
	wantAge(t, p, nn("busy"), plan.AgeSample{Age: 10 * time.Second, At: observed.Add(-time.Minute)})
}

func TestPollerReportsCloudWatchErrorsForThatRegionOnly(t *testing.T) {
	for _, tc := range []struct {
		code, reason string
	}{
		{"ThrottlingException", v1alpha1.ReasonThrottling},
		{"AccessDenied", v1alpha1.ReasonAccessDenied},
		{"InternalServiceError", v1alpha1.ReasonAWSError},
	} {
		t.Run(tc.code, func(t *testing.T) {
			us := &fakeCW{series: map[string][]point{"orders": {{observed.Add(-time.Minute), 10}}}}
			eu := &fakeCW{err: &smithy.OperationError{ServiceID: "CloudWatch", OperationName: "GetMetricData",
				Err: &smithy.GenericAPIError{Code: tc.code, Message: "from AWS"}}}
			p, _ := newPoller(map[string]*fakeCW{"us-east-1": us, "eu-west-1": eu})
			p.Watch(nn("us"), target("us-east-1", "", "orders"))
			p.Watch(nn("eu-a"), target("eu-west-1", "", "orders"))
			p.Watch(nn("eu-b"), target("eu-west-1", "", "refunds"))
			p.Poll(context.Background())

			for _, d := range []string{"eu-a", "eu-b"} {
				age, problem := p.Age(nn(d))
				if age != nil || problem == nil || problem.Reason != tc.reason || !strings.Contains(problem.Message, tc.code) {
					t.Errorf("Age(%s) = %v, %+v; want reason %s with %s in the message", d, age, problem, tc.reason, tc.code)
				}
			}
			wantAge(t, p, nn("us"), plan.AgeSample{Age: 10 * time.Second, At: observed.Add(-time.Minute)})

			eu.mu.Lock()
			eu.err, eu.series = nil, map[string][]point{"orders": {{observed.Add(-time.Minute), 70}}}
			eu.mu.Unlock()
			p.Poll(context.Background())
			wantAge(t, p, nn("eu-a"), plan.AgeSample{Age: 70 * time.Second, At: observed.Add(-time.Minute)})
		})
	}
}

func TestPollerSaysNotPolledYetBeforeTheFirstPoll(t *testing.T) {
	cw := &fakeCW{series: map[string][]point{"orders": {{observed.Add(-time.Minute), 10}}}}
	p, _ := newPoller(map[string]*fakeCW{"us-east-1": cw})
	for _, d := range []types.NamespacedName{nn("never-watched"), nn("orders")} {
		if d.Name == "orders" {
			p.Watch(d, target("us-east-1", "", "orders"))
		}
		age, problem := p.Age(d)
		if age != nil || problem == nil || problem.Reason != "NotPolledYet" {
			t.Errorf("Age(%s) before any poll = %v, %+v; want reason NotPolledYet", d, age, problem)
		}
	}
	if n := len(cw.recorded()); n != 0 {
		t.Errorf("Watch made %d CloudWatch calls itself, want none", n)
	}
}

// A queue watched after the last poll has not been asked about: saying it
// has no datapoint (nil, nil, which the plan reports as NoDatapoint) would
// be false until the next poll.
func TestPollerSaysNotPolledYetForAQueueWatchedAfterTheLastPoll(t *testing.T) {
	cw := &fakeCW{series: map[string][]point{"orders": {{observed.Add(-time.Minute), 10}}, "refunds": {{observed.Add(-time.Minute), 20}}}}
	p, _ := newPoller(map[string]*fakeCW{"us-east-1": cw, "eu-west-1": cw})
	p.Watch(nn("orders"), target("us-east-1", "", "orders"))
	p.Poll(context.Background())
	p.Watch(nn("refunds"), target("us-east-1", "", "refunds"))
	p.Watch(nn("eu"), target("eu-west-1", "", "orders"))

	for _, d := range []string{"refunds", "eu"} {
		age, problem := p.Age(nn(d))
		if age != nil || problem == nil || problem.Reason != "NotPolledYet" {
			t.Errorf("Age(%s) watched after the last poll = %v, %+v; want reason NotPolledYet", d, age, problem)
		}
	}
}

func TestPollerForgetStopsWatchingTheDrainer(t *testing.T) {
	cw := &fakeCW{series: map[string][]point{"orders": {{observed.Add(-time.Minute), 10}}, "refunds": {{observed.Add(-time.Minute), 20}}}}
	p, _ := newPoller(map[string]*fakeCW{"us-east-1": cw})
	p.Watch(nn("orders"), target("us-east-1", "", "orders"))
	p.Watch(nn("refunds"), target("us-east-1", "", "refunds"))
	p.Poll(context.Background())
	p.Forget(nn("refunds"))

	if age, problem := p.Age(nn("refunds")); age != nil || problem == nil {
		t.Errorf("Age of a forgotten drainer = %v, %+v; want no age and a problem", age, problem)
	}
	before := len(cw.recorded())
	p.Poll(context.Background())
	if got := queriedQueues(cw.recorded()[before:]); strings.Join(got, ",") != "orders" {
		t.Errorf("after Forget the poll asked about %v, want only orders", got)
	}
	wantAge(t, p, nn("orders"), plan.AgeSample{Age: 10 * time.Second, At: observed.Add(-time.Minute)})

	p.Forget(nn("orders"))
	before = len(cw.recorded())
	p.Poll(context.Background())
	if n := len(cw.recorded()) - before; n != 0 {
		t.Errorf("a poll with nothing watched made %d CloudWatch calls, want none", n)
	}
}

// waitFor polls cond until it holds or the bound passes.
func waitFor(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %v", what, bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func asks(cw *fakeCW, queue string) func() bool {
	return func() bool {
		for _, q := range queriedQueues(cw.recorded()) {
			if q == queue {
				return true
			}
		}
		return false
	}
}

func TestPollerStartPollsAtOnceAndSoonAfterANewQueue(t *testing.T) {
	now := time.Now()
	cw := &fakeCW{series: map[string][]point{"orders": {{now.Add(-time.Minute), 10}}, "refunds": {{now.Add(-time.Minute), 20}}}}
	p, _ := newPoller(map[string]*fakeCW{"us-east-1": cw})
	p.Now = nil          // the real clock
	p.Period = time.Hour // so that no poll below comes from the ticker
	p.Settle = 3 * time.Second
	p.Watch(nn("orders"), target("us-east-1", "", "orders"))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	started := time.Now()
	go func() { done <- p.Start(ctx) }()

	// At once: well before the settle pause that follows a new queue.
	waitFor(t, 2*time.Second, "the first poll", asks(cw, "orders"))
	t.Logf("first poll %v after Start", time.Since(started))
	waitFor(t, time.Second, "Age of orders", func() bool { s, _ := p.Age(nn("orders")); return s != nil })

	p.Watch(nn("refunds"), target("us-east-1", "", "refunds"))
	watched := time.Now()
	waitFor(t, 10*time.Second, "a poll for the newly watched refunds", asks(cw, "refunds"))
	t.Logf("refunds polled %v after Watch", time.Since(watched))
	waitFor(t, time.Second, "Age of refunds", func() bool { s, _ := p.Age(nn("refunds")); return s != nil })
	wantAge(t, p, nn("refunds"), plan.AgeSample{Age: 20 * time.Second, At: now.Add(-time.Minute)})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Start returned %v when its context ended, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Start did not return within 5s of its context ending")
	}
}

func TestPollerStartPollsEveryPeriodUntilTheContextEnds(t *testing.T) {
	cw := &fakeCW{series: map[string][]point{}}
	p, _ := newPoller(map[string]*fakeCW{"us-east-1": cw})
	p.Now = nil
	p.Period = 20 * time.Millisecond
	p.Watch(nn("orders"), target("us-east-1", "", "orders"))

	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Start(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Start returned %v when its context ended, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Start did not return within 3.5s of its context ending (5s after it began)")
	}
	polls := len(cw.recorded())
	t.Logf("%d polls in 1.5s with a 20ms period", polls)
	// One poll at once, one after the new queue's one-second pause, then
	// about one every 20ms for the remaining half second.
	if polls < 5 {
		t.Errorf("Start polled %d times in 1.5s with a 20ms period, want at least 5", polls)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(cw.recorded()); n != polls {
		t.Errorf("%d more polls after Start returned", n-polls)
	}
}
