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

package faultproxy_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/sqsstats"
	"github.com/queuedrainer/queue-drainer/test/emulator"
	"github.com/queuedrainer/queue-drainer/test/faultproxy"
)

var (
	direct *sqs.Client // straight to fauxqs, to set queues up
	proxy  *faultproxy.Proxy
	cfg    aws.Config // the SDK's defaults, endpoint at the proxy
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctx := context.Background()
	fq, err := emulator.StartFauxqs(ctx, os.Stderr)
	if err != nil {
		println(err.Error())
		return 1
	}
	defer fq.Stop()
	if proxy, err = faultproxy.Start(fq.Endpoint); err != nil {
		println(err.Error())
		return 1
	}
	defer proxy.Close()
	if cfg, err = emulator.AWSConfig(ctx); err != nil {
		println(err.Error())
		return 1
	}
	direct = sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(fq.Endpoint) })
	cfg.BaseEndpoint = aws.String(proxy.URL())
	return m.Run()
}

// newQueue creates a queue in fauxqs and returns its URL.
func newQueue(t *testing.T, name string) string {
	t.Helper()
	url, err := emulator.CreateQueue(context.Background(), direct, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Clear)
	return url
}

func depth(ctx context.Context, api *sqs.Client, url string) (*sqs.GetQueueAttributesOutput, error) {
	return api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
}

func TestSDKSeesEachFaultAsSQSSendsIt(t *testing.T) {
	url := newQueue(t, "kinds")
	// One attempt, so that each call shows the raw error.
	api := sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.RetryMaxAttempts = 1 })
	isThrottle := retry.IsErrorThrottles(retry.DefaultThrottles)
	isRetryable := retry.IsErrorRetryables(retry.DefaultRetryables)
	for _, tc := range []struct {
		fault     faultproxy.Fault
		status    int
		code      string
		throttle  bool
		reason    string
		modeledAs any
	}{
		{faultproxy.RequestThrottled, 400, "RequestThrottled", true, v1alpha1.ReasonThrottling, &sqstypes.RequestThrottled{}},
		{faultproxy.ThrottlingException, 400, "ThrottlingException", true, v1alpha1.ReasonThrottling, nil},
		{faultproxy.InternalError, 500, "InternalError", false, v1alpha1.ReasonAWSError, nil},
		{faultproxy.ServiceUnavailable, 503, "ServiceUnavailable", false, v1alpha1.ReasonAWSError, nil},
	} {
		t.Run(tc.code, func(t *testing.T) {
			proxy.Inject("GetQueueAttributes", "kinds", 1, tc.fault)
			_, err := depth(context.Background(), api, url)
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tc.code {
				t.Fatalf("error %v, want the API error %s", err, tc.code)
			}
			var resp *smithyhttp.ResponseError
			if !errors.As(err, &resp) || resp.HTTPStatusCode() != tc.status {
				t.Errorf("error %v, want HTTP status %d", err, tc.status)
			}
			if tc.modeledAs != nil {
				var rt *sqstypes.RequestThrottled
				if !errors.As(err, &rt) {
					t.Errorf("error %T, want the SDK's modeled %T", apiErr, tc.modeledAs)
				}
			}
			if got := isThrottle.IsErrorThrottle(err) == aws.TrueTernary; got != tc.throttle {
				t.Errorf("the retryer takes it for a throttle: %v, want %v", got, tc.throttle)
			}
			if isRetryable.IsErrorRetryable(err) != aws.TrueTernary {
				t.Errorf("the retryer would not retry %v", err)
			}
			p := sqsstats.Classify(err)
			if p.Reason != tc.reason || !strings.Contains(p.Message, tc.code) {
				t.Errorf("classified as %+v, want reason %s and the code in the message", p, tc.reason)
			}
		})
	}
	t.Run("Drop", func(t *testing.T) {
		proxy.Inject("GetQueueAttributes", "kinds", 1, faultproxy.Drop)
		_, err := depth(context.Background(), api, url)
		if err == nil {
			t.Fatal("a dropped connection succeeded")
		}
		if isRetryable.IsErrorRetryable(err) != aws.TrueTernary {
			t.Errorf("the retryer would not retry %v", err)
		}
		if p := sqsstats.Classify(err); p.Reason != v1alpha1.ReasonNetworkError {
			t.Errorf("classified as %+v, want NetworkError", p)
		}
	})
	if _, err := depth(context.Background(), api, url); err != nil {
		t.Errorf("after the injections: %v", err)
	}
}

func TestSDKRetriesFaultsWithBackoffAndGivesUpAfterThreeAttempts(t *testing.T) {
	url := newQueue(t, "retried")
	api := sqs.NewFromConfig(cfg) // the SDK's standard retryer: 3 attempts
	ctx := context.Background()

	proxy.Inject("GetQueueAttributes", "retried", 1, faultproxy.RequestThrottled)
	proxy.Inject("GetQueueAttributes", "retried", 1, faultproxy.ServiceUnavailable)
	if _, err := depth(ctx, api, url); err != nil {
		t.Fatalf("two faults then success: %v, want the SDK to retry through them", err)
	}
	reqs := proxy.Requests("GetQueueAttributes", "retried")
	if len(reqs) != 3 || reqs[0].Fault == nil || reqs[1].Fault == nil || reqs[2].Fault != nil {
		t.Fatalf("requests %+v, want throttled, unavailable, forwarded", reqs)
	}
	t.Logf("FIGURE SDK backoff: %s after a throttle, %s after a 503",
		reqs[1].At.Sub(reqs[0].At).Round(time.Millisecond), reqs[2].At.Sub(reqs[1].At).Round(time.Millisecond))

	proxy.Inject("GetQueueAttributes", "retried", faultproxy.Always, faultproxy.ThrottlingException)
	_, err := depth(ctx, api, url)
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ThrottlingException" {
		t.Fatalf("persistent throttling: %v, want ThrottlingException once retries are exhausted", err)
	}
	if n := proxy.Calls("GetQueueAttributes", "retried"); n != 3+3 {
		t.Errorf("%d requests in all, want 3 attempts for the failed call", n)
	}
	// The other queues are unaffected.
	other := newQueue(t, "bystander")
	if _, err := depth(ctx, api, other); err != nil {
		t.Errorf("another queue: %v", err)
	}
}

func TestDownRefusesConnectionsUntilUp(t *testing.T) {
	url := newQueue(t, "outage")
	api := sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.RetryMaxAttempts = 1 })
	ctx := context.Background()
	if err := proxy.SetDown(true); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = proxy.SetDown(false) }()
	// A connection kept alive from before may fail first with a broken
	// pipe; after that, every dial is refused.
	_, err := depth(ctx, api, url)
	if err == nil {
		t.Fatal("a call succeeded while down")
	}
	if _, err = depth(ctx, api, url); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("while down: %v, want connection refused", err)
	}
	if p := sqsstats.Classify(err); p.Reason != v1alpha1.ReasonNetworkError {
		t.Errorf("classified as %+v, want NetworkError", p)
	}
	if err := proxy.SetDown(false); err != nil {
		t.Fatal(err)
	}
	if _, err := depth(ctx, api, url); err != nil {
		t.Errorf("back up on the same address: %v", err)
	}
}

func TestLatencyHoldsEveryCallForMeanPlusOrMinusJitterAllAtOnce(t *testing.T) {
	url := newQueue(t, "latency")
	api := sqs.NewFromConfig(cfg)
	ctx := context.Background()
	if _, err := depth(ctx, api, url); err != nil { // a connection to start from
		t.Fatal(err)
	}
	lat := faultproxy.Latency{Mean: 60 * time.Millisecond, Jitter: 20 * time.Millisecond}
	if err := proxy.SetLatency(lat); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = proxy.SetLatency(faultproxy.Latency{}) }()

	// Calls at once: held side by side, not one after another.
	const calls = 40
	took := make([]time.Duration, calls)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range calls {
		wg.Go(func() {
			t0 := time.Now()
			if _, err := depth(ctx, api, url); err != nil {
				t.Error(err)
			}
			took[i] = time.Since(t0)
		})
	}
	wg.Wait()
	all := time.Since(start)
	slices.Sort(took)
	var sum time.Duration
	for _, d := range took {
		sum += d
	}
	mean := sum / calls
	t.Logf("FIGURE latency %s: %d calls at once took %s in all; each %s to %s, mean %s",
		lat, calls, all.Round(time.Millisecond), took[0].Round(time.Millisecond), took[calls-1].Round(time.Millisecond), mean.Round(time.Millisecond))
	if minimum := lat.Mean - lat.Jitter; took[0] < minimum {
		t.Errorf("the fastest call took %s, want at least %s", took[0], minimum)
	}
	// Uniform over 40 ms: 40 draws all within 10 ms of each other are
	// about as likely as 40 calls finishing in no time.
	if spread := took[calls-1] - took[0]; spread < 10*time.Millisecond {
		t.Errorf("calls took %s to %s, want them spread by the jitter", took[0], took[calls-1])
	}
	if mean < lat.Mean-5*time.Millisecond {
		t.Errorf("mean call %s, want about %s", mean, lat.Mean)
	}
	// Held one after another, 40 calls would take 40 x 40 ms at least.
	if all > 10*lat.Mean {
		t.Errorf("%d calls at once took %s, want them held concurrently (about %s)", calls, all, lat.Mean+lat.Jitter)
	}

	// Faults are held too, like SQS's own answers.
	proxy.Inject("GetQueueAttributes", "latency", 1, faultproxy.InternalError)
	once := sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.RetryMaxAttempts = 1 })
	t0 := time.Now()
	if _, err := depth(ctx, once, url); err == nil {
		t.Error("the injected fault did not arrive")
	} else if d := time.Since(t0); d < lat.Mean-lat.Jitter {
		t.Errorf("a fault came back in %s, want it held %s", d, lat)
	}

	// The zero latency forwards at once again.
	if err := proxy.SetLatency(faultproxy.Latency{}); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	if _, err := depth(ctx, api, url); err != nil {
		t.Fatal(err)
	} else if d := time.Since(t0); d >= lat.Mean-lat.Jitter {
		t.Errorf("without latency a call took %s", d)
	}
}

func TestLatencyRefusesJitterAboveTheMean(t *testing.T) {
	for _, l := range []faultproxy.Latency{{Mean: time.Millisecond, Jitter: 2 * time.Millisecond}, {Mean: -time.Millisecond}, {Jitter: -1}} {
		if err := proxy.SetLatency(l); err == nil {
			t.Errorf("SetLatency(%+v) accepted", l)
		}
	}
	_ = proxy.SetLatency(faultproxy.Latency{})
}

func TestWithoutLoggingRequestsAreCountedNotKept(t *testing.T) {
	url := newQueue(t, "unlogged")
	api := sqs.NewFromConfig(cfg)
	proxy.SetLogging(false)
	defer proxy.SetLogging(true)
	before := proxy.Forwarded()
	for range 3 {
		if _, err := depth(context.Background(), api, url); err != nil {
			t.Fatal(err)
		}
	}
	if n := proxy.Forwarded() - before; n != 3 {
		t.Errorf("forwarded %d, want 3", n)
	}
	if n := proxy.Calls("", ""); n != 0 {
		t.Errorf("%d requests kept, want none", n)
	}
	// Injections still apply.
	proxy.Inject("GetQueueAttributes", "unlogged", 1, faultproxy.InternalError)
	once := sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.RetryMaxAttempts = 1 })
	if _, err := depth(context.Background(), once, url); err == nil {
		t.Error("the injected fault did not arrive without logging")
	}
}
