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
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"k8s.io/apimachinery/pkg/types"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
	"github.com/queuedrainer/queue-drainer/internal/queueurl"
	"github.com/queuedrainer/queue-drainer/internal/sqsstats"
)

const (
	ordersURL = "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
	// resolvedURL is what GetQueueUrl answers, as an emulator behind
	// AWS_ENDPOINT_URL_SQS does: not the configured URL.
	resolvedURL = "http://localhost:4566/123456789012/orders"
)

// fakeSQS is SQSAPI with recorded calls, configured answers and injected errors.
type fakeSQS struct {
	mu       sync.Mutex
	urlIn    []*sqs.GetQueueUrlInput
	attrsIn  []*sqs.GetQueueAttributesInput
	queueURL string
	attrs    map[string]string
	urlErr   error
	attrsErr error
}

func (f *fakeSQS) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.urlIn = append(f.urlIn, in)
	if f.urlErr != nil {
		return nil, f.urlErr
	}
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String(f.queueURL)}, nil
}

func (f *fakeSQS) GetQueueAttributes(_ context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attrsIn = append(f.attrsIn, in)
	if f.attrsErr != nil {
		return nil, f.attrsErr
	}
	return &sqs.GetQueueAttributesOutput{Attributes: f.attrs}, nil
}

func (f *fakeSQS) calls() (getQueueURL, getQueueAttributes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.urlIn), len(f.attrsIn)
}

// fakeClients is a ClientSource that records which (region, role) it is asked for.
type fakeClients struct {
	mu    sync.Mutex
	sqs   sqsstats.SQSAPI
	cw    map[string]sqsstats.CloudWatchAPI // by region
	asked []string                          // "SQS region role" / "CloudWatch region role"
}

func (c *fakeClients) SQS(region, roleARN string) sqsstats.SQSAPI {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked = append(c.asked, "SQS "+region+" "+roleARN)
	return c.sqs
}

func (c *fakeClients) CloudWatch(region, roleARN string) sqsstats.CloudWatchAPI {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked = append(c.asked, "CloudWatch "+region+" "+roleARN)
	return c.cw[region]
}

func (c *fakeClients) askedFor() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.asked...)
}

// fakeAges is an AgeSource that records what it is told and answers one sample.
type fakeAges struct {
	watched   map[types.NamespacedName]sqsstats.Target
	forgotten []types.NamespacedName
	sample    *plan.AgeSample
	problem   *plan.Problem
}

func (a *fakeAges) Watch(d types.NamespacedName, t sqsstats.Target) {
	if a.watched == nil {
		a.watched = map[types.NamespacedName]sqsstats.Target{}
	}
	a.watched[d] = t
}
func (a *fakeAges) Forget(d types.NamespacedName) { a.forgotten = append(a.forgotten, d) }
func (a *fakeAges) Age(types.NamespacedName) (*plan.AgeSample, *plan.Problem) {
	return a.sample, a.problem
}

var (
	drainer  = types.NamespacedName{Namespace: "shop", Name: "orders"}
	observed = time.Date(2025, 11, 21, 14, 0, 0, 0, time.UTC)
)

func goodCounts() map[string]string {
	return map[string]string{
		"ApproximateNumberOfMessages":           "12000",
		"ApproximateNumberOfMessagesNotVisible": "40",
		"ApproximateNumberOfMessagesDelayed":    "3",
	}
}

func newObserver(allowed ...string) (*sqsstats.Observer, *fakeSQS, *fakeClients, *fakeAges) {
	api := &fakeSQS{queueURL: resolvedURL, attrs: goodCounts()}
	clients := &fakeClients{sqs: api}
	ages := &fakeAges{}
	o := &sqsstats.Observer{Clients: clients, Ages: ages, AllowedRoleARNs: allowed, Timeout: 5 * time.Second,
		Now: func() time.Time { return observed }}
	return o, api, clients, ages
}

func apiError(code string) error {
	// What the SDK returns: an operation error wrapping the service's error.
	return &smithy.OperationError{ServiceID: "SQS", OperationName: "GetQueueAttributes",
		Err: &smithy.GenericAPIError{Code: code, Message: "message from AWS"}}
}

func TestParseCounts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		attrs     map[string]string
		want      sqsstats.Counts
		wantInErr string // "" when no error is expected
	}{
		{name: "all three counts", attrs: goodCounts(), want: sqsstats.Counts{Visible: 12000, InFlight: 40, Delayed: 3}},
		{name: "only visible: the others are zero",
			attrs: map[string]string{"ApproximateNumberOfMessages": "7"}, want: sqsstats.Counts{Visible: 7}},
		{name: "zeros", attrs: map[string]string{"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0",
			"ApproximateNumberOfMessagesDelayed": "0"}},
		{name: "beyond 32 bits", attrs: map[string]string{"ApproximateNumberOfMessages": "5000000000"}, want: sqsstats.Counts{Visible: 5000000000}},
		{name: "unrelated attributes are ignored",
			attrs: map[string]string{"ApproximateNumberOfMessages": "1", "QueueArn": "arn:aws:sqs:us-east-1:123456789012:orders"},
			want:  sqsstats.Counts{Visible: 1}},
		{name: "missing visible count", attrs: map[string]string{"ApproximateNumberOfMessagesNotVisible": "4"},
			wantInErr: "no ApproximateNumberOfMessages"},
		{name: "nil attributes", attrs: nil, wantInErr: "no ApproximateNumberOfMessages"},
		{name: "non-numeric visible", attrs: map[string]string{"ApproximateNumberOfMessages": "lots"},
			wantInErr: `ApproximateNumberOfMessages="lots"`},
		{name: "non-numeric in flight",
			attrs:     map[string]string{"ApproximateNumberOfMessages": "1", "ApproximateNumberOfMessagesNotVisible": "1.5"},
			wantInErr: `ApproximateNumberOfMessagesNotVisible="1.5"`},
		{name: "empty delayed",
			attrs:     map[string]string{"ApproximateNumberOfMessages": "1", "ApproximateNumberOfMessagesDelayed": ""},
			wantInErr: `ApproximateNumberOfMessagesDelayed=""`},
		{name: "negative visible", attrs: map[string]string{"ApproximateNumberOfMessages": "-1"},
			wantInErr: `ApproximateNumberOfMessages="-1"`},
		{name: "negative delayed",
			attrs:     map[string]string{"ApproximateNumberOfMessages": "1", "ApproximateNumberOfMessagesDelayed": "-3"},
			wantInErr: `ApproximateNumberOfMessagesDelayed="-3"`},
		{name: "overflow", attrs: map[string]string{"ApproximateNumberOfMessages": "99999999999999999999"},
			wantInErr: "ApproximateNumberOfMessages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sqsstats.ParseCounts(tc.attrs)
			if tc.wantInErr == "" {
				if err != nil {
					t.Fatalf("ParseCounts(%v) = error %v, want %+v", tc.attrs, err, tc.want)
				}
				if got != tc.want {
					t.Errorf("ParseCounts(%v) = %+v, want %+v", tc.attrs, got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseCounts(%v) = %+v, want an error naming %s", tc.attrs, got, tc.wantInErr)
			}
			if !strings.Contains(err.Error(), tc.wantInErr) {
				t.Errorf("ParseCounts(%v) error = %q, want it to contain %q", tc.attrs, err, tc.wantInErr)
			}
		})
	}
}

func TestObserveReadsCountsThroughTheResolvedQueueURLAndResolvesItOnce(t *testing.T) {
	o, api, clients, ages := newObserver()
	ages.sample = &plan.AgeSample{Age: 11 * time.Minute, At: observed.Add(-2 * time.Minute)}
	spec := v1alpha1.QueueSpec{URL: ordersURL}

	for i := range 2 {
		obs := observeNow(t, o, drainer, spec)
		if obs.Err != nil || obs.MetricsErr != nil {
			t.Fatalf("observe %d: Err = %+v, MetricsErr = %+v, want none", i, obs.Err, obs.MetricsErr)
		}
		if obs.Visible != 12000 || obs.InFlight != 40 || obs.Delayed != 3 {
			t.Errorf("observe %d: counts = %d/%d/%d, want 12000/40/3", i, obs.Visible, obs.InFlight, obs.Delayed)
		}
		if !obs.At.Equal(observed) {
			t.Errorf("observe %d: At = %v, want the observer's clock %v", i, obs.At, observed)
		}
		if obs.OldestAge == nil || *obs.OldestAge != *ages.sample {
			t.Errorf("observe %d: OldestAge = %v, want the age source's %v", i, obs.OldestAge, *ages.sample)
		}
	}

	urls, attrs := api.calls()
	if urls != 1 || attrs != 2 {
		t.Fatalf("2 observations made %d GetQueueUrl and %d GetQueueAttributes calls, want 1 and 2", urls, attrs)
	}
	if in := api.urlIn[0]; aws.ToString(in.QueueName) != "orders" || aws.ToString(in.QueueOwnerAWSAccountId) != "123456789012" {
		t.Errorf("GetQueueUrl(QueueName=%q, QueueOwnerAWSAccountId=%q), want orders and 123456789012",
			aws.ToString(in.QueueName), aws.ToString(in.QueueOwnerAWSAccountId))
	}
	for i, in := range api.attrsIn {
		if got := aws.ToString(in.QueueUrl); got != resolvedURL {
			t.Errorf("GetQueueAttributes %d asked %q, want the URL GetQueueUrl gave, %q", i, got, resolvedURL)
		}
		names := map[string]bool{}
		for _, n := range in.AttributeNames {
			names[string(n)] = true
		}
		for _, want := range []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"} {
			if !names[want] {
				t.Errorf("GetQueueAttributes %d asked for %v, missing %s", i, in.AttributeNames, want)
			}
		}
	}
	if got := clients.askedFor(); len(got) != 2 || got[0] != "SQS us-east-1 " {
		t.Errorf("clients asked for %q, want the SQS client of us-east-1 without a role", got)
	}
	want := sqsstats.Target{Region: "us-east-1", Queue: queueurl.Queue{Region: "us-east-1", Account: "123456789012", Name: "orders"}}
	if got := ages.watched[drainer]; got != want {
		t.Errorf("age source watches %+v, want %+v", got, want)
	}
}

func TestObserveResolvesQueueURLAgainAfterQueueDoesNotExist(t *testing.T) {
	o, api, _, _ := newObserver()
	spec := v1alpha1.QueueSpec{URL: ordersURL}

	if obs := observeNow(t, o, drainer, spec); obs.Err != nil {
		t.Fatalf("first observe: %+v", obs.Err)
	}
	api.attrsErr = apiError("AWS.SimpleQueueService.NonExistentQueue") // deleted...
	obs := observeNow(t, o, drainer, spec)
	if obs.Err == nil || obs.Err.Reason != v1alpha1.ReasonQueueDoesNotExist {
		t.Fatalf("observe of a deleted queue: Err = %+v, want %s", obs.Err, v1alpha1.ReasonQueueDoesNotExist)
	}
	api.attrsErr = nil // ...and recreated, maybe at another URL
	api.queueURL = "http://localhost:4566/123456789012/orders-recreated"
	if obs := observeNow(t, o, drainer, spec); obs.Err != nil || obs.Visible != 12000 {
		t.Fatalf("observe of the recreated queue: Err = %+v, Visible = %d", obs.Err, obs.Visible)
	}

	if urls, _ := api.calls(); urls != 2 {
		t.Errorf("GetQueueUrl called %d times, want 2: once at first, once after the queue went missing", urls)
	}
	if got := aws.ToString(api.attrsIn[2].QueueUrl); got != api.queueURL {
		t.Errorf("after re-resolving, GetQueueAttributes asked %q, want %q", got, api.queueURL)
	}
}

func TestObserveClassifiesSQSErrors(t *testing.T) {
	opErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	for _, tc := range []struct {
		name        string
		urlErr      error
		attrsErr    error
		wantReason  string
		wantMessage string
	}{
		{"queue does not exist", apiError("AWS.SimpleQueueService.NonExistentQueue"), nil,
			v1alpha1.ReasonQueueDoesNotExist, "AWS.SimpleQueueService.NonExistentQueue"},
		{"queue does not exist (JSON protocol code)", apiError("QueueDoesNotExist"), nil,
			v1alpha1.ReasonQueueDoesNotExist, "QueueDoesNotExist"},
		{"access denied", apiError("AccessDenied"), nil, v1alpha1.ReasonAccessDenied, "AccessDenied"},
		{"access denied on attributes", nil, apiError("AccessDenied"), v1alpha1.ReasonAccessDenied, "AccessDenied"},
		{"throttling", nil, apiError("ThrottlingException"), v1alpha1.ReasonThrottling, "ThrottlingException"},
		{"network", opErr, nil, v1alpha1.ReasonNetworkError, "connection refused"},
		{"network, wrapped", &smithy.OperationError{ServiceID: "SQS", OperationName: "GetQueueUrl", Err: opErr}, nil,
			v1alpha1.ReasonNetworkError, "connection refused"},
		{"timeout", nil, context.DeadlineExceeded, v1alpha1.ReasonNetworkError, "deadline exceeded"},
		{"unknown AWS code", nil, apiError("KmsDisabled"), v1alpha1.ReasonAWSError, "KmsDisabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, api, _, _ := newObserver()
			api.urlErr, api.attrsErr = tc.urlErr, tc.attrsErr
			obs := observeNow(t, o, drainer, v1alpha1.QueueSpec{URL: ordersURL})
			if obs.Err == nil {
				t.Fatalf("Err = nil, want %s", tc.wantReason)
			}
			if obs.Err.Reason != tc.wantReason || !strings.Contains(obs.Err.Message, tc.wantMessage) {
				t.Errorf("Err = %+v, want reason %s and a message containing %q", obs.Err, tc.wantReason, tc.wantMessage)
			}
			if obs.Visible != 0 || obs.InFlight != 0 || obs.Delayed != 0 {
				t.Errorf("counts = %d/%d/%d with an error, want zeros", obs.Visible, obs.InFlight, obs.Delayed)
			}
		})
	}
}

// A GetQueueAttributes answer without usable counts is not an AWS error:
// the package's ReasonBadResponse exists for it.
func TestObserveReportsBadResponseWhenCountsAreMalformed(t *testing.T) {
	o, api, _, _ := newObserver()
	api.attrs = map[string]string{"ApproximateNumberOfMessages": "lots"}
	obs := observeNow(t, o, drainer, v1alpha1.QueueSpec{URL: ordersURL})
	if obs.Err == nil || obs.Err.Reason != v1alpha1.ReasonBadResponse || !strings.Contains(obs.Err.Message, "ApproximateNumberOfMessages") {
		t.Errorf("Err = %+v, want reason %s naming ApproximateNumberOfMessages", obs.Err, v1alpha1.ReasonBadResponse)
	}
}

func TestObserveRefusesRoleNotAllowedWithoutCallingAWS(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allowed []string
		role    string
	}{
		{"no allow-list", nil, "arn:aws:iam::123456789012:role/drain-orders"},
		{"other role", []string{"arn:aws:iam::123456789012:role/drain-*"}, "arn:aws:iam::123456789012:role/admin"},
		{"other account", []string{"arn:aws:iam::123456789012:role/drain-*"}, "arn:aws:iam::999999999999:role/drain-orders"},
		{"star does not cross a path", []string{"arn:aws:iam::123456789012:role/drain-*"}, "arn:aws:iam::123456789012:role/drain-x/admin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, api, clients, ages := newObserver(tc.allowed...)
			obs := observeNow(t, o, drainer, v1alpha1.QueueSpec{URL: ordersURL, RoleARN: tc.role})
			if obs.Err == nil || obs.Err.Reason != v1alpha1.ReasonRoleNotAllowed || !strings.Contains(obs.Err.Message, tc.role) {
				t.Errorf("Err = %+v, want %s naming %s", obs.Err, v1alpha1.ReasonRoleNotAllowed, tc.role)
			}
			if obs.MetricsErr == nil || obs.MetricsErr.Reason != v1alpha1.ReasonRoleNotAllowed {
				t.Errorf("MetricsErr = %+v, want %s", obs.MetricsErr, v1alpha1.ReasonRoleNotAllowed)
			}
			if urls, attrs := api.calls(); urls+attrs != 0 {
				t.Errorf("made %d GetQueueUrl and %d GetQueueAttributes calls for a refused role, want none", urls, attrs)
			}
			if got := clients.askedFor(); len(got) != 0 {
				t.Errorf("asked for clients %q for a refused role, want none", got)
			}
			if len(ages.watched) != 0 || len(ages.forgotten) == 0 || ages.forgotten[0] != drainer {
				t.Errorf("age source watched %v and forgot %v, want the drainer forgotten, not watched", ages.watched, ages.forgotten)
			}
		})
	}
}

func TestObserveAssumesAnAllowedRoleInTheQueueRegion(t *testing.T) {
	const role = "arn:aws:iam::123456789012:role/drain-orders"
	o, api, clients, ages := newObserver("arn:aws:iam::123456789012:role/admin", "arn:aws:iam::123456789012:role/drain-*")
	obs := observeNow(t, o, drainer, v1alpha1.QueueSpec{
		URL: "https://sqs.eu-central-1.amazonaws.com/123456789012/orders", RoleARN: role})
	if obs.Err != nil || obs.Visible != 12000 {
		t.Fatalf("Err = %+v, Visible = %d, want the counts", obs.Err, obs.Visible)
	}
	if got := clients.askedFor(); len(got) != 1 || got[0] != "SQS eu-central-1 "+role {
		t.Errorf("asked for clients %q, want SQS of eu-central-1 with %s", got, role)
	}
	if urls, _ := api.calls(); urls != 1 {
		t.Errorf("GetQueueUrl calls = %d, want 1", urls)
	}
	if got := ages.watched[drainer]; got.Region != "eu-central-1" || got.RoleARN != role {
		t.Errorf("age source watches region %q role %q, want eu-central-1 and %s", got.Region, got.RoleARN, role)
	}
}

func TestObserveReportsInvalidQueueURLWithoutCallingAWS(t *testing.T) {
	o, api, clients, ages := newObserver()
	obs := observeNow(t, o, drainer, v1alpha1.QueueSpec{URL: "https://example.com/123456789012/orders"})
	if obs.Err == nil || obs.Err.Reason != v1alpha1.ReasonInvalidQueueURL || !strings.Contains(obs.Err.Message, "host") {
		t.Errorf("Err = %+v, want %s saying what is wrong with the host", obs.Err, v1alpha1.ReasonInvalidQueueURL)
	}
	if obs.MetricsErr == nil || obs.MetricsErr.Reason != v1alpha1.ReasonInvalidQueueURL {
		t.Errorf("MetricsErr = %+v, want %s", obs.MetricsErr, v1alpha1.ReasonInvalidQueueURL)
	}
	if urls, attrs := api.calls(); urls+attrs != 0 || len(clients.askedFor()) != 0 {
		t.Errorf("made %d+%d SQS calls and asked for clients %q for an invalid URL, want none", urls, attrs, clients.askedFor())
	}
	if len(ages.watched) != 0 {
		t.Errorf("age source watches %v for an invalid URL", ages.watched)
	}
}

func TestObserveRegionFromSpecOverridesTheURL(t *testing.T) {
	o, _, clients, ages := newObserver()
	obs := observeNow(t, o, drainer, v1alpha1.QueueSpec{URL: ordersURL, Region: "eu-west-1"})
	if obs.Err != nil {
		t.Fatalf("Err = %+v", obs.Err)
	}
	if got := clients.askedFor(); len(got) != 1 || got[0] != "SQS eu-west-1 " {
		t.Errorf("asked for clients %q, want SQS of eu-west-1", got)
	}
	if got := ages.watched[drainer].Region; got != "eu-west-1" {
		t.Errorf("age source watches region %q, want eu-west-1", got)
	}
}

func TestObservePassesOnWhyTheAgeIsUnknown(t *testing.T) {
	o, _, _, ages := newObserver()
	ages.problem = &plan.Problem{Reason: v1alpha1.ReasonThrottling, Message: "ThrottlingException: slow down"}
	obs := observeNow(t, o, drainer, v1alpha1.QueueSpec{URL: ordersURL})
	if obs.Err != nil || obs.Visible != 12000 {
		t.Errorf("Err = %+v, Visible = %d: a CloudWatch problem must not hide the SQS counts", obs.Err, obs.Visible)
	}
	if obs.MetricsErr != ages.problem || obs.OldestAge != nil {
		t.Errorf("MetricsErr = %+v, OldestAge = %v, want the age source's problem and no age", obs.MetricsErr, obs.OldestAge)
	}
}

// observeNow registers the drainer's queue, polls every registered queue
// once and returns what the drainer then reads.
func observeNow(t *testing.T, o *sqsstats.Observer, d types.NamespacedName, spec v1alpha1.QueueSpec) plan.Observation {
	t.Helper()
	o.Observe(context.Background(), d, spec, time.Minute)
	o.Poll(context.Background())
	obs, ok := o.Observe(context.Background(), d, spec, time.Minute)
	if !ok {
		t.Fatalf("%s: no observation after a poll", d)
	}
	return obs
}
