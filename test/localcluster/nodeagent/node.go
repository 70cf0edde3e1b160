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
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

const (
	// leaseRenewal is the kubelet's: the node lifecycle controller marks a
	// node unreachable after 40s without a renewal.
	leaseRenewal = 10 * time.Second
	leaseSeconds = 40
	// statusRefresh is how often Ready's lastHeartbeatTime is refreshed;
	// the Lease is what keeps the node alive in between.
	statusRefresh = time.Minute
	// nodeLeaseNamespace is where kubelets keep their Leases.
	nodeLeaseNamespace = "kube-node-lease"
)

// capacity is generous on purpose: tests schedule dozens of pods
// requesting CPU and memory that the processes never get limited to.
var capacity = corev1.ResourceList{
	corev1.ResourceCPU:              resource.MustParse("64"),
	corev1.ResourceMemory:           resource.MustParse("256Gi"),
	corev1.ResourcePods:             resource.MustParse("250"),
	corev1.ResourceEphemeralStorage: resource.MustParse("1Ti"),
}

// registerNode creates or updates the Node, posts a Ready status and
// takes the Lease, retrying for a while in case the API server is still starting.
func (a *Agent) registerNode(ctx context.Context) error {
	backoff := wait.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Steps: 6, Cap: 10 * time.Second}
	var last error
	err := wait.ExponentialBackoffWithContext(ctx, backoff, func(ctx context.Context) (bool, error) {
		last = a.tryRegisterNode(ctx)
		if last != nil {
			a.log.Info("registering the node", "error", last)
		}
		return last == nil, nil
	})
	if err != nil && last == nil { // ctx was done before the first attempt
		return fmt.Errorf("nodeagent: registering node %s: %w", a.o.NodeName, err)
	}
	if err != nil {
		return fmt.Errorf("nodeagent: registering node %s: %w (last error: %w)", a.o.NodeName, err, last)
	}
	return nil
}

func (a *Agent) tryRegisterNode(ctx context.Context) error {
	nodes := a.o.Client.CoreV1().Nodes()
	node, err := nodes.Get(ctx, a.o.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node, err = nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: a.o.NodeName}}, metav1.CreateOptions{})
	}
	if err != nil {
		return err
	}
	version, err := a.o.Client.Discovery().ServerVersion()
	if err != nil {
		return err
	}
	node = node.DeepCopy()
	node.Status = corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Phase:       corev1.NodeRunning,
		// "localhost" rather than the node name: the API server reaches the
		// log server through the Hostname address when there is one, and
		// the log server listens on loopback only.
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "127.0.0.1"},
			{Type: corev1.NodeHostName, Address: "localhost"},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(a.logsPort)}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               readTrimmed("/etc/machine-id"),
			BootID:                  readTrimmed("/proc/sys/kernel/random/boot_id"),
			KernelVersion:           readTrimmed("/proc/sys/kernel/osrelease"),
			OSImage:                 "queue-drainer node agent",
			ContainerRuntimeVersion: "process://" + runtime.Version(),
			// The API server's version: nothing here is older or newer.
			KubeletVersion:  version.GitVersion,
			OperatingSystem: "linux",
			Architecture:    runtime.GOARCH,
		},
		Conditions: withAgentConditions(node.Status.Conditions, time.Now()),
	}
	if node, err = nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return err
	}
	if node, changed := withNodeSpec(node); changed {
		if _, err := nodes.Update(ctx, node, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	return a.renewLease(ctx)
}

// withNodeSpec sets the well-known labels and removes the not-ready taint
// that admission puts on new nodes. The node lifecycle controller would
// remove it once the node is Ready, but a local cluster need not run that
// controller, and the scheduler avoids tainted nodes.
func withNodeSpec(node *corev1.Node) (*corev1.Node, bool) {
	node = node.DeepCopy()
	changed := false
	for k, v := range map[string]string{
		corev1.LabelHostname:   node.Name,
		corev1.LabelOSStable:   "linux",
		corev1.LabelArchStable: runtime.GOARCH,
	} {
		if node.Labels[k] != v {
			if node.Labels == nil {
				node.Labels = map[string]string{}
			}
			node.Labels[k], changed = v, true
		}
	}
	taints := slices.DeleteFunc(slices.Clone(node.Spec.Taints), func(t corev1.Taint) bool {
		return t.Key == corev1.TaintNodeNotReady
	})
	if len(taints) != len(node.Spec.Taints) {
		node.Spec.Taints, changed = taints, true
	}
	return node, changed
}

// nodeConditions says the node is ready and under no pressure, keeping the
// transition times of the conditions that already say so.
func nodeConditions(old []corev1.NodeCondition, now time.Time) []corev1.NodeCondition {
	want := []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "node agent is posting ready status"},
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "node agent has sufficient memory available"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "node agent has no disk pressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "node agent has sufficient PID available"},
	}
	for i := range want {
		want[i].LastHeartbeatTime = metav1.NewTime(now)
		want[i].LastTransitionTime = metav1.NewTime(now)
		for _, o := range old {
			if o.Type == want[i].Type && o.Status == want[i].Status {
				want[i].LastTransitionTime = o.LastTransitionTime
			}
		}
	}
	return want
}

// heartbeat renews the Lease and refreshes the Ready condition until ctx
// is done, as a kubelet does.
func (a *Agent) heartbeat(ctx context.Context) {
	lastStatus := time.Now()
	ticker := time.NewTicker(leaseRenewal)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if err := a.renewLease(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("renewing the node lease", "error", err)
		}
		if time.Since(lastStatus) < statusRefresh {
			continue
		}
		if err := a.refreshNodeStatus(ctx); err != nil {
			if ctx.Err() == nil {
				a.log.Error("refreshing the node status", "error", err)
			}
			continue
		}
		lastStatus = time.Now()
	}
}

func (a *Agent) refreshNodeStatus(ctx context.Context) error {
	nodes := a.o.Client.CoreV1().Nodes()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := nodes.Get(ctx, a.o.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		node.Status.Conditions = withAgentConditions(node.Status.Conditions, time.Now())
		_, err = nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{})
		return err
	})
}

// withAgentConditions replaces the agent's conditions in a node's, and
// keeps the others' (NetworkUnavailable, say).
func withAgentConditions(old []corev1.NodeCondition, now time.Time) []corev1.NodeCondition {
	ours := nodeConditions(old, now)
	var out []corev1.NodeCondition
	for _, c := range old {
		if !slices.ContainsFunc(ours, func(o corev1.NodeCondition) bool { return o.Type == c.Type }) {
			out = append(out, c)
		}
	}
	return append(out, ours...)
}

func (a *Agent) renewLease(ctx context.Context) error {
	leases := a.o.Client.CoordinationV1().Leases(nodeLeaseNamespace)
	now := metav1.NewMicroTime(time.Now())
	lease, err := leases.Get(ctx, a.o.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node, err := a.o.Client.CoreV1().Nodes().Get(ctx, a.o.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		// Owned by the Node, so that deleting the Node deletes it.
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name:      a.o.NodeName,
				Namespace: nodeLeaseNamespace,
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID,
				}},
			},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(a.o.NodeName),
				LeaseDurationSeconds: ptr.To[int32](leaseSeconds),
				RenewTime:            &now,
			},
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	lease = lease.DeepCopy()
	lease.Spec.HolderIdentity = ptr.To(a.o.NodeName)
	lease.Spec.LeaseDurationSeconds = ptr.To[int32](leaseSeconds)
	lease.Spec.RenewTime = &now
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	return err
}

func readTrimmed(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
