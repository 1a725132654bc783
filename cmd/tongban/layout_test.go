package main

import (
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/tongban/tongban"

// moduleRoot returns the repository root (two levels above this package).
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// deps lists the non-standard packages pkg depends on, itself excluded.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg)
	cmd.Dir = moduleRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	var ds []string
	for _, l := range strings.Fields(string(out)) {
		if l != pkg {
			ds = append(ds, l)
		}
	}
	return ds
}

// TestImportsFlowOneWay keeps the package map of DESIGN.md: contracts uses
// only the standard library; the gateway core never reaches an adapter, a
// store implementation, echo, an SM library or the signing package.
func TestImportsFlowOneWay(t *testing.T) {
	rules := []struct {
		pkg     string
		allowed []string // prefixes a dependency must have; empty = none allowed
		denied  []string // prefixes no dependency may have
	}{
		{pkg: module + "/contracts", allowed: []string{}},
		{pkg: module + "/signing", allowed: []string{
			module + "/contracts", "github.com/emmansun/gmsm", "github.com/tjfoc/gmsm",
			"github.com/golang-jwt/jwt", "golang.org/x/crypto", "golang.org/x/sys",
		}},
	}
	// The core is checked as soon as it has Go files.
	if m, _ := filepath.Glob(filepath.Join(moduleRoot(t), "gateway", "*.go")); len(m) > 0 {
		rules = append(rules, struct {
			pkg     string
			allowed []string
			denied  []string
		}{pkg: module + "/gateway", denied: []string{
			module + "/adapters", module + "/gateway/store/", module + "/signing", module + "/cmd",
			"github.com/labstack/echo", "github.com/emmansun/gmsm", "github.com/tjfoc/gmsm",
			"go.opentelemetry.io/otel/sdk",
		}})
	}
	for _, r := range rules {
		for _, d := range deps(t, r.pkg) {
			if r.allowed != nil && !hasPrefix(d, r.allowed) {
				t.Errorf("%s depends on %s; allowed: %v", r.pkg, d, r.allowed)
			}
			if hasPrefix(d, r.denied) {
				t.Errorf("%s depends on %s, which it must never import", r.pkg, d)
			}
		}
	}
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// TestTopLevelLayout keeps the repository's top level to what DESIGN.md fixes.
func TestTopLevelLayout(t *testing.T) {
	allowed := map[string]bool{
		"cmd": true, "gateway": true, "adapters": true, "signing": true, "contracts": true, "deploy": true,
		"go.mod": true, "go.sum": true, "README.md": true, ".ci": true, ".gitignore": true,
		"Makefile": true, "LICENSE": true,
	}
	cmd := exec.Command("git", "ls-files")
	cmd.Dir = moduleRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v (the layout test needs the git checkout)", err)
	}
	seen := map[string]bool{}
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		seen[strings.SplitN(f, "/", 2)[0]] = true
	}
	var bad []string
	for name := range seen {
		if !allowed[name] {
			bad = append(bad, name)
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Fatalf("unexpected top-level entries %v; DESIGN.md fixes the top level", bad)
	}
}
