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
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
	"github.com/fxamacker/cbor/v2"
)

func TestGetMetricDataReturnsEachStatisticPerPeriod(t *testing.T) {
	_, c := newSim(t, Options{})
	d := dims("QueueName", "orders")
	p0, p1, p2 := t0.Add(-3*time.Minute), t0.Add(-2*time.Minute), t0.Add(-1*time.Minute)
	put(t, c, "Shop",
		// period p0: single values 1, 5, 3
		value("Depth", p0.Add(1*time.Second), 1, d...),
		value("Depth", p0.Add(20*time.Second), 5, d...),
		value("Depth", p0.Add(59*time.Second), 3, d...),
		// period p1: Values 2 (x3) and 10 (x1)
		types.MetricDatum{MetricName: aws.String("Depth"), Dimensions: d, Timestamp: aws.Time(p1.Add(5 * time.Second)),
			Values: []float64{2, 10}, Counts: []float64{3, 1}},
		// period p2: a statistic set plus one value
		types.MetricDatum{MetricName: aws.String("Depth"), Dimensions: d, Timestamp: aws.Time(p2),
			StatisticValues: &types.StatisticSet{SampleCount: aws.Float64(4), Sum: aws.Float64(20), Minimum: aws.Float64(-1), Maximum: aws.Float64(9)}},
		value("Depth", p2.Add(30*time.Second), 11, d...),
		// another series that must not leak into the results
		value("Depth", p0, 1000, dims("QueueName", "other")...),
	)

	var queries []types.MetricDataQuery
	for _, stat := range []string{"Maximum", "Minimum", "Average", "Sum", "SampleCount"} {
		queries = append(queries, statQuery(strings.ToLower(stat), "Shop", "Depth", 60, stat, d...))
	}
	out, err := c.GetMetricData(ctxT(t), &cloudwatch.GetMetricDataInput{
		MetricDataQueries: queries,
		StartTime:         aws.Time(t0.Add(-10 * time.Minute)),
		EndTime:           aws.Time(t0),
		ScanBy:            types.ScanByTimestampAscending,
	})
	if err != nil {
		t.Fatalf("GetMetricData: %v", err)
	}
	want := map[string][]float64{
		"maximum":     {5, 10, 11},
		"minimum":     {1, 2, -1},
		"average":     {3, 16.0 / 4, 31.0 / 5},
		"sum":         {9, 16, 31},
		"samplecount": {3, 4, 5},
	}
	for id, values := range want {
		r := resultByID(t, out, id)
		got := flatten(r)
		if !slices.Equal(got.times, []time.Time{p0, p1, p2}) {
			t.Errorf("%s timestamps = %v, want the starts of the three periods %v", id, got.times, []time.Time{p0, p1, p2})
		}
		if !slices.Equal(got.values, values) {
			t.Errorf("%s values = %v, want %v", id, got.values, values)
		}
		if r.StatusCode != types.StatusCodeComplete {
			t.Errorf("%s status = %s, want Complete", id, r.StatusCode)
		}
		if aws.ToString(r.Label) != "Depth" {
			t.Errorf("%s label = %q, want the metric name", id, aws.ToString(r.Label))
		}
	}
}

func TestGetMetricDataAggregatesLongerPeriods(t *testing.T) {
	_, c := newSim(t, Options{})
	for i := range 10 {
		put(t, c, "Shop", value("Age", t0.Add(-time.Duration(10-i)*time.Minute), float64(i)))
	}
	out, err := c.GetMetricData(ctxT(t), &cloudwatch.GetMetricDataInput{
		MetricDataQueries: []types.MetricDataQuery{statQuery("m", "Shop", "Age", 300, "Maximum")},
		StartTime:         aws.Time(t0.Add(-time.Hour)),
		EndTime:           aws.Time(t0),
		ScanBy:            types.ScanByTimestampAscending,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := flatten(out.MetricDataResults[0])
	want := []float64{4, 9} // minutes -10..-6 hold 0..4, minutes -5..-1 hold 5..9
	if !slices.Equal(got.values, want) || !slices.Equal(got.times, []time.Time{t0.Add(-10 * time.Minute), t0.Add(-5 * time.Minute)}) {
		t.Errorf("5-minute maxima = %v at %v, want %v at t0-10m and t0-5m", got.values, got.times, want)
	}
}

func TestGetMetricDataRespectsTheTimeWindow(t *testing.T) {
	_, c := newSim(t, Options{})
	for m := -10; m < 0; m++ {
		put(t, c, "Shop", value("Depth", t0.Add(time.Duration(m)*time.Minute), float64(-m)))
	}
	tests := []struct {
		name       string
		start, end time.Time
		want       []float64 // ascending
	}{
		{"whole periods", t0.Add(-5 * time.Minute), t0.Add(-2 * time.Minute), []float64{5, 4, 3}},
		{"end is exclusive", t0.Add(-3 * time.Minute), t0.Add(-1 * time.Minute), []float64{3, 2}},
		{"start rounds down to the period", t0.Add(-3*time.Minute + 30*time.Second), t0.Add(-1 * time.Minute), []float64{3, 2}},
		{"window without data", t0.Add(-2 * time.Hour), t0.Add(-time.Hour), nil},
		{"everything", t0.Add(-time.Hour), t0.Add(time.Hour), []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.GetMetricData(ctxT(t), &cloudwatch.GetMetricDataInput{
				MetricDataQueries: []types.MetricDataQuery{statQuery("m", "Shop", "Depth", 60, "Maximum")},
				StartTime:         aws.Time(tc.start), EndTime: aws.Time(tc.end),
				ScanBy: types.ScanByTimestampAscending,
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := flatten(out.MetricDataResults[0]).values; !slices.Equal(got, tc.want) {
				t.Errorf("values = %v, want %v", got, tc.want)
			}
		})
	}

	_, err := c.GetMetricData(ctxT(t), &cloudwatch.GetMetricDataInput{
		MetricDataQueries: []types.MetricDataQuery{statQuery("m", "Shop", "Depth", 60, "Maximum")},
		StartTime:         aws.Time(t0), EndTime: aws.Time(t0.Add(-time.Minute)),
	})
	if code := errorCode(err); code != "InvalidParameterValue" {
		t.Errorf("StartTime after EndTime: error code %q (%v), want InvalidParameterValue", code, err)
	}
}

func TestGetMetricDataScanByOrdersTimestamps(t *testing.T) {
	_, c := newSim(t, Options{})
	for m := 1; m <= 3; m++ {
		put(t, c, "Shop", value("Depth", t0.Add(-time.Duration(m)*time.Minute), float64(m)))
	}
	query := func(scanBy types.ScanBy) []float64 {
		out, err := c.GetMetricData(ctxT(t), &cloudwatch.GetMetricDataInput{
			MetricDataQueries: []types.MetricDataQuery{statQuery("m", "Shop", "Depth", 60, "Sum")},
			StartTime:         aws.Time(t0.Add(-time.Hour)), EndTime: aws.Time(t0),
			ScanBy: scanBy,
		})
		if err != nil {
			t.Fatal(err)
		}
		got := flatten(out.MetricDataResults[0])
		sorted := slices.IsSortedFunc(got.times, func(a, b time.Time) int { return a.Compare(b) })
		if scanBy != types.ScanByTimestampAscending {
			sorted = slices.IsSortedFunc(got.times, func(a, b time.Time) int { return b.Compare(a) })
		}
		if !sorted {
			t.Errorf("ScanBy %q: timestamps %v are not in that order", scanBy, got.times)
		}
		return got.values
	}
	if got := query(""); !slices.Equal(got, []float64{1, 2, 3}) {
		t.Errorf("default order = %v, want newest first [1 2 3]", got)
	}
	if got := query(types.ScanByTimestampDescending); !slices.Equal(got, []float64{1, 2, 3}) {
		t.Errorf("TimestampDescending = %v, want [1 2 3]", got)
	}
	if got := query(types.ScanByTimestampAscending); !slices.Equal(got, []float64{3, 2, 1}) {
		t.Errorf("TimestampAscending = %v, want [3 2 1]", got)
	}
}

func TestGetMetricDataPaginatesWithNextToken(t *testing.T) {
	sim, c := newSim(t, Options{PageSize: 100})
	// Two queues with 240 and 130 one-minute datapoints each (370 total).
	counts := map[string]int{"a": 240, "b": 130}
	for q, n := range counts {
		var data []types.MetricDatum
		for i := range n {
			data = append(data, value("Age", t0.Add(-time.Duration(i+1)*time.Minute), float64(i), dims("QueueName", q)...))
		}
		put(t, c, "Shop", data...)
	}
	in := &cloudwatch.GetMetricDataInput{
		MetricDataQueries: []types.MetricDataQuery{
			statQuery("a", "Shop", "Age", 60, "Maximum", dims("QueueName", "a")...),
			statQuery("b", "Shop", "Age", 60, "Maximum", dims("QueueName", "b")...),
		},
		StartTime: aws.Time(t0.Add(-24 * time.Hour)), EndTime: aws.Time(t0),
	}

	first, err := c.GetMetricData(ctxT(t), in)
	if err != nil {
		t.Fatal(err)
	}
	if first.NextToken == nil {
		t.Fatal("first page of 370 datapoints has no NextToken")
	}
	if r := resultByID(t, first, "a"); len(r.Values) != 100 || r.StatusCode != types.StatusCodePartialData {
		t.Errorf("first page: a has %d values with status %s, want 100 and PartialData", len(r.Values), r.StatusCode)
	}
	if r := resultByID(t, first, "b"); len(r.Values) != 0 || r.StatusCode != types.StatusCodePartialData {
		t.Errorf("first page: b has %d values with status %s, want 0 and PartialData", len(r.Values), r.StatusCode)
	}

	collect := func(in *cloudwatch.GetMetricDataInput) (map[string]seriesOut, int) {
		before := sim.Calls(OpGetMetricData)
		got := map[string]seriesOut{}
		p := cloudwatch.NewGetMetricDataPaginator(c, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page.MetricDataResults {
				s := got[aws.ToString(r.Id)]
				f := flatten(r)
				s.times = append(s.times, f.times...)
				s.values = append(s.values, f.values...)
				got[aws.ToString(r.Id)] = s
			}
		}
		return got, sim.Calls(OpGetMetricData) - before
	}

	got, calls := collect(in)
	if calls != 4 {
		t.Errorf("paginator made %d GetMetricData calls for 370 datapoints at 100 a page, want 4", calls)
	}
	for q, n := range counts {
		s := got[q]
		if len(s.values) != n {
			t.Errorf("query %s: collected %d datapoints, want %d", q, len(s.values), n)
			continue
		}
		for i, v := range s.values { // newest first: value i at minute -(i+1)
			if v != float64(i) || !s.times[i].Equal(t0.Add(-time.Duration(i+1)*time.Minute)) {
				t.Errorf("query %s datapoint %d = %v at %v, want %d at %v", q, i, v, s.times[i], i, t0.Add(-time.Duration(i+1)*time.Minute))
				break
			}
		}
	}

	in.MaxDatapoints = aws.Int32(50)
	if _, calls := collect(in); calls != 8 {
		t.Errorf("with MaxDatapoints 50 the paginator made %d calls, want 8", calls)
	}
}

func TestGetMetricDataRefusesANextTokenFromAnotherRequest(t *testing.T) {
	_, c := newSim(t, Options{PageSize: 1})
	put(t, c, "Shop", value("Depth", t0.Add(-2*time.Minute), 1), value("Depth", t0.Add(-time.Minute), 2))
	in := &cloudwatch.GetMetricDataInput{
		MetricDataQueries: []types.MetricDataQuery{statQuery("m", "Shop", "Depth", 60, "Sum")},
		StartTime:         aws.Time(t0.Add(-time.Hour)), EndTime: aws.Time(t0),
	}
	out, err := c.GetMetricData(ctxT(t), in)
	if err != nil || out.NextToken == nil {
		t.Fatalf("first page: %v, token %v", err, out.NextToken)
	}
	other := *in
	other.StartTime = aws.Time(t0.Add(-2 * time.Hour))
	for _, tok := range []string{*out.NextToken, "garbage!"} {
		other.NextToken = aws.String(tok)
		_, err := c.GetMetricData(ctxT(t), &other)
		var typed *types.InvalidNextToken
		if !errors.As(err, &typed) || errorCode(err) != "InvalidNextToken" {
			t.Errorf("token %q on another request: %v, want *types.InvalidNextToken with code InvalidNextToken", tok, err)
		}
	}
}

func TestGetMetricDataRefusesMoreThan500Queries(t *testing.T) {
	sim, c := newSim(t, Options{})
	queries := func(n int) []types.MetricDataQuery {
		var qs []types.MetricDataQuery
		for i := range n {
			qs = append(qs, statQuery(fmt.Sprintf("q%d", i), "AWS/SQS", "ApproximateAgeOfOldestMessage", 60, "Maximum", dims("QueueName", fmt.Sprintf("queue-%d", i))...))
		}
		return qs
	}
	in := &cloudwatch.GetMetricDataInput{StartTime: aws.Time(t0.Add(-time.Hour)), EndTime: aws.Time(t0)}

	in.MetricDataQueries = queries(500)
	out, err := c.GetMetricData(ctxT(t), in)
	if err != nil {
		t.Fatalf("500 queries: %v", err)
	}
	if len(out.MetricDataResults) != 500 {
		t.Errorf("500 queries gave %d results", len(out.MetricDataResults))
	}

	in.MetricDataQueries = queries(501)
	_, err = c.GetMetricData(ctxT(t), in)
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("501 queries: %v, want a smithy.APIError", err)
	}
	if apiErr.ErrorCode() != "InvalidParameterValue" || apiErr.ErrorFault() != smithy.FaultClient {
		t.Errorf("501 queries: code %q fault %v, want InvalidParameterValue from the client", apiErr.ErrorCode(), apiErr.ErrorFault())
	}
	var typed *types.InvalidParameterValueException
	if !errors.As(err, &typed) {
		t.Errorf("501 queries: %T, want *types.InvalidParameterValueException", err)
	}
	if !strings.Contains(apiErr.ErrorMessage(), "500") {
		t.Errorf("message %q does not state the limit", apiErr.ErrorMessage())
	}
	if got := sim.Calls(OpGetMetricData); got != 2 {
		t.Errorf("Calls = %d, want 2 (the refusal is not retried)", got)
	}
}

func TestGetMetricDataRefusesUnsupportedQueries(t *testing.T) {
	_, c := newSim(t, Options{})
	expr := types.MetricDataQuery{Id: aws.String("e1"), Expression: aws.String("SUM(METRICS())")}
	pct := statQuery("p", "Shop", "Depth", 60, "p99")
	badPeriod := statQuery("b", "Shop", "Depth", 90, "Sum")
	badID := statQuery("Upper", "Shop", "Depth", 60, "Sum")
	dup := statQuery("d", "Shop", "Depth", 60, "Sum")
	tests := []struct {
		name    string
		queries []types.MetricDataQuery
		msg     string
	}{
		{"metric math", []types.MetricDataQuery{expr}, "does not evaluate metric math"},
		{"percentile statistic", []types.MetricDataQuery{pct}, "p99"},
		{"period not a multiple of 60", []types.MetricDataQuery{badPeriod}, "Period"},
		{"id not starting lowercase", []types.MetricDataQuery{badID}, "Id"},
		{"duplicate ids", []types.MetricDataQuery{dup, dup}, "more than one"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.GetMetricData(ctxT(t), &cloudwatch.GetMetricDataInput{
				MetricDataQueries: tc.queries, StartTime: aws.Time(t0.Add(-time.Hour)), EndTime: aws.Time(t0),
			})
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidParameterValue" || !strings.Contains(apiErr.ErrorMessage(), tc.msg) {
				t.Errorf("got %v, want InvalidParameterValue mentioning %q", err, tc.msg)
			}
		})
	}
}

func TestInjectedFailureSurfacesAsAPIError(t *testing.T) {
	sim, c := newSim(t, Options{})
	in := &cloudwatch.GetMetricDataInput{
		MetricDataQueries: []types.MetricDataQuery{statQuery("m", "Shop", "Depth", 60, "Sum")},
		StartTime:         aws.Time(t0.Add(-time.Hour)), EndTime: aws.Time(t0),
	}

	t.Run("unmodeled code", func(t *testing.T) {
		sim.Reset()
		sim.FailNext(OpGetMetricData, 1, "AccessDenied", 403)
		_, err := c.GetMetricData(ctxT(t), in)
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDenied" {
			t.Fatalf("got %v, want smithy.APIError AccessDenied", err)
		}
		if !strings.Contains(apiErr.ErrorMessage(), "injected") {
			t.Errorf("message %q", apiErr.ErrorMessage())
		}
		if _, err := c.GetMetricData(ctxT(t), in); err != nil {
			t.Errorf("the call after the injected failure: %v", err)
		}
		if got := sim.Calls(OpGetMetricData); got != 2 {
			t.Errorf("Calls = %d, want 2", got)
		}
	})

	t.Run("modeled code", func(t *testing.T) {
		sim.Reset()
		sim.FailNext(OpGetMetricData, 1, "InvalidParameterValueException", 0)
		_, err := c.GetMetricData(ctxT(t), in)
		var typed *types.InvalidParameterValueException
		if !errors.As(err, &typed) || typed.ErrorCode() != "InvalidParameterValue" {
			t.Fatalf("got %v, want *types.InvalidParameterValueException with code InvalidParameterValue", err)
		}
	})

	t.Run("throttling is retried by the SDK", func(t *testing.T) {
		sim.Reset()
		sim.FailNext(OpGetMetricData, 2, "Throttling", 400)
		if _, err := c.GetMetricData(ctxT(t), in); err != nil {
			t.Fatalf("two throttles then success: %v", err)
		}
		if got := sim.Calls(OpGetMetricData); got != 3 {
			t.Errorf("Calls = %d, want 3 (two throttled attempts and one success)", got)
		}
	})

	t.Run("server fault after retries", func(t *testing.T) {
		sim.Reset()
		sim.FailNext(OpGetMetricData, 10, "InternalServiceError", 0)
		_, err := c.GetMetricData(ctxT(t), in)
		var typed *types.InternalServiceFault
		if !errors.As(err, &typed) || typed.ErrorCode() != "InternalServiceError" || typed.ErrorFault() != smithy.FaultServer {
			t.Fatalf("got %v, want *types.InternalServiceFault InternalServiceError", err)
		}
		if got := sim.Calls(OpGetMetricData); got != 3 {
			t.Errorf("Calls = %d, want 3 (the SDK's default attempts)", got)
		}
	})
}

func TestListMetricsFilters(t *testing.T) {
	_, c := newSim(t, Options{ListPageSize: 2})
	put(t, c, "Shop",
		value("Depth", t0, 1, dims("QueueName", "orders")...),
		value("Depth", t0, 1, dims("QueueName", "payments")...),
		value("Age", t0, 1, dims("QueueName", "orders")...),
		value("Depth", t0, 1, dims("QueueName", "orders", "Env", "prod")...),
		value("Depth", t0, 1),
	)
	put(t, c, "Other", value("Depth", t0, 1, dims("QueueName", "orders")...))

	list := func(in *cloudwatch.ListMetricsInput) []string {
		var got []string
		p := cloudwatch.NewListMetricsPaginator(c, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Metrics) > 2 {
				t.Errorf("page of %d metrics, want at most 2", len(page.Metrics))
			}
			for _, m := range page.Metrics {
				s := aws.ToString(m.Namespace) + "/" + aws.ToString(m.MetricName)
				for _, d := range m.Dimensions {
					s += fmt.Sprintf(" %s=%s", aws.ToString(d.Name), aws.ToString(d.Value))
				}
				got = append(got, s)
			}
		}
		slices.Sort(got)
		return got
	}
	tests := []struct {
		name string
		in   cloudwatch.ListMetricsInput
		want []string
	}{
		{"namespace", cloudwatch.ListMetricsInput{Namespace: aws.String("Other")}, []string{"Other/Depth QueueName=orders"}},
		{"metric name", cloudwatch.ListMetricsInput{Namespace: aws.String("Shop"), MetricName: aws.String("Age")}, []string{"Shop/Age QueueName=orders"}},
		{"dimension value", cloudwatch.ListMetricsInput{Namespace: aws.String("Shop"), MetricName: aws.String("Depth"),
			Dimensions: []types.DimensionFilter{{Name: aws.String("QueueName"), Value: aws.String("orders")}}},
			[]string{"Shop/Depth Env=prod QueueName=orders", "Shop/Depth QueueName=orders"}},
		{"dimension name only", cloudwatch.ListMetricsInput{Dimensions: []types.DimensionFilter{{Name: aws.String("Env")}}},
			[]string{"Shop/Depth Env=prod QueueName=orders"}},
		{"all, over several pages", cloudwatch.ListMetricsInput{}, []string{
			"Other/Depth QueueName=orders", "Shop/Age QueueName=orders", "Shop/Depth",
			"Shop/Depth Env=prod QueueName=orders", "Shop/Depth QueueName=orders", "Shop/Depth QueueName=payments"}},
		{"recently active", cloudwatch.ListMetricsInput{Namespace: aws.String("Other"), RecentlyActive: types.RecentlyActivePt3h},
			[]string{"Other/Depth QueueName=orders"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(&tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("ListMetrics = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPutMetricDataRefusesWhatCloudWatchRefuses(t *testing.T) {
	_, c := newSim(t, Options{})
	tests := []struct {
		name string
		ns   string
		d    types.MetricDatum
		code string
	}{
		{"AWS namespace", "AWS/SQS", value("Depth", t0, 1), "InvalidParameterValue"},
		{"NaN", "Shop", value("Depth", t0, math.NaN()), "InvalidParameterValue"},
		{"infinite", "Shop", value("Depth", t0, math.Inf(1)), "InvalidParameterValue"},
		{"older than two weeks", "Shop", value("Depth", t0.Add(-15*24*time.Hour), 1), "InvalidParameterValue"},
		{"more than two hours ahead", "Shop", value("Depth", t0.Add(3*time.Hour), 1), "InvalidParameterValue"},
		{"Value and StatisticValues", "Shop", types.MetricDatum{MetricName: aws.String("Depth"), Value: aws.Float64(1),
			StatisticValues: &types.StatisticSet{SampleCount: aws.Float64(1), Sum: aws.Float64(1), Minimum: aws.Float64(1), Maximum: aws.Float64(1)}},
			"InvalidParameterCombination"},
		{"Counts not matching Values", "Shop", types.MetricDatum{MetricName: aws.String("Depth"), Values: []float64{1, 2}, Counts: []float64{1}},
			"InvalidParameterValue"},
		{"no value at all", "Shop", types.MetricDatum{MetricName: aws.String("Depth")}, "MissingParameter"},
		{"duplicate dimension", "Shop", value("Depth", t0, 1, dims("A", "1", "A", "2")...), "InvalidParameterValue"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.PutMetricData(ctxT(t), &cloudwatch.PutMetricDataInput{Namespace: aws.String(tc.ns), MetricData: []types.MetricDatum{tc.d}})
			if code := errorCode(err); code != tc.code {
				t.Errorf("error %v has code %q, want %q", err, code, tc.code)
			}
		})
	}
}

func TestPutMetricDataAcceptsAWSNamespacesWhenAllowed(t *testing.T) {
	_, c := newSim(t, Options{AllowAWSNamespaces: true})
	d := dims("QueueName", "orders")
	put(t, c, "AWS/SQS", value("ApproximateAgeOfOldestMessage", t0.Add(-time.Minute), 900, d...))
	out, err := c.GetMetricData(ctxT(t), &cloudwatch.GetMetricDataInput{
		MetricDataQueries: []types.MetricDataQuery{statQuery("age", "AWS/SQS", "ApproximateAgeOfOldestMessage", 60, "Maximum", d...)},
		StartTime:         aws.Time(t0.Add(-time.Hour)), EndTime: aws.Time(t0),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.MetricDataResults[0].Values; !slices.Equal(got, []float64{900}) {
		t.Errorf("values = %v, want [900]", got)
	}
}

func TestLargePutMetricDataIsAcceptedGzipped(t *testing.T) {
	sim := New(Options{Now: (&fixedClock{now: t0}).Now})
	var mu sync.Mutex
	var encodings []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		encodings = append(encodings, r.Header.Get("Content-Encoding"))
		mu.Unlock()
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	c := newClient(ts.URL)

	var data []types.MetricDatum
	for i := range 1000 {
		data = append(data, value("Depth", t0.Add(-time.Duration(i%120)*time.Minute), float64(i), dims("QueueName", fmt.Sprintf("queue-%04d", i))...))
	}
	put(t, c, "Shop", data...)
	if !slices.Contains(encodings, "gzip") {
		t.Errorf("Content-Encoding of the requests = %q; expected the SDK to gzip a 1000-datum request", encodings)
	}
	out, err := c.GetMetricData(ctxT(t), &cloudwatch.GetMetricDataInput{
		MetricDataQueries: []types.MetricDataQuery{statQuery("m", "Shop", "Depth", 60, "Sum", dims("QueueName", "queue-0999")...)},
		StartTime:         aws.Time(t0.Add(-3 * time.Hour)), EndTime: aws.Time(t0.Add(time.Minute)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.MetricDataResults[0].Values; !slices.Equal(got, []float64{999}) {
		t.Errorf("datum 999 reads back as %v", got)
	}
}

func TestVisibilityDelayHidesFreshDatapoints(t *testing.T) {
	clock := &fixedClock{now: t0}
	_, c := newSim(t, Options{VisibilityDelay: 2 * time.Minute, Now: clock.Now})
	put(t, c, "Shop", value("Depth", t0, 7))
	get := func() []float64 {
		out, err := c.GetMetricData(ctxT(t), &cloudwatch.GetMetricDataInput{
			MetricDataQueries: []types.MetricDataQuery{statQuery("m", "Shop", "Depth", 60, "Maximum")},
			StartTime:         aws.Time(t0.Add(-time.Hour)), EndTime: aws.Time(t0.Add(time.Hour)),
		})
		if err != nil {
			t.Fatal(err)
		}
		return out.MetricDataResults[0].Values
	}
	if got := get(); len(got) != 0 {
		t.Errorf("right after the put: %v, want no datapoints yet", got)
	}
	clock.now = t0.Add(2 * time.Minute)
	if got := get(); !slices.Equal(got, []float64{7}) {
		t.Errorf("after the delay: %v, want [7]", got)
	}
}

func TestUnknownOperationIsNotFound(t *testing.T) {
	sim, c := newSim(t, Options{})
	_, err := c.DescribeAlarms(ctxT(t), &cloudwatch.DescribeAlarmsInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "UnknownOperationException" || !strings.Contains(apiErr.ErrorMessage(), "DescribeAlarms") {
		t.Fatalf("DescribeAlarms: %v, want UnknownOperationException naming the operation", err)
	}
	if got := sim.Calls("DescribeAlarms"); got != 1 {
		t.Errorf("Calls(DescribeAlarms) = %d, want 1 (404 is not retried)", got)
	}
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/service/OtherService/operation/GetMetricData", nil))
	if rec.Code != http.StatusNotFound || wireErrorType(t, rec.Body.Bytes()) != "UnknownOperationException" {
		t.Errorf("wrong service path: %d %q", rec.Code, rec.Body.String())
	}
}

func TestMalformedCBORIsASerializationError(t *testing.T) {
	sim := New(Options{})
	bodies := map[string][]byte{
		"truncated map":      {0xbf, 0x69, 'N', 'a', 'm'},
		"not a map":          {0x01},
		"wrong member type":  mustCBOR(t, map[string]any{"MetricDataQueries": "all"}),
		"untagged timestamp": mustCBOR(t, map[string]any{"StartTime": 1.5}),
		"trailing garbage":   append(mustCBOR(t, map[string]any{}), 0xff, 0x00),
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, operationDir+OpGetMetricData, bytes.NewReader(body))
			req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
			req.Header.Set("Content-Type", "application/cbor")
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, req)
			if rec.Code != http.StatusBadRequest {
				t.Errorf("status %d, want 400", rec.Code)
			}
			if typ := wireErrorType(t, rec.Body.Bytes()); typ != "SerializationException" {
				t.Errorf("__type %q, want SerializationException", typ)
			}
		})
	}
}

func TestSDKFindsTheSimulatorThroughTheEndpointEnvironmentVariable(t *testing.T) {
	sim := New(Options{Now: (&fixedClock{now: t0}).Now})
	url, stop, err := sim.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_CLOUDWATCH", url)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg, err := config.LoadDefaultConfig(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	c := cloudwatch.NewFromConfig(cfg)
	if _, err := c.ListMetrics(ctxT(t), &cloudwatch.ListMetricsInput{}); err != nil {
		t.Fatalf("ListMetrics through AWS_ENDPOINT_URL_CLOUDWATCH: %v", err)
	}
	if sim.Calls(OpListMetrics) != 1 {
		t.Errorf("the simulator saw %d ListMetrics calls, want 1", sim.Calls(OpListMetrics))
	}
}

// errorCode is the smithy error code of err, or "" when it has none.
func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func mustCBOR(t *testing.T, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wireErrorType decodes an error body and returns its __type.
func wireErrorType(t *testing.T, body []byte) string {
	t.Helper()
	var m map[string]any
	if err := cbor.Unmarshal(body, &m); err != nil {
		t.Fatalf("error body %x is not CBOR: %v", body, err)
	}
	s, _ := m["__type"].(string)
	return s
}
