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

package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// errImageNotMapped: the image has no binary in Options.Images.
var errImageNotMapped = errors.New("image not mapped")

// imageBinary returns the binary standing for an image ("" for a host
// image): the exact reference first, then the repository alone.
func (a *Agent) imageBinary(image string) (string, bool) {
	if bin, ok := a.images[image]; ok {
		return bin, true
	}
	bin, ok := a.images[repository(image)]
	return bin, ok
}

// repository strips the tag and digest off an image reference:
// "registry:5000/team/app:1.2@sha256:..." is "registry:5000/team/app".
func repository(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	return ref
}

// commandLine builds a container's argv, argv[0] being the binary's path.
// A mapped binary stands for the image's entrypoint, which command[0]
// names inside the image; a host image runs its command from the PATH.
func (a *Agent) commandLine(c *corev1.Container, env map[string]string) ([]string, error) {
	bin, ok := a.imageBinary(c.Image)
	if !ok {
		return nil, errImageNotMapped
	}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	command := expandAll(c.Command, lookup)
	args := expandAll(c.Args, lookup)
	if bin != "" {
		argv := []string{bin}
		if len(command) > 0 {
			argv = append(argv, command[1:]...)
		}
		return append(argv, args...), nil
	}
	if len(command) == 0 {
		return nil, fmt.Errorf("image %q is a host image, which has no entrypoint: the container needs a command", c.Image)
	}
	path, err := lookPath(command[0], env["PATH"])
	if err != nil {
		return nil, err
	}
	return append([]string{path}, append(command[1:], args...)...), nil
}

func expandAll(in []string, lookup func(string) (string, bool)) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = expand(s, lookup)
	}
	return out
}

// expand replaces $(NAME) references the way the kubelet does: $$ is a
// literal $, and references to unknown names, or unterminated ones, stay
// as written.
func expand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// environment builds a container's environment as the kubelet does (envFrom,
// then env, each value able to refer to earlier ones), on top of the
// runtime's variables, which the pod may override. Nothing of the agent's
// own environment leaks in.
func (w *podWorker) environment(ctx context.Context, c *corev1.Container, runtimeEnv map[string]string) (map[string]string, error) {
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		data, err := w.envFromData(ctx, from)
		if err != nil {
			return nil, err
		}
		for k, v := range data {
			env[from.Prefix+k] = v
		}
	}
	lookup := func(name string) (string, bool) {
		if v, ok := env[name]; ok {
			return v, true
		}
		v, ok := runtimeEnv[name]
		return v, ok
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = expand(e.Value, lookup)
			continue
		}
		v, ok, err := w.envValueFrom(ctx, c, e.ValueFrom)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			env[e.Name] = v
		}
	}
	for k, v := range runtimeEnv {
		if _, set := env[k]; !set {
			env[k] = v
		}
	}
	return env, nil
}

// environ turns an environment into exec's form, sorted for stable output.
func environ(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func (w *podWorker) envFromData(ctx context.Context, from corev1.EnvFromSource) (map[string]string, error) {
	ns := w.namespace
	switch {
	case from.ConfigMapRef != nil:
		cm, err := w.a.o.Client.CoreV1().ConfigMaps(ns).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && ptr.Deref(from.ConfigMapRef.Optional, false) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("configmap %q: %w", from.ConfigMapRef.Name, err)
		}
		return cm.Data, nil
	case from.SecretRef != nil:
		s, err := w.a.o.Client.CoreV1().Secrets(ns).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && ptr.Deref(from.SecretRef.Optional, false) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("secret %q: %w", from.SecretRef.Name, err)
		}
		data := make(map[string]string, len(s.Data))
		for k, v := range s.Data {
			data[k] = string(v)
		}
		return data, nil
	}
	return nil, nil
}

// envValueFrom resolves a valueFrom; ok is false for an optional key that
// is missing, which leaves the variable unset.
func (w *podWorker) envValueFrom(ctx context.Context, c *corev1.Container, from *corev1.EnvVarSource) (value string, ok bool, err error) {
	ns := w.namespace
	switch {
	case from.FieldRef != nil:
		v, err := podField(w.pod, w.podIP, from.FieldRef.FieldPath)
		return v, err == nil, err
	case from.ResourceFieldRef != nil:
		v, err := resourceField(w.pod, c, from.ResourceFieldRef)
		return v, err == nil, err
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		cm, err := w.a.o.Client.CoreV1().ConfigMaps(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && ptr.Deref(ref.Optional, false) {
			return "", false, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("configmap %q: %w", ref.Name, err)
		}
		v, found := cm.Data[ref.Key]
		if !found && !ptr.Deref(ref.Optional, false) {
			return "", false, fmt.Errorf("key %q not found in configmap %q", ref.Key, ref.Name)
		}
		return v, found, nil
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		s, err := w.a.o.Client.CoreV1().Secrets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && ptr.Deref(ref.Optional, false) {
			return "", false, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("secret %q: %w", ref.Name, err)
		}
		v, found := s.Data[ref.Key]
		if !found && !ptr.Deref(ref.Optional, false) {
			return "", false, fmt.Errorf("key %q not found in secret %q", ref.Key, ref.Name)
		}
		return string(v), found, nil
	}
	return "", false, errors.New("unsupported valueFrom")
}

// podField resolves the downward API's fieldRef paths that env supports.
func podField(pod *corev1.Pod, podIP, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return podIP, nil
	case "status.hostIP", "status.hostIPs":
		return nodeIP, nil
	}
	if key, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[key], nil
	}
	if key, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[key], nil
	}
	return "", fmt.Errorf("unsupported fieldRef %q", path)
}

// subscript reads the key of "field['key']".
func subscript(path, field string) (string, bool) {
	rest, ok := strings.CutPrefix(path, field+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

// resourceField resolves a resourceFieldRef like the kubelet: an unset
// limit is the node's allocatable, and values are rounded up to the
// divisor.
func resourceField(pod *corev1.Pod, c *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	if ref.ContainerName != "" {
		c = findContainer(pod, ref.ContainerName)
		if c == nil {
			return "", fmt.Errorf("resourceFieldRef: no container %q", ref.ContainerName)
		}
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	limit := kind == "limits"
	if !ok || (!limit && kind != "requests") {
		return "", fmt.Errorf("unsupported resourceFieldRef %q", ref.Resource)
	}
	list := c.Resources.Requests
	if limit {
		list = c.Resources.Limits
	}
	q, set := list[corev1.ResourceName(name)]
	if !set && limit {
		q = capacity[corev1.ResourceName(name)]
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if name == string(corev1.ResourceCPU) {
		return fmt.Sprint(int64(math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue())))), nil
	}
	return fmt.Sprint(int64(math.Ceil(float64(q.Value()) / float64(divisor.Value())))), nil
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}
