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

package integration_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/test/emulator"
)

// Messages that reach the dead-letter queue while a run is active are
// counted for that run, from the depth the operator observes through SQS
// (fauxqs), and said in a Warning.
func TestMessagesDeadLetteredDuringARunAreRecordedForIt(t *testing.T) {
	ctx := context.Background()
	dlqURL, err := emulator.CreateQueue(ctx, sqsAPI, "it-orders-dlq", nil)
	must(t, err)
	must(t, emulator.SendMessages(ctx, sqsAPI, dlqURL, 4, 0)) // there before the run: not its doing
	url, err := emulator.CreateQueue(ctx, sqsAPI, "it-orders", map[string]string{
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":"arn:aws:sqs:%s:%s:it-orders-dlq","maxReceiveCount":"1"}`, emulator.Region, emulator.Account),
		"VisibilityTimeout": "1",
	})
	must(t, err)
	must(t, emulator.SendMessages(ctx, sqsAPI, url, 10, 0))
	ns := "deadletter"
	must(t, k8sCreateNamespace(ns))
	key := createDrainer(t, ns, "it-orders", v1alpha1.Triggers{QueueDepth: ptr.To[int64](5)})
	job := waitOneRun(t, key, v1alpha1.TriggerQueueDepth)
	eventually(t, 20*time.Second, "the dead-letter depth at the run's start", func() string {
		qd := get(t, key)
		if r := qd.Status.ActiveRun; r == nil || ptr.Deref(r.DeadLetterAtStart, -1) != 4 || qd.Status.Queue.DeadLetter == nil {
			return fmt.Sprintf("activeRun %+v, queue %+v", qd.Status.ActiveRun, qd.Status.Queue)
		}
		return ""
	})

	// A consumer that fails all 10 messages: received, never deleted; past
	// maxReceiveCount 1, the next receive moves them to the dead-letter queue.
	out, err := sqsAPI.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
	must(t, err)
	if len(out.Messages) != 10 {
		t.Fatalf("received %d messages, want 10", len(out.Messages))
	}
	time.Sleep(1500 * time.Millisecond) // their visibility timeout
	_, err = sqsAPI.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	must(t, err)
	eventually(t, 20*time.Second, "14 messages in the dead-letter queue, as observed", func() string {
		if dl := get(t, key).Status.Queue.DeadLetter; dl == nil || dl.VisibleMessages != 14 {
			return fmt.Sprintf("deadLetter %+v", dl)
		}
		return ""
	})
	completeJob(t, job)
	var rec v1alpha1.RunRecord
	eventually(t, 20*time.Second, "the run recorded", func() string {
		h := get(t, key).Status.History
		if len(h) == 0 {
			return "no history"
		}
		rec = h[0]
		return ""
	})
	if got := ptr.Deref(rec.MessagesDeadLettered, -1); got != 10 {
		t.Fatalf("messagesDeadLettered %d, want 10 (14 at the end, 4 at the start): %+v", got, rec)
	}
	if e := waitEvent(t, key, v1alpha1.ReasonDeadLettered); e.Type != corev1.EventTypeWarning {
		t.Fatalf("%s event is %s, want a Warning: %q", v1alpha1.ReasonDeadLettered, e.Type, e.Note)
	}
}
