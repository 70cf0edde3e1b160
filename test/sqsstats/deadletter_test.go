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
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
	"github.com/queuedrainer/queue-drainer/internal/sqsstats"
	"github.com/queuedrainer/queue-drainer/test/emulator"
)

// A queue with a RedrivePolicy: its dead-letter queue's depth comes with
// each observation, and messages that fail maxReceiveCount times show there.
func TestDeadLetterQueueDepthIsObservedWithTheQueue(t *testing.T) {
	ctx := context.Background()
	api, cfg := startFauxqs(t)
	dlqURL, err := emulator.CreateQueue(ctx, api, "orders-dlq", nil)
	must(t, err)
	url, err := emulator.CreateQueue(ctx, api, "orders", map[string]string{
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":"arn:aws:sqs:%s:%s:orders-dlq","maxReceiveCount":"1"}`, emulator.Region, emulator.Account),
		"VisibilityTimeout": "1",
	})
	must(t, err)
	_, err = emulator.CreateQueue(ctx, api, "plain", nil)
	must(t, err)
	obs := &sqsstats.Observer{Clients: &sqsstats.Clients{Base: cfg}, Ages: noAges{}}
	drainer := types.NamespacedName{Namespace: "shop", Name: "orders"}
	spec := v1alpha1.QueueSpec{URL: emulator.CanonicalURL("orders")}

	o := observeNow(t, obs, drainer, spec)
	if o.Err != nil || o.DeadLetter == nil || o.DeadLetter.URL != emulator.CanonicalURL("orders-dlq") || o.DeadLetter.Visible != 0 || o.DeadLetter.Err != nil {
		t.Fatalf("observation %+v, dead letter %+v; want the empty dead-letter queue %s", o, o.DeadLetter, emulator.CanonicalURL("orders-dlq"))
	}

	// Three messages received once and never deleted: past maxReceiveCount 1,
	// SQS moves them to the dead-letter queue on their next receive.
	must(t, emulator.SendMessages(ctx, api, url, 3, 0))
	for range 2 {
		_, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 2})
		must(t, err)
	}
	eventually(t, "3 messages in the dead-letter queue", func() string {
		o := observeNow(t, obs, drainer, spec)
		if o.DeadLetter == nil || o.DeadLetter.Visible != 3 {
			return fmt.Sprintf("dead letter %+v; queue %d visible, %d in flight", o.DeadLetter, o.Visible, o.InFlight)
		}
		return ""
	})
	dlq, err := sqsstats.CountsAt(ctx, api, dlqURL)
	if err != nil || dlq.Visible != 3 {
		t.Fatalf("the dead-letter queue holds %+v, %v; want 3 visible", dlq, err)
	}

	// A queue without a RedrivePolicy: no dead letter, and no extra call.
	// (An observer of its own: Poll polls every queue it watches.)
	before := calls("SQS", "GetQueueAttributes")
	o = observeNow(t, &sqsstats.Observer{Clients: &sqsstats.Clients{Base: cfg}, Ages: noAges{}}, types.NamespacedName{Namespace: "shop", Name: "plain"}, v1alpha1.QueueSpec{URL: emulator.CanonicalURL("plain")})
	if o.Err != nil || o.DeadLetter != nil {
		t.Fatalf("observation %+v, dead letter %+v; want none", o, o.DeadLetter)
	}
	if n := calls("SQS", "GetQueueAttributes") - before; n != 1 {
		t.Fatalf("%v GetQueueAttributes calls for a queue without a dead-letter queue, want 1", n)
	}
}

// The URLs SQS gives for a queue and its dead-letter queue are asked for
// once, not on every poll; one that failed is asked for again, since its
// queue may have been recreated.
func TestQueueURLsAreAskedForOnceAndAgainAfterAFailure(t *testing.T) {
	ctx := context.Background()
	api, cfg := startFauxqs(t)
	dlqURL, err := emulator.CreateQueue(ctx, api, "billing-dlq", nil)
	must(t, err)
	_, err = emulator.CreateQueue(ctx, api, "billing", map[string]string{
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":"arn:aws:sqs:%s:%s:billing-dlq","maxReceiveCount":"3"}`, emulator.Region, emulator.Account),
	})
	must(t, err)
	obs := &sqsstats.Observer{Clients: &sqsstats.Clients{Base: cfg}, Ages: noAges{}}
	drainer := types.NamespacedName{Namespace: "shop", Name: "billing"}
	spec := v1alpha1.QueueSpec{URL: emulator.CanonicalURL("billing")}
	resolves := func(poll func() plan.Observation) (plan.Observation, float64) {
		before := callsWith("SQS", "GetQueueUrl", "Success") + callsWith("SQS", "GetQueueUrl", "Error")
		o := poll()
		return o, callsWith("SQS", "GetQueueUrl", "Success") + callsWith("SQS", "GetQueueUrl", "Error") - before
	}
	observe := func() plan.Observation { return observeNow(t, obs, drainer, spec) }

	if o, n := resolves(observe); o.Err != nil || o.DeadLetter == nil || o.DeadLetter.Err != nil || n != 2 {
		t.Fatalf("first poll: %+v, dead letter %+v, %v GetQueueUrl calls; want both queues observed, 2 calls", o, o.DeadLetter, n)
	}
	for range 3 {
		if o, n := resolves(observe); o.Err != nil || o.DeadLetter == nil || o.DeadLetter.Err != nil || n != 0 {
			t.Fatalf("next poll: %+v, dead letter %+v, %v GetQueueUrl calls; want both observed from the known URLs", o, o.DeadLetter, n)
		}
	}

	_, err = api.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(dlqURL)})
	must(t, err)
	if o, _ := resolves(observe); o.Err != nil || o.DeadLetter == nil || o.DeadLetter.Err == nil {
		t.Fatalf("dead-letter queue deleted: %+v, dead letter %+v; want the queue observed and the dead letter failing", o, o.DeadLetter)
	}
	_, err = emulator.CreateQueue(ctx, api, "billing-dlq", nil)
	must(t, err)
	if o, n := resolves(observe); o.Err != nil || o.DeadLetter == nil || o.DeadLetter.Err != nil || n != 1 {
		t.Fatalf("dead-letter queue recreated: %+v, dead letter %+v, %v GetQueueUrl calls; want it observed again after 1 call", o, o.DeadLetter, n)
	}
}

// A dead-letter queue that was deleted: the queue is still observed, and the
// dead letter says why its depth is unknown.
func TestMissingDeadLetterQueueDoesNotHideTheQueue(t *testing.T) {
	ctx := context.Background()
	api, cfg := startFauxqs(t)
	_, err := emulator.CreateQueue(ctx, api, "orders", map[string]string{
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":"arn:aws:sqs:%s:%s:gone-dlq","maxReceiveCount":"3"}`, emulator.Region, emulator.Account),
	})
	if err != nil && strings.Contains(err.Error(), "gone-dlq") {
		t.Skip("fauxqs refuses a RedrivePolicy naming a queue that does not exist") // AWS accepts it
	}
	must(t, err)
	obs := &sqsstats.Observer{Clients: &sqsstats.Clients{Base: cfg}, Ages: noAges{}}
	o := observeNow(t, obs, types.NamespacedName{Namespace: "shop", Name: "orders"}, v1alpha1.QueueSpec{URL: emulator.CanonicalURL("orders")})
	if o.Err != nil || o.DeadLetter == nil || o.DeadLetter.Err == nil || o.DeadLetter.Err.Reason != v1alpha1.ReasonQueueDoesNotExist {
		t.Fatalf("observation %+v, dead letter %+v; want the queue observed and the dead letter QueueDoesNotExist", o, o.DeadLetter)
	}
}

// Every AWS call is counted by service, operation and result, and timed.
func TestAWSCallsAreCountedByServiceOperationAndResult(t *testing.T) {
	ctx := context.Background()
	api, cfg := startFauxqs(t)
	_, err := emulator.CreateQueue(ctx, api, "counted", nil)
	must(t, err)
	newObserver := func() *sqsstats.Observer {
		return &sqsstats.Observer{Clients: &sqsstats.Clients{Base: cfg}, Ages: noAges{}}
	}
	okBefore, missingBefore := calls("SQS", "GetQueueAttributes"), callsWith("SQS", "GetQueueUrl", "QueueDoesNotExist")
	timedBefore := timed("SQS", "GetQueueAttributes")
	observeNow(t, newObserver(), types.NamespacedName{Namespace: "shop", Name: "counted"}, v1alpha1.QueueSpec{URL: emulator.CanonicalURL("counted")})
	observeNow(t, newObserver(), types.NamespacedName{Namespace: "shop", Name: "nope"}, v1alpha1.QueueSpec{URL: emulator.CanonicalURL("nope")})
	if n := calls("SQS", "GetQueueAttributes") - okBefore; n != 1 {
		t.Errorf("%v successful GetQueueAttributes calls counted, want 1", n)
	}
	if n := callsWith("SQS", "GetQueueUrl", "QueueDoesNotExist") - missingBefore; n != 1 {
		t.Errorf("%v GetQueueUrl calls counted with result QueueDoesNotExist, want 1", n)
	}
	if n := timed("SQS", "GetQueueAttributes") - timedBefore; n != 1 {
		t.Errorf("%d GetQueueAttributes calls timed, want 1", n)
	}
}

func calls(service, op string) float64 { return callsWith(service, op, "Success") }

// callsWith reads queuedrainer_aws_api_calls_total from the registry the manager serves.
func callsWith(service, op, result string) float64 {
	m := metric("queuedrainer_aws_api_calls_total", map[string]string{"service": service, "operation": op, "result": result})
	if m == nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// timed is how many calls queuedrainer_aws_api_call_duration_seconds observed.
func timed(service, op string) uint64 {
	m := metric("queuedrainer_aws_api_call_duration_seconds", map[string]string{"service": service, "operation": op})
	if m == nil {
		return 0
	}
	return m.GetHistogram().GetSampleCount()
}

// metric finds the series of a family with exactly these labels.
func metric(family string, want map[string]string) *dto.Metric {
	families, err := metrics.Registry.Gather()
	if err != nil {
		panic(err)
	}
	for _, f := range families {
		if f.GetName() != family {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(want) {
				continue
			}
			for _, l := range m.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			return m
		}
	}
	return nil
}

// eventually retries cond for up to 20 s until it returns "".
func eventually(t *testing.T, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := cond()
		if got == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after 20s: %s", what, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
