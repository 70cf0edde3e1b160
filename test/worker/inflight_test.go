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

package worker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/queuedrainer/queue-drainer/internal/worker"
)

// distant makes every receive and delete take latency more, like SQS in a
// region, and records how many were in flight at once.
type distant struct {
	worker.SQSAPI
	latency                  time.Duration
	receiving, deleting      atomic.Int64
	peakReceives, peakDelete atomic.Int64
	deleteCalls, deletedMsgs atomic.Int64
}

func enter(now, peak *atomic.Int64) {
	n := now.Add(1)
	for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
	}
}

func (d *distant) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	enter(&d.receiving, &d.peakReceives)
	defer d.receiving.Add(-1)
	time.Sleep(d.latency)
	return d.SQSAPI.ReceiveMessage(ctx, in, opts...)
}

func (d *distant) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	enter(&d.deleting, &d.peakDelete)
	defer d.deleting.Add(-1)
	time.Sleep(d.latency)
	d.deleteCalls.Add(1)
	d.deletedMsgs.Add(int64(len(in.Entries)))
	return d.SQSAPI.DeleteMessageBatch(ctx, in, opts...)
}

func TestAtSQSLatencyTheDefaultsKeepManyCallsInFlightAndDeletesInFullBatches(t *testing.T) {
	const n = 3000
	api, url := newQueue(t, "distant", nil)
	sendNumbered(t, api, url, n)
	d := &distant{SQSAPI: api, latency: 20 * time.Millisecond}
	nothing := worker.HandlerFunc(func(context.Context, worker.Message) error { return nil })
	start := time.Now()
	sum, err := worker.Run(context.Background(), d, url, nothing, fast())
	must(t, err)
	took := time.Since(start)
	t.Logf("FIGURE %d messages at %s a call: %s (a 1s long poll at the end), %d receives and %d deletes in flight at most, %d DeleteMessageBatch calls",
		n, d.latency, took.Round(time.Millisecond), d.peakReceives.Load(), d.peakDelete.Load(), d.deleteCalls.Load())
	if sum.Processed != n || d.deletedMsgs.Load() != n {
		t.Fatalf("processed %d, deleted %d, want %d", sum.Processed, d.deletedMsgs.Load(), n)
	}
	// The earlier defaults kept 4 of each in flight.
	if p := d.peakReceives.Load(); p <= 4 || p > worker.DefaultReceivers {
		t.Errorf("%d receives in flight at most, want more than 4, at most %d", p, worker.DefaultReceivers)
	}
	if p := d.peakDelete.Load(); p <= 4 || p > worker.DefaultDeleters {
		t.Errorf("%d deletes in flight at most, want more than 4, at most %d", p, worker.DefaultDeleters)
	}
	// Batches fill from every handler: a few partial ones at the start and
	// the end at most.
	if c := d.deleteCalls.Load(); c > n/10+20 {
		t.Errorf("%d DeleteMessageBatch calls for %d messages, want batches of 10 (%d calls) but for a few", c, n, n/10)
	}
}

func TestReceiversAndDeletesInFlightAreBounded(t *testing.T) {
	const n = 300
	api, url := newQueue(t, "bounded", nil)
	sendNumbered(t, api, url, n)
	d := &distant{SQSAPI: api, latency: 10 * time.Millisecond}
	cfg := fast()
	cfg.Receivers, cfg.Deleters = 3, 2
	sum, err := worker.Run(context.Background(), d, url, worker.HandlerFunc(func(context.Context, worker.Message) error { return nil }), cfg)
	must(t, err)
	if sum.Processed != n {
		t.Fatalf("processed %d, want %d", sum.Processed, n)
	}
	if p := d.peakReceives.Load(); p > 3 {
		t.Errorf("%d receives in flight, want at most 3", p)
	}
	if p := d.peakDelete.Load(); p > 2 {
		t.Errorf("%d deletes in flight, want at most 2", p)
	}
}
