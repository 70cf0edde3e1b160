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
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
	"github.com/queuedrainer/queue-drainer/internal/sqsstats"
	"github.com/queuedrainer/queue-drainer/test/emulator"
	"github.com/queuedrainer/queue-drainer/testutil/fixture"
)

// startFauxqs runs the real SQS emulator for one test and points the SDK's
// standard endpoint variable at it, as an operator would be configured.
func startFauxqs(t *testing.T) (*sqs.Client, aws.Config) {
	t.Helper()
	p, err := emulator.StartFauxqs(context.Background(), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	t.Setenv("AWS_ENDPOINT_URL_SQS", p.Endpoint)
	cfg, err := emulator.AWSConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sqs.NewFromConfig(cfg), cfg
}

// noAges stands in for the CloudWatch poller where a test is about SQS only.
type noAges struct{}

func (noAges) Watch(types.NamespacedName, sqsstats.Target) {}
func (noAges) Forget(types.NamespacedName)                 {}
func (noAges) Age(types.NamespacedName) (*plan.AgeSample, *plan.Problem) {
	return nil, nil
}

func TestDepthMatchesWhatWasSentReceivedAndDeleted(t *testing.T) {
	ctx := context.Background()
	api, cfg := startFauxqs(t)
	url, err := emulator.CreateQueue(ctx, api, "orders", nil)
	must(t, err)
	obs := &sqsstats.Observer{Clients: &sqsstats.Clients{Base: cfg}, Ages: noAges{}}
	drainer := types.NamespacedName{Namespace: "shop", Name: "orders"}
	spec := v1alpha1.QueueSpec{URL: emulator.CanonicalURL("orders")}

	check := func(step string, visible, inFlight, delayed int64) {
		t.Helper()
		o := observeNow(t, obs, drainer, spec)
		if o.Err != nil {
			t.Fatalf("%s: %+v", step, o.Err)
		}
		if o.Visible != visible || o.InFlight != inFlight || o.Delayed != delayed {
			t.Errorf("%s: visible %d in flight %d delayed %d, want %d %d %d", step, o.Visible, o.InFlight, o.Delayed, visible, inFlight, delayed)
		}
	}
	check("empty", 0, 0, 0)
	must(t, emulator.SendMessages(ctx, api, url, 25, 0))
	check("25 sent", 25, 0, 0)

	got, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: 60})
	must(t, err)
	if len(got.Messages) != 10 {
		t.Fatalf("received %d messages, want 10", len(got.Messages))
	}
	check("10 received", 15, 10, 0)
	for _, m := range got.Messages {
		_, err := api.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
		must(t, err)
	}
	check("10 deleted", 15, 0, 0)
	must(t, emulator.SendMessages(ctx, api, url, 3, 60))
	check("3 delayed", 15, 0, 3)
}

func TestMissingQueueIsReportedAsQueueDoesNotExist(t *testing.T) {
	_, cfg := startFauxqs(t)
	obs := &sqsstats.Observer{Clients: &sqsstats.Clients{Base: cfg}, Ages: noAges{}}
	o := observeNow(t, obs, types.NamespacedName{Namespace: "shop", Name: "gone"},
		v1alpha1.QueueSpec{URL: emulator.CanonicalURL("no-such-queue")})
	if o.Err == nil || o.Err.Reason != v1alpha1.ReasonQueueDoesNotExist {
		t.Fatalf("Err = %+v, want reason %s", o.Err, v1alpha1.ReasonQueueDoesNotExist)
	}
	t.Logf("condition message: %s", o.Err.Message)
}

func TestStoppedEmulatorIsANetworkError(t *testing.T) {
	ctx := context.Background()
	p, err := emulator.StartFauxqs(ctx, os.Stderr)
	must(t, err)
	t.Setenv("AWS_ENDPOINT_URL_SQS", p.Endpoint)
	cfg, err := emulator.AWSConfig(ctx)
	must(t, err)
	p.Stop()
	obs := &sqsstats.Observer{Clients: &sqsstats.Clients{Base: cfg}, Ages: noAges{}, Timeout: 5 * time.Second}
	o := observeNow(t, obs, types.NamespacedName{Namespace: "shop", Name: "orders"}, v1alpha1.QueueSpec{URL: emulator.CanonicalURL("orders")})
	if o.Err == nil || o.Err.Reason != v1alpha1.ReasonNetworkError {
		t.Fatalf("Err = %+v, want reason %s", o.Err, v1alpha1.ReasonNetworkError)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestCloudWatchDownLeavesAgeUnknownWhileDepthStillStartsADrain(t *testing.T) {
	ctx := context.Background()
	deadPort, err := emulator.FreePort()
	must(t, err)
	t.Setenv("AWS_ENDPOINT_URL_CLOUDWATCH", fmt.Sprintf("http://127.0.0.1:%d", deadPort))
	api, cfg := startFauxqs(t)
	url, err := emulator.CreateQueue(ctx, api, "orders", nil)
	must(t, err)
	must(t, emulator.SendMessages(ctx, api, url, 1500, 0))

	clients := &sqsstats.Clients{Base: cfg}
	poller := sqsstats.NewPoller(clients)
	obs := &sqsstats.Observer{Clients: clients, Ages: poller, Timeout: 10 * time.Second}
	key := types.NamespacedName{Namespace: "shop", Name: "orders"}
	spec := v1alpha1.QueueSpec{URL: emulator.CanonicalURL("orders")}
	observeNow(t, obs, key, spec) // registers the queue with the poller
	poller.Poll(ctx)
	o := observeNow(t, obs, key, spec)
	if o.Err != nil || o.Visible != 1500 {
		t.Fatalf("SQS observation: visible %d, err %+v; want 1500 and no error", o.Visible, o.Err)
	}
	if o.OldestAge != nil || o.MetricsErr == nil || o.MetricsErr.Reason != v1alpha1.ReasonNetworkError {
		t.Fatalf("age %+v, metrics error %+v; want unknown age and reason %s", o.OldestAge, o.MetricsErr, v1alpha1.ReasonNetworkError)
	}

	qd := fixture.Drainer("shop", "orders", fixture.Generation(1), fixture.QueueURL(spec.URL),
		fixture.Triggers(v1alpha1.Triggers{QueueDepth: ptr.To[int64](1000), OldestMessageAge: &metav1.Duration{Duration: time.Minute}}))
	d := plan.Decide(plan.Input{Now: time.Now(), Drainer: qd, Queue: o})
	if r := d.Status.ActiveRun; !d.Start || r.Trigger != v1alpha1.TriggerQueueDepth || r.Workers != 2 {
		t.Fatalf("start %v, active run %+v; want a QueueDepth run with 2 workers", d.Start, r)
	}
	if c := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionMetricsAvailable); c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonNetworkError {
		t.Errorf("MetricsAvailable %+v, want False/%s", c, v1alpha1.ReasonNetworkError)
	}
}
