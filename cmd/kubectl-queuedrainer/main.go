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

// Command kubectl-queuedrainer is a kubectl plugin for QueueDrainers: on
// PATH, `kubectl queuedrainer status` runs it. It shows what the operator
// wrote in status, and asks for drains and redrives with the annotations
// the operator reads.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
)

const usage = `kubectl queuedrainer: see and drive QueueDrainers.

Usage:
  kubectl queuedrainer status [NAME]          one drainer's queue, health, active and last runs;
                                              without NAME, a table of the namespace's drainers
  kubectl queuedrainer history NAME           every run in status.history, newest first
  kubectl queuedrainer drain NAME [--wait]    request a drain now
  kubectl queuedrainer redrive NAME [--wait]  move the dead-letter queue's messages back to the queue
  kubectl queuedrainer suspend NAME           no new run starts; an active run goes on
  kubectl queuedrainer resume NAME            runs start again
  kubectl queuedrainer watch [NAME]           the live view, every 2s, until Ctrl-C

Flags:
  -n, --namespace NS      the drainers' namespace (default: the kubeconfig context's)
  -A, --all-namespaces    status and watch without NAME: every namespace
      --kubeconfig PATH   the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)
      --context NAME      the kubeconfig context (default: the current one)
      --wait              drain, redrive: follow the run that serves the request; exit 0 if
                          it succeeded, 1 if it did not or the timeout passed
      --timeout 30m       drain, redrive: how long --wait waits
`

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // an API error, a run that did not succeed, a timeout
	exitUsage  = 2
)

// A command is a subcommand and the flags it takes besides the common ones.
type command struct {
	minArgs, maxArgs int
	allNamespaces    bool // takes -A (only without NAME)
	wait             bool // takes --wait and --timeout
	run              func(ctx context.Context, e *env, args []string) int
}

var commands = map[string]command{
	"status":  {maxArgs: 1, allNamespaces: true, run: status},
	"history": {minArgs: 1, maxArgs: 1, run: history},
	"drain":   {minArgs: 1, maxArgs: 1, wait: true, run: func(ctx context.Context, e *env, a []string) int { return request(ctx, e, a[0], drainRequest) }},
	"redrive": {minArgs: 1, maxArgs: 1, wait: true, run: func(ctx context.Context, e *env, a []string) int { return request(ctx, e, a[0], redriveRequest) }},
	"suspend": {minArgs: 1, maxArgs: 1, run: func(ctx context.Context, e *env, a []string) int { return setSuspend(ctx, e, a[0], true) }},
	"resume":  {minArgs: 1, maxArgs: 1, run: func(ctx context.Context, e *env, a []string) int { return setSuspend(ctx, e, a[0], false) }},
	"watch":   {maxArgs: 1, allNamespaces: true, run: watch},
}

// options are the parsed flags.
type options struct {
	namespace     string
	allNamespaces bool
	kubeconfig    string
	context       string
	wait          bool
	timeout       time.Duration
}

// env is what a command works with.
type env struct {
	c         client.Client
	namespace string // "" with -A
	opts      options
	out, err  io.Writer
}

// errorf prints an error the way kubectl does, and returns exitFailed.
func (e *env) errorf(format string, a ...any) int {
	fmt.Fprintf(e.err, "error: "+format+"\n", a...)
	return exitFailed
}

func main() {
	// The plugin logs nothing; without a logger controller-runtime would
	// complain about the missing one on stderr. API warnings are printed
	// (see connect).
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil)
	stop()
	os.Exit(code)
}

// run runs one command line. cfg, when not nil, is used instead of the
// kubeconfig (the tests pass their API server's); the namespace then
// defaults to "default".
func run(ctx context.Context, args []string, stdout, stderr io.Writer, cfg *rest.Config) int {
	name, cmdArgs := splitCommand(args)
	if name == "" || name == "help" {
		if name == "" && !helpAsked(cmdArgs) {
			fmt.Fprint(stderr, usage)
			return exitUsage
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "error: unknown command %q\n\n%s", name, usage)
		return exitUsage
	}
	opts, pos, err := parseFlags(cmd, cmdArgs)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	if err == nil && (len(pos) < cmd.minArgs || len(pos) > cmd.maxArgs) {
		want := "at most one NAME"
		if cmd.minArgs == 1 {
			want = "one NAME"
		}
		err = fmt.Errorf("%s takes %s", name, want)
	}
	if err == nil && opts.allNamespaces && len(pos) > 0 {
		err = errors.New("-A lists every drainer: give no NAME with it")
	}
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\nSee 'kubectl queuedrainer --help'.\n", err)
		return exitUsage
	}
	e := &env{opts: opts, out: stdout, err: stderr}
	if e.c, e.namespace, err = connect(opts, cfg, stderr); err != nil {
		return e.errorf("%v", err)
	}
	return cmd.run(ctx, e, pos)
}

// splitCommand finds the subcommand, the first word that is neither a flag
// nor a flag's value, so that flags may come before it too.
func splitCommand(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return a, append(append([]string{}, args[:i]...), args[i+1:]...)
		}
		if name := strings.TrimLeft(a, "-"); !strings.Contains(name, "=") && valueFlags[name] {
			i++ // its value
		}
	}
	return "", args
}

// valueFlags take a value, which may be the next word: "-n shop".
var valueFlags = map[string]bool{"n": true, "namespace": true, "kubeconfig": true, "context": true, "timeout": true}

func helpAsked(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			return true
		}
	}
	return false
}

// parseFlags parses the flags a command takes, before, between and after
// its arguments, as kubectl does (the standard flag package stops at the
// first argument, so it is asked again after each one).
func parseFlags(cmd command, args []string) (options, []string, error) {
	o := options{timeout: 30 * time.Minute}
	fs := flag.NewFlagSet("kubectl-queuedrainer", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed by run
	fs.StringVar(&o.namespace, "n", "", "")
	fs.StringVar(&o.namespace, "namespace", "", "")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "")
	fs.StringVar(&o.context, "context", "", "")
	if cmd.allNamespaces {
		fs.BoolVar(&o.allNamespaces, "A", false, "")
		fs.BoolVar(&o.allNamespaces, "all-namespaces", false, "")
	}
	if cmd.wait {
		fs.BoolVar(&o.wait, "wait", false, "")
		fs.DurationVar(&o.timeout, "timeout", o.timeout, "")
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return o, nil, err
		}
		if fs.NArg() == 0 {
			return o, pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// connect makes a client from cfg, or from the kubeconfig as kubectl
// loads it, and works out the namespace.
func connect(o options, cfg *rest.Config, stderr io.Writer) (client.Client, string, error) {
	namespace := "default"
	if cfg == nil {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		rules.ExplicitPath = o.kubeconfig
		loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.context})
		var err error
		if cfg, err = loader.ClientConfig(); err != nil {
			return nil, "", err
		}
		if namespace, _, err = loader.Namespace(); err != nil {
			return nil, "", err
		}
	}
	switch {
	case o.allNamespaces:
		namespace = ""
	case o.namespace != "":
		namespace = o.namespace
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "kubectl-queuedrainer"
	// The API server's warnings, as kubectl prints them.
	cfg.WarningHandler = rest.NewWarningWriter(stderr, rest.WarningWriterOptions{Deduplicate: true})
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	return c, namespace, err
}

// explain turns the error of a missing CRD into a sentence.
func explain(err error) error {
	if meta.IsNoMatchError(err) {
		return fmt.Errorf("the QueueDrainer API (%s) is not installed in this cluster: %w", v1alpha1.GroupVersion, err)
	}
	return err
}
