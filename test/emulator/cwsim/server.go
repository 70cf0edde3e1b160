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

// Package cwsim is a small CloudWatch simulator that speaks the Smithy RPC
// v2 CBOR protocol of github.com/aws/aws-sdk-go-v2/service/cloudwatch. It
// implements PutMetricData, GetMetricData (MetricStat queries with the
// Average, Maximum, Minimum, Sum and SampleCount statistics) and
// ListMetrics over an in-memory store, and a Publisher that writes the
// AWS/SQS metrics of the fauxqs SQS emulator's queues once a period.
//
// Point the SDK at it with AWS_ENDPOINT_URL_CLOUDWATCH=<url> (or the
// client's BaseEndpoint) and any static credentials; signatures are not
// checked.
package cwsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// PageSize is the most datapoints one GetMetricData response returns
	// across all its results before it sets NextToken. The request's
	// MaxDatapoints lowers it further. Default 100, much smaller than
	// CloudWatch's 100,800, so that callers' pagination is exercised.
	PageSize int
	// ListPageSize is the most metrics one ListMetrics response returns.
	// Default 500, as CloudWatch.
	ListPageSize int
	// VisibilityDelay hides a datapoint from GetMetricData and ListMetrics
	// until this long after it was stored, like CloudWatch's ingestion
	// delay. Default 0.
	VisibilityDelay time.Duration
	// AllowAWSNamespaces lets PutMetricData write namespaces starting with
	// "AWS/", which CloudWatch refuses. The Publisher writes AWS/SQS
	// directly and does not need it; a test that fakes AWS/SQS datapoints
	// through the SDK does.
	AllowAWSNamespaces bool
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Server is the simulator. It implements http.Handler and is safe for
// concurrent use.
type Server struct {
	opts Options

	mu       sync.Mutex
	store    *store
	calls    map[string]int
	failures map[string]*injectedFailure
	reqID    atomic.Uint64
}

type injectedFailure struct {
	remaining int
	err       *APIError
}

// New returns a simulator with an empty metric store.
func New(opts Options) *Server {
	if opts.PageSize <= 0 {
		opts.PageSize = 100
	}
	if opts.ListPageSize <= 0 {
		opts.ListPageSize = 500
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Server{
		opts:     opts,
		store:    newStore(),
		calls:    map[string]int{},
		failures: map[string]*injectedFailure{},
	}
}

// Calls returns how many requests for operation op (for example
// "GetMetricData") the server has received, including the ones it failed
// and the SDK's retries.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// FailNext makes the next n requests for op fail with the given error
// code and HTTP status (0: the code's modeled status, or 400). code may
// be a CloudWatch awsQuery code ("InvalidParameterValue",
// "InternalServiceError"), a modeled shape name
// ("InvalidParameterValueException") or any other code ("Throttling",
// "AccessDenied"); the SDK's error has ErrorCode() == the query code, or
// code itself when it is not modeled. Mind the SDK's retryer: throttling
// codes and 5xx statuses are retried, and each attempt consumes one
// failure. n <= 0 clears the injection.
func (s *Server) FailNext(op string, n int, code string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		delete(s.failures, op)
		return
	}
	s.failures[op] = &injectedFailure{
		remaining: n,
		err:       NewAPIError(code, status, fmt.Sprintf("cwsim: injected %s failure", code)),
	}
}

// Reset forgets all datapoints, call counts and injected failures.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store = newStore()
	s.calls = map[string]int{}
	s.failures = map[string]*injectedFailure{}
}

// PutValue stores one datapoint without PutMetricData's validation; the
// Publisher uses it to write AWS/SQS metrics. unit "" means "None".
func (s *Server) PutValue(namespace, metricName string, dims []Dimension, ts time.Time, value float64, unit string) {
	if unit == "" {
		unit = unitNone
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store.put(namespace, metricName, dims, sample{
		ts: ts, received: s.opts.Now(), unit: unit,
		count: 1, sum: value, min: value, max: value,
	})
}

// Start serves the simulator on addr ("127.0.0.1:0" for any free port) and
// returns its base URL and a function that stops it.
func (s *Server) Start(addr string) (url string, stop func() error, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	stop = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(ctx)
		if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
		return err
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// ServeHTTP implements the RPC v2 CBOR endpoint
// POST /service/GraniteServiceVersion20100801/operation/<Op>, plus
// GET /health and GET /_cwsim/series (a JSON dump of the stored series
// for debugging).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/health":
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
		return
	case r.URL.Path == "/_cwsim/series" && r.Method == http.MethodGet:
		s.serveSeries(w)
		return
	}

	op, ok := strings.CutPrefix(r.URL.Path, operationDir)
	if !ok || op == "" || strings.Contains(op, "/") {
		s.writeError(w, &APIError{Status: 404, Type: "UnknownOperationException", messageKey: messageMember,
			Message: fmt.Sprintf("no such operation path %q; CloudWatch RPC v2 CBOR paths are %s<Operation>", r.URL.Path, operationDir)})
		return
	}

	s.mu.Lock()
	s.calls[op]++
	s.mu.Unlock()

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.writeError(w, &APIError{Status: 405, Type: "MethodNotAllowed", messageKey: messageMember,
			Message: "RPC v2 CBOR operations must be called with POST"})
		return
	}
	if injected := s.takeFailure(op); injected != nil {
		s.writeError(w, injected)
		return
	}
	if !slices.Contains(supportedOperations, op) {
		s.writeError(w, errUnknownOperation(op))
		return
	}
	if p := r.Header.Get("Smithy-Protocol"); p != "rpc-v2-cbor" {
		s.writeError(w, errSerialization("header Smithy-Protocol is %q, want \"rpc-v2-cbor\"", p))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.writeError(w, NewAPIError("RequestEntityTooLarge", 413, "request body is larger than 4 MiB"))
			return
		}
		s.writeError(w, errSerialization("reading request body: %v", err))
		return
	}
	if len(body) > 0 {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/cbor") {
			s.writeError(w, &APIError{Status: 415, Type: "UnsupportedMediaTypeException", messageKey: messageMember,
				Message: fmt.Sprintf("Content-Type is %q, want application/cbor", ct)})
			return
		}
	}

	out, apiErr := s.handle(op, r.Header.Get("Content-Encoding"), body)
	if apiErr != nil {
		s.writeError(w, apiErr)
		return
	}
	payload, err := encMode.Marshal(out)
	if err != nil {
		s.writeError(w, NewAPIError("InternalServiceError", 500, "encoding response: "+err.Error()))
		return
	}
	s.writeHeaders(w)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(payload)
}

// takeFailure consumes one injected failure for op, if any.
func (s *Server) takeFailure(op string) *APIError {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.failures[op]
	if f == nil {
		return nil
	}
	if f.remaining--; f.remaining <= 0 {
		delete(s.failures, op)
	}
	return f.err
}

// handle decodes and runs one operation.
func (s *Server) handle(op, contentEncoding string, body []byte) (any, *APIError) {
	in, apiErr := decodeRequest(op, contentEncoding, body)
	if apiErr != nil {
		return nil, apiErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	switch in := in.(type) {
	case *putMetricDataInput:
		return s.putMetricData(in, now)
	case *getMetricDataInput:
		return s.getMetricData(in, now)
	case *listMetricsInput:
		return s.listMetrics(in, now)
	}
	return nil, errUnknownOperation(op)
}

func (s *Server) writeHeaders(w http.ResponseWriter) {
	id := s.reqID.Add(1)
	h := w.Header()
	h.Set("Smithy-Protocol", "rpc-v2-cbor")
	h.Set("Content-Type", "application/cbor")
	h.Set("X-Amzn-Requestid", "cwsim-"+strconv.FormatUint(id, 10))
}

func (s *Server) writeError(w http.ResponseWriter, e *APIError) {
	s.writeHeaders(w)
	if q := e.queryErrorHeader(); q != "" {
		w.Header().Set("X-Amzn-Query-Error", q)
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(e.body())
}

type seriesDump struct {
	Namespace  string      `json:"namespace"`
	MetricName string      `json:"metricName"`
	Dimensions []Dimension `json:"dimensions"`
	Datapoints int         `json:"datapoints"`
	Last       *sampleDump `json:"last,omitempty"`
}

type sampleDump struct {
	Timestamp   time.Time `json:"timestamp"`
	Unit        string    `json:"unit"`
	SampleCount float64   `json:"sampleCount"`
	Sum         float64   `json:"sum"`
	Minimum     float64   `json:"minimum"`
	Maximum     float64   `json:"maximum"`
}

func (s *Server) serveSeries(w http.ResponseWriter) {
	s.mu.Lock()
	keys := s.store.sortedKeys()
	out := make([]seriesDump, 0, len(keys)) // not nil: no series is [], not null
	for _, k := range keys {
		sr := s.store.series[k]
		d := seriesDump{Namespace: sr.namespace, MetricName: sr.name, Dimensions: sr.dims, Datapoints: len(sr.samples)}
		if n := len(sr.samples); n > 0 {
			l := sr.samples[n-1]
			d.Last = &sampleDump{Timestamp: l.ts, Unit: l.unit, SampleCount: l.count, Sum: l.sum, Minimum: l.min, Maximum: l.max}
		}
		out = append(out, d)
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}
