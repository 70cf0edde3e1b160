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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
)

func utc(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
}

func TestScheduleFiresInItsTimeZone(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tz        string
		last, now time.Time
		wantSlot  time.Time // zero: no run
		wantNext  time.Time
	}{
		{
			name: "09:00 in Seoul is 00:00 UTC", tz: "Asia/Seoul",
			last: utc(2026, 3, 9, 0, 0, 0), now: utc(2026, 3, 10, 0, 0, 20),
			wantSlot: utc(2026, 3, 10, 0, 0, 0), wantNext: utc(2026, 3, 11, 0, 0, 0),
		},
		{
			name: "09:00 UTC is not 09:00 in Seoul", tz: "Asia/Seoul",
			last: utc(2026, 3, 10, 0, 0, 0), now: utc(2026, 3, 10, 9, 0, 20),
			wantNext: utc(2026, 3, 11, 0, 0, 0),
		},
		{
			name: "09:00 in New York after the switch to daylight time is 13:00 UTC", tz: "America/New_York",
			last: utc(2026, 3, 9, 13, 0, 0), now: utc(2026, 3, 10, 13, 0, 5),
			wantSlot: utc(2026, 3, 10, 13, 0, 0), wantNext: utc(2026, 3, 11, 13, 0, 0),
		},
		{
			name: "no time zone means UTC", tz: "",
			last: utc(2026, 3, 9, 9, 0, 0), now: utc(2026, 3, 10, 9, 0, 5),
			wantSlot: utc(2026, 3, 10, 9, 0, 0), wantNext: utc(2026, 3, 11, 9, 0, 0),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qd := drainer(schedule("0 9 * * *"), timeZone(tc.tz), lastSchedule(tc.last))
			d := decide(qd, tc.now, queue(50))
			if tc.wantSlot.IsZero() {
				wantNoStart(t, d)
				if !sameTime(d.Status.LastScheduleTime, tc.last) {
					t.Errorf("lastScheduleTime = %s, want unchanged %s", fmtTime(d.Status.LastScheduleTime), tc.last.Format(time.RFC3339))
				}
			} else {
				wantStart(t, d, run(1), v1alpha1.TriggerSchedule, 1)
				if !sameTime(d.Status.LastScheduleTime, tc.wantSlot) {
					t.Errorf("lastScheduleTime = %s, want %s", fmtTime(d.Status.LastScheduleTime), tc.wantSlot.Format(time.RFC3339))
				}
			}
			if !sameTime(d.Status.NextScheduleTime, tc.wantNext) {
				t.Errorf("nextScheduleTime = %s, want %s", fmtTime(d.Status.NextScheduleTime), tc.wantNext.Format(time.RFC3339))
			}
		})
	}
}

func TestScheduleSlotFiresOnlyWhenMessagesAreVisible(t *testing.T) {
	qd := drainer(schedule("*/15 * * * *"), lastSchedule(t0.Add(-15*time.Minute)))

	// 12:00 slot, queue empty: no run, but the slot is consumed.
	d := decide(qd, t0.Add(10*time.Second), queue(0, inFlight(3)))
	wantNoStart(t, d)
	if !sameTime(d.Status.LastScheduleTime, t0) {
		t.Errorf("lastScheduleTime = %s, want the consumed slot %s", fmtTime(d.Status.LastScheduleTime), t0.Format(time.RFC3339))
	}

	// 12:05, messages arrived: the 12:00 slot is gone, nothing starts.
	qd = next(qd, d)
	d = decide(qd, t0.Add(5*time.Minute), queue(800))
	wantNoStart(t, d)

	// 12:15 slot with messages: it fires.
	qd = next(qd, d)
	d = decide(qd, t0.Add(15*time.Minute+time.Second), queue(800))
	wantStart(t, d, run(1), v1alpha1.TriggerSchedule, 1)
	if !sameTime(d.Status.LastScheduleTime, t0.Add(15*time.Minute)) {
		t.Errorf("lastScheduleTime = %s, want 12:15", fmtTime(d.Status.LastScheduleTime))
	}
}

func TestScheduleCatchesUpOnceAfterDowntime(t *testing.T) {
	// The operator was down for three days; the schedule runs every 15 minutes.
	qd := drainer(schedule("*/15 * * * *"), lastSchedule(t0.Add(-3*24*time.Hour)), cooldown(0))
	now := t0.Add(7 * time.Minute) // 12:07; newest missed slot is 12:00
	d := decide(qd, now, queue(100))
	wantStart(t, d, run(1), v1alpha1.TriggerSchedule, 1)
	if n := countEvents(d, v1alpha1.ReasonDrainStarted); n != 1 {
		t.Errorf("%d DrainStarted events, want exactly 1", n)
	}
	if !sameTime(d.Status.LastScheduleTime, t0) {
		t.Errorf("lastScheduleTime = %s, want the newest slot %s", fmtTime(d.Status.LastScheduleTime), t0.Format(time.RFC3339))
	}
	if !sameTime(d.Status.NextScheduleTime, t0.Add(15*time.Minute)) {
		t.Errorf("nextScheduleTime = %s, want 12:15", fmtTime(d.Status.NextScheduleTime))
	}

	// Next poll: the run's Job is running; nothing else starts.
	jobs := jobsAfter(nil, d, now)
	qd = next(qd, d)
	now = now.Add(30 * time.Second)
	d = decide(qd, now, queue(100), jobs...)
	wantNoStart(t, d)

	// The run finished quickly and, as new messages arrived, as many are
	// left (no cooldown): still no run until the 12:15 slot, since missed
	// slots are not replayed.
	jobs[0].Finished, jobs[0].Succeeded, jobs[0].FinishedAt = true, true, now
	processed(100)(&jobs[0])
	qd = next(qd, d)
	now = now.Add(30 * time.Second)
	d = decide(qd, now, queue(100), jobs...)
	wantNoStart(t, d)
	if len(d.Status.History) != 1 || d.Status.History[0].Result != v1alpha1.RunSucceeded {
		t.Errorf("history %+v, want the caught-up run recorded", d.Status.History)
	}
}

func TestNewDrainerDoesNotFireForSlotsBeforeItWasCreated(t *testing.T) {
	created := t0.Add(-13 * time.Minute) // 11:47, after the 11:45 slot
	qd := drainer(schedule("*/15 * * * *"), createdAt(created))
	d := decide(qd, t0.Add(-time.Minute), queue(900)) // 11:59
	wantNoStart(t, d)
	if d.Status.LastScheduleTime != nil {
		t.Errorf("lastScheduleTime = %s, want none handled yet", fmtTime(d.Status.LastScheduleTime))
	}
	if !sameTime(d.Status.NextScheduleTime, t0) {
		t.Errorf("nextScheduleTime = %s, want 12:00", fmtTime(d.Status.NextScheduleTime))
	}

	// Its first slot fires.
	d = decide(next(qd, d), t0.Add(2*time.Second), queue(900))
	wantStart(t, d, run(1), v1alpha1.TriggerSchedule, 1)
}

func TestScheduleAddedToAnOldDrainerStartsWithItsNextTime(t *testing.T) {
	// The drainer exists since yesterday; an hourly schedule is added at 12:20.
	qd := drainer(depthTrigger(100_000), schedule("@hourly"), createdAt(t0.Add(-24*time.Hour)))
	d := decide(qd, t0.Add(20*time.Minute), queue(900))
	wantNoStart(t, d)
	if !sameTime(d.Status.NextScheduleTime, t0.Add(time.Hour)) {
		t.Errorf("nextScheduleTime = %s, want 13:00", fmtTime(d.Status.NextScheduleTime))
	}
	// 13:00 fires.
	d = decide(next(qd, d), t0.Add(time.Hour+time.Second), queue(900))
	wantStart(t, d, run(1), v1alpha1.TriggerSchedule, 1)
}

func TestNextScheduleTime(t *testing.T) {
	for _, tc := range []struct {
		name, expr, tz string
		now, want      time.Time
	}{
		{name: "every 15 minutes", expr: "*/15 * * * *", now: utc(2026, 3, 10, 12, 7, 30), want: utc(2026, 3, 10, 12, 15, 0)},
		{name: "strictly after a slot", expr: "@hourly", now: utc(2026, 3, 10, 12, 0, 0), want: utc(2026, 3, 10, 13, 0, 0)},
		{name: "daily in Seoul", expr: "0 9 * * *", tz: "Asia/Seoul", now: utc(2026, 3, 10, 12, 0, 0), want: utc(2026, 3, 11, 0, 0, 0)},
		{name: "across the daylight saving switch in New York", expr: "0 9 * * *", tz: "America/New_York",
			now: utc(2026, 3, 7, 15, 0, 0), want: utc(2026, 3, 8, 13, 0, 0)},
		{name: "weekly on Monday", expr: "0 6 * * mon", now: utc(2026, 3, 10, 12, 0, 0), want: utc(2026, 3, 16, 6, 0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(drainer(schedule(tc.expr), timeZone(tc.tz), createdAt(tc.now.Add(-time.Hour))), tc.now, queue(0))
			if !sameTime(d.Status.NextScheduleTime, tc.want) {
				t.Errorf("nextScheduleTime = %s, want %s", fmtTime(d.Status.NextScheduleTime), tc.want.Format(time.RFC3339))
			}
		})
	}
	t.Run("no schedule", func(t *testing.T) {
		qd := drainer(depthTrigger(5))
		qd.Status.NextScheduleTime = mtime(t0.Add(time.Hour)) // left over from a removed schedule
		d := decide(qd, t0, queue(0))
		if d.Status.NextScheduleTime != nil {
			t.Errorf("nextScheduleTime = %s, want none", fmtTime(d.Status.NextScheduleTime))
		}
	})
}

func TestRequeueAfterIsShorterWhenNextScheduleSlotIsSooner(t *testing.T) {
	for _, tc := range []struct {
		name string
		now  time.Time
		want time.Duration
	}{
		{name: "slot in 10s", now: t0.Add(-10 * time.Second), want: 10 * time.Second},
		{name: "slot in 90s is later than the status refresh", now: t0.Add(-90 * time.Second), want: time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(drainer(schedule("*/15 * * * *"), lastSchedule(t0.Add(-15*time.Minute))), tc.now, queue(10))
			if d.RequeueAfter != tc.want {
				t.Errorf("requeueAfter = %v, want %v", d.RequeueAfter, tc.want)
			}
		})
	}
}

func TestInvalidScheduleMakesDrainerNotReadyButOtherTriggersWork(t *testing.T) {
	for _, tc := range []struct {
		name, expr, tz string
	}{
		{name: "unknown time zone", expr: "*/15 * * * *", tz: "Mars/Olympus_Mons"},
		{name: "unparsable cron", expr: "61 * * * *"},
		{name: "the operator's Local zone", expr: "*/15 * * * *", tz: "Local"},
		// The cron library panics on a TZ= prefix without a space after it.
		{name: "time zone prefix in the schedule", expr: "TZ=Asia/Seoul"},
		{name: "CRON_TZ prefix in the schedule", expr: "CRON_TZ=UTC */15 * * * *"},
		{name: "interval schedule", expr: "@every 1m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qd := drainer(schedule(tc.expr), timeZone(tc.tz), depthTrigger(100), lastSchedule(t0.Add(-15*time.Minute)))
			d := decide(qd, t0, queue(500))
			wantStart(t, d, run(1), v1alpha1.TriggerQueueDepth, 1)
			wantCondition(t, d.Status, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInvalidSchedule)
			if !hasEvent(d, v1alpha1.ReasonInvalidSchedule) {
				t.Errorf("events %v, want %s", reasons(d), v1alpha1.ReasonInvalidSchedule)
			}
			if d.Status.NextScheduleTime != nil {
				t.Errorf("nextScheduleTime = %s, want none for an invalid schedule", fmtTime(d.Status.NextScheduleTime))
			}

			// The next poll says nothing new.
			d = decide(next(qd, d), t0.Add(30*time.Second), queue(500), jobsAfter(nil, d, t0)...)
			wantCondition(t, d.Status, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInvalidSchedule)
			if hasEvent(d, v1alpha1.ReasonInvalidSchedule) {
				t.Errorf("events %v repeat %s", reasons(d), v1alpha1.ReasonInvalidSchedule)
			}
		})
	}
}

func TestScheduleSlotDuringCooldownWaitsAndFiresAfterCooldown(t *testing.T) {
	five := 5 * time.Minute
	qd := drainer(schedule("*/15 * * * *"), lastSchedule(t0.Add(-15*time.Minute)), cooldown(2*time.Minute),
		pollInterval(&five), lastFinished(t0.Add(-30*time.Second)), lastRunNumber(1))
	now := t0.Add(10 * time.Second)
	d := decide(qd, now, queue(300))
	wantNoStart(t, d)
	if !sameTime(d.Status.LastScheduleTime, t0.Add(-15*time.Minute)) {
		t.Errorf("lastScheduleTime = %s, want 11:45 (the 12:00 slot waits)", fmtTime(d.Status.LastScheduleTime))
	}
	if want := time.Minute; d.RequeueAfter != want {
		t.Errorf("requeueAfter = %v, want the status refresh in %v, before the 80s left of the cooldown", d.RequeueAfter, want)
	}

	now = t0.Add(90 * time.Second) // cooldown over
	d = decide(next(qd, d), now, queue(300))
	wantStart(t, d, run(2), v1alpha1.TriggerSchedule, 1)
	if !sameTime(d.Status.LastScheduleTime, t0) {
		t.Errorf("lastScheduleTime = %s, want 12:00", fmtTime(d.Status.LastScheduleTime))
	}
}

func TestScheduleSlotDuringActiveRunUnderForbidWaitsForTheRun(t *testing.T) {
	qd := drainer(schedule("*/15 * * * *"), lastSchedule(t0.Add(-15*time.Minute)), cooldown(0),
		activeRun(1, v1alpha1.TriggerQueueDepth, t0.Add(-5*time.Minute), 1, 2000))
	d := decide(qd, t0.Add(10*time.Second), queue(300), job(1, 1))
	wantNoStart(t, d)
	if !sameTime(d.Status.LastScheduleTime, t0.Add(-15*time.Minute)) {
		t.Errorf("lastScheduleTime = %s, want 11:45 (the 12:00 slot waits)", fmtTime(d.Status.LastScheduleTime))
	}

	// The run ends at 12:03; the waiting slot fires.
	d = decide(next(qd, d), t0.Add(3*time.Minute+10*time.Second), queue(300), job(1, 1, succeededAt(t0.Add(3*time.Minute))))
	wantStart(t, d, run(2), v1alpha1.TriggerSchedule, 1)
}

func TestScheduleSlotWhileSuspendedIsSkipped(t *testing.T) {
	qd := drainer(schedule("*/15 * * * *"), lastSchedule(t0.Add(-15*time.Minute)), suspended)
	d := decide(qd, t0.Add(10*time.Second), queue(300))
	wantNoStart(t, d)
	if !sameTime(d.Status.LastScheduleTime, t0) {
		t.Errorf("lastScheduleTime = %s, want the skipped 12:00 slot", fmtTime(d.Status.LastScheduleTime))
	}

	// Unsuspended at 12:05: the skipped slot does not fire.
	qd = next(qd, d)
	qd.Spec.Suspend = ptr(false)
	d = decide(qd, t0.Add(5*time.Minute), queue(300))
	wantNoStart(t, d)

	// The 12:15 slot does.
	d = decide(next(qd, d), t0.Add(15*time.Minute), queue(300))
	wantStart(t, d, run(1), v1alpha1.TriggerSchedule, 1)
}
