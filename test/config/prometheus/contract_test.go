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

// Package prometheus_test checks the alerts (rules.yaml) and the Grafana
// dashboard (../grafana) against the metrics the operator exports, and runs
// promtool on them: `promtool check rules` and `promtool test rules`
// (rules_test.yaml). promtool comes from the Debian package prometheus:
// `make promtool` installs it and links it as bin/promtool.
package prometheus_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// metric is one metric the operator exports: its kind and its labels.
type metric struct {
	kind   string // gauge, counter or histogram
	labels []string
	// values lists, for a label with a closed set of values, every value.
	values map[string][]string
}

var drainer = []string{"namespace", "name"}

// metrics is the contract between the operator and the alerts and the
// dashboard: every queuedrainer_* metric they use must be here, with these
// labels. It must match what controllers/metrics.go and
// internal/sqsstats/metrics.go register; change it with them.
var metrics = map[string]metric{
	"queuedrainer_queue_visible_messages":           {kind: "gauge", labels: drainer},
	"queuedrainer_queue_in_flight_messages":         {kind: "gauge", labels: drainer},
	"queuedrainer_queue_oldest_message_age_seconds": {kind: "gauge", labels: drainer}, // absent while unknown or stale
	"queuedrainer_queue_reachable":                  {kind: "gauge", labels: drainer}, // 1 or 0
	"queuedrainer_dead_letter_visible_messages":     {kind: "gauge", labels: drainer}, // absent without a dead-letter queue
	"queuedrainer_active_run_workers":               {kind: "gauge", labels: drainer},
	"queuedrainer_active_run_running_workers":       {kind: "gauge", labels: drainer},
	"queuedrainer_active_run_pending_workers":       {kind: "gauge", labels: drainer},
	"queuedrainer_ineffective_runs":                 {kind: "gauge", labels: drainer},
	"queuedrainer_runs_started_total":               {kind: "counter", labels: []string{"namespace", "name", "trigger"}, values: map[string][]string{"trigger": triggers}},
	"queuedrainer_runs_finished_total":              {kind: "counter", labels: []string{"namespace", "name", "result", "trigger"}, values: map[string][]string{"result": runResults, "trigger": triggers}},
	"queuedrainer_run_duration_seconds":             {kind: "histogram", labels: []string{"result", "trigger"}, values: map[string][]string{"result": runResults, "trigger": triggers}},
	"queuedrainer_messages_processed_total":         {kind: "counter", labels: drainer},
	"queuedrainer_messages_dead_lettered_total":     {kind: "counter", labels: drainer},
	"queuedrainer_aws_api_calls_total":              {kind: "counter", labels: []string{"service", "operation", "result"}, values: map[string][]string{"service": awsServices, "result": awsResults}},
	"queuedrainer_aws_api_call_duration_seconds":    {kind: "histogram", labels: []string{"service", "operation"}, values: map[string][]string{"service": awsServices}},
}

var (
	triggers    = []string{"QueueDepth", "OldestMessageAge", "Schedule", "Manual"}
	runResults  = []string{"Succeeded", "Failed", "Ineffective", "Replaced", "Deleted"}
	awsServices = []string{"SQS", "CloudWatch"}
	// Success, or the kind of error (internal/awserr).
	awsResults = []string{"Success", "Throttling", "AccessDenied", "QueueDoesNotExist", "NetworkError", "AWSError"}
)

// targetLabels are added by Prometheus to every scraped series (the
// ServiceMonitor's target labels); test series may carry them.
var targetLabels = []string{"job", "instance", "pod", "container", "endpoint", "service", "namespace"}

var (
	metricName = regexp.MustCompile(`\bqueuedrainer_[a-zA-Z0-9_]*`)
	// A selector with matchers: name{a="b", c=~"d"}.
	selector = regexp.MustCompile(`\b(queuedrainer_[a-zA-Z0-9_]*)\s*\{([^}]*)\}`)
	matcher  = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"\s*$`)
	// Grouping and matching clauses that name labels.
	grouping = regexp.MustCompile(`\b(by|on|group_left|group_right)\s*\(([^)]*)\)`)
)

// lookup resolves a series name used in PromQL to its metric: a histogram's
// _bucket, _sum and _count series, or the metric itself.
func lookup(name string) (metric, bool) {
	if m, ok := metrics[name]; ok && m.kind != "histogram" {
		return m, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if m, ok := metrics[base]; ok && m.kind == "histogram" {
				if suffix == "_bucket" {
					m.labels = append(slices.Clone(m.labels), "le")
				}
				return m, true
			}
		}
	}
	return metric{}, false
}

// checkExpr reports the ways expr breaks the contract: unknown metrics (a
// histogram read without _bucket, _sum or _count is one), matchers on labels
// the metric does not have or on values it never takes, and grouping by
// labels none of its metrics have.
func checkExpr(expr string) []string {
	var problems []string
	used := map[string]bool{}
	for _, name := range metricName.FindAllString(expr, -1) {
		m, ok := lookup(name)
		if !ok {
			problems = append(problems, "unknown metric "+name)
			continue
		}
		for _, l := range m.labels {
			used[l] = true
		}
	}
	for _, sel := range selector.FindAllStringSubmatch(expr, -1) {
		m, ok := lookup(sel[1])
		if !ok {
			continue
		}
		for _, part := range strings.Split(sel[2], ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			mm := matcher.FindStringSubmatch(part)
			if mm == nil {
				problems = append(problems, "cannot read the matcher "+strings.TrimSpace(part))
				continue
			}
			label, op, value := mm[1], mm[2], mm[3]
			if !slices.Contains(m.labels, label) {
				problems = append(problems, sel[1]+" has no label "+label)
				continue
			}
			if allowed, closed := m.values[label]; closed && (op == "=" || op == "!=") && !slices.Contains(allowed, value) {
				problems = append(problems, sel[1]+": "+label+" is never "+value+", only "+strings.Join(allowed, ", "))
			}
		}
	}
	for _, g := range grouping.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(g[2], ",") {
			if l = strings.TrimSpace(l); l != "" && !used[l] {
				problems = append(problems, g[1]+" ("+l+"): no metric of the expression has that label")
			}
		}
	}
	return problems
}

func TestContractCheckCatchesMistakes(t *testing.T) {
	for expr, want := range map[string]string{
		`queuedrainer_queue_depth`:                                                                   "unknown metric",
		`queuedrainer_run_duration_seconds > 1`:                                                      "unknown metric", // a histogram has no plain series
		`queuedrainer_runs_finished_total{result="Failure"}`:                                         "is never Failure",
		`queuedrainer_aws_api_calls_total{namespace="a"}`:                                            "has no label namespace",
		`sum by (namespace) (rate(queuedrainer_aws_api_calls_total[5m]))`:                            "no metric of the expression has that label",
		`histogram_quantile(0.9, sum by (lee) (rate(queuedrainer_run_duration_seconds_bucket[5m])))`: "no metric",
	} {
		problems := checkExpr(expr)
		if len(problems) == 0 || !strings.Contains(strings.Join(problems, "; "), want) {
			t.Errorf("checkExpr(%s) = %q, want a problem containing %q", expr, problems, want)
		}
	}
	for _, expr := range []string{
		`histogram_quantile(0.9, sum by (le, result) (rate(queuedrainer_run_duration_seconds_bucket[1h])))`,
		`sum by (namespace, name) (increase(queuedrainer_runs_finished_total{result="Failed", trigger=~"Q.*"}[15m]))`,
		`rate(queuedrainer_aws_api_call_duration_seconds_count{service="SQS"}[5m])`,
	} {
		if problems := checkExpr(expr); len(problems) > 0 {
			t.Errorf("checkExpr(%s) = %q, want none", expr, problems)
		}
	}
}

// promtool finds promtool at $PROMTOOL, bin/promtool or on PATH. It fails
// the test rather than skipping it: the alerts are untested without it.
func promtool(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PROMTOOL"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("PROMTOOL=%s: %v", p, err)
		}
		return p
	}
	if p, err := filepath.Abs(filepath.Join("..", "..", "bin", "promtool")); err == nil {
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	t.Fatal("promtool not found at $PROMTOOL, bin/promtool or on PATH: run `make promtool` (it installs the Debian package prometheus)")
	return ""
}

// runPromtool runs promtool with args in dir and returns its output.
func runPromtool(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool(t), args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("promtool %s: timed out\n%s", strings.Join(args, " "), out.String())
	}
	return out.String(), err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
