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
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/queuedrainer/queue-drainer/internal/worker"
)

func TestHTTPHandlerPostsTheBodyWithAttributesAsHeaders(t *testing.T) {
	var got struct{ body, id, attr, odd string }
	status := http.StatusNoContent
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.body, got.id = string(b), r.Header.Get("X-Message-Id")
		got.attr, got.odd = r.Header.Get("X-Message-Attribute-Tenant"), r.Header.Get("X-Message-Attribute-Note")
		w.WriteHeader(status)
	}))
	defer srv.Close()
	h := worker.HTTPHandler{URL: srv.URL}
	msg := worker.Message{ID: "m-1", Body: "héllo\x00wörld", Attributes: map[string]string{"Tenant": "acme", "Note": "naïve"}}
	if err := h.Handle(context.Background(), msg); err != nil {
		t.Fatalf("2xx answer: %v", err)
	}
	if got.body != msg.Body || got.id != "m-1" || got.attr != "acme" || got.odd != "" {
		t.Errorf("server saw body %q id %q tenant %q note %q; want the body byte for byte, non-ASCII attributes left out", got.body, got.id, got.attr, got.odd)
	}
	status = http.StatusInternalServerError
	if err := h.Handle(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("500 answer gave %v, want an error naming the status", err)
	}
}

func TestHTTPHandlerGivesUpAtItsDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // an endpoint that hangs
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := (worker.HTTPHandler{URL: srv.URL}).Handle(ctx, worker.Message{Body: "x"}); err == nil {
		t.Error("a handler past its deadline succeeded")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("gave up after %s, want at its 200ms deadline", took)
	}
}

func TestExecHandlerPassesTheBodyOnStdin(t *testing.T) {
	ok := worker.ExecHandler{Command: []string{"sh", "-c", `test "$(cat)" = "order 42" && test "$MESSAGE_ID" = m-7`}}
	if err := ok.Handle(context.Background(), worker.Message{ID: "m-7", Body: "order 42"}); err != nil {
		t.Errorf("exit 0 expected: %v", err)
	}
	bad := worker.ExecHandler{Command: []string{"sh", "-c", `echo "cannot parse order" >&2; exit 3`}}
	err := bad.Handle(context.Background(), worker.Message{Body: "x"})
	if err == nil || !strings.Contains(err.Error(), "cannot parse order") {
		t.Errorf("exit 3 gave %v, want an error with the command's last stderr line", err)
	}
	silent := worker.ExecHandler{Command: []string{"false"}}
	if err := silent.Handle(context.Background(), worker.Message{Body: "x"}); err == nil || err.Error() != "exit status 1" {
		t.Errorf("a silent exit 1 gave %v, want just exit status 1", err)
	}
}

func TestHTTPHandlerLeavesOutWhatAHeaderCannotCarryAndStillDelivers(t *testing.T) {
	var header http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header = r.Header.Clone()
	}))
	defer srv.Close()
	msg := worker.Message{ID: "m-1", Body: "x",
		Attributes: map[string]string{
			"bad name": "v",           // HTTP would refuse the whole request
			"Colon:":   "v",           //
			"Padded":   " v ",         // receivers trim header values
			"Split":    "a\r\nX-I: 1", // header injection
			"Tenant":   "acme",
		},
		BinaryAttributes: map[string][]byte{"Blob": {0, 0xff}},
	}
	if err := (worker.HTTPHandler{URL: srv.URL}).Handle(context.Background(), msg); err != nil {
		t.Fatalf("a message with odd attributes could not be delivered: %v", err)
	}
	for k := range header {
		if strings.HasPrefix(k, "X-Message-Attribute-") && k != "X-Message-Attribute-Tenant" || k == "X-I" {
			t.Errorf("header %s = %q was sent; only Tenant can travel exactly", k, header[k])
		}
	}
	if header.Get("X-Message-Attribute-Tenant") != "acme" || header.Get("X-Message-Binary-Attribute-Blob") != "AP8=" {
		t.Errorf("headers %v, want Tenant acme and Blob in base64 (AP8=)", header)
	}
}
