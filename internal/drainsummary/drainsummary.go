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

// Package drainsummary is the contract between a drain worker and the
// operator: the one-line JSON a worker leaves as its termination message,
//
//	{"kind":"DrainSummary","queue":"https://sqs.us-east-1.amazonaws.com/123456789012/orders",
//	 "received":1234,"processed":1200,"failed":30,"released":4,"seconds":12.5}
//
// (on one line), which the operator adds up over a run's pods to record how
// the run went, and reads to tell which queue the workers drained and why
// they stopped.
package drainsummary

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Kind marks a Summary's JSON, so that other termination messages are
// never mistaken for one.
const Kind = "DrainSummary"

// Summary is what one worker's drain did.
type Summary struct {
	Kind string `json:"kind"`
	// Queue is the queue the worker drained, as it was given it (QUEUE_URL
	// or --queue-url): the operator compares it with spec.queue.url.
	Queue     string  `json:"queue,omitempty"`
	Received  int64   `json:"received"`
	Processed int64   `json:"processed"`
	Failed    int64   `json:"failed"`
	Released  int64   `json:"released"`
	Seconds   float64 `json:"seconds"`
	// Error is why the worker stopped before it found the queue empty
	// (it could not reach SQS, the queue does not exist, access denied...);
	// empty when it drained the queue or was stopped.
	Error string `json:"error,omitempty"`
	// LastFailure is the handler's last failure, when deliveries failed.
	LastFailure string `json:"lastFailure,omitempty"`
}

// MaxText is how many bytes of Error, LastFailure and Queue a Line keeps:
// Kubernetes keeps at most 4096 bytes of a termination message.
const MaxText = 1024

// Line is the summary as its one line of JSON (without the newline), its
// texts cut to MaxText bytes so that it fits a termination message.
func (s Summary) Line() []byte {
	s.Kind = Kind
	s.Queue, s.Error, s.LastFailure = clip(s.Queue), clip(s.Error), clip(s.LastFailure)
	line, _ := json.Marshal(s) // plain numbers and strings: cannot fail
	return line
}

// clip cuts s to at most MaxText bytes without splitting a character.
func clip(s string) string {
	if len(s) <= MaxText {
		return s
	}
	cut := MaxText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// Parse reads a termination message as a summary. It must be a JSON
// object of kind DrainSummary that says how many messages it processed; a
// missing count other than that is zero. Anything else (plain text,
// invalid or truncated JSON, negative counts) is not a summary.
func Parse(msg string) (Summary, bool) {
	msg = strings.TrimSpace(msg)
	if !strings.HasPrefix(msg, "{") {
		return Summary{}, false // spare the decoder the usual plain-text messages
	}
	var s struct {
		Summary
		Processed *int64 `json:"processed"` // shadows Summary.Processed, to tell absent from zero
	}
	if err := json.Unmarshal([]byte(msg), &s); err != nil || s.Kind != Kind || s.Processed == nil {
		return Summary{}, false
	}
	s.Summary.Processed = *s.Processed
	if s.Received < 0 || s.Summary.Processed < 0 || s.Failed < 0 || s.Released < 0 {
		return Summary{}, false
	}
	return s.Summary, true
}
