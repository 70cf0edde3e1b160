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

package chart

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/queuedrainer/queue-drainer/test/localcluster"
	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

// copies maps each file under charts/queue-drainer/files to its source;
// `make manifests` copies them after controller-gen.
func copies(t *testing.T) map[string]string {
	t.Helper()
	crds, err := filepath.Glob(filepath.Join(root(), "config", "crd", "bases", "*.yaml"))
	if err != nil || len(crds) == 0 {
		t.Fatalf("no CRD under config/crd/bases (%v)", err)
	}
	m := map[string]string{
		"rbac/role.yaml":                       "config/rbac/role.yaml",
		"rbac/leader_election_role.yaml":       "config/rbac/leader_election_role.yaml",
		"rbac/queuedrainer_editor_role.yaml":   "config/rbac/queuedrainer_editor_role.yaml",
		"rbac/queuedrainer_viewer_role.yaml":   "config/rbac/queuedrainer_viewer_role.yaml",
		"prometheus/rules.yaml":                "config/prometheus/rules.yaml",
		"grafana/queue-drainer-dashboard.json": "config/grafana/queue-drainer-dashboard.json",
	}
	for _, c := range crds {
		m["crds/"+filepath.Base(c)] = filepath.Join("config", "crd", "bases", filepath.Base(c))
	}
	return m
}

func TestChartFilesAreCopiesOfTheGeneratedManifests(t *testing.T) {
	files := filepath.Join(chartDir(), "files")
	want := copies(t)
	for copy, source := range want {
		got, err := os.ReadFile(filepath.Join(files, copy))
		if err != nil {
			t.Errorf("%v: run make manifests", err)
			continue
		}
		src, err := os.ReadFile(filepath.Join(root(), source))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, src) {
			t.Errorf("charts/queue-drainer/files/%s differs from %s: run make manifests", copy, source)
		}
	}
	// Nothing else: a file whose source is gone would still be rendered.
	err := filepath.WalkDir(files, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(files, path)
		if _, ok := want[filepath.ToSlash(rel)]; !ok {
			t.Errorf("charts/queue-drainer/files/%s has no source under config/: run make manifests", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestChartRendersTheGeneratedRBACCRDAndAlerts(t *testing.T) {
	objs := rendered(t, "--values", everything())

	// RBAC: the rules of config/rbac, verbatim.
	for _, tc := range []struct {
		kind, name, source string
	}{
		{"ClusterRole", "drainer-manager", "config/rbac/role.yaml"},
		{"Role", "drainer-leader-election", "config/rbac/leader_election_role.yaml"},
		{"ClusterRole", "drainer-editor", "config/rbac/queuedrainer_editor_role.yaml"},
		{"ClusterRole", "drainer-viewer", "config/rbac/queuedrainer_viewer_role.yaml"},
	} {
		src := sourceObjects(t, tc.source)
		if len(src) != 1 {
			t.Fatalf("%s holds %d objects, want 1", tc.source, len(src))
		}
		var got, want []rbacv1.PolicyRule
		switch tc.kind {
		case "ClusterRole":
			got = one[rbacv1.ClusterRole](t, objs, tc.kind, tc.name).Rules
			want = kubetest.OfKind[rbacv1.ClusterRole](t, src, "ClusterRole")[0].Rules
		case "Role":
			got = one[rbacv1.Role](t, objs, tc.kind, tc.name).Rules
			want = kubetest.OfKind[rbacv1.Role](t, src, "Role")[0].Rules
		}
		if len(want) == 0 {
			t.Fatalf("%s has no rules", tc.source)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s %s rules differ from %s:\n  chart:  %+v\n  config: %+v", tc.kind, tc.name, tc.source, got, want)
		}
		// The aggregation labels of the editor and viewer roles.
		rendered := find(objs, tc.kind, tc.name)
		for k, v := range src[0].GetLabels() {
			if strings.HasPrefix(k, "rbac.authorization.k8s.io/aggregate-to-") && rendered.GetLabels()[k] != v {
				t.Errorf("%s %s lacks the label %s: %s of %s", tc.kind, tc.name, k, v, tc.source)
			}
		}
	}

	// The CRD: config/crd/bases' spec, kept on uninstall.
	srcCRD := sourceObjects(t, "config/crd/bases/drain.queuedrainer.io_queuedrainers.yaml")[0]
	crd := find(objs, "CustomResourceDefinition", srcCRD.GetName())
	if crd == nil {
		t.Fatalf("the CRD %s is not rendered; rendered: %v", srcCRD.GetName(), inventory(objs))
	}
	if !reflect.DeepEqual(crd.Object["spec"], srcCRD.Object["spec"]) {
		t.Error("the rendered CRD's spec differs from config/crd/bases'")
	}
	if crd.GetAPIVersion() != srcCRD.GetAPIVersion() {
		t.Errorf("CRD apiVersion %s, want %s", crd.GetAPIVersion(), srcCRD.GetAPIVersion())
	}
	annotations := crd.GetAnnotations()
	if annotations["helm.sh/resource-policy"] != "keep" {
		t.Errorf("CRD annotations %v lack helm.sh/resource-policy: keep", annotations)
	}
	for k, v := range srcCRD.GetAnnotations() {
		if annotations[k] != v {
			t.Errorf("CRD annotation %s = %q, want config's %q", k, annotations[k], v)
		}
	}
	notKept := find(rendered(t, "--set", "crds.keep=false"), "CustomResourceDefinition", srcCRD.GetName())
	if notKept == nil {
		t.Fatal("crds.keep=false rendered no CRD")
	}
	if _, ok := notKept.GetAnnotations()["helm.sh/resource-policy"]; ok {
		t.Error("crds.keep=false: the CRD still has helm.sh/resource-policy")
	}

	// The alerts: config/prometheus/rules.yaml's spec, the runbook naming
	// this release's namespace and Deployment.
	text, err := os.ReadFile(filepath.Join(root(), "config", "prometheus", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, old := range []string{"-n queue-drainer-system", "deploy/queue-drainer-controller-manager"} {
		if !bytes.Contains(text, []byte(old)) {
			t.Errorf("config/prometheus/rules.yaml no longer says %q: update templates/prometheusrule.yaml", old)
		}
	}
	text = bytes.ReplaceAll(text, []byte("-n queue-drainer-system"), []byte("-n "+namespace))
	text = bytes.ReplaceAll(text, []byte("deploy/queue-drainer-controller-manager"), []byte("deploy/drainer"))
	srcRules, err := localcluster.Objects(text)
	if err != nil || len(srcRules) != 1 {
		t.Fatalf("decoding config/prometheus/rules.yaml: %v (%d objects)", err, len(srcRules))
	}
	rule := find(objs, "PrometheusRule", "drainer")
	if rule == nil {
		t.Fatal("no PrometheusRule rendered")
	}
	if !reflect.DeepEqual(rule.Object["spec"], srcRules[0].Object["spec"]) {
		t.Error("the PrometheusRule's spec differs from config/prometheus/rules.yaml's")
	}
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	if len(groups) == 0 {
		t.Error("the PrometheusRule has no rule groups")
	}
	if s := string(template(t, "--values", everything())); strings.Contains(s, "queue-drainer-system") {
		t.Error("the chart names the kustomize namespace queue-drainer-system")
	}
}

func TestChartVersionIsTheProjectVersion(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chartDir(), "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		Name       string `json:"name"`
		Version    string `json:"version"`
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(b, &chart); err != nil {
		t.Fatal(err)
	}
	v := version(t)
	if chart.Name != "queue-drainer" || chart.Version != v || chart.AppVersion != v {
		t.Errorf("Chart.yaml name %q version %q appVersion %q, want queue-drainer %s %s (VERSION)", chart.Name, chart.Version, chart.AppVersion, v, v)
	}
}

func TestSchemaRefusesBadValuesNamingTheField(t *testing.T) {
	for _, tc := range []struct {
		name, values, want string
	}{
		{"negative replicas", "replicas: -1", "'/replicas'"},
		{"replicas not a number", "replicas: two", "'/replicas'"},
		{"image tag a number", "image:\n  tag: 5", "'/image/tag'"},
		{"misspelled image key", "image:\n  repo: example.com/qd", "additional properties 'repo'"},
		{"allowedRoleARNs a string", `allowedRoleARNs: "arn:aws:iam::123456789012:role/drain-*"`, "'/allowedRoleARNs'"},
		{"allowedRoleARNs joined by commas", `allowedRoleARNs: ["arn:aws:iam::1:role/a,arn:aws:iam::1:role/b"]`, "'/allowedRoleARNs/0'"},
		{"cloudWatchPeriod a number", "cloudWatchPeriod: 60", "'/cloudWatchPeriod'"},
		{"cloudWatchPeriod without a unit", `cloudWatchPeriod: "60"`, "'/cloudWatchPeriod'"},
		{"statusRefresh not a duration", "statusRefresh: one minute", "'/statusRefresh'"},
		{"unknown top-level key", "unknownKey: x", "'unknownKey' not allowed"},
		{"resources a number", "resources: 3", "'/resources'"},
		{"consumerEnv value a number", "consumerEnv:\n  AWS_MAX_ATTEMPTS: 3", "'/consumerEnv/AWS_MAX_ATTEMPTS'"},
		{"consumerEnv bad name", "consumerEnv:\n  not-a-name: x", "'not-a-name' not allowed"},
		{"metrics port out of range", "metrics:\n  port: 70000", "'/metrics/port'"},
		{"misspelled serviceMonitor key", "serviceMonitor:\n  enable: true", "additional properties 'enable'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := helm(t, "template", release, chartDir(), "--namespace", namespace, "--values", valuesFile(t, tc.values))
			if err == nil {
				t.Fatalf("helm template accepted %q", tc.values)
			}
			if !strings.Contains(stderr, "values don't meet the specifications of the schema") {
				t.Errorf("helm template failed, but not on the schema:\n%s", stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("the error does not name the field (%s):\n%s", tc.want, stderr)
			}
		})
	}
}

func TestSchemaAcceptsEveryValueTheChartDocuments(t *testing.T) {
	// Every key of values.yaml is in the schema, and the schema has no key
	// values.yaml lacks (so README, values.yaml and schema stay one list).
	b, err := os.ReadFile(filepath.Join(chartDir(), "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	s, err := os.ReadFile(filepath.Join(chartDir(), "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := yaml.Unmarshal(s, &schema); err != nil {
		t.Fatal(err)
	}
	valueKeys := keyPaths("", values, nil)
	schemaKeys := schemaPaths("", schema, nil)
	delete(schemaKeys, "global")
	var missing, extra []string
	for k := range valueKeys {
		if !schemaKeys[k] {
			missing = append(missing, k)
		}
	}
	for k := range schemaKeys {
		if !valueKeys[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("values.yaml keys not in values.schema.json: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("values.schema.json properties not in values.yaml: %v", extra)
	}

	readme, err := os.ReadFile(filepath.Join(chartDir(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var undocumented []string
	for k := range valueKeys {
		if !bytes.Contains(readme, []byte("`"+k+"`")) {
			undocumented = append(undocumented, k)
		}
	}
	slices.Sort(undocumented)
	if len(undocumented) > 0 {
		t.Errorf("values not documented in charts/queue-drainer/README.md: %v", undocumented)
	}
}

// keyPaths lists the dotted paths of values.yaml's leaves: the keys that are
// not objects of the chart's own keys (a map of the user's, like labels, is a leaf).
func keyPaths(prefix string, v map[string]any, into map[string]bool) map[string]bool {
	if into == nil {
		into = map[string]bool{}
	}
	for k, child := range v {
		path := strings.TrimPrefix(prefix+"."+k, ".")
		if m, ok := child.(map[string]any); ok && len(m) > 0 && !userMaps[path] {
			keyPaths(path, m, into)
			continue
		}
		into[path] = true
	}
	return into
}

// userMaps are the values that are maps of the user's (or Kubernetes
// objects), not of the chart's keys.
var userMaps = map[string]bool{"resources": true}

// schemaPaths lists the dotted paths of the schema's leaves: the properties
// that are not objects of closed properties (additionalProperties: false).
func schemaPaths(prefix string, s map[string]any, into map[string]bool) map[string]bool {
	if into == nil {
		into = map[string]bool{}
	}
	props, _ := s["properties"].(map[string]any)
	for k, child := range props {
		path := strings.TrimPrefix(prefix+"."+k, ".")
		if m, ok := child.(map[string]any); ok && m["additionalProperties"] == false && !userMaps[path] {
			if _, has := m["properties"]; has {
				schemaPaths(path, m, into)
				continue
			}
		}
		into[path] = true
	}
	return into
}
