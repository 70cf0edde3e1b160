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

// Command loadgen fills an SQS queue: SendMessageBatch, up to 10 messages a
// call, from several senders, at an optional steady rate, for a count or a
// duration.
//
//	cd test && go run ./cmd/loadgen --queue-url https://sqs.us-east-1.amazonaws.com/123456789012/orders --count 100000
//	cd test && go run ./cmd/loadgen --queue-url $URL --rate 200 --duration 5m --body-template '{"order":{{.Seq}},"run":"{{.ID}}","at":"{{.Time}}"}'
//	cd test && go run ./cmd/loadgen --queue-url https://sqs.us-east-1.amazonaws.com/123456789012/orders.fifo \
//		--create --groups 16 --visibility-timeout 1m --dead-letter orders-dlq.fifo --max-receive-count 5
//
// Bodies are --size bytes of filler (the sequence number padded with dots),
// the content of --body-file byte for byte, or --body-template, a Go
// text/template rendered per message with .Seq (the sequence number, from
// 0), .ID (an ID unique to the run) and .Time (RFC 3339, UTC); one of the
// three. A body SQS would refuse (characters outside #x9 | #xA | #xD | #x20
// to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF, invalid UTF-8, empty
// or over 1 MiB) stops loadgen before it sends anything.
//
// --count sends that many messages; --rate caps the messages a second;
// --rate with --duration (instead of --count) sends rate × duration messages
// at that rate. Progress goes to stderr every second (unless --quiet), and
// one line to stdout at the end with the achieved rate.
//
// A queue URL ending in .fifo is a FIFO queue: message seq goes to group
// group-<seq % --groups>, each group's messages sent in order by one sender
// at a time (so --concurrency is at most --groups), with a
// MessageDeduplicationId unique to the run and the message, the same in
// every attempt, so that SQS drops a call sent again after a lost answer;
// --content-dedup leaves it out for a queue with ContentBasedDeduplication.
//
// --create creates the queue if it does not exist: FIFO for a .fifo name,
// with --visibility-timeout, --content-dedup, and with --dead-letter NAME
// --max-receive-count N a dead-letter queue of the same kind (created if
// missing) named in the queue's RedrivePolicy by the QueueArn SQS gives
// it. A queue that exists is not changed: one without the asked attributes
// is an error.
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
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/queuedrainer/queue-drainer/internal/awshttp"
	"github.com/queuedrainer/queue-drainer/internal/queueurl"
	"github.com/queuedrainer/queue-drainer/test/load"
)

const usage = `loadgen fills an SQS queue with SendMessageBatch, from several senders.

Usage:
  loadgen --queue-url URL [--count N | --rate R --duration D] [--size B | --body-file PATH | --body-template TEXT] [flags]

Examples:
  loadgen --queue-url https://sqs.us-east-1.amazonaws.com/123456789012/orders --count 100000
  loadgen --queue-url $URL --rate 200 --duration 5m --body-template '{"order":{{.Seq}},"at":"{{.Time}}"}'
  loadgen --queue-url https://sqs.us-east-1.amazonaws.com/123456789012/orders.fifo --create --groups 16 --dead-letter orders-dlq.fifo --max-receive-count 5

Bodies: --size bytes of filler (the default), the content of --body-file byte
for byte, or --body-template rendered per message with .Seq (from 0), .ID
(unique to the run) and .Time (RFC 3339); one of the three. A body SQS would
refuse stops loadgen before it sends anything.

FIFO (a URL ending in .fifo): message seq goes to group group-<seq % --groups>,
each group in order, with a deduplication ID per message (the same when a call
is sent again) unless --content-dedup.

--create makes a missing queue (and dead-letter queue) with the attribute
flags; an existing queue without them is an error, never changed.

AWS configuration is the SDK's default (credentials chain, AWS_REGION,
AWS_ENDPOINT_URL_SQS); an emulator's queue URL is its own endpoint.

Flags:
`

// options is what the command line asks for.
type options struct {
	queueURL string
	create   bool
	quiet    bool
	send     load.Options
	spec     load.QueueSpec
}

func main() {
	fs := flag.NewFlagSet("loadgen", flag.ExitOnError)
	o, err := parse(fs, os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// parse reads the command line and checks it, a --body-file's content
// included, before anything is sent.
func parse(fs *flag.FlagSet, args []string) (options, error) {
	var o options
	f := defineFlags(fs, &o)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q: every option is a flag", fs.Args())
	}
	set := flagsSet{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := checkFlags(o, set); err != nil {
		return o, err
	}
	s := &o.send
	if set["duration"] {
		s.Count = 0
	}
	if set["visibility-timeout"] {
		o.spec.VisibilityTimeout = f.visibility
	}
	o.spec.ContentDedup = s.ContentDedup
	if err := f.readBody(s, set); err != nil {
		return o, err
	}
	s.FIFO = load.IsFIFO(o.queueURL)
	if err := s.Validate(); err != nil {
		return o, err
	}
	if o.create {
		if err := o.spec.Check(o.queueURL); err != nil {
			return o, err
		}
	}
	return o, nil
}

// flagValues are the flags that parse turns into options after checking
// them.
type flagValues struct {
	bodyFile, bodyTemplate *string
	visibility             *time.Duration
}

// defineFlags defines loadgen's flags on fs, most of them straight into o.
func defineFlags(fs *flag.FlagSet, o *options) flagValues {
	s := &o.send
	f := flagValues{
		bodyFile: fs.String("body-file", "",
			"every message's body is this file's content, byte for byte (SQS's characters only, at most 1 MiB)"),
		bodyTemplate: fs.String("body-template", "",
			"a Go text/template for each body, with .Seq (sequence number from 0), .ID (unique to the run), .Time (RFC 3339); "+
				"e.g. '{\"order\":{{.Seq}}}'"),
		visibility: fs.Duration("visibility-timeout", 0,
			"with --create: the queue's VisibilityTimeout (whole seconds, up to 12h); SQS's default 30s if unset"),
	}
	fs.StringVar(&o.queueURL, "queue-url", os.Getenv("QUEUE_URL"),
		"queue to fill: https://sqs.<region>.amazonaws.com/<account>/<name>, or an emulator's queue URL [$QUEUE_URL]")
	fs.BoolVar(&o.create, "create", false, "create the queue if it does not exist (a .fifo name makes a FIFO queue), with the attribute flags")
	fs.BoolVar(&o.quiet, "quiet", false, "print only the final line")
	fs.IntVar(&s.Count, "count", 1000, "messages to send; not with --duration")
	fs.DurationVar(&s.Duration, "duration", 0, "with --rate: send --rate messages a second for this long (rate × duration messages), instead of --count")
	fs.Float64Var(&s.Rate, "rate", 0, "messages per second, 0 = as fast as the queue takes them")
	fs.IntVar(&s.Size, "size", 256, "bytes per message body: its sequence number padded with dots; not with --body-file or --body-template")
	fs.IntVar(&s.Concurrency, "concurrency", 8, "SendMessageBatch calls in flight at once (on a FIFO queue at most --groups)")
	fs.IntVar(&s.Groups, "groups", 1, "FIFO queue: spread the messages over this many message groups, group-<seq % N>")
	fs.BoolVar(&s.ContentDedup, "content-dedup", false,
		"FIFO queue: send no MessageDeduplicationId, SQS deduplicates by body (ContentBasedDeduplication, which --create sets); bodies must differ")
	fs.StringVar(&o.spec.DeadLetter, "dead-letter", "",
		"with --create: name of a dead-letter queue of the same kind (.fifo for a FIFO queue), created if missing, that the queue's RedrivePolicy names")
	fs.IntVar(&o.spec.MaxReceiveCount, "max-receive-count", 0,
		"with --dead-letter: receives after which a message moves to the dead-letter queue (1 to 1000)")
	return f
}

// flagsSet holds the names of the flags given on the command line.
type flagsSet map[string]bool

// given lists those of names that were given, as --name.
func (set flagsSet) given(names ...string) []string {
	var g []string
	for _, n := range names {
		if set[n] {
			g = append(g, "--"+n)
		}
	}
	return g
}

// checkFlags checks the flags' values and which of them go together.
func checkFlags(o options, set flagsSet) error {
	s := o.send
	switch {
	case o.queueURL == "":
		return errors.New("--queue-url is required")
	case s.Count < 0 || s.Size < 1 || s.Concurrency < 1 || s.Rate < 0 || s.Groups < 1 || s.Duration < 0:
		return errors.New("--count, --rate and --duration must not be negative, --size, --concurrency and --groups must be at least 1")
	case len(set.given("size", "body-file", "body-template")) > 1:
		return fmt.Errorf("%s: give one of --size, --body-file and --body-template", strings.Join(set.given("size", "body-file", "body-template"), " and "))
	}
	if err := checkDuration(s, set); err != nil {
		return err
	}
	return checkQueueFlags(o, set)
}

// checkDuration checks --duration against --count and --rate.
func checkDuration(s load.Options, set flagsSet) error {
	switch {
	case set["duration"] && set["count"]:
		return errors.New("--count and --duration are exclusive: --duration sends --rate × --duration messages")
	case set["duration"] && s.Duration == 0:
		return errors.New("--duration must be more than 0")
	case set["duration"] && s.Rate == 0:
		return errors.New("--duration needs --rate: it sends --rate × --duration messages")
	}
	return nil
}

// checkQueueFlags checks the flags that only some queues take: FIFO ones,
// or the queue attributes of --create.
func checkQueueFlags(o options, set flagsSet) error {
	switch {
	case !load.IsFIFO(o.queueURL) && len(set.given("groups", "content-dedup")) > 0:
		return fmt.Errorf("%s: only for a FIFO queue, whose URL ends in .fifo", strings.Join(set.given("groups", "content-dedup"), " and "))
	case !o.create && len(set.given("visibility-timeout", "dead-letter", "max-receive-count")) > 0:
		return fmt.Errorf("%s: queue attributes, only with --create",
			strings.Join(set.given("visibility-timeout", "dead-letter", "max-receive-count"), " and "))
	case set["dead-letter"] != set["max-receive-count"]:
		return errors.New("--dead-letter and --max-receive-count go together")
	}
	return nil
}

// readBody reads --body-file, checking that SQS would take it, and parses
// --body-template, into s.
func (f flagValues) readBody(s *load.Options, set flagsSet) error {
	if set["body-file"] {
		b, err := os.ReadFile(*f.bodyFile)
		if err != nil {
			return fmt.Errorf("--body-file: %w", err)
		}
		if err := load.CheckBody(string(b)); err != nil {
			return fmt.Errorf("--body-file %s: SQS would refuse it: %w", *f.bodyFile, err)
		}
		s.Body = string(b)
	}
	if set["body-template"] {
		t, err := template.New("body").Parse(*f.bodyTemplate)
		if err != nil {
			return fmt.Errorf("--body-template: %w", err)
		}
		s.Template = t
	}
	return nil
}

func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	var opts []func(*config.LoadOptions) error
	if q, err := queueurl.Parse(o.queueURL); err == nil {
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
	if endpoint := emulatorEndpoint(o.queueURL); endpoint != "" {
		sqsOpts = append(sqsOpts, func(so *sqs.Options) { so.BaseEndpoint = aws.String(endpoint) })
	}
	if !load.IsAWS(o.queueURL) && os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
		// Emulators take any credentials: do not go looking for some.
		cfg.Credentials = credentials.NewStaticCredentialsProvider("test", "test", "")
	}
	api := sqs.NewFromConfig(cfg, sqsOpts...)

	var target string
	if o.create {
		target, err = load.ResolveOrCreate(ctx, api, o.queueURL, o.spec)
	} else {
		target, err = load.ResolveQueueURL(ctx, api, o.queueURL, false)
	}
	if err != nil {
		return err
	}
	if target != o.queueURL {
		fmt.Fprintf(stderr, "sending to %s (resolved from %s)\n", target, o.queueURL)
	}
	s := o.send
	s.FIFO = load.IsFIFO(target)
	total := s.Messages()
	if !o.quiet {
		s.Progress = func(r load.Result) {
			if s.Duration > 0 {
				fmt.Fprintf(stderr, "sent %d/%d  %.0f msg/s  %.0fs of %v\n", r.Sent, total, r.PerSecond(), r.Elapsed.Seconds(), s.Duration)
				return
			}
			fmt.Fprintf(stderr, "sent %d/%d  %.0f msg/s\n", r.Sent, total, r.PerSecond())
		}
	}
	res, err := load.Send(ctx, api, target, s)
	size := int64(s.Size)
	switch {
	case res.Sent > 0:
		size = res.Bytes / res.Sent // the mean, for a template
	case s.Body != "":
		size = int64(len(s.Body))
	case s.Template != nil:
		size = 0 // nothing rendered
	}
	fmt.Fprintf(stdout, "sent %d messages of %d bytes in %.2fs: %.0f msg/s (%d SendMessageBatch calls, %d entries sent again)\n",
		res.Sent, size, res.Elapsed.Seconds(), res.PerSecond(), res.Calls, res.Retried)
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
