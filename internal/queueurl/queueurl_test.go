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

package queueurl_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/queuedrainer/queue-drainer/internal/queueurl"
)

var (
	name80     = strings.Repeat("a", 80)
	name81     = strings.Repeat("a", 81)
	fifoName80 = strings.Repeat("f", 75) + ".fifo"
)

func TestParseReadsSQSQueueURLs(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  string
		want queueurl.Queue
	}{
		{"regional endpoint", "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
			queueurl.Queue{Region: "us-east-1", Account: "123456789012", Name: "orders"}},
		{"other region", "https://sqs.ap-northeast-2.amazonaws.com/210987654321/Orders_v2-eu",
			queueurl.Queue{Region: "ap-northeast-2", Account: "210987654321", Name: "Orders_v2-eu"}},
		{"China endpoint", "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/orders",
			queueurl.Queue{Region: "cn-north-1", Account: "123456789012", Name: "orders"}},
		{"legacy regional endpoint", "https://eu-west-1.queue.amazonaws.com/123456789012/orders",
			queueurl.Queue{Region: "eu-west-1", Account: "123456789012", Name: "orders"}},
		{"legacy global endpoint is us-east-1", "https://queue.amazonaws.com/123456789012/orders",
			queueurl.Queue{Region: "us-east-1", Account: "123456789012", Name: "orders"}},
		{"FIFO queue", "https://sqs.us-east-1.amazonaws.com/123456789012/orders.fifo",
			queueurl.Queue{Region: "us-east-1", Account: "123456789012", Name: "orders.fifo", FIFO: true}},
		{"80-character name", "https://sqs.us-east-1.amazonaws.com/123456789012/" + name80,
			queueurl.Queue{Region: "us-east-1", Account: "123456789012", Name: name80}},
		{"80-character FIFO name", "https://sqs.us-east-1.amazonaws.com/123456789012/" + fifoName80,
			queueurl.Queue{Region: "us-east-1", Account: "123456789012", Name: fifoName80, FIFO: true}},
		{"one-character name", "https://sqs.us-east-1.amazonaws.com/123456789012/a",
			queueurl.Queue{Region: "us-east-1", Account: "123456789012", Name: "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := queueurl.Parse(tc.raw)
			if err != nil {
				t.Fatalf("Parse(%q) = error %v, want %+v", tc.raw, err, tc.want)
			}
			if got != tc.want {
				t.Errorf("Parse(%q) = %+v, want %+v", tc.raw, got, tc.want)
			}
			if r := queueurl.Region(tc.raw, ""); r != tc.want.Region {
				t.Errorf("Region(%q) = %q, want %q", tc.raw, r, tc.want.Region)
			}
		})
	}
}

func TestParseRefusesWhatIsNotAnSQSQueueURLAndSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  string
		// wantInErr is a word of the error that names what is wrong.
		wantInErr string
	}{
		{"http scheme", "http://sqs.us-east-1.amazonaws.com/123456789012/orders", "scheme must be https"},
		{"no scheme", "sqs.us-east-1.amazonaws.com/123456789012/orders", "scheme must be https"},
		{"empty string", "", "scheme must be https"},
		{"garbage", "not a queue url at all", "scheme must be https"},
		{"unparseable", "https://sqs.us-east-1.amazonaws.com/%zz/orders", "invalid URL escape"},
		{"non-AWS host", "https://example.com/123456789012/orders", "host must be an SQS endpoint"},
		{"look-alike host", "https://sqs.us-east-1.amazonaws.com.evil.example/123456789012/orders", "host must be an SQS endpoint"},
		{"non-AWS .cn host", "https://sqs.evil.cn/123456789012/orders", "host must be an SQS endpoint"},
		{"non-AWS .cn legacy host", "https://queue.cn/123456789012/orders", "host must be an SQS endpoint"},
		{"legacy global host under .cn", "https://queue.amazonaws.com.cn/123456789012/orders", "host must be an SQS endpoint"},
		{"bare amazonaws.com", "https://amazonaws.com/123456789012/orders", "host must be an SQS endpoint"},
		{"other AWS service", "https://s3.us-east-1.amazonaws.com/123456789012/orders", "host must be an SQS endpoint"},
		{"dotted region", "https://sqs.us.east.amazonaws.com/123456789012/orders", "host must be an SQS endpoint"},
		{"region with punctuation", "https://sqs.us-east-1!.amazonaws.com/123456789012/orders", "region"},
		{"percent-encoded region", "https://sqs.%25.amazonaws.com/123456789012/orders", "region"},
		{"non-ASCII region", "https://sqs.%C3%A9.amazonaws.com/123456789012/orders", "region"},
		{"empty region", "https://sqs..amazonaws.com/123456789012/orders", "region"},
		{"port in host", "https://sqs.us-east-1.amazonaws.com:443/123456789012/orders", "host must be an SQS endpoint"},
		{"query string", "https://sqs.us-east-1.amazonaws.com/123456789012/orders?Action=SendMessage", "query"},
		{"user info", "https://user:secret@sqs.us-east-1.amazonaws.com/123456789012/orders", "user"},
		{"missing account", "https://sqs.us-east-1.amazonaws.com/orders", "12-digit account"},
		{"11-digit account", "https://sqs.us-east-1.amazonaws.com/12345678901/orders", "12-digit account"},
		{"13-digit account", "https://sqs.us-east-1.amazonaws.com/1234567890123/orders", "12-digit account"},
		{"account with letters", "https://sqs.us-east-1.amazonaws.com/12345678901x/orders", "12-digit account"},
		{"no path", "https://sqs.us-east-1.amazonaws.com", "12-digit account"},
		{"extra path segment", "https://sqs.us-east-1.amazonaws.com/123456789012/orders/extra", "path must be /<12-digit account>/<queue name>"},
		{"trailing slash", "https://sqs.us-east-1.amazonaws.com/123456789012/orders/", "path must be /<12-digit account>/<queue name>"},
		{"empty name", "https://sqs.us-east-1.amazonaws.com/123456789012/", "invalid queue name"},
		{"dot in name", "https://sqs.us-east-1.amazonaws.com/123456789012/orders.v2", "invalid queue name"},
		{"space in name", "https://sqs.us-east-1.amazonaws.com/123456789012/my%20orders", "invalid queue name"},
		{"bad characters in name", "https://sqs.us-east-1.amazonaws.com/123456789012/orders$!", "invalid queue name"},
		{"81-character name", "https://sqs.us-east-1.amazonaws.com/123456789012/" + name81, "invalid queue name"},
		{"81-character FIFO name", "https://sqs.us-east-1.amazonaws.com/123456789012/" + strings.Repeat("f", 76) + ".fifo", "invalid queue name"},
		{"only .fifo", "https://sqs.us-east-1.amazonaws.com/123456789012/.fifo", "invalid queue name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := queueurl.Parse(tc.raw)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error about %q", tc.raw, got, tc.wantInErr)
			}
			if !strings.Contains(err.Error(), tc.wantInErr) {
				t.Errorf("Parse(%q) error = %q, want it to say %q", tc.raw, err, tc.wantInErr)
			}
			if got != (queueurl.Queue{}) {
				t.Errorf("Parse(%q) returned %+v with its error, want the zero Queue", tc.raw, got)
			}
			if r := queueurl.Region(tc.raw, ""); r != "" {
				t.Errorf("Region(%q) = %q, want \"\" for a URL Parse refuses", tc.raw, r)
			}
		})
	}
}

var (
	twelveDigits = regexp.MustCompile(`^[0-9]{12}$`)
	awsRegion    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`) // as the CRD's spec.queue.region rule
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"https://sqs.us-east-1.amazonaws.com/123456789012/orders",
		"https://sqs.cn-north-1.amazonaws.com.cn/123456789012/orders.fifo",
		"https://eu-west-1.queue.amazonaws.com/123456789012/orders",
		"https://queue.amazonaws.com/123456789012/" + name80,
		"https://sqs.us-east-1.amazonaws.com:443/123456789012/orders",
		"http://sqs.us-east-1.amazonaws.com/123456789012/orders",
		"https://sqs.us-east-1.amazonaws.com/12345678901/orders",
		"https://sqs..amazonaws.com/123456789012/orders",
		"https://sqs.evil.cn/123456789012/orders",
		"https://sqs.%25.amazonaws.com/123456789012/orders", // a region whose canonical URL does not parse
		"https://sqs.%C3%A9.amazonaws.com/123456789012/orders",
		"https://user@sqs.us-east-1.amazonaws.com/123456789012/orders?x#y",
		"",
		"%",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := queueurl.Parse(raw)
		if err != nil {
			if q != (queueurl.Queue{}) {
				t.Fatalf("Parse(%q) returned %+v with error %v", raw, q, err)
			}
			if r := queueurl.Region(raw, ""); r != "" {
				t.Fatalf("Region(%q) = %q for a URL Parse refuses", raw, r)
			}
			return
		}
		if q.Region == "" || q.Account == "" || q.Name == "" {
			t.Fatalf("Parse(%q) accepted it with an empty field: %+v", raw, q)
		}
		if !twelveDigits.MatchString(q.Account) {
			t.Fatalf("Parse(%q) account %q is not 12 digits", raw, q.Account)
		}
		if !awsRegion.MatchString(q.Region) {
			t.Fatalf("Parse(%q) region %q is not an AWS region", raw, q.Region)
		}
		if r := queueurl.Region(raw, ""); r != q.Region {
			t.Fatalf("Region(%q) = %q, Parse says %q", raw, r, q.Region)
		}
		again := "https://sqs." + q.Region + ".amazonaws.com/" + q.Account + "/" + q.Name
		q2, err := queueurl.Parse(again)
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, but its canonical form %q does not parse: %v", raw, q, again, err)
		}
		if q2.Region != q.Region || q2.Account != q.Account || q2.Name != q.Name || q2.FIFO != q.FIFO {
			t.Fatalf("Parse(%q) = %+v, but its canonical form %q parses to %+v", raw, q, again, q2)
		}
	})
}

func TestSameQueueComparesAccountNameAndRegion(t *testing.T) {
	const orders = "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
	for _, tc := range []struct {
		other string
		same  bool
	}{
		{orders, true},
		{"https://queue.amazonaws.com/123456789012/orders", true}, // legacy form, us-east-1
		{"https://us-east-1.queue.amazonaws.com/123456789012/orders", true},
		{"http://127.0.0.1:4566/123456789012/orders", true}, // an emulator's URL for it
		{"http://localhost:4566/queue/us-east-1/123456789012/orders", true},
		{"https://sqs.us-east-1.amazonaws.com/123456789012/payments", false},
		{"https://sqs.us-east-1.amazonaws.com/210987654321/orders", false},
		{"https://sqs.eu-west-1.amazonaws.com/123456789012/orders", false},
		{"http://127.0.0.1:4566/123456789012/orders-dlq", false},
		{"https://sqs.us-east-1.amazonaws.com/123456789012/Orders", false}, // names are case-sensitive
		{"", true},            // nothing to compare
		{"orders", true},      // not a URL of a queue
		{"http://[::1", true}, // not a URL
	} {
		if got := queueurl.SameQueue(orders, tc.other); got != tc.same {
			t.Errorf("SameQueue(%s, %q) = %v, want %v", orders, tc.other, got, tc.same)
		}
		if got := queueurl.SameQueue(tc.other, orders); got != tc.same {
			t.Errorf("SameQueue(%q, %s) = %v, want %v (symmetric)", tc.other, orders, got, tc.same)
		}
	}
}

func TestFromARNReadsADeadLetterTargetAndGivesItsURL(t *testing.T) {
	for _, tc := range []struct{ arn, url string }{
		{"arn:aws:sqs:us-east-1:123456789012:orders-dlq", "https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq"},
		{"arn:aws:sqs:eu-west-1:123456789012:orders-dlq.fifo", "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-dlq.fifo"},
		{"arn:aws-cn:sqs:cn-north-1:123456789012:q", "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q"},
	} {
		q, err := queueurl.FromARN(tc.arn)
		if err != nil || q.URL() != tc.url {
			t.Errorf("FromARN(%s) = %+v, %v; URL %s, want %s", tc.arn, q, err, q.URL(), tc.url)
		}
		if back, err := queueurl.Parse(q.URL()); err != nil || back != q {
			t.Errorf("Parse(%s) = %+v, %v; want %+v", q.URL(), back, err, q)
		}
	}
	for _, bad := range []string{"", "orders-dlq", "arn:aws:sns:us-east-1:123456789012:topic", "arn:aws:sqs:us-east-1:123:q",
		"arn:aws:sqs:us-east-1:123456789012:", "arn:aws:sqs:us-east-1:123456789012:a:b", "arn:aws:sqs:nowhere:123456789012:q"} {
		if q, err := queueurl.FromARN(bad); err == nil {
			t.Errorf("FromARN(%q) = %+v, want an error", bad, q)
		}
	}
}

// A configured region wins over the URL's, as spec.queue.region does.
func TestConfiguredRegionWins(t *testing.T) {
	const url = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"
	if r := queueurl.Region(url, "eu-central-1"); r != "eu-central-1" {
		t.Errorf("Region with eu-central-1 configured = %q", r)
	}
	if r := queueurl.Region("http://localhost:4566/000000000000/orders", "us-east-1"); r != "us-east-1" {
		t.Errorf("an emulator URL with us-east-1 configured = %q", r)
	}
}
