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
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Pod addresses. Pods share the host's network namespace, but each gets an
// address of its own on the loopback (Linux routes all of 127.0.0.0/8 to
// lo), reported as status.podIP and given to the downward API: two pods'
// sidecars can then both listen on port 8080, each on its pod's address,
// as they would in pods of their own. Pods with hostNetwork get the node's.
const (
	podIPPrefix = "127.10." // 127.10.0.1 to 127.10.255.254
	podIPCount  = 1<<16 - 2
)

// podIPs hands out pod addresses, none twice at once.
type podIPs struct {
	mu   sync.Mutex
	next int
	used map[string]bool
}

func (p *podIPs) acquire() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range podIPCount {
		n := p.next%podIPCount + 1
		p.next++
		ip := fmt.Sprintf("%s%d.%d", podIPPrefix, n>>8, n&0xff)
		if !p.used[ip] {
			p.used[ip] = true
			return ip
		}
	}
	return nodeIP // 65,534 live pods: share the node's
}

func (p *podIPs) release(ip string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.used, ip)
}

// probePoll paces a sidecar's startup probe. The kubelet probes every
// periodSeconds (at least 1 s); the agent probes more often so that a pod
// starts as soon as its sidecar listens, which only makes it start sooner.
const probePoll = 50 * time.Millisecond

// probeStartup runs a sidecar's startup probe when it is due, and marks
// the container started once it passes. tcpSocket and httpGet probes are
// run (on the pod's address unless they name a host); an exec or gRPC
// probe passes at once, as the agent cannot run them. failureThreshold is
// not enforced: a sidecar that never answers keeps the pod initializing.
func (w *podWorker) probeStartup(c *container, now time.Time) {
	if now.Before(c.probeAt) {
		w.wake(c.probeAt)
		return
	}
	if err := w.probe(c, c.spec.StartupProbe); err != nil {
		c.probeAt = now.Add(probePoll)
		w.wake(c.probeAt)
		return
	}
	w.log.Info("startup probe passed", "container", c.spec.Name)
	c.started, c.startedOnce = true, true
}

func (w *podWorker) probe(c *container, p *corev1.Probe) error {
	timeout := min(time.Duration(max(p.TimeoutSeconds, 1))*time.Second, time.Second)
	switch {
	case p.TCPSocket != nil:
		port, err := probePort(c.spec, p.TCPSocket.Port)
		if err != nil {
			return err
		}
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(w.probeHost(p.TCPSocket.Host), port), timeout)
		if err != nil {
			return err
		}
		return conn.Close()
	case p.HTTPGet != nil:
		g := p.HTTPGet
		port, err := probePort(c.spec, g.Port)
		if err != nil {
			return err
		}
		scheme := strings.ToLower(string(g.Scheme))
		if scheme == "" {
			scheme = "http"
		}
		req, err := http.NewRequest(http.MethodGet, scheme+"://"+net.JoinHostPort(w.probeHost(g.Host), port)+"/"+strings.TrimPrefix(g.Path, "/"), nil)
		if err != nil {
			return err
		}
		for _, h := range g.HTTPHeaders {
			req.Header.Add(h.Name, h.Value)
		}
		resp, err := (&http.Client{Timeout: timeout}).Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("startup probe: %s", resp.Status)
		}
	}
	return nil
}

func (w *podWorker) probeHost(host string) string {
	if host != "" {
		return host
	}
	return w.podIP
}

// probePort resolves a probe's port, a number or the name of one of the
// container's ports.
func probePort(c *corev1.Container, port intstr.IntOrString) (string, error) {
	if port.Type == intstr.Int {
		return strconv.Itoa(int(port.IntVal)), nil
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return strconv.Itoa(int(p.ContainerPort)), nil
		}
	}
	return "", fmt.Errorf("startup probe: container %q has no port named %q", c.Name, port.StrVal)
}
