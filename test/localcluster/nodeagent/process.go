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

package nodeagent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// The kubelet's limits on what it reports as a termination message.
const (
	maxMessageBytes  = 4096
	maxLogTailLines  = 80
	maxLogTailBytes  = 2048
	startErrorCode   = 128 // what container runtimes report for a failed exec
	signalExitOffset = 128 // a process killed by signal N exits 128+N
)

// startProcess starts argv (argv[0] being the binary's path) in its own
// process group, with stdout and stderr appended to logPath.
func startProcess(argv, env []string, dir, logPath string) (*exec.Cmd, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	// The child gets its own copy of the descriptor.
	defer log.Close()
	cmd := &exec.Cmd{
		Path:   argv[0],
		Args:   argv,
		Env:    env,
		Dir:    dir,
		Stdout: log,
		Stderr: log,
		SysProcAttr: &syscall.SysProcAttr{
			// A group per container, so that signals reach the processes
			// it starts too.
			Setpgid: true,
			// Nothing outlives the agent, even if it is killed.
			Pdeathsig: syscall.SIGKILL,
		},
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, nil
}

// signalGroup signals a container's process group; a group that is
// already gone is not an error.
func signalGroup(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signalling process group %d: %w", pid, err)
	}
	return nil
}

// exitCode reports how a process ended the way container runtimes do:
// an exit by signal N is exit code 128+N.
func exitCode(ps *os.ProcessState) (code, signal int32) {
	if ps == nil {
		return startErrorCode, 0
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return signalExitOffset + int32(ws.Signal()), int32(ws.Signal())
	}
	return int32(ps.ExitCode()), 0
}

// readTail returns at most the last n bytes of a file ("" if it is missing).
func readTail(path string, n int64) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	start := max(st.Size()-n, 0)
	buf := make([]byte, st.Size()-start)
	if _, err := f.ReadAt(buf, start); err != nil && err != io.EOF {
		return "", err
	}
	return string(buf), nil
}

// logTail is what the kubelet falls back to for the termination message
// of a failed container: the last lines of its log.
func logTail(path string) (string, error) {
	// Lines can be long: read enough bytes for 80 of them to be likely,
	// then keep the last 80 and the last 2048 bytes of those.
	s, err := readTail(path, 64*1024)
	if err != nil {
		return "", err
	}
	return lastLines(s, maxLogTailLines, maxLogTailBytes), nil
}

// lastLines returns the last n lines of s, cut to its last max bytes.
func lastLines(s string, n, maxBytes int) string {
	end := len(s)
	if strings.HasSuffix(s, "\n") {
		end-- // the final newline does not start another line
	}
	start := 0
	for i := 0; i < n; i++ {
		j := strings.LastIndexByte(s[:end], '\n')
		if j < 0 {
			start = 0
			break
		}
		start, end = j+1, j
	}
	s = s[start:]
	if len(s) > maxBytes {
		s = s[len(s)-maxBytes:]
	}
	return s
}

// lookPath finds a host command on the container's PATH, as a runtime
// would when exec'ing it.
func lookPath(file, path string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, file)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", file)
}
