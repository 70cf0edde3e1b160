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

// Package awshttp holds what the project adds to the AWS SDK's HTTP client.
package awshttp

import (
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awstransport "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// SafeBodies wraps the SDK's HTTP client so that request bodies are plain
// readers, without io.WriterTo.
//
// smithy-go closes a request body as soon as client.Do returns, and its
// closed body's WriteTo returns io.EOF as an error. net/http writes a body
// straight to the socket after flushing the headers, then checks the body
// for extra bytes with io.Copy(io.Discard, body), which uses WriteTo. When
// the response arrives before that check runs (the writing goroutine is
// descheduled; frequent on a loaded machine), the check fails, net/http
// takes it for a write error and closes the connection while the response
// body is being read, and the SDK retries the call (the symptom of
// aws-sdk-go-v2#2737): the first ReceiveMessage's messages then stay
// invisible until their visibility timeout, and a SendMessageBatch is sent
// twice. A closed body's Read returns io.EOF, which the check accepts.
//
// A nil client is the SDK's default one: LoadDefaultConfig leaves
// HTTPClient unset unless something such as AWS_CA_BUNDLE customizes it.
func SafeBodies(c aws.HTTPClient) aws.HTTPClient {
	if c == nil {
		c = awstransport.NewBuildableClient()
	}
	return safeBodies{c}
}

type safeBodies struct{ next aws.HTTPClient }

// readCloser hides every method of a body but Read and Close.
type readCloser struct{ io.ReadCloser }

func (s safeBodies) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = readCloser{r.Body}
	}
	return s.next.Do(r)
}
