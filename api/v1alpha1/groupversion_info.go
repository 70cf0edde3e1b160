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

// Package v1alpha1 contains the QueueDrainer API of the drain.queuedrainer.io group.
// +kubebuilder:object:generate=true
// +groupName=drain.queuedrainer.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The registration follows k8s.io/api's packages, so that importing the
// types needs only apimachinery (controller-runtime's scheme.Builder is
// deprecated for API packages for that reason).
var (
	// GroupVersion is the group and version of the QueueDrainer API.
	GroupVersion = schema.GroupVersion{Group: "drain.queuedrainer.io", Version: "v1alpha1"}

	// SchemeBuilder registers the API types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the API types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &QueueDrainer{}, &QueueDrainerList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
