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

package awshttp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/queuedrainer/queue-drainer/internal/awshttp"
)

// writerToBody is a request body like smithy-go's: it has WriteTo.
type writerToBody struct {
	io.Reader
}

func (writerToBody) Close() error                         { return nil }
func (b writerToBody) WriteTo(w io.Writer) (int64, error) { return io.Copy(w, b.Reader) }

type doFunc func(*http.Request) (*http.Response, error)

func (f doFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

func TestSafeBodiesHideWriteToFromTheTransport(t *testing.T) {
	var sent string
	client := awshttp.SafeBodies(doFunc(func(r *http.Request) (*http.Response, error) {
		if _, ok := r.Body.(io.WriterTo); ok {
			t.Error("the transport sees a request body with WriteTo")
		}
		b, err := io.ReadAll(r.Body)
		sent = string(b)
		return &http.Response{StatusCode: 200, Body: http.NoBody}, err
	}))
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", writerToBody{strings.NewReader("{}")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Do(req); err != nil || sent != "{}" {
		t.Fatalf("sent %q, err %v; want the body {} sent", sent, err)
	}
}

// LoadDefaultConfig leaves HTTPClient nil without AWS_CA_BUNDLE and the
// like (as in a pod); the wrapper must still send requests.
func TestSafeBodiesOfANilClientUsesTheSDKDefault(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	}))
	defer srv.Close()
	req, err := http.NewRequest(http.MethodPost, srv.URL, writerToBody{strings.NewReader("hello")})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := awshttp.SafeBodies(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "hello" {
		t.Fatalf("echoed %q, want hello", b)
	}
}
