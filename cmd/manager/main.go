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

// Command manager runs the queue-drainer operator.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	_ "time/tzdata" // schedules name IANA time zones; the image has no zoneinfo

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/controllers"
	"github.com/queuedrainer/queue-drainer/internal/plan"
	"github.com/queuedrainer/queue-drainer/internal/sqsstats"
)

func main() {
	var (
		metricsAddr, probeAddr, allowedRoles, redriveImage, consumerEnvNames string
		leaderElect                                                          bool
		concurrency, sqsConcurrency                                          int
		cloudWatchPeriod, pendingGrace, statusRefresh                        time.Duration
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; 0 disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz probes.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader, so that only one replica acts at a time.")
	flag.StringVar(&allowedRoles, "allowed-role-arns", "",
		"Comma-separated patterns (path.Match syntax, e.g. arn:aws:iam::123456789012:role/drain-*) of the IAM roles drainers may name in spec.queue.roleARN. "+
			"Empty: none.")
	flag.IntVar(&concurrency, "max-concurrent-reconciles", 8,
		"How many drainers are reconciled at once (a reconcile does no AWS I/O: it waits only on the API server).")
	flag.IntVar(&sqsConcurrency, "sqs-concurrency", sqsstats.DefaultConcurrency, "How many queues are polled (SQS GetQueueAttributes) at once.")
	flag.DurationVar(&statusRefresh, "status-refresh", plan.DefaultStatusRefresh,
		"How often a drainer whose status has no other news renews the queue counts in it; the metrics have every poll's numbers.")
	flag.DurationVar(&cloudWatchPeriod, "cloudwatch-period", time.Minute, "How often the age of the oldest message is fetched from CloudWatch for all queues.")
	flag.DurationVar(&pendingGrace, "workers-pending-grace", plan.DefaultPendingGrace,
		"How long a run's workers may wait to run (for a node, an image) before the drainer says so with a WorkersPending condition and Event.")
	flag.StringVar(&redriveImage, "redrive-image", controllers.DefaultRedriveImage,
		"The drain-worker image that Redrive runs (the redrive-requested-at annotation) use to move a dead-letter queue's messages back.")
	flag.StringVar(&consumerEnvNames, "consumer-env", "",
		"Comma-separated names of variables of the manager's own environment to set in every consumer container that does not set them itself: "+
			"endpoints and settings for all consumers (AWS_ENDPOINT_URL_SQS of an emulator, a proxy), "+
			"not credentials, which consumers get from their service account.")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	consumerEnv, err := environment(splitList(consumerEnvNames))
	must(err, "reading --consumer-env")

	scheme := runtime.NewScheme()
	must(clientgoscheme.AddToScheme(scheme), "registering Kubernetes types")
	must(v1alpha1.AddToScheme(scheme), "registering QueueDrainer types")

	// The SDK's default chain: IRSA, EKS Pod Identity, environment, ... and
	// the standard AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL_CLOUDWATCH
	// variables for emulators. Its standard retryer backs off on throttling.
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background())
	must(err, "loading AWS configuration")

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                        scheme,
		Cache:                         controllers.CacheOptions(),
		Metrics:                       metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:        probeAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              "queue-drainer.drain.queuedrainer.io",
		LeaderElectionReleaseOnCancel: true,
		// From the downward API: the lease lives in the operator's own
		// namespace. Empty means controller-runtime's default, the
		// service-account namespace file.
		LeaderElectionNamespace: os.Getenv("POD_NAMESPACE"),
	})
	must(err, "creating manager")

	clients := &sqsstats.Clients{Base: awsCfg}
	poller := sqsstats.NewPoller(clients)
	poller.Period = cloudWatchPeriod
	must(mgr.Add(poller), "adding the CloudWatch poller")
	observer := &sqsstats.Observer{
		Clients:         clients,
		Ages:            poller,
		AllowedRoleARNs: splitList(allowedRoles),
		Concurrency:     sqsConcurrency,
	}
	reconciler := &controllers.QueueDrainerReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("queue-drainer"),
		Clock:                   clock.RealClock{},
		Observer:                observer,
		MaxConcurrentReconciles: concurrency,
		PendingGrace:            pendingGrace,
		RedriveImage:            redriveImage,
		ConsumerEnv:             consumerEnv,
		StatusRefresh:           statusRefresh,
	}
	must(reconciler.SetupWithManager(mgr), "setting up the QueueDrainer controller")
	observer.Notify = reconciler.Notify
	must(mgr.Add(observer), "adding the SQS observer")
	must(mgr.AddHealthzCheck("healthz", healthz.Ping), "adding health check")
	must(mgr.AddReadyzCheck("readyz", healthz.Ping), "adding ready check")

	log.Info("starting manager", "allowedRoleARNs", observer.AllowedRoleARNs, "consumerEnv", splitList(consumerEnvNames))
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

// environment is the manager's own value of each named variable; a name
// it does not set is an error, most likely a typo in the deployment.
func environment(names []string) ([]corev1.EnvVar, error) {
	env := make([]corev1.EnvVar, 0, len(names))
	for _, name := range names {
		value, ok := os.LookupEnv(name)
		if !ok {
			return nil, fmt.Errorf("%s is not set in the manager's environment", name)
		}
		env = append(env, corev1.EnvVar{Name: name, Value: value})
	}
	return env, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func must(err error, what string) {
	if err != nil {
		ctrl.Log.WithName("setup").Error(err, what)
		os.Exit(1)
	}
}
