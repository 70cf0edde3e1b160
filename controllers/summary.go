package controllers

import (
	"encoding/json"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// SummaryKind marks the one-line JSON a drain worker writes to its
// termination message on exit:
//
//	{"kind":"DrainSummary","received":1234,"processed":1200,"failed":30,"released":4,"seconds":12.5}
const SummaryKind = "DrainSummary"

// drainSummary is the part of a worker's summary the operator records.
type drainSummary struct {
	Kind      string `json:"kind"`
	Processed *int64 `json:"processed"`
	Failed    *int64 `json:"failed"`
}

// workerCounts adds up the summaries that the containers of a run's pods
// left in their termination messages. Every attempt counts: a pod the Job
// retried, a failed pod, an init container, and a container's previous
// termination when the pod restarted it in place, since each attempt
// processed different messages (a message is deleted only once processed).
// Containers that have not terminated, and messages that are not a
// DrainSummary (other text, invalid or truncated JSON, negative counts), add
// nothing. reported is false, and the counts nil, when no container
// reported.
func workerCounts(pods []corev1.Pod) (processed, failed *int64, reported bool) {
	var p, f int64
	for i := range pods {
		st := &pods[i].Status
		for _, statuses := range [][]corev1.ContainerStatus{st.InitContainerStatuses, st.ContainerStatuses} {
			for _, cs := range statuses {
				for _, term := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
					if term == nil {
						continue
					}
					if s, ok := parseSummary(term.Message); ok {
						p += s.processed
						f += s.failed
						reported = true
					}
				}
			}
		}
	}
	if !reported {
		return nil, nil, false
	}
	return &p, &f, true
}

type counts struct{ processed, failed int64 }

// parseSummary reads a termination message as a worker's summary. A
// summary must say how many messages it processed; a missing failed count
// is zero.
func parseSummary(msg string) (counts, bool) {
	msg = strings.TrimSpace(msg)
	if !strings.HasPrefix(msg, "{") {
		return counts{}, false // not JSON: spare the decoder the usual plain-text messages
	}
	var s drainSummary
	if err := json.Unmarshal([]byte(msg), &s); err != nil || s.Kind != SummaryKind || s.Processed == nil {
		return counts{}, false
	}
	c := counts{processed: *s.Processed}
	if s.Failed != nil {
		c.failed = *s.Failed
	}
	if c.processed < 0 || c.failed < 0 {
		return counts{}, false
	}
	return c, true
}
