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

// Package config tests the kustomize manifests under config/: what
// `make deploy` would apply, where the manager's pod meets the restricted
// Pod Security Standard and the operator's RBAC stays narrow.
package config

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/utils/ptr"

	"github.com/queuedrainer/queue-drainer/test/localcluster"
	"github.com/queuedrainer/queue-drainer/test/podsecurity"
	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

// rendered is the output of `kustomize build config/default`, one object per entry.
func rendered(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	root := localcluster.RepoRoot()
	kustomize := filepath.Join(root, "bin", "kustomize")
	if _, err := os.Stat(kustomize); err != nil {
		t.Fatalf("%s not found: run make kustomize", kustomize)
	}
	out, err := localcluster.Kustomize(context.Background(), kustomize, filepath.Join(root, "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := localcluster.Objects(out)
	if err != nil {
		t.Fatalf("decoding the rendered manifests: %v", err)
	}
	return objs
}

func managerDeployment(t *testing.T, objs []*unstructured.Unstructured) appsv1.Deployment {
	t.Helper()
	deployments := kubetest.OfKind[appsv1.Deployment](t, objs, "Deployment")
	if len(deployments) != 1 {
		t.Fatalf("rendered %d Deployments, want the manager's alone", len(deployments))
	}
	return deployments[0]
}

func TestManagerPodMeetsTheRestrictedPodSecurityStandard(t *testing.T) {
	objs := rendered(t)
	d := managerDeployment(t, objs)
	pod := d.Spec.Template

	if v := podsecurity.RestrictedViolations(t, pod); len(v) > 0 {
		t.Errorf("the manager's pod violates the restricted Pod Security Standard:\n%s", strings.Join(v, "\n"))
	}

	// The evaluator does see a violation: the same pod allowed to escalate.
	loose := *pod.DeepCopy()
	loose.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
	if v := podsecurity.RestrictedViolations(t, loose); len(v) == 0 {
		t.Error("a container with allowPrivilegeEscalation: true passed the restricted checks; the check is not working")
	}

	// What the README promises, container by container.
	podSC := pod.Spec.SecurityContext
	if podSC == nil {
		podSC = &corev1.PodSecurityContext{}
	}
	containers := append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...)
	if len(containers) == 0 {
		t.Fatal("the manager's pod has no containers")
	}
	for _, c := range containers {
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("container %s has no securityContext", c.Name)
			continue
		}
		if !isTrue(sc.RunAsNonRoot) && !(sc.RunAsNonRoot == nil && isTrue(podSC.RunAsNonRoot)) {
			t.Errorf("container %s: runAsNonRoot is not true", c.Name)
		}
		if uid := sc.RunAsUser; uid != nil && *uid == 0 {
			t.Errorf("container %s runs as UID 0", c.Name)
		}
		if !isTrue(sc.ReadOnlyRootFilesystem) {
			t.Errorf("container %s: readOnlyRootFilesystem is not true", c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("container %s: allowPrivilegeEscalation is not false", c.Name)
		}
		seccomp := podSC.SeccompProfile
		if sc.SeccompProfile != nil {
			seccomp = sc.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("container %s: seccomp profile is %v, want RuntimeDefault", c.Name, seccomp)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			t.Errorf("container %s: capabilities %+v, want drop ALL and nothing added", c.Name, sc.Capabilities)
		}
	}

	// The namespace enforces the same standard on anything else run in it.
	for _, ns := range kubetest.OfKind[corev1.Namespace](t, objs, "Namespace") {
		if got := ns.Labels[psaapi.EnforceLevelLabel]; got != string(psaapi.LevelRestricted) {
			t.Errorf("namespace %s: %s = %q, want restricted", ns.Name, psaapi.EnforceLevelLabel, got)
		}
	}
}

func TestOperatorRBACGrantsNoSecretsAndNoWildcards(t *testing.T) {
	objs := rendered(t)
	d := managerDeployment(t, objs)
	sa := d.Spec.Template.Spec.ServiceAccountName
	if sa == "" {
		t.Fatal("the manager runs as the default service account")
	}
	isManager := func(subjects []rbacv1.Subject) bool {
		return slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool {
			return s.Kind == rbacv1.ServiceAccountKind && s.Name == sa && s.Namespace == d.Namespace
		})
	}

	// The roles bound to the manager's service account.
	bound := map[string]bool{} // "ClusterRole/name" or "Role/name"
	for _, b := range kubetest.OfKind[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding") {
		if isManager(b.Subjects) {
			bound[b.RoleRef.Kind+"/"+b.RoleRef.Name] = true
		}
	}
	for _, b := range kubetest.OfKind[rbacv1.RoleBinding](t, objs, "RoleBinding") {
		if isManager(b.Subjects) {
			bound[b.RoleRef.Kind+"/"+b.RoleRef.Name] = true
		}
	}
	rules := map[string][]rbacv1.PolicyRule{}
	for _, r := range kubetest.OfKind[rbacv1.ClusterRole](t, objs, "ClusterRole") {
		rules["ClusterRole/"+r.Name] = r.Rules
	}
	for _, r := range kubetest.OfKind[rbacv1.Role](t, objs, "Role") {
		rules["Role/"+r.Name] = r.Rules
	}
	if !bound["ClusterRole/queue-drainer-manager-role"] {
		t.Fatalf("the manager's ClusterRole is not bound to %s; bound: %v", sa, bound)
	}

	for role := range bound {
		rs, ok := rules[role]
		if !ok {
			t.Errorf("%s is bound to the manager but not rendered", role)
			continue
		}
		for _, r := range rs {
			t.Logf("%s: apiGroups %q resources %q verbs %q", role, r.APIGroups, r.Resources, r.Verbs)
			for _, field := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.ResourceNames} {
				if slices.Contains(field, "*") {
					t.Errorf("%s: rule %+v has a wildcard", role, r)
				}
			}
			if len(r.NonResourceURLs) > 0 {
				t.Errorf("%s: rule %+v grants non-resource URLs", role, r)
			}
			if slices.Contains(r.APIGroups, "") && slices.ContainsFunc(r.Resources, func(res string) bool {
				return res == "secrets" || strings.HasPrefix(res, "secrets/")
			}) {
				t.Errorf("%s: rule %+v grants access to Secrets", role, r)
			}
			for _, v := range []string{"escalate", "bind", "impersonate"} {
				if slices.Contains(r.Verbs, v) {
					t.Errorf("%s: rule %+v grants %s", role, r, v)
				}
			}
		}
	}
}

func isTrue(b *bool) bool { return b != nil && *b }
