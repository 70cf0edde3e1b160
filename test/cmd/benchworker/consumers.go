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

package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// counting passes calls on to SQS and counts what they did, the same way
// for the worker and for the consumers below.
type counting struct {
	*sqs.Client
	receiveCalls, emptyReceives, received atomic.Int64
	deleteCalls, deleted, deleteFailures  atomic.Int64
	otherCalls                            atomic.Int64
	lastDelete                            atomic.Int64 // UnixNano
	receiving, deleting                   gauge
}

// gauge tracks calls in flight: the most at once, and the time spent in
// the calls that carried messages.
type gauge struct {
	now, peak atomic.Int64
	busy      atomic.Int64 // nanoseconds in calls that returned messages or deleted them
	busyCalls atomic.Int64
}

func (g *gauge) enter() time.Time {
	n := g.now.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			return time.Now()
		}
	}
}

func (g *gauge) leave(start time.Time, useful bool) {
	g.now.Add(-1)
	if useful {
		g.busy.Add(int64(time.Since(start)))
		g.busyCalls.Add(1)
	}
}

// meanLatency is the mean duration of the calls that carried messages.
func (g *gauge) meanLatency() time.Duration {
	if n := g.busyCalls.Load(); n > 0 {
		return time.Duration(g.busy.Load() / n)
	}
	return 0
}

func (c *counting) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	start := c.receiving.enter()
	out, err := c.Client.ReceiveMessage(ctx, in, opts...)
	c.receiving.leave(start, err == nil && len(out.Messages) > 0)
	c.receiveCalls.Add(1)
	if err == nil {
		c.received.Add(int64(len(out.Messages)))
		if len(out.Messages) == 0 {
			c.emptyReceives.Add(1)
		}
	}
	return out, err
}

func (c *counting) DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	start := c.deleting.enter()
	out, err := c.Client.DeleteMessage(ctx, in, opts...)
	c.deleting.leave(start, err == nil)
	c.deleteCalls.Add(1)
	if err != nil {
		c.deleteFailures.Add(1)
	} else {
		c.deleted.Add(1)
		c.lastDelete.Store(time.Now().UnixNano())
	}
	return out, err
}

func (c *counting) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	start := c.deleting.enter()
	out, err := c.Client.DeleteMessageBatch(ctx, in, opts...)
	c.deleting.leave(start, err == nil)
	c.deleteCalls.Add(1)
	if err != nil {
		c.deleteFailures.Add(int64(len(in.Entries)))
	} else {
		c.deleted.Add(int64(len(out.Successful)))
		c.deleteFailures.Add(int64(len(out.Failed)))
		c.lastDelete.Store(time.Now().UnixNano())
	}
	return out, err
}

func (c *counting) ChangeMessageVisibilityBatch(
	ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options),
) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	c.otherCalls.Add(1)
	return c.Client.ChangeMessageVisibilityBatch(ctx, in, opts...)
}

func (c *counting) GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	c.otherCalls.Add(1)
	return c.Client.GetQueueAttributes(ctx, in, opts...)
}

func (c *counting) calls() int64 {
	return c.receiveCalls.Load() + c.deleteCalls.Load() + c.otherCalls.Load()
}

// loops runs n copies of loop and returns the first error any of them met.
func loops(n int, loop func() error) error {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range n {
		wg.Go(func() {
			if err := loop(); err != nil {
				once.Do(func() { first = err })
			}
		})
	}
	wg.Wait()
	return first
}

// drainNaively is a consumer like the public write-up's: each of n loops
// receives one message at a time, handles it and deletes it on its own,
// and stops at its first empty receive.
func drainNaively(ctx context.Context, api *counting, queueURL string, n int, wait time.Duration) error {
	return loops(n, func() error {
		for {
			out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL),
				MaxNumberOfMessages: 1, WaitTimeSeconds: int32(wait / time.Second)})
			if err != nil {
				return err
			}
			if len(out.Messages) == 0 {
				return nil
			}
			for _, m := range out.Messages { // the handler does nothing
				if _, err := api.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
					return err
				}
			}
		}
	})
}

// drainBare measures what the emulator can serve: n loops of
// ReceiveMessage(10) and DeleteMessageBatch with no handling, no attributes
// asked for and nothing else; each loop stops at its first empty receive.
func drainBare(ctx context.Context, api *counting, queueURL string, n int, wait time.Duration) error {
	return loops(n, func() error {
		for {
			out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL),
				MaxNumberOfMessages: 10, WaitTimeSeconds: int32(wait / time.Second)})
			if err != nil {
				return err
			}
			if len(out.Messages) == 0 {
				return nil
			}
			entries := make([]sqstypes.DeleteMessageBatchRequestEntry, len(out.Messages))
			for i, m := range out.Messages {
				entries[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle}
			}
			del, err := api.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
			if err != nil {
				return err
			}
			if len(del.Failed) > 0 {
				return fmt.Errorf("DeleteMessageBatch refused %d entries: %s", len(del.Failed), aws.ToString(del.Failed[0].Message))
			}
		}
	})
}
