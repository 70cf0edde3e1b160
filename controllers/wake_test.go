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

package controllers_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
)

// New counts below the threshold neither wake the drainer nor rewrite its
// status (they are in the metrics at once, in status within the refresh);
// the observation that crosses the threshold starts a run at once.
func TestOnlyObservationsThatMatterReachTheDrainer(t *testing.T) {
	key := newDrainer(t)
	setVisible(key, 10)
	qd := waitStatus(t, key, "10 messages in status", func(qd *v1alpha1.QueueDrainer) string {
		if qd.Status.Queue == nil || qd.Status.Queue.VisibleMessages != 10 {
			return fmt.Sprintf("queue status %+v", qd.Status.Queue)
		}
		return ""
	})
	version := qd.ResourceVersion
	for _, n := range []int64{20, 300, 999} {
		setVisible(key, n)
		time.Sleep(300 * time.Millisecond)
	}
	never(t, "no status write for counts below the threshold", func() string {
		if qd := get(t, key); qd.ResourceVersion != version {
			return fmt.Sprintf("drainer rewritten: status.queue %+v", qd.Status.Queue)
		}
		return ""
	})
	if n := metricValue(t, "queuedrainer_queue_visible_messages", key, ""); n != 999 {
		t.Errorf("queuedrainer_queue_visible_messages = %v, want 999: the metrics follow every observation", n)
	}

	crossed := time.Now()
	setVisible(key, 1000)
	waitJobs(t, key, 1)
	t.Logf("threshold crossed -> Job in %v", time.Since(crossed).Round(time.Millisecond))
	if qd := get(t, key); qd.Status.Queue == nil || qd.Status.Queue.VisibleMessages != 1000 {
		t.Errorf("status.queue %+v after the run started, want the 1000 that started it", qd.Status.Queue)
	}
}
