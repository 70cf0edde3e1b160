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

// Command noophttp is a handler that does nothing, fast: it answers every
// request with 204 No Content once it has read the body. The demo and the
// end-to-end suite run it as a native sidecar beside drain-worker --http,
// so that a drain goes at the worker's speed rather than at a real
// handler's (the local cluster's node agent maps the image
// ghcr.io/queuedrainer/noop-http to it).
//
//	noophttp --listen 127.0.0.1:8080
//	noophttp --listen 127.0.0.1:8080 --delay 4ms   # each answer after 4 ms
//
// --delay stands for a handler's own latency (a call to a database, say):
// the handlers of several workers then wait side by side, so that the
// drain rate grows with the workers, as it does with a real downstream
// service, rather than with what CPU is left on the machine.
//
// It counts what it answered and prints the count when it stops (SIGTERM,
// as Kubernetes stops a sidecar once the pod's main containers are done).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	delay := flag.Duration("delay", 0, "time each answer waits, as a handler's own latency")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "noophttp:", err)
		os.Exit(1)
	}
	var answered atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			if *delay > 0 {
				time.Sleep(*delay)
			}
			answered.Add(1)
			w.WriteHeader(http.StatusNoContent)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	fmt.Printf("noophttp: answering 204 on http://%s/\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = srv.Shutdown(shutdown)
		cancel()
	}
	fmt.Printf("noophttp: answered %d requests\n", answered.Load())
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "noophttp:", err)
		os.Exit(1)
	}
}
