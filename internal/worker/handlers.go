package worker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
)

// HTTPHandler POSTs each message's body to URL; any 2xx answer is success.
// The message ID and attributes travel as headers: X-Message-Id and
// X-Message-Attribute-<name>.
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
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-Message-Id", m.ID)
	for k, v := range m.Attributes {
		if headerSafe(k) && headerSafe(v) {
			req.Header.Set("X-Message-Attribute-"+k, v)
		}
	}
	client := h.Client
	if client == nil {
		client = http.DefaultClient
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

// headerSafe keeps values that cannot travel in an HTTP header out of it
// (the body is always delivered whole).
func headerSafe(s string) bool {
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return false
		}
	}
	return true
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
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(lastLine(stderr.String())))
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
