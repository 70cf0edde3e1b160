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
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

const (
	// Restarts back off like the kubelet's, but from 1s up to 20s rather
	// than from 10s up to 5m: tests wait on them.
	initialBackoff = time.Second
	maxBackoff     = 20 * time.Second
	// A run this long forgives earlier crashes (the kubelet: twice the
	// maximum backoff).
	backoffReset = 2 * maxBackoff
	// retryInterval paces retries of API calls and of container
	// configuration (a missing ConfigMap, say).
	retryInterval = 2 * time.Second
	// shutdownGrace is how long processes get when the agent stops.
	shutdownGrace = 3 * time.Second
	// defaultGrace is terminationGracePeriodSeconds' default.
	defaultGrace = 30 * time.Second
)

type containerKind int

const (
	appContainer     containerKind = iota
	initContainer                  // runs to completion before the app containers
	sidecarContainer               // an init container with restartPolicy Always
)

// container is the state of one of a pod's containers across its runs.
type container struct {
	spec *corev1.Container
	kind containerKind

	cmd       *exec.Cmd // the running process, nil when none
	pid       int
	startedAt metav1.Time
	runs      int  // processes started, or tried to
	ran       bool // a process has started once
	// started: the current process is started (its startup probe, if
	// any, passed); startedOnce: some process of it was.
	started, startedOnce bool
	probeAt              time.Time // next startup probe
	// last is the latest exit, prev the one before it.
	last, prev *corev1.ContainerStateTerminated
	waiting    *corev1.ContainerStateWaiting // why it is not running, if known
	done       bool                          // will not run again
	backoff    time.Duration
	retryAt    time.Time
	termSent   bool // the current process got SIGTERM
	killSent   bool // and SIGKILL
}

func (c *container) succeeded() bool {
	return c.done && c.last != nil && c.last.ExitCode == 0
}

// exit reports that a container's process has ended.
type exit struct {
	c     *container
	state *os.ProcessState
	at    time.Time
}

// podWorker runs one pod. Its state belongs to the run goroutine; other
// goroutines reach it through update, markGone and the mutex-guarded
// fields.
type podWorker struct {
	a               *Agent
	log             *slog.Logger
	uid             types.UID
	namespace, name string
	dir             string
	containerNames  []string
	podIP           string

	mu     sync.Mutex
	latest *corev1.Pod
	pids   map[string]int // container name → live process

	notify   chan struct{} // latest changed
	goneCh   chan struct{} // closed when the pod object is deleted
	goneOnce sync.Once
	exits    chan exit

	// Owned by run.
	pod            *corev1.Pod
	containers     []*container // init containers, then app containers
	startTime      metav1.Time
	prepared       bool   // directories and token in place
	prepareErr     string // why they are not
	mounted        bool   // the pod has a service-account token
	tokenRefreshAt time.Time
	initialized    bool      // init containers done, app containers started
	stopping       bool      // processes are being stopped; nothing starts
	killAt         time.Time // when stopping turns to SIGKILL
	termStart      time.Time // when the deletion was seen
	finished       bool      // no container will run again: the phase is terminal
	readOnly       bool      // terminal when found: not ours to report on
	deleted        bool      // our final delete went through
	shutdown       bool      // the agent is stopping
	goneSeen       bool
	written        *corev1.PodStatus // what the API server has from us
	wakeAt         time.Time
}

func newPodWorker(a *Agent, pod *corev1.Pod) *podWorker {
	w := &podWorker{
		a:         a,
		log:       a.log.With("pod", pod.Namespace+"/"+pod.Name),
		uid:       pod.UID,
		namespace: pod.Namespace,
		name:      pod.Name,
		dir:       filepath.Join(a.o.Dir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID)),
		latest:    pod,
		pod:       pod,
		pids:      map[string]int{},
		notify:    make(chan struct{}, 1),
		goneCh:    make(chan struct{}),
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		kind := initContainer
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			kind = sidecarContainer
		}
		w.containers = append(w.containers, &container{spec: c, kind: kind})
	}
	for i := range pod.Spec.Containers {
		w.containers = append(w.containers, &container{spec: &pod.Spec.Containers[i], kind: appContainer})
	}
	for _, c := range w.containers {
		w.containerNames = append(w.containerNames, c.spec.Name)
	}
	w.exits = make(chan exit, len(w.containers))
	switch {
	case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
		w.readOnly, w.finished = true, true
		w.podIP = pod.Status.PodIP
	case pod.Spec.HostNetwork:
		w.podIP = nodeIP
	default:
		w.podIP = a.ips.acquire()
	}
	return w
}

// update hands the worker a newer version of its pod.
func (w *podWorker) update(pod *corev1.Pod) {
	w.mu.Lock()
	w.latest = pod
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// markGone says the pod object has been deleted.
func (w *podWorker) markGone() {
	w.goneOnce.Do(func() { close(w.goneCh) })
}

func (w *podWorker) isGone() bool {
	select {
	case <-w.goneCh:
		return true
	default:
		return false
	}
}

func (w *podWorker) livePIDs() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]int, 0, len(w.pids))
	for _, pid := range w.pids {
		out = append(out, pid)
	}
	return out
}

func (w *podWorker) isRunning(container string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.pids[container]
	return ok
}

func (w *podWorker) setPID(container string, pid int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if pid == 0 {
		delete(w.pids, container)
	} else {
		w.pids[container] = pid
	}
}

func (w *podWorker) logPath(container string) string {
	return filepath.Join(w.dir, "logs", container+".log")
}

func (w *podWorker) messagePath(container string) string {
	return filepath.Join(w.dir, "termination", container)
}

// run drives the pod until its object is gone or the agent stops, and
// returns once none of its processes is left.
func (w *podWorker) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	ctxDone, gone := ctx.Done(), w.goneCh
	for {
		w.wakeAt = time.Time{}
		if w.step(ctx) {
			return
		}
		if w.wakeAt.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(time.Until(w.wakeAt))
		}
		select {
		case <-ctxDone:
			ctxDone, w.shutdown = nil, true
		case <-gone:
			gone, w.goneSeen = nil, true
		case e := <-w.exits:
			w.exited(e)
		case <-w.notify:
			w.mu.Lock()
			w.pod = w.latest
			w.mu.Unlock()
		case <-timer.C:
		}
	}
}

// wake asks for another step at t at the latest.
func (w *podWorker) wake(t time.Time) {
	if w.wakeAt.IsZero() || t.Before(w.wakeAt) {
		w.wakeAt = t
	}
}

// step does what the pod's state calls for; true means the worker is done.
func (w *podWorker) step(ctx context.Context) bool {
	now := time.Now()
	switch {
	case w.goneSeen:
		// Deleted for good, or forced: nothing is left to report to.
		w.stop(now)
		if w.anyRunning() {
			return false
		}
		if err := os.RemoveAll(w.dir); err != nil {
			w.log.Error("removing the pod directory", "error", err)
		}
		return true
	case w.shutdown:
		w.stop(now.Add(shutdownGrace))
		return !w.anyRunning()
	case w.pod.DeletionTimestamp != nil:
		w.terminate(ctx, now)
	default:
		w.sync(ctx, now)
		w.writeStatus(ctx)
	}
	return false
}

// terminate stops a deleted pod's processes within its grace period,
// reports its final status and then deletes it for good, as the kubelet
// does.
func (w *podWorker) terminate(ctx context.Context, now time.Time) {
	if w.termStart.IsZero() {
		w.termStart = now
		w.log.Info("pod deleted: stopping its containers", "gracePeriod", w.deletionGrace())
	}
	// A later, shorter grace period (a second delete) shortens the wait.
	w.stop(w.termStart.Add(w.deletionGrace()))
	if w.anyRunning() {
		w.writeStatus(ctx)
		return
	}
	w.finished = true
	if !w.writeStatus(ctx) || w.deleted {
		return
	}
	err := w.a.o.Client.CoreV1().Pods(w.namespace).Delete(ctx, w.name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &w.uid},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		w.log.Error("deleting the pod", "error", err)
		w.wake(now.Add(retryInterval))
		return
	}
	w.deleted = true
}

func (w *podWorker) deletionGrace() time.Duration {
	if g := w.pod.DeletionGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return w.podGrace()
}

func (w *podWorker) podGrace() time.Duration {
	if g := w.pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return defaultGrace
}

// stop ends every process: SIGTERM to each process group now, SIGKILL
// once the deadline (the earliest asked for) has passed. Nothing starts
// any more.
func (w *podWorker) stop(deadline time.Time) {
	w.stopping = true
	if w.killAt.IsZero() || deadline.Before(w.killAt) {
		w.killAt = deadline
	}
	kill := !time.Now().Before(w.killAt)
	for _, c := range w.containers {
		if c.cmd == nil {
			continue
		}
		if !c.termSent {
			c.termSent = true
			w.signal(c, syscall.SIGTERM)
		}
		if kill && !c.killSent {
			c.killSent = true
			w.signal(c, syscall.SIGKILL)
		}
	}
	if !kill && w.anyRunning() {
		w.wake(w.killAt)
	}
}

// signal sends SIGTERM to the container's main process only, as a runtime
// signals a container's PID 1: what it started (an exec handler, say) is
// its to stop. SIGKILL takes the whole group, as with a container's cgroup.
func (w *podWorker) signal(c *container, sig syscall.Signal) {
	w.log.Info("signalling container", "container", c.spec.Name, "pid", c.pid, "signal", sig)
	var err error
	if sig == syscall.SIGKILL {
		err = signalGroup(c.pid, sig)
	} else if err = syscall.Kill(c.pid, sig); errors.Is(err, syscall.ESRCH) {
		err = nil
	}
	if err != nil {
		w.log.Error("signalling container", "container", c.spec.Name, "error", err)
	}
}

func (w *podWorker) anyRunning() bool {
	for _, c := range w.containers {
		if c.cmd != nil {
			return true
		}
	}
	return false
}

// sync moves a live pod along: set up, init containers in order, then the
// app containers, restarting what the restart policy says to, and finally
// the sidecars' stop once the app containers are done.
func (w *podWorker) sync(ctx context.Context, now time.Time) {
	if w.finished {
		return
	}
	if w.stopping {
		w.finish(now)
		return
	}
	if w.startTime.IsZero() {
		w.startTime = stamp(now)
	}
	if !w.prepare(ctx, now) || !w.runInitContainers(ctx, now) {
		return
	}
	w.initialized = true
	allDone := true
	for _, c := range w.containers {
		if c.kind == appContainer {
			w.keepRunning(ctx, c, now)
			allDone = allDone && c.done
		}
	}
	if allDone {
		w.finish(now)
	}
}

// runInitContainers starts sidecars and runs regular init containers one
// at a time, in order; true once all of them are through.
func (w *podWorker) runInitContainers(ctx context.Context, now time.Time) bool {
	for _, c := range w.containers {
		switch c.kind {
		case sidecarContainer:
			w.keepRunning(ctx, c, now)
			if c.cmd != nil && !c.started {
				w.probeStartup(c, now)
			}
			// The next container starts once this one has started: its
			// process runs and its startup probe, if any, has passed. A
			// sidecar that restarts later holds nothing up.
			if !c.startedOnce {
				return false
			}
		case initContainer:
			if c.succeeded() {
				continue
			}
			if c.done {
				// Failed under restartPolicy Never: so is the pod.
				w.finish(now)
				return false
			}
			w.keepRunning(ctx, c, now)
			return false
		}
	}
	return true
}

// finish stops what still runs (sidecars) within the pod's grace period;
// the pod is finished when nothing does.
func (w *podWorker) finish(now time.Time) {
	w.stop(now.Add(w.podGrace()))
	if w.anyRunning() {
		return
	}
	w.finished = true
	// A sidecar waiting to restart will not: its last exit is its state.
	for _, c := range w.containers {
		c.done = true
	}
	w.log.Info("pod finished")
}

// keepRunning starts a container that is due to (re)start.
func (w *podWorker) keepRunning(ctx context.Context, c *container, now time.Time) {
	if c.cmd != nil || c.done {
		return
	}
	if now.Before(c.retryAt) {
		w.wake(c.retryAt)
		return
	}
	w.start(ctx, c, now)
}

// restarts says whether a container runs again after exiting with code.
func (w *podWorker) restarts(c *container, code int32) bool {
	policy := w.pod.Spec.RestartPolicy
	switch {
	case c.kind == sidecarContainer:
		return true
	case c.kind == initContainer:
		return code != 0 && policy != corev1.RestartPolicyNever
	case policy == corev1.RestartPolicyNever:
		return false
	case policy == corev1.RestartPolicyOnFailure:
		return code != 0
	}
	return true
}

// prepare sets up the pod's directory and service-account token, and keeps
// the token fresh; false while that fails.
func (w *podWorker) prepare(ctx context.Context, now time.Time) bool {
	if !w.prepared {
		if err := w.setUp(ctx); err != nil {
			if ctx.Err() == nil {
				w.log.Error("setting up the pod", "error", err)
			}
			w.prepareErr = err.Error()
			w.wake(now.Add(retryInterval))
			return false
		}
		w.prepared, w.prepareErr = true, ""
	}
	if !w.mounted {
		return true
	}
	if !now.Before(w.tokenRefreshAt) {
		refreshAt, err := w.writeToken(ctx)
		if err != nil {
			// The current token is still good for a while.
			w.log.Error("refreshing the service-account token", "error", err)
			refreshAt = now.Add(retryInterval)
		}
		w.tokenRefreshAt = refreshAt
	}
	w.wake(w.tokenRefreshAt)
	return true
}

func (w *podWorker) setUp(ctx context.Context) error {
	for _, d := range []string{"logs", "termination"} {
		if err := os.MkdirAll(filepath.Join(w.dir, d), 0o755); err != nil {
			return err
		}
	}
	mount, err := w.automount(ctx)
	if err != nil || !mount {
		return err
	}
	refreshAt, err := w.writeToken(ctx)
	if err != nil {
		return err
	}
	w.mounted, w.tokenRefreshAt = true, refreshAt
	return nil
}

// runtimeEnv is what the agent adds to a container's environment, the way
// a runtime and the kubelet's service variables would; the pod's own env
// overrides it.
func (w *podWorker) runtimeEnv(c *container) map[string]string {
	env := map[string]string{
		"PATH":                     w.a.hostPath,
		"HOME":                     w.dir,
		"HOSTNAME":                 w.name,
		"KUBERNETES_SERVICE_HOST":  w.a.apiHost,
		"KUBERNETES_SERVICE_PORT":  w.a.apiPort,
		"TERMINATION_MESSAGE_PATH": w.messagePath(c.spec.Name),
	}
	if w.pod.Spec.Hostname != "" {
		env["HOSTNAME"] = w.pod.Spec.Hostname
	}
	if w.mounted {
		env["KUBECONFIG"] = w.kubeconfigPath()
	}
	return env
}

// start runs a container's process. What keeps it from starting is
// reported as the container's waiting reason, or, for a failed exec, as
// an exit with code 128, as runtimes do.
func (w *podWorker) start(ctx context.Context, c *container, now time.Time) {
	if _, ok := w.a.imageBinary(c.spec.Image); !ok {
		// Like an image that cannot be pulled: the pod stays Pending.
		c.waiting = &corev1.ContainerStateWaiting{
			Reason:  "ImageNotMapped",
			Message: fmt.Sprintf("image %q has no binary in the node agent's image table", c.spec.Image),
		}
		return
	}
	env, err := w.environment(ctx, c.spec, w.runtimeEnv(c))
	if err != nil {
		c.waiting = &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: err.Error()}
		c.retryAt = now.Add(retryInterval)
		w.wake(c.retryAt)
		return
	}
	c.runs++
	c.startedAt = stamp(now)
	c.termSent, c.killSent = false, false
	argv, err := w.a.commandLine(c.spec, env)
	if err == nil {
		// Each run starts with an empty termination message.
		err = os.WriteFile(w.messagePath(c.spec.Name), nil, 0o666)
	}
	var cmd *exec.Cmd
	if err == nil {
		cmd, err = startProcess(argv, environ(env), w.dir, w.logPath(c.spec.Name))
	}
	if err != nil {
		w.log.Error("starting container", "container", c.spec.Name, "error", err)
		w.recordExit(c, &corev1.ContainerStateTerminated{
			ExitCode: startErrorCode, Reason: "StartError", Message: err.Error(), FinishedAt: stamp(now),
		}, now)
		w.wake(now)
		return
	}
	c.cmd, c.pid, c.ran, c.waiting = cmd, cmd.Process.Pid, true, nil
	c.started = c.kind != sidecarContainer || c.spec.StartupProbe == nil
	c.startedOnce = c.startedOnce || c.started
	c.probeAt = now
	w.setPID(c.spec.Name, c.pid)
	w.log.Info("container started", "container", c.spec.Name, "pid", c.pid, "argv", argv)
	go func(pid int) {
		_ = cmd.Wait()
		// What the container leaves behind goes with it, as with a
		// container's cgroup.
		_ = signalGroup(pid, syscall.SIGKILL)
		w.exits <- exit{c: c, state: cmd.ProcessState, at: time.Now()}
	}(c.pid)
}

// exited records the end of a container's process.
func (w *podWorker) exited(e exit) {
	c := e.c
	code, signal := exitCode(e.state)
	w.setPID(c.spec.Name, 0)
	w.log.Info("container exited", "container", c.spec.Name, "pid", c.pid, "exitCode", code)
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	t := &corev1.ContainerStateTerminated{
		ExitCode:    code,
		Signal:      signal,
		Reason:      reason,
		Message:     w.terminationMessage(c, code),
		StartedAt:   c.startedAt,
		FinishedAt:  stamp(e.at),
		ContainerID: containerID(c.pid),
	}
	c.cmd = nil
	w.recordExit(c, t, e.at)
}

// recordExit keeps an exit and decides whether and when the container
// runs again.
func (w *podWorker) recordExit(c *container, t *corev1.ContainerStateTerminated, at time.Time) {
	c.prev, c.last = c.last, t
	if w.stopping || !w.restarts(c, t.ExitCode) {
		c.done, c.waiting = true, nil
		return
	}
	if at.Sub(c.startedAt.Time) >= backoffReset {
		c.backoff = 0
	}
	c.backoff = min(max(2*c.backoff, initialBackoff), maxBackoff)
	c.retryAt = at.Add(c.backoff)
	c.waiting = &corev1.ContainerStateWaiting{
		Reason:  "CrashLoopBackOff",
		Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", c.backoff, c.spec.Name, w.name, w.namespace, w.uid),
	}
}

// terminationMessage reads what the process left in its termination
// message file, or, if it left nothing, failed and asked for it, the end
// of its log.
func (w *podWorker) terminationMessage(c *container, code int32) string {
	msg, err := readTail(w.messagePath(c.spec.Name), maxMessageBytes)
	if err != nil {
		w.log.Error("reading the termination message", "container", c.spec.Name, "error", err)
	}
	if msg == "" && code != 0 && c.spec.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError {
		if msg, err = logTail(w.logPath(c.spec.Name)); err != nil {
			w.log.Error("reading the container log", "container", c.spec.Name, "error", err)
		}
	}
	return msg
}

func containerID(pid int) string { return fmt.Sprintf("process://%d", pid) }
