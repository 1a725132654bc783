package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fuzzTargets finds every fuzz target in the tree: each top-level
// func FuzzXxx(*testing.F) in a _test.go file, as "./dir FuzzXxx".
func fuzzTargets(t *testing.T, root string) []string {
	t.Helper()
	var found []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Fuzz") || len(fn.Type.Params.List) != 1 {
				continue
			}
			star, ok := fn.Type.Params.List[0].Type.(*ast.StarExpr)
			if !ok {
				continue
			}
			if sel, ok := star.X.(*ast.SelectorExpr); !ok || sel.Sel.Name != "F" {
				continue
			}
			dir, err := filepath.Rel(root, filepath.Dir(path))
			if err != nil {
				return err
			}
			found = append(found, "./"+filepath.ToSlash(dir)+" "+fn.Name.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range found {
		found[i] = strings.Replace(s, "./. ", ". ", 1)
	}
	slices.Sort(found)
	return found
}

// listedTarget is one line of .ci/fuzz's targets array.
var listedTarget = regexp.MustCompile(`(?m)^\s*"(\.\S*) (Fuzz\w+)"\s*$`)

// TestEveryFuzzTargetRunsInCI: every fuzz target in the tree is listed in
// .ci/fuzz (which CI runs after the tests), every listed target exists,
// and every target has a checked-in corpus under its package's
// testdata/fuzz. A new parser's fuzz target cannot be left out of CI.
func TestEveryFuzzTargetRunsInCI(t *testing.T) {
	root := moduleRoot(t)
	script, err := os.ReadFile(filepath.Join(root, ".ci", "fuzz"))
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, m := range listedTarget.FindAllStringSubmatch(string(script), -1) {
		listed = append(listed, m[1]+" "+m[2])
	}
	slices.Sort(listed)
	if len(listed) != len(slices.Compact(slices.Clone(listed))) {
		t.Errorf(".ci/fuzz lists a target twice: %v", listed)
	}
	inTree := fuzzTargets(t, root)
	if len(inTree) == 0 {
		t.Fatal("found no fuzz target in the tree")
	}
	for _, tg := range inTree {
		if !slices.Contains(listed, tg) {
			t.Errorf("fuzz target %s is not listed in .ci/fuzz", tg)
		}
		pkg, name, _ := strings.Cut(tg, " ")
		entries, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(pkg), "testdata", "fuzz", name))
		if err != nil || len(entries) == 0 {
			t.Errorf("fuzz target %s has no checked-in corpus under %s/testdata/fuzz/%s", tg, pkg, name)
		}
	}
	for _, tg := range listed {
		if !slices.Contains(inTree, tg) {
			t.Errorf(".ci/fuzz lists %s, which is not a fuzz target in the tree", tg)
		}
	}
	run, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	const tests = "go vet ./... && go test ./...\n"
	if i, j := strings.Index(string(run), tests), strings.LastIndex(string(run), ".ci/fuzz"); i < 0 || j < i {
		t.Error(".ci/run does not run .ci/fuzz after the README's test command")
	}
}
