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

// Package faultproxy is a loopback HTTP proxy for an SQS endpoint (the
// fauxqs emulator) that injects the failures real SQS has: throttling,
// server errors, dropped connections, and an endpoint that refuses
// connections altogether. It counts the requests it sees per operation and
// queue, retries included, which shows what the SDK's retryer does. It can
// also hold every call for a latency with jitter (SetLatency), to measure
// consumers at the milliseconds a call to SQS takes instead of the
// microseconds of loopback.
//
// It speaks the SQS JSON protocol the Go SDK uses: the operation is in the
// X-Amz-Target header (AmazonSQS.GetQueueAttributes) and the queue in the
// body's QueueUrl or QueueName.
package faultproxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// Fault is an answer the proxy gives instead of forwarding a request.
type Fault struct {
	// Status is the HTTP status; 0 closes the connection without an answer.
	Status int
	// Code is the AWS error code, as SQS sends it in the body's __type and
	// in the x-amzn-query-error header.
	Code string
}

// The faults SQS is known to return. The SDK retries all of them: the two
// throttling codes as throttles (with the longer backoff), the 5xx statuses
// and a dropped connection as transient errors.
var (
	// RequestThrottled is SQS's own throttling error (modeled in the SDK as
	// types.RequestThrottled).
	RequestThrottled = Fault{Status: http.StatusBadRequest, Code: "RequestThrottled"}
	// ThrottlingException is the generic AWS "Rate exceeded" error.
	ThrottlingException = Fault{Status: http.StatusBadRequest, Code: "ThrottlingException"}
	InternalError       = Fault{Status: http.StatusInternalServerError, Code: "InternalError"}
	ServiceUnavailable  = Fault{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable"}
	// Drop reads the request and closes the connection.
	Drop = Fault{}
)

// Always makes Inject's fault apply until Clear.
const Always = -1

// Request is one request the proxy received.
type Request struct {
	At        time.Time
	Operation string // GetQueueAttributes
	Queue     string // the queue's name, "" when the request names none
	// Fault is the injected answer, nil when the request was forwarded.
	Fault *Fault
}

// Latency is how long the proxy holds each call before it forwards it (or
// answers it with a fault): Mean, plus or minus up to Jitter, uniformly
// distributed, drawn for each call. Jitter is at most Mean, so that the mean
// is Mean. The zero Latency forwards at once.
type Latency struct {
	Mean, Jitter time.Duration
}

func (l Latency) String() string {
	if l.Jitter == 0 {
		return l.Mean.String()
	}
	return l.Mean.String() + "±" + l.Jitter.String()
}

// draw is one call's latency.
func (l Latency) draw() time.Duration {
	if l.Jitter <= 0 {
		return l.Mean
	}
	return l.Mean - l.Jitter + time.Duration(rand.Int64N(int64(2*l.Jitter)+1))
}

// Proxy forwards to an SQS endpoint, except for the requests it is told to fail.
type Proxy struct {
	forward *httputil.ReverseProxy

	mu        sync.Mutex
	addr      string
	srv       *http.Server
	rules     []*rule
	log       []Request
	noLog     bool
	latency   Latency
	closed    bool
	forwarded int64
}

type rule struct {
	op, queue string
	left      int // Always: no limit
	fault     Fault
}

// Start serves a proxy for target on a free loopback port.
func Start(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: target %q is not a URL", target)
	}
	// Keep a connection to the target for every call in flight: the
	// default transport keeps 2, and dialing again for each call of a busy
	// client costs both ends CPU that has nothing to do with SQS.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConns, transport.MaxIdleConnsPerHost = 1024, 1024
	p := &Proxy{forward: &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u) }, Transport: transport}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.addr = l.Addr().String()
	p.serve(l)
	return p, nil
}

// URL is the proxy's endpoint, for BaseEndpoint or AWS_ENDPOINT_URL_SQS.
func (p *Proxy) URL() string { return "http://" + p.addr }

func (p *Proxy) serve(l net.Listener) {
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func(srv *http.Server) { _ = srv.Serve(l) }(p.srv)
}

// Close stops the proxy.
func (p *Proxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.srv != nil {
		_ = p.srv.Close()
		p.srv = nil
	}
}

// SetDown(true) closes the listener and every open connection, so that
// clients get "connection refused", as from an endpoint that is down;
// SetDown(false) listens again on the same address.
func (p *Proxy) SetDown(down bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return fmt.Errorf("faultproxy: closed")
	case down && p.srv != nil:
		err := p.srv.Close()
		p.srv = nil
		return err
	case !down && p.srv == nil:
		l, err := net.Listen("tcp", p.addr)
		if err != nil {
			return fmt.Errorf("faultproxy: listening again on %s: %w", p.addr, err)
		}
		p.serve(l)
	}
	return nil
}

// SetLatency holds every request received from now on for l before it is
// forwarded or answered (a fault included), like the round trip to a
// regional SQS endpoint; the zero Latency stops it. A held request costs no
// CPU, and any number may be held at once. A request whose client gives up
// while held is dropped.
func (p *Proxy) SetLatency(l Latency) error {
	if l.Mean < 0 || l.Jitter < 0 || l.Jitter > l.Mean {
		return fmt.Errorf("faultproxy: latency %s: want 0 <= jitter <= mean", l)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = l
	return nil
}

// SetLogging(false) stops keeping the requests that Requests, Calls and
// Injected report (a benchmark's millions of calls would pile up), and
// forgets those kept; SetLogging(true) starts again. Forwarded counts
// requests either way.
func (p *Proxy) SetLogging(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.noLog = !on
	if !on {
		p.log = nil
	}
}

// Forwarded counts the requests forwarded to the target so far.
func (p *Proxy) Forwarded() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.forwarded
}

// Inject makes the next n requests for op (GetQueueAttributes) about queue
// (a queue name; "" for any) answer with f; n may be Always. Injections are
// used in the order they were made.
func (p *Proxy) Inject(op, queue string, n int, f Fault) {
	if n == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, &rule{op: op, queue: queue, left: n, fault: f})
}

// Clear removes every injection that is left.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

// Requests returns what the proxy received for op and queue ("" for any),
// in order.
func (p *Proxy) Requests(op, queue string) []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Request
	for _, r := range p.log {
		if (op == "" || r.Operation == op) && (queue == "" || r.Queue == queue) {
			out = append(out, r)
		}
	}
	return out
}

// Calls counts the requests for op and queue, failed ones included.
func (p *Proxy) Calls(op, queue string) int { return len(p.Requests(op, queue)) }

// Injected counts the requests for op and queue that were answered with a fault.
func (p *Proxy) Injected(op, queue string) int {
	n := 0
	for _, r := range p.Requests(op, queue) {
		if r.Fault != nil {
			n++
		}
	}
	return n
}

// ServeHTTP forwards the request or answers it with the next matching fault.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The whole body is read before answering: the queue is in it, and an
	// answer that overtakes the body confuses the client's transport.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	at := time.Now()
	p.mu.Lock()
	latency, lean := p.latency, p.noLog && len(p.rules) == 0
	p.mu.Unlock()
	var req Request
	if !lean { // no need to parse the body when nothing is logged or injected
		req = Request{At: at, Operation: operation(r), Queue: queueOf(body)}
		req.Fault = p.take(req.Operation, req.Queue)
	}
	p.mu.Lock()
	if !p.noLog {
		p.log = append(p.log, req)
	}
	if req.Fault == nil {
		p.forwarded++
	}
	p.mu.Unlock()

	if d := latency.draw(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done(): // the client gave up or went away
			t.Stop()
			return
		}
	}
	switch f := req.Fault; {
	case f == nil:
		p.forward.ServeHTTP(w, r)
	case f.Status == 0:
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	default:
		writeError(w, *f)
	}
}

// take consumes one use of the first injection that matches.
func (p *Proxy) take(op, queue string) *Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, ru := range p.rules {
		if ru.op != op || ru.queue != "" && ru.queue != queue {
			continue
		}
		if ru.left > 0 {
			ru.left--
			if ru.left == 0 {
				p.rules = slices.Delete(p.rules, i, i+1)
			}
		}
		f := ru.fault
		return &f
	}
	return nil
}

// writeError answers as SQS does over its JSON protocol. The SDK reads the
// code from __type (without the namespace) and, since SQS is
// awsQuery-compatible, from x-amzn-query-error "<code>;<Sender|Receiver>",
// which wins when present.
func writeError(w http.ResponseWriter, f Fault) {
	fault := "Sender"
	if f.Status >= 500 {
		fault = "Receiver"
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("x-amzn-query-error", f.Code+";"+fault)
	w.Header().Set("x-amzn-RequestId", fmt.Sprintf("faultproxy-%d", time.Now().UnixNano()))
	w.WriteHeader(f.Status)
	_ = json.NewEncoder(w).Encode(map[string]string{
		"__type":  "com.amazonaws.sqs#" + f.Code,
		"message": "faultproxy: injected " + f.Code,
	})
}

// operation is the SQS operation of a JSON-protocol request.
func operation(r *http.Request) string {
	target := r.Header.Get("X-Amz-Target")
	return target[strings.LastIndex(target, ".")+1:]
}

// queueOf is the queue a request is about, by name.
func queueOf(body []byte) string {
	var in struct{ QueueUrl, QueueName string }
	if json.Unmarshal(body, &in) != nil {
		return ""
	}
	if in.QueueName != "" {
		return in.QueueName
	}
	if in.QueueUrl != "" {
		return path.Base(in.QueueUrl)
	}
	return ""
}
