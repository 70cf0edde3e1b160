package plan_test

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
)

var fuzzCrons = []string{
	"", "*/15 * * * *", "0 9 * * *", "@hourly", "* * * * *", "30 1 * * *", "0 0 29 2 *",
	"0 0 31 4 *", // never comes
	"0 6 * * mon",
	"not a cron",
}

var fuzzZones = []string{
	"", "UTC", "Asia/Seoul", "America/New_York", "Australia/Lord_Howe", "America/Sao_Paulo", "Asia/Kathmandu", "Nowhere/Invalid",
}

var fuzzResults = []v1alpha1.RunResult{v1alpha1.RunSucceeded, v1alpha1.RunFailed, v1alpha1.RunReplaced, v1alpha1.RunDeleted}

// Job states of the run numbered after the history.
const (
	stateIdle              = iota // no run active
	stateRunning                  // status.activeRun and its running Job
	stateSucceeded                // status.activeRun, its Job just completed
	stateFailed                   // status.activeRun, its Job just failed
	stateVanished                 // status.activeRun, no Job
	stateUnseenRunning            // no status.activeRun, a running Job numbered past lastRunNumber
	stateUnseenSucceeded          // no status.activeRun, a completed Job numbered past lastRunNumber
	stateDeleting                 // status.activeRun, its Job being deleted
	stateDeletingAndUnseen        // status.activeRun's Job being deleted, and a newer running Job
	stateRunningAndUnseen         // status.activeRun running, and a newer running Job
	numStates
)

// between maps any x onto [lo, hi].
func between(x, lo, hi int64) int64 {
	return lo + int64(uint64(x)%uint64(hi-lo+1))
}

// Flags of the fuzz input.
const (
	flagUnreachable = 1 << iota
	flagMetricsErr
	flagNoAge
	flagNewDrainer
	flagProcessed
	flagStartedFinishes
	flagDeletedLinger
	flagOverMax
)

func FuzzDecideInvariants(f *testing.F) {
	// visible, depth, ageTrigSec, ageSec, ageLagSec, minW, maxW, perWorker, drainWithinSec, rateMilli,
	// suspend, replace, state, request, handled, cronIdx, tzIdx, nowMin, lastSchedMin, finishedAgoSec,
	// cooldownSec, pollMs, hist, keepS, keepF, flags
	f.Add(int64(5000), int64(1000), int64(600), int64(700), int64(60), int32(1), int32(10), int64(1000), int64(0), int64(0),
		false, false, uint8(stateIdle), "", "", uint8(0), uint8(0), int64(0), int64(0), int64(-1), int64(60), int64(30000),
		uint32(0), int8(3), int8(1), uint8(0))
	f.Add(int64(300), int64(0), int64(600), int64(900), int64(120), int32(1), int32(10), int64(100), int64(600), int64(2500),
		false, false, uint8(stateIdle), "", "", uint8(0), uint8(0), int64(4000), int64(-1), int64(600), int64(60), int64(10000),
		uint32(0x3f|0x3f<<20), int8(3), int8(1), uint8(0))
	f.Add(int64(120000), int64(100), int64(0), int64(0), int64(0), int32(2), int32(20), int64(1000), int64(300), int64(310000),
		false, true, uint8(stateRunning), "2026-03-10T12:00:00Z", "old", uint8(1), uint8(2), int64(720), int64(3*24*60), int64(30), int64(60),
		int64(30000), uint32(0x3f|0x1b00<<0|0x3f<<20), int8(2), int8(1), uint8(flagProcessed))
	f.Add(int64(0), int64(0), int64(60), int64(3600), int64(400), int32(0), int32(0), int64(0), int64(0), int64(0),
		true, false, uint8(stateUnseenRunning), "x", "", uint8(2), uint8(7), int64(-5), int64(0), int64(5), int64(-1),
		int64(500), uint32(0xffffffff), int8(-1), int8(0), uint8(flagMetricsErr|flagNewDrainer))
	f.Add(int64(42), int64(1), int64(1), int64(1), int64(1), int32(5), int32(3), int64(1), int64(1), int64(1),
		false, true, uint8(stateDeletingAndUnseen), "a", "a", uint8(4), uint8(4), int64(1<<40), int64(15), int64(7200), int64(0),
		int64(0), uint32(0x15), int8(0), int8(0), uint8(flagUnreachable|flagDeletedLinger|flagOverMax))
	f.Add(int64(-7), int64(-3), int64(-1), int64(-1), int64(-1), int32(-1), int32(-1), int64(-1), int64(-1), int64(-1),
		false, false, uint8(stateSucceeded), "", "", uint8(6), uint8(5), int64(-1), int64(-1), int64(-1), int64(-1),
		int64(-1), uint32(0xa5a5), int8(20), int8(20), uint8(flagStartedFinishes|flagNoAge))

	f.Fuzz(func(t *testing.T,
		visible, depth, ageTrigSec, ageSec, ageLagSec int64, minW, maxW int32, perWorker, drainWithinSec, rateMilli int64,
		suspend, replacePolicy bool, state uint8, request, handledReq string, cronIdx, tzIdx uint8,
		nowMin, lastSchedMin, finishedAgoSec, cooldownSec, pollMs int64, hist uint32, keepS, keepF int8, flags uint8,
	) {
		base := time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)
		now := base.Add(time.Duration(between(nowMin, 0, 5*366*24*60)) * time.Minute).Add(time.Duration(between(nowMin>>40, 0, 59)) * time.Second)

		qd := drainer()
		qd.Spec.Triggers = v1alpha1.Triggers{Schedule: fuzzCrons[int(cronIdx)%len(fuzzCrons)], TimeZone: fuzzZones[int(tzIdx)%len(fuzzZones)]}
		if depth != 0 {
			qd.Spec.Triggers.QueueDepth = &depth
		}
		if s := between(ageTrigSec, -1, 7200); s != 0 {
			qd.Spec.Triggers.OldestMessageAge = &metav1.Duration{Duration: time.Duration(s) * time.Second}
		}
		qd.Spec.Workers = v1alpha1.WorkerPolicy{MessagesPerWorker: perWorker, Min: minW, Max: maxW}
		if s := between(drainWithinSec, -1, 3600); s != 0 {
			qd.Spec.Workers.DrainWithin = &metav1.Duration{Duration: time.Duration(s) * time.Second}
		}
		qd.Spec.Suspend = &suspend
		if replacePolicy {
			qd.Spec.ConcurrencyPolicy = v1alpha1.ReplaceConcurrent
		}
		if s := between(cooldownSec, -2, 3600); s == -2 {
			qd.Spec.Cooldown = nil
		} else {
			qd.Spec.Cooldown = &metav1.Duration{Duration: time.Duration(s) * time.Second}
		}
		if ms := between(pollMs, -1, 300_000); ms < 0 {
			qd.Spec.PollInterval = nil
		} else {
			qd.Spec.PollInterval = &metav1.Duration{Duration: time.Duration(ms) * time.Millisecond}
		}
		qd.Spec.SuccessfulRunsHistoryLimit, qd.Spec.FailedRunsHistoryLimit = ptr(int32(keepS)), ptr(int32(keepF))
		qd.CreationTimestamp = metav1.NewTime(now.Add(-40 * 24 * time.Hour))
		if flags&flagNewDrainer != 0 {
			qd.CreationTimestamp = metav1.NewTime(now.Add(-90 * time.Second))
		}
		if request != "" {
			qd.Annotations = map[string]string{v1alpha1.DrainRequestAnnotation: request}
		}
		qd.Status.LastHandledDrainRequest = handledReq
		if m := between(lastSchedMin, -1, 10*24*60); m >= 0 {
			qd.Status.LastScheduleTime = mtime(now.Add(-time.Duration(m) * time.Minute).Truncate(time.Minute))
		}
		if s := between(finishedAgoSec, -1, 7200); s >= 0 {
			qd.Status.LastRunFinishedAt = mtime(now.Add(-time.Duration(s) * time.Second))
		}
		if r := between(rateMilli, -1000, 10_000_000); r != 0 {
			qd.Status.Throughput = &v1alpha1.Throughput{MessagesPerWorkerSecond: strconv.FormatFloat(float64(r)/1000, 'f', -1, 64), Runs: 1}
		}
		qd.Status.Queue = &v1alpha1.QueueStatus{VisibleMessages: 77, ObservedAt: metav1.NewTime(now.Add(-time.Minute))}

		// History: runs 1..6, each present or not, with a result; finished
		// runs may still have their Job.
		var jobs []plan.Job
		for i := range 6 {
			if hist&(1<<i) == 0 {
				continue
			}
			n := int64(i + 1)
			res := fuzzResults[(hist>>(8+2*i))&3]
			fin := now.Add(-time.Duration(6-i) * 10 * time.Minute)
			qd.Status.History = append([]v1alpha1.RunRecord{{Name: run(n), Trigger: v1alpha1.TriggerQueueDepth, Result: res,
				StartedAt: metav1.NewTime(fin.Add(-5 * time.Minute)), FinishedAt: metav1.NewTime(fin), Workers: 2, MessagesAtStart: 100}},
				qd.Status.History...)
			if hist&(1<<(20+i)) == 0 {
				continue
			}
			switch res {
			case v1alpha1.RunSucceeded:
				jobs = append(jobs, plan.Job{Name: run(n), Trigger: v1alpha1.TriggerQueueDepth, Created: fin.Add(-5 * time.Minute),
					Parallelism: 2, Finished: true, Succeeded: true, FinishedAt: fin})
			case v1alpha1.RunFailed:
				jobs = append(jobs, plan.Job{Name: run(n), Trigger: v1alpha1.TriggerQueueDepth, Created: fin.Add(-5 * time.Minute),
					Parallelism: 2, Finished: true, FinishedAt: fin, Message: "BackoffLimitExceeded"})
			case v1alpha1.RunReplaced:
				jobs = append(jobs, plan.Job{Name: run(n), Trigger: v1alpha1.TriggerQueueDepth, Created: fin.Add(-5 * time.Minute),
					Parallelism: 2, Deleting: true})
			}
		}
		qd.Status.LastRunNumber = 6

		// The run after the history.
		effMin, effMax := effectiveWorkers(minW, maxW)
		workersNow := effMin
		if flags&flagOverMax != 0 {
			workersNow = effMax + 3 // max was lowered during the run
		}
		var count *int64
		if flags&flagProcessed != 0 {
			count = ptr(between(visible, 0, 1_000_000))
		}
		active := func() {
			qd.Status.ActiveRun = &v1alpha1.ActiveRun{Name: run(7), Trigger: v1alpha1.TriggerSchedule,
				StartedAt: metav1.NewTime(now.Add(-10 * time.Minute)), Workers: workersNow, MessagesAtStart: 5000}
			qd.Status.LastRunNumber = 7
		}
		running := func(n int64) plan.Job {
			return plan.Job{Name: run(n), Trigger: v1alpha1.TriggerSchedule, MessagesAtStart: 5000,
				Created: now.Add(-10 * time.Minute), Parallelism: workersNow, Processed: count}
		}
		switch state % numStates {
		case stateRunning:
			active()
			jobs = append(jobs, running(7))
		case stateSucceeded:
			active()
			j := running(7)
			j.Finished, j.Succeeded, j.FinishedAt = true, true, now.Add(-time.Minute)
			jobs = append(jobs, j)
		case stateFailed:
			active()
			j := running(7)
			j.Finished, j.FinishedAt, j.Message = true, now.Add(-time.Minute), "DeadlineExceeded"
			jobs = append(jobs, j)
		case stateVanished:
			active()
		case stateUnseenRunning:
			jobs = append(jobs, running(7))
		case stateUnseenSucceeded:
			j := running(7)
			j.Finished, j.Succeeded = true, true // FinishedAt unknown
			jobs = append(jobs, j)
		case stateDeleting:
			active()
			j := running(7)
			j.Deleting = true
			jobs = append(jobs, j)
		case stateDeletingAndUnseen:
			active()
			j := running(7)
			j.Deleting = true
			jobs = append(jobs, j, running(8))
		case stateRunningAndUnseen:
			active()
			jobs = append(jobs, running(7), running(8))
		}

		obs := plan.Observation{At: now, Visible: visible, InFlight: 3}
		if flags&flagNoAge == 0 {
			obs.OldestAge = &plan.AgeSample{Age: time.Duration(between(ageSec, 0, 86400)) * time.Second,
				At: now.Add(-time.Duration(between(ageLagSec, -60, 600)) * time.Second)}
		}
		if flags&flagMetricsErr != 0 {
			obs.MetricsErr = &plan.Problem{Reason: "Throttling", Message: "rate exceeded"}
		}
		if flags&flagUnreachable != 0 {
			obs = plan.Observation{Err: &plan.Problem{Reason: "QueueDoesNotExist", Message: "no such queue"}}
		}

		in := plan.Input{Now: now, Drainer: qd, Jobs: jobs, Queue: obs}
		d1 := decideWithin(t, in)
		checkInvariants(t, "first decision", in, d1)

		// Deciding again from the same input gives the same actions.
		again := decideWithin(t, in)
		if !reflect.DeepEqual(again.Start, d1.Start) || !reflect.DeepEqual(again.Scale, d1.Scale) ||
			!slices.Equal(again.Delete, d1.Delete) || again.RequeueAfter != d1.RequeueAfter {
			t.Fatalf("deciding twice from one input differs:\n%+v\n%+v", d1, again)
		}

		// The controller applies the decision and looks again after RequeueAfter.
		now2 := now.Add(d1.RequeueAfter)
		jobs2 := jobsAfter(jobs, d1, now)
		if flags&flagDeletedLinger != 0 {
			for _, name := range d1.Delete {
				for _, j := range jobs {
					if j.Name == name {
						j.Deleting = true
						jobs2 = append(jobs2, j)
					}
				}
			}
		}
		if flags&flagStartedFinishes != 0 && d1.Start != nil {
			j := &jobs2[len(jobs2)-1]
			j.Finished, j.Succeeded, j.FinishedAt, j.Processed = true, true, now2, count
		}
		obs2 := obs
		if obs2.Err == nil {
			obs2.At = now2
		}
		in2 := plan.Input{Now: now2, Drainer: next(qd, d1), Jobs: jobs2, Queue: obs2}
		d2 := decideWithin(t, in2)
		checkInvariants(t, "second decision", in2, d2)

		// A request is handled exactly once.
		if request != "" && d1.Status.LastHandledDrainRequest == request && request != handledReq &&
			d2.Start != nil && d2.Start.Trigger == v1alpha1.TriggerManual {
			t.Fatalf("request %q handled by the first decision (start %+v) started %s again", request, d1.Start, d2.Start.Name)
		}
		if d1.Start != nil && d1.Start.Trigger == v1alpha1.TriggerManual && d1.Status.LastHandledDrainRequest != request {
			t.Fatalf("manual run %s started without recording request %q as handled (got %q)",
				d1.Start.Name, request, d1.Status.LastHandledDrainRequest)
		}
	})
}

// decideWithin runs Decide and fails if it takes more than a few seconds.
func decideWithin(t *testing.T, in plan.Input) plan.Decision {
	t.Helper()
	type result struct {
		d     plan.Decision
		panic any
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{panic: p}
			}
		}()
		done <- result{d: plan.Decide(in)}
	}()
	select {
	case r := <-done:
		if r.panic != nil {
			t.Fatalf("Decide panicked: %v\ninput: %s", r.panic, describe(in))
		}
		return r.d
	case <-time.After(5 * time.Second):
		t.Fatalf("Decide did not return within 5s\ninput: %s", describe(in))
	}
	panic("unreachable")
}

func describe(in plan.Input) string {
	var b strings.Builder
	fmt.Fprintf(&b, "now=%s spec=%+v status=%+v annotations=%v jobs=%+v queue=%+v",
		in.Now.Format(time.RFC3339), in.Drainer.Spec.Triggers, in.Drainer.Status, in.Drainer.Annotations, in.Jobs, in.Queue)
	return b.String()
}

// effectiveWorkers is [min, max] as the API documents its defaults: min 1,
// max 10, and max never below min.
func effectiveWorkers(min, max int32) (int32, int32) {
	if min <= 0 {
		min = 1
	}
	if max <= 0 {
		max = plan.DefaultMaxWorkers
	}
	if max < min {
		max = min
	}
	return min, max
}

func effectiveLimit(l *int32, def int) int {
	if l == nil || *l < 0 {
		return def
	}
	return int(*l)
}

func checkInvariants(t *testing.T, step string, in plan.Input, d plan.Decision) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s: %s\ninput: %s\ndecision: start=%+v scale=%+v delete=%v requeue=%v events=%v\nstatus=%+v",
			step, fmt.Sprintf(format, args...), describe(in), d.Start, d.Scale, d.Delete, d.RequeueAfter, reasons(d), d.Status)
	}
	spec := in.Drainer.Spec
	minW, maxW := effectiveWorkers(spec.Workers.Min, spec.Workers.Max)
	poll := plan.DefaultPollInterval
	if spec.PollInterval != nil && spec.PollInterval.Duration >= time.Second {
		poll = spec.PollInterval.Duration
	}
	suspended := spec.Suspend != nil && *spec.Suspend
	forbid := spec.ConcurrencyPolicy != v1alpha1.ReplaceConcurrent

	if d.RequeueAfter <= 0 || d.RequeueAfter > poll {
		fail("requeueAfter %v not in (0, %v]", d.RequeueAfter, poll)
	}
	if s := d.Start; s != nil {
		if s.Workers < minW || s.Workers > maxW {
			fail("start with %d workers, outside [%d, %d]", s.Workers, minW, maxW)
		}
		if suspended {
			fail("a run started while suspended")
		}
		if in.Queue.Err != nil {
			fail("a run started while the queue is unreachable")
		}
		for _, j := range in.Jobs {
			if j.Name == s.Name {
				fail("start %s reuses the name of an existing Job", s.Name)
			}
		}
		if d.Status.ActiveRun == nil || d.Status.ActiveRun.Name != s.Name {
			fail("status.activeRun %+v is not the started run", d.Status.ActiveRun)
		}
		if s.Name != plan.RunName(in.Drainer.Name, d.Status.LastRunNumber) {
			fail("start %s is not run lastRunNumber=%d", s.Name, d.Status.LastRunNumber)
		}
	}
	if sc := d.Scale; sc != nil {
		if sc.To < minW || sc.To > maxW || sc.To <= sc.From {
			fail("scale %d -> %d, want up and within [%d, %d]", sc.From, sc.To, minW, maxW)
		}
		if in.Queue.Err != nil {
			fail("scaled while the queue is unreachable")
		}
	}
	if a := d.Status.ActiveRun; a != nil && slices.Contains(d.Delete, a.Name) {
		fail("delete %v includes the active run %s", d.Delete, a.Name)
	}
	if forbid {
		active := 0
		for _, j := range in.Jobs {
			if !j.Finished && !j.Deleting && !slices.Contains(d.Delete, j.Name) {
				active++
			}
		}
		if d.Start != nil {
			active++
		}
		if active > 1 {
			fail("%d runs active after the decision under Forbid", active)
		}
	}
	prevLast := in.Drainer.Status.LastRunNumber
	if d.Status.LastRunNumber < prevLast {
		fail("lastRunNumber went back from %d to %d", prevLast, d.Status.LastRunNumber)
	}
	succeeded, other := 0, 0
	for i, h := range d.Status.History {
		if h.Result == v1alpha1.RunSucceeded {
			succeeded++
		} else {
			other++
		}
		if i > 0 && h.FinishedAt.After(d.Status.History[i-1].FinishedAt.Time) {
			fail("history not newest first: %v", names(d.Status.History))
		}
	}
	if keep := effectiveLimit(spec.SuccessfulRunsHistoryLimit, plan.DefaultSuccessfulHistory); succeeded > keep {
		fail("%d succeeded runs in history, limit %d", succeeded, keep)
	}
	if keep := effectiveLimit(spec.FailedRunsHistoryLimit, plan.DefaultFailedHistory); other > keep {
		fail("%d failed runs in history, limit %d", other, keep)
	}
	if in.Queue.Err != nil {
		if !reflect.DeepEqual(d.Status.Queue, in.Drainer.Status.Queue) {
			fail("status.queue changed while the queue is unreachable")
		}
	} else if q := d.Status.Queue; q == nil {
		fail("status.queue missing after an observation")
	} else {
		fresh := in.Queue.MetricsErr == nil && in.Queue.OldestAge != nil && in.Now.Sub(in.Queue.OldestAge.At) <= plan.StaleAfter
		if !fresh && q.OldestMessageAge != nil {
			fail("status.queue.oldestMessageAge = %v for an unknown age", q.OldestMessageAge.Duration)
		}
		if !fresh && d.Start != nil && d.Start.Trigger == v1alpha1.TriggerOldestMessageAge {
			fail("age trigger fired on an unknown age")
		}
		if fresh != (cond(d.Status, v1alpha1.ConditionMetricsAvailable).Status == metav1.ConditionTrue) {
			fail("MetricsAvailable %+v, age known %v", cond(d.Status, v1alpha1.ConditionMetricsAvailable), fresh)
		}
	}
	if n := d.Status.NextScheduleTime; n != nil && !n.After(in.Now) {
		fail("nextScheduleTime %s is not in the future", fmtTime(n))
	}
	for _, c := range d.Status.Conditions {
		if !conditionReason.MatchString(c.Reason) {
			fail("condition %s has invalid reason %q", c.Type, c.Reason)
		}
	}
	if (d.Status.ActiveRun != nil) != (cond(d.Status, v1alpha1.ConditionDraining).Status == metav1.ConditionTrue) {
		fail("Draining %+v but activeRun %+v", cond(d.Status, v1alpha1.ConditionDraining), d.Status.ActiveRun)
	}
}
