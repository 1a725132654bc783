package main

import (
	"os/exec"
	"path/filepath"
	"slices"
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

// imports lists the packages pkg imports itself (not their
// dependencies), standard ones included.
func imports(t *testing.T, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, pkg)
	cmd.Dir = moduleRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pkg, err, out)
	}
	return strings.Fields(string(out))
}

// The sub-domain packages around the kernel (sealed, the store decorator
// that encrypts personal data at rest, imports only the kernel too).
var subDomains = []string{"cases", "licenses", "outbox", "evidence", "sealed"}

// TestImportsFlowOneWay keeps the package map: contracts uses only the
// standard library; the adapter ports use contracts alone; the kernel and
// the sub-domains never reach an adapter, a store implementation, echo, an
// SM library, the signing package or the OpenTelemetry SDK; a sub-domain
// never imports another sub-domain (they meet only in the kernel's ports
// and hooks, and in gateway/node, which assembles them).
func TestImportsFlowOneWay(t *testing.T) {
	core := []string{
		module + "/adapters", module + "/gateway/store/", module + "/signing", module + "/cmd",
		module + "/gateway/httpapi", module + "/gateway/node", module + "/gateway/config", module + "/gateway/keyring",
		module + "/gateway/telemetry", module + "/gateway/bundle",
		"github.com/labstack/echo", "github.com/emmansun/gmsm", "github.com/tjfoc/gmsm", "go.opentelemetry.io/otel/sdk",
	}
	rules := []struct {
		pkg     string
		allowed []string // prefixes a dependency must have; nil = any
		denied  []string // prefixes no dependency may have
	}{
		{pkg: module + "/contracts", allowed: []string{}},
		{pkg: module + "/gateway/port", allowed: []string{module + "/contracts"}},
		{pkg: module + "/signing", allowed: []string{
			module + "/contracts", "github.com/emmansun/gmsm", "github.com/tjfoc/gmsm",
			"github.com/golang-jwt/jwt", "golang.org/x/crypto", "golang.org/x/sys",
		}},
	}
	var subs []string
	for _, d := range subDomains {
		subs = append(subs, module+"/gateway/"+d)
	}
	rules = append(rules, struct {
		pkg     string
		allowed []string
		denied  []string
	}{pkg: module + "/gateway", denied: append(slices.Clone(core), subs...)})
	for _, d := range subs {
		var others []string
		for _, o := range subs {
			if o != d {
				others = append(others, o)
			}
		}
		rules = append(rules, struct {
			pkg     string
			allowed []string
			denied  []string
		}{pkg: d, denied: append(slices.Clone(core), others...)})
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

// TestStoresComputeNoHash keeps every domain rule out of the stores: a
// store package links evidence records with the ChainLinker it is given
// and imports no hash function to do it itself, nor the signing package,
// an SM library or a sub-domain.
func TestStoresComputeNoHash(t *testing.T) {
	cmd := exec.Command("go", "list", module+"/gateway/store/...")
	cmd.Dir = moduleRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	denied := []string{"crypto/", "hash", module + "/signing", "github.com/emmansun/gmsm", "github.com/tjfoc/gmsm"}
	for _, d := range subDomains {
		denied = append(denied, module+"/gateway/"+d)
	}
	stores := strings.Fields(string(out))
	if len(stores) < 2 {
		t.Fatalf("found stores %v; want the store packages and their suite", stores)
	}
	for _, pkg := range stores {
		if strings.HasSuffix(pkg, "/storetest") || strings.HasSuffix(pkg, "/pgtest") {
			continue // test helpers: the suite checks hashes with the gateway's verifier; pgtest names schemas
		}
		for _, imp := range imports(t, pkg) {
			if hasPrefix(imp, denied) {
				t.Errorf("store %s imports %s: stores compute no hash and hold no domain rule", pkg, imp)
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

// TestTopLevelLayout keeps the repository's top level to what the
// README's architecture section fixes.
func TestTopLevelLayout(t *testing.T) {
	allowed := map[string]bool{
		"cmd": true, "gateway": true, "adapters": true, "signing": true, "contracts": true, "deploy": true,
		"go.mod": true, "go.sum": true, "README.md": true, ".ci": true, ".gitignore": true,
		"Makefile": true, "LICENSE": true, "docs": true,
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
		t.Fatalf("unexpected top-level entries %v; the README's architecture fixes the top level", bad)
	}
}
