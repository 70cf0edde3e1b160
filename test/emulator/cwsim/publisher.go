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
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The AWS/SQS metrics the Publisher writes, with dimension QueueName.
const (
	SQSNamespace             = "AWS/SQS"
	MetricVisible            = "ApproximateNumberOfMessagesVisible"
	MetricNotVisible         = "ApproximateNumberOfMessagesNotVisible"
	MetricDelayed            = "ApproximateNumberOfMessagesDelayed"
	MetricAgeOfOldestMessage = "ApproximateAgeOfOldestMessage"
	QueueNameDimension       = "QueueName"

	// poisonReceiveCount: CloudWatch documents that a message received
	// three times or more without being deleted stops counting for
	// ApproximateAgeOfOldestMessage, which then points at the oldest
	// message received fewer times.
	poisonReceiveCount = 3
)

// PublisherOptions configure a Publisher.
type PublisherOptions struct {
	// SQSEndpoint is the fauxqs base URL, for example
	// http://127.0.0.1:4566. Required.
	SQSEndpoint string
	// Period between publishes in Run. Default 60s, as SQS publishes.
	Period time.Duration
	// HTTPClient reads the inspection API. Default: a client with a 30s
	// timeout.
	HTTPClient *http.Client
	// Now is the clock that stamps datapoints and ages messages. Default
	// time.Now. fauxqs stamps messages with its own clock, so run both on
	// one machine.
	Now func() time.Time
	// OnPublish, if set, is called by Run after every publish.
	OnPublish func(PublishResult, error)
}

// Publisher writes the AWS/SQS metrics of the fauxqs emulator's queues
// into a Server, the way SQS publishes them to CloudWatch: every period,
// for every queue, ApproximateNumberOfMessagesVisible, ...NotVisible,
// ...Delayed and ApproximateAgeOfOldestMessage, each one datapoint
// stamped with the publish time.
//
// It reads fauxqs's inspection API (GET /_fauxqs/queues and
// GET /_fauxqs/queues/<name>), which lists every message of a queue as
// ready, delayed or in flight with its sentTimestamp. What it cannot do:
//
//   - fauxqs moves expired delayed and in-flight messages back to "ready"
//     only when its timers run (on a receive or during long polls), and its
//     inspection does not run them; the Publisher therefore classifies a
//     delayed message whose delayUntil has passed, and an in-flight message
//     whose visibilityDeadline has passed, as visible. Its counts can be
//     more current than fauxqs's own GetQueueAttributes for a moment.
//   - The inspection returns every message body, so a publish costs time
//     and memory in proportion to the messages in the queues (fine for tens
//     of thousands, slow for millions).
//   - Only those four metrics: no NumberOfMessagesSent/Received/Deleted,
//     NumberOfEmptyReceives or SentMessageSize (fauxqs exposes no counters).
//   - Every queue is published every period, idle or not (SQS stops
//     publishing for queues inactive for about six hours).
//   - The age counts ready, in-flight and delayed messages (the oldest
//     "non-deleted" message), skipping messages received three times or
//     more unless only such messages remain.
//   - CloudWatch's ingestion delay is not modelled here; use
//     Options.VisibilityDelay on the Server for that.
type Publisher struct {
	sink *Server
	opts PublisherOptions
	base *url.URL
}

// QueueMetrics are the values published for one queue.
type QueueMetrics struct {
	QueueName  string
	Visible    int
	NotVisible int
	Delayed    int
	// AgeSeconds is ApproximateAgeOfOldestMessage: whole seconds since
	// the oldest message was sent, 0 when the queue is empty.
	AgeSeconds int64
}

// PublishResult describes one publish.
type PublishResult struct {
	At      time.Time
	Queues  []QueueMetrics
	Metrics int // datapoints written
}

// NewPublisher returns a Publisher that writes into sink.
func NewPublisher(sink *Server, opts PublisherOptions) (*Publisher, error) {
	if sink == nil {
		return nil, errors.New("cwsim: NewPublisher needs a Server")
	}
	base, err := url.Parse(strings.TrimRight(opts.SQSEndpoint, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("cwsim: SQS endpoint %q is not an http(s) URL", opts.SQSEndpoint)
	}
	if opts.Period <= 0 {
		opts.Period = time.Minute
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Publisher{sink: sink, opts: opts, base: base}, nil
}

// Run publishes at once and then every period until ctx is done, calling
// OnPublish after each publish. A failed publish does not stop it.
func (p *Publisher) Run(ctx context.Context) error {
	t := time.NewTicker(p.opts.Period)
	defer t.Stop()
	for {
		res, err := p.PublishOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if p.opts.OnPublish != nil {
			p.opts.OnPublish(res, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// PublishOnce reads every queue and writes its four metrics. A queue that
// disappears between the listing and its inspection is skipped; a queue
// that cannot be read is skipped and reported in the returned error while
// the others are still published.
func (p *Publisher) PublishOnce(ctx context.Context) (PublishResult, error) {
	res := PublishResult{At: p.opts.Now()}
	var list []fauxqsQueueSummary
	if _, err := p.getJSON(ctx, "/_fauxqs/queues", &list); err != nil {
		return res, fmt.Errorf("listing fauxqs queues: %w", err)
	}
	var errs []error
	for _, q := range list {
		var detail fauxqsQueue
		found, err := p.getJSON(ctx, "/_fauxqs/queues/"+url.PathEscape(q.Name), &detail)
		if err != nil {
			errs = append(errs, fmt.Errorf("inspecting queue %s: %w", q.Name, err))
			continue
		}
		if !found {
			continue
		}
		m := queueMetrics(q.Name, detail, res.At)
		dims := []Dimension{{Name: QueueNameDimension, Value: m.QueueName}}
		p.sink.PutValue(SQSNamespace, MetricVisible, dims, res.At, float64(m.Visible), "Count")
		p.sink.PutValue(SQSNamespace, MetricNotVisible, dims, res.At, float64(m.NotVisible), "Count")
		p.sink.PutValue(SQSNamespace, MetricDelayed, dims, res.At, float64(m.Delayed), "Count")
		p.sink.PutValue(SQSNamespace, MetricAgeOfOldestMessage, dims, res.At, float64(m.AgeSeconds), "Seconds")
		res.Queues = append(res.Queues, m)
		res.Metrics += 4
	}
	return res, errors.Join(errs...)
}

// The fauxqs 1.9.2 inspection shapes, as far as the Publisher reads them.
// GET /_fauxqs/queues returns a list of fauxqsQueueSummary; GET
// /_fauxqs/queues/<name> returns a fauxqsQueue, or 404 with
// {"error": "Queue '<name>' not found"}. Times are epoch milliseconds.
type fauxqsQueueSummary struct {
	Name                     string `json:"name"`
	URL                      string `json:"url"`
	ApproximateMessageCount  int    `json:"approximateMessageCount"`
	ApproximateInflightCount int    `json:"approximateInflightCount"`
	ApproximateDelayedCount  int    `json:"approximateDelayedCount"`
}

type fauxqsMessage struct {
	MessageID               string   `json:"messageId"`
	SentTimestamp           float64  `json:"sentTimestamp"`
	ApproximateReceiveCount int      `json:"approximateReceiveCount"`
	DelayUntil              *float64 `json:"delayUntil,omitempty"`
}

type fauxqsInflight struct {
	Message            fauxqsMessage `json:"message"`
	VisibilityDeadline float64       `json:"visibilityDeadline"`
}

type fauxqsQueue struct {
	Name     string `json:"name"`
	Messages struct {
		Ready    []fauxqsMessage  `json:"ready"`
		Delayed  []fauxqsMessage  `json:"delayed"`
		Inflight []fauxqsInflight `json:"inflight"`
	} `json:"messages"`
}

// queueMetrics derives the four metrics from an inspected queue at now.
func queueMetrics(name string, q fauxqsQueue, now time.Time) QueueMetrics {
	nowMs := float64(now.UnixMilli())
	m := QueueMetrics{QueueName: name}
	all := make([]fauxqsMessage, 0, len(q.Messages.Ready)+len(q.Messages.Delayed)+len(q.Messages.Inflight))
	m.Visible = len(q.Messages.Ready)
	all = append(all, q.Messages.Ready...)
	for _, msg := range q.Messages.Delayed {
		if msg.DelayUntil != nil && *msg.DelayUntil > nowMs {
			m.Delayed++
		} else {
			m.Visible++
		}
		all = append(all, msg)
	}
	for _, e := range q.Messages.Inflight {
		if e.VisibilityDeadline > nowMs {
			m.NotVisible++
		} else {
			m.Visible++
		}
		all = append(all, e.Message)
	}

	oldest, oldestAny := math.Inf(1), math.Inf(1)
	for _, msg := range all {
		oldestAny = min(oldestAny, msg.SentTimestamp)
		if msg.ApproximateReceiveCount < poisonReceiveCount {
			oldest = min(oldest, msg.SentTimestamp)
		}
	}
	if math.IsInf(oldest, 1) {
		oldest = oldestAny
	}
	if !math.IsInf(oldest, 1) && nowMs > oldest {
		m.AgeSeconds = int64((nowMs - oldest) / 1000)
	}
	return m
}

// getJSON GETs path and decodes the JSON body into v. It reports false,
// nil for a 404.
func (p *Publisher) getJSON(ctx context.Context, path string, v any) (bool, error) {
	target := p.base.String() + path // path is already escaped
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return false, err
	}
	resp, err := p.opts.HTTPClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		_, _ = io.Copy(io.Discard, resp.Body)
		return false, nil
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return false, fmt.Errorf("GET %s: %s: %s", target, resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return false, fmt.Errorf("GET %s: decoding JSON: %w", target, err)
	}
	return true, nil
}
