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

package worker

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// FuzzWorkUnits checks how received messages are split among handlers:
// each message is handled exactly once, alone on standard queues; on FIFO
// queues a unit is one group's messages in the order received.
func FuzzWorkUnits(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 1, 0, 3, 3, 3, 0}, true)
	f.Add([]byte{0, 1, 0, 2}, false)
	f.Add([]byte{}, true)
	f.Add([]byte{7}, true)
	f.Add(bytes.Repeat([]byte{5}, 10), true)

	f.Fuzz(func(t *testing.T, groups []byte, fifo bool) {
		if len(groups) > 100 {
			groups = groups[:100]
		}
		hs := make([]*held, len(groups))
		for i, g := range groups {
			// Few distinct groups, so that groups repeat; "" is the group of a standard queue.
			group := ""
			if g%5 != 0 {
				group = "g" + strconv.Itoa(int(g%5))
			}
			hs[i] = &held{msg: Message{ID: strconv.Itoa(i), GroupID: group}, receipt: "r" + strconv.Itoa(i)}
		}
		units := workUnits(hs, fifo)

		seen := map[*held]int{}
		groupUnit := map[string]int{}
		for u, unit := range units {
			if len(unit) == 0 {
				t.Fatalf("unit %d is empty", u)
			}
			if !fifo && len(unit) != 1 {
				t.Fatalf("standard queue: unit %d holds %d messages, want 1", u, len(unit))
			}
			for i, h := range unit {
				seen[h]++
				if h.msg.GroupID != unit[0].msg.GroupID {
					t.Fatalf("unit %d mixes groups %q and %q", u, unit[0].msg.GroupID, h.msg.GroupID)
				}
				if i > 0 && slices.Index(hs, h) < slices.Index(hs, unit[i-1]) {
					t.Fatalf("unit %d is out of the order received", u)
				}
			}
			if fifo {
				g := unit[0].msg.GroupID
				if prev, ok := groupUnit[g]; ok {
					t.Fatalf("group %q split across units %d and %d", g, prev, u)
				}
				groupUnit[g] = u
			}
		}
		for i, h := range hs {
			if seen[h] != 1 {
				t.Fatalf("message %d is in %d units, want 1", i, seen[h])
			}
		}
		if !fifo {
			for i, unit := range units {
				if unit[0] != hs[i] {
					t.Fatalf("standard queue: unit %d is message %s, want %d", i, unit[0].msg.ID, i)
				}
			}
		}
	})
}

// seen is what the fuzzed HTTP endpoint received.
type seen struct {
	body   []byte
	header http.Header
}

// FuzzMessageToHTTPHandler takes a message as SQS returns it through the
// worker's conversion and the HTTP handler to a real HTTP server. Whatever
// the body, ID and attributes, the handler must succeed (no attribute may
// make a message impossible to handle), the body must arrive byte for byte,
// every header must carry an attribute exactly, and the attributes a header
// can carry must all arrive.
func FuzzMessageToHTTPHandler(f *testing.F) {
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{body: b, header: r.Header.Clone()}
		w.WriteHeader(http.StatusNoContent)
	}))
	f.Cleanup(srv.Close)
	h := HTTPHandler{URL: srv.URL, Client: srv.Client()}

	f.Add("m-1", "héllo\x00wörld\r\n", "Tenant", "acme", "Note", "naïve", []byte{0, 0xff, 0x80}, "3", "g1")
	f.Add("", "", "", "", "Bin", "", []byte{}, "", "")
	f.Add("id with space ", "{}", "a b", "x", "Trace.Id", " padded ", []byte("\xfe"), "x", "")
	f.Add("m\r\nX-Evil: 1", "\U0010FFFF", "X", "v\r\nX-Evil: 1", "x:y", "ok", []byte(nil), "-1", "grp")
	f.Add("m", strings.Repeat("a", 1<<16), "content-type", "text/html", "Id", "spoof", []byte{1}, "99999999999999999999", "")

	f.Fuzz(func(t *testing.T, id, body, strName, strValue, binName, numValue string, binValue []byte, receiveCount, group string) {
		in := sqstypes.Message{
			MessageId:     aws.String(id),
			Body:          aws.String(body),
			ReceiptHandle: aws.String("rh"),
			Attributes: map[string]string{
				string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount): receiveCount,
				string(sqstypes.MessageSystemAttributeNameMessageGroupId):          group,
			},
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{
				strName: {DataType: aws.String("String"), StringValue: aws.String(strValue)},
				binName: {DataType: aws.String("Binary"), BinaryValue: binValue},
				"Count": {DataType: aws.String("Number"), StringValue: aws.String(numValue)},
			},
		}
		m := toMessage(in)
		if m.ID != id || m.Body != body || m.GroupID != group {
			t.Fatalf("toMessage changed the ID, body or group: %+v", m)
		}
		if n, err := strconv.Atoi(receiveCount); err == nil && m.ReceiveCount != n {
			t.Fatalf("receive count %q read as %d", receiveCount, m.ReceiveCount)
		}

		if err := h.Handle(context.Background(), m); err != nil {
			t.Fatalf("the handler failed on a message a 204 endpoint accepts: %v", err)
		}
		s := <-got
		if !bytes.Equal(s.body, []byte(body)) {
			t.Fatalf("body arrived as %q, sent %q", s.body, body)
		}

		// Every attribute header carries one of the message's values exactly.
		for k, vs := range s.header {
			if len(vs) != 1 {
				t.Fatalf("header %s arrived %d times", k, len(vs))
			}
			v := vs[0]
			switch {
			case k == "X-Message-Id":
				if v != id {
					t.Fatalf("X-Message-Id = %q, ID %q", v, id)
				}
			case strings.HasPrefix(k, "X-Message-Attribute-"):
				if !hasValue(m.Attributes, strings.TrimPrefix(k, "X-Message-Attribute-"), v) {
					t.Fatalf("header %s: %q is not the value of an attribute so named; attributes %q", k, v, m.Attributes)
				}
			case strings.HasPrefix(k, "X-Message-Binary-Attribute-"):
				raw, err := base64.StdEncoding.DecodeString(v)
				if err != nil || !strings.EqualFold(k, "X-Message-Binary-Attribute-"+binName) || !bytes.Equal(raw, binValue) {
					t.Fatalf("header %s: %q is not the binary attribute %s = %x", k, v, binName, binValue)
				}
			}
		}
		// And what a header can carry exactly, arrives: the ID, and the
		// attributes with an SQS name (unless two names differ only in case).
		if headerValue(id) && s.header.Get("X-Message-Id") != id {
			t.Fatalf("ID %q did not arrive", id)
		}
		if attributeName(binName) && !strings.EqualFold(binName, strName) && !strings.EqualFold(binName, "Count") && binValue != nil &&
			s.header.Values("X-Message-Binary-Attribute-"+binName) == nil {
			t.Fatalf("binary attribute %q did not arrive", binName)
		}
		if attributeName(strName) && headerValue(strValue) && !strings.EqualFold(strName, binName) && !strings.EqualFold(strName, "Count") &&
			!strings.EqualFold(strName, "ApproximateReceiveCount") && !strings.EqualFold(strName, "MessageGroupId") &&
			s.header.Get("X-Message-Attribute-"+strName) != strValue {
			t.Fatalf("attribute %s = %q did not arrive", strName, strValue)
		}
	})
}

// hasValue reports whether an attribute whose name matches the header's
// (header names ignore case) has the value v.
func hasValue(attrs map[string]string, name, v string) bool {
	for k, av := range attrs {
		if strings.EqualFold(k, name) && av == v {
			return true
		}
	}
	return false
}
