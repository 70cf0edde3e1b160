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
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// The testdata files are verbatim output of fauxqs 1.9.2's inspection API
// after: CreateQueue orders, empty and jobs.fifo; SendMessage "one" to
// orders; one second later "two", "three-delayed" (DelaySeconds 600) and
// "four"; ReceiveMessage of one message with VisibilityTimeout 300 (it
// got "one"); SendMessage "f1" to jobs.fifo.
const (
	// sentOne is the sentTimestamp of "one", the oldest message of orders,
	// in flight until oneVisibleAgain; "three-delayed" is delayed until
	// threeDelayedUntil.
	sentOne           = 1795304349766
	oneVisibleAgain   = 1795304651060
	threeDelayedUntil = 1795304951030
	sentF1            = 1795304351635
)

// fakeFauxqs serves the captured inspection output from testdata, with
// fauxqs's 404 for unknown queues. override answers a path with a status
// code instead; edit, if set, may change a queue's document first.
func fakeFauxqs(t *testing.T, override map[string]int, edit func(queue string, doc map[string]any)) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code, ok := override[r.URL.Path]; ok {
			w.WriteHeader(code)
			_, _ = fmt.Fprintf(w, `{"error":"injected %d"}`, code)
			return
		}
		var file string
		queue, isQueue := strings.CutPrefix(r.URL.Path, "/_fauxqs/queues/")
		switch {
		case r.URL.Path == "/_fauxqs/queues":
			file = "fauxqs-queues.json"
		case isQueue:
			file = "fauxqs-queue-" + queue + ".json"
		default:
			http.NotFound(w, r)
			return
		}
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			// fauxqs's own 404 for an unknown queue
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusNotFound)
			_, _ = fmt.Fprintf(w, `{"error":"Queue '%s' not found"}`, queue)
			return
		}
		if isQueue && edit != nil {
			var doc map[string]any
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Errorf("testdata %s: %v", file, err)
			}
			edit(queue, doc)
			b, _ = json.Marshal(doc)
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(b)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// publishAt publishes once with the clock at nowMs and returns the
// simulator's client and the result.
func publishAt(t *testing.T, sqsURL string, nowMs int64) (*cloudwatch.Client, PublishResult, error) {
	t.Helper()
	clock := &fixedClock{now: time.UnixMilli(nowMs).UTC()}
	sim, c := newSim(t, Options{Now: clock.Now})
	pub, err := NewPublisher(sim, PublisherOptions{SQSEndpoint: sqsURL, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	res, err := pub.PublishOnce(ctxT(t))
	return c, res, err
}

// sqsMetrics reads the four AWS/SQS metrics of queue back through the SDK.
func sqsMetrics(t *testing.T, c *cloudwatch.Client, queue string, at time.Time) map[string][]float64 {
	t.Helper()
	names := []string{MetricVisible, MetricNotVisible, MetricDelayed, MetricAgeOfOldestMessage}
	var qs []types.MetricDataQuery
	for i, n := range names {
		qs = append(qs, statQuery(fmt.Sprintf("m%d", i), SQSNamespace, n, 60, "Maximum", dims(QueueNameDimension, queue)...))
	}
	out, err := c.GetMetricData(ctxT(t), &cloudwatch.GetMetricDataInput{
		MetricDataQueries: qs,
		StartTime:         aws.Time(at.Add(-5 * time.Minute)),
		EndTime:           aws.Time(at.Add(time.Minute)),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]float64{}
	for i, n := range names {
		r := resultByID(t, out, fmt.Sprintf("m%d", i))
		got[n] = r.Values
		for _, ts := range r.Timestamps {
			if want := at.Truncate(time.Minute); !ts.Equal(want) {
				t.Errorf("%s %s datapoint at %v, want the publish minute %v", queue, n, ts, want)
			}
		}
	}
	return got
}

func TestPublisherWritesSQSMetricsFromFauxqsInspection(t *testing.T) {
	now := int64(sentOne + 125_000)
	c, res, err := publishAt(t, fakeFauxqs(t, nil, nil), now)
	if err != nil {
		t.Fatalf("PublishOnce: %v", err)
	}
	if len(res.Queues) != 3 || res.Metrics != 12 {
		t.Errorf("published %d queues and %d metrics, want 3 and 12", len(res.Queues), res.Metrics)
	}
	at := time.UnixMilli(now)
	tests := map[string]map[string]float64{
		// "two" and "four" ready, "one" in flight, "three-delayed" delayed;
		// "one" was sent 125 s ago.
		"orders":    {MetricVisible: 2, MetricNotVisible: 1, MetricDelayed: 1, MetricAgeOfOldestMessage: 125},
		"empty":     {MetricVisible: 0, MetricNotVisible: 0, MetricDelayed: 0, MetricAgeOfOldestMessage: 0},
		"jobs.fifo": {MetricVisible: 1, MetricNotVisible: 0, MetricDelayed: 0, MetricAgeOfOldestMessage: float64((now - sentF1) / 1000)},
	}
	for queue, want := range tests {
		got := sqsMetrics(t, c, queue, at)
		for metric, v := range want {
			if len(got[metric]) != 1 || got[metric][0] != v {
				t.Errorf("%s %s = %v, want [%v]", queue, metric, got[metric], v)
			}
		}
	}
}

func TestPublisherCountsExpiredDelaysAndVisibilityTimeoutsAsVisible(t *testing.T) {
	sqsURL := fakeFauxqs(t, nil, nil)
	tests := []struct {
		name                     string
		now                      int64
		visible, notVis, delayed float64
	}{
		{"visibility timeout of one expired", oneVisibleAgain + 1000, 3, 0, 1},
		{"delay of three-delayed expired too", threeDelayedUntil + 1000, 4, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := publishAt(t, sqsURL, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			got := sqsMetrics(t, c, "orders", time.UnixMilli(tc.now))
			want := map[string]float64{
				MetricVisible: tc.visible, MetricNotVisible: tc.notVis, MetricDelayed: tc.delayed,
				MetricAgeOfOldestMessage: float64((tc.now - sentOne) / 1000),
			}
			for metric, v := range want {
				if len(got[metric]) != 1 || got[metric][0] != v {
					t.Errorf("%s = %v, want [%v]", metric, got[metric], v)
				}
			}
		})
	}
}

func TestPublisherAgeSkipsMessagesReceivedThreeTimes(t *testing.T) {
	// "one", the oldest, has been received three times; the age then
	// points at "two", the oldest of the others (sent 1253 ms after "one").
	sqsURL := fakeFauxqs(t, nil, func(queue string, doc map[string]any) {
		if queue != "orders" {
			return
		}
		inflight := doc["messages"].(map[string]any)["inflight"].([]any)
		inflight[0].(map[string]any)["message"].(map[string]any)["approximateReceiveCount"] = 3
	})
	now := int64(sentOne + 60_000)
	c, _, err := publishAt(t, sqsURL, now)
	if err != nil {
		t.Fatal(err)
	}
	got := sqsMetrics(t, c, "orders", time.UnixMilli(now))[MetricAgeOfOldestMessage]
	if want := float64((now - 1795304351019) / 1000); len(got) != 1 || got[0] != want {
		t.Errorf("age = %v, want [%v] (the oldest message received fewer than three times)", got, want)
	}
}

func TestPublisherSkipsQueuesThatVanishOrFail(t *testing.T) {
	sqsURL := fakeFauxqs(t, map[string]int{
		"/_fauxqs/queues/jobs.fifo": http.StatusNotFound,            // deleted after the listing
		"/_fauxqs/queues/empty":     http.StatusInternalServerError, // broken
	}, nil)
	c, res, err := publishAt(t, sqsURL, sentOne+10_000)
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("error = %v, want one naming the queue that failed", err)
	}
	if len(res.Queues) != 1 || res.Queues[0].QueueName != "orders" || res.Metrics != 4 {
		t.Errorf("published %+v (%d metrics), want only orders", res.Queues, res.Metrics)
	}
	if got := sqsMetrics(t, c, "orders", time.UnixMilli(sentOne+10_000))[MetricVisible]; len(got) != 1 {
		t.Errorf("orders was not published: %v", got)
	}
}

func TestPublisherReportsAnUnreachableSQSEmulator(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	_, res, err := publishAt(t, url, sentOne)
	if err == nil || !strings.Contains(err.Error(), "listing fauxqs queues") || res.Metrics != 0 {
		t.Errorf("PublishOnce against a closed port: %v, %d metrics; want a listing error and nothing written", err, res.Metrics)
	}
	if _, err := NewPublisher(New(Options{}), PublisherOptions{SQSEndpoint: "127.0.0.1:4566"}); err == nil {
		t.Error("NewPublisher accepted an endpoint without a scheme")
	}
}

func TestPublisherRunPublishesEveryPeriod(t *testing.T) {
	sim := New(Options{})
	var mu sync.Mutex
	var results []PublishResult
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub, err := NewPublisher(sim, PublisherOptions{
		SQSEndpoint: fakeFauxqs(t, nil, nil),
		Period:      10 * time.Millisecond,
		OnPublish: func(res PublishResult, err error) {
			if err != nil {
				t.Errorf("publish: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			results = append(results, res)
			if len(results) == 3 {
				cancel()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- pub.Run(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v after cancellation, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not publish three times within 10s")
	}
	mu.Lock()
	defer mu.Unlock()
	for i, r := range results {
		if r.Metrics != 12 {
			t.Errorf("publish %d wrote %d metrics, want 12", i, r.Metrics)
		}
	}
	sim.mu.Lock()
	defer sim.mu.Unlock()
	sr := sim.store.lookup(SQSNamespace, MetricVisible, []Dimension{{QueueNameDimension, "orders"}})
	if sr == nil || len(sr.samples) < 3 {
		t.Errorf("orders visible series has %v, want a datapoint per publish", sr)
	}
}
