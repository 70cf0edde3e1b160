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
	"math"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestWorkerCountsAddUpTheSummariesOfEveryTerminatedContainer(t *testing.T) {
	summary := func(processed, failed int) string {
		return `{"kind":"DrainSummary","received":` + itoa(processed+failed) + `,"processed":` + itoa(processed) +
			`,"failed":` + itoa(failed) + `,"released":0,"seconds":12.5}`
	}
	for _, tc := range []struct {
		name                      string
		pods                      []corev1.Pod
		wantProcessed, wantFailed int64
		wantReported              bool
	}{
		{name: "no pods"},
		{
			name:          "one pod",
			pods:          []corev1.Pod{pod(corev1.PodSucceeded, terminated(0, summary(1200, 30)))},
			wantProcessed: 1200, wantFailed: 30, wantReported: true,
		},
		{
			name: "three pods summed",
			pods: []corev1.Pod{
				pod(corev1.PodSucceeded, terminated(0, summary(1200, 30))),
				pod(corev1.PodSucceeded, terminated(0, summary(800, 0))),
				pod(corev1.PodSucceeded, terminated(0, summary(5, 1))),
			},
			wantProcessed: 2005, wantFailed: 31, wantReported: true,
		},
		{
			name: "a failed pod the Job retried counts with its retry",
			pods: []corev1.Pod{
				pod(corev1.PodFailed, terminated(1, summary(300, 12))),
				pod(corev1.PodSucceeded, terminated(0, summary(700, 0))),
			},
			wantProcessed: 1000, wantFailed: 12, wantReported: true,
		},
		{
			name: "a container restarted in place counts both terminations",
			pods: []corev1.Pod{func() corev1.Pod {
				p := pod(corev1.PodSucceeded, terminated(0, summary(700, 0)))
				p.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{
					Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: summary(300, 2)}}
				return p
			}()},
			wantProcessed: 1000, wantFailed: 2, wantReported: true,
		},
		{
			name: "init containers and every container of a pod count",
			pods: []corev1.Pod{func() corev1.Pod {
				p := pod(corev1.PodSucceeded, terminated(0, summary(100, 0)), terminated(0, summary(50, 5)))
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init",
					State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Message: summary(10, 1)}}}}
				return p
			}()},
			wantProcessed: 160, wantFailed: 6, wantReported: true,
		},
		{
			name: "malformed, truncated and other-kind messages are ignored",
			pods: []corev1.Pod{
				pod(corev1.PodSucceeded, terminated(0, summary(40, 2))),
				pod(corev1.PodSucceeded, terminated(0, `{"kind":"Other","processed":1000,"failed":1}`)),
				pod(corev1.PodSucceeded, terminated(0, `{"processed":1000,"failed":1}`)),
				pod(corev1.PodSucceeded, terminated(0, `{"kind":"DrainSummary","received":1234,"processed":12`)),
				pod(corev1.PodFailed, terminated(2, "panic: runtime error: index out of range")),
				pod(corev1.PodSucceeded, terminated(0, `{"kind":"DrainSummary","processed":"1000"}`)),
				pod(corev1.PodSucceeded, terminated(0, `{"kind":"DrainSummary","processed":-5,"failed":0}`)),
				pod(corev1.PodSucceeded, terminated(0, `{"kind":"DrainSummary","failed":3}`)),
				pod(corev1.PodSucceeded, terminated(0, `["DrainSummary",1000]`)),
				pod(corev1.PodSucceeded, terminated(0, "")),
			},
			wantProcessed: 40, wantFailed: 2, wantReported: true,
		},
		{
			name: "only messages that are not summaries: nothing reported",
			pods: []corev1.Pod{
				pod(corev1.PodFailed, terminated(137, "OOMKilled")),
				pod(corev1.PodSucceeded, terminated(0, `{"kind":"Other","processed":1}`)),
			},
		},
		{
			name:          "a summary without a failed count failed none",
			pods:          []corev1.Pod{pod(corev1.PodSucceeded, terminated(0, "  "+`{"kind":"DrainSummary","processed":9}`+"\n"))},
			wantProcessed: 9, wantReported: true,
		},
		{
			name: "a pod still running is ignored",
			pods: []corev1.Pod{
				pod(corev1.PodSucceeded, terminated(0, summary(500, 0))),
				pod(corev1.PodRunning, corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}),
				pod(corev1.PodPending, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}),
			},
			wantProcessed: 500, wantReported: true,
		},
		{
			name: "sums beyond int64 stay at its maximum instead of wrapping negative",
			pods: []corev1.Pod{
				pod(corev1.PodSucceeded, terminated(0, `{"kind":"DrainSummary","processed":9223372036854775807,"failed":9223372036854775800}`)),
				pod(corev1.PodSucceeded, terminated(0, summary(1, 1000))),
			},
			wantProcessed: math.MaxInt64, wantFailed: math.MaxInt64, wantReported: true,
		},
		{
			name:          "a summary that reports zero is still a report",
			pods:          []corev1.Pod{pod(corev1.PodSucceeded, terminated(0, summary(0, 0)))},
			wantProcessed: 0, wantReported: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			processed, failed, reported := workerCounts(tc.pods)
			if reported != tc.wantReported {
				t.Fatalf("reported = %v, want %v", reported, tc.wantReported)
			}
			if !tc.wantReported {
				if processed != nil || failed != nil {
					t.Errorf("counts %v, %v, want nil when nothing was reported", processed, failed)
				}
				return
			}
			if processed == nil || failed == nil || *processed != tc.wantProcessed || *failed != tc.wantFailed {
				t.Errorf("processed %s, failed %s, want %d and %d", deref(processed), deref(failed), tc.wantProcessed, tc.wantFailed)
			}
		})
	}
}

// pod is a pod of a run whose containers are in these states.
func pod(phase corev1.PodPhase, states ...corev1.ContainerState) corev1.Pod {
	p := corev1.Pod{Status: corev1.PodStatus{Phase: phase}}
	for i, s := range states {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: "c" + itoa(i), State: s})
	}
	return p
}

func terminated(exitCode int32, message string) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exitCode, Message: message}}
}

func itoa(n int) string { return strconv.Itoa(n) }

func deref(p *int64) string {
	if p == nil {
		return "<nil>"
	}
	return strconv.FormatInt(*p, 10)
}
