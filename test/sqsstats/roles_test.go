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
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/sqsstats"
)

// fakeAWS answers STS AssumeRole and SQS GetQueueUrl/GetQueueAttributes on
// one endpoint, and records each call with the access key that signed it.
type fakeAWS struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls []string // "<operation> <access key> <region>", plus "role=<arn> session=<name>" for AssumeRole
}

const assumedKey = "ASIAASSUMEDROLEKEY01"

func newFakeAWS(t *testing.T) *fakeAWS {
	f := &fakeAWS{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		signer := signedBy(r)
		if err := r.ParseForm(); err != nil {
			t.Errorf("parsing a request: %v", err)
		}
		switch target := r.Header.Get("X-Amz-Target"); {
		case r.PostForm.Get("Action") == "AssumeRole":
			f.record(fmt.Sprintf("AssumeRole %s role=%s session=%s", signer, r.PostForm.Get("RoleArn"), r.PostForm.Get("RoleSessionName")))
			w.Header().Set("Content-Type", "text/xml")
			fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>assumed-secret</SecretAccessKey><SessionToken>assumed-token</SessionToken>
<Expiration>%s</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/drain-orders/queue-drainer</Arn><AssumedRoleId>AROAEXAMPLE:queue-drainer</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>`,
				assumedKey, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		case target == "AmazonSQS.GetQueueUrl":
			f.record("GetQueueUrl " + signer)
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			_ = json.NewEncoder(w).Encode(map[string]string{"QueueUrl": f.srv.URL + "/123456789012/orders"})
		case target == "AmazonSQS.GetQueueAttributes":
			f.record("GetQueueAttributes " + signer)
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			_ = json.NewEncoder(w).Encode(map[string]any{"Attributes": map[string]string{"ApproximateNumberOfMessages": "7"}})
		default:
			t.Errorf("unexpected request %s %s target %q form %v", r.Method, r.URL, target, r.PostForm)
			http.Error(w, "unexpected", http.StatusBadRequest)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// signedBy is "<access key> <region>" from a SigV4 Authorization header:
// AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, ...
func signedBy(r *http.Request) string {
	cred, _, _ := strings.Cut(strings.TrimPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential="), ",")
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return "unsigned"
	}
	return parts[0] + " " + parts[2]
}

func (f *fakeAWS) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeAWS) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// observerWithRealClients observes through the SDK clients the manager
// uses, with base credentials "BASEKEY" and every AWS endpoint at fake.
func observerWithRealClients(fake *fakeAWS, allowed ...string) *sqsstats.Observer {
	base := aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("BASEKEY", "base-secret", ""),
		BaseEndpoint: aws.String(fake.srv.URL),
	}
	return &sqsstats.Observer{Clients: &sqsstats.Clients{Base: base}, Ages: &fakeAges{}, AllowedRoleARNs: allowed,
		Timeout: 10 * time.Second, Now: func() time.Time { return observed }}
}

func TestAllowedRoleIsAssumedThroughSTSAndSignsTheSQSCalls(t *testing.T) {
	const role = "arn:aws:iam::123456789012:role/drain-orders"
	fake := newFakeAWS(t)
	o := observerWithRealClients(fake, "arn:aws:iam::123456789012:role/drain-*")
	obs := observeNow(t, o, drainer, v1alpha1.QueueSpec{
		URL: "https://sqs.eu-central-1.amazonaws.com/123456789012/orders", RoleARN: role})
	if obs.Err != nil || obs.Visible != 7 {
		t.Fatalf("Err = %+v, Visible = %d; want the counts read with the assumed role", obs.Err, obs.Visible)
	}
	// The base credentials ask STS for the role, and only the role's
	// credentials reach SQS, in the queue's region.
	want := []string{
		"AssumeRole BASEKEY eu-central-1 role=" + role + " session=queue-drainer",
		"GetQueueUrl " + assumedKey + " eu-central-1",
		"GetQueueAttributes " + assumedKey + " eu-central-1",
	}
	if got := fake.recorded(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("AWS calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRoleOutsideTheAllowedPatternsMakesNoAWSCall(t *testing.T) {
	fake := newFakeAWS(t)
	o := observerWithRealClients(fake, "arn:aws:iam::123456789012:role/drain-*")
	const role = "arn:aws:iam::123456789012:role/admin"
	obs := observeNow(t, o, drainer, v1alpha1.QueueSpec{URL: ordersURL, RoleARN: role})
	if obs.Err == nil || obs.Err.Reason != v1alpha1.ReasonRoleNotAllowed || !strings.Contains(obs.Err.Message, role) {
		t.Errorf("Err = %+v, want %s naming %s", obs.Err, v1alpha1.ReasonRoleNotAllowed, role)
	}
	if got := fake.recorded(); len(got) != 0 {
		t.Errorf("a refused role still reached AWS: %q", got)
	}
}
