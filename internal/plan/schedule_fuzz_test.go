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

package plan

import (
	"strings"
	"testing"
	"time"
)

// FuzzSchedule feeds any schedule and time zone to the parsing the
// planner does, then asks for the next and the latest missed time. Parsing
// either succeeds or says what is wrong; a parsed schedule's next time is
// after now, and the latest slot is within (after, now] with no later one.
func FuzzSchedule(f *testing.F) {
	for _, s := range []struct {
		expr, tz string
	}{
		{"*/15 * * * *", "Asia/Seoul"},
		{"0 9 * * 1-5", "America/New_York"},
		{"30 2 * * *", "Europe/Berlin"}, // a time that does not exist on the spring-forward day
		{"30 1 * * *", "America/Sao_Paulo"},
		{"0 0 * * *", "America/Havana"}, // midnight skipped by DST
		{"@daily", "Australia/Lord_Howe"},
		{"0 0 29 2 *", ""},
		{"0 0 31 4 *", "UTC"}, // never comes
		{"* * 1 * *", "Asia/Kathmandu"},
		{"5,35 8-18/2 * * MON-FRI", "Etc/GMT+9"},
		{"TZ=Asia/Seoul", ""},
		{"CRON_TZ=UTC 0 9 * * *", "Asia/Seoul"},
		{"@every 1s", ""},
		{"61 * * * *", ""},
		{"* * * * *", "Local"},
		{"* * * * *", "../../etc/passwd"},
		{"* * * * *", "Nowhere/Invalid"},
	} {
		f.Add(s.expr, s.tz, int64(0), int64(90))
	}
	f.Add("0 12 * * *", "Pacific/Apia", int64(1<<40), int64(-1))
	f.Add("* * * * *", "", int64(-1<<40), int64(10*366*24*60))

	f.Fuzz(func(t *testing.T, expr, tz string, nowSec, backMin int64) {
		// Any time between 1970 and 2400, with seconds, and a previous slot
		// up to ten years back.
		now := time.Unix(0, 0).UTC().Add(time.Duration(uint64(nowSec)%(430*365*24*3600)) * time.Second)
		after := now.Add(-time.Duration(uint64(backMin)%(10*366*24*60)) * time.Minute)
		p := policy{cronExpr: expr, timeZone: tz}

		var s schedule
		var err error
		within(t, func() { s, err = p.schedule() }, "parsing %q in %q", expr, tz)
		if expr == "" {
			if s != nil || err != nil {
				t.Fatalf("no schedule gave %v, %v; want nothing", s, err)
			}
			return
		}
		if err != nil {
			if s != nil {
				t.Fatalf("schedule %q in %q: a schedule with the error %v", expr, tz, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "invalid schedule") && !strings.HasPrefix(msg, "unknown time zone") && !strings.HasPrefix(msg, "unsupported schedule") {
				t.Fatalf("schedule %q in %q: unclear error %q", expr, tz, msg)
			}
			return
		}
		if s == nil {
			t.Fatalf("schedule %q in %q: neither a schedule nor an error", expr, tz)
		}

		var next, slot, afterSlot time.Time
		within(t, func() {
			next = s.Next(now)
			slot = latestSlot(s, after, now)
			if !slot.IsZero() {
				afterSlot = s.Next(slot)
			}
		}, "next times of %q in %q at %s", expr, tz, now)
		if !next.IsZero() && !next.After(now) {
			t.Fatalf("%q in %q: next time %s is not after now %s", expr, tz, next, now)
		}
		if !next.IsZero() && next.Second() != 0 {
			t.Fatalf("%q in %q: next time %s is not on a minute", expr, tz, next)
		}
		if slot.IsZero() {
			return
		}
		if !slot.After(after) || slot.After(now) {
			t.Fatalf("%q in %q: latest slot %s not in (%s, %s]", expr, tz, slot, after, now)
		}
		if !afterSlot.IsZero() && !afterSlot.After(now) {
			t.Fatalf("%q in %q: latest slot %s in (%s, %s] is followed by %s, also due", expr, tz, slot, after, now, afterSlot)
		}
	})
}

// within runs fn and fails if it panics or takes more than a few seconds:
// the planner runs on every reconcile.
func within(t *testing.T, fn func(), what string, args ...any) {
	t.Helper()
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		fn()
	}()
	select {
	case p := <-done:
		if p != nil {
			t.Fatalf("panic: %v, "+what, append([]any{p}, args...)...)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no answer within 5s: "+what, args...)
	}
}
