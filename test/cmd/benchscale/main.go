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

// Command benchscale measures one operator for a fleet of queues: the real
// manager binary, as its own process, against a real kube-apiserver and
// etcd (envtest), fauxqs behind the fault proxy for SQS, and the CloudWatch
// simulator. For each fleet size N it creates N queues and N drainers
// (pollInterval 10s, a depth trigger, default manager flags), starts the
// manager and measures, phase by phase:
//
//   - start: the time until every drainer is observed and Ready;
//   - steady state: status writes per second (the API server's own
//     apiserver_request_total), SQS calls per second against
//     N/pollInterval, each queue's poll gap (p50, p99, max) as the proxy saw
//     the calls, CloudWatch calls per period, manager CPU and RSS, and the
//     API server's CPU;
//   - manual request -> Job and depth crossed -> Job latencies;
//   - 5% of the queues answering 503: the healthy queues' poll gaps;
//   - a full outage (the SQS endpoint refuses connections): the time until
//     every drainer says so, and until every one says SQS answers again;
//   - the API server's own floor for that: with the manager stopped, the
//     time this process takes to give every drainer one status write and
//     one Event, as many at once as the manager's reconcile workers.
//
// Then it prints the sizes side by side and whether each target is met.
//
//	make bench-scale            # N = 1,000 and 5,000
//	make bench-scale N=2000     # or: cd test && go run ./cmd/benchscale --help
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/go-logr/logr"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/test/emulator"
	"github.com/queuedrainer/queue-drainer/test/emulator/cwsim"
	"github.com/queuedrainer/queue-drainer/test/faultproxy"
	"github.com/queuedrainer/queue-drainer/test/localcluster"
	"github.com/queuedrainer/queue-drainer/testutil/fixture"
)

const getAttrs = "GetQueueAttributes"

type options struct {
	sizes        []int
	poll         time.Duration
	steady       time.Duration
	faultyWindow time.Duration
	samples      int
	managerBin   string
	managerFlags []string
	assets       string
	keep         bool
}

func main() {
	var o options
	var sizes string
	flag.StringVar(&sizes, "n", "1000,5000", "Fleet sizes to measure, comma-separated (make bench-scale N=...).")
	flag.DurationVar(&o.poll, "poll-interval", 10*time.Second, "Every drainer's spec.pollInterval.")
	flag.DurationVar(&o.steady, "steady", 4*time.Minute, "How long the steady state is measured (at least the 1m status refresh, twice).")
	flag.DurationVar(&o.faultyWindow, "faulty-window", 60*time.Second, "How long the poll gaps are measured with 5% of the queues failing.")
	flag.IntVar(&o.samples, "samples", 20, "Manual requests and depth crossings timed at each size.")
	flag.StringVar(&o.managerBin, "manager", "", "The manager binary (default: built from ./cmd/manager).")
	flag.StringVar(&o.assets, "kube-assets", os.Getenv("KUBEBUILDER_ASSETS"), "Directory with kube-apiserver and etcd (make bench-scale sets it).")
	flag.BoolVar(&o.keep, "keep", false, "Keep the work directory (manager and emulator logs).")
	var managerFlags string
	flag.StringVar(&managerFlags, "manager-flags", "", "Extra manager flags, space-separated (default: none, as shipped).")
	flag.Parse()
	o.managerFlags = strings.Fields(managerFlags)
	log.SetLogger(logr.Discard()) // the bench's own cache; the manager logs to its file
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 50 {
			fail(fmt.Errorf("--n: %q is not a fleet size of at least 50", s))
		}
		o.sizes = append(o.sizes, n)
	}
	if o.assets == "" {
		fail(errors.New("no kube-apiserver and etcd: set KUBEBUILDER_ASSETS or --kube-assets (make bench-scale does)"))
	}
	work, err := os.MkdirTemp("", "benchscale-")
	fail(err)
	if !o.keep {
		defer os.RemoveAll(work)
	}
	if o.managerBin == "" {
		o.managerBin = filepath.Join(work, "manager")
		fmt.Println("building ./cmd/manager")
		cmd := exec.Command("go", "build", "-o", o.managerBin, "./cmd/manager")
		cmd.Dir = localcluster.RepoRoot()
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		fail(cmd.Run())
	}
	results := make([]*result, 0, len(o.sizes))
	for _, n := range o.sizes {
		fmt.Printf("\n=== N = %d drainers, pollInterval %s\n", n, o.poll)
		r, err := measure(context.Background(), o, n, filepath.Join(work, fmt.Sprintf("n%d", n)))
		if err != nil {
			fmt.Fprintf(os.Stderr, "N=%d: %v (logs in %s)\n", n, err, work)
			o.keep = true
			os.Exit(1)
		}
		results = append(results, r)
	}
	report(o, results)
}

// result is what one fleet size measured.
type result struct {
	n                     int
	ready                 time.Duration
	rssPeakMiB, rssEndMiB float64
	cpuPerMin, apiCPUMin  float64 // CPU-seconds per minute, manager and kube-apiserver
	statusWrites          float64 // per second, steady state
	reconciles            float64 // per second, steady state
	sqsCalls              float64 // GetQueueAttributes per second, steady state
	gaps                  stats
	cwPerPeriod           float64
	manual, depth         stats
	faultyGaps            stats
	faultyReported        int
	outage, back          time.Duration
	floor                 time.Duration // the API server alone: a status write and an Event per drainer
	outageWrites          float64       // status writes per second while the outage was being told
	outageAPICPU          float64       // kube-apiserver cores meanwhile
}

type stats struct {
	n             int
	p50, p99, max time.Duration
}

func statsOf(ds []time.Duration) stats {
	if len(ds) == 0 {
		return stats{}
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(math.Ceil(q*float64(len(ds))))-1)] }
	return stats{n: len(ds), p50: at(0.50), p99: at(0.99), max: ds[len(ds)-1]}
}

func (s stats) String() string {
	if s.n == 0 {
		return "-"
	}
	return fmt.Sprintf("p50 %s  p99 %s  max %s  (%d)", round(s.p50), round(s.p99), round(s.max), s.n)
}

func round(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	default:
		return d.Round(time.Millisecond).String()
	}
}

// fleet is one size's running parts.
type fleet struct {
	o        options
	n        int
	k8s      client.Client
	kube     *kubernetes.Clientset
	sqs      *sqs.Client
	proxy    *faultproxy.Proxy
	cw       *cwsim.Server
	drainers []types.NamespacedName
	queues   []string // queues[i] is drainers[i]'s
	cache    cache.Cache
	jobSeen  sync.Map // drainer key -> time its first Job was seen
	manager  *exec.Cmd
	metrics  string       // the manager's metrics endpoint
	rssPeak  atomic.Int64 // KiB, since start
	phasePk  atomic.Int64 // KiB, since the last phase() call
}

// phase returns the manager's peak RSS since the previous phase, in MiB.
func (f *fleet) phase() float64 { return float64(f.phasePk.Swap(0)) / 1024 }

func measure(ctx context.Context, o options, n int, dir string) (*result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f := &fleet{o: o, n: n}
	scheme := k8sruntime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)

	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(localcluster.RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: o.assets,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest: %w", err)
	}
	defer func() { _ = env.Stop() }()
	cfg.QPS, cfg.Burst = -1, 0 // the bench's own client is not what is measured
	if f.k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return nil, err
	}
	if f.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}

	logf, err := os.Create(filepath.Join(dir, "fauxqs.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	fq, err := emulator.StartFauxqs(ctx, logf)
	if err != nil {
		return nil, err
	}
	defer fq.Stop()
	if f.proxy, err = faultproxy.Start(fq.Endpoint); err != nil {
		return nil, err
	}
	defer f.proxy.Close()
	f.cw = cwsim.New(cwsim.Options{})
	cwURL, stopCW, err := f.cw.Start("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer func() { _ = stopCW() }()
	awsCfg, err := emulator.AWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	f.sqs = sqs.NewFromConfig(awsCfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(fq.Endpoint) })

	fmt.Printf("creating %d queues and %d drainers\n", n, n)
	start := time.Now()
	if err := f.create(ctx); err != nil {
		return nil, err
	}
	fmt.Printf("  created in %s\n", round(time.Since(start)))
	if err := f.watch(ctx, cfg, scheme); err != nil {
		return nil, err
	}

	// The manager, as a cluster runs it: its own process, default flags.
	kubeconfig, err := writeKubeconfig(env, dir)
	if err != nil {
		return nil, err
	}
	mlog, err := os.Create(filepath.Join(dir, "manager.log"))
	if err != nil {
		return nil, err
	}
	defer mlog.Close()
	metricsPort, _ := emulator.FreePort()
	f.metrics = fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	probePort, _ := emulator.FreePort()
	f.manager = exec.Command(o.managerBin, append([]string{fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort)}, o.managerFlags...)...)
	f.manager.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig,
		"AWS_ENDPOINT_URL_SQS="+f.proxy.URL(), "AWS_ENDPOINT_URL_CLOUDWATCH="+cwURL,
		"AWS_REGION="+emulator.Region, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test")
	f.manager.Stdout, f.manager.Stderr = mlog, mlog
	f.manager.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	r := &result{n: n}
	started := time.Now()
	if err := f.manager.Start(); err != nil {
		return nil, err
	}
	defer func() {
		if f.manager.ProcessState == nil {
			_ = f.manager.Process.Signal(syscall.SIGTERM)
			_, _ = f.manager.Process.Wait()
		}
	}()
	stopSampling := f.sampleRSS()
	defer stopSampling()

	// Start: every drainer observed and Ready.
	if err := f.waitAll(10*time.Minute, "observed and Ready", func(qd *v1alpha1.QueueDrainer) bool {
		c := meta.FindStatusCondition(qd.Status.Conditions, v1alpha1.ConditionReady)
		return qd.Status.Queue != nil && c != nil && c.Status == metav1.ConditionTrue
	}); err != nil {
		return nil, err
	}
	r.ready = time.Since(started)
	fmt.Printf("  all observed and Ready %s after the manager started (RSS peak %.0f MiB)\n", round(r.ready), f.phase())

	// Steady state, after the first writes have settled.
	time.Sleep(15 * time.Second)
	fmt.Printf("steady state for %s\n", o.steady)
	apiPID := apiServerPID(cfg.Host)
	if err := f.measureSteady(ctx, r, apiPID); err != nil {
		return nil, err
	}
	if err := f.measureRequests(ctx, r); err != nil {
		return nil, err
	}
	f.measureFaultyQueues(r)
	if err := f.measureOutage(ctx, r, apiPID); err != nil {
		return nil, err
	}
	r.rssPeakMiB = float64(f.rssPeak.Load()) / 1024
	stopSampling()
	_ = f.manager.Process.Signal(syscall.SIGTERM)
	_, _ = f.manager.Process.Wait()
	if err := f.measureWriteFloor(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// measureSteady measures the steady state for --steady: reconciles,
// status writes, CPU, GetMetricData calls and SQS polls.
func (f *fleet) measureSteady(ctx context.Context, r *result, apiPID int) error {
	writes0, err := f.statusWrites(ctx)
	if err != nil {
		return err
	}
	cpu0, api0, cw0 := cpuSeconds(f.manager.Process.Pid), cpuSeconds(apiPID), f.cw.Calls("GetMetricData")
	rec0 := f.reconcileCount()
	from := time.Now()
	time.Sleep(f.o.steady)
	to := time.Now()
	writes1, err := f.statusWrites(ctx)
	if err != nil {
		return err
	}
	secs := to.Sub(from).Seconds()
	r.statusWrites = (writes1 - writes0) / secs
	r.reconciles = (f.reconcileCount() - rec0) / secs
	r.cpuPerMin = (cpuSeconds(f.manager.Process.Pid) - cpu0) / secs * 60
	r.apiCPUMin = (cpuSeconds(apiPID) - api0) / secs * 60
	r.cwPerPeriod = float64(f.cw.Calls("GetMetricData")-cw0) / (secs / 60)
	calls, gaps := f.polls(from, to, nil)
	r.sqsCalls = float64(calls) / secs
	r.gaps = statsOf(gaps)
	r.rssEndMiB = rssKiB(f.manager.Process.Pid) / 1024
	fmt.Printf("  reconciles %.1f/s, status writes %.1f/s, SQS %.0f calls/s, poll gaps %s (RSS peak %.0f MiB)\n",
		r.reconciles, r.statusWrites, r.sqsCalls, r.gaps, f.phase())
	return nil
}

// measureRequests times manual requests and depth crossings, on drainers
// of their own.
func (f *fleet) measureRequests(ctx context.Context, r *result) error {
	manual, depth := f.drainers[:f.o.samples], f.drainers[f.o.samples:2*f.o.samples]
	var err error
	if r.manual, err = f.timeManual(ctx, manual); err != nil {
		return err
	}
	fmt.Printf("  manual request -> Job: %s\n", r.manual)
	if r.depth, err = f.timeDepth(ctx, depth); err != nil {
		return err
	}
	fmt.Printf("  depth crossed -> Job: %s\n", r.depth)
	return nil
}

// measureFaultyQueues makes 5% of the queues answer 503 to every call for
// --faulty-window, and measures the healthy drainers' polls meanwhile.
func (f *fleet) measureFaultyQueues(r *result) {
	faulty := map[string]bool{}
	for i := 2 * f.o.samples; len(faulty) < f.n/20; i += 20 {
		faulty[f.queues[i%f.n]] = true
	}
	for q := range faulty {
		f.proxy.Inject(getAttrs, q, faultproxy.Always, faultproxy.ServiceUnavailable)
	}
	fmt.Printf("%d queues answering 503 for %s\n", len(faulty), f.o.faultyWindow)
	from := time.Now()
	time.Sleep(f.o.faultyWindow)
	_, faultyGaps := f.polls(from, time.Now(), faulty)
	r.faultyGaps = statsOf(faultyGaps)
	for i, d := range f.drainers {
		if faulty[f.queues[i]] && f.reachable(d) == metav1.ConditionFalse {
			r.faultyReported++
		}
	}
	fmt.Printf("  healthy poll gaps %s; %d of %d faulty drainers say QueueReachable=False (RSS peak %.0f MiB)\n",
		r.faultyGaps, r.faultyReported, len(faulty), f.phase())
	f.proxy.Clear()
}

// measureOutage makes the whole endpoint refuse connections, then come
// back, and times how long the drainers take to say so.
func (f *fleet) measureOutage(ctx context.Context, r *result, apiPID int) error {
	if err := f.proxy.SetDown(true); err != nil {
		return err
	}
	down := time.Now()
	writesDown, err := f.statusWrites(ctx)
	if err != nil {
		return err
	}
	apiDown := cpuSeconds(apiPID)
	if err := f.waitAll(5*time.Minute, "QueueReachable=False in the outage", func(qd *v1alpha1.QueueDrainer) bool {
		return conditionIs(qd, v1alpha1.ConditionQueueReachable, metav1.ConditionFalse)
	}); err != nil {
		return err
	}
	r.outage = time.Since(down)
	writesTold, err := f.statusWrites(ctx)
	if err != nil {
		return err
	}
	r.outageWrites = (writesTold - writesDown) / r.outage.Seconds()
	r.outageAPICPU = (cpuSeconds(apiPID) - apiDown) / r.outage.Seconds()
	fmt.Printf("  outage: every drainer says QueueReachable=False %s after SQS went down (%.0f status writes/s, kube-apiserver %.2f cores)\n",
		round(r.outage), r.outageWrites, r.outageAPICPU)
	if err := f.proxy.SetDown(false); err != nil {
		return err
	}
	up := time.Now()
	if err := f.waitAll(5*time.Minute, "QueueReachable=True after the outage", func(qd *v1alpha1.QueueDrainer) bool {
		return conditionIs(qd, v1alpha1.ConditionQueueReachable, metav1.ConditionTrue)
	}); err != nil {
		return err
	}
	r.back = time.Since(up)
	fmt.Printf("  and QueueReachable=True %s after it came back (RSS peak %.0f MiB)\n", round(r.back), f.phase())
	return nil
}

// floorReason marks the floor's condition and Events.
const floorReason = "Floor"

// floorWorkers is how many drainers the floor measurement writes at once:
// the manager's default --max-concurrent-reconciles.
const floorWorkers = 8

// measureWriteFloor gives every drainer what telling it of an outage costs
// the API server, a status write (a condition with a message of the
// outage's length) and an Event, from this process alone with the manager
// stopped, and times the status writes as the outage was timed: how fast
// the API server on this machine can tell N drainers anything, whoever
// asks. Like the manager, it reads from its cache, writes 8 at once and
// sends the Events beside the writes.
func (f *fleet) measureWriteFloor(ctx context.Context, r *result) error {
	message := strings.Repeat("x", 180) // about the outage condition's message
	var events sync.WaitGroup
	var eventErr atomic.Value
	start := time.Now()
	err := parallel(floorWorkers, f.n, func(i int) error {
		key := f.drainers[i]
		var qd v1alpha1.QueueDrainer
		read := f.cache.Get
		for {
			if err := read(ctx, key, &qd); err != nil {
				return err
			}
			patch := client.MergeFromWithOptions(qd.DeepCopy(), client.MergeFromWithOptimisticLock{})
			meta.SetStatusCondition(&qd.Status.Conditions, metav1.Condition{
				Type: "BenchWriteFloor", Status: metav1.ConditionTrue, Reason: floorReason, Message: message})
			err := f.k8s.Status().Patch(ctx, &qd, patch)
			if apierrors.IsConflict(err) {
				read = f.k8s.Get // the cache was behind
				continue
			}
			if err != nil {
				return err
			}
			break
		}
		events.Add(1)
		go func() {
			defer events.Done()
			if _, err := f.kube.EventsV1().Events(key.Namespace).Create(ctx, &eventsv1.Event{
				ObjectMeta:          metav1.ObjectMeta{Name: key.Name + ".floor"},
				EventTime:           metav1.NowMicro(),
				ReportingController: "benchscale",
				ReportingInstance:   "benchscale",
				Action:              floorReason,
				Reason:              floorReason,
				Type:                corev1.EventTypeWarning,
				Note:                message,
				Regarding: corev1.ObjectReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: "QueueDrainer",
					Namespace: key.Namespace, Name: key.Name, UID: qd.UID},
			}, metav1.CreateOptions{}); err != nil {
				eventErr.CompareAndSwap(nil, err)
			}
		}()
		return nil
	})
	r.floor = time.Since(start)
	events.Wait()
	if err != nil {
		return err
	}
	if err, ok := eventErr.Load().(error); ok {
		return err
	}
	fmt.Printf("API server floor, manager stopped: %d status writes (and as many Events beside them), %d at a time, in %s (%.0f writes/s)\n",
		f.n, floorWorkers, round(r.floor), float64(f.n)/r.floor.Seconds())
	return nil
}

// create makes the queues and the drainers, in 20 namespaces.
func (f *fleet) create(ctx context.Context) error {
	const namespaces = 20
	for i := range namespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("fleet-%02d", i)}}
		if err := f.k8s.Create(ctx, ns); err != nil {
			return err
		}
	}
	for i := range f.n {
		f.queues = append(f.queues, fmt.Sprintf("q-%05d", i))
		f.drainers = append(f.drainers, types.NamespacedName{Namespace: fmt.Sprintf("fleet-%02d", i%namespaces), Name: fmt.Sprintf("d-%05d", i)})
	}
	return parallel(32, f.n, func(i int) error {
		if _, err := emulator.CreateQueue(ctx, f.sqs, f.queues[i], nil); err != nil {
			return err
		}
		return f.k8s.Create(ctx, f.drainer(i))
	})
}

func (f *fleet) drainer(i int) *v1alpha1.QueueDrainer {
	return fixture.Drainer(f.drainers[i].Namespace, f.drainers[i].Name,
		fixture.QueueURL(emulator.CanonicalURL(f.queues[i])),
		fixture.Triggers(v1alpha1.Triggers{QueueDepth: ptr.To[int64](100)}),
		fixture.Workers(v1alpha1.WorkerPolicy{Max: 2}),
		fixture.Containers(corev1.Container{Name: "consumer", Image: fixture.Image}),
		fixture.PollInterval(f.o.poll))
}

// watch keeps the drainers and the Jobs in an informer cache, and notes
// when each drainer's first Job appears.
func (f *fleet) watch(ctx context.Context, cfg *rest.Config, scheme *k8sruntime.Scheme) error {
	c, err := cache.New(cfg, cache.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	jobs, err := c.GetInformer(ctx, &batchv1.Job{})
	if err != nil {
		return err
	}
	if _, err := jobs.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		if j, ok := obj.(*batchv1.Job); ok {
			f.jobSeen.LoadOrStore(types.NamespacedName{Namespace: j.Namespace, Name: j.Labels[v1alpha1.DrainerLabel]}, time.Now())
		}
	}}); err != nil {
		return err
	}
	if _, err := c.GetInformer(ctx, &v1alpha1.QueueDrainer{}); err != nil {
		return err
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return errors.New("the bench's cache did not sync")
	}
	f.cache = c
	return nil
}

// waitAll waits until ok holds for every drainer.
func (f *fleet) waitAll(within time.Duration, what string, ok func(*v1alpha1.QueueDrainer) bool) error {
	deadline := time.Now().Add(within)
	for {
		var list v1alpha1.QueueDrainerList
		// No deep copies: they would cost this process (which shares the
		// machine with what it measures) 5,000 copies every look.
		if err := f.cache.List(context.Background(), &list, client.UnsafeDisableDeepCopy); err != nil {
			return err
		}
		good := 0
		for i := range list.Items {
			if ok(&list.Items[i]) {
				good++
			}
		}
		if good == f.n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d drainers %s after %s", good, f.n, what, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func conditionIs(qd *v1alpha1.QueueDrainer, typ string, s metav1.ConditionStatus) bool {
	c := meta.FindStatusCondition(qd.Status.Conditions, typ)
	return c != nil && c.Status == s
}

func (f *fleet) reachable(key types.NamespacedName) metav1.ConditionStatus {
	var qd v1alpha1.QueueDrainer
	if err := f.cache.Get(context.Background(), key, &qd); err != nil {
		return metav1.ConditionUnknown
	}
	if c := meta.FindStatusCondition(qd.Status.Conditions, v1alpha1.ConditionQueueReachable); c != nil {
		return c.Status
	}
	return metav1.ConditionUnknown
}

// timeManual sets the drain request annotation on each drainer in turn
// and times it until the drainer's Job appears.
func (f *fleet) timeManual(ctx context.Context, drainers []types.NamespacedName) (stats, error) {
	var took []time.Duration
	for _, d := range drainers {
		qd := &v1alpha1.QueueDrainer{ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: d.Name}}
		patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, v1alpha1.DrainRequestAnnotation, time.Now().Format(time.RFC3339Nano))
		at := time.Now()
		if err := f.k8s.Patch(ctx, qd, client.RawPatch(types.MergePatchType, patch)); err != nil {
			return stats{}, err
		}
		seen, err := f.waitJob(d, 30*time.Second)
		if err != nil {
			return stats{}, err
		}
		took = append(took, seen.Sub(at))
		time.Sleep(100 * time.Millisecond)
	}
	return statsOf(took), nil
}

// timeDepth sends each queue more messages than its depth trigger, all at
// once, and times each until its drainer's Job appears.
func (f *fleet) timeDepth(ctx context.Context, drainers []types.NamespacedName) (stats, error) {
	sent := make([]time.Time, len(drainers))
	if err := parallel(len(drainers), len(drainers), func(i int) error {
		idx := slices.Index(f.drainers, drainers[i])
		out, err := f.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(f.queues[idx])})
		if err != nil {
			return err
		}
		if err := emulator.SendMessages(ctx, f.sqs, aws.ToString(out.QueueUrl), 150, 0); err != nil {
			return err
		}
		sent[i] = time.Now()
		return nil
	}); err != nil {
		return stats{}, err
	}
	var took []time.Duration
	for i, d := range drainers {
		seen, err := f.waitJob(d, 2*f.o.poll+30*time.Second)
		if err != nil {
			return stats{}, err
		}
		took = append(took, seen.Sub(sent[i]))
	}
	return statsOf(took), nil
}

func (f *fleet) waitJob(d types.NamespacedName, within time.Duration) (time.Time, error) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if at, ok := f.jobSeen.Load(d); ok {
			return at.(time.Time), nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("no Job for %s within %s", d, within)
}

// polls counts the GetQueueAttributes calls the proxy saw in [from, to)
// and each queue's gaps between them; queues in skip are left out of the
// gaps. A queue's first gap is measured from the window's start, so a
// queue not polled at all in the window still shows.
func (f *fleet) polls(from, to time.Time, skip map[string]bool) (int, []time.Duration) {
	last := map[string]time.Time{}
	calls := 0
	var gaps []time.Duration
	for _, r := range f.proxy.Requests(getAttrs, "") {
		if r.At.Before(from) || !r.At.Before(to) {
			continue
		}
		calls++
		if skip[r.Queue] {
			continue
		}
		prev, ok := last[r.Queue]
		if !ok {
			prev = from
		}
		// Retries of one poll come within a second: they are not polls.
		if g := r.At.Sub(prev); !ok || g > time.Second {
			gaps = append(gaps, g)
		}
		last[r.Queue] = r.At
	}
	for _, q := range f.queues {
		if _, polled := last[q]; !polled && !skip[q] {
			gaps = append(gaps, to.Sub(from))
		}
	}
	return calls, gaps
}

// statusWrites reads the API server's count of QueueDrainer status patches.
func (f *fleet) statusWrites(ctx context.Context) (float64, error) {
	raw, err := f.kube.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the API server's metrics: %w", err)
	}
	total := 0.0
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `resource="queuedrainers"`) ||
			!strings.Contains(line, `subresource="status"`) || !strings.Contains(line, `verb="PATCH"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			total += v
		}
	}
	return total, sc.Err()
}

// reconcileCount reads the manager's controller_runtime_reconcile_total.
func (f *fleet) reconcileCount() float64 {
	resp, err := http.Get(f.metrics)
	if err != nil {
		return math.NaN()
	}
	defer resp.Body.Close()
	total := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "controller_runtime_reconcile_total{") && strings.Contains(line, `controller="queuedrainer"`) {
			if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
				total += v
			}
		}
	}
	return total
}

// sampleRSS notes the manager's peak RSS every 500 ms.
func (f *fleet) sampleRSS() (stop func()) {
	done := make(chan struct{})
	go func() {
		for {
			kib := int64(rssKiB(f.manager.Process.Pid))
			if kib > f.rssPeak.Load() {
				f.rssPeak.Store(kib)
			}
			if kib > f.phasePk.Load() {
				f.phasePk.Store(kib)
			}
			select {
			case <-done:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}

func rssKiB(pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if value, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			v, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 64)
			return v
		}
	}
	return 0
}

// cpuSeconds is a process's user and system CPU time; 0 for pid 0.
func cpuSeconds(pid int) float64 {
	if pid == 0 {
		return 0
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces): state is field 3.
	fields := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // clock ticks; 100 a second on Linux
}

// apiServerPID finds the envtest kube-apiserver serving host.
func apiServerPID(host string) int {
	host = strings.TrimRight(host, "/")
	port := host[strings.LastIndexByte(host, ':')+1:]
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(raw), "\x00", " ")
		if strings.Contains(cmd, "kube-apiserver") && strings.Contains(cmd, "-port="+port) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			return pid
		}
	}
	return 0
}

func writeKubeconfig(env *envtest.Environment, dir string) (string, error) {
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "queue-drainer", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kubeconfig")
	return path, os.WriteFile(path, kc, 0o600)
}

// parallel runs do(0..n-1) on at most width goroutines; the first error wins.
func parallel(width, n int, do func(i int) error) error {
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		first atomic.Value
	)
	for range min(width, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || first.Load() != nil {
					return
				}
				if err := do(i); err != nil {
					first.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := first.Load().(error); ok {
		return err
	}
	return nil
}

func report(o options, rs []*result) {
	fmt.Printf("\n=== queue-drainer at fleet size: the manager binary, envtest, fauxqs behind the fault proxy, pollInterval %s\n\n", o.poll)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	head := "figure"
	for _, r := range rs {
		head += fmt.Sprintf("\tN = %d", r.n)
	}
	fmt.Fprintln(tw, head)
	row := func(name string, cell func(r *result) string) {
		line := name
		for _, r := range rs {
			line += "\t" + cell(r)
		}
		fmt.Fprintln(tw, line)
	}
	row("all observed and Ready after start", func(r *result) string { return round(r.ready) })
	row("manager RSS, peak / steady", func(r *result) string { return fmt.Sprintf("%.0f / %.0f MiB", r.rssPeakMiB, r.rssEndMiB) })
	row("manager CPU, steady", func(r *result) string { return fmt.Sprintf("%.1f CPU-s/min", r.cpuPerMin) })
	row("kube-apiserver CPU, steady", func(r *result) string { return fmt.Sprintf("%.1f CPU-s/min", r.apiCPUMin) })
	row("reconciles, steady", func(r *result) string { return fmt.Sprintf("%.1f/s", r.reconciles) })
	row("status writes, steady", func(r *result) string {
		return fmt.Sprintf("%.1f/s (N/60 = %.1f)", r.statusWrites, float64(r.n)/60)
	})
	row("SQS GetQueueAttributes, steady", func(r *result) string {
		return fmt.Sprintf("%.0f/s (N/poll = %.0f)", r.sqsCalls, float64(r.n)/o.poll.Seconds())
	})
	row("poll gap per queue, steady", func(r *result) string { return r.gaps.String() })
	row("CloudWatch GetMetricData per period", func(r *result) string {
		return fmt.Sprintf("%.1f (ceil(N/500) = %d)", r.cwPerPeriod, (r.n+499)/500)
	})
	row("manual request -> Job", func(r *result) string { return r.manual.String() })
	row("depth crossed -> Job", func(r *result) string { return r.depth.String() })
	row("5% faulty: healthy poll gap", func(r *result) string { return r.faultyGaps.String() })
	row("5% faulty: faulty drainers told", func(r *result) string { return fmt.Sprintf("%d of %d", r.faultyReported, r.n/20) })
	row("outage: all drainers say so", func(r *result) string {
		return fmt.Sprintf("%s (%.0f writes/s, kube-apiserver %.2f cores)", round(r.outage), r.outageWrites, r.outageAPICPU)
	})
	row("outage over: all drainers say so", func(r *result) string { return round(r.back) })
	row("API server floor: N status writes", func(r *result) string {
		return fmt.Sprintf("%s (%.0f writes/s)", round(r.floor), float64(r.n)/r.floor.Seconds())
	})
	_ = tw.Flush()

	fmt.Println("\ntargets:")
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	for _, r := range rs {
		limit := time.Duration(1.1 * float64(o.poll))
		fmt.Printf("  N=%d  healthy queues polled within 1.1 x pollInterval (%s) with 5%% faulty: max gap %s: %s\n",
			r.n, limit, round(r.faultyGaps.max), mark(r.faultyGaps.max <= limit))
		fmt.Printf("  N=%d  status writes at most N/60 = %.1f/s in steady state: %.1f/s: %s\n",
			r.n, float64(r.n)/60, r.statusWrites, mark(r.statusWrites <= float64(r.n)/60))
		fmt.Printf("  N=%d  every drainer reports a full outage within pollInterval + 10s (%s): %s: %s",
			r.n, o.poll+10*time.Second, round(r.outage), mark(r.outage <= o.poll+10*time.Second))
		if r.outage > o.poll+10*time.Second {
			fmt.Printf(" (the API server alone, manager stopped, took %s to take a status write and an Event for every drainer)", round(r.floor))
		}
		fmt.Println()
		fmt.Printf("  N=%d  manual request -> Job median under 200ms: %s: %s\n", r.n, round(r.manual.p50), mark(r.manual.p50 < 200*time.Millisecond))
		fmt.Printf("  N=%d  manager under 200 MiB: peak %.0f MiB: %s\n", r.n, r.rssPeakMiB, mark(r.rssPeakMiB < 200))
	}
}

func fail(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchscale:", err)
		os.Exit(1)
	}
}
