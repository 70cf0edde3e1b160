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

package plan_test

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
)

// rfc3339 finds a time in a condition message.
var rfc3339 = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)

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

// More bits of the fuzz input: the workers of the run after the history,
// what its pods report, and the drainer around it.
const (
	bitIndexed            = 1 << iota // its Job is Indexed
	bitJobSuspended                   // its Job is suspended
	bitProcessedZero                  // its workers report 0 processed
	bitAnotherQueue                   // its workers report draining another queue
	bitEmulatorQueue                  // its workers report an emulator's URL of spec.queue.url
	bitWorkerError                    // a worker reported an error
	bitOverrideEnv                    // the template sets QUEUE_URL to another queue
	bitEmulatorEnv                    // the template sets QUEUE_URL to an emulator's URL of spec.queue.url
	bitSpecChanged                    // metadata.generation is past status.observedGeneration
	bitObserved                       // status.observedGeneration is the current generation
	bitIneffectiveHistory             // failed runs of the history are Ineffective ones
	bitFailedDeliveries               // its workers report failed deliveries, and the last failure
)

// podBits packs pod counts into the fuzz input's pods: active, ready,
// succeeded and failed pods, the most running seen before, and the most
// the pods say ran.
func podBits(active, ready, succeeded, failed, seenMost, mostRan uint32) uint32 {
	return active | ready<<4 | succeeded<<8 | failed<<12 | seenMost<<16 | mostRan<<20
}

func FuzzDecideInvariants(f *testing.F) {
	// visible, depth, ageTrigSec, ageSec, ageLagSec, minW, maxW, perWorker, drainWithinSec, rateMilli,
	// suspend, replace, state, request, handled, cronIdx, tzIdx, nowMin, lastSchedMin, finishedAgoSec,
	// cooldownSec, pollMs, hist, keepS, keepF, flags, pods, waitSec, graceSec, ineffectiveRuns, bits
	f.Add(int64(5000), int64(1000), int64(600), int64(700), int64(60), int32(1), int32(10), int64(1000), int64(0), int64(0),
		false, false, uint8(stateIdle), "", "", uint8(0), uint8(0), int64(0), int64(0), int64(-1), int64(60), int64(30000),
		uint32(0), int8(3), int8(1), uint8(0), uint32(0), int64(0), int64(0), int8(0), uint16(0))
	f.Add(int64(300), int64(0), int64(600), int64(900), int64(120), int32(1), int32(10), int64(100), int64(600), int64(2500),
		false, false, uint8(stateIdle), "", "", uint8(0), uint8(0), int64(4000), int64(-1), int64(600), int64(60), int64(10000),
		uint32(0x3f|0x3f<<20), int8(3), int8(1), uint8(0), uint32(0), int64(0), int64(0), int8(0), uint16(0))
	f.Add(int64(120000), int64(100), int64(0), int64(0), int64(0), int32(2), int32(20), int64(1000), int64(300), int64(310000),
		false, true, uint8(stateRunning), "2026-03-10T12:00:00Z", "old", uint8(1), uint8(2), int64(720), int64(3*24*60), int64(30), int64(60),
		int64(30000), uint32(0x3f|0x1b00<<0|0x3f<<20), int8(2), int8(1), uint8(flagProcessed), uint32(0), int64(0), int64(0), int8(0), uint16(0))
	f.Add(int64(0), int64(0), int64(60), int64(3600), int64(400), int32(0), int32(0), int64(0), int64(0), int64(0),
		true, false, uint8(stateUnseenRunning), "x", "", uint8(2), uint8(7), int64(-5), int64(0), int64(5), int64(-1),
		int64(500), uint32(0xffffffff), int8(-1), int8(0), uint8(flagMetricsErr|flagNewDrainer), uint32(0), int64(0), int64(0), int8(0), uint16(0))
	f.Add(int64(42), int64(1), int64(1), int64(1), int64(1), int32(5), int32(3), int64(1), int64(1), int64(1),
		false, true, uint8(stateDeletingAndUnseen), "a", "a", uint8(4), uint8(4), int64(1<<40), int64(15), int64(7200), int64(0),
		int64(0), uint32(0x15), int8(0), int8(0), uint8(flagUnreachable|flagDeletedLinger|flagOverMax), uint32(0), int64(0), int64(0), int8(0), uint16(0))
	f.Add(int64(-7), int64(-3), int64(-1), int64(-1), int64(-1), int32(-1), int32(-1), int64(-1), int64(-1), int64(-1),
		false, false, uint8(stateSucceeded), "", "", uint8(6), uint8(5), int64(-1), int64(-1), int64(-1), int64(-1),
		int64(-1), uint32(0xa5a5), int8(20), int8(20), uint8(flagStartedFinishes|flagNoAge), uint32(0), int64(0), int64(0), int8(0), uint16(0))

	// Seeds for workers as they are, ineffective runs and their backoff.
	// Raw inputs go through between(): a finishedAgoSec of k+1 is k seconds
	// ago, 0 none; a cooldownSec of k+2 is k seconds; a pollMs of k+1 is k
	// ms; a waitSec of k+1 is a pod waiting k seconds, 0 none.
	seed := func(visible int64, state uint8, replacePolicy bool, request, handledReq string, finishedAgoSec, cooldownSec int64,
		hist uint32, flags uint8, pods uint32, waitSec, graceSec int64, ineff int8, bits uint16) {
		f.Add(visible, int64(100), int64(1), int64(0), int64(0), int32(1), int32(10), int64(1000), int64(1), int64(1000),
			false, replacePolicy, state, request, handledReq, uint8(0), uint8(0), int64(100_000), int64(0), finishedAgoSec, cooldownSec,
			int64(30_001), hist, int8(3), int8(1), flags|flagNoAge, pods, waitSec, graceSec, ineff, bits)
	}
	// An Indexed run whose one worker runs grows to 6.
	seed(6000, stateRunning, false, "", "", 0, 62, 0, 0, podBits(1, 1, 0, 0, 0, 0), 0, 0, 0, bitIndexed|bitObserved)
	// Its worker waits for a node past the grace: no scale, WorkersPending once.
	seed(6000, stateRunning, false, "", "", 0, 62, 0, 0, podBits(1, 0, 0, 0, 0, 0), 301, 0, 0, bitIndexed)
	// ... within a longer grace, which the second decision passes.
	seed(6000, stateRunning, false, "", "", 0, 62, 0, 0, podBits(3, 1, 0, 0, 2, 0), 51, 60, 0, bitIndexed)
	// A work-queue Job after a worker succeeded, and a suspended Job: no scale.
	seed(6000, stateRunning, false, "", "", 0, 62, 0, 0, podBits(1, 1, 1, 0, 1, 0), 0, 0, 0, 0)
	seed(6000, stateRunning, false, "", "", 0, 62, 0, 0, podBits(0, 0, 0, 0, 0, 0), 0, 0, 0, bitIndexed|bitJobSuspended)
	// The run processed nothing: a third ineffective run, backing off 8m.
	seed(6000, stateSucceeded, false, "", "", 0, 62, 0, flagProcessed, podBits(0, 0, 1, 0, 1, 1), 0, 0, 2, bitProcessedZero|bitObserved)
	// Its workers drained another queue, and failed with an error.
	seed(6000, stateFailed, false, "", "", 0, 62, 0, flagProcessed, podBits(0, 0, 0, 2, 1, 1), 0, 0, 0, bitAnotherQueue|bitWorkerError)
	// An emulator's URL of the same queue, in reports and in the template.
	seed(6000, stateSucceeded, false, "", "", 0, 62, 0, flagProcessed|flagStartedFinishes, 0, 0, 0, 1, bitEmulatorQueue|bitEmulatorEnv)
	// A consumer that reports nothing, with more visible than at its start.
	seed(7000, stateUnseenSucceeded, false, "", "", 0, 62, 0, 0, 0, 0, 0, 0, 0)
	// Backing off (4 in a row, 2m ago): the depth trigger waits, a manual
	// request starts a run at once, warned of the template's QUEUE_URL.
	seed(6000, stateIdle, false, "", "", 121, 62, 0x3|0x1<<8|0x1<<10, 0, 0, 0, 0, 4, bitObserved|bitIneffectiveHistory)
	seed(6000, stateIdle, false, "again", "before", 121, 62, 0x3|0x1<<8|0x1<<10, 0, 0, 0, 0, 4, bitObserved|bitOverrideEnv)
	// The spec changed: the backoff is over, the cooldown too.
	seed(6000, stateIdle, false, "", "", 121, 62, 0, 0, 0, 0, 0, 5, bitSpecChanged)
	// No cooldown and 70 in a row: at most an hour.
	seed(6000, stateIdle, false, "", "", 1801, 2, 0, 0, 0, 0, 0, 70, bitObserved)
	// A started run ends having processed nothing: the second decision records it.
	seed(6000, stateIdle, false, "", "", 0, 2, 0, flagStartedFinishes, 0, 0, 0, 0, bitProcessedZero)
	// Its handler failed every message.
	seed(6000, stateSucceeded, false, "", "", 0, 62, 0, flagProcessed, podBits(0, 0, 2, 0, 2, 2), 0, 0, 0, bitProcessedZero|bitFailedDeliveries)
	// A run that drained 6,000 messages with the 2 workers that ran teaches a throughput.
	seed(6000, stateSucceeded, false, "", "", 0, 62, 0, flagProcessed, podBits(0, 0, 2, 0, 1, 2), 0, 0, 3, 0)
	// A manual run of an empty queue that processes nothing is not ineffective.
	seed(0, stateIdle, false, "go", "", 0, 62, 0, flagStartedFinishes, 0, 0, 0, 1, bitProcessedZero)
	// The backoff (2m after 1 ineffective run) ends within the poll interval.
	seed(6000, stateIdle, false, "", "", 101, 62, 0, 0, 0, 0, 0, 1, bitObserved)
	// Replace while the active run's workers wait for a node.
	seed(6000, stateRunning, true, "now", "", 0, 62, 0, 0, podBits(1, 0, 0, 0, 0, 0), 301, 0, 0, bitIndexed)

	f.Fuzz(func(t *testing.T,
		visible, depth, ageTrigSec, ageSec, ageLagSec int64, minW, maxW int32, perWorker, drainWithinSec, rateMilli int64,
		suspend, replacePolicy bool, state uint8, request, handledReq string, cronIdx, tzIdx uint8,
		nowMin, lastSchedMin, finishedAgoSec, cooldownSec, pollMs int64, hist uint32, keepS, keepF int8, flags uint8,
		podsIn uint32, waitSec, graceSec int64, ineff int8, bits uint16,
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
		qd.Status.IneffectiveRuns = int32(between(int64(ineff), 0, 70))
		switch {
		case bits&bitSpecChanged != 0:
			qd.Generation, qd.Status.ObservedGeneration = 2, 1
		case bits&bitObserved != 0:
			qd.Status.ObservedGeneration = qd.Generation
		}
		tmpl := &qd.Spec.JobTemplate.Spec.Template.Spec
		if bits&bitOverrideEnv != 0 {
			tmpl.Containers[0].Env = append(tmpl.Containers[0].Env, corev1.EnvVar{Name: v1alpha1.EnvQueueURL, Value: ordersDLQ})
		}
		if bits&bitEmulatorEnv != 0 {
			tmpl.InitContainers = append(tmpl.InitContainers, corev1.Container{Name: "setup",
				Env: []corev1.EnvVar{{Name: v1alpha1.EnvQueueURL, Value: ordersLocal}}})
		}
		grace := time.Duration(between(graceSec, 0, 300)) * time.Second

		// History: runs 1..6, each present or not, with a result; finished
		// runs may still have their Job.
		var jobs []plan.Job
		for i := range 6 {
			if hist&(1<<i) == 0 {
				continue
			}
			n := int64(i + 1)
			res := fuzzResults[(hist>>(8+2*i))&3]
			if res == v1alpha1.RunFailed && bits&bitIneffectiveHistory != 0 {
				res = v1alpha1.RunIneffective
			}
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
			case v1alpha1.RunIneffective:
				jobs = append(jobs, plan.Job{Name: run(n), Trigger: v1alpha1.TriggerQueueDepth, Created: fin.Add(-5 * time.Minute),
					Parallelism: 2, Finished: true, Succeeded: true, FinishedAt: fin, Report: static(plan.Report{Processed: ptr[int64](0)})})
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
		if bits&bitProcessedZero != 0 {
			count = ptr[int64](0)
		}
		podCounts := plan.PodCounts{Active: int32(podsIn & 15), Ready: int32(podsIn >> 4 & 15),
			Succeeded: int32(podsIn >> 8 & 15), Failed: int32(podsIn >> 12 & 15)}
		var waitingPod *plan.Waiting
		if s := between(waitSec, -1, 600); s >= 0 {
			waitingPod = &plan.Waiting{Since: now.Add(-time.Duration(s) * time.Second), Message: "0/3 nodes are available: 3 Insufficient cpu."}
		}
		var queues []string
		if bits&bitEmulatorQueue != 0 {
			queues = append(queues, ordersLocal)
		}
		if bits&bitAnotherQueue != 0 {
			queues = append(queues, ordersDLQ)
		}
		active := func() {
			qd.Status.ActiveRun = &v1alpha1.ActiveRun{Name: run(7), Trigger: v1alpha1.TriggerSchedule,
				StartedAt: metav1.NewTime(now.Add(-10 * time.Minute)), Workers: workersNow, MessagesAtStart: 5000,
				MostRunning: int32(podsIn >> 16 & 15)}
			qd.Status.LastRunNumber = 7
		}
		running := func(n int64) plan.Job {
			j := plan.Job{Name: run(n), Trigger: v1alpha1.TriggerSchedule, MessagesAtStart: 5000,
				Created: now.Add(-10 * time.Minute), Parallelism: workersNow,
				Indexed: bits&bitIndexed != 0, Suspended: bits&bitJobSuspended != 0, Pods: podCounts, Waiting: waitingPod}
			rep := plan.Report{Processed: count, Queues: queues, MostRan: int32(podsIn >> 20 & 15)}
			if bits&bitWorkerError != 0 {
				rep.WorkerError = "pod " + run(n) + "-0-abcde: connect: connection refused"
			}
			if bits&bitFailedDeliveries != 0 {
				rep.Failed, rep.LastFailure = ptr[int64](3), "handler: decode order: unexpected EOF"
			}
			j.Report = static(rep)
			return j
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

		in := plan.Input{Now: now, Drainer: qd, Jobs: jobs, Queue: obs, PendingGrace: grace}
		d1 := decideWithin(t, in)
		checkInvariants(t, "first decision", in, d1)

		// Deciding again from the same input gives the same actions.
		again := decideWithin(t, in)
		if !reflect.DeepEqual(started(again), started(d1)) || again.RedriveFrom != d1.RedriveFrom || !reflect.DeepEqual(scaled(again), scaled(d1)) ||
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
		if flags&flagStartedFinishes != 0 && started(d1) != nil {
			j := &jobs2[len(jobs2)-1]
			j.Finished, j.Succeeded, j.FinishedAt, j.Report = true, true, now2, static(plan.Report{Processed: count})
		}
		obs2 := obs
		if obs2.Err == nil {
			obs2.At = now2
		}
		in2 := plan.Input{Now: now2, Drainer: next(qd, d1), Jobs: jobs2, Queue: obs2, PendingGrace: grace}
		d2 := decideWithin(t, in2)
		checkInvariants(t, "second decision", in2, d2)

		// No backoff holds back a trigger longer than max(cooldown, 1h) after
		// the last run: with no run out and a depth trigger of 1, one starts then.
		if last := d1.Status.LastRunFinishedAt; last != nil && d1.Status.ActiveRun == nil && !suspend {
			qd3 := next(qd, d1)
			qd3.Annotations = nil // a manual request is not held back anyway
			qd3.Spec.Triggers.QueueDepth = ptr[int64](1)
			at := last.Add(max(effectiveCooldown(qd3.Spec), plan.MaxBackoff))
			if at.Before(now) {
				at = now
			}
			in3 := plan.Input{Now: at, Drainer: qd3, Jobs: jobs2, Queue: plan.Observation{At: at, Visible: 1 + between(visible, 0, 1_000_000)},
				PendingGrace: grace}
			d3 := decideWithin(t, in3)
			checkInvariants(t, "decision after the longest backoff", in3, d3)
			if started(d3) == nil {
				t.Fatalf("no run started %s after the last run ended (%s, cooldown %s, %d ineffective runs); conditions %+v\ninput: %s",
					at.Sub(last.Time), fmtTime(last), effectiveCooldown(qd3.Spec), d1.Status.IneffectiveRuns, d3.Status.Conditions, describe(in3))
			}
		}

		// A request is handled exactly once.
		if request != "" && d1.Status.LastHandledDrainRequest == request && request != handledReq &&
			started(d2) != nil && started(d2).Trigger == v1alpha1.TriggerManual {
			t.Fatalf("request %q handled by the first decision (start %+v) started %s again", request, started(d1), started(d2).Name)
		}
		if started(d1) != nil && started(d1).Trigger == v1alpha1.TriggerManual && d1.Status.LastHandledDrainRequest != request {
			t.Fatalf("manual run %s started without recording request %q as handled (got %q)",
				started(d1).Name, request, d1.Status.LastHandledDrainRequest)
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

// effectiveCooldown is spec.cooldown as the API documents its default.
func effectiveCooldown(spec v1alpha1.QueueDrainerSpec) time.Duration {
	if spec.Cooldown == nil || spec.Cooldown.Duration < 0 {
		return plan.DefaultCooldown
	}
	return spec.Cooldown.Duration
}

// backoffRest is how long after a run the spec says a trigger waits, when
// n runs in a row were ineffective: the cooldown when none was; else the
// cooldown or poll interval, whichever is longer, doubled n times, at most
// an hour, and never less than the cooldown.
func backoffRest(cooldown, poll time.Duration, n int32) time.Duration {
	if n <= 0 {
		return cooldown
	}
	b := max(cooldown, poll)
	for i := int32(0); i < n && b < time.Hour; i++ {
		b *= 2
	}
	return max(cooldown, min(b, time.Hour))
}

// minRequeue is the shortest requeue Decide asks for: a deadline due now
// is looked at again shortly, not in a busy loop.
const minRequeue = 100 * time.Millisecond

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
			step, fmt.Sprintf(format, args...), describe(in), started(d), scaled(d), d.Delete, d.RequeueAfter, reasons(d), d.Status)
	}
	spec := in.Drainer.Spec
	minW, maxW := effectiveWorkers(spec.Workers.Min, spec.Workers.Max)
	poll := plan.DefaultPollInterval
	if spec.PollInterval != nil && spec.PollInterval.Duration >= time.Second {
		poll = spec.PollInterval.Duration
	}
	suspended := spec.Suspend != nil && *spec.Suspend
	forbid := spec.ConcurrencyPolicy != v1alpha1.ReplaceConcurrent

	// At most the status refresh; a poll interval when the refresh is due
	// and no newer observation has come.
	if limit := max(plan.DefaultStatusRefresh, poll); d.RequeueAfter <= 0 || d.RequeueAfter > limit {
		fail("requeueAfter %v not in (0, %v]", d.RequeueAfter, limit)
	}
	if s := started(d); s != nil {
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
	if sc := scaled(d); sc != nil {
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
		if started(d) != nil {
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
		if !fresh && started(d) != nil && started(d).Trigger == v1alpha1.TriggerOldestMessageAge {
			fail("age trigger fired on an unknown age")
		}
		if fresh != (cond(d.Status, v1alpha1.ConditionMetricsAvailable).Status == metav1.ConditionTrue) {
			fail("MetricsAvailable %+v, age known %v", cond(d.Status, v1alpha1.ConditionMetricsAvailable), fresh)
		}
	}
	if n := d.Status.NextScheduleTime; n != nil && !n.After(in.Now) {
		fail("nextScheduleTime %s is not in the future", fmtTime(n))
	}
	checkWorkers(t, in, d, fail)
	checkIneffectiveRuns(t, in, d, fail)
	for _, c := range d.Status.Conditions {
		if !conditionReason.MatchString(c.Reason) {
			fail("condition %s has invalid reason %q", c.Type, c.Reason)
		}
	}
	if (d.Status.ActiveRun != nil) != (cond(d.Status, v1alpha1.ConditionDraining).Status == metav1.ConditionTrue) {
		fail("Draining %+v but activeRun %+v", cond(d.Status, v1alpha1.ConditionDraining), d.Status.ActiveRun)
	}
}

// jobNamed is the input's Job of that name, or nil.
func jobNamed(in plan.Input, name string) *plan.Job {
	for i := range in.Jobs {
		if in.Jobs[i].Name == name {
			return &in.Jobs[i]
		}
	}
	return nil
}

// checkWorkers checks scale-ups, the active run's workers and pending workers.
func checkWorkers(t *testing.T, in plan.Input, d plan.Decision, fail func(string, ...any)) {
	t.Helper()
	a := d.Status.ActiveRun
	if sc := scaled(d); sc != nil {
		j := jobNamed(in, sc.Job)
		switch {
		case a == nil || a.Name != sc.Job:
			fail("scale of %s, which is not the active run %+v", sc.Job, a)
		case j == nil:
			fail("scale of %s, which has no Job", sc.Job)
		case j.Finished || j.Deleting || j.Suspended:
			fail("scale of Job %s: finished %v, deleting %v, suspended %v", sc.Job, j.Finished, j.Deleting, j.Suspended)
		case j.Pods.Active > j.Pods.Ready:
			fail("scale of Job %s while %d of its %d active pods are not running", sc.Job, j.Pods.Active-j.Pods.Ready, j.Pods.Active)
		case !j.Indexed && j.Pods.Succeeded > 0:
			fail("scale of work-queue Job %s after %d of its workers succeeded: it creates no new pod", sc.Job, j.Pods.Succeeded)
		case sc.From != j.Parallelism:
			fail("scale from %d, but Job %s has parallelism %d", sc.From, sc.Job, j.Parallelism)
		case a.Workers != sc.To:
			fail("scale to %d, but activeRun.workers = %d", sc.To, a.Workers)
		}
	}
	if a != nil {
		if a.Running < 0 || a.Pending < 0 || a.Succeeded < 0 || a.Failed < 0 {
			fail("activeRun has negative workers: %+v", *a)
		}
		if want := fmt.Sprintf("%d/%d", a.Running, a.Workers); a.RunningOfWanted != want {
			fail("activeRun.runningOfWanted = %q, want %q", a.RunningOfWanted, want)
		}
		if a.MostRunning < a.Running {
			fail("activeRun.mostRunning %d below running %d", a.MostRunning, a.Running)
		}
		if j := jobNamed(in, a.Name); j != nil && !j.Finished && !j.Deleting {
			wanted := j.Parallelism
			if scaled(d) != nil {
				wanted = scaled(d).To
			}
			if a.Workers != wanted || a.Running != j.Pods.Ready || a.Pending != max(j.Pods.Active-j.Pods.Ready, 0) ||
				a.Succeeded != j.Pods.Succeeded || a.Failed != j.Pods.Failed {
				fail("activeRun %+v does not show Job %s's workers (parallelism %d, pods %+v)", *a, j.Name, j.Parallelism, j.Pods)
			}
		}
	}

	// Workers pending past the grace: said in Draining, with one Event when that becomes news.
	grace := in.PendingGrace
	if grace <= 0 {
		grace = plan.DefaultPendingGrace
	}
	var since time.Time
	if a != nil {
		if j := jobNamed(in, a.Name); j != nil && !j.Finished && j.Pods.Active > j.Pods.Ready && j.Waiting != nil {
			since = j.Waiting.Since
		}
	}
	pending := !since.IsZero() && in.Now.Sub(since) >= grace
	draining := cond(d.Status, v1alpha1.ConditionDraining)
	if pending != (draining.Reason == v1alpha1.ReasonWorkersPending) {
		fail("Draining %s (%q), but workers pending past the grace of %s: %v", draining.Reason, draining.Message, grace, pending)
	}
	was := cond(in.Drainer.Status, v1alpha1.ConditionDraining)
	wantEvents := 0
	if pending && (was == nil || was.Reason != v1alpha1.ReasonWorkersPending) {
		wantEvents = 1
	}
	if n := countEvents(d, v1alpha1.ReasonWorkersPending); n != wantEvents {
		fail("%d %s events, want %d (Draining was %+v)", n, v1alpha1.ReasonWorkersPending, wantEvents, was)
	}
	if !since.IsZero() && !pending {
		if until := since.Add(grace).Sub(in.Now); d.RequeueAfter > max(until, minRequeue) {
			fail("requeueAfter %v, past the end of the pending grace in %v", d.RequeueAfter, until)
		}
	}

	// QUEUE_URL overridden in the template: warned once a container, when a run starts.
	overrides := 0
	pod := in.Drainer.Spec.JobTemplate.Spec.Template.Spec
	for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		for _, e := range c.Env {
			if e.Name == v1alpha1.EnvQueueURL && e.ValueFrom == nil && e.Value != in.Drainer.Spec.Queue.URL && e.Value != ordersLocal {
				overrides++
			}
		}
	}
	if started(d) == nil {
		overrides = 0
	}
	if n := countEvents(d, v1alpha1.ReasonQueueURLOverridden); n != overrides {
		fail("%d %s events, want %d", n, v1alpha1.ReasonQueueURLOverridden, overrides)
	}
}

// checkIneffectiveRuns checks how runs are judged, counted and backed off.
func checkIneffectiveRuns(t *testing.T, in plan.Input, d plan.Decision, fail func(string, ...any)) {
	t.Helper()
	before := in.Drainer.Status
	spec := in.Drainer.Spec
	poll := plan.DefaultPollInterval
	if spec.PollInterval != nil && spec.PollInterval.Duration >= time.Second {
		poll = spec.PollInterval.Duration
	}
	cooldown := effectiveCooldown(spec)
	suspended := spec.Suspend != nil && *spec.Suspend

	// How each recorded run is judged, from what its Job and pods say.
	for _, r := range d.Finished {
		j := jobNamed(in, r.Name)
		var rep plan.Report
		if j != nil {
			rep = reportOf(*j)
		}
		if j != nil && j.Finished && !j.Deleting { // what its pods tell is read once it finished
			if r.Workers < rep.MostRan || r.WorkersWanted < j.Parallelism {
				fail("run %s recorded %d of %d workers, but %d ran of %d wanted", r.Name, r.Workers, r.WorkersWanted, rep.MostRan, j.Parallelism)
			}
		}
		if r.Result == v1alpha1.RunIneffective && r.Message == "" {
			fail("run %s is Ineffective without saying why", r.Name)
		}
		if j == nil || !j.Finished || j.Deleting {
			if r.Result == v1alpha1.RunIneffective || r.Result == v1alpha1.RunSucceeded || r.Result == v1alpha1.RunFailed {
				if j == nil || !j.Finished {
					fail("run %s recorded %s without a finished Job", r.Name, r.Result)
				}
			}
			continue
		}
		other := slices.ContainsFunc(rep.Queues, func(q string) bool { return q != spec.Queue.URL && q != ordersLocal })
		none := r.MessagesAtStart > 0 && rep.Processed != nil && *rep.Processed == 0
		effective := !other && r.MessagesAtStart > 0 && rep.Processed != nil && *rep.Processed > 0
		switch {
		case j.Succeeded && (other || none) && r.Result != v1alpha1.RunIneffective:
			fail("run %s (queues %v, processed %v of %d) recorded %s, want Ineffective", r.Name, rep.Queues, rep.Processed, r.MessagesAtStart, r.Result)
		case j.Succeeded && effective && r.Result != v1alpha1.RunSucceeded:
			fail("run %s processed %d recorded %s, want Succeeded", r.Name, *rep.Processed, r.Result)
		case !j.Succeeded && r.Result != v1alpha1.RunFailed:
			fail("failed run %s recorded %s", r.Name, r.Result)
		case !j.Succeeded && other && !strings.Contains(r.Message, "drained "+ordersDLQ):
			fail("failed run %s on another queue says %q", r.Name, r.Message)
		case !j.Succeeded && rep.WorkerError != "" && !strings.HasPrefix(r.Message, rep.WorkerError+" (Job "+j.Message+")"):
			fail("failed run %s says %q, want the worker's error %q first", r.Name, r.Message, rep.WorkerError)
		}
		if (r.Result == v1alpha1.RunIneffective) != (countEvents(d, v1alpha1.ReasonDrainIneffective) > 0) && len(d.Finished) == 1 {
			fail("run %s recorded %s with events %v", r.Name, r.Result, reasons(d))
		}
	}

	// ineffectiveRuns counts them in a row: never negative, grows by at most
	// the runs recorded now, reset by a spec change or a run that tells it worked.
	prev := before.IneffectiveRuns
	if before.ObservedGeneration != 0 && before.ObservedGeneration != in.Drainer.Generation {
		prev = 0
	}
	n := d.Status.IneffectiveRuns
	if n < 0 || n > prev+int32(len(d.Finished)) {
		fail("ineffectiveRuns went from %d to %d with %d runs recorded", before.IneffectiveRuns, n, len(d.Finished))
	}
	told := false
	for i := len(d.Finished) - 1; i >= 0 && !told; i-- {
		switch d.Finished[i].Result {
		case v1alpha1.RunSucceeded:
			told = true
			if n != 0 {
				fail("ineffectiveRuns %d after run %s succeeded", n, d.Finished[i].Name)
			}
		case v1alpha1.RunIneffective:
			told = true
			if n < 1 {
				fail("ineffectiveRuns %d after run %s was ineffective", n, d.Finished[i].Name)
			}
		case v1alpha1.RunFailed:
			told = true
		}
	}
	if !told && n != prev {
		fail("ineffectiveRuns went from %d to %d, but no recorded run tells (recorded %v)", before.IneffectiveRuns, n, names(d.Finished))
	}

	// lastRunFinishedAt is the latest end; the one a trigger rests after
	// is that of the runs that ended by themselves (a replaced run was
	// active, and Replace does not wait).
	var last, rested time.Time
	if before.LastRunFinishedAt != nil {
		last, rested = before.LastRunFinishedAt.Time, before.LastRunFinishedAt.Time
	}
	replaced := false
	for _, r := range d.Finished {
		if r.FinishedAt.After(last) {
			last = r.FinishedAt.Time
		}
		if r.Result == v1alpha1.RunReplaced {
			replaced = true
		} else if r.FinishedAt.After(rested) {
			rested = r.FinishedAt.Time
		}
	}
	if !sameTime(d.Status.LastRunFinishedAt, last) {
		fail("lastRunFinishedAt = %s, want %s", fmtTime(d.Status.LastRunFinishedAt), last.Format(time.RFC3339))
	}
	rest := backoffRest(cooldown, poll, n)
	if s := started(d); s != nil && s.Trigger != v1alpha1.TriggerManual && !replaced && !rested.IsZero() && in.Now.Before(rested.Add(rest)) {
		fail("%s trigger started %s %s after the last run ended, before its rest of %s (%d ineffective runs)",
			s.Trigger, s.Name, in.Now.Sub(rested), rest, n)
	}
	if rest > max(cooldown, plan.MaxBackoff) {
		fail("rest %s longer than max(cooldown %s, %s)", rest, cooldown, plan.MaxBackoff)
	}

	// Backing off: Draining says until when, and the decision looks again then.
	lastEnd := d.Status.LastRunFinishedAt
	backingOff := d.Status.ActiveRun == nil && !suspended && n > 0 && lastEnd != nil && in.Now.Before(lastEnd.Add(rest))
	draining := cond(d.Status, v1alpha1.ConditionDraining)
	if backingOff != (draining.Reason == v1alpha1.ReasonBackingOff) {
		fail("Draining %s (%q), backing off %v (%d ineffective runs, rest %s after %s)",
			draining.Reason, draining.Message, backingOff, n, rest, fmtTime(lastEnd))
	}
	if backingOff {
		until, err := time.Parse(time.RFC3339, rfc3339.FindString(draining.Message))
		if want := lastEnd.Add(rest).Truncate(time.Second); err != nil || !until.Equal(want) {
			fail("Draining says %q, want runs to start again at %s", draining.Message, want.UTC().Format(time.RFC3339))
		}
	}
	if d.Status.ActiveRun == nil && lastEnd != nil {
		if until := lastEnd.Add(rest).Sub(in.Now); until > 0 && d.RequeueAfter > max(until, minRequeue) {
			fail("requeueAfter %v, past the end of the rest in %v", d.RequeueAfter, until)
		}
	}
	ready := cond(d.Status, v1alpha1.ConditionReady)
	if n == 0 && ready.Reason == v1alpha1.ReasonIneffectiveConsumer {
		fail("Ready %s with no ineffective run", ready.Reason)
	}
	if n > 0 && in.Queue.Err == nil && ready.Reason != v1alpha1.ReasonInvalidSchedule && ready.Reason != v1alpha1.ReasonIneffectiveConsumer {
		fail("Ready %s (%q) after %d ineffective runs", ready.Reason, ready.Message, n)
	}
}

// static is a report that tells rep.
func static(rep plan.Report) func() plan.Report { return func() plan.Report { return rep } }
