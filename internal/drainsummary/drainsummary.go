// Package drainsummary is the contract between a drain worker and the
// operator: the one-line JSON a worker leaves as its termination message,
//
//	{"kind":"DrainSummary","received":1234,"processed":1200,"failed":30,"released":4,"seconds":12.5}
//
// which the operator adds up over a run's pods to record how the run went.
package drainsummary

import (
	"encoding/json"
	"strings"
)

// Kind marks a Summary's JSON, so that other termination messages are
// never mistaken for one.
const Kind = "DrainSummary"

// Summary is what one worker's drain did.
type Summary struct {
	Kind      string  `json:"kind"`
	Received  int64   `json:"received"`
	Processed int64   `json:"processed"`
	Failed    int64   `json:"failed"`
	Released  int64   `json:"released"`
	Seconds   float64 `json:"seconds"`
}

// Line is the summary as its one line of JSON (without the newline).
func (s Summary) Line() []byte {
	s.Kind = Kind
	line, _ := json.Marshal(s) // plain numbers and a string: cannot fail
	return line
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
