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

package controllers

import (
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
)

// CacheOptions keeps only the operator's own Jobs in the informer cache, so
// its memory does not grow with every Job in the cluster, and no object's
// managedFields.
func CacheOptions() cache.Options {
	own, err := labels.NewRequirement(v1alpha1.DrainerLabel, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant label key; cannot fail
	}
	return cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&batchv1.Job{}: {Label: labels.NewSelector().Add(*own)},
		},
		// Nothing reads managedFields, and with a fleet of drainers whose
		// status is written by the operator they are a good part of each object.
		DefaultTransform: cache.TransformStripManagedFields(),
	}
}
