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

package worker_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/queuedrainer/queue-drainer/internal/worker"
	"github.com/queuedrainer/queue-drainer/test/emulator"
)

// redriveAttrs are the typed attributes of message i, varied: every data
// type, custom ones, values a careless copy alters, and now and then a
// set without some of them.
func redriveAttrs(i int) map[string]sqstypes.MessageAttributeValue {
	a := map[string]sqstypes.MessageAttributeValue{
		"Key":          {DataType: aws.String("String"), StringValue: aws.String(fmt.Sprintf("m%04d", i))},
		"Seq":          {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(i))},
		"Text":         {DataType: aws.String("String"), StringValue: aws.String("naïve 😀 \U0010FFFD <&> \t\r\n ")},
		"Amount":       {DataType: aws.String("Number"), StringValue: aws.String("-1.5e3")},
		"Ratio":        {DataType: aws.String("Number.float"), StringValue: aws.String("3.14159")},
		"Doc":          {DataType: aws.String("String.json"), StringValue: aws.String(`{"a":[1,"é"],"b":null}`)},
		"Blob":         {DataType: aws.String("Binary"), BinaryValue: allBytes},
		"Packed_bytes": {DataType: aws.String("Binary.gzip"), BinaryValue: []byte{0x1f, 0x8b, 0x08, 0x00, 0xff}},
	}
	if i%3 == 0 {
		delete(a, "Ratio")
		delete(a, "Blob")
	}
	if i%5 == 0 {
		a["Seq"] = sqstypes.MessageAttributeValue{DataType: aws.String("Number.int"), StringValue: aws.String(strconv.Itoa(i))}
	}
	return a
}

// fingerprint is a message's body and attributes, data types included.
func fingerprint(body string, attrs map[string]sqstypes.MessageAttributeValue) string {
	var b strings.Builder
	b.WriteString(body)
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		v := attrs[name]
		fmt.Fprintf(&b, "\x00%s|%s|%q|%x", name, aws.ToString(v.DataType), aws.ToString(v.StringValue), v.BinaryValue)
	}
	return b.String()
}

// readAll receives and deletes every message of a queue, in the order
// received (a FIFO queue hands out a group's next message once the one
// before is deleted).
func readAll(t *testing.T, api *sqs.Client, url string) []sqstypes.Message {
	t.Helper()
	ctx := context.Background()
	var all []sqstypes.Message
	for empties := 0; empties < 2; {
		out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
			WaitTimeSeconds: 1, VisibilityTimeout: 120, MessageAttributeNames: []string{"All"},
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		must(t, err)
		if len(out.Messages) == 0 {
			empties++
			continue
		}
		empties = 0
		all = append(all, out.Messages...)
		var entries []sqstypes.DeleteMessageBatchRequestEntry
		for i, m := range out.Messages {
			entries = append(entries, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
		}
		del, err := api.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
		must(t, err)
		if len(del.Failed) > 0 {
			t.Fatalf("deleting what was read: %d failed", len(del.Failed))
		}
	}
	return all
}

// sendFaults stands between RedriveHandler and SQS and makes chosen sends
// fail: refused (the message does not reach the target) or lost (it does,
// and the answer is lost).
type sendFaults struct {
	worker.SendAPI
	key   func(in *sqs.SendMessageInput) string
	fault func(key string, attempt int) string // "", "refuse" or "lose"

	mu                  sync.Mutex
	attempts, succeeded map[string]int
}

func newSendFaults(api worker.SendAPI, key func(*sqs.SendMessageInput) string, fault func(string, int) string) *sendFaults {
	return &sendFaults{SendAPI: api, key: key, fault: fault, attempts: map[string]int{}, succeeded: map[string]int{}}
}

func (f *sendFaults) SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	key := f.key(in)
	f.mu.Lock()
	f.attempts[key]++
	fault := f.fault(key, f.attempts[key])
	f.mu.Unlock()
	if fault == "refuse" {
		return nil, errors.New("simulated refusal")
	}
	out, err := f.SendAPI.SendMessage(ctx, in, opts...)
	if fault == "lose" {
		return nil, errors.New("simulated lost answer")
	}
	if err == nil {
		f.mu.Lock()
		f.succeeded[key]++
		f.mu.Unlock()
	}
	return out, err
}

func (f *sendFaults) sent(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.succeeded[key] > 0
}

func keyAttribute(in *sqs.SendMessageInput) string {
	return aws.ToString(in.MessageAttributes["Key"].StringValue)
}

// receiveSpy records the system attributes the worker asks for.
type receiveSpy struct {
	worker.SQSAPI
	mu    sync.Mutex
	asked []sqstypes.MessageSystemAttributeName
}

func (s *receiveSpy) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	s.mu.Lock()
	s.asked = in.MessageSystemAttributeNames
	s.mu.Unlock()
	return s.SQSAPI.ReceiveMessage(ctx, in, opts...)
}

func TestRedriveMovesEveryMessageExactlyOnce(t *testing.T) {
	const n = 300
	api, dlq := newQueue(t, "orders-dlq", map[string]string{"VisibilityTimeout": "30"})
	ctx := context.Background()
	target, err := emulator.CreateQueue(ctx, api, "orders", nil)
	must(t, err)

	// The unusual bodies of the payload tests, the two of 256 KiB once.
	var small, big []string
	for _, key := range slices.Sorted(maps.Keys(unusualBodies)) {
		if len(unusualBodies[key]) > 1024 {
			big = append(big, unusualBodies[key])
		} else {
			small = append(small, unusualBodies[key])
		}
	}
	sent := map[string]int{}
	keyOf := map[string]string{} // fingerprint -> the message's Key
	for i := range n {
		body := small[i%len(small)]
		if i < len(big) {
			body = big[i]
		}
		a := redriveAttrs(i)
		_, err := api.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(dlq), MessageBody: aws.String(body), MessageAttributes: a})
		must(t, err)
		sent[fingerprint(body, a)]++
		keyOf[fingerprint(body, a)] = aws.ToString(a["Key"].StringValue)
	}

	s := &receiveSpy{SQSAPI: api}
	sum, err := worker.Run(ctx, s, dlq, worker.RedriveHandler{API: api, TargetURL: target}, fast())
	must(t, err)
	t.Logf("summary %+v", sum)
	if sum.Processed != n || sum.Failed != 0 || sum.Received != n {
		t.Errorf("summary %+v, want %d received and moved, none failed", sum, n)
	}
	if v, inFlight := depth(t, api, dlq); v != 0 || inFlight != 0 {
		t.Errorf("dead-letter queue left with %d visible, %d in flight", v, inFlight)
	}
	if !slices.Contains(s.asked, sqstypes.MessageSystemAttributeNameAWSTraceHeader) {
		t.Errorf("received asking for system attributes %v, want AWSTraceHeader among them", s.asked)
	}

	moved := readAll(t, api, target)
	got := map[string]int{}
	for _, m := range moved {
		got[fingerprint(aws.ToString(m.Body), m.MessageAttributes)]++
		for name := range m.MessageAttributes {
			if _, ok := redriveAttrs(1)[name]; !ok { // such as a system attribute copied
				t.Errorf("target message has the attribute %s, which was not sent", name)
			}
		}
	}
	t.Logf("target holds %d messages, %d distinct", len(moved), len(got))
	if len(moved) != n {
		t.Errorf("target holds %d messages, want %d", len(moved), n)
	}
	for fp, c := range sent {
		if got[fp] != c {
			t.Errorf("message %s (%d bytes of body): %d in the target, want %d", keyOf[fp], strings.IndexByte(fp, 0), got[fp], c)
		}
	}
	for fp, c := range got {
		if sent[fp] == 0 {
			t.Errorf("the target holds %d message(s) never sent, of %d bytes: body or attributes altered", c, len(fp))
		}
	}
}

func TestRedriveToAFIFOQueueKeepsGroupsAndTheirOrder(t *testing.T) {
	const groups, perGroup = 5, 20
	api, dlq := newQueue(t, "orders-dlq.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true", "VisibilityTimeout": "2"})
	ctx := context.Background()
	// No content-based deduplication: each copy needs its deduplication ID.
	target, err := emulator.CreateQueue(ctx, api, "orders.fifo", map[string]string{"FifoQueue": "true"})
	must(t, err)
	for i := range perGroup {
		for g := range groups {
			in := &sqs.SendMessageInput{QueueUrl: aws.String(dlq), MessageBody: aws.String(fmt.Sprintf("%d/%d", g, i)),
				MessageGroupId: aws.String(fmt.Sprintf("group-%d", g)), MessageAttributes: redriveAttrs(g*perGroup + i)}
			if i%2 == 0 {
				in.MessageDeduplicationId = aws.String(fmt.Sprintf("dedup-%d-%d", g, i))
			}
			_, err := api.SendMessage(ctx, in)
			must(t, err)
		}
	}
	// Every seventh message reaches the target but its answer is lost: it
	// stays in the dead-letter queue, comes back, is sent again and must be
	// deduplicated; meanwhile the rest of its group waits.
	lost := func(body string) bool {
		var g, i int
		if _, err := fmt.Sscanf(body, "%d/%d", &g, &i); err != nil {
			t.Errorf("body %q is not one the test sent: %v", body, err)
		}
		return (g*perGroup+i)%7 == 3
	}
	f := newSendFaults(api, func(in *sqs.SendMessageInput) string { return aws.ToString(in.MessageBody) }, func(body string, attempt int) string {
		if attempt == 1 && lost(body) {
			return "lose"
		}
		return ""
	})
	sum, err := worker.Run(ctx, api, dlq, worker.RedriveHandler{API: f, TargetURL: target}, fast())
	must(t, err)
	t.Logf("summary %+v", sum)
	lostAnswers := 0
	for body := range f.attempts {
		if lost(body) {
			lostAnswers++
		}
	}
	if sum.Processed != groups*perGroup || sum.Failed != int64(lostAnswers) || lostAnswers == 0 {
		t.Errorf("summary %+v, want %d moved and %d failed (the lost answers)", sum, groups*perGroup, lostAnswers)
	}
	if v, inFlight := depth(t, api, dlq); v != 0 || inFlight != 0 {
		t.Errorf("dead-letter queue left with %d visible, %d in flight", v, inFlight)
	}

	next := map[string]int{}
	dedupIDs := map[string]bool{}
	moved := readAll(t, api, target)
	for _, m := range moved {
		var g, i int
		if _, err := fmt.Sscanf(aws.ToString(m.Body), "%d/%d", &g, &i); err != nil {
			t.Errorf("body %q is not one the test sent: %v", aws.ToString(m.Body), err)
		}
		group := m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageGroupId)]
		if want := fmt.Sprintf("group-%d", g); group != want {
			t.Errorf("message %s in group %q, want %q", aws.ToString(m.Body), group, want)
		}
		if i != next[group] {
			t.Errorf("group %s: got message %d, expected %d", group, i, next[group])
		}
		next[group] = i + 1
		if fingerprint("", m.MessageAttributes) != fingerprint("", redriveAttrs(g*perGroup+i)) {
			t.Errorf("message %s: attributes altered", aws.ToString(m.Body))
		}
		id := m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageDeduplicationId)]
		if id == "" || dedupIDs[id] {
			t.Errorf("message %s: deduplication ID %q, want one of its own", aws.ToString(m.Body), id)
		}
		dedupIDs[id] = true
	}
	t.Logf("target holds %d messages in %d groups; %d lost answers were deduplicated", len(moved), len(next), lostAnswers)
	if len(moved) != groups*perGroup {
		t.Errorf("target holds %d messages, want %d, each once", len(moved), groups*perGroup)
	}
	for g := range groups {
		if c := next[fmt.Sprintf("group-%d", g)]; c != perGroup {
			t.Errorf("group %d: %d messages in order, want %d", g, c, perGroup)
		}
	}
}

// A FIFO message that fails fast is redriven within SQS's five-minute
// deduplication interval of its first send: were its copy to carry the
// original deduplication ID, SQS would take it and drop it, and the
// message would be gone from both queues.
func TestRedriveWithinTheDeduplicationIntervalOfTheFirstSendLosesNothing(t *testing.T) {
	api, target := newQueue(t, "payments.fifo", map[string]string{"FifoQueue": "true"})
	ctx := context.Background()
	dlq, err := emulator.CreateQueue(ctx, api, "payments-dlq.fifo", map[string]string{"FifoQueue": "true"})
	must(t, err)
	// The first send, and its consumer (which gives up on it).
	_, err = api.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(target), MessageBody: aws.String("pay 10"),
		MessageGroupId: aws.String("acct-1"), MessageDeduplicationId: aws.String("payment-1")})
	must(t, err)
	if got := readAll(t, api, target); len(got) != 1 {
		t.Fatalf("read %d messages, want the one sent", len(got))
	}
	// SQS moves it to the dead-letter queue with its deduplication ID.
	_, err = api.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(dlq), MessageBody: aws.String("pay 10"),
		MessageGroupId: aws.String("acct-1"), MessageDeduplicationId: aws.String("payment-1")})
	must(t, err)

	sum, err := worker.Run(ctx, api, dlq, worker.RedriveHandler{API: api, TargetURL: target}, fast())
	must(t, err)
	if sum.Processed != 1 {
		t.Fatalf("summary %+v, want the message moved", sum)
	}
	if got := readAll(t, api, target); len(got) != 1 || aws.ToString(got[0].Body) != "pay 10" {
		t.Fatalf("target holds %d messages after the redrive, want the one moved: it was deleted from the dead-letter queue", len(got))
	}
}

func TestRedriveLeavesMessagesWhoseSendFailedInTheDeadLetterQueue(t *testing.T) {
	const n = 60
	api, dlq := newQueue(t, "orders-dlq", map[string]string{"VisibilityTimeout": "1"})
	ctx := context.Background()
	target, err := emulator.CreateQueue(ctx, api, "orders", nil)
	must(t, err)
	for i := range n {
		_, err := api.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(dlq), MessageBody: aws.String(fmt.Sprintf("message %d", i)),
			MessageAttributes: redriveAttrs(i)})
		must(t, err)
	}
	// The first send of every third message is refused.
	refused := func(key string) bool { i, _ := strconv.Atoi(key[1:]); return i%3 == 0 }
	f := newSendFaults(api, keyAttribute, func(key string, attempt int) string {
		if attempt == 1 && refused(key) {
			return "refuse"
		}
		return ""
	})
	// Fails the test if a message is deleted before its send succeeded.
	g := &deleteGuard{SQSAPI: api, t: t, succeeded: f.sent, keyOf: map[string]string{}, deleted: map[string]int{}}
	sum, err := worker.Run(ctx, g, dlq, worker.RedriveHandler{API: f, TargetURL: target}, fast())
	must(t, err)
	t.Logf("summary %+v", sum)
	const nRefused = n / 3
	if sum.Processed != n || sum.Failed != nRefused || sum.Received != n+nRefused || !strings.Contains(sum.LastFailure, "simulated refusal") {
		t.Errorf("summary %+v, want %d received (%d twice), %d failed, %d moved", sum, n+nRefused, nRefused, nRefused, n)
	}
	for i := range n {
		key := fmt.Sprintf("m%04d", i)
		if want := 1 + btoi(refused(key)); f.attempts[key] != want || f.succeeded[key] != 1 || g.deleted[key] != 1 {
			t.Errorf("message %s: %d sends (%d succeeded), deleted %d times; want %d sends, 1 success, 1 deletion",
				key, f.attempts[key], f.succeeded[key], g.deleted[key], want)
		}
	}
	copies := map[string]int{}
	for _, m := range readAll(t, api, target) {
		copies[aws.ToString(m.Body)]++
	}
	for i := range n {
		if body := fmt.Sprintf("message %d", i); copies[body] != 1 {
			t.Errorf("%s: %d copies in the target, want 1", body, copies[body])
		}
	}
	if len(copies) != n {
		t.Errorf("target holds %d distinct messages, want %d", len(copies), n)
	}
	if v, inFlight := depth(t, api, dlq); v != 0 || inFlight != 0 {
		t.Errorf("dead-letter queue left with %d visible, %d in flight", v, inFlight)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Every send fails: the drain deletes nothing, and when it is stopped
// every message is in the dead-letter queue, visible again.
func TestRedriveToAMissingQueueDeletesNothing(t *testing.T) {
	const n = 30
	api, dlq := newQueue(t, "orders-dlq", map[string]string{"VisibilityTimeout": "1"})
	for i := range n {
		_, err := api.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(dlq),
			MessageBody: aws.String(fmt.Sprintf("message %d", i)), MessageAttributes: redriveAttrs(i)})
		must(t, err)
	}
	missing := strings.TrimSuffix(dlq, "orders-dlq") + "no-such-queue"
	g := &deleteGuard{SQSAPI: api, t: t, succeeded: func(string) bool { return false }, keyOf: map[string]string{}, deleted: map[string]int{}}
	ctx, stop := context.WithTimeout(context.Background(), 4*time.Second)
	defer stop()
	sum, err := worker.Run(ctx, g, dlq, worker.RedriveHandler{API: api, TargetURL: missing}, fast())
	must(t, err)
	t.Logf("summary %+v", sum)
	if sum.Processed != 0 || len(g.deleted) != 0 || sum.Failed < n || !strings.Contains(sum.LastFailure, "NonExistentQueue") {
		t.Errorf("summary %+v, deleted %v; want nothing moved or deleted, every message failed at least once, the target's absence the last failure", sum, g.deleted)
	}
	// Failed messages come back at their visibility timeout (1 s). They are
	// counted by reading them: fauxqs returns expired messages to the queue
	// only when it is received from, so its counts would still show them
	// in flight.
	bodies := map[string]bool{}
	for _, m := range readAll(t, api, dlq) {
		bodies[aws.ToString(m.Body)] = true
	}
	if len(bodies) != n {
		t.Errorf("dead-letter queue gave back %d distinct messages after the drain stopped, want all %d", len(bodies), n)
	}
}

// What fauxqs cannot show: the trace header goes on as a system attribute,
// the other system attributes are not copied, a message attribute named
// like a system attribute is an attribute like any other.
func TestRedriveHandlerCopiesTheTraceHeaderAndNoOtherSystemAttribute(t *testing.T) {
	var got *sqs.SendMessageInput
	capture := sendFunc(func(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
		got = in
		return &sqs.SendMessageOutput{}, nil
	})
	attrs := map[string]sqstypes.MessageAttributeValue{
		"MessageDeduplicationId": {DataType: aws.String("String"), StringValue: aws.String("an attribute")},
		"Ratio":                  {DataType: aws.String("Number.float"), StringValue: aws.String("0.5")},
	}
	m := worker.Message{ID: "id-1", Body: "body", GroupID: "g", MessageAttributes: attrs,
		Attributes: map[string]string{"ApproximateReceiveCount": "4", "MessageGroupId": "g", "MessageDeduplicationId": "an attribute"},
		SystemAttributes: map[string]string{"ApproximateReceiveCount": "4", "MessageGroupId": "g", "MessageDeduplicationId": "original",
			"AWSTraceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"}}

	must(t, worker.RedriveHandler{API: capture, TargetURL: "http://sqs.local/000000000000/orders"}.Handle(context.Background(), m))
	if got.MessageGroupId != nil || got.MessageDeduplicationId != nil {
		t.Errorf("standard target: group %v, deduplication ID %v; want neither", got.MessageGroupId, got.MessageDeduplicationId)
	}
	if fingerprint(aws.ToString(got.MessageBody), got.MessageAttributes) != fingerprint("body", attrs) {
		t.Errorf("sent body %q, attributes %v; want the message's own", aws.ToString(got.MessageBody), got.MessageAttributes)
	}
	if tr := got.MessageSystemAttributes["AWSTraceHeader"]; len(got.MessageSystemAttributes) != 1 ||
		aws.ToString(tr.StringValue) != m.SystemAttributes["AWSTraceHeader"] || aws.ToString(tr.DataType) != "String" {
		t.Errorf("system attributes %v, want the trace header alone", got.MessageSystemAttributes)
	}

	must(t, worker.RedriveHandler{API: capture, TargetURL: "http://sqs.local/000000000000/orders.fifo"}.Handle(context.Background(), m))
	if aws.ToString(got.MessageGroupId) != "g" || aws.ToString(got.MessageDeduplicationId) != "id-1" {
		t.Errorf("FIFO target: group %q, deduplication ID %q; want g and the message ID", aws.ToString(got.MessageGroupId), aws.ToString(got.MessageDeduplicationId))
	}
	m.GroupID = ""
	got = nil
	if err := (worker.RedriveHandler{API: capture, TargetURL: "http://sqs.local/000000000000/orders.fifo"}).Handle(context.Background(), m); err == nil || got != nil {
		t.Errorf("a message without a group sent to a FIFO queue: %v", err)
	}
	failing := sendFunc(func(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
		return nil, errors.New("boom")
	})
	if err := (worker.RedriveHandler{API: failing, TargetURL: "http://sqs.local/000000000000/orders"}).Handle(context.Background(), m); err == nil {
		t.Error("a failed send succeeded")
	}
}

type sendFunc func(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)

func (f sendFunc) SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	return f(ctx, in, opts...)
}
