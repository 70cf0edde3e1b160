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
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
)

// CloudWatchAPI is the part of the CloudWatch client the poller uses.
type CloudWatchAPI interface {
	GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, opts ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

// MaxQueriesPerCall is GetMetricData's limit on queries in one request.
const MaxQueriesPerCall = 500

// metricKey names one queue's metric. CloudWatch is regional and answers
// for the account the credentials belong to, so a queue in another account
// needs a roleARN in that account; the account is in the key so that two
// same-named queues are never taken for one.
type metricKey struct {
	region, roleARN, account, queue string
}

// Poller is the one CloudWatch poller of the manager. Every period it
// fetches AWS/SQS ApproximateAgeOfOldestMessage for all watched queues,
// 500 queries a call, and caches the newest datapoint of each. Its cost
// grows with the number of distinct queues / 500, not with the number of
// reconciles. It runs only on the elected leader.
type Poller struct {
	Clients ClientSource
	// Period between polls; SQS publishes these metrics once a minute.
	Period time.Duration
	// Window is how far back datapoints are looked for (metrics arrive late).
	Window time.Duration
	// Settle is how long a poll that a newly watched queue asked for waits,
	// so that drainers created together share it. Default 1 s.
	Settle time.Duration
	Now    func() time.Time

	mu      sync.Mutex
	watched map[types.NamespacedName]metricKey
	ages    map[metricKey]plan.AgeSample
	errs    map[[2]string]*plan.Problem // by (region, role)
	polled  map[metricKey]bool          // the queues the last poll asked about
	kick    chan struct{}
}

// NewPoller returns a poller with the usual period (60 s) and window (10 min).
func NewPoller(clients ClientSource) *Poller {
	return &Poller{Clients: clients, Period: time.Minute, Window: 10 * time.Minute}
}

// Watch implements AgeSource. A queue not watched before is fetched soon,
// not a whole period later.
func (p *Poller) Watch(drainer types.NamespacedName, t Target) {
	k := metricKey{t.Region, t.RoleARN, t.Queue.Account, t.Queue.Name}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	if old, ok := p.watched[drainer]; ok && old == k {
		return
	}
	p.watched[drainer] = k
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Forget implements AgeSource.
func (p *Poller) Forget(drainer types.NamespacedName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.watched, drainer)
}

// Age implements AgeSource.
func (p *Poller) Age(drainer types.NamespacedName) (*plan.AgeSample, *plan.Problem) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k, ok := p.watched[drainer]
	if !ok || !p.polled[k] {
		return nil, &plan.Problem{Reason: v1alpha1.ReasonNotPolledYet, Message: "CloudWatch has not been asked about this queue yet"}
	}
	if problem := p.errs[[2]string{k.region, k.roleARN}]; problem != nil {
		return nil, problem
	}
	if s, ok := p.ages[k]; ok {
		return &s, nil
	}
	return nil, nil // no datapoint in the window: plan reports NoDatapoint
}

func (p *Poller) init() {
	if p.watched == nil {
		p.watched = map[types.NamespacedName]metricKey{}
		p.ages = map[metricKey]plan.AgeSample{}
		p.errs = map[[2]string]*plan.Problem{}
		p.polled = map[metricKey]bool{}
		p.kick = make(chan struct{}, 1)
	}
}

// NeedLeaderElection keeps followers from calling CloudWatch.
func (p *Poller) NeedLeaderElection() bool { return true }

// Start polls every period until ctx ends, and soon after a new queue is watched.
func (p *Poller) Start(ctx context.Context) error {
	p.mu.Lock()
	p.init()
	kick := p.kick
	p.mu.Unlock()
	if p.Period <= 0 {
		p.Period = time.Minute
	}
	ticker := time.NewTicker(p.Period)
	defer ticker.Stop()
	for {
		p.Poll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-kick:
			// Let the other drainers created at the same time join this poll.
			settle := p.Settle
			if settle <= 0 {
				settle = time.Second
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(settle):
			}
		}
	}
}

// Poll fetches the ages of all watched queues once.
func (p *Poller) Poll(ctx context.Context) {
	p.mu.Lock()
	p.init()
	// The watched queues by (region, role): one client, one series of calls.
	groups := map[[2]string]map[metricKey]bool{}
	for _, k := range p.watched {
		g := [2]string{k.region, k.roleARN}
		if groups[g] == nil {
			groups[g] = map[metricKey]bool{}
		}
		groups[g][k] = true
	}
	p.mu.Unlock()

	now := p.now()
	ages := map[metricKey]plan.AgeSample{}
	errs := map[[2]string]*plan.Problem{}
	polled := map[metricKey]bool{}
	for g, keys := range groups {
		// Within one (region, role) the credentials reach one account:
		// same-named queues of several accounts share one answer.
		seen := map[string]bool{}
		var names []string
		for k := range keys {
			polled[k] = true
			if !seen[k.queue] {
				seen[k.queue] = true
				names = append(names, k.queue)
			}
		}
		sort.Strings(names)
		got, err := fetchAges(ctx, p.Clients.CloudWatch(g[0], g[1]), names, now.Add(-p.Window), now)
		if err != nil {
			errs[g] = Classify(err)
			log.FromContext(ctx).Info("CloudWatch GetMetricData failed", "region", g[0], "role", g[1], "error", err.Error())
		}
		for k := range keys {
			if s, ok := got[k.queue]; ok {
				ages[k] = s
			}
		}
	}

	p.mu.Lock()
	p.ages, p.errs, p.polled = ages, errs, polled
	p.mu.Unlock()
}

// fetchAges asks CloudWatch for the newest ApproximateAgeOfOldestMessage
// (Maximum over 60 s) of each queue, in calls of at most 500 queries that
// follow NextToken. Queues without a datapoint in the window are absent.
func fetchAges(ctx context.Context, api CloudWatchAPI, queues []string, start, end time.Time) (map[string]plan.AgeSample, error) {
	ages := map[string]plan.AgeSample{}
	for from := 0; from < len(queues); from += MaxQueriesPerCall {
		batch := queues[from:min(from+MaxQueriesPerCall, len(queues))]
		queries := make([]cwtypes.MetricDataQuery, len(batch))
		for i, q := range batch {
			queries[i] = cwtypes.MetricDataQuery{
				Id: aws.String(fmt.Sprintf("q%d", i)),
				MetricStat: &cwtypes.MetricStat{
					Metric: &cwtypes.Metric{
						Namespace:  aws.String("AWS/SQS"),
						MetricName: aws.String("ApproximateAgeOfOldestMessage"),
						Dimensions: []cwtypes.Dimension{{Name: aws.String("QueueName"), Value: aws.String(q)}},
					},
					Period: aws.Int32(60),
					Stat:   aws.String("Maximum"),
				},
			}
		}
		in := &cloudwatch.GetMetricDataInput{
			MetricDataQueries: queries,
			StartTime:         aws.Time(start),
			EndTime:           aws.Time(end),
			ScanBy:            cwtypes.ScanByTimestampDescending,
		}
		for {
			out, err := api.GetMetricData(ctx, in)
			if err != nil {
				return ages, err
			}
			for _, r := range out.MetricDataResults {
				var i int
				if _, err := fmt.Sscanf(aws.ToString(r.Id), "q%d", &i); err != nil || i < 0 || i >= len(batch) {
					continue
				}
				// Pages may split a series; keep the newest point seen.
				for j := range min(len(r.Timestamps), len(r.Values)) {
					s := plan.AgeSample{Age: time.Duration(r.Values[j] * float64(time.Second)), At: r.Timestamps[j]}
					if old, ok := ages[batch[i]]; !ok || s.At.After(old.At) {
						ages[batch[i]] = s
					}
				}
			}
			if aws.ToString(out.NextToken) == "" {
				break
			}
			in.NextToken = out.NextToken
		}
	}
	return ages, nil
}

func (p *Poller) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}
