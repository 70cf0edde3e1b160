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

package v1alpha1_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// reasons reads conditions.go's constants by the block they are declared
// in, as the block's comment names it: "Condition types.", "Condition
// reasons...", "Reasons that are both...", "Event reasons.".
func reasons(t *testing.T) (types, conditionReasons, eventReasons []string) {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "conditions.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST || g.Doc == nil {
			continue
		}
		var values []string
		for _, spec := range g.Specs {
			for _, v := range spec.(*ast.ValueSpec).Values {
				s, err := strconv.Unquote(v.(*ast.BasicLit).Value)
				if err != nil {
					t.Fatal(err)
				}
				values = append(values, s)
			}
		}
		switch doc := g.Doc.Text(); {
		case strings.HasPrefix(doc, "Condition types."):
			types = append(types, values...)
		case strings.HasPrefix(doc, "Condition reasons."):
			conditionReasons = append(conditionReasons, values...)
		case strings.HasPrefix(doc, "Reasons that are both"):
			conditionReasons = append(conditionReasons, values...)
			eventReasons = append(eventReasons, values...)
		case strings.HasPrefix(doc, "Event reasons."):
			eventReasons = append(eventReasons, values...)
		default:
			t.Fatalf("const block %q: not a block of condition types or reasons", doc)
		}
	}
	if len(types) == 0 || len(conditionReasons) == 0 || len(eventReasons) == 0 {
		t.Fatalf("found %d types, %d condition reasons, %d event reasons", len(types), len(conditionReasons), len(eventReasons))
	}
	return types, conditionReasons, eventReasons
}

// The README's Status section lists every condition type and reason, and
// its Events list is exactly the Event reasons.
func TestREADMEListsEveryConditionAndEventReason(t *testing.T) {
	types, conditionReasons, eventReasons := reasons(t)
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)

	start := strings.Index(readme, "  conditions:\n")
	if start < 0 {
		t.Fatal("README: no status.conditions example")
	}
	conditions := readme[start : start+strings.Index(readme[start:], "```")]
	words := map[string]bool{}
	for _, w := range regexp.MustCompile(`[A-Za-z]+`).FindAllString(conditions, -1) {
		words[w] = true
	}
	for _, name := range append(slices.Clone(types), conditionReasons...) {
		if !words[name] {
			t.Errorf("README's status.conditions example does not name %s", name)
		}
	}

	start = strings.Index(readme, "\nEvents: ")
	if start < 0 {
		t.Fatal("README: no list of Events")
	}
	list := readme[start : start+strings.Index(readme[start:], ".")] // up to the list's full stop
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("`([A-Za-z]+)`").FindAllStringSubmatch(list, -1) {
		listed[m[1]] = true
	}
	for _, r := range eventReasons {
		if !listed[r] {
			t.Errorf("README's Events list lacks %s", r)
		}
		delete(listed, r)
	}
	for r := range listed {
		t.Errorf("README's Events list names %s, which is no Event reason", r)
	}
}
