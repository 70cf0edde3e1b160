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

package faultproxy

import (
	"testing"
	"time"
)

func TestLatencyDrawsAreUniformAroundTheMean(t *testing.T) {
	l := Latency{Mean: 10 * time.Millisecond, Jitter: 2 * time.Millisecond}
	const n = 100000
	var sum time.Duration
	lo, hi := time.Hour, time.Duration(0)
	below := 0
	for range n {
		d := l.draw()
		sum += d
		lo, hi = min(lo, d), max(hi, d)
		if d < l.Mean {
			below++
		}
	}
	if lo < l.Mean-l.Jitter || hi > l.Mean+l.Jitter {
		t.Errorf("draws from %s to %s, want within %s", lo, hi, l)
	}
	if lo > l.Mean-l.Jitter*9/10 || hi < l.Mean+l.Jitter*9/10 {
		t.Errorf("draws from %s to %s, want them to reach the ends of %s", lo, hi, l)
	}
	if mean := sum / n; mean < l.Mean-20*time.Microsecond || mean > l.Mean+20*time.Microsecond {
		t.Errorf("mean draw %s, want %s", mean, l.Mean)
	}
	if below < n*45/100 || below > n*55/100 {
		t.Errorf("%d of %d draws below the mean, want about half", below, n)
	}
	if d := (Latency{Mean: time.Millisecond}).draw(); d != time.Millisecond {
		t.Errorf("without jitter: %s", d)
	}
	if d := (Latency{}).draw(); d != 0 {
		t.Errorf("zero latency: %s", d)
	}
}
