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
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
)

// The metrics' namespace (their names' prefix) and labels. A drainer's
// series carry its namespace and name.
const (
	metricsNamespace = "queuedrainer"
	labelNamespace   = "namespace"
	labelName        = "name"
	labelTrigger     = "trigger"
	labelResult      = "result"
)

var drainerLabels = []string{labelNamespace, labelName}

// Metrics on controller-runtime's registry, served by the manager's metrics endpoint.
var (
	queueVisible = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "queue_visible_messages",
		Help: "Visible messages in the drainer's queue (SQS ApproximateNumberOfMessages).",
	}, drainerLabels)
	queueInFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "queue_in_flight_messages",
		Help: "Messages received but not deleted (SQS ApproximateNumberOfMessagesNotVisible).",
	}, drainerLabels)
	queueOldestAge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "queue_oldest_message_age_seconds",
		Help: "Age of the oldest message from CloudWatch; absent while unknown or stale.",
	}, drainerLabels)
	queueReachable = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "queue_reachable",
		Help: "1 when SQS answered the drainer's last observation, 0 when it could not be asked.",
	}, drainerLabels)
	deadLetterVisible = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "dead_letter_visible_messages",
		Help: "Visible messages in the queue's dead-letter queue; absent when it has none.",
	}, drainerLabels)
	messagesProcessed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "messages_processed_total",
		Help: "Messages the workers reported processed (handled and deleted), added when a run is recorded.",
	}, drainerLabels)
	messagesDeadLettered = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "messages_dead_lettered_total",
		Help: "Messages that reached the dead-letter queue during runs (approximate), added when a run is recorded.",
	}, drainerLabels)
	activeWorkers = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "active_run_workers",
		Help: "Parallelism of the drainer's active run (the workers it wants), 0 when idle.",
	}, drainerLabels)
	runningWorkers = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "active_run_running_workers",
		Help: "Workers of the drainer's active run that are running (its Job's ready pods), 0 when idle.",
	}, drainerLabels)
	pendingWorkers = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "active_run_pending_workers",
		Help: "Workers of the drainer's active run created and not running yet (unschedulable, pulling...), 0 when idle.",
	}, drainerLabels)
	ineffectiveRuns = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "ineffective_runs",
		Help: "Runs in a row that did not reduce the drainer's backlog; above 0, trigger-started runs back off.",
	}, drainerLabels)
	runsStarted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "runs_started_total",
		Help: "Drain runs started, by trigger.",
	}, []string{labelNamespace, labelName, labelTrigger})
	runsFinished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "runs_finished_total",
		Help: "Drain runs finished, by result and trigger.",
	}, []string{labelNamespace, labelName, labelResult, labelTrigger})
	runDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Name: "run_duration_seconds",
		Help:    "Duration of finished drain runs.",
		Buckets: prometheus.ExponentialBuckets(10, 2, 12), // 10 s to about 5.7 h
	}, []string{labelResult, labelTrigger})
)

func init() {
	metrics.Registry.MustRegister(queueVisible, queueInFlight, queueOldestAge, queueReachable, deadLetterVisible,
		activeWorkers, runningWorkers, pendingWorkers, ineffectiveRuns,
		runsStarted, runsFinished, runDuration, messagesProcessed, messagesDeadLettered)
}

// recordObservation publishes what the latest observation of a drainer's
// queue says, on every poll (status renews its counts less often).
func recordObservation(drainer types.NamespacedName, o plan.Observation) {
	ns, name := drainer.Namespace, drainer.Name
	if o.Err != nil {
		queueReachable.WithLabelValues(ns, name).Set(0)
		return // the last good numbers stay
	}
	queueReachable.WithLabelValues(ns, name).Set(1)
	queueVisible.WithLabelValues(ns, name).Set(float64(o.Visible))
	queueInFlight.WithLabelValues(ns, name).Set(float64(o.InFlight))
	if age, ok := plan.FreshAge(o, time.Now()); ok {
		if o.Visible+o.InFlight == 0 {
			age = 0 // as status says: an empty queue has no oldest message
		}
		queueOldestAge.WithLabelValues(ns, name).Set(age.Seconds())
	} else {
		queueOldestAge.DeleteLabelValues(ns, name)
	}
	switch dl := o.DeadLetter; {
	case dl == nil:
		deadLetterVisible.DeleteLabelValues(ns, name)
	case dl.Err == nil:
		deadLetterVisible.WithLabelValues(ns, name).Set(float64(dl.Visible))
	}
}

// recordMetrics publishes a drainer's status and the runs it just started or finished.
func recordMetrics(qd *v1alpha1.QueueDrainer, st *v1alpha1.QueueDrainerStatus, started *v1alpha1.ActiveRun, finished []v1alpha1.RunRecord) {
	ns, name := qd.Namespace, qd.Name
	var run v1alpha1.ActiveRun // zero when idle
	if st.ActiveRun != nil {
		run = *st.ActiveRun
	}
	activeWorkers.WithLabelValues(ns, name).Set(float64(run.Workers))
	runningWorkers.WithLabelValues(ns, name).Set(float64(run.Running))
	pendingWorkers.WithLabelValues(ns, name).Set(float64(run.Pending))
	ineffectiveRuns.WithLabelValues(ns, name).Set(float64(st.IneffectiveRuns))
	if started != nil {
		runsStarted.WithLabelValues(ns, name, string(started.Trigger)).Inc()
	}
	for _, r := range finished {
		runsFinished.WithLabelValues(ns, name, string(r.Result), string(r.Trigger)).Inc()
		runDuration.WithLabelValues(string(r.Result), string(r.Trigger)).Observe(r.FinishedAt.Sub(r.StartedAt.Time).Seconds())
		if n := r.MessagesProcessed; n != nil {
			messagesProcessed.WithLabelValues(ns, name).Add(float64(*n))
		}
		if n := r.MessagesDeadLettered; n != nil {
			messagesDeadLettered.WithLabelValues(ns, name).Add(float64(*n))
		}
	}
}

// forgetMetrics drops the series of a deleted drainer.
func forgetMetrics(ns, name string) {
	labels := map[string]string{labelNamespace: ns, labelName: name}
	for _, v := range []*prometheus.GaugeVec{queueVisible, queueInFlight, queueOldestAge, queueReachable, deadLetterVisible,
		activeWorkers, runningWorkers, pendingWorkers, ineffectiveRuns} {
		v.DeletePartialMatch(labels)
	}
	for _, v := range []*prometheus.CounterVec{runsStarted, runsFinished, messagesProcessed, messagesDeadLettered} {
		v.DeletePartialMatch(labels)
	}
}
