package awshttp_test

import (
	"io"
	"net/http"
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
