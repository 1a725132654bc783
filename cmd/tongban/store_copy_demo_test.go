package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tongban/tongban/cmd/tongban/internal/e2etest"
	"github.com/tongban/tongban/gateway/store/postgres/pgtest"
)

// TestStoreCopyDemo copies a demo's embedded store, after the demo ran its
// sample cases and verifications, into PostgreSQL: the chain verifies on
// both sides with the same head. It then follows the README's PostgreSQL
// backup and restore (pg_dump of the schema, pg_restore into a database
// without it), and the restored log verifies with that head too.
func TestStoreCopyDemo(t *testing.T) {
	schema := pgtest.FreshSchema(t)
	dir := t.TempDir()
	addr := e2etest.FreeLoopbackAddr(t)
	var logs e2etest.LockedBuffer
	cmd := exec.Command(bin, "demo", "--dir", dir, "--addr", addr)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo not ready in 20s:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // the sample cases and verifications run meanwhile
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("demo did not stop within 20s of SIGTERM:\n%s", logs.String())
	}
	work := t.TempDir()
	src := must(t, runIn(t, work, "", "audit", "verify", "--config", filepath.Join(dir, "config.yaml")))
	must(t, runIn(t, work, "", "store", "copy", "--from", filepath.Join(dir, "tongban.db"), "--to", pgtest.DSN(), "--schema", schema))
	dst := must(t, runIn(t, work, "", "audit", "verify", "--store", pgtest.DSN(), "--schema", schema,
		"--gateway-pub", filepath.Join(dir, "keys", "gateway.pub")))
	head := func(out string) string {
		_, after, ok := strings.Cut(out, "head seq ")
		if !ok {
			t.Fatalf("no head in:\n%s", out)
		}
		h, _, _ := strings.Cut(after, "\n")
		return h
	}
	if !strings.Contains(dst.stdout, "OK: every record and checkpoint verifies") || head(src.stdout) != head(dst.stdout) {
		t.Errorf("the copy's log:\n%s\nthe demo's:\n%s", dst.stdout, src.stdout)
	}
	if !strings.Contains(src.stdout, "checkpoints") || strings.Contains(src.stdout, "head seq 0,") {
		t.Errorf("the demo's log is empty:\n%s", src.stdout)
	}

	// Backup and restore, as the README's Operations section says.
	dump := filepath.Join(work, "tongban.dump")
	pgTool(t, "pg_dump", "--format=custom", "--schema="+schema, "--file="+dump, pgtest.DSN())
	restored := pgtest.FreshDatabase(t)
	pgTool(t, "pg_restore", "--exit-on-error", "--dbname="+restored, dump)
	back := must(t, runIn(t, work, "", "audit", "verify", "--store", restored, "--schema", schema,
		"--gateway-pub", filepath.Join(dir, "keys", "gateway.pub")))
	if !strings.Contains(back.stdout, "OK: every record and checkpoint verifies") || head(back.stdout) != head(src.stdout) {
		t.Errorf("the restored log:\n%s\nthe demo's:\n%s", back.stdout, src.stdout)
	}
}

// pgTool runs one of PostgreSQL's client programs, failing t with its
// output when it fails. Without the program t is skipped, or fails when
// CI is set (.ci/run installs postgresql-client).
func pgTool(t *testing.T, name string, args ...string) {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed and CI is set: %v", name, err)
		}
		t.Skipf("%s is not installed: %v", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, path, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
