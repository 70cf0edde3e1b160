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
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// followPoll is how often a followed log is checked for more output.
const followPoll = 200 * time.Millisecond

// startLogServer serves the kubelet's /containerLogs endpoint over HTTPS
// on a free loopback port, which the API server proxies `kubectl logs` to.
// Without --kubelet-certificate-authority the API server does not verify
// the certificate, so a self-signed one does. It returns a function that
// stops the server.
func (a *Agent) startLogServer() (stop func(), err error) {
	cert, err := selfSignedCert(a.o.NodeName)
	if err != nil {
		return nil, fmt.Errorf("nodeagent: log server certificate: %w", err)
	}
	ln, err := net.Listen("tcp", nodeIP+":0")
	if err != nil {
		return nil, fmt.Errorf("nodeagent: log server: %w", err)
	}
	a.logsPort = ln.Addr().(*net.TCPAddr).Port
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", a.serveLogs)
	srv := &http.Server{
		Handler:           mux,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // TLS handshake noise from probes
	}
	var serving sync.WaitGroup
	serving.Go(func() {
		if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("log server stopped", "error", err)
		}
	})
	return func() {
		_ = srv.Close()
		serving.Wait()
	}, nil
}

// serveLogs writes a container's log: all of it, its last tailLines lines,
// and with follow=true what comes next until the container stops. Every
// run is in the one file, so previous is ignored.
func (a *Agent) serveLogs(rw http.ResponseWriter, r *http.Request) {
	ns, name, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	w := a.workerWith(ns, name, container)
	if w == nil {
		http.Error(rw, fmt.Sprintf("container %q of pod %s/%s is not on this node", container, ns, name), http.StatusNotFound)
		return
	}
	f, err := os.Open(w.logPath(container))
	if errors.Is(err, os.ErrNotExist) {
		http.Error(rw, fmt.Sprintf("container %q in pod %q is waiting to start", container, name), http.StatusBadRequest)
		return
	}
	if err != nil {
		http.Error(rw, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	if s := r.URL.Query().Get("tailLines"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			http.Error(rw, "tailLines: not a non-negative number", http.StatusBadRequest)
			return
		}
		offset, err := tailOffset(f, n)
		if err == nil {
			_, err = f.Seek(offset, io.SeekStart)
		}
		if err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	rw.Header().Set("Content-Type", "text/plain")
	follow, _ := strconv.ParseBool(r.URL.Query().Get("follow"))
	flusher, _ := rw.(http.Flusher)
	for {
		// Whether it runs is read before copying, so that nothing written
		// before it stopped is missed.
		running := w.isRunning(container)
		n, err := io.Copy(rw, f)
		if err != nil || !follow || (!running && n == 0) {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(followPoll):
		}
	}
}

// tailOffset finds where the last n lines of a file start, reading it
// backwards.
func tailOffset(f *os.File, n int) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if n == 0 {
		return size, nil
	}
	buf := make([]byte, 32*1024)
	seen := 0
	for pos := size; pos > 0; {
		chunk := buf[:min(int64(len(buf)), pos)]
		pos -= int64(len(chunk))
		if _, err := f.ReadAt(chunk, pos); err != nil && err != io.EOF {
			return 0, err
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			// The final newline ends the last line rather than starting one.
			if at := pos + int64(i); chunk[i] == '\n' && at != size-1 {
				if seen++; seen == n {
					return at + 1, nil
				}
			}
		}
	}
	return 0, nil
}

// selfSignedCert makes a certificate for the log server, in memory.
func selfSignedCert(host string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP(nodeIP)},
		DNSNames:     []string{"localhost", host},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
