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

// Command benchworker measures the drain engine (internal/worker) against
// one fauxqs SQS emulator on loopback, next to two references drained from
// the same emulator in the same run:
//
//   - naive: a consumer like the public write-up's (one message per
//     ReceiveMessage, DeleteMessage one by one, 10 loops, each stopping at
//     its first empty receive);
//   - ceiling: what the emulator itself can serve, with ReceiveMessage(10)
//     and DeleteMessageBatch from many loops and no handling at all.
//
// Each phase fills a fresh queue, then drains it; only the drain is timed.
// Phases run in rounds, each round in a rotated order, after a warm-up of
// every consumer (node's JIT, connections). CPU is reported per 1,000
// messages for this Go process (getrusage) and for the emulator's node
// process (/proc/<pid>/stat), which share the machine's cores. Each phase
// checks that every message sent was received and deleted once and that the
// queue is empty afterwards; a failed check exits 1.
//
//	make bench-worker               # or: go run ./hack/benchworker --help
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awstransport "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/queuedrainer/queue-drainer/internal/awshttp"
	"github.com/queuedrainer/queue-drainer/internal/sqsstats"
	"github.com/queuedrainer/queue-drainer/internal/worker"
	"github.com/queuedrainer/queue-drainer/test/emulator"
	"github.com/queuedrainer/queue-drainer/test/load"
)

// Targets the drain engine is held to.
const (
	targetOverNaive = 5.0 // times the naive consumer's rate
	targetOfCeiling = 0.8 // of the emulator's ceiling
)

const (
	phaseTimeout      = 90 * time.Second
	settleBeforeDrain = 300 * time.Millisecond
)

type options struct {
	messages, size, loadConcurrency int
	wait                            time.Duration
	naiveLoops, ceilingLoops        int
	warmup, rounds                  int
	strict, safeBodies              bool
	cpuProfile                      string
}

func main() {
	var o options
	flag.IntVar(&o.messages, "messages", 20000, "messages per phase")
	flag.IntVar(&o.size, "size", 256, "bytes per message body")
	flag.IntVar(&o.loadConcurrency, "load-concurrency", 8, "SendMessageBatch calls in flight while filling a queue")
	flag.DurationVar(&o.wait, "wait", time.Second, "long-poll wait of every consumer (whole seconds)")
	flag.IntVar(&o.naiveLoops, "naive-loops", 10, "loops of the naive consumer")
	flag.IntVar(&o.ceilingLoops, "ceiling-loops", 16, "loops measuring the emulator's ceiling")
	flag.IntVar(&o.warmup, "warmup", 10000, "messages drained by each consumer before measuring, 0 for none")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of ceiling, worker and naive phases (order rotated each round)")
	flag.BoolVar(&o.strict, "strict", false, "exit 3 when a target is not met")
	flag.BoolVar(&o.safeBodies, "safe-bodies", true, "send requests through awshttp.SafeBodies; false shows the SDK retrying calls whose connection it closed itself (aws-sdk-go-v2#2737)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process during the worker phases to this file")
	flag.Parse()
	if o.wait < time.Second || o.wait%time.Second != 0 || o.messages < 1 || o.rounds < 1 {
		fmt.Fprintln(os.Stderr, "benchworker: --wait must be whole seconds (at least 1s), --messages and --rounds at least 1")
		os.Exit(2)
	}
	code, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchworker: ERROR:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// drainer empties a queue of n messages through api.
type drainer func(ctx context.Context, api *counting, queueURL string, n int) error

type phase struct {
	kind, label string // kind groups the rounds: ceiling, worker, naive
	drain       drainer
}

// result is one measured drain.
type result struct {
	phase
	n                 int
	wall, active      time.Duration // to the consumer's return; to the last delete
	goCPU, nodeCPU    time.Duration
	otherCPU          time.Duration // every other process of the machine, and interrupts
	calls, emptyPolls int64
	sdkRetries        int64
	receiveMs, delMs  float64 // mean latency of receives that returned messages, of deletes
	peakRecv, peakDel int64   // most calls in flight at once
	loadRate          float64
}

// rate is the sustained drain rate: messages over the time to the last
// delete. wallRate also counts the final empty long poll that tells a
// consumer the queue is empty (one WaitTime for every consumer).
func (r result) rate() float64     { return float64(r.n) / r.active.Seconds() }
func (r result) wallRate() float64 { return float64(r.n) / r.wall.Seconds() }
func (r result) per1k(d time.Duration) float64 {
	return d.Seconds() * 1000 / float64(r.n)
}

func run(o options) (int, error) {
	ctx := context.Background()
	fq, err := emulator.StartFauxqs(ctx, os.Stderr)
	if err != nil {
		return 0, err
	}
	defer fq.Stop()
	nodePID, err := childNamed("node")
	if err != nil {
		return 0, fmt.Errorf("finding the emulator's process: %w", err)
	}
	os.Setenv("AWS_ENDPOINT_URL_SQS", fq.Endpoint)
	cfg, err := emulator.AWSConfig(ctx)
	if err != nil {
		return 0, err
	}
	// Enough idle connections for the widest phase, so that no phase pays
	// for new connections (the SDK keeps 10 per host by default).
	cfg.HTTPClient = awstransport.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 256
	})
	if o.safeBodies {
		cfg.HTTPClient = awshttp.SafeBodies(cfg.HTTPClient)
	}
	cfg.Retryer = func() aws.Retryer { return countingRetryer{retry.NewStandard()} }
	b := &bench{api: sqs.NewFromConfig(cfg), nodePID: nodePID, o: o}

	wait := o.wait
	phases := []phase{
		{"ceiling", fmt.Sprintf("ceiling: Receive(10)+DeleteBatch x%d", o.ceilingLoops),
			func(ctx context.Context, c *counting, url string, _ int) error {
				return drainBare(ctx, c, url, o.ceilingLoops, wait)
			}},
		{"worker", "worker.Run, WaitTime " + wait.String(),
			func(ctx context.Context, c *counting, url string, n int) error {
				return drainWithWorker(ctx, c, url, n, wait)
			}},
		{"naive", fmt.Sprintf("naive: Receive(1)+Delete x%d", o.naiveLoops),
			func(ctx context.Context, c *counting, url string, _ int) error {
				return drainNaively(ctx, c, url, o.naiveLoops, wait)
			}},
	}

	fmt.Printf("benchworker: %d messages of %d bytes per phase, %d rounds; fauxqs %s on node %s (pid %d); %s, GOMAXPROCS %d, %d CPUs\n",
		o.messages, o.size, o.rounds, fauxqsVersion(), nodeVersion(), nodePID, runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())
	if o.warmup > 0 {
		for _, p := range phases {
			if _, err := b.phase(ctx, p, o.warmup, "warm-up"); err != nil {
				return 0, fmt.Errorf("warm-up, %s: %w", p.label, err)
			}
		}
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		b.profile = f
	}
	var results []result
	for round := range o.rounds {
		for i := range phases {
			p := phases[(round+i)%len(phases)]
			r, err := b.phase(ctx, p, o.messages, fmt.Sprintf("round %d/%d", round+1, o.rounds))
			if err != nil {
				return 0, fmt.Errorf("%s: %w", p.label, err)
			}
			results = append(results, r)
		}
	}
	if !report(os.Stdout, o, results) && o.strict {
		return 3, nil
	}
	return 0, nil
}

func drainWithWorker(ctx context.Context, api *counting, queueURL string, n int, wait time.Duration) error {
	nothing := worker.HandlerFunc(func(context.Context, worker.Message) error { return nil })
	sum, err := worker.Run(ctx, api, queueURL, nothing, worker.Config{WaitTime: wait})
	if err != nil {
		return err
	}
	if sum.Processed != int64(n) || sum.Failed != 0 || sum.Released != 0 {
		return fmt.Errorf("worker summary: received %d, processed %d, failed %d, released %d; want %d processed, none failed or released",
			sum.Received, sum.Processed, sum.Failed, sum.Released, n)
	}
	return nil
}

type bench struct {
	api     *sqs.Client
	nodePID int
	o       options
	queues  int
	profile *os.File // profiled worker phases, when set
}

// phase fills a fresh queue with n messages, drains it with p, and checks
// that everything sent was received and deleted once and that the queue is
// empty.
func (b *bench) phase(ctx context.Context, p phase, n int, step string) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, phaseTimeout)
	defer cancel()
	b.queues++
	url, err := emulator.CreateQueue(ctx, b.api, fmt.Sprintf("bench-%02d-%s", b.queues, p.kind), nil)
	if err != nil {
		return result{}, err
	}
	defer func() {
		_, _ = b.api.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
	}()

	fmt.Fprintf(os.Stderr, "[%s] %-8s load %d: ", step, p.kind, n)
	loaded, err := load.Send(ctx, b.api, url, load.Options{Count: n, Size: b.o.size, Concurrency: b.o.loadConcurrency})
	if err != nil {
		return result{}, fmt.Errorf("loading: %w", err)
	}
	if c, err := sqsstats.CountsAt(ctx, b.api, url); err != nil {
		return result{}, fmt.Errorf("GetQueueAttributes: %w", err)
	} else if c != (sqsstats.Counts{Visible: int64(n)}) {
		return result{}, fmt.Errorf("after loading %d messages the queue holds %d visible, %d in flight, %d delayed", n, c.Visible, c.InFlight, c.Delayed)
	}
	fmt.Fprintf(os.Stderr, "%6.0f msg/s; drain: ", loaded.PerSecond())
	runtime.GC()
	time.Sleep(settleBeforeDrain) // let both processes go quiet

	api := &counting{Client: b.api}
	profiling := b.profile != nil && p.kind == "worker"
	if profiling {
		if err := pprof.StartCPUProfile(b.profile); err != nil {
			return result{}, err
		}
		// A file holds one profile: profile only the first worker phase.
		defer func() { b.profile = nil }()
	}
	node0, err := procCPU(b.nodePID)
	if err != nil {
		return result{}, err
	}
	retries0, machine0 := sdkRetries.Load(), machineCPU()
	cpu0, start := selfCPU(), time.Now()
	drainErr := p.drain(ctx, api, url, n)
	wall := time.Since(start)
	cpu1 := selfCPU()
	node1, err := procCPU(b.nodePID)
	if err != nil {
		return result{}, err
	}
	machine1 := machineCPU()
	if profiling {
		pprof.StopCPUProfile()
	}
	r := result{phase: p, n: n, wall: wall, goCPU: cpu1 - cpu0, nodeCPU: node1 - node0, sdkRetries: sdkRetries.Load() - retries0,
		otherCPU: max(0, (machine1-machine0)-(cpu1-cpu0)-(node1-node0)),
		calls:    api.calls(), emptyPolls: api.emptyReceives.Load(), loadRate: loaded.PerSecond(),
		receiveMs: ms(api.receiving.meanLatency()), delMs: ms(api.deleting.meanLatency()),
		peakRecv: api.receiving.peak.Load(), peakDel: api.deleting.peak.Load()}
	r.active = wall
	if last := api.lastDelete.Load(); last > 0 {
		r.active = time.Unix(0, last).Sub(start)
	}
	fmt.Fprintf(os.Stderr, "%5.2fs to the last delete (%6.0f msg/s), %5.2fs to return\n", r.active.Seconds(), r.rate(), wall.Seconds())

	// Every message received once and deleted once, and nothing left.
	var problems []string
	if drainErr != nil {
		problems = append(problems, "drain failed: "+drainErr.Error())
	}
	if got := api.deleted.Load(); got != int64(n) {
		problems = append(problems, fmt.Sprintf("deleted %d messages, sent %d", got, n))
	}
	if got := api.received.Load(); got != int64(n) {
		problems = append(problems, fmt.Sprintf("received %d messages, sent %d", got, n))
	}
	if got := api.deleteFailures.Load(); got > 0 {
		problems = append(problems, fmt.Sprintf("%d deletes failed", got))
	}
	if c, err := sqsstats.CountsAt(context.Background(), b.api, url); err != nil {
		problems = append(problems, "GetQueueAttributes: "+err.Error())
	} else if c != (sqsstats.Counts{}) {
		problems = append(problems, fmt.Sprintf("queue not empty afterwards: visible %d, in flight %d, delayed %d", c.Visible, c.InFlight, c.Delayed))
	}
	if len(problems) > 0 {
		if r.sdkRetries > 0 {
			problems = append(problems, fmt.Sprintf("the SDK retried %d calls during the drain", r.sdkRetries))
		}
		return r, errors.New(strings.Join(problems, "; "))
	}
	return r, nil
}

// sdkRetries counts the calls the SDK made again, in every phase.
var sdkRetries atomic.Int64

// countingRetryer is the SDK's standard retryer, counting its retries.
type countingRetryer struct{ aws.RetryerV2 }

func (c countingRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	sdkRetries.Add(1)
	return c.RetryerV2.RetryDelay(attempt, err)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// report prints every phase, the medians per consumer and the ratios, and
// says whether both targets are met.
func report(w io.Writer, o options, results []result) bool {
	fmt.Fprintln(w, "\nEvery phase:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tmsg/s\twall msg/s\tGo CPU s/1k\tfauxqs CPU s/1k\tCPU use\tother procs CPU\tcalls/1k msg\treceive ms\tdelete ms\tpeak recv/del in flight\tSDK retries\tload msg/s\t")
	for _, r := range results {
		// Both processes' CPU over the active drain (the final long poll is idle).
		use := (r.goCPU + r.nodeCPU).Seconds() / r.active.Seconds() / float64(runtime.NumCPU()) * 100
		other := r.otherCPU.Seconds() / r.wall.Seconds() / float64(runtime.NumCPU()) * 100
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.3f\t%.3f\t%.0f%%\t%.0f%%\t%.0f\t%.2f\t%.2f\t%d/%d\t%d\t%.0f\t\n", r.label, r.rate(), r.wallRate(),
			r.per1k(r.goCPU), r.per1k(r.nodeCPU), use, other, float64(r.calls)*1000/float64(r.n), r.receiveMs, r.delMs, r.peakRecv, r.peakDel, r.sdkRetries, r.loadRate)
	}
	tw.Flush()
	fmt.Fprintf(w, `  msg/s: messages / time from the start of the drain to its last delete; wall msg/s: to the consumer's return,
         which adds the final %s empty long poll every consumer needs to see the queue empty.
  Go CPU: this process (getrusage); fauxqs CPU: the emulator's node process (/proc/<pid>/stat), both per 1,000 messages.
  CPU use: Go + fauxqs CPU over the time to the last delete, as a share of the %d cores; other procs CPU: the rest
         of the machine during the drain (anything high there makes the phase unreliable).
  receive/delete ms: mean latency of receives that returned messages, and of deletes; peak: most calls in flight at once.
`, o.wait, runtime.NumCPU())

	type summary struct{ rate, wall, goCPU, nodeCPU float64 }
	// Medians of each consumer's rounds.
	med := map[string]summary{}
	var kinds []result
	for _, r := range results {
		if _, seen := med[r.kind]; seen {
			continue
		}
		var rate, wall, goCPU, nodeCPU []float64
		for _, s := range results {
			if s.kind == r.kind {
				rate, wall = append(rate, s.rate()), append(wall, s.wallRate())
				goCPU, nodeCPU = append(goCPU, s.per1k(s.goCPU)), append(nodeCPU, s.per1k(s.nodeCPU))
			}
		}
		med[r.kind] = summary{median(rate), median(wall), median(goCPU), median(nodeCPU)}
		kinds = append(kinds, r)
	}
	fmt.Fprintf(w, "\nMedians over %d rounds:\n", o.rounds)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "consumer\tmsg/s\twall msg/s\tGo CPU s/1k msg\tfauxqs CPU s/1k msg\t")
	for _, r := range kinds {
		m := med[r.kind]
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.3f\t%.3f\t\n", r.label, m.rate, m.wall, m.goCPU, m.nodeCPU)
	}
	tw.Flush()

	wk, nv, ce := med["worker"], med["naive"], med["ceiling"]
	overNaive, ofCeiling := wk.rate/nv.rate, wk.rate/ce.rate
	verdict := func(ok bool) string {
		if ok {
			return "MET"
		}
		return "NOT MET"
	}
	fmt.Fprintf(w, "\nworker/naive   = %5.2fx  (target >= %.0fx)   %-7s  [wall: %.2fx]\n", overNaive, targetOverNaive, verdict(overNaive >= targetOverNaive), wk.wall/nv.wall)
	fmt.Fprintf(w, "worker/ceiling = %5.0f%%   (target >= %.0f%%)  %-7s  [wall: %.0f%%]\n", ofCeiling*100, targetOfCeiling*100, verdict(ofCeiling >= targetOfCeiling), wk.wall/ce.wall*100)
	return overNaive >= targetOverNaive && ofCeiling >= targetOfCeiling
}

func median(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// fauxqsVersion is the installed fauxqs package's version, or "?".
func fauxqsVersion() string {
	var pkg struct{ Version string }
	raw, err := os.ReadFile(filepath.Join(emulator.Dir(), "node_modules", "fauxqs", "package.json"))
	if err != nil || json.Unmarshal(raw, &pkg) != nil || pkg.Version == "" {
		return "?"
	}
	return pkg.Version
}

func nodeVersion() string {
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}
