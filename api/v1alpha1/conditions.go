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

// This file is the one home of the names the operator writes in status
// conditions and Events. The operator's packages use these constants; a
// test checks the README's lists against them.

// Condition types.
const (
	// ConditionReady is True when the drainer is configured correctly and its queue is reachable.
	ConditionReady = "Ready"
	// ConditionDraining is True while a run is active.
	ConditionDraining = "Draining"
	// ConditionQueueReachable is False when SQS could not be asked about the queue.
	ConditionQueueReachable = "QueueReachable"
	// ConditionMetricsAvailable is False when the CloudWatch age of the oldest message is unknown.
	ConditionMetricsAvailable = "MetricsAvailable"
	// ConditionStalled is present, and True, while the drainer cannot work
	// without a person: the queue does not exist, access is denied, the
	// role is not allowed, the schedule is invalid, or the consumer does not
	// reduce the backlog. kstatus (Flux) reads it as Failed.
	ConditionStalled = "Stalled"
	// ConditionReconciling is present, and True, while a transient AWS
	// error (throttling, the network) is retried. kstatus reads it as InProgress.
	ConditionReconciling = "Reconciling"
)

// Condition reasons. Draining=True has the active run's Trigger as its
// reason (QueueDepth, OldestMessageAge, Schedule, Manual, Redrive).
const (
	// ReasonWatching (Ready=True): the queue is observed.
	ReasonWatching = "Watching"
	// ReasonQueueObserved (QueueReachable=True): SQS answers for the queue.
	ReasonQueueObserved = "QueueObserved"
	// ReasonDatapointFresh (MetricsAvailable=True): the age of the oldest message is known.
	ReasonDatapointFresh = "DatapointFresh"
	// ReasonRunActive (Draining=True): a run adopted from a Job that does
	// not say what started it.
	ReasonRunActive = "RunActive"
	// ReasonIdle, ReasonCoolingDown, ReasonSuspended (Draining=False).
	ReasonIdle        = "Idle"
	ReasonCoolingDown = "CoolingDown"
	ReasonSuspended   = "Suspended"
	// ReasonBackingOff (Draining=False): ineffective runs hold back the next one.
	ReasonBackingOff = "BackingOff"
	// ReasonIneffectiveConsumer (Ready=False, Stalled): runs in a row did
	// not reduce the backlog.
	ReasonIneffectiveConsumer = "IneffectiveConsumer"

	// Why a queue cannot be observed (QueueReachable=False, Ready=False,
	// and Stalled or Reconciling), or its metrics cannot be read
	// (MetricsAvailable=False).
	ReasonQueueDoesNotExist = "QueueDoesNotExist"
	ReasonAccessDenied      = "AccessDenied"
	ReasonThrottling        = "Throttling"
	ReasonNetworkError      = "NetworkError"
	ReasonAWSError          = "AWSError"
	ReasonRoleNotAllowed    = "RoleNotAllowed"
	ReasonInvalidQueueURL   = "InvalidQueueURL"
	ReasonBadResponse       = "BadResponse"

	// Why the age of the oldest message is unknown (MetricsAvailable=False).
	// ReasonNotPolledYet: CloudWatch has not been asked about the queue yet,
	// which is expected at start and no warning.
	ReasonNotPolledYet = "NotPolledYet"
	// ReasonNoDatapoint: CloudWatch has no recent datapoint, usual for an
	// empty, quiet queue.
	ReasonNoDatapoint = "NoDatapoint"
	// ReasonStaleDatapoint: the newest datapoint is too old to trust.
	ReasonStaleDatapoint = "StaleDatapoint"
)

// Reasons that are both a condition's and an Event's.
const (
	// ReasonWorkersPending (Draining=True, Warning Event): a run's workers
	// have waited to run past the pending grace.
	ReasonWorkersPending = "WorkersPending"
	// ReasonInvalidSchedule (Ready=False, Stalled, Warning Event): the
	// schedule cannot be evaluated.
	ReasonInvalidSchedule = "InvalidSchedule"
)

// Event reasons.
const (
	ReasonDrainStarted       = "DrainStarted"
	ReasonDrainScaled        = "DrainScaled"
	ReasonDrainSucceeded     = "DrainSucceeded"
	ReasonDrainFailed        = "DrainFailed"
	ReasonDrainReplaced      = "DrainReplaced"
	ReasonDrainJobDeleted    = "DrainJobDeleted"
	ReasonDrainRequestJoined = "DrainRequestJoined"
	ReasonDrainIneffective   = "DrainIneffective"
	ReasonDeadLettered       = "MessagesDeadLettered"
	ReasonRedriveSucceeded   = "RedriveSucceeded"
	ReasonRedriveImpossible  = "RedriveImpossible"
	ReasonQueueURLOverridden = "QueueURLOverridden"
	ReasonQueueUnreachable   = "QueueUnreachable"
	ReasonQueueReachable     = "QueueReachable"
	ReasonMetricsUnavailable = "MetricsUnavailable"
	// ReasonJobNameTaken: the run's Job name belongs to an object the
	// drainer does not own.
	ReasonJobNameTaken = "JobNameTaken"
	// ReasonJobCreateFailed: the API server refused the run's Job.
	ReasonJobCreateFailed = "JobCreateFailed"
)
