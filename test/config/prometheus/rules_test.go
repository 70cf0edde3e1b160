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

package prometheus_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The alerts rules.yaml must define, each tested in rules_test.yaml.
// The AWS alert is about the operator's calls, not one drainer.
var wantAlerts = map[string]struct{ perDrainer bool }{
	"QueueDrainerOldestMessageTooOld":    {perDrainer: true},
	"QueueDrainerDeadLetterQueueGrowing": {perDrainer: true},
	"QueueDrainerRunFailed":              {perDrainer: true},
	"QueueDrainerConsumerIneffective":    {perDrainer: true},
	"QueueDrainerQueueUnreachable":       {perDrainer: true},
	"QueueDrainerWorkersPending":         {perDrainer: true},
	"QueueDrainerAWSThrottled":           {perDrainer: false},
}

type objectMeta struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels"`
}

type rule struct {
	Alert       string            `json:"alert"`
	Record      string            `json:"record"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type ruleGroup struct {
	Name  string `json:"name"`
	Rules []rule `json:"rules"`
}

type prometheusRule struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   objectMeta `json:"metadata"`
	Spec       struct {
		Groups []ruleGroup `json:"groups"`
	} `json:"spec"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func loadRule(t *testing.T) prometheusRule {
	t.Helper()
	var pr prometheusRule
	readYAML(t, "rules.yaml", &pr)
	return pr
}

// extractRules writes the PrometheusRule's spec, a plain Prometheus rule
// file, to queue-drainer-rules.yaml in a new temporary directory (the name
// rules_test.yaml expects) and returns the directory.
func extractRules(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Generic, so that every field of the spec reaches promtool as written.
	var obj struct {
		Spec map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		t.Fatalf("rules.yaml: %v", err)
	}
	if obj.Spec == nil {
		t.Fatal("rules.yaml has no spec")
	}
	plain, err := yaml.Marshal(obj.Spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "queue-drainer-rules.yaml"), plain, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPrometheusRuleObject(t *testing.T) {
	pr := loadRule(t)
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" {
		t.Errorf("rules.yaml is a %s %s, want a monitoring.coreos.com/v1 PrometheusRule", pr.APIVersion, pr.Kind)
	}
	var monitor struct {
		Metadata objectMeta `json:"metadata"`
	}
	data, err := os.ReadFile("monitor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &monitor); err != nil {
		t.Fatal(err)
	}
	if pr.Metadata.Namespace != monitor.Metadata.Namespace {
		t.Errorf("namespace %q, want the ServiceMonitor's %q", pr.Metadata.Namespace, monitor.Metadata.Namespace)
	}
	for k, v := range monitor.Metadata.Labels {
		if pr.Metadata.Labels[k] != v {
			t.Errorf("label %s=%q, want the ServiceMonitor's %q", k, pr.Metadata.Labels[k], v)
		}
	}

	found := map[string]bool{}
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if found[r.Alert] {
				t.Errorf("alert %s is defined twice", r.Alert)
			}
			found[r.Alert] = true
			want, known := wantAlerts[r.Alert]
			if !known {
				t.Errorf("alert %s is not in wantAlerts: add it there and test it in rules_test.yaml", r.Alert)
				continue
			}
			if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
				t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, s)
			}
			for _, a := range []string{"summary", "description"} {
				text := r.Annotations[a]
				if text == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
					continue
				}
				if want.perDrainer && !strings.Contains(text, "{{ $labels.namespace }}/{{ $labels.name }}") {
					t.Errorf("%s: the %s does not name the drainer as {{ $labels.namespace }}/{{ $labels.name }}", r.Alert, a)
				}
			}
			if want.perDrainer {
				if !strings.Contains(r.Expr, "by (namespace, name)") {
					t.Errorf("%s: the expression does not aggregate by (namespace, name), so the alert carries the manager pod's labels: %s", r.Alert, r.Expr)
				}
				if !strings.Contains(r.Annotations["description"], "kubectl describe qd -n {{ $labels.namespace }} {{ $labels.name }}") {
					t.Errorf("%s: the description does not say what to look at (kubectl describe qd -n {{ $labels.namespace }} {{ $labels.name }})", r.Alert)
				}
			}
		}
	}
	for name := range wantAlerts {
		if !found[name] {
			t.Errorf("rules.yaml has no alert %s", name)
		}
	}
}

func TestRulesUseExportedMetrics(t *testing.T) {
	pr := loadRule(t)
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			for _, p := range checkExpr(r.Expr) {
				t.Errorf("%s%s: %s", r.Alert, r.Record, p)
			}
		}
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	dir := extractRules(t)
	out, err := runPromtool(t, dir, "check", "rules", "--lint=all", "--lint-fatal", "queue-drainer-rules.yaml")
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	t.Logf("promtool check rules:\n%s", out)
}

// unitTests is what the Go test reads of rules_test.yaml.
type unitTests struct {
	RuleFiles []string `json:"rule_files"`
	Tests     []struct {
		InputSeries []struct {
			Series string `json:"series"`
		} `json:"input_series"`
		AlertRuleTest []struct {
			Alertname string `json:"alertname"`
			ExpAlerts []any  `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

// TestRuleUnitTestsCoverEveryAlert checks rules_test.yaml itself: every alert
// is expected to fire at some time and expected silent at another, and the
// input series are series the operator exports, with its labels.
func TestRuleUnitTestsCoverEveryAlert(t *testing.T) {
	var ut unitTests
	data, err := os.ReadFile("rules_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &ut); err != nil {
		t.Fatalf("rules_test.yaml: %v", err)
	}
	if !slices.Equal(ut.RuleFiles, []string{"queue-drainer-rules.yaml"}) {
		t.Errorf("rules_test.yaml reads %q, want [queue-drainer-rules.yaml], the file extractRules writes", ut.RuleFiles)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	seriesLabel := func(series string) (string, []string) {
		name, rest, _ := strings.Cut(series, "{")
		var labels []string
		for _, kv := range strings.Split(strings.TrimSuffix(rest, "}"), ",") {
			if k, _, ok := strings.Cut(kv, "="); ok {
				labels = append(labels, strings.TrimSpace(k))
			}
		}
		return strings.TrimSpace(name), labels
	}
	for _, tc := range ut.Tests {
		for _, s := range tc.InputSeries {
			name, labels := seriesLabel(s.Series)
			m, ok := lookup(name)
			if !ok {
				t.Errorf("input series %s: the operator exports no %s", s.Series, name)
				continue
			}
			for _, l := range labels {
				if !slices.Contains(m.labels, l) && !slices.Contains(targetLabels, l) {
					t.Errorf("input series %s: %s has no label %s", s.Series, name, l)
				}
			}
		}
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	for name := range wantAlerts {
		if !fires[name] {
			t.Errorf("rules_test.yaml never expects %s to fire", name)
		}
		if !silent[name] {
			t.Errorf("rules_test.yaml never expects %s to be silent", name)
		}
	}
}

// TestPromtoolTestRules runs rules_test.yaml on the PrometheusRule's spec.
func TestPromtoolTestRules(t *testing.T) {
	dir := extractRules(t)
	data, err := os.ReadFile("rules_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules_test.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runPromtool(t, dir, "test", "rules", "rules_test.yaml")
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	t.Logf("promtool test rules:\n%s", out)
}
