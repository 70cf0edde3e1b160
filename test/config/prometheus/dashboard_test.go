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
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const dashboardPath = "../grafana/queue-drainer-dashboard.json"

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Datasource *datasourceRef `json:"datasource"`
		Expr       string         `json:"expr"`
		RefID      string         `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *datasourceRef  `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return d
}

// allPanels flattens rows: the dashboard's panels, and those of collapsed rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("the dashboard needs a uid and a title: %q %q", d.UID, d.Title)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d, want 36 or later (Grafana 9+)", d.SchemaVersion)
	}

	vars := map[string]string{}
	for _, v := range d.Templating.List {
		switch v.Name {
		case "datasource":
			var q string
			_ = json.Unmarshal(v.Query, &q)
			if v.Type != "datasource" || q != "prometheus" {
				t.Errorf("variable datasource: type %q query %s, want a datasource variable of type prometheus", v.Type, v.Query)
			}
		case "namespace", "drainer":
			if v.Type != "query" {
				t.Errorf("variable %s: type %q, want query", v.Name, v.Type)
			}
			if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
				t.Errorf("variable %s does not query ${datasource}", v.Name)
			}
			vars[v.Name] = v.Definition
		}
	}
	if want := "label_values(queuedrainer_queue_visible_messages, namespace)"; vars["namespace"] != want {
		t.Errorf("variable namespace: %q, want %q", vars["namespace"], want)
	}
	if q := vars["drainer"]; !strings.HasPrefix(q, "label_values(queuedrainer_queue_visible_messages") || !strings.HasSuffix(q, ", name)") {
		t.Errorf("variable drainer: %q, want label_values(queuedrainer_queue_visible_messages{...}, name)", q)
	}

	ids := map[int]string{}
	for _, p := range allPanels(d.Panels) {
		name := fmt.Sprintf("panel %d (%s)", p.ID, p.Title)
		if p.Title == "" {
			t.Errorf("panel %d has no title", p.ID)
		}
		if other, dup := ids[p.ID]; dup {
			t.Errorf("%s: id %d is also %q's", name, p.ID, other)
		}
		ids[p.ID] = p.Title
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("%s: gridPos %+v does not fit the 24-column grid", name, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("%s: its datasource is not ${datasource}", name)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s has no target", name)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" {
				t.Errorf("%s: target %q has no expr or refId", name, tg.RefID)
			}
			if tg.Datasource != nil && tg.Datasource.UID != "${datasource}" {
				t.Errorf("%s: target %s queries %q, not ${datasource}", name, tg.RefID, tg.Datasource.UID)
			}
		}
	}
}

// grafanaVars are the dashboard's variables, and Grafana's own, with values
// that make its expressions plain PromQL.
var grafanaVars = []struct {
	re    *regexp.Regexp
	value string
}{
	{regexp.MustCompile(`\$\{?__rate_interval\}?`), "5m"},
	{regexp.MustCompile(`\$\{?__interval\}?`), "1m"},
	{regexp.MustCompile(`\$\{?__range\}?`), "6h"},
	{regexp.MustCompile(`\$\{?namespace(:[a-z]+)?\}?`), "team-a"},
	{regexp.MustCompile(`\$\{?drainer(:[a-z]+)?\}?`), "orders"},
}

var leftover = regexp.MustCompile(`\$\{?\w+`)

// dashboardExprs returns each target's expression, Grafana variables
// replaced, keyed by a recording rule name.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	d := loadDashboard(t)
	exprs := map[string]string{}
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			expr := tg.Expr
			for _, v := range grafanaVars {
				expr = v.re.ReplaceAllString(expr, v.value)
			}
			if l := leftover.FindString(expr); l != "" {
				t.Errorf("panel %d (%s) target %s: unknown variable %s in %s", p.ID, p.Title, tg.RefID, l, tg.Expr)
			}
			exprs[fmt.Sprintf("dashboard:panel_%d:%s", p.ID, tg.RefID)] = expr
		}
	}
	return exprs
}

func TestDashboardUsesExportedMetrics(t *testing.T) {
	for name, expr := range dashboardExprs(t) {
		for _, p := range checkExpr(expr) {
			t.Errorf("%s: %s\n  %s", name, p, expr)
		}
	}
}

// TestDashboardExpressionsParse has promtool parse every expression of the
// dashboard, as recording rules of a temporary rule file.
func TestDashboardExpressionsParse(t *testing.T) {
	exprs := dashboardExprs(t)
	type record struct {
		Record string `json:"record"`
		Expr   string `json:"expr"`
	}
	group := struct {
		Name  string   `json:"name"`
		Rules []record `json:"rules"`
	}{Name: "dashboard"}
	for _, name := range sortedKeys(exprs) {
		group.Rules = append(group.Rules, record{Record: name, Expr: exprs[name]})
	}
	data, err := yaml.Marshal(map[string]any{"groups": []any{group}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard-rules.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runPromtool(t, dir, "check", "rules", "--lint=all", "--lint-fatal", "dashboard-rules.yaml")
	if err != nil {
		t.Fatalf("promtool check rules on the dashboard's %d expressions: %v\n%s", len(exprs), err, out)
	}
	t.Logf("%d expressions: %s", len(exprs), strings.TrimSpace(out))
}
