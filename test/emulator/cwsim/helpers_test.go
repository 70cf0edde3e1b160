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

package cwsim

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// t0 is a period-aligned instant used as "now" by most tests.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// fixedClock returns a clock tests can move.
type fixedClock struct{ now time.Time }

func (c *fixedClock) Now() time.Time { return c.now }

// newSim starts the simulator behind an httptest server and returns it
// with a real SDK client pointed at it.
func newSim(t *testing.T, opts Options) (*Server, *cloudwatch.Client) {
	t.Helper()
	if opts.Now == nil {
		opts.Now = (&fixedClock{now: t0}).Now
	}
	sim := New(opts)
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return sim, newClient(ts.URL)
}

// newClient is the SDK's CloudWatch client with static credentials and a
// retryer that does not sleep.
func newClient(url string) *cloudwatch.Client {
	return cloudwatch.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		BaseEndpoint: aws.String(url),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		},
	})
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dims(kv ...string) []types.Dimension {
	var out []types.Dimension
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, types.Dimension{Name: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}

func put(t *testing.T, c *cloudwatch.Client, ns string, data ...types.MetricDatum) {
	t.Helper()
	if _, err := c.PutMetricData(ctxT(t), &cloudwatch.PutMetricDataInput{Namespace: aws.String(ns), MetricData: data}); err != nil {
		t.Fatalf("PutMetricData: %v", err)
	}
}

func value(name string, ts time.Time, v float64, d ...types.Dimension) types.MetricDatum {
	return types.MetricDatum{MetricName: aws.String(name), Timestamp: aws.Time(ts), Value: aws.Float64(v), Dimensions: d}
}

func statQuery(id, ns, name string, period int32, stat string, d ...types.Dimension) types.MetricDataQuery {
	return types.MetricDataQuery{
		Id: aws.String(id),
		MetricStat: &types.MetricStat{
			Metric: &types.Metric{Namespace: aws.String(ns), MetricName: aws.String(name), Dimensions: d},
			Period: aws.Int32(period),
			Stat:   aws.String(stat),
		},
	}
}

// series is a result flattened for comparison.
type seriesOut struct {
	times  []time.Time
	values []float64
}

func flatten(r types.MetricDataResult) seriesOut {
	var s seriesOut
	for _, ts := range r.Timestamps {
		s.times = append(s.times, ts.UTC())
	}
	s.values = append(s.values, r.Values...)
	return s
}

func resultByID(t *testing.T, out *cloudwatch.GetMetricDataOutput, id string) types.MetricDataResult {
	t.Helper()
	for _, r := range out.MetricDataResults {
		if aws.ToString(r.Id) == id {
			return r
		}
	}
	t.Fatalf("no result with id %q in %d results", id, len(out.MetricDataResults))
	return types.MetricDataResult{}
}
