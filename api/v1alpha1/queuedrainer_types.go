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

package v1alpha1

import (
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and annotations the operator reads and writes.
const (
	// DrainerLabel is set on every object the operator creates, to the QueueDrainer's name.
	DrainerLabel = "drain.queuedrainer.io/drainer"
	// RunLabel is set on a run's Job and its pods, to the run's name.
	RunLabel = "drain.queuedrainer.io/run"
	// DrainRequestAnnotation requests a drain now: set it to any new value
	// (a timestamp is customary). The handled value is echoed in
	// status.lastHandledDrainRequest.
	DrainRequestAnnotation = "drain.queuedrainer.io/requested-at"
	// RedriveRequestAnnotation requests a redrive: set it to any new value,
	// and a run moves the dead-letter queue's messages back to the queue.
	// The handled value is echoed in status.lastHandledRedriveRequest.
	RedriveRequestAnnotation = "drain.queuedrainer.io/redrive-requested-at"
	// TriggerAnnotation records on a run's Job what started it.
	TriggerAnnotation = "drain.queuedrainer.io/trigger"
	// MessagesAtStartAnnotation records on a run's Job the visible messages when it started.
	MessagesAtStartAnnotation = "drain.queuedrainer.io/messages-at-start"
)

// Environment variables the operator gives every container of a run, unless
// the container sets them itself.
const (
	// EnvQueueURL is the queue to drain: spec.queue.url.
	EnvQueueURL = "QUEUE_URL"
	// EnvRegion is the queue's region.
	EnvRegion = "AWS_REGION"
	// EnvRun is the run's name, which is also its Job's.
	EnvRun = "DRAIN_RUN"
)

// QueueDrainerSpec declares which queue to drain, when, and how.
// +kubebuilder:validation:XValidation:rule="!has(self.triggers.timeZone) || has(self.triggers.schedule)",message="triggers.timeZone only applies to triggers.schedule: set a schedule or remove the time zone",fieldPath=".triggers.timeZone"
type QueueDrainerSpec struct {
	// Queue is the SQS queue to watch and drain.
	// +required
	Queue QueueSpec `json:"queue"`

	// Triggers are the conditions that start a drain; any one of them fires.
	// A drain can also be requested by setting the annotation
	// drain.queuedrainer.io/requested-at to a new value.
	// +required
	Triggers Triggers `json:"triggers"`

	// Workers sizes the consumer Job. Default: messagesPerWorker 1000, min 1, max 10.
	// +optional
	// +kubebuilder:default={}
	Workers WorkerPolicy `json:"workers,omitempty"`

	// JobTemplate is the consumer Job run for each drain. Its pods must
	// consume until the queue is empty and then exit 0. The operator runs it
	// as an Indexed Job with one index per worker (completions equal to
	// parallelism, from the worker policy), so that a run can grow after
	// some workers have exited, and injects QUEUE_URL, AWS_REGION and
	// DRAIN_RUN into every container that does not set them. A container
	// that sets its own QUEUE_URL to another queue is accepted (an
	// emulator's URL for the same queue is legitimate), with a Warning
	// Event when a run starts; runs whose workers drain another queue are
	// ineffective and back off.
	// +required
	// +kubebuilder:validation:XValidation:rule="has(self.spec) && has(self.spec.template) && has(self.spec.template.spec) && size(self.spec.template.spec.containers) > 0",message="jobTemplate.spec.template.spec.containers must list at least one consumer container"
	// +kubebuilder:validation:XValidation:rule="!has(self.spec) || !has(self.spec.parallelism)",message="jobTemplate.spec.parallelism is set by the operator from workers; remove it",fieldPath=".spec.parallelism"
	// +kubebuilder:validation:XValidation:rule="!has(self.spec) || !has(self.spec.completions)",message="jobTemplate.spec.completions is set by the operator, equal to parallelism (one index per worker); remove it",fieldPath=".spec.completions"
	// +kubebuilder:validation:XValidation:rule="!has(self.spec) || !has(self.spec.completionMode) || self.spec.completionMode == 'Indexed'",message="jobTemplate.spec.completionMode must be Indexed or unset: the operator runs drain Jobs as Indexed Jobs so that a run can grow after some workers have exited",fieldPath=".spec.completionMode"
	// +kubebuilder:validation:XValidation:rule="!(has(self.spec) && has(self.spec.template) && has(self.spec.template.spec) && has(self.spec.template.spec.restartPolicy)) || self.spec.template.spec.restartPolicy in ['Never', 'OnFailure']",message="jobTemplate restartPolicy must be Never or OnFailure: consumer pods exit when the queue is empty",fieldPath=".spec.template.spec.restartPolicy"
	JobTemplate batchv1.JobTemplateSpec `json:"jobTemplate"`

	// PollInterval is how often the queue is observed. Default: 30s.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('1s')",message="pollInterval must be a duration of at least 1s, such as 30s or 1m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	PollInterval *metav1.Duration `json:"pollInterval,omitempty"`

	// Cooldown is the minimum time between the end of a run and the start of
	// the next one started by a trigger. Manual requests are not held back.
	// After runs that did not reduce the backlog, it doubles for each of them,
	// up to an hour. Default: 1m.
	// +optional
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('0s')",message="cooldown must be a non-negative duration such as 0s, 90s or 5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	Cooldown *metav1.Duration `json:"cooldown,omitempty"`

	// ConcurrencyPolicy says what a schedule or manual request does while a
	// run is active: Forbid lets the active run serve it, Replace stops the
	// active run and starts a new one. Depth and age triggers never replace a
	// run; they resize it. Default: Forbid.
	// +optional
	// +kubebuilder:default=Forbid
	ConcurrencyPolicy ConcurrencyPolicy `json:"concurrencyPolicy,omitempty"`

	// Suspend stops new runs from starting; an active run goes on.
	// +optional
	Suspend *bool `json:"suspend,omitempty"`

	// SuccessfulRunsHistoryLimit is how many succeeded runs keep their Job
	// and their entry in status.history. Default: 3.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=20
	SuccessfulRunsHistoryLimit *int32 `json:"successfulRunsHistoryLimit,omitempty"`

	// FailedRunsHistoryLimit is how many failed, ineffective, replaced or
	// deleted runs keep their entry in status.history; failed and
	// ineffective runs also keep their Job (for its logs), replaced ones
	// never do. Default: 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=20
	FailedRunsHistoryLimit *int32 `json:"failedRunsHistoryLimit,omitempty"`
}

// QueueSpec identifies an SQS queue.
// +kubebuilder:validation:XValidation:rule="!has(self.region) || !self.region.matches('^[a-z]{2}(-[a-z]+)+-[0-9]+$') || (self.url.startsWith('https://queue.amazonaws.com/') ? self.region == 'us-east-1' : (!(self.url.matches('^https://sqs[.][a-z0-9-]+[.]amazonaws[.]com') || self.url.matches('^https://[a-z0-9-]+[.]queue[.]amazonaws[.]com')) || self.url.startsWith('https://sqs.' + self.region + '.') || self.url.startsWith('https://' + self.region + '.queue.')))",messageExpression="'queue.region ' + self.region + ' does not match the region in queue.url ' + self.url",fieldPath=".region"
type QueueSpec struct {
	// URL is the queue URL, https://sqs.<region>.amazonaws.com/<account>/<name>.
	// To use an SQS emulator, point the operator at it with the standard
	// AWS_ENDPOINT_URL_SQS variable; the URL stays an SQS URL.
	// +required
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self.matches('^https://(sqs[.][a-z]{2}(-[a-z]+)+-[0-9]+[.]amazonaws[.]com([.]cn)?|[a-z]{2}(-[a-z]+)+-[0-9]+[.]queue[.]amazonaws[.]com([.]cn)?|queue[.]amazonaws[.]com)/[0-9]{12}/([A-Za-z0-9_-]{1,80}|[A-Za-z0-9_-]{1,75}[.]fifo)$')",message="queue.url must be an SQS queue URL such as https://sqs.us-east-1.amazonaws.com/123456789012/orders"
	URL string `json:"url"`

	// Region of the queue. When empty it is taken from the URL.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z]{2}(-[a-z]+)+-[0-9]+$')",message="queue.region must be an AWS region such as us-east-1"
	Region string `json:"region,omitempty"`

	// RoleARN is an IAM role the operator assumes to observe this queue. The
	// operator refuses roles its --allowed-role-arns patterns do not permit.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^arn:aws(-cn|-us-gov|-iso|-iso-b)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$')",message="queue.roleARN must be an IAM role ARN such as arn:aws:iam::123456789012:role/orders-drain"
	RoleARN string `json:"roleARN,omitempty"`
}

// Triggers start a drain when any one of them fires.
// +kubebuilder:validation:XValidation:rule="has(self.queueDepth) || has(self.oldestMessageAge) || has(self.schedule)",message="triggers must set at least one of queueDepth, oldestMessageAge or schedule"
type Triggers struct {
	// QueueDepth starts a drain when at least this many messages are
	// visible (SQS ApproximateNumberOfMessages).
	// +optional
	// +kubebuilder:validation:Minimum=1
	QueueDepth *int64 `json:"queueDepth,omitempty"`

	// OldestMessageAge starts a drain when the oldest message is at least
	// this old (CloudWatch ApproximateAgeOfOldestMessage) and messages are
	// visible. A stale or missing datapoint never fires it.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('1s')",message="triggers.oldestMessageAge must be a positive duration such as 10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	OldestMessageAge *metav1.Duration `json:"oldestMessageAge,omitempty"`

	// Schedule is a cron expression (5 fields, or @hourly, @daily, ...): at
	// these times a drain starts if messages are visible. A time missed while
	// the operator was down is caught up once, never replayed in a burst.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('(?i)^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|([*]|([0-5]?[0-9])(-([0-5]?[0-9]))?)(/0*[1-9][0-9]*)?(,([*]|([0-5]?[0-9])(-([0-5]?[0-9]))?)(/0*[1-9][0-9]*)?)* +([*]|([01]?[0-9]|2[0-3])(-([01]?[0-9]|2[0-3]))?)(/0*[1-9][0-9]*)?(,([*]|([01]?[0-9]|2[0-3])(-([01]?[0-9]|2[0-3]))?)(/0*[1-9][0-9]*)?)* +([*?]|(0?[1-9]|[12][0-9]|3[01])(-(0?[1-9]|[12][0-9]|3[01]))?)(/0*[1-9][0-9]*)?(,([*?]|(0?[1-9]|[12][0-9]|3[01])(-(0?[1-9]|[12][0-9]|3[01]))?)(/0*[1-9][0-9]*)?)* +([*]|(0?[1-9]|1[0-2]|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)(-(0?[1-9]|1[0-2]|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))?)(/0*[1-9][0-9]*)?(,([*]|(0?[1-9]|1[0-2]|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)(-(0?[1-9]|1[0-2]|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))?)(/0*[1-9][0-9]*)?)* +([*?]|([0-7]|sun|mon|tue|wed|thu|fri|sat)(-([0-7]|sun|mon|tue|wed|thu|fri|sat))?)(/0*[1-9][0-9]*)?(,([*?]|([0-7]|sun|mon|tue|wed|thu|fri|sat)(-([0-7]|sun|mon|tue|wed|thu|fri|sat))?)(/0*[1-9][0-9]*)?)*)$')",message="triggers.schedule must be a cron expression with 5 fields (minute hour day-of-month month day-of-week), such as */15 * * * *, or one of @hourly, @daily, @weekly, @monthly, @yearly"
	Schedule string `json:"schedule,omitempty"`

	// TimeZone of the schedule, an IANA name such as Asia/Seoul. Default UTC.
	// "Local" is refused: it would be the operator's own zone.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z][A-Za-z0-9_+/-]*$') && self != 'Local'",message="triggers.timeZone must be an IANA time zone name such as Asia/Seoul"
	TimeZone string `json:"timeZone,omitempty"`
}

// WorkerPolicy sizes a run: parallelism = ceil(visible / messagesPerWorker),
// raised to finish within drainWithin when throughput is known, and kept
// within [min, max].
// +kubebuilder:validation:XValidation:rule="!has(self.min) || !has(self.max) || self.min <= self.max",messageExpression="'workers.min (%d) must not be greater than workers.max (%d)'.format([self.min, self.max])"
type WorkerPolicy struct {
	// MessagesPerWorker is the backlog one worker is given. Default: 1000.
	// +optional
	// +kubebuilder:default=1000
	// +kubebuilder:validation:Minimum=1
	MessagesPerWorker int64 `json:"messagesPerWorker,omitempty"`

	// Min is the fewest workers a run starts with. Default: 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Min int32 `json:"min,omitempty"`

	// Max is the most workers a run may have, including mid-run scale-ups. Default: 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Max int32 `json:"max,omitempty"`

	// DrainWithin asks for enough workers to empty the backlog in this time,
	// using the throughput learned from earlier runs. Until a run has
	// finished, sizing uses messagesPerWorker alone.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('1s')",message="workers.drainWithin must be a positive duration such as 5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	DrainWithin *metav1.Duration `json:"drainWithin,omitempty"`
}

// ConcurrencyPolicy says what a schedule or manual request does while a run is active.
// +kubebuilder:validation:Enum=Forbid;Replace
type ConcurrencyPolicy string

const (
	// ForbidConcurrent lets the active run serve the request.
	ForbidConcurrent ConcurrencyPolicy = "Forbid"
	// ReplaceConcurrent stops the active run and starts a new one.
	ReplaceConcurrent ConcurrencyPolicy = "Replace"
)

// Trigger names what started a run.
type Trigger string

const (
	TriggerQueueDepth       Trigger = "QueueDepth"
	TriggerOldestMessageAge Trigger = "OldestMessageAge"
	TriggerSchedule         Trigger = "Schedule"
	TriggerManual           Trigger = "Manual"
	// TriggerRedrive marks a run that moves the dead-letter queue's messages
	// back to the queue, started by the redrive-requested-at annotation.
	TriggerRedrive Trigger = "Redrive"
)

// RunResult is how a run ended.
type RunResult string

const (
	// RunSucceeded: the Job completed; its workers found the queue empty.
	RunSucceeded RunResult = "Succeeded"
	// RunFailed: the Job failed (for example past its backoffLimit).
	RunFailed RunResult = "Failed"
	// RunReplaced: a newer run replaced it (concurrencyPolicy Replace).
	RunReplaced RunResult = "Replaced"
	// RunDeleted: its Job was deleted by someone else before it finished.
	RunDeleted RunResult = "Deleted"
	// RunIneffective: the Job completed but did not reduce the backlog: its
	// workers processed no message while messages were visible, or they
	// drained another queue than spec.queue.url. Consecutive ineffective
	// (and failed) runs back off.
	RunIneffective RunResult = "Ineffective"
)

// QueueDrainerStatus is what the operator last saw and did.
type QueueDrainerStatus struct {
	// ObservedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Queue is the latest observation of the queue.
	// +optional
	Queue *QueueStatus `json:"queue,omitempty"`

	// ActiveRun is the run in progress, if any.
	// +optional
	ActiveRun *ActiveRun `json:"activeRun,omitempty"`

	// History lists finished runs, newest first, within the history limits.
	// +optional
	// +listType=atomic
	History []RunRecord `json:"history,omitempty"`

	// Throughput is learned from finished runs and used by workers.drainWithin.
	// +optional
	Throughput *Throughput `json:"throughput,omitempty"`

	// LastRunNumber numbers runs: the next run's Job is <name>-<LastRunNumber+1>.
	// +optional
	LastRunNumber int64 `json:"lastRunNumber,omitempty"`

	// LastRunFinishedAt is when the latest run ended; cooldown counts from it.
	// +optional
	LastRunFinishedAt *metav1.Time `json:"lastRunFinishedAt,omitempty"`

	// IneffectiveRuns counts the latest runs in a row that did not reduce
	// the backlog (Ineffective, or Failed with no message processed). While
	// it is above zero, trigger-started runs wait cooldown doubled for each
	// of them, up to an hour; a manual request is not held back. An
	// effective run or a change of spec resets it.
	// +optional
	IneffectiveRuns int32 `json:"ineffectiveRuns,omitempty"`

	// LastScheduleTime is the latest schedule time that was handled.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`

	// NextScheduleTime is the next schedule time.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`

	// LastHandledDrainRequest is the value of the
	// drain.queuedrainer.io/requested-at annotation last acted on.
	// +optional
	LastHandledDrainRequest string `json:"lastHandledDrainRequest,omitempty"`

	// LastHandledRedriveRequest is the value of the
	// drain.queuedrainer.io/redrive-requested-at annotation last acted on.
	// +optional
	LastHandledRedriveRequest string `json:"lastHandledRedriveRequest,omitempty"`

	// Conditions: Ready, Draining, QueueReachable, MetricsAvailable.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// QueueStatus is an observation of the queue.
type QueueStatus struct {
	// VisibleMessages is SQS ApproximateNumberOfMessages.
	VisibleMessages int64 `json:"visibleMessages"`
	// InFlightMessages is SQS ApproximateNumberOfMessagesNotVisible.
	InFlightMessages int64 `json:"inFlightMessages"`
	// DelayedMessages is SQS ApproximateNumberOfMessagesDelayed.
	DelayedMessages int64 `json:"delayedMessages"`
	// OldestMessageAge is CloudWatch ApproximateAgeOfOldestMessage; absent
	// when unknown or stale.
	// +optional
	OldestMessageAge *metav1.Duration `json:"oldestMessageAge,omitempty"`
	// OldestMessageAgeTimestamp is the time of the CloudWatch datapoint.
	// +optional
	OldestMessageAgeTimestamp *metav1.Time `json:"oldestMessageAgeTimestamp,omitempty"`
	// ObservedAt is when SQS was asked.
	ObservedAt metav1.Time `json:"observedAt"`
	// DeadLetter is the dead-letter queue the queue's RedrivePolicy names;
	// absent when it has none.
	// +optional
	DeadLetter *DeadLetterStatus `json:"deadLetter,omitempty"`
}

// DeadLetterStatus is an observation of a dead-letter queue.
type DeadLetterStatus struct {
	// URL of the dead-letter queue.
	URL string `json:"url"`
	// VisibleMessages is its ApproximateNumberOfMessages: messages that
	// failed maxReceiveCount times and wait there.
	VisibleMessages int64 `json:"visibleMessages"`
}

// ActiveRun is a run in progress.
type ActiveRun struct {
	// Name of the run and of its Job.
	Name string `json:"name"`
	// Trigger that started it.
	Trigger Trigger `json:"trigger"`
	// StartedAt is when the Job was created.
	StartedAt metav1.Time `json:"startedAt"`
	// Workers is how many workers the run wants: the Job's parallelism.
	Workers int32 `json:"workers"`
	// Running is how many workers are running, from the Job's status: its
	// ready pods (a consumer without a readiness probe is ready once its
	// containers have started).
	// +optional
	Running int32 `json:"running,omitempty"`
	// Pending is how many workers were created and are not running yet:
	// waiting for a node, an image or their start (the Job's active pods
	// that are not ready).
	// +optional
	Pending int32 `json:"pending,omitempty"`
	// Succeeded is how many workers are done: they found the queue empty
	// and exited 0.
	// +optional
	Succeeded int32 `json:"succeeded,omitempty"`
	// Failed is how many worker pods failed (the Job replaces them within
	// its backoffLimit).
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// MostRunning is the most workers seen running at once in this run.
	// +optional
	MostRunning int32 `json:"mostRunning,omitempty"`
	// RunningOfWanted is running/wanted, as kubectl shows it: "4/6".
	// +optional
	RunningOfWanted string `json:"runningOfWanted,omitempty"`
	// MessagesAtStart is the visible backlog when the run started.
	MessagesAtStart int64 `json:"messagesAtStart"`
	// DeadLetterAtStart is the dead-letter queue's visible messages when the
	// run started, when it has one.
	// +optional
	DeadLetterAtStart *int64 `json:"deadLetterAtStart,omitempty"`
}

// RunRecord is a finished run.
type RunRecord struct {
	// Name of the run and of its Job.
	Name string `json:"name"`
	// Trigger that started it.
	Trigger Trigger `json:"trigger"`
	// Result is how it ended.
	Result RunResult `json:"result"`
	// Message explains a result other than Succeeded: for a failed run the
	// Job's reason and the first error its workers reported; for an
	// ineffective one why it did not reduce the backlog.
	// +optional
	Message string `json:"message,omitempty"`
	// StartedAt is when the Job was created.
	StartedAt metav1.Time `json:"startedAt"`
	// FinishedAt is when the Job finished.
	FinishedAt metav1.Time `json:"finishedAt"`
	// Workers is the most workers that ran at once, from their pods' start
	// and finish times.
	Workers int32 `json:"workers"`
	// WorkersWanted is the most workers the run asked for (the Job's
	// highest parallelism).
	// +optional
	WorkersWanted int32 `json:"workersWanted,omitempty"`
	// MessagesAtStart is the visible backlog when the run started.
	MessagesAtStart int64 `json:"messagesAtStart"`
	// MessagesAtEnd is the visible backlog when the end was seen, if SQS answered.
	// +optional
	MessagesAtEnd *int64 `json:"messagesAtEnd,omitempty"`
	// MessagesProcessed is how many messages the workers handled and
	// deleted, an exact count when they report it; for a Redrive run, how
	// many it moved back from the dead-letter queue.
	// +optional
	MessagesProcessed *int64 `json:"messagesProcessed,omitempty"`
	// MessagesFailed is how many deliveries the workers' handler failed,
	// when they report it. A message that fails on every delivery counts
	// once per delivery: it is a count of attempts, not of messages.
	// +optional
	MessagesFailed *int64 `json:"messagesFailed,omitempty"`
	// MessagesDeadLettered is how many messages reached the dead-letter
	// queue during the run: the rise of its depth from the run's start to
	// its end. Approximate: SQS counts are, and another consumer of the
	// dead-letter queue would hide some.
	// +optional
	MessagesDeadLettered *int64 `json:"messagesDeadLettered,omitempty"`
	// MessagesPerSecond is the run's drain rate, a decimal string.
	// +optional
	MessagesPerSecond string `json:"messagesPerSecond,omitempty"`
}

// Throughput is the learned consumer speed.
type Throughput struct {
	// MessagesPerWorkerSecond is a decimal string, such as "310.5".
	MessagesPerWorkerSecond string `json:"messagesPerWorkerSecond"`
	// Runs is how many finished runs it was learned from.
	Runs int32 `json:"runs"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=qd,categories=all
// +kubebuilder:printcolumn:name="Visible",type=integer,JSONPath=".status.queue.visibleMessages"
// +kubebuilder:printcolumn:name="Oldest",type=string,JSONPath=".status.queue.oldestMessageAge"
// +kubebuilder:printcolumn:name="DLQ",type=integer,JSONPath=".status.queue.deadLetter.visibleMessages",description="messages in the dead-letter queue"
// +kubebuilder:printcolumn:name="Draining",type=string,JSONPath=".status.conditions[?(@.type==\"Draining\")].status"
// +kubebuilder:printcolumn:name="Workers",type=string,JSONPath=".status.activeRun.runningOfWanted",description="workers running/wanted"
// +kubebuilder:printcolumn:name="Last Result",type=string,JSONPath=".status.history[0].result"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=".status.conditions[?(@.type==\"Ready\")].status",priority=1
// +kubebuilder:printcolumn:name="Run",type=string,JSONPath=".status.activeRun.name",priority=1
// +kubebuilder:printcolumn:name="Queue",type=string,JSONPath=".spec.queue.url",priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 52",message="metadata.name must be at most 52 characters, so that run Job names (<name>-<run number>) stay within 63"
//
// spec.queue is fixed while a run is active. The run's Job was made for the
// old queue (its pods have its QUEUE_URL), while the operator would observe
// the new one, size the old run by the new queue's backlog and record its
// end against the wrong queue. Refusing the change is simpler and clearer
// than making a running Job follow it. The rule is on the root because only
// there can it read status, which users cannot write: an active run is
// status.activeRun. Suspending does not stop a run, so the message says what does.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.activeRun) || self.spec.queue == oldSelf.spec.queue",messageExpression="'spec.queue cannot change while run ' + oldSelf.status.activeRun.name + ' is active: wait for it to finish, or delete its Job, then change the queue'",fieldPath=".spec.queue"

// QueueDrainer drains an SQS queue with a consumer Job when a trigger fires.
type QueueDrainer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec QueueDrainerSpec `json:"spec"`
	// +optional
	Status QueueDrainerStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// QueueDrainerList is a list of QueueDrainers.
type QueueDrainerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []QueueDrainer `json:"items"`
}
