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
// one fauxqs SQS emulator, next to two references drained from the same
// emulator in the same run, at several latencies per call:
//
//   - worker: worker.Run with a no-op handler and the defaults
//     cmd/drain-worker's flags have (worker.Default*), but a 1 s long poll;
//   - naive: a consumer like the public write-up's (one message per
//     ReceiveMessage, DeleteMessage one by one, 10 loops, each stopping at
//     its first empty receive);
//   - ceiling: what the emulator serves, with ReceiveMessage(10) and
//     DeleteMessageBatch from many loops and no handling at all: the better
//     of two loop counts, N and 2N, each measured every round.
//
// Latency 0 is loopback, straight to the emulator (microseconds a call).
// Other latencies go through test/faultproxy, which holds every call for
// the latency plus or minus a jitter (--jitter), like the round trip to a
// regional SQS endpoint (milliseconds); there the ceiling is what the
// emulator serves through the same proxy, with N = 64 loops per 10 ms of
// latency: enough to be bound by the machine rather than by the loop count
// (the report says when it is not).
//
// Each phase fills a fresh queue (straight, not through the proxy), then
// drains it; only the drain is timed. Phases run in rounds, each round in a
// rotated order, after a warm-up of every consumer (node's JIT,
// connections). CPU is reported per 1,000 messages for this Go process
// (getrusage; the proxy runs in it) and for the emulator's node process
// (/proc/<pid>/stat), which share the machine's cores. Each phase checks
// that every message sent was received and deleted once and that the queue
// is empty afterwards; a failed check exits 1.
//
//	make bench-worker               # or: cd test && go run ./cmd/benchworker --help
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
	"github.com/queuedrainer/queue-drainer/test/faultproxy"
	"github.com/queuedrainer/queue-drainer/test/load"
)

// Targets the drain engine is held to, at targetLatency per call.
const (
	targetLatency   = 10 * time.Millisecond
	targetOverNaive = 10.0 // times the naive consumer's rate
	targetOfCeiling = 0.85 // of the ceiling
)

// The earlier targets on loopback, reported for information: there the
// naive consumer is bound by CPU per call, not by round trips.
const (
	loopbackOverNaive = 5.0
	loopbackOfCeiling = 0.8
)

const (
	phaseTimeout      = 90 * time.Second
	settleBeforeDrain = 300 * time.Millisecond
)

type options struct {
	messages, size, loadConcurrency int
	wait                            time.Duration
	latencies                       []time.Duration
	jitter                          float64
	naiveTime                       time.Duration
	naiveLoops, ceilingLoops        int
	latencyCeilingLoops             int
	worker                          worker.Config // as cmd/drain-worker's flags set it
	warmup, rounds                  int
	strict, safeBodies              bool
	cpuProfile                      string
}

func main() {
	var o options
	latencies := "0,10ms,50ms"
	flag.IntVar(&o.messages, "messages", 20000, "messages per phase (the naive consumer's above latency 0: see --naive-time)")
	flag.IntVar(&o.size, "size", 256, "bytes per message body")
	flag.IntVar(&o.loadConcurrency, "load-concurrency", 8, "SendMessageBatch calls in flight while filling a queue")
	flag.DurationVar(&o.wait, "wait", time.Second, "long-poll wait of every consumer (whole seconds)")
	flag.StringVar(&latencies, "latencies", latencies, "comma-separated latencies per call to measure at; 0 is loopback, straight to the emulator")
	flag.Float64Var(&o.jitter, "jitter", 0.2, "each call's latency is uniform within latency x (1 ± jitter), 0 to 1")
	flag.DurationVar(&o.naiveTime, "naive-time", 4*time.Second,
		"above latency 0, the naive consumer drains about this long's worth of messages at its round-trip bound, loops / (2 x latency) msg/s")
	flag.IntVar(&o.naiveLoops, "naive-loops", 10, "loops of the naive consumer")
	flag.IntVar(&o.ceilingLoops, "ceiling-loops", 16, "N on loopback: the ceiling is the better of N and 2N loops")
	flag.IntVar(&o.latencyCeilingLoops, "latency-ceiling-loops", 0,
		"N above latency 0: the ceiling is the better of N and 2N loops; 0 for 64 per 10 ms of latency")
	flag.IntVar(&o.worker.Receivers, "receivers", worker.DefaultReceivers, "the worker's receivers (drain-worker --receivers)")
	flag.IntVar(&o.worker.Handlers, "concurrency", worker.DefaultHandlers, "the worker's handlers (drain-worker --concurrency)")
	flag.IntVar(&o.worker.Deleters, "deletes-in-flight", worker.DefaultDeleters,
		"the worker's DeleteMessageBatch calls in flight (drain-worker --deletes-in-flight)")
	flag.IntVar(&o.warmup, "warmup", 10000, "messages drained by each consumer before measuring at each latency (at most half a phase's), 0 for none")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of the ceilings, worker and naive phases at each latency (order rotated each round)")
	flag.BoolVar(&o.strict, "strict", false, "exit 3 when a target is not met")
	flag.BoolVar(&o.safeBodies, "safe-bodies", true,
		"send requests through awshttp.SafeBodies; false shows the SDK retrying calls whose connection it closed itself (aws-sdk-go-v2#2737)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process during the first worker phase to this file")
	flag.Parse()
	var err error
	if o.latencies, err = parseLatencies(latencies); err != nil {
		fmt.Fprintln(os.Stderr, "benchworker: --latencies:", err)
		os.Exit(2)
	}
	if o.wait < time.Second || o.wait%time.Second != 0 || o.messages < 1 || o.rounds < 1 || o.jitter < 0 || o.jitter > 1 ||
		o.naiveLoops < 1 || o.ceilingLoops < 1 || o.latencyCeilingLoops < 0 {
		fmt.Fprintln(os.Stderr, "benchworker: --wait must be whole seconds (at least 1s), --messages, --rounds and the loops at least 1, --jitter within 0 and 1")
		os.Exit(2)
	}
	code, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchworker: ERROR:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// parseLatencies reads "0,10ms,50ms".
func parseLatencies(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "0" {
			out = append(out, 0)
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%q is not a latency", f)
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("none given")
	}
	return out, nil
}

// drainer empties a queue of n messages through api.
type drainer func(ctx context.Context, api *counting, queueURL string, n int) error

// The kinds of phase: the reference ceiling, the worker, the naive consumer.
const (
	kindCeiling = "ceiling"
	kindWorker  = "worker"
	kindNaive   = "naive"
)

type phase struct {
	kind, label string // kind groups the rounds: kindCeiling, kindWorker, kindNaive
	n           int    // messages
	loops       int    // the loops of a reference consumer; 0 for the worker
	drain       drainer
}

// result is one measured drain.
type result struct {
	phase
	latency           time.Duration // per call; 0 is loopback
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
	proxy, err := faultproxy.Start(fq.Endpoint)
	if err != nil {
		return 0, err
	}
	defer proxy.Close()
	proxy.SetLogging(false) // it only holds calls here
	os.Setenv("AWS_ENDPOINT_URL_SQS", fq.Endpoint)
	cfg, err := emulator.AWSConfig(ctx)
	if err != nil {
		return 0, err
	}
	// Enough idle connections for the widest phase, so that no phase pays
	// for new connections (the SDK keeps 10 per host by default;
	// cmd/drain-worker keeps enough for its calls in flight).
	cfg.HTTPClient = awstransport.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns, t.MaxIdleConnsPerHost = 1024, 1024
	})
	if o.safeBodies {
		cfg.HTTPClient = awshttp.SafeBodies(cfg.HTTPClient)
	}
	cfg.Retryer = func() aws.Retryer { return countingRetryer{retry.NewStandard()} }
	b := &bench{api: sqs.NewFromConfig(cfg), nodePID: nodePID, o: o,
		proxied: sqs.NewFromConfig(cfg, func(so *sqs.Options) { so.BaseEndpoint = aws.String(proxy.URL()) })}
	wcfg := o.worker.WithDefaults()
	wcfg.WaitTime = o.wait

	fmt.Printf("benchworker: %d messages of %d bytes per phase, %d rounds at each latency per call (%s); "+
		"fauxqs %s on node %s (pid %d); %s, GOMAXPROCS %d, %d CPUs\n",
		o.messages, o.size, o.rounds, latencyList(o), fauxqsVersion(), nodeVersion(), nodePID, runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Printf("worker: --receivers %d --concurrency %d --deletes-in-flight %d (cmd/drain-worker's defaults: %d, %d, %d), WaitTime %s\n",
		wcfg.Receivers, wcfg.Handlers, wcfg.Deleters, worker.DefaultReceivers, worker.DefaultHandlers, worker.DefaultDeleters, wcfg.WaitTime)
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		b.profile = f
	}
	start := time.Now()
	var results []result
	for _, lat := range o.latencies {
		b.latency = lat
		if err := proxy.SetLatency(faultproxy.Latency{Mean: lat, Jitter: time.Duration(o.jitter * float64(lat))}); err != nil {
			return 0, err
		}
		phases := b.phases(wcfg)
		for _, p := range phases {
			if n := min(o.warmup, p.n/2); n > 0 {
				if _, err := b.phase(ctx, p, n, fmt.Sprintf("%s warm-up", latencyName(lat, o.jitter)), false); err != nil {
					return 0, fmt.Errorf("warm-up at %s, %s: %w", latencyName(lat, o.jitter), p.label, err)
				}
			}
		}
		for round := range o.rounds {
			for i := range phases {
				p := phases[(round+i)%len(phases)]
				r, err := b.phase(ctx, p, p.n, fmt.Sprintf("%s round %d/%d", latencyName(lat, o.jitter), round+1, o.rounds), true)
				if err != nil {
					return 0, fmt.Errorf("at %s, %s: %w", latencyName(lat, o.jitter), p.label, err)
				}
				results = append(results, r)
			}
		}
	}
	fmt.Fprintf(os.Stderr, "measured in %s\n", time.Since(start).Round(time.Second))
	if !report(os.Stdout, o, wcfg, results) && o.strict {
		return 3, nil
	}
	return 0, nil
}

// phases are the consumers measured at b.latency.
func (b *bench) phases(wcfg worker.Config) []phase {
	o, wait := b.o, b.o.wait
	ceilingLoops, naiveN := o.ceilingLoops, o.messages
	if b.latency > 0 {
		ceilingLoops = o.latencyCeilingLoops
		if ceilingLoops == 0 {
			ceilingLoops = 64 * int(max(1, (b.latency+10*time.Millisecond-1)/(10*time.Millisecond)))
		}
		// The naive consumer is bound by its round trips; a phase of it at
		// the full count would take minutes.
		bound := float64(o.naiveLoops) / (2 * b.latency.Seconds())
		naiveN = min(o.messages, max(100, int(bound*o.naiveTime.Seconds()+99)/100*100))
	}
	ceiling := func(loops int) phase {
		return phase{kindCeiling, fmt.Sprintf("ceiling: Receive(10)+DeleteBatch x%d", loops), o.messages, loops,
			func(ctx context.Context, c *counting, url string, _ int) error {
				return drainBare(ctx, c, url, loops, wait)
			}}
	}
	return []phase{
		ceiling(ceilingLoops),
		{kindWorker, fmt.Sprintf("worker.Run: %d receivers, %d deletes in flight", wcfg.Receivers, wcfg.Deleters), o.messages, 0,
			func(ctx context.Context, c *counting, url string, n int) error {
				return drainWithWorker(ctx, c, url, n, wcfg)
			}},
		ceiling(2 * ceilingLoops),
		{kindNaive, fmt.Sprintf("naive: Receive(1)+Delete x%d", o.naiveLoops), naiveN, o.naiveLoops,
			func(ctx context.Context, c *counting, url string, _ int) error {
				return drainNaively(ctx, c, url, o.naiveLoops, wait)
			}},
	}
}

func drainWithWorker(ctx context.Context, api *counting, queueURL string, n int, cfg worker.Config) error {
	nothing := worker.HandlerFunc(func(context.Context, worker.Message) error { return nil })
	sum, err := worker.Run(ctx, api, queueURL, nothing, cfg)
	if err != nil {
		return err
	}
	if sum.Processed != int64(n) || sum.Failed != 0 || sum.Released != 0 {
		return fmt.Errorf("worker summary: received %d, processed %d, failed %d, released %d; want %d processed, none failed or released",
			sum.Received, sum.Processed, sum.Failed, sum.Released, n)
	}
	return nil
}

// latencyName is how the report names a latency per call.
func latencyName(lat time.Duration, jitter float64) string {
	if lat == 0 {
		return "loopback"
	}
	return faultproxy.Latency{Mean: lat, Jitter: time.Duration(jitter * float64(lat))}.String()
}

func latencyList(o options) string {
	names := make([]string, len(o.latencies))
	for i, l := range o.latencies {
		names[i] = latencyName(l, o.jitter)
	}
	return strings.Join(names, ", ")
}

type bench struct {
	api     *sqs.Client // straight to the emulator: queues, loading, checks, and drains at latency 0
	proxied *sqs.Client // through the proxy, for drains above latency 0
	latency time.Duration
	nodePID int
	o       options
	queues  int
	profile *os.File // profiled worker phases, when set
}

// phase fills a fresh queue with n messages, drains it with p, and checks
// that everything sent was received and deleted once and that the queue is
// empty.
func (b *bench) phase(ctx context.Context, p phase, n int, step string, measured bool) (result, error) {
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

	name := p.kind
	if p.kind == kindCeiling {
		name = fmt.Sprintf("ceiling x%d", p.loops)
	}
	fmt.Fprintf(os.Stderr, "[%s] %-12s load %5d: ", step, name, n)
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
	if b.latency > 0 {
		api.Client = b.proxied
	}
	profiling := b.profile != nil && p.kind == kindWorker && measured
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
	p.n = n
	r := result{phase: p, latency: b.latency, wall: wall, goCPU: cpu1 - cpu0, nodeCPU: node1 - node0, sdkRetries: sdkRetries.Load() - retries0,
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

// report prints every phase, the medians per consumer and latency side by
// side, and says whether the targets are met.
func report(w io.Writer, o options, wcfg worker.Config, results []result) bool {
	fmt.Fprintln(w, "\nEvery phase:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "latency\tphase\tmessages\tmsg/s\twall msg/s\tGo CPU s/1k\tfauxqs CPU s/1k\tCPU use\tother procs CPU\t"+
		"calls/1k msg\treceive ms\tdelete ms\tpeak recv/del in flight\tSDK retries\tload msg/s\t")
	for _, r := range results {
		// Both processes' CPU over the active drain (the final long poll is idle).
		use := (r.goCPU + r.nodeCPU).Seconds() / r.active.Seconds() / float64(runtime.NumCPU()) * 100
		other := r.otherCPU.Seconds() / r.wall.Seconds() / float64(runtime.NumCPU()) * 100
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%.0f\t%.3f\t%.3f\t%.0f%%\t%.0f%%\t%.0f\t%.2f\t%.2f\t%d/%d\t%d\t%.0f\t\n",
			latencyName(r.latency, o.jitter), r.label, r.n, r.rate(), r.wallRate(),
			r.per1k(r.goCPU), r.per1k(r.nodeCPU), use, other, float64(r.calls)*1000/float64(r.n), r.receiveMs, r.delMs, r.peakRecv, r.peakDel, r.sdkRetries, r.loadRate)
	}
	tw.Flush()
	fmt.Fprintf(w, `  latency: per call, held by test/faultproxy (uniform within ±%.0f%%); loopback: straight to the emulator.
  msg/s: messages / time from the start of the drain to its last delete; wall msg/s: to the consumer's return,
         which adds the final %s empty long poll every consumer needs to see the queue empty.
  Go CPU: this process (getrusage), the proxy included; fauxqs CPU: the emulator's node process (/proc/<pid>/stat),
         both per 1,000 messages.
  CPU use: Go + fauxqs CPU over the time to the last delete, as a share of the %d cores; other procs CPU: the rest
         of the machine during the drain (anything high there makes the phase unreliable).
  receive/delete ms: mean latency of receives that returned messages, and of deletes; peak: most calls in flight at once.
`, o.jitter*100, o.wait, runtime.NumCPU())

	// Medians of each consumer's rounds at each latency.
	type key struct {
		latency time.Duration
		kind    string
		loops   int
	}
	type summary struct {
		result
		rate, wall, goCPU, nodeCPU float64
	}
	med := map[key]summary{}
	var keys []key
	for _, r := range results {
		k := key{r.latency, r.kind, r.loops}
		if _, seen := med[k]; seen {
			continue
		}
		var rate, wall, goCPU, nodeCPU []float64
		for _, s := range results {
			if (key{s.latency, s.kind, s.loops}) == k {
				rate, wall = append(rate, s.rate()), append(wall, s.wallRate())
				goCPU, nodeCPU = append(goCPU, s.per1k(s.goCPU)), append(nodeCPU, s.per1k(s.nodeCPU))
			}
		}
		med[k] = summary{r, median(rate), median(wall), median(goCPU), median(nodeCPU)}
		keys = append(keys, k)
	}
	order := map[string]int{kindCeiling: 0, kindWorker: 1, kindNaive: 2}
	slices.SortStableFunc(keys, func(a, b key) int {
		if a.latency != b.latency {
			return slices.Index(o.latencies, a.latency) - slices.Index(o.latencies, b.latency)
		}
		if a.kind != b.kind {
			return order[a.kind] - order[b.kind]
		}
		return a.loops - b.loops
	})
	fmt.Fprintf(w, "\nMedians over %d rounds:\n", o.rounds)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "latency\tconsumer\tmsg/s\twall msg/s\tGo CPU s/1k msg\tfauxqs CPU s/1k msg\t")
	for _, k := range keys {
		m := med[k]
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\t%.3f\t%.3f\t\n", latencyName(k.latency, o.jitter), m.label, m.rate, m.wall, m.goCPU, m.nodeCPU)
	}
	tw.Flush()

	// at is the worker, the naive consumer and the better ceiling at a latency.
	at := func(lat time.Duration) (wk, nv, ce summary, found bool) {
		for _, k := range keys {
			if k.latency != lat {
				continue
			}
			switch m := med[k]; k.kind {
			case kindWorker:
				wk, found = m, true
			case kindNaive:
				nv = m
			case kindCeiling:
				if m.rate > ce.rate {
					ce = m
				}
			}
		}
		return wk, nv, ce, found
	}
	flags := "cmd/drain-worker's defaults"
	if wcfg.Receivers != worker.DefaultReceivers || wcfg.Handlers != worker.DefaultHandlers || wcfg.Deleters != worker.DefaultDeleters {
		flags = "flags other than cmd/drain-worker's defaults"
	}
	fmt.Fprintf(w, "\nPer pod (one worker process), msg/s to the last delete, medians of %d rounds; worker with %s\n", o.rounds, flags)
	fmt.Fprintf(w, "(--receivers %d --concurrency %d --deletes-in-flight %d), a no-op handler and a %s long poll:\n",
		wcfg.Receivers, wcfg.Handlers, wcfg.Deleters, o.wait)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "latency per call\tworker\tnaive\tceiling\tworker/naive\tworker/ceiling\tceiling loops\tceiling loops' bound\t")
	var loopBound []string
	for _, lat := range o.latencies {
		wk, nv, ce, _ := at(lat)
		bound := "-"
		if lat > 0 {
			// What the loops alone allow at the latency set: 10 messages per
			// receive and delete round trip.
			b := float64(ce.loops) * 10 / (2 * lat.Seconds())
			bound = fmt.Sprintf("%.0f", b)
			if ce.rate > 0.8*b {
				loopBound = append(loopBound, latencyName(lat, o.jitter))
			}
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.0f\t%.2fx\t%.0f%%\t%d\t%s\t\n",
			latencyName(lat, o.jitter), wk.rate, nv.rate, ce.rate, wk.rate/nv.rate, wk.rate/ce.rate*100, ce.loops, bound)
	}
	tw.Flush()
	fmt.Fprintf(w, `  ceiling: ReceiveMessage(10) + DeleteMessageBatch from N or 2N loops, whichever served more, no handler, through
         the same proxy at the same latency: what the emulator, the proxy and this machine can serve at that latency.
         Its loops' bound, loops x 10 messages / (2 x latency), is what its loops alone would allow; well above the
         ceiling, the ceiling is bound by the machine, not by its loop count.
`)
	if len(loopBound) > 0 {
		fmt.Fprintf(w, "  WARNING: at %s the ceiling is above 80%% of its loops' bound: raise --latency-ceiling-loops.\n", strings.Join(loopBound, ", "))
	}

	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	var ok bool
	fmt.Fprintf(w, "\nTargets at %s per call:\n", latencyName(targetLatency, o.jitter))
	if wk, nv, ce, found := at(targetLatency); !found {
		fmt.Fprintf(w, "  not measured: --latencies has no %s\n", targetLatency)
		ok = false
	} else {
		overNaive, ofCeiling := wk.rate/nv.rate, wk.rate/ce.rate
		fmt.Fprintf(w, "  worker >= %.0fx naive:         %6.2fx  %s\n", targetOverNaive, overNaive, verdict(overNaive >= targetOverNaive))
		fmt.Fprintf(w, "  worker >= %.0f%% of ceiling:    %6.0f%%   %s\n", targetOfCeiling*100, ofCeiling*100, verdict(ofCeiling >= targetOfCeiling))
		ok = overNaive >= targetOverNaive && ofCeiling >= targetOfCeiling
	}
	if wk, nv, ce, found := at(0); found {
		overNaive, ofCeiling := wk.rate/nv.rate, wk.rate/ce.rate
		fmt.Fprintf(w, "On loopback (the earlier targets, for information; --strict ignores them):\n")
		fmt.Fprintf(w, "  worker >= %.0fx naive:          %6.2fx  %s\n", loopbackOverNaive, overNaive, verdict(overNaive >= loopbackOverNaive))
		fmt.Fprintf(w, "  worker >= %.0f%% of ceiling:    %6.0f%%   %s\n", loopbackOfCeiling*100, ofCeiling*100, verdict(ofCeiling >= loopbackOfCeiling))
	}
	return ok
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
