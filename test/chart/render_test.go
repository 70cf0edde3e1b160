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
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/queuedrainer/queue-drainer/test/localcluster"
	"github.com/queuedrainer/queue-drainer/test/podsecurity"
	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

const crdName = "queuedrainers.drain.queuedrainer.io"

func TestChartPassesHelmLintStrict(t *testing.T) {
	for name, args := range map[string][]string{
		"default values":     nil,
		"everything enabled": {"--values", everything()},
	} {
		t.Run(name, func(t *testing.T) {
			stdout, stderr, err := helm(t, append([]string{"lint", "--strict", chartDir()}, args...)...)
			if err != nil {
				t.Fatalf("helm lint --strict: %v\n%s%s", err, stdout, stderr)
			}
			if !strings.Contains(stdout, "1 chart(s) linted, 0 chart(s) failed") {
				t.Errorf("helm lint did not report the chart as passing:\n%s", stdout)
			}
			if strings.Contains(stdout, "[WARNING]") || strings.Contains(stdout, "[ERROR]") {
				t.Errorf("helm lint warns:\n%s", stdout)
			}
		})
	}
}

func TestDefaultValuesRenderTheOperatorAsConfigDefaultDoes(t *testing.T) {
	objs := rendered(t)
	want := []string{
		"ClusterRole/qd-queue-drainer-editor",
		"ClusterRole/qd-queue-drainer-manager",
		"ClusterRole/qd-queue-drainer-viewer",
		"ClusterRoleBinding/qd-queue-drainer-manager",
		"CustomResourceDefinition/" + crdName,
		"Deployment/qd-queue-drainer",
		"Role/qd-queue-drainer-leader-election",
		"RoleBinding/qd-queue-drainer-leader-election",
		"Service/qd-queue-drainer-metrics",
		"ServiceAccount/qd-queue-drainer",
	}
	got := inventory(objs)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("rendered objects:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	checkNamespaces(t, objs, map[string]string{})

	d := one[appsv1.Deployment](t, objs, "Deployment", "qd-queue-drainer")
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas = %v, want 1", d.Spec.Replicas)
	}
	pod := d.Spec.Template
	c := manager(t, d)
	if want := "ghcr.io/queuedrainer/queue-drainer:" + version(t); c.Image != want {
		t.Errorf("image = %q, want %q (the appVersion)", c.Image, want)
	}
	if !slices.Equal(c.Command, []string{"/manager"}) {
		t.Errorf("command = %q, want [/manager]", c.Command)
	}
	wantArgs := []string{
		"--leader-elect",
		"--health-probe-bind-address=:8081",
		"--metrics-bind-address=:8080",
		"--max-concurrent-reconciles=8",
		"--sqs-concurrency=32",
		"--status-refresh=1m",
		"--cloudwatch-period=1m",
		"--workers-pending-grace=1m",
	}
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("args:\n  %q\nwant:\n  %q", c.Args, wantArgs)
	}
	if pod.Spec.ServiceAccountName != "qd-queue-drainer" {
		t.Errorf("serviceAccountName = %q, want qd-queue-drainer", pod.Spec.ServiceAccountName)
	}

	// The pod is config/manager's: security contexts, env, ports, probes,
	// resources, and its arguments among the chart's.
	src := one[appsv1.Deployment](t, sourceObjects(t, "config/manager/manager.yaml"), "Deployment", "controller-manager")
	sc := src.Spec.Template.Spec.Containers[0]
	for _, f := range []struct {
		what      string
		got, want any
	}{
		{"pod securityContext", pod.Spec.SecurityContext, src.Spec.Template.Spec.SecurityContext},
		{"terminationGracePeriodSeconds", pod.Spec.TerminationGracePeriodSeconds, src.Spec.Template.Spec.TerminationGracePeriodSeconds},
		{"container securityContext", c.SecurityContext, sc.SecurityContext},
		{"env", c.Env, sc.Env},
		{"ports", c.Ports, sc.Ports},
		{"livenessProbe", c.LivenessProbe, sc.LivenessProbe},
		{"readinessProbe", c.ReadinessProbe, sc.ReadinessProbe},
		{"resources", c.Resources, sc.Resources},
	} {
		if !equality.Semantic.DeepEqual(f.got, f.want) {
			t.Errorf("%s differs from config/manager/manager.yaml:\n  chart: %+v\n  config: %+v", f.what, f.got, f.want)
		}
	}
	for _, a := range sc.Args {
		if !slices.Contains(c.Args, a) {
			t.Errorf("config/manager's argument %s is missing from the chart's %q", a, c.Args)
		}
	}
	if pod.Annotations["kubectl.kubernetes.io/default-container"] != "manager" {
		t.Errorf("pod annotations %v lack kubectl.kubernetes.io/default-container: manager", pod.Annotations)
	}

	if pdbs := kubetest.OfKind[policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget"); len(pdbs) != 0 {
		t.Errorf("one replica rendered %d PodDisruptionBudgets, want none", len(pdbs))
	}

	checkSelectsPod(t, "the Deployment's selector", d.Spec.Selector.MatchLabels, pod.Labels)
	svc := one[corev1.Service](t, objs, "Service", "qd-queue-drainer-metrics")
	checkSelectsPod(t, "the metrics Service", svc.Spec.Selector, pod.Labels)
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].TargetPort != intstr.FromString("http-metrics") {
		t.Errorf("metrics Service ports = %+v, want 8080 to http-metrics", svc.Spec.Ports)
	}
	checkBindings(t, objs, "qd-queue-drainer", "qd-queue-drainer-manager", "qd-queue-drainer-leader-election")
	one[corev1.ServiceAccount](t, objs, "ServiceAccount", "qd-queue-drainer")
}

func TestRenderedObjectsConvertStrictlyToTheirTypes(t *testing.T) {
	// Kinds without a Go type in client-go's scheme, checked field by field elsewhere.
	untyped := map[string]bool{"CustomResourceDefinition": true, "ServiceMonitor": true, "PrometheusRule": true}
	for name, args := range map[string][]string{
		"default values":     nil,
		"everything enabled": {"--values", everything()},
	} {
		t.Run(name, func(t *testing.T) {
			for _, o := range rendered(t, args...) {
				gvk := o.GroupVersionKind()
				typed, err := clientgoscheme.Scheme.New(gvk)
				if err != nil {
					if !untyped[gvk.Kind] {
						t.Errorf("%s %s: %v", gvk, o.GetName(), err)
					}
					continue
				}
				if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, typed, true); err != nil {
					t.Errorf("%s %s: %v", gvk.Kind, o.GetName(), err)
				}
			}
		})
	}
}

func TestManagerPodMeetsTheRestrictedPodSecurityStandard(t *testing.T) {
	for name, args := range map[string][]string{
		"default values":     nil,
		"everything enabled": {"--values", everything()},
	} {
		t.Run(name, func(t *testing.T) {
			deployments := kubetest.OfKind[appsv1.Deployment](t, rendered(t, args...), "Deployment")
			if len(deployments) != 1 {
				t.Fatalf("rendered %d Deployments, want the manager's alone", len(deployments))
			}
			pod := deployments[0].Spec.Template
			if v := podsecurity.RestrictedViolations(t, pod); len(v) > 0 {
				t.Errorf("the manager's pod violates the restricted Pod Security Standard:\n%s", strings.Join(v, "\n"))
			}
			// The evaluator does see a violation: the same pod allowed to escalate.
			loose := *pod.DeepCopy()
			loose.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
			if v := podsecurity.RestrictedViolations(t, loose); len(v) == 0 {
				t.Error("a container with allowPrivilegeEscalation: true passed the restricted checks; the check is not working")
			}
			sc := pod.Spec.Containers[0].SecurityContext
			if sc.RunAsUser == nil || *sc.RunAsUser != 65532 || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("container securityContext %+v: want runAsUser 65532 and a read-only root filesystem", sc)
			}
		})
	}
}

// everythingValues is testdata/everything.yaml, decoded.
type everythingValues struct {
	AllowedRoleARNs []string                    `json:"allowedRoleARNs"`
	ConsumerEnv     map[string]string           `json:"consumerEnv"`
	ExtraArgs       []string                    `json:"extraArgs"`
	Resources       corev1.ResourceRequirements `json:"resources"`
}

func TestEverythingEnabledRendersEachObjectWithTheValues(t *testing.T) {
	raw, err := os.ReadFile(everything())
	if err != nil {
		t.Fatal(err)
	}
	var values everythingValues
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	if len(values.ConsumerEnv) < 2 || len(values.AllowedRoleARNs) < 2 {
		t.Fatal("testdata/everything.yaml should set several consumerEnv and allowedRoleARNs")
	}
	objs := rendered(t, "--values", everything())
	want := []string{
		"ClusterRole/drainer-editor",
		"ClusterRole/drainer-manager",
		"ClusterRole/drainer-viewer",
		"ClusterRoleBinding/drainer-manager",
		"ConfigMap/drainer-dashboard",
		"CustomResourceDefinition/" + crdName,
		"Deployment/drainer",
		"NetworkPolicy/drainer",
		"PodDisruptionBudget/drainer",
		"PrometheusRule/drainer",
		"Role/drainer-leader-election",
		"RoleBinding/drainer-leader-election",
		"Service/drainer-metrics",
		"ServiceAccount/drainer-sa",
		"ServiceMonitor/drainer",
	}
	got := inventory(objs)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("rendered objects:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	checkNamespaces(t, objs, map[string]string{"ConfigMap/drainer-dashboard": "monitoring"})

	// The Deployment.
	d := one[appsv1.Deployment](t, objs, "Deployment", "drainer")
	pod := d.Spec.Template
	c := manager(t, d)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %v, want 2", d.Spec.Replicas)
	}
	if c.Image != "registry.example.com/queue-drainer:v9.9.9" || c.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("image %q pull policy %q, want registry.example.com/queue-drainer:v9.9.9 Always", c.Image, c.ImagePullPolicy)
	}
	if !slices.Equal(pod.Spec.ImagePullSecrets, []corev1.LocalObjectReference{{Name: "regcred"}}) {
		t.Errorf("imagePullSecrets = %v", pod.Spec.ImagePullSecrets)
	}
	if pod.Spec.PriorityClassName != "system-cluster-critical" {
		t.Errorf("priorityClassName = %q", pod.Spec.PriorityClassName)
	}
	if pod.Spec.NodeSelector["kubernetes.io/os"] != "linux" || len(pod.Spec.NodeSelector) != 1 {
		t.Errorf("nodeSelector = %v", pod.Spec.NodeSelector)
	}
	if len(pod.Spec.Tolerations) != 1 || pod.Spec.Tolerations[0].Key != "dedicated" || pod.Spec.Tolerations[0].Effect != corev1.TaintEffectNoSchedule {
		t.Errorf("tolerations = %+v", pod.Spec.Tolerations)
	}
	if a := pod.Spec.Affinity; a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 ||
		a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].Weight != 100 {
		t.Errorf("affinity = %+v", pod.Spec.Affinity)
	}
	if len(pod.Spec.TopologySpreadConstraints) != 1 || pod.Spec.TopologySpreadConstraints[0].TopologyKey != "topology.kubernetes.io/zone" {
		t.Errorf("topologySpreadConstraints = %+v", pod.Spec.TopologySpreadConstraints)
	}
	if pod.Annotations["example.com/team"] != "platform" || pod.Labels["example.com/tier"] != "operators" {
		t.Errorf("pod annotations %v labels %v lack podAnnotations/podLabels", pod.Annotations, pod.Labels)
	}
	if pod.Spec.ServiceAccountName != "drainer-sa" {
		t.Errorf("serviceAccountName = %q, want drainer-sa", pod.Spec.ServiceAccountName)
	}
	if !equality.Semantic.DeepEqual(c.Resources, values.Resources) {
		t.Errorf("resources = %+v, want %+v", c.Resources, values.Resources)
	}

	// Arguments: the values' flags, then extraArgs last (so they win).
	names := make([]string, 0, len(values.ConsumerEnv))
	for n := range values.ConsumerEnv {
		names = append(names, n)
	}
	sort.Strings(names)
	wantArgs := append([]string{
		"--leader-elect",
		"--health-probe-bind-address=:9091",
		"--metrics-bind-address=:9090",
		"--allowed-role-arns=" + strings.Join(values.AllowedRoleARNs, ","),
		"--max-concurrent-reconciles=16",
		"--sqs-concurrency=64",
		"--status-refresh=2m",
		"--cloudwatch-period=90s",
		"--workers-pending-grace=1m30s",
		"--redrive-image=registry.example.com/drain-worker:v9.9.9",
		"--consumer-env=" + strings.Join(names, ","),
	}, values.ExtraArgs...)
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("args:\n  %q\nwant:\n  %q", c.Args, wantArgs)
	}
	if got := flagValue(c.Args, "--consumer-env"); !sort.StringsAreSorted(strings.Split(got, ",")) {
		t.Errorf("--consumer-env=%s: names not sorted", got)
	}

	// Env: the manager's own, consumerEnv's, then extraEnv.
	env := map[string]corev1.EnvVar{}
	var order []string
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("env %s set twice", e.Name)
		}
		env[e.Name] = e
		order = append(order, e.Name)
	}
	for n, v := range values.ConsumerEnv {
		if e := env[n]; e.Value != v || e.ValueFrom != nil {
			t.Errorf("env %s = %+v, want the value %q (consumerEnv)", n, e, v)
		}
	}
	if e := env["GODEBUG"]; e.Value != "http2client=0" {
		t.Errorf("extraEnv GODEBUG = %+v", e)
	}
	if e := env["PROXY_TOKEN"]; e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "proxy" || e.ValueFrom.SecretKeyRef.Key != "token" {
		t.Errorf("extraEnv PROXY_TOKEN = %+v, want from Secret proxy key token", e)
	}
	if len(order) < 2 || order[0] != "POD_NAMESPACE" || order[1] != "GOMEMLIMIT" {
		t.Errorf("env order %v: want POD_NAMESPACE and GOMEMLIMIT first", order)
	}
	if e := env["GOMEMLIMIT"]; e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil || e.ValueFrom.ResourceFieldRef.Resource != "limits.memory" {
		t.Errorf("GOMEMLIMIT = %+v, want from limits.memory", e)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["http-metrics"] != 9090 || ports["health"] != 9091 {
		t.Errorf("container ports = %v, want http-metrics 9090 and health 9091", ports)
	}

	// The service account, for IRSA.
	sa := one[corev1.ServiceAccount](t, objs, "ServiceAccount", "drainer-sa")
	if got := sa.Annotations["eks.amazonaws.com/role-arn"]; got != "arn:aws:iam::123456789012:role/queue-drainer" {
		t.Errorf("service account annotation eks.amazonaws.com/role-arn = %q", got)
	}
	checkBindings(t, objs, "drainer-sa", "drainer-manager", "drainer-leader-election")

	// The metrics Service and its ServiceMonitor.
	svc := one[corev1.Service](t, objs, "Service", "drainer-metrics")
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 9090 {
		t.Errorf("metrics Service ports = %+v, want 9090", svc.Spec.Ports)
	}
	if svc.Annotations["example.com/scrape"] != "true" {
		t.Errorf("metrics Service annotations = %v", svc.Annotations)
	}
	sm := find(objs, "ServiceMonitor", "drainer")
	if sm.GetLabels()["release"] != "kube-prometheus-stack" {
		t.Errorf("ServiceMonitor labels = %v, want release: kube-prometheus-stack", sm.GetLabels())
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints = %v, want one", endpoints)
	}
	ep, _ := endpoints[0].(map[string]any)
	for k, v := range map[string]any{"port": "http-metrics", "path": "/metrics", "honorLabels": true, "interval": "30s", "scrapeTimeout": "10s"} {
		if ep[k] != v {
			t.Errorf("ServiceMonitor endpoint %s = %v, want %v", k, ep[k], v)
		}
	}
	smSelector, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	checkSelectsPod(t, "the ServiceMonitor's selector (of Services)", smSelector, svc.Labels)
	if ns, _, _ := unstructured.NestedStringSlice(sm.Object, "spec", "namespaceSelector", "matchNames"); !slices.Equal(ns, []string{namespace}) {
		t.Errorf("ServiceMonitor namespaceSelector.matchNames = %v, want [%s]", ns, namespace)
	}

	// The PrometheusRule (its rules: TestChartRendersTheGeneratedRBACCRDAndAlerts).
	if pr := find(objs, "PrometheusRule", "drainer"); pr.GetLabels()["release"] != "kube-prometheus-stack" {
		t.Errorf("PrometheusRule labels = %v, want release: kube-prometheus-stack", pr.GetLabels())
	}

	// The dashboard ConfigMap.
	cm := one[corev1.ConfigMap](t, objs, "ConfigMap", "drainer-dashboard")
	if cm.Labels["grafana_dashboard"] != "1" || cm.Labels["example.com/dashboards"] != "queue" {
		t.Errorf("dashboard ConfigMap labels = %v, want grafana_dashboard: \"1\" and the values' labels", cm.Labels)
	}
	if cm.Annotations["grafana_folder"] != "Queues" {
		t.Errorf("dashboard ConfigMap annotation grafana_folder = %q, want Queues", cm.Annotations["grafana_folder"])
	}
	dashboard, err := os.ReadFile(filepath.Join(root(), "config", "grafana", "queue-drainer-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["queue-drainer-dashboard.json"] != string(dashboard) {
		t.Error("the dashboard ConfigMap's queue-drainer-dashboard.json differs from config/grafana/queue-drainer-dashboard.json")
	}

	// The PodDisruptionBudget.
	pdb := one[policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget", "drainer")
	if pdb.Spec.MaxUnavailable == nil || *pdb.Spec.MaxUnavailable != intstr.FromInt32(1) || pdb.Spec.MinAvailable != nil {
		t.Errorf("PodDisruptionBudget spec = %+v, want maxUnavailable 1", pdb.Spec)
	}
	checkSelectsPod(t, "the PodDisruptionBudget", pdb.Spec.Selector.MatchLabels, pod.Labels)

	// The NetworkPolicy.
	np := one[networkingv1.NetworkPolicy](t, objs, "NetworkPolicy", "drainer")
	checkSelectsPod(t, "the NetworkPolicy", np.Spec.PodSelector.MatchLabels, pod.Labels)
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
		t.Errorf("policyTypes = %v, want Ingress and Egress", np.Spec.PolicyTypes)
	}
	checkNetworkPolicy(t, np)
}

func checkNetworkPolicy(t *testing.T, np networkingv1.NetworkPolicy) {
	t.Helper()
	if len(np.Spec.Ingress) != 2 {
		t.Fatalf("ingress rules = %+v, want the metrics port's and the health port's", np.Spec.Ingress)
	}
	metrics, health := np.Spec.Ingress[0], np.Spec.Ingress[1]
	if len(metrics.Ports) != 1 || *metrics.Ports[0].Port != intstr.FromString("http-metrics") || len(metrics.From) != 1 {
		t.Errorf("metrics ingress rule = %+v, want port http-metrics from one peer", metrics)
	} else {
		peer := metrics.From[0]
		if peer.NamespaceSelector == nil || peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "monitoring" ||
			peer.PodSelector == nil || peer.PodSelector.MatchLabels["app.kubernetes.io/name"] != "prometheus" {
			t.Errorf("metrics ingress peer = %+v, want the values' namespace and pod selectors", peer)
		}
	}
	if len(health.Ports) != 1 || *health.Ports[0].Port != intstr.FromString("health") || len(health.From) != 0 {
		t.Errorf("health ingress rule = %+v, want port health from anywhere", health)
	}

	type allowed struct {
		port     string
		protocol corev1.Protocol
		to       string // "" for anywhere, else the first peer's CIDR or namespace
	}
	var egress []allowed
	for _, r := range np.Spec.Egress {
		to := ""
		if len(r.To) > 0 {
			switch p := r.To[0]; {
			case p.IPBlock != nil:
				to = p.IPBlock.CIDR
			case p.NamespaceSelector != nil:
				to = p.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
			}
		}
		for _, p := range r.Ports {
			egress = append(egress, allowed{p.Port.String(), *p.Protocol, to})
		}
	}
	want := []allowed{
		{"53", corev1.ProtocolUDP, ""},
		{"53", corev1.ProtocolTCP, ""},
		{"443", corev1.ProtocolTCP, ""},
		{"6443", corev1.ProtocolTCP, "10.0.0.1/32"},
		{"4566", corev1.ProtocolTCP, "emulators"},
	}
	if !slices.Equal(egress, want) {
		t.Errorf("egress allows %+v, want %+v", egress, want)
	}
}

func TestPodDisruptionBudgetFollowsReplicasUnlessSet(t *testing.T) {
	for _, tc := range []struct {
		sets []string
		want bool
	}{
		{[]string{"replicas=1"}, false},
		{[]string{"replicas=2"}, true},
		{[]string{"replicas=3", "podDisruptionBudget.enabled=false"}, false},
		{[]string{"replicas=1", "podDisruptionBudget.enabled=true"}, true},
	} {
		var args []string
		for _, s := range tc.sets {
			args = append(args, "--set", s)
		}
		got := len(kubetest.OfKind[policyv1.PodDisruptionBudget](t, rendered(t, args...), "PodDisruptionBudget")) == 1
		if got != tc.want {
			t.Errorf("%v: PodDisruptionBudget rendered %v, want %v", tc.sets, got, tc.want)
		}
	}
}

func TestCRDsInstallFalseRendersNoCRD(t *testing.T) {
	objs := rendered(t, "--set", "crds.install=false")
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			t.Errorf("crds.install=false rendered the CRD %s", o.GetName())
		}
	}
	one[appsv1.Deployment](t, objs, "Deployment", "qd-queue-drainer")
}

func TestFullNameFollowsTheHelmConvention(t *testing.T) {
	for _, tc := range []struct {
		release string
		sets    []string
		want    string
	}{
		{"qd", nil, "qd-queue-drainer"},
		{"queue-drainer", nil, "queue-drainer"},
		{"prod-queue-drainer-eu", nil, "prod-queue-drainer-eu"},
		{"qd", []string{"nameOverride=drain"}, "qd-drain"},
		{"qd", []string{"fullnameOverride=ops-drainer"}, "ops-drainer"},
	} {
		args := []string{"template", tc.release, chartDir(), "--namespace", namespace}
		for _, s := range tc.sets {
			args = append(args, "--set", s)
		}
		stdout, stderr, err := helm(t, args...)
		if err != nil {
			t.Fatalf("helm %v: %v\n%s", args, err, stderr)
		}
		objs, err := localcluster.Objects([]byte(stdout))
		if err != nil {
			t.Fatal(err)
		}
		deployments := kubetest.OfKind[appsv1.Deployment](t, objs, "Deployment")
		if len(deployments) != 1 || deployments[0].Name != tc.want {
			t.Errorf("release %s %v: Deployment %v, want %s", tc.release, tc.sets, inventory(objs), tc.want)
		}
	}
}

func TestNotesSayHowToCheckTheInstall(t *testing.T) {
	stdout, stderr, err := helm(t, "install", release, chartDir(), "--namespace", namespace, "--dry-run=client",
		"--values", everything())
	if err != nil {
		t.Fatalf("helm install --dry-run=client: %v\n%s", err, stderr)
	}
	_, notes, ok := strings.Cut(stdout, "\nNOTES:\n")
	if !ok {
		t.Fatalf("helm install printed no NOTES:\n%s", stdout)
	}
	for _, want := range []string{
		"Deployment drainer (2 replicas",
		"kubectl get queuedrainers -A",
		"kubectl queuedrainer status",
		"kubectl -n ops rollout status deployment/drainer",
		"CustomResourceDefinition " + crdName + " (kept on `helm uninstall`)",
		"a NetworkPolicy",
		"a PodDisruptionBudget",
		"namespace monitoring",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES lack %q:\n%s", want, notes)
		}
	}
}

// manager returns the Deployment's only container, which must be "manager".
func manager(t *testing.T, d appsv1.Deployment) corev1.Container {
	t.Helper()
	cs := d.Spec.Template.Spec.Containers
	if len(cs) != 1 || cs[0].Name != "manager" {
		t.Fatalf("containers %v, want one named manager", cs)
	}
	return cs[0]
}

// flagValue returns the value of the last occurrence of a --flag=value.
func flagValue(args []string, flag string) string {
	v := ""
	for _, a := range args {
		if rest, ok := strings.CutPrefix(a, flag+"="); ok {
			v = rest
		}
	}
	return v
}

// checkSelectsPod fails unless selector is non-empty and every label of it is on the pod.
func checkSelectsPod(t *testing.T, what string, selector, labels map[string]string) {
	t.Helper()
	if len(selector) == 0 {
		t.Errorf("%s selects everything", what)
	}
	for k, v := range selector {
		if labels[k] != v {
			t.Errorf("%s: %s=%s, not among %v", what, k, v, labels)
		}
	}
}

// clusterScoped are the kinds without a namespace.
var clusterScoped = map[string]bool{"ClusterRole": true, "ClusterRoleBinding": true, "CustomResourceDefinition": true}

// checkNamespaces fails unless every namespaced object is in the release's
// namespace (or the one named in elsewhere, by Kind/name) and no cluster-scoped one has one.
func checkNamespaces(t *testing.T, objs []*unstructured.Unstructured, elsewhere map[string]string) {
	t.Helper()
	for _, o := range objs {
		id := o.GetKind() + "/" + o.GetName()
		want := namespace
		if ns, ok := elsewhere[id]; ok {
			want = ns
		}
		if clusterScoped[o.GetKind()] {
			want = ""
		}
		if o.GetNamespace() != want {
			t.Errorf("%s: namespace %q, want %q", id, o.GetNamespace(), want)
		}
	}
}

// checkBindings fails unless the manager's ClusterRole and leader-election
// Role are bound to its service account in the release's namespace.
func checkBindings(t *testing.T, objs []*unstructured.Unstructured, sa, clusterRole, role string) {
	t.Helper()
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: namespace}}
	crb := one[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding", clusterRole)
	if crb.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole}) || !slices.Equal(crb.Subjects, subject) {
		t.Errorf("ClusterRoleBinding %s: roleRef %+v subjects %+v, want ClusterRole %s to %+v", clusterRole, crb.RoleRef, crb.Subjects, clusterRole, subject)
	}
	one[rbacv1.ClusterRole](t, objs, "ClusterRole", clusterRole)
	rb := one[rbacv1.RoleBinding](t, objs, "RoleBinding", role)
	if rb.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role}) || !slices.Equal(rb.Subjects, subject) {
		t.Errorf("RoleBinding %s: roleRef %+v subjects %+v, want Role %s to %+v", role, rb.RoleRef, rb.Subjects, role, subject)
	}
	one[rbacv1.Role](t, objs, "Role", role)
}
