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

// Command cloudwatch-sim serves the CloudWatch simulator (Smithy RPC v2
// CBOR, as the Go SDK speaks it) and, with --sqs-endpoint, publishes the
// AWS/SQS metrics of the fauxqs emulator's queues once a period.
//
//	cloudwatch-sim --listen 127.0.0.1:4598 --sqs-endpoint http://127.0.0.1:4566 --period 60s
//	AWS_ENDPOINT_URL_CLOUDWATCH=http://127.0.0.1:4598 <program using the SDK>
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/queuedrainer/queue-drainer/test/emulator/cwsim"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:4598", "address to serve CloudWatch on")
	sqsEndpoint := flag.String("sqs-endpoint", "", "fauxqs base URL (for example http://127.0.0.1:4566); enables the AWS/SQS publisher")
	period := flag.Duration("period", time.Minute, "how often the publisher writes AWS/SQS metrics")
	pageSize := flag.Int("page-size", 100, "most datapoints in one GetMetricData response before NextToken")
	delay := flag.Duration("metric-delay", 0, "hide datapoints from reads until this long after they are stored (CloudWatch ingestion delay)")
	allowAWS := flag.Bool("allow-aws-namespaces", false, "let PutMetricData write AWS/ namespaces (CloudWatch refuses them)")
	flag.Parse()

	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if err := run(*listen, *sqsEndpoint, *period, *pageSize, *delay, *allowAWS); err != nil {
		log.Printf("cloudwatch-sim: %v", err)
		os.Exit(1)
	}
}

func run(listen, sqsEndpoint string, period time.Duration, pageSize int, delay time.Duration, allowAWS bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	sim := cwsim.New(cwsim.Options{PageSize: pageSize, VisibilityDelay: delay, AllowAWSNamespaces: allowAWS})
	url, closeServer, err := sim.Start(listen)
	if err != nil {
		return err
	}
	log.Printf("cloudwatch-sim: serving CloudWatch (rpc-v2-cbor) on %s", url)

	done := make(chan struct{})
	if sqsEndpoint != "" {
		pub, err := cwsim.NewPublisher(sim, cwsim.PublisherOptions{
			SQSEndpoint: sqsEndpoint,
			Period:      period,
			OnPublish:   logPublish,
		})
		if err != nil {
			_ = closeServer()
			return err
		}
		log.Printf("cloudwatch-sim: publishing AWS/SQS metrics of %s every %s", sqsEndpoint, period)
		go func() {
			defer close(done)
			_ = pub.Run(ctx)
		}()
	} else {
		close(done)
	}

	<-ctx.Done()
	<-done
	log.Printf("cloudwatch-sim: shutting down")
	return closeServer()
}

func logPublish(res cwsim.PublishResult, err error) {
	parts := make([]string, 0, len(res.Queues))
	for _, q := range res.Queues {
		parts = append(parts, fmt.Sprintf("%s(visible=%d notVisible=%d delayed=%d age=%ds)",
			q.QueueName, q.Visible, q.NotVisible, q.Delayed, q.AgeSeconds))
	}
	line := fmt.Sprintf("cloudwatch-sim: published queues=%d metrics=%d", len(res.Queues), res.Metrics)
	if len(parts) > 0 {
		line += " " + strings.Join(parts, " ")
	}
	if err != nil {
		line += " error=" + err.Error()
	}
	log.Print(line)
}
