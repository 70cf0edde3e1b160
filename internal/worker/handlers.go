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
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
)

// handlerClient keeps a connection for each handler in flight (up to 256):
// Go's default keeps 2 per host, so with 16 handlers the others were closed
// after each request, and a fast drain left tens of thousands of sockets in
// TIME_WAIT, a new connection per message.
var handlerClient = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 256
	return &http.Client{Transport: t}
}()

// HTTPHandler POSTs each message's body to URL; any 2xx answer is success.
// The message ID and attributes travel as headers: X-Message-Id,
// X-Message-Attribute-<name> for the string attributes a header carries
// exactly, and X-Message-Binary-Attribute-<name> (base64) for binary ones.
type HTTPHandler struct {
	URL    string
	Client *http.Client
}

// Handle implements Handler.
func (h HTTPHandler) Handle(ctx context.Context, m Message) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, strings.NewReader(m.Body))
	if err != nil {
		return err
	}
	req.Header = messageHeaders(m)
	req.Header.Set("Content-Type", "application/octet-stream")
	client := h.Client
	if client == nil {
		client = handlerClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("handler answered %s", resp.Status)
	}
	return nil
}

// messageHeaders carries a message's ID and attributes as headers. What a
// header cannot carry exactly is left out rather than altered: a name that
// is not an SQS attribute name (HTTP would refuse the whole request, and
// the message could never be handled), and a value that is not printable
// ASCII or has spaces at its ends (receivers trim them). The body is
// always delivered whole.
func messageHeaders(m Message) http.Header {
	h := http.Header{}
	if headerValue(m.ID) {
		h.Set("X-Message-Id", m.ID)
	}
	for k, v := range m.Attributes {
		if attributeName(k) && headerValue(v) {
			h.Set("X-Message-Attribute-"+k, v)
		}
	}
	for k, v := range m.BinaryAttributes {
		if attributeName(k) {
			h.Set("X-Message-Binary-Attribute-"+k, base64.StdEncoding.EncodeToString(v))
		}
	}
	return h
}

// attributeName reports whether s is made of the characters SQS allows in
// attribute names, all of which HTTP allows in header names.
func attributeName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func headerValue(s string) bool {
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return false
		}
	}
	return strings.Trim(s, " ") == s
}

// ExecHandler runs a command per message with the body on stdin; exit 0 is
// success. MESSAGE_ID and MESSAGE_GROUP_ID are in its environment.
type ExecHandler struct {
	Command []string
}

// Handle implements Handler.
func (h ExecHandler) Handle(ctx context.Context, m Message) error {
	if len(h.Command) == 0 {
		return fmt.Errorf("no command")
	}
	cmd := exec.CommandContext(ctx, h.Command[0], h.Command[1:]...)
	cmd.Stdin = strings.NewReader(m.Body)
	cmd.Env = append(cmd.Environ(), "MESSAGE_ID="+m.ID, "MESSAGE_GROUP_ID="+m.GroupID)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if line := strings.TrimSpace(lastLine(stderr.String())); line != "" {
			return fmt.Errorf("%w: %s", err, line)
		}
		return err
	}
	return nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
