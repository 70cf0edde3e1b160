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

package drainsummary

import (
	"strings"
	"testing"
)

func TestALineParsesBackToTheSameSummary(t *testing.T) {
	s := Summary{Received: 1234, Processed: 1200, Failed: 30, Released: 4, Seconds: 12.5}
	line := string(s.Line())
	if want := `{"kind":"DrainSummary","received":1234,"processed":1200,"failed":30,"released":4,"seconds":12.5}`; line != want {
		t.Fatalf("Line() = %s, want %s", line, want)
	}
	got, ok := Parse(" \n" + line + "\n")
	s.Kind = Kind
	if !ok || got != s {
		t.Fatalf("Parse(Line()) = %+v, %v; want %+v", got, ok, s)
	}
}

func TestALineKeepsItsTextsWithinATerminationMessage(t *testing.T) {
	long := strings.Repeat("€", MaxText) // 3 bytes each
	s := Summary{Queue: long, Processed: 1, Error: long, LastFailure: "exit status 1: " + long}
	line := s.Line()
	if len(line) > 4096 {
		t.Fatalf("a line of %d bytes does not fit a termination message (4096)", len(line))
	}
	got, ok := Parse(string(line))
	if !ok || len(got.Error) > MaxText || len(got.Error) < MaxText-3 || !strings.HasPrefix(long, got.Error) {
		t.Fatalf("error read back as %d bytes (ok %v), want the first whole characters within %d", len(got.Error), ok, MaxText)
	}
	if !strings.HasPrefix(got.LastFailure, "exit status 1: €") || !strings.HasPrefix(long, got.Queue) {
		t.Fatalf("texts read back as %q / %q", got.LastFailure[:20], got.Queue[:20])
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		msg               string
		ok                bool
		processed, failed int64
	}{
		{msg: `{"kind":"DrainSummary","processed":7}`, ok: true, processed: 7},
		{msg: `{"kind":"DrainSummary","processed":0,"failed":3,"extra":[1,2]}`, ok: true, failed: 3},
		{msg: `{"kind":"DrainSummary","failed":3}`},                       // processed is required
		{msg: `{"kind":"drainsummary","processed":7}`},                    // kind is exact
		{msg: `{"processed":7}`},                                          // kind is required
		{msg: `{"kind":"DrainSummary","processed":-1}`},                   // negative count
		{msg: `{"kind":"DrainSummary","processed":1,"released":-2}`},      // negative count
		{msg: `{"kind":"DrainSummary","processed":1.5}`},                  // not an integer
		{msg: `{"kind":"DrainSummary","processed":99999999999999999999}`}, // beyond int64
		{msg: `{"kind":"DrainSummary","processed":7`},                     // truncated
		{msg: `{"kind":"DrainSummary","processed":"7"}`},                  // a string
		{msg: `OOMKilled`},
		{msg: ``},
		{msg: `[{"kind":"DrainSummary","processed":7}]`},
	} {
		got, ok := Parse(tc.msg)
		if ok != tc.ok || got.Processed != tc.processed || got.Failed != tc.failed {
			t.Errorf("Parse(%s) = %+v, %v; want processed %d, failed %d, %v", tc.msg, got, ok, tc.processed, tc.failed, tc.ok)
		}
	}
}

// FuzzParse: no input makes Parse panic; what it accepts is a summary with
// counts that cannot be negative, and writing it out and reading it back
// gives the same summary.
func FuzzParse(f *testing.F) {
	f.Add(`{"kind":"DrainSummary","received":1234,"processed":1200,"failed":30,"released":4,"seconds":12.5}`)
	f.Add(`{"kind":"DrainSummary","processed":0}`)
	f.Add(`{"kind":"DrainSummary","processed":-1}`)
	f.Add(`{"kind":"DrainSummary","processed":9223372036854775807,"failed":9223372036854775807}`)
	f.Add(`{"kind":"DrainSummary","processed":1,"Processed":2}`)
	f.Add(`{"kind":"DrainSummary","processed":null}`)
	f.Add(`{"kind":"DrainSummary","queue":"https://sqs.us-east-1.amazonaws.com/123456789012/orders","processed":0,"error":"could not reach SQS: dial tcp 127.0.0.1:9999: connect: connection refused"}`)
	f.Add(`OOMKilled`)
	f.Fuzz(func(t *testing.T, msg string) {
		s, ok := Parse(msg)
		if !ok {
			if s != (Summary{}) {
				t.Fatalf("refused %q but returned %+v", msg, s)
			}
			return
		}
		if s.Kind != Kind || s.Received < 0 || s.Processed < 0 || s.Failed < 0 || s.Released < 0 {
			t.Fatalf("accepted %q as %+v", msg, s)
		}
		if !strings.HasPrefix(strings.TrimSpace(msg), "{") {
			t.Fatalf("accepted %q, which is not a JSON object", msg)
		}
		want := s
		want.Queue, want.Error, want.LastFailure = clip(s.Queue), clip(s.Error), clip(s.LastFailure)
		if len(want.Queue) > MaxText || len(want.Error) > MaxText || len(want.LastFailure) > MaxText {
			t.Fatalf("clipped texts are longer than %d bytes: %+v", MaxText, want)
		}
		again, ok := Parse(string(s.Line()))
		if !ok || again != want {
			t.Fatalf("%+v written as %s reads back as %+v, %v", s, s.Line(), again, ok)
		}
	})
}
