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

// Package argocd_test checks the Argo CD health check and resource actions
// for QueueDrainer, kept under config/argocd in the layout of Argo CD's
// resource_customizations, and the argocd-cm patch that embeds them. The
// tests run in config/argocd (main_test.go).
//
// The Lua runs in gopher-lua, the interpreter Argo CD uses, with what Argo CD
// gives a script configured in argocd-cm: the base functions, table, and
// os.time and os.date.
//
// From test/ (the test module):
//
//	go test ./config/argocd/...           run the cases
//	go test ./config/argocd/... -update   rewrite the expected messages in
//	                                      health_test.yaml (never a status) and
//	                                      regenerate argocd-cm-patch.yaml
package argocd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"

	"github.com/queuedrainer/queue-drainer/api/v1alpha1"
)

var update = flag.Bool("update", false,
	"rewrite the expected messages in health_test.yaml from what health.lua returns (statuses are never rewritten), and regenerate argocd-cm-patch.yaml from the Lua files")

const (
	group = "drain.queuedrainer.io"
	kind  = "QueueDrainer"
	// dir is the customization, as Argo CD's resource_customizations/<group>/<kind>.
	dir        = group + "/" + kind
	actionsDir = dir + "/actions"
	patchFile  = "argocd-cm-patch.yaml"
	healthKey  = "resource.customizations.health." + group + "_" + kind
	actionsKey = "resource.customizations.actions." + group + "_" + kind
	// luaTimeout is the time Argo CD gives a script.
	luaTimeout = time.Second
)

// healthStates are the states the health testdata must cover, one file each.
// The files may be replaced by statuses captured from real drainers, under
// these names.
var healthStates = []string{
	"no-status",
	"spec-changed",
	"healthy-idle",
	"healthy-draining",
	"suspended",
	"stalled-queue-does-not-exist",
	"stalled-role-not-allowed",
	"stalled-invalid-schedule",
	"stalled-ineffective-consumer",
	"reconciling-throttled",
	"workers-pending",
}

// Argo CD's health statuses.
var healthStatuses = []string{"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}

// ---------------------------------------------------------------------------
// The sandbox

// newSandbox is a Lua state with what Argo CD gives a script from argocd-cm
// (resource.customizations.useOpenLibs unset): the base functions, the table
// library and an os library of time and date only; no string, math, io,
// debug or coroutine library. Argo CD also opens the package library, for
// require("os"); these scripts must not need it, so it is left out, and
// require with it.
func newSandbox(t *testing.T) *lua.LState {
	t.Helper()
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	t.Cleanup(L.Close)
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, lua.OpenOs},
	} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			t.Fatalf("opening %s: %v", lib.name, err)
		}
	}
	// Argo CD's base functions include require and module, with which a
	// script could load os (its safe version) and nothing else. These
	// scripts must not need them.
	L.SetGlobal("require", lua.LNil)
	L.SetGlobal("module", lua.LNil)
	full := L.GetGlobal(lua.OsLibName).(*lua.LTable)
	safe := L.NewTable()
	for _, f := range []string{"time", "date"} {
		safe.RawSetString(f, full.RawGetString(f))
	}
	L.SetGlobal(lua.OsLibName, safe)
	ctx, cancel := context.WithTimeout(context.Background(), luaTimeout)
	t.Cleanup(cancel)
	L.SetContext(ctx)
	return L
}

// runLua runs a script with the global obj, as Argo CD does, and converts
// what it returns; shape is the object the result is read against (for
// empty tables, which Lua cannot tell from empty arrays). A script that
// leaves a global behind fails the test: Argo CD runs every script in a new
// state, but a global is a typo's hiding place.
func runLua(t *testing.T, script string, obj map[string]any, shape any) (any, error) {
	t.Helper()
	L := newSandbox(t)
	L.SetGlobal("obj", toLua(L, obj))
	before := globalNames(L)
	if err := L.DoString(script); err != nil {
		var apiErr *lua.ApiError
		if errors.As(err, &apiErr) && apiErr.Object != nil {
			return nil, fmt.Errorf("%s", apiErr.Object.String())
		}
		return nil, err
	}
	if leaked := slices.DeleteFunc(globalNames(L), func(n string) bool { return slices.Contains(before, n) }); len(leaked) > 0 {
		t.Errorf("the script sets globals %v: declare them local", leaked)
	}
	return fromLua(L.Get(-1), shape)
}

func globalNames(L *lua.LState) []string {
	var names []string
	L.G.Global.ForEach(func(k, _ lua.LValue) { names = append(names, k.String()) })
	return names
}

// toLua converts a decoded object to Lua as Argo CD does: a list becomes a
// table indexed from 1, a map (empty ones too) a table keyed by strings.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case []any:
		tbl := L.CreateTable(len(v), 0)
		for _, e := range v {
			tbl.Append(toLua(L, e))
		}
		return tbl
	case map[string]any:
		tbl := L.CreateTable(0, len(v))
		for k, e := range v {
			tbl.RawSetString(k, toLua(L, e))
		}
		return tbl
	}
	panic(fmt.Sprintf("toLua: unexpected %T", v))
}

// fromLua converts a Lua value back. A table keyed 1..n is a list, one keyed
// by strings a map; an empty table takes the kind of what was at its place
// in shape (a map when nothing was), as Argo CD keeps an empty map from
// becoming an empty list.
func fromLua(v lua.LValue, shape any) (any, error) {
	switch v := v.(type) {
	case *lua.LNilType:
		return nil, nil
	case lua.LBool:
		return bool(v), nil
	case lua.LString:
		return string(v), nil
	case lua.LNumber:
		return float64(v), nil
	case *lua.LTable:
		var strKeys []string
		var numKeys []float64
		var bad error
		v.ForEach(func(k, _ lua.LValue) {
			switch k := k.(type) {
			case lua.LString:
				strKeys = append(strKeys, string(k))
			case lua.LNumber:
				numKeys = append(numKeys, float64(k))
			default:
				bad = fmt.Errorf("table key of type %s", k.Type())
			}
		})
		switch {
		case bad != nil:
			return nil, bad
		case len(strKeys) > 0 && len(numKeys) > 0:
			return nil, fmt.Errorf("table mixes string keys %v and list indexes", strKeys)
		case len(numKeys) > 0:
			sort.Float64s(numKeys)
			for i, k := range numKeys {
				if k != float64(i+1) {
					return nil, fmt.Errorf("list indexes %v are not 1..%d", numKeys, len(numKeys))
				}
			}
			shapeList, _ := shape.([]any)
			list := make([]any, len(numKeys))
			for i := range list {
				var s any
				if i < len(shapeList) {
					s = shapeList[i]
				}
				e, err := fromLua(v.RawGetInt(i+1), s)
				if err != nil {
					return nil, fmt.Errorf("[%d]: %w", i+1, err)
				}
				list[i] = e
			}
			return list, nil
		case len(strKeys) == 0:
			if _, ok := shape.([]any); ok {
				return []any{}, nil
			}
			return map[string]any{}, nil
		default:
			shapeMap, _ := shape.(map[string]any)
			m := make(map[string]any, len(strKeys))
			for _, k := range strKeys {
				e, err := fromLua(v.RawGetString(k), shapeMap[k])
				if err != nil {
					return nil, fmt.Errorf("%s: %w", k, err)
				}
				m[k] = e
			}
			return m, nil
		}
	}
	return nil, fmt.Errorf("a %s cannot leave the script", v.Type())
}

func TestSandbox(t *testing.T) {
	L := newSandbox(t)
	for _, name := range []string{"require", "module", "package", "io", "string", "math", "debug", "coroutine"} {
		if v := L.GetGlobal(name); v != lua.LNil {
			t.Errorf("%s is in the sandbox; the scripts must do without it", name)
		}
	}
	var osFuncs []string
	L.GetGlobal("os").(*lua.LTable).ForEach(func(k, _ lua.LValue) { osFuncs = append(osFuncs, k.String()) })
	slices.Sort(osFuncs)
	if !slices.Equal(osFuncs, []string{"date", "time"}) {
		t.Errorf("os has %v, want only date and time", osFuncs)
	}
	// String methods need the string library, which Argo CD does not open.
	if err := L.DoString(`local s = ("x"):upper()`); err == nil {
		t.Error("a string method ran in the sandbox")
	}
	// The objects' lists are indexed from 1, and an empty map is a table.
	got, err := runLua(t, `return { first = obj.items[1], count = #obj.items, empty = type(obj.empty) }`,
		map[string]any{"items": []any{"a", "b"}, "empty": map[string]any{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"first": "a", "count": 2.0, "empty": "table"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// Numbers come out of tostring and .. as integers, the way health.lua prints counts.
	got, err = runLua(t, `return tostring(obj.n) .. " " .. obj.n`, map[string]any{"n": 1234567.0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got != "1234567 1234567" {
		t.Errorf("got %q", got)
	}
}

// TestLuaUsesOnlyTheSandbox reads every script for what the sandbox lacks,
// or offers but a script here must not use: a library Argo CD does not open,
// os beyond time and date, loading code or files, changing environments, and
// method calls (on a string they need the string library).
func TestLuaUsesOnlyTheSandbox(t *testing.T) {
	forbidden := map[string]string{
		"require":        "Argo CD only preloads its safe os for require: use os directly",
		"module":         "Argo CD's sandbox has no modules",
		"package":        "Argo CD's sandbox has no package library",
		"io":             "Argo CD's sandbox has no io library",
		"string":         "Argo CD's sandbox has no string library",
		"math":           "Argo CD's sandbox has no math library",
		"debug":          "Argo CD's sandbox has no debug library",
		"coroutine":      "Argo CD's sandbox has no coroutine library",
		"load":           "scripts here load no code",
		"loadstring":     "scripts here load no code",
		"loadfile":       "scripts here read no files",
		"dofile":         "scripts here read no files",
		"setfenv":        "scripts here change no environment",
		"getfenv":        "scripts here change no environment",
		"_G":             "scripts here use locals, not the globals table",
		"collectgarbage": "scripts here leave the garbage collector alone",
	}
	scripts := luaFiles(t)
	if len(scripts) == 0 {
		t.Fatal("no Lua files found")
	}
	for _, path := range scripts {
		t.Run(path, func(t *testing.T) {
			toks, err := luaTokens(readFile(t, path))
			if err != nil {
				t.Fatal(err)
			}
			for i, tok := range toks {
				prev := ""
				if i > 0 {
					prev = toks[i-1].text
				}
				switch {
				case tok.text == ":":
					t.Errorf("line %d: method call: write f(x), string methods need the string library", tok.line)
				case prev == "." || prev == ":":
					// a field, not a global
				case forbidden[tok.text] != "":
					t.Errorf("line %d: %s: %s", tok.line, tok.text, forbidden[tok.text])
				case tok.text == "os":
					if i+2 >= len(toks) || toks[i+1].text != "." || (toks[i+2].text != "date" && toks[i+2].text != "time") {
						t.Errorf("line %d: os: only os.date and os.time are in Argo CD's sandbox", tok.line)
					}
				}
			}
		})
	}
}

type luaToken struct {
	text string
	line int
}

// luaTokens splits Lua source into names and punctuation, dropping
// comments, strings and numbers.
func luaTokens(src string) ([]luaToken, error) {
	var toks []luaToken
	line := 1
	longBracket := func(i int) (level int, ok bool) { // at "[", is it [[ or [=*[ ?
		j := i + 1
		for j < len(src) && src[j] == '=' {
			j++
		}
		if j < len(src) && src[j] == '[' {
			return j - i - 1, true
		}
		return 0, false
	}
	skipLong := func(i, level int) (int, error) { // i after the opening bracket
		closing := "]" + strings.Repeat("=", level) + "]"
		end := strings.Index(src[i:], closing)
		if end < 0 {
			return 0, fmt.Errorf("line %d: unclosed long bracket", line)
		}
		line += strings.Count(src[i:i+end], "\n")
		return i + end + len(closing), nil
	}
	isName := func(c byte) bool {
		return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case strings.HasPrefix(src[i:], "--"):
			i += 2
			if i < len(src) && src[i] == '[' {
				if level, ok := longBracket(i); ok {
					var err error
					if i, err = skipLong(i+level+2, level); err != nil {
						return nil, err
					}
					continue
				}
			}
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'':
			j := i + 1
			for ; j < len(src) && src[j] != c; j++ {
				if src[j] == '\\' {
					j++
				}
				if j < len(src) && src[j] == '\n' {
					return nil, fmt.Errorf("line %d: unfinished string", line)
				}
			}
			if j >= len(src) {
				return nil, fmt.Errorf("line %d: unfinished string", line)
			}
			i = j + 1
		case c == '[':
			if level, ok := longBracket(i); ok {
				var err error
				if i, err = skipLong(i+level+2, level); err != nil {
					return nil, err
				}
				continue
			}
			toks = append(toks, luaToken{"[", line})
			i++
		case c >= '0' && c <= '9':
			for i < len(src) && (isName(src[i]) || src[i] == '.') {
				i++
			}
		case isName(c):
			j := i
			for j < len(src) && isName(src[j]) {
				j++
			}
			toks = append(toks, luaToken{src[i:j], line})
			i = j
		case strings.HasPrefix(src[i:], ".."):
			toks = append(toks, luaToken{"..", line})
			i += 2
		default:
			toks = append(toks, luaToken{string(c), line})
			i++
		}
	}
	return toks, nil
}

// ---------------------------------------------------------------------------
// Health

type healthTests struct {
	Tests []healthTest `json:"tests"`
}

type healthTest struct {
	HealthStatus healthStatus `json:"healthStatus"`
	InputPath    string       `json:"inputPath"`
}

type healthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func TestHealth(t *testing.T) {
	testFile := filepath.Join(dir, "health_test.yaml")
	script := readFile(t, filepath.Join(dir, "health.lua"))
	var cases healthTests
	readYAML(t, testFile, &cases)
	if len(cases.Tests) == 0 {
		t.Fatal("no health cases")
	}
	got := make([]*string, len(cases.Tests))
	for i, tc := range cases.Tests {
		t.Run(strings.TrimSuffix(filepath.Base(tc.InputPath), ".yaml"), func(t *testing.T) {
			if !slices.Contains(healthStatuses, tc.HealthStatus.Status) {
				t.Fatalf("expected status %q is not an Argo CD health status %v", tc.HealthStatus.Status, healthStatuses)
			}
			obj := readObject(t, filepath.Join(dir, tc.InputPath))
			hs := health(t, script, obj)
			got[i] = &hs.Message
			if hs.Status != tc.HealthStatus.Status {
				t.Errorf("status %s, want %s (message %q)", hs.Status, tc.HealthStatus.Status, hs.Message)
				if *update {
					t.Errorf("-update does not rewrite statuses: they are the contract; change health.lua or, deliberately, %s", testFile)
				}
			}
			if hs.Message != tc.HealthStatus.Message && !*update {
				t.Errorf("message\n  got  %q\n  want %q\n(cd test && go test ./config/argocd/... -update rewrites the expected messages)", hs.Message, tc.HealthStatus.Message)
			}
		})
	}
	if *update {
		src := readFile(t, testFile)
		out, err := rewriteMessages(src, got)
		if err != nil {
			t.Fatalf("%s: %v", testFile, err)
		}
		var reread healthTests
		if err := yaml.Unmarshal([]byte(out), &reread); err != nil {
			t.Fatalf("the rewritten %s does not parse: %v", testFile, err)
		}
		for i := range reread.Tests {
			want := cases.Tests[i]
			if got[i] != nil {
				want.HealthStatus.Message = *got[i]
			}
			if reread.Tests[i] != want {
				t.Fatalf("rewriting %s changed case %d to %+v, want %+v", testFile, i+1, reread.Tests[i], want)
			}
		}
		if out != src {
			writeFile(t, testFile, out)
			t.Logf("rewrote the messages in %s", testFile)
		}
	}
}

// TestHealthRules covers what the captured states do not: the order of the
// rules where several hold, and the messages when a field is missing.
func TestHealthRules(t *testing.T) {
	script := readFile(t, filepath.Join(dir, "health.lua"))
	cond := func(typ, status, reason, message string) any {
		return map[string]any{"type": typ, "status": status, "reason": reason, "message": message,
			"lastTransitionTime": "2026-03-04T06:00:00Z", "observedGeneration": 2.0}
	}
	ready := cond("Ready", "True", "Watching", "the queue is observed every 30s")
	drainer := func(spec map[string]any, status map[string]any) map[string]any {
		obj := map[string]any{
			"apiVersion": "drain.queuedrainer.io/v1alpha1", "kind": "QueueDrainer",
			"metadata": map[string]any{"name": "orders", "namespace": "shop", "generation": 2.0},
			"spec":     map[string]any{"queue": map[string]any{"url": "https://sqs.us-east-1.amazonaws.com/123456789012/orders"}},
		}
		maps.Copy(obj["spec"].(map[string]any), spec)
		if status != nil {
			obj["status"] = status
		}
		return obj
	}
	suspended := map[string]any{"suspend": true}
	for _, tc := range []struct {
		name   string
		obj    map[string]any
		status string
		msg    string
	}{
		{"status without Ready", drainer(nil, map[string]any{"observedGeneration": 2.0, "conditions": []any{
			cond("Draining", "False", "Idle", "no run is active")}}),
			"Progressing", "waiting for the operator to observe the drainer"},
		{"no observedGeneration", drainer(nil, map[string]any{"conditions": []any{ready}}),
			"Progressing", "spec change not yet observed"},
		{"stalled and suspended", drainer(suspended, map[string]any{"observedGeneration": 2.0, "conditions": []any{
			ready, cond("Stalled", "True", "AccessDenied", "the queue cannot be observed: AccessDenied: denied")}}),
			"Degraded", "the queue cannot be observed: AccessDenied: denied"},
		{"stalled without a message", drainer(nil, map[string]any{"observedGeneration": 2.0, "conditions": []any{
			ready, cond("Stalled", "True", "InvalidSchedule", "")}}),
			"Degraded", "Stalled InvalidSchedule"},
		{"suspended with workers pending", drainer(suspended, map[string]any{"observedGeneration": 2.0, "conditions": []any{
			ready, cond("Draining", "True", "WorkersPending", "run orders-7: 2 of 2 workers pending for 5m0s")}}),
			"Suspended", "suspended: no run starts"},
		{"reconciling with workers pending", drainer(nil, map[string]any{"observedGeneration": 2.0, "conditions": []any{
			ready, cond("Draining", "True", "WorkersPending", "run orders-7: 2 of 2 workers pending for 5m0s"),
			cond("Reconciling", "True", "NetworkError", "retrying: dial tcp: i/o timeout")}}),
			"Progressing", "retrying: dial tcp: i/o timeout"},
		{"Reconciling False is no news", drainer(nil, map[string]any{"observedGeneration": 2.0, "conditions": []any{
			ready, cond("Reconciling", "False", "Done", "")}, "queue": map[string]any{"visibleMessages": 0.0}}),
			"Healthy", "watching: 0 messages visible"},
		{"draining without counts or queue", drainer(nil, map[string]any{"observedGeneration": 2.0,
			"activeRun":  map[string]any{"name": "orders-7", "trigger": "Manual", "workers": 3.0, "messagesAtStart": 0.0},
			"conditions": []any{ready, cond("Draining", "True", "Manual", "run orders-7: 0 of 3 workers running, 3 pending, 0 done")}}),
			"Healthy", "draining: run orders-7, 0/3 workers"},
		{"draining without activeRun", drainer(nil, map[string]any{"observedGeneration": 2.0,
			"queue":      map[string]any{"visibleMessages": 1500000.0},
			"conditions": []any{ready, cond("Draining", "True", "RunActive", "run orders-7: 1 of 1 workers running, 0 pending, 0 done")}}),
			"Healthy", "draining: run orders-7: 1 of 1 workers running, 0 pending, 0 done, 1500000 messages visible"},
		{"watching before the queue is observed", drainer(nil, map[string]any{"observedGeneration": 2.0, "conditions": []any{ready}}),
			"Healthy", "watching: the queue is observed every 30s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := health(t, script, tc.obj); got != (healthStatus{tc.status, tc.msg}) {
				t.Errorf("got %s %q, want %s %q", got.Status, got.Message, tc.status, tc.msg)
			}
		})
	}
}

// health runs health.lua and checks that it returns what Argo CD reads: a
// table of a valid status and a string message, nothing else.
func health(t *testing.T, script string, obj map[string]any) healthStatus {
	t.Helper()
	ret, err := runLua(t, script, obj, nil)
	if err != nil {
		t.Fatalf("health.lua: %v", err)
	}
	m, ok := ret.(map[string]any)
	if !ok {
		t.Fatalf("health.lua returned %T %v, want a table", ret, ret)
	}
	var hs healthStatus
	for k, v := range m {
		s, isString := v.(string)
		switch {
		case !isString:
			t.Fatalf("health.lua returned %s of type %T, want a string", k, v)
		case k == "status":
			hs.Status = s
		case k == "message":
			hs.Message = s
		default:
			t.Fatalf("health.lua returned the key %q; Argo CD reads only status and message", k)
		}
	}
	if !slices.Contains(healthStatuses, hs.Status) {
		t.Fatalf("health.lua returned status %q; Argo CD would show Unknown", hs.Status)
	}
	return hs
}

var messageLine = regexp.MustCompile(`^(\s+)message:.*$`)

// rewriteMessages replaces the message of every case that ran in
// health_test.yaml, line by line, so that comments, order and statuses stay
// as they are. Each case must have one message line.
func rewriteMessages(src string, msgs []*string) (string, error) {
	lines := strings.Split(src, "\n")
	var at []int
	for i, l := range lines {
		if messageLine.MatchString(l) {
			at = append(at, i)
		}
	}
	if len(at) != len(msgs) {
		return "", fmt.Errorf("%d message lines for %d cases: give every case one `message:` line, on one line", len(at), len(msgs))
	}
	for n, i := range at {
		if msgs[n] == nil {
			continue
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(*msgs[n]); err != nil {
			return "", err
		}
		// A JSON string is a YAML double-quoted scalar.
		indent := messageLine.FindStringSubmatch(lines[i])[1]
		lines[i] = indent + "message: " + strings.TrimSuffix(b.String(), "\n")
	}
	return strings.Join(lines, "\n"), nil
}

// TestHealthTestdata checks that the testdata covers every state, under the
// agreed names, and holds QueueDrainers the API accepts, field by field:
// the files may be replaced with statuses captured from real drainers.
func TestHealthTestdata(t *testing.T) {
	var cases healthTests
	readYAML(t, filepath.Join(dir, "health_test.yaml"), &cases)
	used := map[string]bool{}
	for _, tc := range cases.Tests {
		used[filepath.Clean(tc.InputPath)] = true
	}
	files, err := filepath.Glob(filepath.Join(dir, "testdata", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		if !used[rel] {
			t.Errorf("%s is in no case of health_test.yaml", rel)
		}
	}
	for _, state := range healthStates {
		rel := filepath.Join("testdata", state+".yaml")
		if !used[rel] {
			t.Errorf("no case for the state %s (%s)", state, rel)
		}
	}
	for rel := range used {
		t.Run(rel, func(t *testing.T) {
			strictDecode(t, filepath.Join(dir, rel), readObject(t, filepath.Join(dir, rel)))
		})
	}
}

// strictDecode decodes an object into the API's QueueDrainer, refusing
// fields the API does not have.
func strictDecode(t *testing.T, path string, obj map[string]any) {
	t.Helper()
	if obj["apiVersion"] != v1alpha1.GroupVersion.String() || obj["kind"] != kind {
		t.Fatalf("%s is a %v %v, want a %s %s", path, obj["apiVersion"], obj["kind"], v1alpha1.GroupVersion, kind)
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var qd v1alpha1.QueueDrainer
	if err := dec.Decode(&qd); err != nil {
		t.Errorf("%s does not fit the API's QueueDrainer: %v", path, err)
	}
}

// ---------------------------------------------------------------------------
// Actions

type actionTests struct {
	DiscoveryTests []discoveryTest `json:"discoveryTests"`
	ActionTests    []actionTest    `json:"actionTests"`
}

type discoveryTest struct {
	InputPath string           `json:"inputPath"`
	Result    []resourceAction `json:"result"`
}

// resourceAction is what Argo CD reads of an action from discovery.lua.
type resourceAction struct {
	Name        string `json:"name"`
	Disabled    bool   `json:"disabled"`
	IconClass   string `json:"iconClass,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
}

type actionTest struct {
	Action        string           `json:"action"`
	InputPath     string           `json:"inputPath"`
	Changes       []expectedChange `json:"changes"`
	ExpectedError string           `json:"expectedError"`
}

type expectedChange struct {
	Path []string `json:"path"`
	// Value is the new value.
	Value any `json:"value"`
	// Timestamp says the new value is the current UTC time, RFC 3339.
	Timestamp bool `json:"timestamp"`
}

// definedActions are the actions with an action.lua, sorted.
func definedActions(t *testing.T) []string {
	t.Helper()
	scripts, err := filepath.Glob(filepath.Join(actionsDir, "*", "action.lua"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range scripts {
		names = append(names, filepath.Base(filepath.Dir(s)))
	}
	slices.Sort(names)
	return names
}

func TestActionDiscovery(t *testing.T) {
	script := readFile(t, filepath.Join(actionsDir, "discovery.lua"))
	var cases actionTests
	readYAML(t, filepath.Join(actionsDir, "action_test.yaml"), &cases)
	if len(cases.DiscoveryTests) == 0 {
		t.Fatal("no discovery cases")
	}
	defined := definedActions(t)
	for _, tc := range cases.DiscoveryTests {
		t.Run(strings.TrimSuffix(filepath.Base(tc.InputPath), ".yaml"), func(t *testing.T) {
			obj := readObject(t, filepath.Join(actionsDir, tc.InputPath))
			ret, err := runLua(t, script, obj, nil)
			if err != nil {
				t.Fatalf("discovery.lua: %v", err)
			}
			got := discovered(t, ret)
			var names []string
			for _, a := range got {
				names = append(names, a.Name)
			}
			if !slices.Equal(names, defined) {
				t.Errorf("discovery.lua offers %v; the actions with an action.lua are %v", names, defined)
			}
			want := slices.Clone(tc.Result)
			sort.Slice(want, func(i, j int) bool { return want[i].Name < want[j].Name })
			if !reflect.DeepEqual(got, want) {
				t.Errorf("actions\n  got  %+v\n  want %+v", got, want)
			}
		})
	}
}

// discovered reads discovery.lua's table as Argo CD does: the keys are the
// actions, each a table of disabled, iconClass, displayName and params.
func discovered(t *testing.T, ret any) []resourceAction {
	t.Helper()
	m, ok := ret.(map[string]any)
	if !ok {
		t.Fatalf("discovery.lua returned %T %v, want a table keyed by action", ret, ret)
	}
	var actions []resourceAction
	for name, v := range m {
		fields, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("action %s is a %T, want a table", name, v)
		}
		a := resourceAction{Name: name}
		for k, f := range fields {
			var typeOK bool
			switch k {
			case "disabled":
				a.Disabled, typeOK = f.(bool)
			case "iconClass":
				a.IconClass, typeOK = f.(string)
			case "displayName":
				a.DisplayName, typeOK = f.(string)
			case "params":
				_, typeOK = f.([]any)
			default:
				t.Fatalf("action %s has the key %q; Argo CD reads disabled, iconClass, displayName and params", name, k)
			}
			if !typeOK {
				t.Fatalf("action %s: %s is a %T", name, k, f)
			}
		}
		actions = append(actions, a)
	}
	sort.Slice(actions, func(i, j int) bool { return actions[i].Name < actions[j].Name })
	return actions
}

var rfc3339UTC = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

func TestActions(t *testing.T) {
	var cases actionTests
	readYAML(t, filepath.Join(actionsDir, "action_test.yaml"), &cases)
	tested := map[string]bool{}
	for _, tc := range cases.ActionTests {
		tested[tc.Action] = true
		t.Run(tc.Action+"/"+strings.TrimSuffix(filepath.Base(tc.InputPath), ".yaml"), func(t *testing.T) {
			script := readFile(t, filepath.Join(actionsDir, tc.Action, "action.lua"))
			obj := readObject(t, filepath.Join(actionsDir, tc.InputPath))
			start := time.Now().UTC().Truncate(time.Second)
			ret, err := runLua(t, script, obj, obj) // obj itself stays as read: Lua has a copy
			end := time.Now().UTC()
			if tc.ExpectedError != "" {
				if err == nil || err.Error() != tc.ExpectedError {
					t.Fatalf("error %v, want %q", err, tc.ExpectedError)
				}
				return
			}
			if err != nil {
				t.Fatalf("action.lua: %v", err)
			}
			out, ok := ret.(map[string]any)
			if !ok {
				t.Fatalf("action.lua returned %T, want the object", ret)
			}
			var got []change
			diff(nil, obj, out, &got)
			if len(tc.Changes) == 0 {
				t.Fatal("the case expects no change and no error")
			}
			want := map[string]expectedChange{}
			for _, c := range tc.Changes {
				if c.Value == nil && !c.Timestamp {
					t.Fatalf("change %v has neither a value nor timestamp: true", c.Path)
				}
				want[strings.Join(c.Path, " / ")] = c
			}
			for _, g := range got {
				key := strings.Join(g.path, " / ")
				w, ok := want[key]
				if !ok {
					t.Errorf("unexpected change of %s to %#v", key, g.value)
					continue
				}
				delete(want, key)
				switch {
				case w.Timestamp:
					s, _ := g.value.(string)
					at, err := time.Parse(time.RFC3339, s)
					if !rfc3339UTC.MatchString(s) || err != nil {
						t.Errorf("%s = %#v, want a UTC time in RFC 3339 (2006-01-02T15:04:05Z)", key, g.value)
					} else if at.Before(start) || at.After(end) {
						t.Errorf("%s = %s, want the current time (between %s and %s)", key, s, start.Format(time.RFC3339), end.Format(time.RFC3339))
					}
				case !reflect.DeepEqual(g.value, w.Value):
					t.Errorf("%s = %#v, want %#v", key, g.value, w.Value)
				}
			}
			for key := range want {
				t.Errorf("%s did not change", key)
			}
		})
	}
	for _, name := range definedActions(t) {
		if !tested[name] {
			t.Errorf("no case for the action %s", name)
		}
	}
}

type change struct {
	path  []string
	value any // removed when the field was removed
}

type removed struct{}

// diff lists the paths at which b differs from a, down to the fields of
// maps; a list that differs is one change.
func diff(path []string, a, b any, out *[]change) {
	am, aIsMap := a.(map[string]any)
	bm, bIsMap := b.(map[string]any)
	if aIsMap && bIsMap {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		slices.Sort(sorted)
		for _, k := range sorted {
			p := append(slices.Clone(path), k)
			av, inA := am[k]
			bv, inB := bm[k]
			switch {
			case !inB:
				*out = append(*out, change{p, removed{}})
			case !inA:
				if added, ok := bv.(map[string]any); ok && len(added) > 0 {
					diff(p, map[string]any{}, added, out) // a new map: its fields are the changes
				} else {
					*out = append(*out, change{p, bv})
				}
			default:
				diff(p, av, bv, out)
			}
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, change{path, b})
	}
}

// TestActionTestdata checks that the actions' testdata holds QueueDrainers
// the API accepts. status.queue.deadLetter, which redrive reads, is checked
// once the API has it.
func TestActionTestdata(t *testing.T) {
	var cases actionTests
	readYAML(t, filepath.Join(actionsDir, "action_test.yaml"), &cases)
	inputs := map[string]bool{}
	for _, tc := range cases.DiscoveryTests {
		inputs[tc.InputPath] = true
	}
	for _, tc := range cases.ActionTests {
		inputs[tc.InputPath] = true
	}
	_, apiHasDeadLetter := jsonFields(reflect.TypeFor[v1alpha1.QueueStatus]())["deadLetter"]
	for rel := range inputs {
		t.Run(rel, func(t *testing.T) {
			path := filepath.Join(actionsDir, rel)
			obj := readObject(t, path)
			if status, _ := obj["status"].(map[string]any); status != nil && !apiHasDeadLetter {
				if queue, _ := status["queue"].(map[string]any); queue != nil && queue["deadLetter"] != nil {
					delete(queue, "deadLetter")
					t.Logf("%s: the API has no status.queue.deadLetter yet: not checked", rel)
				}
			}
			strictDecode(t, path, obj)
		})
	}
}

// jsonFields are the JSON names of a struct's fields.
func jsonFields(typ reflect.Type) map[string]bool {
	fields := map[string]bool{}
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		fields[name] = true
	}
	return fields
}

// ---------------------------------------------------------------------------
// The argocd-cm patch

// resourceActions is the value of the actions key, as Argo CD reads it.
type resourceActions struct {
	DiscoveryLua string `json:"discovery.lua"`
	Definitions  []struct {
		Name      string `json:"name"`
		ActionLua string `json:"action.lua"`
	} `json:"definitions"`
}

// renderPatch is argocd-cm-patch.yaml: the health check and the actions, as
// argocd-cm data, from the Lua files.
func renderPatch(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	block := func(src, indent string) {
		if src == "" || src[0] == ' ' || !strings.HasSuffix(src, "\n") {
			t.Fatalf("a script must start without a space and end with a newline, to embed as a YAML block")
		}
		for _, l := range strings.SplitAfter(src, "\n") {
			if strings.TrimSpace(l) != "" {
				b.WriteString(indent)
			}
			b.WriteString(l)
		}
	}
	b.WriteString(`# Argo CD health check and resource actions for QueueDrainer, as argocd-cm
# data. Generated from config/argocd/` + dir + `/
# by ` + "`cd test && go test ./config/argocd/... -update`" + `: edit the Lua files, not this.
#
# Apply it to the argocd-cm ConfigMap of your Argo CD, for example:
#   kubectl -n argocd patch configmap argocd-cm --patch-file config/argocd/` + patchFile + `
# or merge the data keys into the ConfigMap (or the Helm chart's configs.cm)
# that you manage Argo CD with.
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
data:
`)
	b.WriteString("  " + healthKey + ": |\n")
	block(readFile(t, filepath.Join(dir, "health.lua")), "    ")
	b.WriteString("  " + actionsKey + ": |\n")
	b.WriteString("    discovery.lua: |\n")
	block(readFile(t, filepath.Join(actionsDir, "discovery.lua")), "      ")
	b.WriteString("    definitions:\n")
	for _, name := range definedActions(t) {
		b.WriteString("    - name: " + name + "\n")
		b.WriteString("      action.lua: |\n")
		block(readFile(t, filepath.Join(actionsDir, name, "action.lua")), "        ")
	}
	return b.String()
}

func TestArgoCDConfigMapPatch(t *testing.T) {
	want := renderPatch(t)
	if *update {
		if got, err := os.ReadFile(patchFile); err != nil || string(got) != want {
			writeFile(t, patchFile, want)
			t.Logf("regenerated %s", patchFile)
		}
	} else if got := readFile(t, patchFile); got != want {
		t.Errorf("%s is out of date with the Lua files: run cd test && go test ./config/argocd/... -update", patchFile)
	}
	// What Argo CD reads from it is the Lua files, byte for byte.
	var cm struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   map[string]any    `json:"metadata"`
		Data       map[string]string `json:"data"`
	}
	if err := yaml.UnmarshalStrict([]byte(want), &cm); err != nil {
		t.Fatalf("%s does not parse: %v", patchFile, err)
	}
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" || cm.Metadata["name"] != "argocd-cm" {
		t.Errorf("%s is not a patch of the ConfigMap argocd-cm", patchFile)
	}
	keys := slices.Sorted(maps.Keys(cm.Data))
	if !slices.Equal(keys, []string{actionsKey, healthKey}) {
		t.Errorf("data keys %v, want %s and %s", keys, healthKey, actionsKey)
	}
	if cm.Data[healthKey] != readFile(t, filepath.Join(dir, "health.lua")) {
		t.Errorf("%s in %s is not health.lua", healthKey, patchFile)
	}
	var actions resourceActions
	if err := yaml.UnmarshalStrict([]byte(cm.Data[actionsKey]), &actions); err != nil {
		t.Fatalf("%s in %s does not parse: %v", actionsKey, patchFile, err)
	}
	if actions.DiscoveryLua != readFile(t, filepath.Join(actionsDir, "discovery.lua")) {
		t.Errorf("discovery.lua in %s is not actions/discovery.lua", patchFile)
	}
	var names []string
	for _, d := range actions.Definitions {
		names = append(names, d.Name)
		if d.ActionLua != readFile(t, filepath.Join(actionsDir, d.Name, "action.lua")) {
			t.Errorf("the action %s in %s is not actions/%s/action.lua", d.Name, patchFile, d.Name)
		}
	}
	if defined := definedActions(t); !slices.Equal(names, defined) {
		t.Errorf("%s defines the actions %v, want %v", patchFile, names, defined)
	}
}

// ---------------------------------------------------------------------------
// Files

func luaFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".lua") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(readFile(t, path)), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// readObject reads a Kubernetes object from YAML, as JSON decodes it
// (numbers are float64), the way Argo CD hands it to Lua.
func readObject(t *testing.T, path string) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(readFile(t, path)), &obj); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if obj == nil {
		t.Fatalf("%s is empty", path)
	}
	checkNumbers(t, path, obj)
	return obj
}

// checkNumbers refuses numbers Lua cannot hold exactly.
func checkNumbers(t *testing.T, path string, v any) {
	switch v := v.(type) {
	case float64:
		if math.Abs(v) > 1<<53 {
			t.Fatalf("%s: %v is beyond what a Lua number holds exactly", path, v)
		}
	case []any:
		for _, e := range v {
			checkNumbers(t, path, e)
		}
	case map[string]any:
		for _, e := range v {
			checkNumbers(t, path, e)
		}
	}
}
