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

// Package queueurl reads SQS queue URLs.
package queueurl

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Queue is what an SQS queue URL says.
type Queue struct {
	Region  string
	Account string
	Name    string
	FIFO    bool
}

var (
	region    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	account   = regexp.MustCompile(`^[0-9]{12}$`)
	queueName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)
	fifoName  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,75}\.fifo$`)
	// The host forms of SQS queue URLs; the group is the region.
	hostForms = []*regexp.Regexp{
		regexp.MustCompile(`^sqs\.([^.]*)\.amazonaws\.com(\.cn)?$`),
		regexp.MustCompile(`^([^.]*)\.queue\.amazonaws\.com(\.cn)?$`),
	}
)

// Parse reads https://sqs.<region>.amazonaws.com[.cn]/<account>/<name>, the
// legacy https://<region>.queue.amazonaws.com[.cn]/<account>/<name> and
// https://queue.amazonaws.com/<account>/<name> (us-east-1).
func Parse(raw string) (Queue, error) {
	fail := func(format string, args ...any) (Queue, error) {
		return Queue{}, fmt.Errorf("queue URL %q: %s", raw, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fail("%v", err)
	}
	switch {
	case u.Scheme != "https":
		return fail("scheme must be https")
	case u.User != nil:
		return fail("must not carry user information")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return fail("must not have a query or fragment")
	}
	var q Queue
	known := u.Host == "queue.amazonaws.com"
	if known {
		q.Region = "us-east-1"
	}
	for _, form := range hostForms {
		if m := form.FindStringSubmatch(u.Host); m != nil {
			known, q.Region = true, m[1]
		}
	}
	if !known {
		return fail("host must be an SQS endpoint such as sqs.us-east-1.amazonaws.com")
	}
	if !region.MatchString(q.Region) {
		return fail("invalid region %q in host", q.Region)
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) != 2 || !account.MatchString(parts[0]) {
		return fail("path must be /<12-digit account>/<queue name>")
	}
	q.Account, q.Name = parts[0], parts[1]
	q.FIFO = strings.HasSuffix(q.Name, ".fifo")
	if !(queueName.MatchString(q.Name) || fifoName.MatchString(q.Name)) {
		return fail("invalid queue name %q", q.Name)
	}
	return q, nil
}

// Region is the region of a queue: configured (spec.queue.region) when
// set, else its URL's; "" when neither says.
func Region(raw, configured string) string {
	if configured != "" {
		return configured
	}
	q, err := Parse(raw)
	if err != nil {
		return ""
	}
	return q.Region
}

// SameQueue reports whether two queue URLs name the same queue: the same
// account and queue name, and the same region where both say one. Either
// may be an emulator's URL (http://localhost:4566/<account>/<name>). It
// reports true when either URL does not end in /<account>/<name>: what
// cannot be read is not taken for another queue.
func SameQueue(a, b string) bool {
	qa, oka := accountAndName(a)
	qb, okb := accountAndName(b)
	if !oka || !okb {
		return true
	}
	if ra, rb := Region(a, ""), Region(b, ""); ra != "" && rb != "" && ra != rb {
		return false
	}
	return qa == qb
}

// accountAndName reads the last two path segments of a queue URL.
func accountAndName(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 {
		return "", false
	}
	acct, name := parts[len(parts)-2], parts[len(parts)-1]
	if !account.MatchString(acct) || !(queueName.MatchString(name) || fifoName.MatchString(name)) {
		return "", false
	}
	return acct + "/" + name, true
}

// FromARN reads an SQS queue ARN, arn:<partition>:sqs:<region>:<account>:<name>,
// as a dead-letter queue's RedrivePolicy names it.
func FromARN(arn string) (Queue, error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || !strings.HasPrefix(parts[1], "aws") || parts[2] != "sqs" {
		return Queue{}, fmt.Errorf("queue ARN %q: must be arn:aws:sqs:<region>:<account>:<name>", arn)
	}
	q := Queue{Region: parts[3], Account: parts[4], Name: parts[5], FIFO: strings.HasSuffix(parts[5], ".fifo")}
	if !region.MatchString(q.Region) || !account.MatchString(q.Account) || !(queueName.MatchString(q.Name) || fifoName.MatchString(q.Name)) {
		return Queue{}, fmt.Errorf("queue ARN %q: invalid region, account or queue name", arn)
	}
	return q, nil
}

// URL is the queue's SQS URL, https://sqs.<region>.amazonaws.com/<account>/<name>
// (amazonaws.com.cn in the China regions).
func (q Queue) URL() string {
	domain := "amazonaws.com"
	if strings.HasPrefix(q.Region, "cn-") {
		domain = "amazonaws.com.cn"
	}
	return fmt.Sprintf("https://sqs.%s.%s/%s/%s", q.Region, domain, q.Account, q.Name)
}
