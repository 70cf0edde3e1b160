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
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/fxamacker/cbor/v2"
)

type capturedRequest struct {
	op   string
	body []byte // decompressed
}

// captureSDKRequests sends real SDK requests of every simulated operation
// to the simulator and returns their bodies.
func captureSDKRequests(tb testing.TB) []capturedRequest {
	tb.Helper()
	sim := New(Options{Now: (&fixedClock{now: t0}).Now, PageSize: 1})
	var mu sync.Mutex
	var got []capturedRequest
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				tb.Errorf("gzip: %v", err)
			} else {
				body, _ = io.ReadAll(zr)
			}
			r.Header.Del("Content-Encoding")
		}
		mu.Lock()
		got = append(got, capturedRequest{op: strings.TrimPrefix(r.URL.Path, operationDir), body: body})
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		sim.ServeHTTP(w, r)
	}))
	defer ts.Close()
	c := newClient(ts.URL)
	ctx := tb.Context()
	d := dims("QueueName", "orders", "Env", "prod")

	_, _ = c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("Shop"), MetricData: []types.MetricDatum{
		value("Depth", t0.Add(-time.Minute), 3, d...),
		{MetricName: aws.String("Depth"), Dimensions: d, Timestamp: aws.Time(t0.Add(-90 * time.Second)),
			Values: []float64{1, 2.5, -4}, Counts: []float64{1, 2, 3}, Unit: types.StandardUnitCount, StorageResolution: aws.Int32(1)},
		{MetricName: aws.String("Age"), Timestamp: aws.Time(t0.Add(-2 * time.Minute)), Unit: types.StandardUnitSeconds,
			StatisticValues: &types.StatisticSet{SampleCount: aws.Float64(2), Sum: aws.Float64(10), Minimum: aws.Float64(4), Maximum: aws.Float64(6)}},
	}})
	_, _ = c.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		MetricDataQueries: []types.MetricDataQuery{
			statQuery("depth", "Shop", "Depth", 60, "Average", d...),
			{Id: aws.String("age"), Label: aws.String("age of oldest"), ReturnData: aws.Bool(true),
				MetricStat: &types.MetricStat{Metric: &types.Metric{Namespace: aws.String("Shop"), MetricName: aws.String("Age")},
					Period: aws.Int32(60), Stat: aws.String("Maximum"), Unit: types.StandardUnitSeconds}},
			{Id: aws.String("e"), Expression: aws.String("depth * 2")},
		},
		StartTime: aws.Time(t0.Add(-time.Hour)), EndTime: aws.Time(t0),
		ScanBy:        types.ScanByTimestampAscending,
		MaxDatapoints: aws.Int32(10),
		LabelOptions:  &types.LabelOptions{Timezone: aws.String("+0130")},
	})
	p := cloudwatch.NewGetMetricDataPaginator(c, &cloudwatch.GetMetricDataInput{
		MetricDataQueries: []types.MetricDataQuery{statQuery("depth", "Shop", "Depth", 60, "SampleCount", d...)},
		StartTime:         aws.Time(t0.Add(-time.Hour)), EndTime: aws.Time(t0),
	})
	for p.HasMorePages() { // the second page carries a NextToken
		if _, err := p.NextPage(ctx); err != nil {
			break
		}
	}
	_, _ = c.ListMetrics(ctx, &cloudwatch.ListMetricsInput{
		Namespace: aws.String("Shop"), MetricName: aws.String("Depth"), RecentlyActive: types.RecentlyActivePt3h,
		Dimensions: []types.DimensionFilter{{Name: aws.String("QueueName"), Value: aws.String("orders")}, {Name: aws.String("Env")}},
		NextToken:  aws.String("bm90IGEgdG9rZW4"),
	})
	_, _ = c.ListMetrics(ctx, &cloudwatch.ListMetricsInput{})
	return got
}

func TestCapturedSDKRequestsDecode(t *testing.T) {
	reqs := captureSDKRequests(t)
	seen := map[string]int{}
	for _, r := range reqs {
		if _, apiErr := decodeRequest(r.op, "", r.body); apiErr != nil {
			t.Errorf("%s request %x does not decode: %v", r.op, r.body, apiErr)
		}
		seen[r.op]++
	}
	for _, op := range supportedOperations {
		if seen[op] == 0 {
			t.Errorf("no %s request captured", op)
		}
	}
	withToken := false
	for _, r := range reqs {
		withToken = withToken || (r.op == OpGetMetricData && bytes.Contains(r.body, []byte("NextToken")))
	}
	if !withToken {
		t.Error("no GetMetricData request with a NextToken captured")
	}
}

// FuzzDecodeRequest throws arbitrary bodies at the request path of the
// simulator: decoding, validation and the operation itself must never
// panic, and every answer must be 200 or an error the SDK can decode.
func FuzzDecodeRequest(f *testing.F) {
	for _, r := range captureSDKRequests(f) {
		f.Add(r.op, r.body, false)
	}
	f.Add(OpGetMetricData, []byte{0xbf, 0xff}, false)
	f.Add(OpPutMetricData, []byte{0x1f, 0x8b, 0x08, 0x00}, true)
	f.Add("DescribeAlarms", []byte{}, false)

	f.Fuzz(func(t *testing.T, op string, body []byte, gz bool) {
		if in, apiErr := decodeRequest(op, "", body); (in == nil) == (apiErr == nil) {
			t.Fatalf("decodeRequest returned %v and %v; want exactly one", in, apiErr)
		}

		sim := New(Options{Now: (&fixedClock{now: t0}).Now, PageSize: 3, AllowAWSNamespaces: true})
		sim.PutValue("Shop", "Depth", []Dimension{{"QueueName", "orders"}, {"Env", "prod"}}, t0.Add(-time.Minute), 3, "Count")
		sim.PutValue("Shop", "Age", nil, t0.Add(-2*time.Minute), 5, "Seconds")
		req := httptest.NewRequest(http.MethodPost, operationDir+"Op", bytes.NewReader(body))
		req.URL.Path = operationDir + op // op may not parse as a URL
		req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
		req.Header.Set("Content-Type", "application/cbor")
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)

		var out map[string]any
		if err := cbor.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("status %d with a body that is not a CBOR map: %v", rec.Code, err)
		}
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge:
			if typ, _ := out["__type"].(string); typ == "" {
				t.Fatalf("status %d without __type: %v", rec.Code, out)
			}
		default:
			t.Fatalf("unexpected status %d: %v", rec.Code, out)
		}
	})
}
