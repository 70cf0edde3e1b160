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

// Package controllers holds the QueueDrainer reconciler: it gathers the
// drainer, its Jobs and a queue observation, asks internal/plan what to do,
// and applies the answer.
package controllers

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
	"github.com/queuedrainer/queue-drainer/internal/plan"
)

// QueueDrainerReconciler runs consumer Jobs for QueueDrainers.
type QueueDrainerReconciler struct {
	client.Client
	// APIReader reads past the cache, to tell a deleted Job from one the
	// cache has not seen yet.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	Observer  QueueObserver
	// MaxConcurrentReconciles bounds how many drainers are handled at once.
	MaxConcurrentReconciles int
	// PendingGrace is how long workers may wait to run before the drainer
	// says so; plan.DefaultPendingGrace when zero.
	PendingGrace time.Duration
	// RedriveImage runs Redrive runs; DefaultRedriveImage when empty.
	RedriveImage string
	// ConsumerEnv is set in the containers of every run's pods that do not
	// set the variable themselves: endpoints and settings the platform gives
	// all consumers (an emulator's AWS_ENDPOINT_URL_SQS, a proxy).
	ConsumerEnv []corev1.EnvVar
	// StatusRefresh is how often an otherwise unchanged drainer's status
	// renews its queue counts; plan.DefaultStatusRefresh when zero.
	StatusRefresh time.Duration

	// wakeups carries the drainers whose new observation matters (Notify)
	// to the controller's work queue.
	wakeups chan event.GenericEvent
}

// +kubebuilder:rbac:groups=drain.queuedrainer.io,resources=queuedrainers,verbs=get;list;watch
// +kubebuilder:rbac:groups=drain.queuedrainer.io,resources=queuedrainers/status,verbs=get;patch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=list

// Reconcile gathers, decides and applies, then looks again after the
// decision's RequeueAfter, or sooner when Notify, a Job or the drainer
// itself says so.
func (r *QueueDrainerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	qd := &v1alpha1.QueueDrainer{}
	if err := r.Get(ctx, req.NamespacedName, qd); err != nil {
		if apierrors.IsNotFound(err) {
			r.Observer.Forget(req.NamespacedName)
			forgetMetrics(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !qd.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // the garbage collector removes its Jobs
	}
	queue, observed := r.Observer.Observe(ctx, req.NamespacedName, qd.Spec.Queue, plan.PollInterval(qd))
	if !observed {
		return ctrl.Result{}, nil // nothing to decide without the queue; Notify wakes us
	}
	recordObservation(req.NamespacedName, queue)

	jobs, err := r.jobsOf(ctx, qd)
	if err != nil {
		return ctrl.Result{}, err
	}
	// The pods are read only when they have something to tell: while some
	// wait to run, and once when plan records the run (it asks for the
	// report then).
	var podsErr error
	views := make([]plan.Job, 0, len(jobs))
	for _, j := range jobs {
		v := jobView(j)
		if !v.Finished && !v.Deleting && v.Pods.Pending() > 0 {
			pods, err := r.podsOf(ctx, qd, j)
			if err != nil {
				return ctrl.Result{}, err
			}
			v.Waiting = oldestWaiting(pods)
		}
		v.Report = func() plan.Report {
			pods, err := r.podsOf(ctx, qd, j)
			if err != nil {
				podsErr = err
			}
			return report(pods)
		}
		views = append(views, v)
	}
	d := plan.Decide(plan.Input{
		Now:           r.Clock.Now(),
		Drainer:       qd,
		Jobs:          views,
		Queue:         queue,
		PendingGrace:  r.PendingGrace,
		StatusRefresh: r.StatusRefresh,
	})
	if podsErr != nil {
		return ctrl.Result{}, podsErr // a run recorded without its pods' counts would keep the gap
	}

	if acts(d) {
		// Acting on a stale copy could repeat what a newer pass already did
		// (serve a drain request twice, replace a run twice): make sure the
		// cache has caught up with our own last status write first.
		current, err := r.isCurrent(ctx, qd)
		if err != nil || !current {
			return ctrl.Result{RequeueAfter: cacheLag}, err
		}
	}
	created, err := r.apply(ctx, qd, jobs, d)
	if err != nil {
		return ctrl.Result{}, err
	}
	written, err := r.writeStatus(ctx, qd, d.Status)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.emit(qd, d, created, written)
	if !written {
		// Another writer got there first; decide again from its version.
		return ctrl.Result{RequeueAfter: cacheLag}, nil
	}
	return ctrl.Result{RequeueAfter: d.RequeueAfter}, nil
}

// cacheLag is how long to wait for the informer cache to catch up.
const cacheLag = 200 * time.Millisecond

func acts(d plan.Decision) bool {
	return d.Start || d.Scale || len(d.Delete) > 0
}

// isCurrent reports whether the cached drainer is the API server's latest.
func (r *QueueDrainerReconciler) isCurrent(ctx context.Context, qd *v1alpha1.QueueDrainer) (bool, error) {
	var live metav1.PartialObjectMetadata
	live.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("QueueDrainer"))
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(qd), &live); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return live.ResourceVersion == qd.ResourceVersion, nil
}

// writeStatus writes the new status if it changed. It reports false, and
// no error, when the drainer changed since it was read.
func (r *QueueDrainerReconciler) writeStatus(ctx context.Context, qd *v1alpha1.QueueDrainer, st v1alpha1.QueueDrainerStatus) (bool, error) {
	if equality.Semantic.DeepEqual(qd.Status, st) {
		return true, nil
	}
	// The optimistic lock makes a write from a stale read fail rather than
	// undo what a newer pass recorded.
	patch := client.MergeFromWithOptions(qd.DeepCopy(), client.MergeFromWithOptimisticLock{})
	qd.Status = st
	err := r.Status().Patch(ctx, qd, patch)
	if apierrors.IsConflict(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("writing status: %w", err)
	}
	return true, nil
}

// emit records the decision's Events and metrics. A started run is told
// whenever its Job was created; everything else only once its status was
// written, so that a pass that lost a write conflict does not tell it twice.
func (r *QueueDrainerReconciler) emit(qd *v1alpha1.QueueDrainer, d plan.Decision, created, written bool) {
	for _, e := range d.Events {
		if e.Reason == v1alpha1.ReasonDrainStarted && !created || e.Reason != v1alpha1.ReasonDrainStarted && !written {
			continue
		}
		r.event(qd, e)
	}
	var started *v1alpha1.ActiveRun
	if created {
		started = d.Status.ActiveRun
	}
	var finished []v1alpha1.RunRecord
	if written {
		finished = d.Finished
	}
	recordMetrics(qd, &d.Status, started, finished)
}

// event records one of plan's Events on the drainer.
func (r *QueueDrainerReconciler) event(qd *v1alpha1.QueueDrainer, e plan.Event) {
	kind := corev1.EventTypeNormal
	if e.Warning {
		kind = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(qd, nil, kind, e.Reason, "Reconcile", "%s", e.Message)
}

// jobsOf lists the Jobs the drainer controls. The active run's Job is looked
// up on the API server when the cache does not have it yet, so that a Job
// created a moment ago is not taken for deleted.
func (r *QueueDrainerReconciler) jobsOf(ctx context.Context, qd *v1alpha1.QueueDrainer) (map[string]*batchv1.Job, error) {
	var list batchv1.JobList
	if err := r.List(ctx, &list, client.InNamespace(qd.Namespace), client.MatchingLabels{v1alpha1.DrainerLabel: qd.Name}); err != nil {
		return nil, fmt.Errorf("listing Jobs: %w", err)
	}
	jobs := map[string]*batchv1.Job{}
	for i := range list.Items {
		if metav1.IsControlledBy(&list.Items[i], qd) {
			jobs[list.Items[i].Name] = &list.Items[i]
		}
	}
	if run := qd.Status.ActiveRun; run != nil && jobs[run.Name] == nil {
		var j batchv1.Job
		err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: qd.Namespace, Name: run.Name}, &j)
		switch {
		case err == nil && metav1.IsControlledBy(&j, qd):
			jobs[j.Name] = &j
		case err != nil && !apierrors.IsNotFound(err):
			return nil, fmt.Errorf("getting Job %s: %w", run.Name, err)
		}
	}
	return jobs, nil
}

// podsOf lists a run's pods from the API server: they are read seldom
// (see Reconcile), and caching every pod of every kept run would cost
// memory for nothing.
func (r *QueueDrainerReconciler) podsOf(ctx context.Context, qd *v1alpha1.QueueDrainer, job *batchv1.Job) ([]corev1.Pod, error) {
	var list corev1.PodList
	if err := r.APIReader.List(ctx, &list, client.InNamespace(job.Namespace),
		client.MatchingLabels{v1alpha1.DrainerLabel: qd.Name, v1alpha1.RunLabel: job.Name}); err != nil {
		return nil, fmt.Errorf("listing pods of Job %s: %w", job.Name, err)
	}
	// Only the Job's own pods: not another pod that copied its labels.
	return slices.DeleteFunc(list.Items, func(p corev1.Pod) bool { return !metav1.IsControlledBy(&p, job) }), nil
}

// apply carries out the decision's Job changes: deletions, a scale-up, a
// new run. It reports whether it created a Job.
func (r *QueueDrainerReconciler) apply(ctx context.Context, qd *v1alpha1.QueueDrainer, jobs map[string]*batchv1.Job, d plan.Decision) (bool, error) {
	for _, name := range d.Delete {
		if j := jobs[name]; j != nil {
			if err := r.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
				return false, fmt.Errorf("deleting Job %s: %w", name, err)
			}
		}
	}
	run := d.Status.ActiveRun // the run Start and Scale act on
	if !d.Start && !d.Scale {
		return false, nil
	}
	if j := jobs[run.Name]; d.Scale && j != nil {
		patch := client.MergeFrom(j.DeepCopy())
		j.Spec.Parallelism = &run.Workers
		if indexed(j) {
			j.Spec.Completions = &run.Workers // an elastic Indexed Job grows both together
		}
		if err := r.Patch(ctx, j, patch); err != nil {
			return false, fmt.Errorf("scaling Job %s to %d workers: %w", j.Name, run.Workers, err)
		}
	}
	if !d.Start {
		return false, nil
	}
	job := runJob(qd, run, r.ConsumerEnv)
	if run.Trigger == v1alpha1.TriggerRedrive {
		job = redriveJob(qd, run, d.RedriveFrom, cmp.Or(r.RedriveImage, DefaultRedriveImage), r.ConsumerEnv)
	}
	if err := controllerutil.SetControllerReference(qd, job, r.Scheme()); err != nil {
		return false, err
	}
	err := r.Create(ctx, job)
	if apierrors.IsAlreadyExists(err) {
		var existing batchv1.Job
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(job), &existing); err != nil {
			return false, fmt.Errorf("getting Job %s: %w", job.Name, err)
		}
		if !metav1.IsControlledBy(&existing, qd) {
			r.event(qd, plan.NotStarted(job.Name, nil))
			return false, fmt.Errorf("job %s exists and is not controlled by this drainer", job.Name)
		}
		return false, nil // started by an earlier pass whose status write was lost
	}
	if err != nil {
		r.event(qd, plan.NotStarted(job.Name, err))
		return false, fmt.Errorf("creating Job %s: %w", job.Name, err)
	}
	log.FromContext(ctx).Info("started drain run", "run", job.Name, "trigger", run.Trigger, "workers", run.Workers)
	return true, nil
}

// Notify hears a new observation of a drainer's queue from the observer:
// the live numbers go to the metrics at once, and the drainer is woken
// only when the observation matters to it (plan.ObservationMatters).
func (r *QueueDrainerReconciler) Notify(drainer types.NamespacedName, last, next plan.Observation) {
	// Read, never written: the cache's own copy spares a deep copy of the
	// drainer on every poll of every queue.
	qd := &v1alpha1.QueueDrainer{}
	if err := r.Get(context.Background(), drainer, qd, client.UnsafeDisableDeepCopy); err != nil {
		return // deleted: its reconcile forgets it, and its series
	}
	recordObservation(drainer, next)
	if plan.ObservationMatters(qd, last, next, r.Clock.Now()) {
		// The work queue keeps only the key: so does the wake-up.
		r.wakeups <- event.GenericEvent{Object: &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: drainer.Namespace, Name: drainer.Name}}}
	}
}

// SetupWithManager watches QueueDrainers (spec and annotation changes, not
// status), the Jobs they own, and the observer's wake-ups.
func (r *QueueDrainerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	r.wakeups = make(chan event.GenericEvent, 1024)
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.QueueDrainer{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&batchv1.Job{}).
		WatchesRawSource(source.Channel(r.wakeups, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1)}).
		Named("queuedrainer").
		Complete(r)
}
