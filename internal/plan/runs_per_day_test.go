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
	"testing"
	"time"

	"github.com/queuedrainer/queue-drainer/internal/plan"
)

// runsStarted drives Decide through a day of a queue that always holds
// messages, with the default cooldown (1m) and poll interval (30s). Each run
// lasts runTakes (a worker's empty 20 s long poll, and its start) and
// processes `processed` messages. It returns the runs started in the first
// hour and in the day, as the controller would start them: deciding again
// at each RequeueAfter and when a run's Job finishes.
func runsStarted(t *testing.T, processed int64) (firstHour, day int) {
	t.Helper()
	const runTakes = 20 * time.Second
	qd := drainer(depthTrigger(1))
	now, end := t0, t0.Add(24*time.Hour)
	var jobs []plan.Job
	for now.Before(end) {
		if len(jobs) == 1 && !jobs[0].Finished && !now.Before(jobs[0].Created.Add(runTakes)) {
			jobs[0].Finished, jobs[0].Succeeded, jobs[0].FinishedAt = true, true, jobs[0].Created.Add(runTakes)
			reported(func(r *plan.Report) { r.Processed, r.MostRan = &processed, 1 })(&jobs[0])
		}
		d := decide(qd, now, queue(50), jobs...)
		if started(d) != nil {
			day++
			if now.Before(t0.Add(time.Hour)) {
				firstHour++
			}
		}
		jobs = jobsAfter(jobs, d, now)
		jobs = jobs[max(len(jobs)-1, 0):] // only the newest Job matters here
		qd = next(qd, d)
		step := d.RequeueAfter
		if len(jobs) == 1 && !jobs[0].Finished {
			step = min(step, jobs[0].Created.Add(runTakes).Sub(now)) // the Job's end wakes the controller
		}
		now = now.Add(max(step, time.Millisecond))
	}
	return firstHour, day
}

// A consumer that never reduces the backlog (it drains another queue, or
// handles nothing) gets a few runs an hour, not one every cooldown; one that
// does its work keeps the cooldown's pace.
func TestIneffectiveConsumerRunsBackOffOverADay(t *testing.T) {
	effHour, effDay := runsStarted(t, 40)
	inHour, inDay := runsStarted(t, 0)
	t.Logf("FIGURE runs started, cooldown 1m, runs of 20s: effective consumer %d in the first hour, %d a day; ineffective %d in the first hour, %d a day",
		effHour, effDay, inHour, inDay)
	// Effective: one run every cooldown + run, 45 an hour.
	if effHour < 44 || effHour > 46 || effDay < 24*44 {
		t.Errorf("effective consumer: %d runs in the first hour, %d a day; want one every 1m20s (45 an hour)", effHour, effDay)
	}
	// Ineffective: after 2m, 4m, 8m, 16m, 32m, then every hour.
	if inHour != 5 || inDay < 25 || inDay > 29 {
		t.Errorf("ineffective consumer: %d runs in the first hour, %d a day; want 5, then one an hour (about 27)", inHour, inDay)
	}
}
