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
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits CloudWatch documents and the simulator enforces.
const (
	maxQueries          = 500
	maxMetricData       = 1000
	maxDimensions       = 30
	maxDimensionFilters = 10
	maxValues           = 150
	defaultMaxDatapoint = 100800
	maxPastAge          = 14 * 24 * time.Hour
	maxFutureSkew       = 2 * time.Hour
	recentlyActiveAge   = 3 * time.Hour
)

// unitNone is the unit of a datum that gives none.
const unitNone = "None"

var (
	standardUnits = []string{
		"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
		"Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
		"Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
		"Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
		"Count/Second", unitNone,
	}
	queryIDPattern = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]*$`)
	// CloudWatch rejects values outside +/-2^360 (and NaN/Inf).
	maxMetricValue = math.Pow(2, 360)
)

func validUnit(u string) bool { return slices.Contains(standardUnits, u) }

// validPeriod reports whether p seconds is a period CloudWatch accepts:
// 1, 5, 10, 20, 30 (high resolution) or a multiple of 60.
func validPeriod(p int64) bool {
	switch {
	case p == 1 || p == 5 || p == 10 || p == 20 || p == 30:
		return true
	case p >= 60 && p%60 == 0 && p <= 1<<31:
		return true
	}
	return false
}

func checkValue(field string, v float64) *APIError {
	if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > maxMetricValue {
		return errInvalidParameterValue("The value %v for parameter %s is invalid.", v, field)
	}
	return nil
}

func checkDimensions(field string, dims []wireDimension) ([]Dimension, *APIError) {
	if len(dims) > maxDimensions {
		return nil, errInvalidParameterValue("The collection %s.Dimensions must not have a size greater than %d.", field, maxDimensions)
	}
	out := make([]Dimension, 0, len(dims))
	seen := map[string]bool{}
	for j, d := range dims {
		df := fmt.Sprintf("%s.Dimensions.member.%d", field, j+1)
		if d.Name == nil || *d.Name == "" {
			return nil, errMissingParameter("The parameter %s.Name is required.", df)
		}
		if d.Value == nil || *d.Value == "" {
			return nil, errMissingParameter("The parameter %s.Value is required.", df)
		}
		if len(*d.Name) > 255 || len(*d.Value) > 1024 {
			return nil, errInvalidParameterValue("The parameter %s is too long (Name at most 255, Value at most 1024 characters).", df)
		}
		if seen[*d.Name] {
			return nil, errInvalidParameterValue("The dimension name %q appears more than once in %s.Dimensions.", *d.Name, field)
		}
		seen[*d.Name] = true
		out = append(out, Dimension{Name: *d.Name, Value: *d.Value})
	}
	return out, nil
}

// ---- PutMetricData -------------------------------------------------------

type validDatum struct {
	name string
	dims []Dimension
	s    sample
}

func (s *Server) putMetricData(in *putMetricDataInput, now time.Time) (any, *APIError) {
	ns := str(in.Namespace)
	switch {
	case ns == "":
		return nil, errMissingParameter("The parameter Namespace is required.")
	case len(ns) > 255:
		return nil, errInvalidParameterValue("The parameter Namespace must be at most 255 characters.")
	case strings.HasPrefix(ns, "AWS/") && !s.opts.AllowAWSNamespaces:
		return nil, errInvalidParameterValue("The value %s for parameter Namespace is invalid: namespaces starting with \"AWS/\" are reserved for AWS services.", ns)
	case len(in.EntityMetricData) > 0:
		return nil, errInvalidParameterValue("cwsim does not simulate EntityMetricData; send MetricData.")
	case len(in.MetricData) == 0:
		return nil, errMissingParameter("The parameter MetricData is required.")
	case len(in.MetricData) > maxMetricData:
		return nil, errInvalidParameterValue("The collection MetricData must not have a size greater than %d.", maxMetricData)
	}
	valid := make([]validDatum, 0, len(in.MetricData))
	for i, d := range in.MetricData {
		vd, apiErr := checkDatum(fmt.Sprintf("MetricData.member.%d", i+1), d, now)
		if apiErr != nil {
			return nil, apiErr
		}
		if vd.s.count > 0 {
			valid = append(valid, vd)
		}
	}
	for _, vd := range valid {
		s.store.put(ns, vd.name, vd.dims, vd.s)
	}
	return emptyOutput{}, nil
}

func checkDatum(field string, d wireMetricDatum, now time.Time) (validDatum, *APIError) {
	var vd validDatum
	vd.name = str(d.MetricName)
	if vd.name == "" {
		return vd, errMissingParameter("The parameter %s.MetricName is required.", field)
	}
	if len(vd.name) > 255 {
		return vd, errInvalidParameterValue("The parameter %s.MetricName must be at most 255 characters.", field)
	}
	dims, apiErr := checkDimensions(field, d.Dimensions)
	if apiErr != nil {
		return vd, apiErr
	}
	vd.dims = dims

	ts, apiErr := checkTimestamp(field, d.Timestamp, now)
	if apiErr != nil {
		return vd, apiErr
	}
	unit, apiErr := checkUnit(field, d)
	if apiErr != nil {
		return vd, apiErr
	}

	given := 0
	for _, set := range []bool{d.Value != nil, d.StatisticValues != nil, d.Values != nil || d.Counts != nil} {
		if set {
			given++
		}
	}
	switch {
	case given == 0:
		return vd, errMissingParameter("The parameter %s must have one of Value, Values or StatisticValues.", field)
	case given > 1:
		return vd, errInvalidParameterCombination("The parameters %[1]s.Value, %[1]s.Values and %[1]s.StatisticValues are mutually exclusive "+
			"and you have specified more than one.", field)
	}

	s := sample{ts: ts.UTC(), received: now, unit: unit}
	switch {
	case d.Value != nil:
		if apiErr := checkValue(field+".Value", *d.Value); apiErr != nil {
			return vd, apiErr
		}
		s.count, s.sum, s.min, s.max = 1, *d.Value, *d.Value, *d.Value
	case d.StatisticValues != nil:
		apiErr = addStatisticValues(&s, field, d.StatisticValues)
	default: // Values and Counts
		apiErr = addValues(&s, field, d.Values, d.Counts)
	}
	if apiErr != nil {
		return vd, apiErr
	}
	vd.s = s
	return vd, nil
}

// checkTimestamp returns a datum's timestamp, now when it has none, if
// CloudWatch accepts it at now.
func checkTimestamp(field string, t *epochTime, now time.Time) (time.Time, *APIError) {
	ts := now
	if t != nil {
		ts = t.Time
	}
	if ts.Before(now.Add(-maxPastAge)) {
		return ts, errInvalidParameterValue("The parameter %s.Timestamp must specify a time no more than two weeks in the past.", field)
	}
	if ts.After(now.Add(maxFutureSkew)) {
		return ts, errInvalidParameterValue("The parameter %s.Timestamp must specify a time no more than two hours in the future.", field)
	}
	return ts, nil
}

// checkUnit returns a datum's unit, unitNone when it has none, and checks
// its storage resolution.
func checkUnit(field string, d wireMetricDatum) (string, *APIError) {
	unit := unitNone
	if d.Unit != nil {
		if !validUnit(*d.Unit) {
			return unit, errInvalidParameterValue("The value %s for parameter %s.Unit is not a CloudWatch standard unit.", *d.Unit, field)
		}
		unit = *d.Unit
	}
	if d.StorageResolution != nil && *d.StorageResolution != 1 && *d.StorageResolution != 60 {
		return unit, errInvalidParameterValue("The value %d for parameter %s.StorageResolution is invalid; use 1 or 60.", *d.StorageResolution, field)
	}
	return unit, nil
}

// addStatisticValues checks a datum's StatisticValues and sets s's
// statistics to them.
func addStatisticValues(s *sample, field string, sv *wireStatisticSet) *APIError {
	for name, p := range map[string]*float64{"SampleCount": sv.SampleCount, "Sum": sv.Sum, "Minimum": sv.Minimum, "Maximum": sv.Maximum} {
		if p == nil {
			return errMissingParameter("The parameter %s.StatisticValues.%s is required.", field, name)
		}
		if apiErr := checkValue(field+".StatisticValues."+name, *p); apiErr != nil {
			return apiErr
		}
	}
	if *sv.SampleCount <= 0 {
		return errInvalidParameterValue("The parameter %s.StatisticValues.SampleCount must be greater than 0.", field)
	}
	if *sv.Minimum > *sv.Maximum {
		return errInvalidParameterValue("The parameter %s.StatisticValues.Minimum must not be greater than Maximum.", field)
	}
	s.count, s.sum, s.min, s.max = *sv.SampleCount, *sv.Sum, *sv.Minimum, *sv.Maximum
	return nil
}

// addValues checks a datum's Values and Counts (nil for a count of 1
// each) and adds them to s's statistics.
func addValues(s *sample, field string, values, counts []float64) *APIError {
	if len(values) == 0 {
		return errMissingParameter("The parameter %s.Values is required when Counts is given.", field)
	}
	if len(values) > maxValues {
		return errInvalidParameterValue("The collection %s.Values must not have a size greater than %d.", field, maxValues)
	}
	if counts != nil && len(counts) != len(values) {
		return errInvalidParameterValue("The parameters %[1]s.Values and %[1]s.Counts must have the same number of elements.", field)
	}
	for j, v := range values {
		if apiErr := checkValue(fmt.Sprintf("%s.Values.member.%d", field, j+1), v); apiErr != nil {
			return apiErr
		}
		c := 1.0
		if counts != nil {
			c = counts[j]
			if math.IsNaN(c) || math.IsInf(c, 0) || c < 0 {
				return errInvalidParameterValue("The value %v for parameter %s.Counts.member.%d is invalid.", c, field, j+1)
			}
		}
		if c == 0 {
			continue
		}
		if s.count == 0 {
			s.min, s.max = v, v
		} else {
			s.min, s.max = min(s.min, v), max(s.max, v)
		}
		s.count += c
		s.sum += v * c
	}
	return nil
}

// ---- GetMetricData -------------------------------------------------------

type checkedQuery struct {
	id, label  string
	returnData bool
	namespace  string
	name       string
	dims       []Dimension
	period     int64
	stat       string
	unit       string
}

func checkQueries(qs []wireMetricDataQuery) ([]checkedQuery, *APIError) {
	if len(qs) == 0 {
		return nil, errMissingParameter("The parameter MetricDataQueries is required.")
	}
	if len(qs) > maxQueries {
		return nil, errInvalidParameterValue("The collection MetricDataQueries must not have a size greater than %d.", maxQueries)
	}
	out := make([]checkedQuery, 0, len(qs))
	ids := map[string]bool{}
	for i, q := range qs {
		field := fmt.Sprintf("MetricDataQueries.member.%d", i+1)
		id := str(q.Id)
		switch {
		case id == "":
			return nil, errMissingParameter("The parameter %s.Id is required.", field)
		case len(id) > 255 || !queryIDPattern.MatchString(id):
			return nil, errInvalidParameterValue("The value %s for parameter %s.Id is invalid: "+
				"it must start with a lowercase letter and contain only letters, numbers and underscores.", id, field)
		case ids[id]:
			return nil, errInvalidParameterValue("The value %s for parameter %s.Id is used by more than one query.", id, field)
		}
		ids[id] = true
		if q.Expression != nil {
			return nil, errInvalidParameterValue("cwsim does not evaluate metric math or Metrics Insights expressions: "+
				"query %s (%s) has Expression %q; send MetricStat queries only.", id, field, *q.Expression)
		}
		ms := q.MetricStat
		if ms == nil {
			return nil, errMissingParameter("The parameter %s must have MetricStat or Expression.", field)
		}
		if ms.Metric == nil || str(ms.Metric.Namespace) == "" || str(ms.Metric.MetricName) == "" {
			return nil, errMissingParameter("The parameters %[1]s.MetricStat.Metric.Namespace and %[1]s.MetricStat.Metric.MetricName are required.", field)
		}
		dims, apiErr := checkDimensions(field+".MetricStat.Metric", ms.Metric.Dimensions)
		if apiErr != nil {
			return nil, apiErr
		}
		if ms.Period == nil {
			return nil, errMissingParameter("The parameter %s.MetricStat.Period is required.", field)
		}
		if !validPeriod(*ms.Period) {
			return nil, errInvalidParameterValue("The value %d for parameter %s.MetricStat.Period is invalid: "+
				"use 1, 5, 10, 20, 30 or a multiple of 60.", *ms.Period, field)
		}
		stat := str(ms.Stat)
		if stat == "" {
			return nil, errMissingParameter("The parameter %s.MetricStat.Stat is required.", field)
		}
		if !slices.Contains(supportedStats, stat) {
			return nil, errInvalidParameterValue("The value %s for parameter %s.MetricStat.Stat is not supported by cwsim (supported: %s).",
				stat, field, strings.Join(supportedStats, ", "))
		}
		unit := str(ms.Unit)
		if unit != "" && !validUnit(unit) {
			return nil, errInvalidParameterValue("The value %s for parameter %s.MetricStat.Unit is not a CloudWatch standard unit.", unit, field)
		}
		label := str(q.Label)
		if label == "" {
			label = *ms.Metric.MetricName
		}
		out = append(out, checkedQuery{
			id: id, label: label, returnData: q.ReturnData == nil || *q.ReturnData,
			namespace: *ms.Metric.Namespace, name: *ms.Metric.MetricName, dims: dims,
			period: *ms.Period, stat: stat, unit: unit,
		})
	}
	return out, nil
}

// requestFingerprint identifies a GetMetricData or ListMetrics request
// apart from its NextToken, so a token is only honoured for the request
// that produced it.
func requestFingerprint(v any) string {
	b, err := encMode.Marshal(v)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func encodeToken(parts ...string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strings.Join(parts, "\n")))
}

func decodeToken(tok string, n int) ([]string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return nil, false
	}
	parts := strings.SplitN(string(b), "\n", n)
	return parts, len(parts) == n
}

func errInvalidNextToken() *APIError {
	return NewAPIError("InvalidNextToken", 0, "The NextToken is invalid: it was not returned by a previous call with the same parameters.")
}

func (s *Server) getMetricData(in *getMetricDataInput, now time.Time) (any, *APIError) {
	queries, apiErr := checkQueries(in.MetricDataQueries)
	if apiErr != nil {
		return nil, apiErr
	}
	if in.StartTime == nil {
		return nil, errMissingParameter("The parameter StartTime is required.")
	}
	if in.EndTime == nil {
		return nil, errMissingParameter("The parameter EndTime is required.")
	}
	start, end := in.StartTime.Time, in.EndTime.Time
	if !start.Before(end) {
		return nil, errInvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
	}
	descending := true
	switch sb := str(in.ScanBy); sb {
	case "", "TimestampDescending":
	case "TimestampAscending":
		descending = false
	default:
		return nil, errInvalidParameterValue("The value %s for parameter ScanBy is invalid: use TimestampAscending or TimestampDescending.", sb)
	}
	maxDP := int64(defaultMaxDatapoint)
	if in.MaxDatapoints != nil {
		if *in.MaxDatapoints <= 0 {
			return nil, errInvalidParameterValue("The parameter MaxDatapoints must be greater than 0.")
		}
		maxDP = *in.MaxDatapoints
	}
	budget := int64(s.opts.PageSize)
	if maxDP < budget {
		budget = maxDP
	}

	fpInput := *in
	fpInput.NextToken = nil
	fp := requestFingerprint(fpInput)
	offset := int64(0)
	if in.NextToken != nil {
		parts, ok := decodeToken(*in.NextToken, 3)
		if !ok || parts[0] != "gmd" || parts[2] != fp {
			return nil, errInvalidNextToken()
		}
		o, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || o < 0 {
			return nil, errInvalidNextToken()
		}
		offset = o
	}

	visibleAt := now.Add(-s.opts.VisibilityDelay)
	out := &getMetricDataOutput{MetricDataResults: []outMetricDataResult{}}
	var pos, taken int64
	for _, q := range queries {
		if !q.returnData {
			continue
		}
		pts := s.store.lookup(q.namespace, q.name, q.dims).aggregate(start, end, q.period, q.stat, q.unit, visibleAt)
		if descending {
			slices.Reverse(pts)
		}
		n := int64(len(pts))
		from := min(max(offset-pos, 0), n)
		take := min(n-from, budget-taken)
		res := outMetricDataResult{
			Id: q.id, Label: q.label,
			Timestamps: make([]epochTime, 0, take),
			Values:     make([]float64, 0, take),
			StatusCode: "Complete",
		}
		for _, p := range pts[from : from+take] {
			res.Timestamps = append(res.Timestamps, epochTime{p.ts})
			res.Values = append(res.Values, p.value)
		}
		if from+take < n {
			res.StatusCode = "PartialData"
		}
		out.MetricDataResults = append(out.MetricDataResults, res)
		pos += n
		taken += take
	}
	if next := offset + taken; next < pos {
		out.NextToken = encodeToken("gmd", strconv.FormatInt(next, 10), fp)
	}
	return out, nil
}

// ---- ListMetrics ---------------------------------------------------------

func (s *Server) listMetrics(in *listMetricsInput, now time.Time) (any, *APIError) {
	if len(in.Dimensions) > maxDimensionFilters {
		return nil, errInvalidParameterValue("The collection Dimensions must not have a size greater than %d.", maxDimensionFilters)
	}
	for j, f := range in.Dimensions {
		if str(f.Name) == "" {
			return nil, errMissingParameter("The parameter Dimensions.member.%d.Name is required.", j+1)
		}
	}
	var since time.Time
	switch ra := str(in.RecentlyActive); ra {
	case "":
	case "PT3H":
		since = now.Add(-recentlyActiveAge)
	default:
		return nil, errInvalidParameterValue("The value %s for parameter RecentlyActive is invalid: the only value is PT3H.", ra)
	}

	fpInput := *in
	fpInput.NextToken = nil
	fp := requestFingerprint(fpInput)
	after := ""
	if in.NextToken != nil {
		parts, ok := decodeToken(*in.NextToken, 3)
		if !ok || parts[0] != "lm" || parts[1] != fp {
			return nil, errInvalidNextToken()
		}
		after = parts[2]
	}

	visibleAt := now.Add(-s.opts.VisibilityDelay)
	out := &listMetricsOutput{Metrics: []outMetric{}}
	for _, k := range s.store.sortedKeys() {
		if after != "" && k <= after {
			continue
		}
		sr := s.store.series[k]
		if !matchesFilter(sr, in) || !sr.visibleSince(since, visibleAt) {
			continue
		}
		if len(out.Metrics) == s.opts.ListPageSize {
			out.NextToken = encodeToken("lm", fp, after)
			break
		}
		m := outMetric{Namespace: sr.namespace, MetricName: sr.name, Dimensions: make([]outDimension, 0, len(sr.dims))}
		for _, d := range sr.dims {
			m.Dimensions = append(m.Dimensions, outDimension(d))
		}
		out.Metrics = append(out.Metrics, m)
		after = k
	}
	return out, nil
}

func matchesFilter(sr *series, in *listMetricsInput) bool {
	if in.Namespace != nil && *in.Namespace != sr.namespace {
		return false
	}
	if in.MetricName != nil && *in.MetricName != sr.name {
		return false
	}
	for _, f := range in.Dimensions {
		found := false
		for _, d := range sr.dims {
			if d.Name == *f.Name && (f.Value == nil || *f.Value == d.Value) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
