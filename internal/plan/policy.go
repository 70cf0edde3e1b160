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
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
)

// Defaults the API server normally fills in; planning applies them too, so
// that a decision never depends on defaulting having happened.
const (
	DefaultPollInterval      = 30 * time.Second
	DefaultCooldown          = time.Minute
	DefaultMessagesPerWorker = 1000
	DefaultMaxWorkers        = 10
	DefaultSuccessfulHistory = 3
	DefaultFailedHistory     = 1
)

// policy is the drainer's spec with defaults applied and types made plain.
type policy struct {
	queueURL          string
	queueDepth        int64 // 0: no depth trigger
	oldestAge         time.Duration
	cronExpr          string
	timeZone          string
	messagesPerWorker int64
	minWorkers        int32
	maxWorkers        int32
	drainWithin       time.Duration
	pollInterval      time.Duration
	cooldown          time.Duration
	concurrency       v1alpha1.ConcurrencyPolicy
	suspend           bool
	keepSucceeded     int
	keepFailed        int
	pendingGrace      time.Duration
	statusRefresh     time.Duration
}

func newPolicy(qd *v1alpha1.QueueDrainer, pendingGrace, statusRefresh time.Duration) policy {
	s := qd.Spec
	p := policy{
		queueURL:          s.Queue.URL,
		cronExpr:          s.Triggers.Schedule,
		timeZone:          s.Triggers.TimeZone,
		messagesPerWorker: s.Workers.MessagesPerWorker,
		minWorkers:        s.Workers.Min,
		maxWorkers:        s.Workers.Max,
		pollInterval:      DefaultPollInterval,
		cooldown:          DefaultCooldown,
		concurrency:       s.ConcurrencyPolicy,
		suspend:           s.Suspend != nil && *s.Suspend,
		keepSucceeded:     DefaultSuccessfulHistory,
		keepFailed:        DefaultFailedHistory,
		pendingGrace:      pendingGrace,
		statusRefresh:     statusRefresh,
	}
	if p.pendingGrace <= 0 {
		p.pendingGrace = DefaultPendingGrace
	}
	if p.statusRefresh <= 0 {
		p.statusRefresh = DefaultStatusRefresh
	}
	if s.Triggers.QueueDepth != nil && *s.Triggers.QueueDepth > 0 {
		p.queueDepth = *s.Triggers.QueueDepth
	}
	if s.Triggers.OldestMessageAge != nil && s.Triggers.OldestMessageAge.Duration > 0 {
		p.oldestAge = s.Triggers.OldestMessageAge.Duration
	}
	if p.messagesPerWorker <= 0 {
		p.messagesPerWorker = DefaultMessagesPerWorker
	}
	if p.minWorkers <= 0 {
		p.minWorkers = 1
	}
	if p.maxWorkers <= 0 {
		p.maxWorkers = DefaultMaxWorkers
	}
	p.maxWorkers = max(p.maxWorkers, p.minWorkers)
	if s.Workers.DrainWithin != nil && s.Workers.DrainWithin.Duration > 0 {
		p.drainWithin = s.Workers.DrainWithin.Duration
	}
	if s.PollInterval != nil && s.PollInterval.Duration >= time.Second {
		p.pollInterval = s.PollInterval.Duration
	}
	if s.Cooldown != nil && s.Cooldown.Duration >= 0 {
		p.cooldown = s.Cooldown.Duration
	}
	if p.concurrency != v1alpha1.ReplaceConcurrent {
		p.concurrency = v1alpha1.ForbidConcurrent
	}
	if s.SuccessfulRunsHistoryLimit != nil && *s.SuccessfulRunsHistoryLimit >= 0 {
		p.keepSucceeded = int(*s.SuccessfulRunsHistoryLimit)
	}
	if s.FailedRunsHistoryLimit != nil && *s.FailedRunsHistoryLimit >= 0 {
		p.keepFailed = int(*s.FailedRunsHistoryLimit)
	}
	return p
}

// PollInterval is how often the drainer's queue is observed.
func PollInterval(qd *v1alpha1.QueueDrainer) time.Duration {
	return newPolicy(qd, 0, 0).pollInterval
}

// restUntil is when a trigger may start the next run: the cooldown after
// the latest run, or while runs in a row did not reduce the backlog, the
// cooldown doubled for each of them (from at least one poll interval, so
// that a zero cooldown backs off too), up to MaxBackoff. Zero when no run
// has finished.
func (p policy) restUntil(st *v1alpha1.QueueDrainerStatus) time.Time {
	if st.LastRunFinishedAt == nil {
		return time.Time{}
	}
	return st.LastRunFinishedAt.Add(p.rest(st.IneffectiveRuns))
}

// rest is the wait after a run that ended n ineffective runs in a row.
func (p policy) rest(n int32) time.Duration {
	if n <= 0 {
		return p.cooldown
	}
	backoff := max(p.cooldown, p.pollInterval)
	for range n {
		if backoff >= MaxBackoff/2 {
			return max(p.cooldown, MaxBackoff)
		}
		backoff *= 2
	}
	return max(p.cooldown, backoff)
}

// workers sizes a run for a backlog: one worker per messagesPerWorker, more
// if drainWithin needs them at the learned throughput, within [min, max].
// Until a run has taught the throughput, drainWithin cannot be honoured and
// the messagesPerWorker sizing stands alone.
func (p policy) workers(backlog int64, learned *v1alpha1.Throughput) int32 {
	want := ceilDiv(max(backlog, 0), p.messagesPerWorker)
	if rate := parseRate(learned); p.drainWithin > 0 && rate > 0 {
		perWorker := rate * p.drainWithin.Seconds()
		want = max(want, int64(math.Min(math.Ceil(float64(backlog)/perWorker), math.MaxInt32)))
	}
	return int32(min(max(want, int64(p.minWorkers)), int64(p.maxWorkers)))
}

func ceilDiv(a, b int64) int64 {
	return a/b + min(a%b, 1)
}

// parseRate reads a learned messages-per-worker-second; 0 when unknown.
func parseRate(t *v1alpha1.Throughput) float64 {
	if t == nil {
		return 0
	}
	r, err := strconv.ParseFloat(t.MessagesPerWorkerSecond, 64)
	if err != nil || r <= 0 || math.IsInf(r, 0) || math.IsNaN(r) {
		return 0
	}
	return r
}

// formatRate writes a rate with 4 significant digits and no exponent, so
// that slow consumers (0.02 messages a second) are not rounded to zero.
func formatRate(r float64) string {
	rounded, _ := strconv.ParseFloat(strconv.FormatFloat(r, 'g', 4, 64), 64)
	return strconv.FormatFloat(rounded, 'f', -1, 64)
}

// schedule is the parsed cron schedule, or nil when the drainer has none.
type schedule = cron.Schedule

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// schedule parses the cron schedule in its time zone.
func (p policy) schedule() (schedule, error) {
	if p.cronExpr == "" {
		return nil, nil
	}
	loc := time.UTC
	if p.timeZone != "" {
		var err error
		// "Local" would be the operator's own zone, not one the user can know.
		if loc, err = time.LoadLocation(p.timeZone); err != nil || p.timeZone == "Local" {
			return nil, fmt.Errorf("unknown time zone %q", p.timeZone)
		}
	}
	// The zone comes from triggers.timeZone only. The cron library also
	// reads a TZ= prefix, and panics on one not followed by a space.
	if strings.HasPrefix(p.cronExpr, "TZ=") || strings.HasPrefix(p.cronExpr, "CRON_TZ=") {
		return nil, fmt.Errorf("unsupported schedule %q: set the time zone in triggers.timeZone", p.cronExpr)
	}
	s, err := cronParser.Parse(p.cronExpr)
	if err != nil {
		return nil, fmt.Errorf("invalid schedule %q: %w", p.cronExpr, err)
	}
	spec, ok := s.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("unsupported schedule %q", p.cronExpr)
	}
	spec.Location = loc
	return spec, nil
}
