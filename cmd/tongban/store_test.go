package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestStoreBackup: a backup of a store verifies like the store itself,
// with the same head; a second backup to the same file is refused.
func TestStoreBackup(t *testing.T) {
	store, pub := evidenceLog(t)
	dir := t.TempDir()
	copyPath := filepath.Join(dir, "backup.db")
	r := must(t, runIn(t, dir, "", "store", "backup", "--store", store, "--to", copyPath))
	if !strings.Contains(r.stdout, "backed up") {
		t.Fatalf("backup: %s", r.stdout)
	}
	src := must(t, runIn(t, dir, "", "audit", "verify", "--store", store, "--gateway-pub", pub))
	dst := must(t, runIn(t, dir, "", "audit", "verify", "--store", copyPath, "--gateway-pub", pub))
	head := func(out string) string { return strings.SplitN(strings.SplitN(out, "head seq ", 2)[1], "\n", 2)[0] }
	if !strings.Contains(dst.stdout, "20 records, 2 checkpoints") || head(src.stdout) != head(dst.stdout) {
		t.Errorf("backup's log:\n%s\nsource's:\n%s", dst.stdout, src.stdout)
	}
	if r := runIn(t, dir, "", "store", "backup", "--store", store, "--to", copyPath); r.code == 0 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("backup over an existing file: exit %d %s", r.code, r.stderr)
	}
	if r := runIn(t, dir, "", "store", "backup", "--to", copyPath); r.code == 0 {
		t.Error("backup without a source succeeded")
	}
}
