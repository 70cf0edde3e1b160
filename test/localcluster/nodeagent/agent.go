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

// Package nodeagent is a kubelet that runs processes instead of containers.
//
// An Agent registers a Node, keeps its Lease fresh and runs every pod bound
// to that Node as local processes, one process group per container. A local
// cluster of real control-plane binaries (API server, scheduler, controller
// manager) uses it so that end-to-end tests exercise the real Job
// controller, scheduler and garbage collector without a container runtime,
// images or root.
//
// Options.Images says which local binary stands for an image. Each pod gets
// a directory (its processes' working directory and HOME) holding the
// containers' logs, their termination-message files and, unless
// automounting is off, a service-account token with a kubeconfig that
// KUBECONFIG points to: processes cannot see
// /var/run/secrets/kubernetes.io/serviceaccount, and client-go and
// controller-runtime honour KUBECONFIG, so a pod reaches the API server with
// its own identity and RBAC.
//
// Unlike a kubelet, the agent does not isolate anything (processes share the
// host's network, filesystem and PIDs; each pod without hostNetwork gets an
// address of its own on the loopback, 127.10.x.y, as status.podIP, so that
// pods can listen on the same port), mounts no volumes, enforces no
// resources, runs no probes but a native sidecar's tcpSocket or httpGet
// startup probe, which holds the next containers until it passes (a
// running container counts as started and ready), has no ephemeral
// containers, exec, attach or port-forward, and
// does not adopt pods that an earlier agent started. It serves container
// logs, so that `kubectl logs` works through the API server.
package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Options configure an Agent.
type Options struct {
	// NodeName is the Node the agent registers and runs the pods of.
	NodeName string
	// Client has admin credentials.
	Client kubernetes.Interface
	// APIServer is the API server's URL (https://127.0.0.1:PORT) that pods'
	// kubeconfigs point to.
	APIServer string
	// CAData is the API server's CA (PEM), for pods' kubeconfigs.
	CAData []byte
	// Dir holds the agent's state: one directory per pod.
	Dir string
	// Images maps an image reference to the local binary that stands for
	// its entrypoint. Lookup: exact reference first, then the reference
	// without its tag and digest. A value of "" means a host image: the
	// container's command[0] is looked up on the host PATH.
	Images map[string]string
	// Log receives the agent's own messages; nil discards them.
	Log *slog.Logger
}

// Agent is a node agent. Create it with New and start it with Run.
type Agent struct {
	o        Options
	log      *slog.Logger
	images   map[string]string // values resolved to absolute paths
	hostPath string            // the agent's PATH, which pods get
	apiHost  string
	apiPort  string
	// logsPort is where the log server listens; set before pods start.
	logsPort int

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	running sync.WaitGroup // pod workers

	ips podIPs
}

// New checks the options and prepares an Agent.
func New(o Options) (*Agent, error) {
	if o.NodeName == "" || o.Client == nil || o.Dir == "" {
		return nil, errors.New("nodeagent: NodeName, Client and Dir are required")
	}
	if len(o.CAData) == 0 {
		return nil, errors.New("nodeagent: CAData is required: pods' kubeconfigs need the API server's CA")
	}
	u, err := url.Parse(o.APIServer)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" {
		return nil, fmt.Errorf("nodeagent: APIServer %q is not an https URL", o.APIServer)
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("nodeagent: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("nodeagent: %w", err)
	}
	o.Dir = dir
	// Binaries are resolved once, so that a typo fails here rather than as
	// a pod that never starts.
	images := make(map[string]string, len(o.Images))
	for image, bin := range o.Images {
		if bin != "" {
			if bin, err = exec.LookPath(bin); err != nil {
				return nil, fmt.Errorf("nodeagent: binary for image %q: %w", image, err)
			}
			if bin, err = filepath.Abs(bin); err != nil {
				return nil, fmt.Errorf("nodeagent: %w", err)
			}
		}
		images[image] = bin
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Agent{
		o:        o,
		log:      log.With("node", o.NodeName),
		images:   images,
		hostPath: os.Getenv("PATH"),
		apiHost:  u.Hostname(),
		apiPort:  port,
		workers:  map[types.UID]*podWorker{},
		ips:      podIPs{used: map[string]bool{}},
	}, nil
}

// Run registers the Node and runs its pods until ctx is done. It then stops
// every process (SIGTERM, then SIGKILL after a short grace) and returns once
// each container's main process is reaped; anything those started has been
// sent SIGKILL by then. An Agent runs once.
func (a *Agent) Run(ctx context.Context) error {
	stopLogs, err := a.startLogServer()
	if err != nil {
		return err
	}
	defer stopLogs()
	if err := a.registerNode(ctx); err != nil {
		return err
	}
	var heartbeat sync.WaitGroup
	heartbeat.Go(func() { a.heartbeat(ctx) })

	onThisNode := fields.OneTermEqualSelector("spec.nodeName", a.o.NodeName).String()
	factory := informers.NewSharedInformerFactoryWithOptions(a.o.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = onThisNode }))
	_, err = factory.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.podChanged(ctx, obj) },
		UpdateFunc: func(_, obj any) { a.podChanged(ctx, obj) },
		DeleteFunc: a.podDeleted,
	})
	if err != nil {
		return fmt.Errorf("nodeagent: watching pods: %w", err)
	}
	factory.Start(ctx.Done())
	a.log.Info("node agent running", "apiServer", a.o.APIServer, "logsPort", a.logsPort)

	<-ctx.Done()
	// Shutdown returns once no handler runs, so no worker starts after it.
	factory.Shutdown()
	a.running.Wait()
	heartbeat.Wait()
	a.log.Info("node agent stopped")
	return nil
}

// Processes returns the live PIDs of each pod's container processes.
func (a *Agent) Processes() map[types.UID][]int {
	out := map[types.UID][]int{}
	for _, w := range a.snapshot() {
		if pids := w.livePIDs(); len(pids) > 0 {
			out[w.uid] = pids
		}
	}
	return out
}

// LogPath returns the file that holds a container's output (every run,
// appended), or "" when no such container runs on this node. The file
// lives until the pod is deleted.
func (a *Agent) LogPath(namespace, pod, container string) string {
	w := a.workerWith(namespace, pod, container)
	if w == nil {
		return ""
	}
	return w.logPath(container)
}

// workerWith returns the worker of a live pod on this node that has the
// container, or nil.
func (a *Agent) workerWith(namespace, pod, container string) *podWorker {
	for _, w := range a.snapshot() {
		if w.namespace == namespace && w.name == pod && !w.isGone() && slices.Contains(w.containerNames, container) {
			return w
		}
	}
	return nil
}

func (a *Agent) snapshot() []*podWorker {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*podWorker, 0, len(a.workers))
	for _, w := range a.workers {
		out = append(out, w)
	}
	return out
}

// podChanged hands a pod to its worker, starting one for a new pod.
func (a *Agent) podChanged(ctx context.Context, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if w := a.workers[pod.UID]; w != nil {
		w.update(pod)
		return
	}
	w := newPodWorker(a, pod)
	a.workers[pod.UID] = w
	a.running.Go(func() {
		w.run(ctx)
		a.mu.Lock()
		delete(a.workers, pod.UID)
		a.mu.Unlock()
		a.ips.release(w.podIP)
	})
}

// podDeleted tells a worker that its pod object is gone.
func (a *Agent) podDeleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.mu.Lock()
	w := a.workers[pod.UID]
	a.mu.Unlock()
	if w != nil {
		w.markGone()
	}
}
