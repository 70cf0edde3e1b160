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
	"slices"
	"strconv"
	"strings"
	"time"
)

// Dimension is a name/value pair that, with the namespace and metric name,
// identifies a metric.
type Dimension struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// sample is one PutMetricData datum reduced to its statistic set: a single
// Value is a set of one, Values/Counts and StatisticValues are folded in.
type sample struct {
	ts       time.Time // the datum's timestamp
	received time.Time // when the simulator stored it
	unit     string
	count    float64
	sum      float64
	min      float64
	max      float64
}

type series struct {
	namespace string
	name      string
	dims      []Dimension // sorted by name
	samples   []sample    // in arrival order
}

// store holds every series by key. It is not safe for concurrent use; the
// Server serialises access.
type store struct {
	series map[string]*series
}

func newStore() *store { return &store{series: map[string]*series{}} }

// sortedDims returns a copy of dims sorted by name.
func sortedDims(dims []Dimension) []Dimension {
	out := slices.Clone(dims)
	slices.SortFunc(out, func(a, b Dimension) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// seriesKey identifies a metric unambiguously; dims must be sorted.
func seriesKey(namespace, name string, dims []Dimension) string {
	var b strings.Builder
	field := func(s string) {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	field(namespace)
	field(name)
	for _, d := range dims {
		field(d.Name)
		field(d.Value)
	}
	return b.String()
}

func (st *store) put(namespace, name string, dims []Dimension, s sample) {
	dims = sortedDims(dims)
	key := seriesKey(namespace, name, dims)
	sr := st.series[key]
	if sr == nil {
		sr = &series{namespace: namespace, name: name, dims: dims}
		st.series[key] = sr
	}
	sr.samples = append(sr.samples, s)
}

func (st *store) lookup(namespace, name string, dims []Dimension) *series {
	return st.series[seriesKey(namespace, name, sortedDims(dims))]
}

// point is one aggregated datapoint of a GetMetricData result.
type point struct {
	ts    time.Time
	value float64
}

type bucket struct {
	count, sum, min, max float64
}

func (b *bucket) add(s sample) {
	if b.count == 0 {
		b.min, b.max = s.min, s.max
	} else {
		b.min = min(b.min, s.min)
		b.max = max(b.max, s.max)
	}
	b.count += s.count
	b.sum += s.sum
}

func (b *bucket) stat(stat string) float64 {
	switch stat {
	case statMaximum:
		return b.max
	case statMinimum:
		return b.min
	case statSum:
		return b.sum
	case statSampleCount:
		return b.count
	default: // statAverage; stats are validated before aggregation
		return b.sum / b.count
	}
}

// The statistics the simulator computes.
const (
	statAverage     = "Average"
	statMaximum     = "Maximum"
	statMinimum     = "Minimum"
	statSampleCount = "SampleCount"
	statSum         = "Sum"
)

// supportedStats are the statistics the simulator computes.
var supportedStats = []string{statAverage, statMaximum, statMinimum, statSampleCount, statSum}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// aggregate computes stat over buckets of period seconds aligned to the
// epoch. Samples count when start (rounded down to the period, as
// CloudWatch does) <= timestamp < end, when they were stored no later than
// visibleAt, and, if unit is set, when they carry that unit. Only buckets
// with data are returned, oldest first; each is stamped with its start.
func (sr *series) aggregate(start, end time.Time, period int64, stat, unit string, visibleAt time.Time) []point {
	if sr == nil {
		return nil
	}
	from := time.Unix(floorDiv(start.Unix(), period)*period, 0)
	buckets := map[int64]*bucket{}
	for _, s := range sr.samples {
		if s.ts.Before(from) || !s.ts.Before(end) || s.received.After(visibleAt) {
			continue
		}
		if unit != "" && s.unit != unit {
			continue
		}
		k := floorDiv(s.ts.Unix(), period) * period
		b := buckets[k]
		if b == nil {
			b = &bucket{}
			buckets[k] = b
		}
		b.add(s)
	}
	keys := make([]int64, 0, len(buckets))
	for k, b := range buckets {
		if b.count > 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := make([]point, len(keys))
	for i, k := range keys {
		out[i] = point{ts: time.Unix(k, 0).UTC(), value: buckets[k].stat(stat)}
	}
	return out
}

// visibleSince reports whether the series has a sample stored at or before
// visibleAt and, if since is not zero, at or after since.
func (sr *series) visibleSince(since, visibleAt time.Time) bool {
	for _, s := range sr.samples {
		if s.received.After(visibleAt) {
			continue
		}
		if since.IsZero() || !s.received.Before(since) {
			return true
		}
	}
	return false
}

// sortedKeys returns the series keys in a stable order.
func (st *store) sortedKeys() []string {
	keys := make([]string, 0, len(st.series))
	for k := range st.series {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
