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

package sqsstats

import (
	"context"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	awsCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "queuedrainer", Name: "aws_api_calls_total",
		Help: "AWS API calls the operator made, by service, operation and result " +
			"(Success, or the kind of error: Throttling, AccessDenied, QueueDoesNotExist, NetworkError, ...); an SDK retry is part of its call.",
	}, []string{"service", "operation", "result"})
	awsCallSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "queuedrainer", Name: "aws_api_call_duration_seconds",
		Help:    "Duration of the operator's AWS API calls, retries included.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14), // 5 ms to about 41 s
	}, []string{"service", "operation"})
)

func init() {
	metrics.Registry.MustRegister(awsCalls, awsCallSeconds)
}

// recordCalls counts and times every call made by SDK clients built with
// it in their APIOptions.
func recordCalls(stack *middleware.Stack) error {
	// At the end of the initialize step, where the operation's name is known,
	// and before retries, so that a call is timed as its caller waits for it.
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("QueueDrainerMetrics",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			start := time.Now()
			out, md, err := next.HandleInitialize(ctx, in)
			service, op := awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)
			result := "Success"
			if err != nil {
				result = Classify(err).Reason
			}
			awsCalls.WithLabelValues(service, op, result).Inc()
			awsCallSeconds.WithLabelValues(service, op).Observe(time.Since(start).Seconds())
			return out, md, err
		}), middleware.After)
}
