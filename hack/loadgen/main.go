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

// Command loadgen fills an SQS queue: SendMessageBatch, 10 messages a call,
// from several senders, at an optional steady rate.
//
//	go run ./hack/loadgen --queue-url https://sqs.us-east-1.amazonaws.com/123456789012/orders --count 100000
//
// AWS configuration is the SDK's default (credentials chain, AWS_REGION,
// AWS_ENDPOINT_URL_SQS). A canonical queue URL is resolved with GetQueueUrl,
// so it also names an emulator's queue behind AWS_ENDPOINT_URL_SQS; an
// emulator's own URL (http://127.0.0.1:4566/000000000000/orders) names the
// queue by its account and name, its host is the endpoint unless
// AWS_ENDPOINT_URL_SQS says otherwise, and placeholder credentials are used
// unless AWS_ACCESS_KEY_ID or AWS_PROFILE is set.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/queuedrainer/queue-drainer/internal/awshttp"
	"github.com/queuedrainer/queue-drainer/internal/queueurl"
	"github.com/queuedrainer/queue-drainer/test/load"
)

func main() {
	var (
		queueURL = flag.String("queue-url", os.Getenv("QUEUE_URL"), "queue to fill: https://sqs.<region>.amazonaws.com/<account>/<name>, or an emulator's queue URL [$QUEUE_URL]")
		o        load.Options
		create   = flag.Bool("create", false, "create the queue if it does not exist (a .fifo name makes a FIFO queue)")
		quiet    = flag.Bool("quiet", false, "print only the final line")
	)
	flag.IntVar(&o.Count, "count", 1000, "messages to send")
	flag.IntVar(&o.Size, "size", 256, "bytes per message body")
	flag.IntVar(&o.Concurrency, "concurrency", 8, "SendMessageBatch calls in flight at once")
	flag.Float64Var(&o.Rate, "rate", 0, "messages per second, 0 = as fast as the queue takes them")
	flag.Parse()
	if err := run(*queueURL, *create, *quiet, o); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(rawURL string, create, quiet bool, o load.Options) error {
	if rawURL == "" {
		return fmt.Errorf("--queue-url is required")
	}
	if o.Count < 0 || o.Size < 1 || o.Concurrency < 1 || o.Rate < 0 {
		return fmt.Errorf("--count and --rate must not be negative, --size and --concurrency must be at least 1")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var opts []func(*config.LoadOptions) error
	if q, err := queueurl.Parse(rawURL); err == nil {
		opts = append(opts, config.WithRegion(q.Region)) // the queue's region wins
	} else if os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
		opts = append(opts, config.WithDefaultRegion("us-east-1")) // an emulator's: any region will do
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return fmt.Errorf("loading AWS configuration: %w", err)
	}
	cfg.HTTPClient = awshttp.SafeBodies(cfg.HTTPClient) // see SafeBodies: no message sent twice
	var sqsOpts []func(*sqs.Options)
	if endpoint := emulatorEndpoint(rawURL); endpoint != "" {
		sqsOpts = append(sqsOpts, func(so *sqs.Options) { so.BaseEndpoint = aws.String(endpoint) })
	}
	if !load.IsAWS(rawURL) && os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
		// Emulators take any credentials: do not go looking for some.
		cfg.Credentials = credentials.NewStaticCredentialsProvider("test", "test", "")
	}
	api := sqs.NewFromConfig(cfg, sqsOpts...)

	target, err := load.ResolveQueueURL(ctx, api, rawURL, create)
	if err != nil {
		return err
	}
	if target != rawURL {
		fmt.Fprintf(os.Stderr, "sending to %s (resolved from %s)\n", target, rawURL)
	}
	o.FIFO = load.IsFIFO(target)
	if !quiet {
		o.Progress = func(r load.Result) {
			fmt.Fprintf(os.Stderr, "sent %d/%d  %.0f msg/s\n", r.Sent, o.Count, r.PerSecond())
		}
	}
	res, err := load.Send(ctx, api, target, o)
	fmt.Printf("sent %d messages of %d bytes in %.2fs: %.0f msg/s (%d SendMessageBatch calls, %d entries sent again)\n",
		res.Sent, o.Size, res.Elapsed.Seconds(), res.PerSecond(), res.Calls, res.Retried)
	return err
}

// emulatorEndpoint is the scheme and host of an emulator's queue URL, to
// send to when no endpoint variable is set; "" for an AWS URL or when
// AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL is set.
func emulatorEndpoint(raw string) string {
	if load.IsAWS(raw) || os.Getenv("AWS_ENDPOINT_URL_SQS") != "" || os.Getenv("AWS_ENDPOINT_URL") != "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
