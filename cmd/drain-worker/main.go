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

// Command drain-worker empties an SQS queue through a handler and exits 0
// once the queue is empty, so that a Kubernetes Job of such workers
// completes when the queue is drained. It is the reference consumer of
// queue-drainer; most users wrap their own handler with it.
//
//	drain-worker --http http://localhost:8080/handle     # POST each body; 2xx = done
//	drain-worker --exec -- ./process-order                # body on stdin; exit 0 = done
//	drain-worker --redrive-to https://sqs.us-east-1.amazonaws.com/123456789012/orders
//
// QUEUE_URL (set by the operator) names the queue. On SIGTERM it stops
// receiving, finishes what it is handling within --grace-period and gives
// the rest back to the queue. On exit, drained or not, it writes a JSON
// summary to stdout and to the termination-message file, where the
// operator reads it: the counts, the queue as it was given, why the worker
// stopped early ("could not reach SQS: ...", "queue does not exist: ...")
// and the handler's last failure.
//
// With --redrive-to, the queue drained is a dead-letter queue whose
// messages go back to their source queue: each is sent to the target (its
// body, its typed message attributes, on FIFO queues its message group,
// deduplicated by its message ID) and deleted from the dead-letter queue
// only once the send succeeded; a failed send leaves it there. The
// summary's "processed" then counts the messages moved, and its "queue" is
// the dead-letter queue.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	awstransport "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/queuedrainer/queue-drainer/internal/awshttp"
	"github.com/queuedrainer/queue-drainer/internal/drainsummary"
	"github.com/queuedrainer/queue-drainer/internal/queueurl"
	"github.com/queuedrainer/queue-drainer/internal/worker"
)

func main() {
	var (
		queueURL, httpURL, redriveTo string
		terminationLog               string
		execMode                     bool
		cfg                          worker.Config
	)
	flag.StringVar(&queueURL, "queue-url", os.Getenv("QUEUE_URL"), "The queue to drain (default $QUEUE_URL).")
	flag.StringVar(&httpURL, "http", "", "POST each message to this URL; a 2xx answer means done.")
	flag.BoolVar(&execMode, "exec", false, "Run the command after -- for each message, body on stdin; exit 0 means done.")
	flag.StringVar(&redriveTo, "redrive-to", "", "Redrive: move each message of the queue (a dead-letter queue) to this queue, "+
		"deleting it only once it was sent there. Instead of --http and --exec.")
	flag.IntVar(&cfg.Receivers, "receivers", worker.DefaultReceivers, "Parallel long-polling receivers, 10 messages a call; "+
		"each holds what it received until a handler is free, so lower it for slow handlers.")
	flag.IntVar(&cfg.Handlers, "concurrency", worker.DefaultHandlers, "Messages handled at once.")
	flag.IntVar(&cfg.Deleters, "deletes-in-flight", worker.DefaultDeleters, "DeleteMessageBatch calls in flight at once, 10 messages a call.")
	flag.DurationVar(&cfg.HandlerTimeout, "handler-timeout", worker.DefaultHandlerTimeout, "Time one message may take.")
	flag.DurationVar(&cfg.WaitTime, "wait-time", worker.DefaultWaitTime, "Long-poll wait (at most 20s).")
	flag.DurationVar(&cfg.VisibilityTimeout, "visibility-timeout", 0, "Visibility timeout to receive with (default: the queue's).")
	flag.IntVar(&cfg.EmptyPolls, "empty-polls", worker.DefaultEmptyPolls, "Empty long polls in a row, per receiver, that mean the queue is empty.")
	flag.DurationVar(&cfg.GracePeriod, "grace-period", worker.DefaultGracePeriod,
		"After SIGTERM, time for started messages to finish, and their failed deletes to be tried again, before they are released.")
	flag.StringVar(&terminationLog, "termination-log", defaultTerminationLog(), "Where to write the JSON summary for Kubernetes; empty to skip. "+
		"Defaults to $TERMINATION_MESSAGE_PATH if set (how runtimes without the kubelet's mount, "+
		"such as the local cluster's node agent, say where), else /dev/termination-log.")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	handler, err := newHandler(httpURL, execMode, redriveTo, flag.Args())
	if err == nil {
		err = checkQueues(queueURL, redriveTo)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "drain-worker:", err)
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	summary, err := drain(ctx, queueURL, redriveTo, handler, cfg, log)
	stop()
	// Every exit leaves a summary: the operator tells from it which queue
	// the worker was given and why it failed.
	summary.Queue = queueURL
	summary.Error = worker.Describe(err)
	writeSummary(summary, terminationLog, log)
	if err != nil {
		os.Exit(1)
	}
}

// drain connects to SQS and drains the queue, into redriveTo when it is
// set (handler is then nil); it logs what failed.
func drain(ctx context.Context, queueURL, redriveTo string, handler worker.Handler, cfg worker.Config, log *slog.Logger) (drainsummary.Summary, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		log.Error("loading AWS configuration", "error", err)
		return drainsummary.Summary{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	// Keep a connection for every call the drain has in flight (the SDK
	// keeps 10 per host): a connection closed when its call ends is a new
	// TLS handshake with SQS for the next one.
	awsCfg.HTTPClient = keepConnections(awsCfg.HTTPClient, cfg)
	// A retried ReceiveMessage would hide its first batch until the
	// visibility timeout; see awshttp.SafeBodies.
	awsCfg.HTTPClient = awshttp.SafeBodies(awsCfg.HTTPClient)
	api := sqs.NewFromConfig(awsCfg)
	resolved, err := resolve(ctx, api, queueURL)
	if err != nil {
		log.Error("finding the queue", "queue", queueURL, "error", err)
		return drainsummary.Summary{}, err
	}
	if redriveTo != "" {
		target, err := resolve(ctx, api, redriveTo)
		if err != nil {
			log.Error("finding the redrive target", "queue", redriveTo, "error", err)
			return drainsummary.Summary{}, err
		}
		if target == resolved {
			err := fmt.Errorf("the redrive target %s is the queue drained", redriveTo)
			log.Error("redrive", "error", err)
			return drainsummary.Summary{}, err
		}
		handler = worker.RedriveHandler{API: api, TargetURL: target}
		log.Info("redriving", "from", queueURL, "to", redriveTo)
	}
	cfg.Progress = func(s drainsummary.Summary) {
		log.Info("progress", "processed", s.Processed, "failed", s.Failed, "received", s.Received,
			"messagesPerSecond", fmt.Sprintf("%.0f", float64(s.Processed)/max(s.Seconds, 0.001)))
	}
	log.Info("draining", "queue", queueURL, "receivers", cfg.Receivers, "concurrency", cfg.Handlers, "deletesInFlight", cfg.Deleters)
	summary, err := worker.Run(ctx, api, resolved, handler, cfg)
	if err != nil {
		log.Error("drain failed", "error", err)
	}
	return summary, err
}

// keepConnections makes the SDK's HTTP client (with whatever the AWS
// configuration set on it, such as AWS_CA_BUNDLE) keep an idle connection
// for each call a drain with cfg can have in flight: receives, deletes and
// the handlers' own (a redrive's SendMessage), with some to spare for
// visibility changes. Another client is left as it is.
func keepConnections(c aws.HTTPClient, cfg worker.Config) aws.HTTPClient {
	b, ok := c.(*awstransport.BuildableClient)
	if !ok {
		return c
	}
	cfg = cfg.WithDefaults()
	conns := cfg.Receivers + cfg.Deleters + cfg.Handlers + 8
	return b.WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns, t.MaxIdleConnsPerHost = max(t.MaxIdleConns, conns), max(t.MaxIdleConnsPerHost, conns)
	})
}

// defaultTerminationLog is $TERMINATION_MESSAGE_PATH when set: runtimes
// that cannot mount /dev/termination-log, such as the local cluster's node
// agent, name the file there.
func defaultTerminationLog() string {
	if path := os.Getenv("TERMINATION_MESSAGE_PATH"); path != "" {
		return path
	}
	return "/dev/termination-log"
}

// newHandler is the --http or --exec handler; nil with --redrive-to, whose
// handler needs the SQS client.
func newHandler(httpURL string, execMode bool, redriveTo string, args []string) (worker.Handler, error) {
	switch {
	case httpURL != "" && execMode:
		return nil, fmt.Errorf("choose one of --http and --exec")
	case redriveTo != "" && (httpURL != "" || execMode):
		return nil, fmt.Errorf("choose one of --http, --exec and --redrive-to")
	case redriveTo != "" && len(args) > 0:
		return nil, fmt.Errorf("--redrive-to takes no command (%q)", args)
	case redriveTo != "":
		return nil, nil
	case httpURL != "":
		return worker.HTTPHandler{URL: httpURL}, nil
	case execMode && len(args) > 0:
		return worker.ExecHandler{Command: args}, nil
	case execMode:
		return nil, fmt.Errorf("--exec needs a command after --")
	default:
		return nil, fmt.Errorf("choose a handler: --http URL, --exec -- COMMAND or --redrive-to QUEUE_URL")
	}
}

// checkQueues checks the queue to drain and the redrive target, if any,
// as far as can be told before asking SQS.
func checkQueues(queueURL, redriveTo string) error {
	switch {
	case queueURL == "":
		return fmt.Errorf("no queue: set QUEUE_URL or --queue-url")
	case redriveTo == "":
		return nil
	case redriveTo == queueURL:
		return fmt.Errorf("--redrive-to names the queue drained, %s", queueURL)
	case strings.HasSuffix(redriveTo, ".fifo") && !strings.HasSuffix(queueURL, ".fifo"):
		// Its messages have no message group for the FIFO queue.
		return fmt.Errorf("cannot redrive the standard queue %s to the FIFO queue %s", queueURL, redriveTo)
	}
	return nil
}

// resolve asks SQS for the queue's own URL by name and account: the same
// URL on AWS, the emulator's behind AWS_ENDPOINT_URL_SQS.
func resolve(ctx context.Context, api *sqs.Client, raw string) (string, error) {
	q, err := queueurl.Parse(raw)
	if err != nil {
		if strings.HasPrefix(raw, "http://") {
			return raw, nil // already an emulator's URL
		}
		return "", err
	}
	out, err := api.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(q.Name), QueueOwnerAWSAccountId: aws.String(q.Account)})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.QueueUrl), nil
}

func writeSummary(s drainsummary.Summary, path string, log *slog.Logger) {
	line := s.Line()
	fmt.Println(string(line))
	if path == "" {
		return
	}
	if err := os.WriteFile(path, append(line, '\n'), 0o644); err != nil {
		log.Warn("cannot write the termination message", "path", path, "error", err)
	}
}
