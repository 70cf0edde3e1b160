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

package main

// Everything the plugin prints about a drainer is written here, so that
// status, history, watch and drain --wait show the same things the same way.

import (
	"fmt"
	"io"
	"path"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
)

// lastRuns is how many finished runs the one-drainer summary shows.
const lastRuns = 3

// writeDrainer is the one-screen summary of one drainer.
func writeDrainer(w io.Writer, qd *v1alpha1.QueueDrainer, now time.Time) {
	st := qd.Status
	field := func(label, format string, a ...any) {
		fmt.Fprintf(w, "%-13s%s\n", label+":", fmt.Sprintf(format, a...))
	}
	field("Name", "%s/%s", qd.Namespace, qd.Name)
	field("Queue", "%s", qd.Spec.Queue.URL)
	if q := st.Queue; q == nil {
		field("Messages", "not observed yet")
	} else {
		field("Messages", "%d visible, %d in flight, %d delayed (observed %s ago)",
			q.VisibleMessages, q.InFlightMessages, q.DelayedMessages, ago(q.ObservedAt, now))
		field("Oldest", "%s", oldest(qd))
		if dl := q.DeadLetter; dl != nil {
			field("Dead letter", "%d messages in %s", dl.VisibleMessages, dl.URL)
		} else {
			field("Dead letter", "none (the queue has no RedrivePolicy)")
		}
	}

	switch c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady); {
	case c == nil:
		field("Ready", "Unknown: the operator has not reported on this drainer yet")
	case c.Status == metav1.ConditionTrue:
		field("Ready", "True")
	default:
		field("Ready", "%s  %s: %s", c.Status, c.Reason, c.Message)
	}
	// Stalled and Reconciling are present only while true (kstatus).
	for _, t := range []string{v1alpha1.ConditionStalled, v1alpha1.ConditionReconciling} {
		if c := meta.FindStatusCondition(st.Conditions, t); c != nil && c.Status == metav1.ConditionTrue {
			field(t, "%s: %s", c.Reason, c.Message)
		}
	}
	if suspended(qd) {
		field("Suspended", "yes: no new run starts (an active run goes on)")
	}
	if st.ObservedGeneration != 0 && st.ObservedGeneration != qd.Generation {
		field("Note", "status describes generation %d; the operator has not acted on generation %d yet", st.ObservedGeneration, qd.Generation)
	}
	for _, p := range pendingRequests(qd) {
		field("Requested", "%s", p)
	}

	if r := st.ActiveRun; r != nil {
		field("Active run", "%s (%s), workers %s running%s, started %s ago, %d messages at start",
			r.Name, r.Trigger, runningOfWanted(r), pending(r), ago(r.StartedAt, now), r.MessagesAtStart)
	} else {
		idle := "none"
		// Idle says nothing more; CoolingDown, BackingOff and Suspended say when the next run may start.
		if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionDraining); c != nil && c.Reason != "Idle" {
			idle += fmt.Sprintf(" (%s: %s)", c.Reason, c.Message)
		}
		field("Active run", "%s", idle)
	}

	if len(st.History) == 0 {
		field("Last runs", "none yet")
		return
	}
	fmt.Fprintln(w, "Last runs:")
	writeRuns(w, st.History[:min(lastRuns, len(st.History))], now, "  ")
}

// writeRuns is the table of finished runs, in the order given.
func writeRuns(w io.Writer, runs []v1alpha1.RunRecord, now time.Time, indent string) {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, indent+"NAME\tTRIGGER\tRESULT\tSTARTED\tDURATION\tWORKERS\tPROCESSED\tFAILED DELIVERIES\tDEAD-LETTERED\tMSG/S\tMESSAGE")
	for _, r := range runs {
		workers := fmt.Sprint(r.Workers)
		if r.WorkersWanted > 0 {
			workers = fmt.Sprintf("%d/%d", r.Workers, r.WorkersWanted)
		}
		message := ""
		if r.Result != v1alpha1.RunSucceeded {
			message = r.Message
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s ago\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", indent,
			r.Name, r.Trigger, r.Result, ago(r.StartedAt, now), runDuration(r), workers,
			count(r.MessagesProcessed), count(r.MessagesFailed), count(r.MessagesDeadLettered),
			orDash(r.MessagesPerSecond), message)
	}
	_ = tw.Flush()
	// A run without a message would end in the padding of the column before.
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
}

// writeTable is the status of many drainers, a row each, then a line for
// each drainer that needs attention, with the reason and message.
func writeTable(w io.Writer, drainers []v1alpha1.QueueDrainer, allNamespaces bool, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	ns := func(s string) string {
		if allNamespaces {
			return s + "\t"
		}
		return ""
	}
	fmt.Fprintln(tw, ns("NAMESPACE")+"NAME\tQUEUE\tVISIBLE\tIN FLIGHT\tOLDEST\tDLQ\tSTATUS\tRUN\tWORKERS\tLAST RESULT")
	var notes []string
	for i := range drainers {
		qd := &drainers[i]
		st := qd.Status
		visible, inFlight, oldestAge, dlq := "-", "-", "-", "-"
		if q := st.Queue; q != nil {
			visible, inFlight, oldestAge = fmt.Sprint(q.VisibleMessages), fmt.Sprint(q.InFlightMessages), age(q.OldestMessageAge)
			if q.DeadLetter != nil {
				dlq = fmt.Sprint(q.DeadLetter.VisibleMessages)
			}
		}
		run, workers := "-", "-"
		if r := st.ActiveRun; r != nil {
			run, workers = fmt.Sprintf("%s (%s)", r.Name, r.Trigger), runningOfWanted(r)
		}
		last := "-"
		if len(st.History) > 0 {
			h := st.History[0]
			last = fmt.Sprintf("%s %s ago", h.Result, ago(h.FinishedAt, now))
		}
		// The queue's name: the whole URL is in `status NAME`.
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ns(qd.Namespace), qd.Name, path.Base(qd.Spec.Queue.URL),
			visible, inFlight, oldestAge, dlq, health(qd), run, workers, last)
		for _, p := range problems(qd) {
			notes = append(notes, fmt.Sprintf("%s/%s: %s", qd.Namespace, qd.Name, p))
		}
	}
	_ = tw.Flush()
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
}

// liveLine is one line of progress, as `watch NAME` and `drain --wait`
// print it: the queue, then the active run or the latest one.
func liveLine(qd *v1alpha1.QueueDrainer, msgPerSec float64) string {
	st := qd.Status
	if st.Queue == nil {
		return "waiting for the operator to observe the queue"
	}
	line := fmt.Sprintf("visible %6d  in flight %5d  ", st.Queue.VisibleMessages, st.Queue.InFlightMessages)
	switch {
	case st.ActiveRun != nil:
		r := st.ActiveRun
		line += fmt.Sprintf("run %s (%s), workers %s running%s, %5.0f msg/s", r.Name, r.Trigger, runningOfWanted(r), pending(r), msgPerSec)
	case len(st.History) > 0:
		line += "run " + outcome(st.History[0])
	default:
		line += "no run yet"
	}
	if h := health(qd); h != "Ready" {
		line += "  [" + h + "]"
	}
	return line
}

// outcome says how a finished run ended: "orders-1 Succeeded: 50000
// messages in 40s", or its result and message.
func outcome(r v1alpha1.RunRecord) string {
	if r.Result != v1alpha1.RunSucceeded {
		return fmt.Sprintf("%s %s after %s: %s", r.Name, r.Result, runDuration(r), orDash(r.Message))
	}
	what := "messages"
	if r.Trigger == v1alpha1.TriggerRedrive {
		what = "messages moved back from the dead-letter queue"
	}
	return fmt.Sprintf("%s Succeeded: %s %s in %s", r.Name, count(r.MessagesProcessed), what, runDuration(r))
}

// health is the STATUS column: the condition that matters most, with its
// reason, and whether the drainer is suspended.
func health(qd *v1alpha1.QueueDrainer) string {
	conds := qd.Status.Conditions
	isTrue := func(t string) *metav1.Condition {
		if c := meta.FindStatusCondition(conds, t); c != nil && c.Status == metav1.ConditionTrue {
			return c
		}
		return nil
	}
	var s string
	ready := meta.FindStatusCondition(conds, v1alpha1.ConditionReady)
	switch {
	case isTrue(v1alpha1.ConditionStalled) != nil:
		s = "Stalled: " + isTrue(v1alpha1.ConditionStalled).Reason
	case isTrue(v1alpha1.ConditionReconciling) != nil:
		s = "Reconciling: " + isTrue(v1alpha1.ConditionReconciling).Reason
	case ready == nil:
		s = "Unknown"
	case ready.Status != metav1.ConditionTrue:
		s = "NotReady: " + ready.Reason
	default:
		s = "Ready"
	}
	if suspended(qd) {
		s += ", Suspended"
	}
	return s
}

// problems are the lines that explain an unhealthy drainer: its worst
// condition's message, and the latest run when it did not succeed.
func problems(qd *v1alpha1.QueueDrainer) []string {
	var out []string
	conds := qd.Status.Conditions
	for _, t := range []string{v1alpha1.ConditionStalled, v1alpha1.ConditionReconciling} {
		if c := meta.FindStatusCondition(conds, t); c != nil && c.Status == metav1.ConditionTrue {
			out = append(out, fmt.Sprintf("%s %s: %s", t, c.Reason, c.Message))
		}
	}
	if c := meta.FindStatusCondition(conds, v1alpha1.ConditionReady); len(out) == 0 && c != nil && c.Status != metav1.ConditionTrue {
		out = append(out, fmt.Sprintf("not Ready, %s: %s", c.Reason, c.Message))
	}
	if h := qd.Status.History; len(h) > 0 && h[0].Result != v1alpha1.RunSucceeded {
		out = append(out, "last run "+outcome(h[0]))
	}
	return out
}

// pendingRequests are the drain and redrive requests the operator has not
// acted on yet.
func pendingRequests(qd *v1alpha1.QueueDrainer) []string {
	var out []string
	for _, k := range requestKinds {
		if v := qd.Annotations[k.annotation]; v != "" && v != k.handled(&qd.Status) {
			out = append(out, fmt.Sprintf("%s at %s, not handled yet", k.name, v))
		}
	}
	return out
}

func oldest(qd *v1alpha1.QueueDrainer) string {
	if a := qd.Status.Queue.OldestMessageAge; a != nil {
		return age(a)
	}
	// Unknown: MetricsAvailable says why (no CloudWatch datapoint yet, stale, an error).
	if c := meta.FindStatusCondition(qd.Status.Conditions, v1alpha1.ConditionMetricsAvailable); c != nil && c.Status != metav1.ConditionTrue {
		return fmt.Sprintf("unknown (%s: %s)", c.Reason, c.Message)
	}
	return "unknown"
}

func suspended(qd *v1alpha1.QueueDrainer) bool {
	return qd.Spec.Suspend != nil && *qd.Spec.Suspend
}

// runningOfWanted is "4/6": the operator's own string when it wrote one.
func runningOfWanted(r *v1alpha1.ActiveRun) string {
	if r.RunningOfWanted != "" {
		return r.RunningOfWanted
	}
	return fmt.Sprintf("%d/%d", r.Running, r.Workers)
}

func pending(r *v1alpha1.ActiveRun) string {
	if r.Pending == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d pending)", r.Pending)
}

// ago is how long before now t was, as kubectl prints ages (5s, 3m10s, 2h).
func ago(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

func age(d *metav1.Duration) string {
	if d == nil {
		return "-"
	}
	return duration.HumanDuration(d.Duration)
}

func runDuration(r v1alpha1.RunRecord) string {
	return duration.HumanDuration(r.FinishedAt.Sub(r.StartedAt.Time))
}

func count(n *int64) string {
	if n == nil {
		return "-"
	}
	return fmt.Sprint(*n)
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
