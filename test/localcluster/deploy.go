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

package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/ptr"
)

// FieldManager owns what this package applies.
const FieldManager = "queue-drainer-local"

// Kustomize renders a kustomization directory with the kustomize binary.
func Kustomize(ctx context.Context, kustomizeBin, dir string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, kustomizeBin, "build", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w: %s", dir, err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// Objects decodes a multi-document YAML stream.
func Objects(manifests []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// Apply server-side applies objects in order, waiting for each
// CustomResourceDefinition to be established before going on, so that
// custom resources later in the list can be applied.
func (c *Cluster) Apply(ctx context.Context, objs []*unstructured.Unstructured) error {
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			mapper.Reset()
			mapping, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
		}
		data, err := obj.MarshalJSON()
		if err != nil {
			return err
		}
		var res dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			ns := obj.GetNamespace()
			if ns == "" {
				ns = metav1.NamespaceDefault
			}
			res = dyn.Resource(mapping.Resource).Namespace(ns)
		}
		force := true
		if _, err := res.Patch(ctx, obj.GetName(), types.ApplyPatchType, data,
			metav1.PatchOptions{FieldManager: FieldManager, Force: &force}); err != nil {
			return fmt.Errorf("applying %s %s: %w", gvk.Kind, obj.GetName(), err)
		}
		if gvk.Kind == "CustomResourceDefinition" {
			if err := c.waitEstablished(ctx, dyn, obj.GetName()); err != nil {
				return err
			}
			mapper.Reset()
		}
	}
	return nil
}

func (c *Cluster) waitEstablished(ctx context.Context, dyn dynamic.Interface, name string) error {
	crds := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	return poll(ctx, 30*time.Second, "CRD "+name+" to be established", func() error {
		u, err := crds.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
				return nil
			}
		}
		return errors.New("not established yet")
	})
}

// ManagerChanges are what a local deployment changes in config/default's
// manager Deployment.
type ManagerChanges struct {
	// Env is added to the manager container, e.g. the emulators' endpoints
	// and static credentials that stand for the pod's AWS identity.
	Env []corev1.EnvVar
	// Args replace the container's flags of the same name ("--name=value")
	// or are added.
	Args []string
	// Replicas, if set, replaces the Deployment's.
	Replicas *int32
}

// ChangeManager edits the manager Deployment among objs in place.
func ChangeManager(objs []*unstructured.Unstructured, ch ManagerChanges) error {
	for _, obj := range objs {
		if obj.GetKind() != "Deployment" || !strings.HasSuffix(obj.GetName(), "controller-manager") {
			continue
		}
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &d); err != nil {
			return err
		}
		if ch.Replicas != nil {
			d.Spec.Replicas = ch.Replicas
		}
		for i := range d.Spec.Template.Spec.Containers {
			ctr := &d.Spec.Template.Spec.Containers[i]
			if ctr.Name != "manager" {
				continue
			}
			ctr.Env = append(ctr.Env, ch.Env...)
			ctr.Args = mergeFlags(ctr.Args, ch.Args)
		}
		u, err := ForApply(&d)
		if err != nil {
			return err
		}
		obj.Object = u.Object
		return nil
	}
	return errors.New("no controller-manager Deployment in the manifests")
}

// ForApply converts a typed object for server-side apply, without the
// empty status and creation timestamps the converter adds, which apply
// would otherwise claim.
func ForApply(obj runtime.Object) (*unstructured.Unstructured, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	delete(u, "status")
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u, "spec", "template", "metadata", "creationTimestamp")
	return &unstructured.Unstructured{Object: u}, nil
}

func mergeFlags(args, changes []string) []string {
	out := append([]string(nil), args...)
	for _, ch := range changes {
		name, _, _ := strings.Cut(ch, "=")
		replaced := false
		for i, a := range out {
			if n, _, _ := strings.Cut(a, "="); n == name {
				out[i], replaced = ch, true
			}
		}
		if !replaced {
			out = append(out, ch)
		}
	}
	return out
}

// WaitAvailable waits until the Deployment has an available replica.
func (c *Cluster) WaitAvailable(ctx context.Context, namespace, name string, timeout time.Duration) error {
	return poll(ctx, timeout, "Deployment "+namespace+"/"+name+" to be available", func() error {
		d, err := c.Client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.AvailableReplicas < 1 {
			return fmt.Errorf("%d of %d replicas available", d.Status.AvailableReplicas, ptr.Deref(d.Spec.Replicas, 1))
		}
		return nil
	})
}
