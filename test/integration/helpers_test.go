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

package integration_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/sqsstats"
	"github.com/queuedrainer/queue-drainer/test/emulator"
	"github.com/queuedrainer/queue-drainer/testutil/fixture"
	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

// switchable serves through next, or drops every connection while down.
type switchable struct {
	next http.Handler
	down atomic.Bool
}

func (s *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.down.Load() {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	s.next.ServeHTTP(w, r)
}

// hiddenQueues is the CloudWatch publisher's transport to fauxqs: it
// answers 404 for the queues in it, which the publisher then skips.
type hiddenQueues struct{ names sync.Map }

func (h *hiddenQueues) hide(name string) { h.names.Store(name, true) }

func (h *hiddenQueues) RoundTrip(r *http.Request) (*http.Response, error) {
	if name, ok := strings.CutPrefix(r.URL.Path, "/_fauxqs/queues/"); ok {
		if _, hidden := h.names.Load(name); hidden {
			return &http.Response{StatusCode: http.StatusNotFound, Status: "404 Not Found", Header: http.Header{},
				Body: io.NopCloser(strings.NewReader(`{"error":"hidden by the test"}`)), Request: r}, nil
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

func startHTTP(h http.Handler) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), func() { _ = srv.Close() }, nil
}

var nsCounter atomic.Int32

// newQueueAndDrainer creates an emulator queue and a drainer for it in a new namespace.
func newQueueAndDrainer(t *testing.T, queue string, triggers v1alpha1.Triggers) (types.NamespacedName, string) {
	t.Helper()
	ctx := context.Background()
	url, err := emulator.CreateQueue(ctx, sqsAPI, queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("it%d", nsCounter.Add(1))
	must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	return createDrainer(t, ns, queue, triggers), url
}

func createDrainer(t *testing.T, ns, queue string, triggers v1alpha1.Triggers) types.NamespacedName {
	t.Helper()
	qd := newDrainerObject(ns, queue, triggers)
	must(t, k8s.Create(context.Background(), qd))
	return client.ObjectKeyFromObject(qd)
}

// newDrainerObject is a drainer of the emulator's queue, polling every second.
func newDrainerObject(ns, queue string, triggers v1alpha1.Triggers) *v1alpha1.QueueDrainer {
	return fixture.Drainer(ns, queue,
		fixture.QueueURL(emulator.CanonicalURL(queue)),
		fixture.Triggers(triggers),
		fixture.Containers(corev1.Container{Name: "consumer", Image: "example/consumer:1"}),
		fixture.PollInterval(time.Second))
}

func k8sCreateNamespace(name string) error {
	return k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
}

// countingClients counts the SQS calls the operator makes through the real clients.
type countingClients struct {
	sqsstats.ClientSource
	mu    sync.Mutex
	calls map[string]int // "<operation> <queue URL or name>"
}

func (c *countingClients) SQS(region, roleARN string) sqsstats.SQSAPI {
	return countingSQS{c.ClientSource.SQS(region, roleARN), c}
}

func (c *countingClients) count(op, queue string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[op+" "+queue]++
}

// Calls returns how many times op was called for a queue whose URL or name ends with suffix.
func (c *countingClients) Calls(op, suffix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.calls {
		if strings.HasPrefix(k, op+" ") && strings.HasSuffix(k, suffix) {
			n += v
		}
	}
	return n
}

type countingSQS struct {
	sqsstats.SQSAPI
	c *countingClients
}

func (s countingSQS) GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	s.c.count("GetQueueUrl", "/"+aws.ToString(in.QueueName))
	return s.SQSAPI.GetQueueUrl(ctx, in, opts...)
}

func (s countingSQS) GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	s.c.count("GetQueueAttributes", aws.ToString(in.QueueUrl))
	return s.SQSAPI.GetQueueAttributes(ctx, in, opts...)
}

func get(t *testing.T, key types.NamespacedName) *v1alpha1.QueueDrainer {
	return kubetest.Drainer(t, k8s, key)
}

func jobsOf(t *testing.T, key types.NamespacedName) []batchv1.Job { return kubetest.Jobs(t, k8s, key) }

func waitEvent(t *testing.T, key types.NamespacedName, reason string) eventsv1.Event {
	return kubetest.WaitEvent(t, k8s, key, reason, "", 20*time.Second)
}

var (
	eventually = kubetest.Eventually
	condition  = kubetest.Condition
	must       = kubetest.Must
)
