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

// Package integration runs the operator's manager, with its real AWS
// observation, against a real kube-apiserver and etcd (envtest), the fauxqs
// SQS emulator and the CloudWatch simulator publishing AWS/SQS metrics.
package integration_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/queuedrainer/queue-drainer/controllers"
	"github.com/queuedrainer/queue-drainer/internal/sqsstats"
	"github.com/queuedrainer/queue-drainer/test/emulator"
	"github.com/queuedrainer/queue-drainer/test/emulator/cwsim"
	"github.com/queuedrainer/queue-drainer/test/faultproxy"
	"github.com/queuedrainer/queue-drainer/testutil/kubetest"
)

// period is how often the simulator publishes AWS/SQS metrics and the
// poller fetches them; AWS does both once a minute.
const period = 2 * time.Second

var (
	k8s    client.Client
	sqsAPI *sqs.Client
	cw     *cwsim.Server
	// sqsCalls counts the operator's SQS calls, by operation and queue.
	sqsCalls *countingClients
	// cwDown makes the CloudWatch endpoint drop connections, as if it were unreachable.
	cwDown = &switchable{}
	// sqsProxy is the operator's SQS endpoint: it forwards to fauxqs and
	// fails the requests the tests tell it to.
	sqsProxy *faultproxy.Proxy
	// darkQueues are the queues the CloudWatch publisher skips, as AWS
	// publishes no datapoint for some queues (new or long idle ones).
	darkQueues = &hiddenQueues{}
	restCfg    *rest.Config
	// managerStopped is closed if the manager stops before the tests end.
	managerStopped = make(chan struct{})
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	fq, err := emulator.StartFauxqs(ctx, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer fq.Stop()
	if sqsProxy, err = faultproxy.Start(fq.Endpoint); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer sqsProxy.Close()
	cw = cwsim.New(cwsim.Options{})
	cwDown.next = cw
	cwURL, stopCW, err := startHTTP(cwDown)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stopCW()
	pub, err := cwsim.NewPublisher(cw, cwsim.PublisherOptions{SQSEndpoint: fq.Endpoint, Period: period,
		HTTPClient: &http.Client{Transport: darkQueues, Timeout: 30 * time.Second}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() { _ = pub.Run(ctx) }()

	// The operator finds the emulators the way it would in a cluster: through
	// the SDK's standard endpoint variables and its default credential chain.
	// Its SQS endpoint is the fault proxy.
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_SQS": sqsProxy.URL(), "AWS_ENDPOINT_URL_CLOUDWATCH": cwURL,
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": emulator.Region,
	} {
		os.Setenv(k, v)
	}
	awsCfg, err := emulator.AWSConfig(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The tests' own SQS calls (creating queues, sending) go straight to fauxqs.
	sqsAPI = sqs.NewFromConfig(awsCfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(fq.Endpoint) })

	env, cfg, err := kubetest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	restCfg = cfg
	scheme := kubetest.Scheme()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Cache: controllers.CacheOptions(), Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	clients := &countingClients{ClientSource: &sqsstats.Clients{Base: awsCfg}}
	sqsCalls = clients
	poller := sqsstats.NewPoller(clients)
	poller.Period = period
	if err := mgr.Add(poller); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	observer := &sqsstats.Observer{Clients: clients, Ages: poller}
	r := &controllers.QueueDrainerReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Recorder: mgr.GetEventRecorder("queue-drainer"), Clock: clock.RealClock{},
		Observer:                observer,
		MaxConcurrentReconciles: 4,
		PendingGrace:            2 * time.Second,
		// Short, so that tests see the counts in status within seconds of
		// a change, as they would in a minute with the default.
		StatusRefresh: 2 * time.Second,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	observer.Notify = r.Notify
	if err := mgr.Add(observer); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager stopped:", err)
		}
		close(managerStopped)
	}()
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
