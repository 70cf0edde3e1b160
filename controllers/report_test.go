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

package controllers

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var base = time.Date(2026, time.March, 10, 12, 0, 0, 0, time.UTC)

// ran is a worker pod whose container ran from second `from` to second `to`
// after base (still running when to < 0), and exited with this code and
// termination message.
func ran(name string, from, to int, exitCode int32, message string) corev1.Pod {
	at := func(s int) metav1.Time { return metav1.NewTime(base.Add(time.Duration(s) * time.Second)) }
	state := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(from)}}
	if to >= 0 {
		state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: exitCode, Message: message, StartedAt: at(from), FinishedAt: at(to)}}
	}
	p := pod(corev1.PodSucceeded, state)
	p.Name = name
	p.Status.ContainerStatuses[0].Name = "worker"
	return p
}

func TestMostAtOnceCountsPodsThatRanAtTheSameTime(t *testing.T) {
	for _, tc := range []struct {
		name string
		pods []corev1.Pod
		want int32
	}{
		{name: "none"},
		{name: "one", pods: []corev1.Pod{ran("a", 0, 10, 0, "")}, want: 1},
		{name: "two after each other", pods: []corev1.Pod{ran("a", 0, 10, 0, ""), ran("b", 10, 20, 0, "")}, want: 1},
		{name: "a burst joins one that is still running", pods: []corev1.Pod{
			ran("a", 0, 3, 0, ""), ran("b", 0, 40, 0, ""),
			ran("c", 20, 30, 0, ""), ran("d", 21, 31, 0, ""), ran("e", 21, 35, 0, ""), ran("f", 22, 36, 0, ""),
		}, want: 5},
		{name: "a pod that ran within one second", pods: []corev1.Pod{ran("a", 5, 5, 0, "")}, want: 1},
		{name: "still running", pods: []corev1.Pod{ran("a", 0, -1, 0, ""), ran("b", 100, -1, 0, "")}, want: 2},
		{name: "never ran", pods: []corev1.Pod{pod(corev1.PodPending)}, want: 0},
	} {
		if got := mostAtOnce(tc.pods); got != tc.want {
			t.Errorf("%s: mostAtOnce = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestReportNamesQueuesAndTheFirstWorkerError(t *testing.T) {
	const orders = "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
	const other = "https://sqs.us-east-1.amazonaws.com/123456789012/other"
	j := report([]corev1.Pod{
		ran("run-1-1-bbbbb", 0, 9, 1, `{"kind":"DrainSummary","queue":"`+orders+`","processed":0,"error":"access denied: AccessDenied: nope"}`),
		ran("run-1-0-aaaaa", 0, 5, 1, `{"kind":"DrainSummary","queue":"`+orders+`","processed":0,"error":"could not reach SQS: dial tcp 127.0.0.1:9: connect: connection refused"}`),
		ran("run-1-2-ccccc", 0, 7, 0, `{"kind":"DrainSummary","queue":"`+other+`","processed":3,"failed":2,"lastFailure":"exit status 1: boom"}`),
	})
	if len(j.Queues) != 2 || j.Queues[0] != orders || j.Queues[1] != other {
		t.Errorf("queues %v, want [%s %s] without repeats", j.Queues, orders, other)
	}
	// The first error by finish time, naming its pod.
	if want := "worker run-1-0-aaaaa: could not reach SQS: dial tcp 127.0.0.1:9: connect: connection refused"; j.WorkerError != want {
		t.Errorf("worker error %q, want %q", j.WorkerError, want)
	}
	if j.LastFailure != "exit status 1: boom" || j.MostRan != 3 || j.Processed == nil || *j.Processed != 3 {
		t.Errorf("lastFailure %q, mostRan %d, processed %s; want the handler's failure, 3, 3", j.LastFailure, j.MostRan, deref(j.Processed))
	}
}

func TestReportOfAConsumerWithoutSummariesUsesItsExitAndLog(t *testing.T) {
	p := ran("run-1-0-aaaaa", 0, 5, 1, "connecting...\ncannot reach the database\n")
	p.Status.ContainerStatuses[0].State.Terminated.Reason = "Error"
	oom := ran("run-1-1-bbbbb", 0, 9, 137, "")
	oom.Status.ContainerStatuses[0].State.Terminated.Reason = "OOMKilled"
	j := report([]corev1.Pod{oom, p, ran("run-1-2-ccccc", 0, 3, 0, "done")})
	if want := "worker run-1-0-aaaaa: container worker exited with code 1: cannot reach the database"; j.WorkerError != want {
		t.Errorf("worker error %q, want %q", j.WorkerError, want)
	}
	j = report([]corev1.Pod{oom})
	if want := "worker run-1-1-bbbbb: container worker exited with code 137 (OOMKilled)"; j.WorkerError != want {
		t.Errorf("worker error %q, want %q", j.WorkerError, want)
	}
	if j.Processed != nil || len(j.Queues) != 0 {
		t.Errorf("counts %s, queues %v: want none from a consumer that reports none", deref(j.Processed), j.Queues)
	}
}

func TestOldestWaitingSaysWhyAWorkerIsNotRunning(t *testing.T) {
	created := func(p corev1.Pod, name string, s int) corev1.Pod {
		p.Name, p.CreationTimestamp = name, metav1.NewTime(base.Add(time.Duration(s)*time.Second))
		return p
	}
	unschedulable := created(pod(corev1.PodPending), "run-1-3-ddddd", 10)
	unschedulable.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: "Unschedulable", Message: "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."}}
	pulling := created(pod(corev1.PodPending, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
		Reason: "ImagePullBackOff", Message: `Back-off pulling image "example/consumer:2"`}}), "run-1-2-ccccc", 5)
	pulling.Spec.NodeName = "node-1"
	running := created(ran("run-1-0-aaaaa", 0, -1, 0, ""), "run-1-0-aaaaa", 0)
	running.Status.Phase = corev1.PodRunning
	running.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}

	w := oldestWaiting([]corev1.Pod{unschedulable, running, pulling})
	if w == nil || !w.Since.Equal(base.Add(5*time.Second)) ||
		w.Message != `pod run-1-2-ccccc: container c0 ImagePullBackOff: Back-off pulling image "example/consumer:2"` {
		t.Fatalf("waiting %+v, want the pulling pod, the oldest that is not running", w)
	}
	w = oldestWaiting([]corev1.Pod{unschedulable, running})
	if w == nil || !strings.Contains(w.Message, "Unschedulable: 0/3 nodes are available") {
		t.Fatalf("waiting %+v, want the scheduler's message", w)
	}
	if w := oldestWaiting([]corev1.Pod{running}); w != nil {
		t.Fatalf("waiting %+v, want none when every worker runs", w)
	}
}
