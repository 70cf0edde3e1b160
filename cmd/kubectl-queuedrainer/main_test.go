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

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/testutil/fixture"
	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

// The tests run the commands against a real kube-apiserver and etcd with
// the CRD installed. No operator runs: the tests write the drainers' status
// through the status subresource as the operator would, and play the
// operator's part where a command waits for it.
var (
	cfg *rest.Config
	k8s client.Client
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	env, c, err := kubetest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	cfg = c
	if k8s, err = client.New(cfg, client.Options{Scheme: kubetest.Scheme()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	followEvery, refresh = 100*time.Millisecond, 100*time.Millisecond
	if err := fixtures(); err != nil {
		fmt.Fprintln(os.Stderr, "fixtures:", err)
		return 1
	}
	return m.Run()
}

// kq runs a command line of the plugin.
func kq(args ...string) (code int, stdout, stderr string) {
	return kqContext(context.Background(), args...)
}

func kqContext(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(ctx, args, &out, &errOut, cfg)
	return code, out.String(), errOut.String()
}

// The shared fixtures, in namespace shop: invoices is healthy and idle with
// a dead-letter queue and four runs in its history, orders is draining with
// an active run, payments is Stalled because its queue does not exist. In
// namespace billing: ledger, healthy. Tests that change drainers make their own.
func fixtures() error {
	ctx := context.Background()
	now := time.Now()
	at := func(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }
	for _, ns := range []string{"shop", "billing"} {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	healthy := []metav1.Condition{
		condition(v1alpha1.ConditionReady, true, "Watching", "the queue is observed every 30s"),
		condition(v1alpha1.ConditionDraining, false, "Idle", "no run is active"),
		condition(v1alpha1.ConditionQueueReachable, true, "QueueObserved", "SQS answers for the queue"),
		condition(v1alpha1.ConditionMetricsAvailable, true, "DatapointFresh", "the age of the oldest message is known"),
	}
	drainers := []struct {
		key    types.NamespacedName
		status v1alpha1.QueueDrainerStatus
	}{
		{types.NamespacedName{Namespace: "shop", Name: "invoices"}, v1alpha1.QueueDrainerStatus{
			Queue: &v1alpha1.QueueStatus{VisibleMessages: 12, InFlightMessages: 3, ObservedAt: at(5 * time.Second),
				OldestMessageAge: &metav1.Duration{Duration: 40 * time.Second},
				DeadLetter:       &v1alpha1.DeadLetterStatus{URL: "https://sqs.us-east-1.amazonaws.com/123456789012/invoices-dlq", VisibleMessages: 37}},
			History: []v1alpha1.RunRecord{
				{Name: "invoices-4", Trigger: v1alpha1.TriggerSchedule, Result: v1alpha1.RunSucceeded, StartedAt: at(10 * time.Minute), FinishedAt: at(9 * time.Minute),
					Workers: 2, WorkersWanted: 2, MessagesAtStart: 1200, MessagesAtEnd: ptr.To[int64](0), MessagesProcessed: ptr.To[int64](1234),
					MessagesFailed: ptr.To[int64](3), MessagesDeadLettered: ptr.To[int64](1), MessagesPerSecond: "20.6"},
				{Name: "invoices-3", Trigger: v1alpha1.TriggerQueueDepth, Result: v1alpha1.RunFailed, StartedAt: at(2 * time.Hour), FinishedAt: at(2*time.Hour - 3*time.Minute),
					Workers: 4, WorkersWanted: 5, MessagesAtStart: 5000, MessagesProcessed: ptr.To[int64](120),
					Message: "worker invoices-3-0-x7k2p: could not reach SQS: dial tcp 127.0.0.1:9999: connect: connection refused (Job BackoffLimitExceeded: Job has reached the specified backoff limit)"},
				{Name: "invoices-2", Trigger: v1alpha1.TriggerManual, Result: v1alpha1.RunSucceeded, StartedAt: at(26 * time.Hour), FinishedAt: at(26*time.Hour - 40*time.Second),
					Workers: 1, WorkersWanted: 1, MessagesAtStart: 800, MessagesProcessed: ptr.To[int64](800), MessagesPerSecond: "20.0"},
				{Name: "invoices-1", Trigger: v1alpha1.TriggerRedrive, Result: v1alpha1.RunSucceeded, StartedAt: at(50 * time.Hour), FinishedAt: at(50*time.Hour - 5*time.Second),
					Workers: 1, WorkersWanted: 1, MessagesAtStart: 9, MessagesProcessed: ptr.To[int64](9)},
			},
			LastRunNumber: 4,
			Conditions:    healthy,
		}},
		{types.NamespacedName{Namespace: "shop", Name: "orders"}, v1alpha1.QueueDrainerStatus{
			Queue: &v1alpha1.QueueStatus{VisibleMessages: 48410, InFlightMessages: 1001, ObservedAt: at(2 * time.Second),
				OldestMessageAge: &metav1.Duration{Duration: 11 * time.Minute}},
			ActiveRun: &v1alpha1.ActiveRun{Name: "orders-7", Trigger: v1alpha1.TriggerManual, StartedAt: at(3 * time.Minute),
				Workers: 6, Running: 4, Pending: 2, MostRunning: 4, RunningOfWanted: "4/6", MessagesAtStart: 50000},
			History: []v1alpha1.RunRecord{
				{Name: "orders-6", Trigger: v1alpha1.TriggerQueueDepth, Result: v1alpha1.RunSucceeded, StartedAt: at(3 * time.Hour), FinishedAt: at(3*time.Hour - 40*time.Second),
					Workers: 5, WorkersWanted: 5, MessagesAtStart: 50000, MessagesProcessed: ptr.To[int64](50000), MessagesPerSecond: "1250.0"},
			},
			LastRunNumber: 7,
			Conditions: []metav1.Condition{
				condition(v1alpha1.ConditionReady, true, "Watching", "the queue is observed every 30s"),
				condition(v1alpha1.ConditionDraining, true, "WorkersPending", "run orders-7: 2 of 6 workers pending for 2m0s: 0/3 nodes are available: 3 Insufficient cpu"),
				condition(v1alpha1.ConditionQueueReachable, true, "QueueObserved", "SQS answers for the queue"),
				condition(v1alpha1.ConditionMetricsAvailable, true, "DatapointFresh", "the age of the oldest message is known"),
			},
		}},
		{types.NamespacedName{Namespace: "shop", Name: "payments"}, v1alpha1.QueueDrainerStatus{
			Conditions: []metav1.Condition{
				condition(v1alpha1.ConditionReady, false, "QueueDoesNotExist", "the queue cannot be observed: AWS.SimpleQueueService.NonExistentQueue: The specified queue does not exist."),
				condition(v1alpha1.ConditionDraining, false, "Idle", "no run is active"),
				condition(v1alpha1.ConditionQueueReachable, false, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue: The specified queue does not exist."),
				condition(v1alpha1.ConditionMetricsAvailable, false, "NotPolledYet", "CloudWatch has not been asked yet"),
				condition(v1alpha1.ConditionStalled, true, "QueueDoesNotExist", "the queue cannot be observed: AWS.SimpleQueueService.NonExistentQueue: The specified queue does not exist."),
			},
		}},
		{types.NamespacedName{Namespace: "billing", Name: "ledger"}, v1alpha1.QueueDrainerStatus{
			Queue:      &v1alpha1.QueueStatus{VisibleMessages: 0, ObservedAt: at(time.Second), OldestMessageAge: &metav1.Duration{}},
			Conditions: healthy,
		}},
	}
	for _, d := range drainers {
		if err := k8s.Create(ctx, fixture.Drainer(d.key.Namespace, d.key.Name)); err != nil {
			return err
		}
		if err := writeStatus(d.key, func(st *v1alpha1.QueueDrainerStatus) { *st = d.status }); err != nil {
			return err
		}
	}
	return nil
}

// newNamespace makes a namespace of the test's own, with a drainer in it.
func newNamespace(t *testing.T, name string, status func(*v1alpha1.QueueDrainerStatus), spec ...func(*v1alpha1.QueueDrainerSpec)) types.NamespacedName {
	t.Helper()
	ctx := context.Background()
	kubetest.Must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}))
	key := types.NamespacedName{Namespace: name, Name: "orders"}
	qd := fixture.Drainer(key.Namespace, key.Name)
	for _, f := range spec {
		f(&qd.Spec)
	}
	kubetest.Must(t, k8s.Create(ctx, qd))
	kubetest.Must(t, writeStatus(key, func(st *v1alpha1.QueueDrainerStatus) {
		st.Queue = queue(500, 0)
		st.LastRunNumber = 0
		st.Conditions = []metav1.Condition{
			condition(v1alpha1.ConditionReady, true, "Watching", "the queue is observed every 30s"),
			condition(v1alpha1.ConditionQueueReachable, true, "QueueObserved", "SQS answers for the queue"),
		}
		if status != nil {
			status(st)
		}
	}))
	return key
}

// writeStatus changes a drainer's status through the status subresource,
// as the operator does.
func writeStatus(key types.NamespacedName, change func(*v1alpha1.QueueDrainerStatus)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		qd := &v1alpha1.QueueDrainer{}
		if err := k8s.Get(context.Background(), key, qd); err != nil {
			return err
		}
		qd.Status.ObservedGeneration = qd.Generation
		change(&qd.Status)
		return k8s.Status().Update(context.Background(), qd)
	})
}

func queue(visible, inFlight int64) *v1alpha1.QueueStatus {
	return &v1alpha1.QueueStatus{VisibleMessages: visible, InFlightMessages: inFlight, ObservedAt: metav1.Now()}
}

func condition(typ string, ok bool, reason, message string) metav1.Condition {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: message, ObservedGeneration: 1, LastTransitionTime: metav1.Now()}
}

// writeKubeconfig writes a kubeconfig for the test API server with two
// contexts: shop (the current one) and billing, each with its namespace.
func writeKubeconfig(t *testing.T) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["shop"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin", Namespace: "shop"}
	kc.Contexts["billing"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin", Namespace: "billing"}
	kc.CurrentContext = "shop"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kubetest.Must(t, clientcmd.WriteToFile(*kc, path))
	return path
}
