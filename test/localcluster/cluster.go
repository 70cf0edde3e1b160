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

// Package localcluster runs a small, real Kubernetes cluster on this machine
// without containers: etcd, kube-apiserver, kube-controller-manager (the real
// Job, garbage-collector, TTL, service-account, namespace, Deployment and
// ReplicaSet controllers) and kube-scheduler as local processes, and a node
// agent (package nodeagent) that runs the pods scheduled to its Node as
// local processes. The binaries come from hack/kube-binaries.sh.
//
// Everything listens on loopback only, on free ports, so several clusters
// can run side by side. Every process dies with the process that started it.
package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/queuedrainer/queue-drainer/test/localcluster/nodeagent"
)

const (
	// NodeName is the one Node of the cluster.
	NodeName = "local-node"
	// serviceIP is the kubernetes Service's address in the service range.
	serviceIP    = "10.96.0.1"
	serviceRange = "10.96.0.0/24"
)

// controllers are the kube-controller-manager controllers a drain needs:
// Jobs and their pods, owner-reference garbage collection, TTL after
// finished, default service accounts, namespace deletion, and Deployments
// for the operator itself; the pod GC removes pods of a vanished Node. The
// not-ready taint the API server puts on a new Node, which the node
// lifecycle controller would lift, is lifted by the node agent itself once
// it reports Ready (it must be, in clusters without that controller).
var controllers = []string{
	"job-controller", "garbage-collector-controller", "ttl-after-finished-controller",
	"serviceaccount-controller", "namespace-controller", "deployment-controller",
	"replicaset-controller", "pod-garbage-collector-controller",
}

// Options configure a cluster.
type Options struct {
	// Dir holds the cluster's state: certificates, etcd data, logs and one
	// directory per pod. The caller creates and removes it.
	Dir string
	// KubeBinDir holds etcd, kube-apiserver, kube-controller-manager and
	// kube-scheduler.
	KubeBinDir string
	// Images maps the container images pods use to local binaries; see
	// nodeagent.Options.Images.
	Images map[string]string
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
	// Log receives the node agent's log; nil discards it.
	Log *slog.Logger
}

// Cluster is a running local cluster.
type Cluster struct {
	// Kubeconfig is the path of an admin kubeconfig for kubectl.
	Kubeconfig string
	// Config is an admin client configuration.
	Config *rest.Config
	// Client is an admin clientset.
	Client kubernetes.Interface
	// Agent runs the pods.
	Agent *nodeagent.Agent
	// LogDir holds one log file per control-plane process.
	LogDir string

	opts      Options
	pki       *pki
	apiserver *process
	procs     []*process // in start order
	stopAgent context.CancelFunc
	agentDone chan error
}

// Start starts the cluster and returns once the API server is ready, the
// Node is registered and namespaces get their default service account.
func Start(ctx context.Context, o Options) (_ *Cluster, err error) {
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	for _, bin := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		if _, err := os.Stat(filepath.Join(o.KubeBinDir, bin)); err != nil {
			return nil, fmt.Errorf("%s is missing from %s: build it with hack/kube-binaries.sh", bin, o.KubeBinDir)
		}
	}
	c := &Cluster{opts: o, LogDir: filepath.Join(o.Dir, "logs"), Kubeconfig: filepath.Join(o.Dir, "kubeconfig")}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if err := os.MkdirAll(c.LogDir, 0o755); err != nil {
		return nil, err
	}
	if c.pki, err = writePKI(filepath.Join(o.Dir, "pki")); err != nil {
		return nil, fmt.Errorf("writing certificates: %w", err)
	}
	token, err := randomToken()
	if err != nil {
		return nil, err
	}
	tokenFile := filepath.Join(o.Dir, "pki", "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(token+`,admin,admin,"system:masters"`+"\n"), 0o600); err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	apiURL := fmt.Sprintf("https://127.0.0.1:%d", ports[2])

	fmt.Fprintf(progress, "starting etcd on %s\n", etcdURL)
	etcd := newProcess("etcd", o.KubeBinDir, c.LogDir,
		"--name=local", "--data-dir="+filepath.Join(o.Dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=local="+peerURL,
		// A throwaway cluster: durability is not worth the disk latency.
		"--unsafe-no-fsync", "--log-level=warn")
	if err := c.run(ctx, etcd, func() error { return httpOK(ctx, etcdURL+"/health") }); err != nil {
		return nil, err
	}

	fmt.Fprintf(progress, "starting kube-apiserver on %s\n", apiURL)
	c.apiserver = newProcess("kube-apiserver", o.KubeBinDir, c.LogDir,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[2]),
		"--cert-dir="+filepath.Join(o.Dir, "pki"),
		"--tls-cert-file="+c.pki.servingCert, "--tls-private-key-file="+c.pki.servingKey,
		"--token-auth-file="+tokenFile,
		"--authorization-mode=Node,RBAC",
		// Service-account tokens: pods' in-cluster clients authenticate with
		// them, so the operator's RBAC is what decides what it may do.
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+c.pki.saPub,
		"--service-account-signing-key-file="+c.pki.saKey,
		"--service-cluster-ip-range="+serviceRange)
	c.Config = &rest.Config{Host: apiURL, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: c.pki.caPEM},
		QPS: 50, Burst: 100}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return nil, err
	}
	if err := c.run(ctx, c.apiserver, func() error { return c.apiServerReady(ctx) }); err != nil {
		return nil, err
	}
	if err := writeKubeconfig(c.Kubeconfig, apiURL, c.pki.caPEM, token); err != nil {
		return nil, err
	}

	fmt.Fprintln(progress, "starting kube-controller-manager and kube-scheduler")
	kcm := newProcess("kube-controller-manager", o.KubeBinDir, c.LogDir,
		"--kubeconfig="+c.Kubeconfig, "--controllers="+strings.Join(controllers, ","),
		"--leader-elect=false", "--secure-port=0", "--service-cluster-ip-range="+serviceRange)
	sched := newProcess("kube-scheduler", o.KubeBinDir, c.LogDir,
		"--kubeconfig="+c.Kubeconfig, "--leader-elect=false", "--secure-port=0")
	for _, p := range []*process{kcm, sched} {
		if err := c.run(ctx, p, nil); err != nil {
			return nil, err
		}
	}

	fmt.Fprintf(progress, "starting the node agent (Node %s)\n", NodeName)
	if c.Agent, err = nodeagent.New(nodeagent.Options{
		NodeName:  NodeName,
		Client:    c.Client,
		APIServer: apiURL,
		CAData:    c.pki.caPEM,
		Dir:       filepath.Join(o.Dir, "pods"),
		Images:    o.Images,
		Log:       o.Log,
	}); err != nil {
		return nil, err
	}
	agentCtx, stopAgent := context.WithCancel(context.Background())
	c.stopAgent, c.agentDone = stopAgent, make(chan error, 1)
	go func() { c.agentDone <- c.Agent.Run(agentCtx) }()

	if err := c.waitReady(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "cluster ready; kubeconfig: %s\n", c.Kubeconfig)
	return c, nil
}

// run starts p and waits until ready (if given) returns nil, failing early
// if p exits.
func (c *Cluster) run(ctx context.Context, p *process, ready func() error) error {
	if err := p.start(); err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	if ready == nil {
		return nil
	}
	return awaitReady(ctx, p, p.name, ready)
}

// awaitReady polls ready for up to a minute, and stops at once if p exits.
func awaitReady(ctx context.Context, p *process, what string, ready func() error) error {
	return poll(ctx, time.Minute, what, func() error {
		if p.exited() {
			return backoffStop{p.failure()}
		}
		return ready()
	})
}

// waitReady waits for what workloads need: the Node, and the default
// service account that the service-account controller creates.
func (c *Cluster) waitReady(ctx context.Context) error {
	return poll(ctx, time.Minute, "the Node and the default service account", func() error {
		for _, p := range c.procs {
			if p.exited() {
				return backoffStop{p.failure()}
			}
		}
		node, err := c.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !nodeReady(node) {
			return errors.New("node not Ready")
		}
		_, err = c.Client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
}

// RestartAPIServer stops kube-apiserver and starts it again on the same
// address, as during a control-plane upgrade; it returns when it is ready.
func (c *Cluster) RestartAPIServer(ctx context.Context) error {
	c.apiserver.stop(10 * time.Second)
	restarted := newProcess("kube-apiserver", c.opts.KubeBinDir, c.LogDir, c.apiserver.args...)
	if err := restarted.start(); err != nil {
		return err
	}
	for i, p := range c.procs {
		if p == c.apiserver {
			c.procs[i] = restarted
		}
	}
	c.apiserver = restarted
	return awaitReady(ctx, restarted, "kube-apiserver after a restart", func() error { return c.apiServerReady(ctx) })
}

// apiServerReady answers nil once kube-apiserver's /readyz says ok.
func (c *Cluster) apiServerReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err
}

// Stop stops the pods (their processes get SIGTERM, then SIGKILL), then the
// control plane in reverse order. It leaves Dir in place.
func (c *Cluster) Stop() {
	if c.stopAgent != nil {
		c.stopAgent()
		<-c.agentDone //nolint:errcheck // only waiting for it to end: Run returns nil once stopped
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].stop(10 * time.Second)
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

func writeKubeconfig(path, server string, ca []byte, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin", Namespace: metav1.NamespaceDefault}
	cfg.CurrentContext = "local"
	return clientcmd.WriteToFile(*cfg, path)
}

// httpOK answers nil when url (plain HTTP) answers 200.
func httpOK(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s %s", url, resp.Status, body)
	}
	return nil
}

// backoffStop ends a poll at once.
type backoffStop struct{ error }

// poll retries check every 100ms until it returns nil, a backoffStop, the
// timeout passes or ctx is done.
func poll(ctx context.Context, timeout time.Duration, what string, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		var stop backoffStop
		if errors.As(err, &stop) {
			return stop.error
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
