package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/cmd/tongban/internal/e2etest"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/store/sqlite"
)

// startedRecords counts the gateway.started records of the store at path,
// read as an auditor reads it (no lock).
func startedRecords(t *testing.T, path string) int {
	t.Helper()
	r, err := sqlite.OpenReader(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	err = r.ScanEvidence(t.Context(), 1, 0, func(row gateway.EvidenceRow) error {
		var rec contracts.EvidenceRecord
		if err := json.Unmarshal(row.Record, &rec); err != nil {
			return err
		}
		if rec.Event == contracts.EventGatewayStarted {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSecondServeFails runs a second `tongban serve` beside a running one:
// on the same store file it exits non-zero naming the file (the store is
// exclusive); on the same listen address with its own store it exits
// non-zero naming the address, and its store holds no gateway.started.
// The running gateway's log keeps its one start record either way.
func TestSecondServeFails(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"keys", "store", "other"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	keys := e2etest.Keys(t, filepath.Join(dir, "keys"), "gateway", "330702", "320404")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var simLogs e2etest.LockedBuffer
	_, ownerURL := e2etest.Sim(ctx, t, crashGatewayID, "330702", keys["330702"], keys["gateway"], "", &simLogs)
	_, senderURL := e2etest.Sim(ctx, t, crashGatewayID, "320404", keys["320404"], keys["gateway"], "", &simLogs)
	addr := e2etest.FreeLoopbackAddr(t)
	first := filepath.Join(dir, "config.yaml")
	crashConfig(t, first, addr, ownerURL, senderURL)
	startGatewayChild(t, first, "http://"+addr)
	store := filepath.Join(dir, "store", "tongban.db")

	// serve runs the binary with cfg and returns its exit code and
	// standard error; a serve still running after 20s fails the test.
	serve := func(cfg string) (int, string) {
		t.Helper()
		sctx, stop := context.WithTimeout(ctx, 20*time.Second)
		defer stop()
		cmd := exec.CommandContext(sctx, bin, "serve", "--config", cfg)
		var stderr e2etest.LockedBuffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if sctx.Err() != nil {
			t.Fatalf("the second serve (%s) was still running after 20s:\n%s", cfg, stderr.String())
		}
		if err == nil {
			return 0, stderr.String()
		}
		return cmd.ProcessState.ExitCode(), stderr.String()
	}

	// The same store, another address.
	sameStore := filepath.Join(dir, "same-store.yaml")
	crashConfig(t, sameStore, e2etest.FreeLoopbackAddr(t), ownerURL, senderURL)
	code, stderr := serve(sameStore)
	t.Logf("second serve on the same store: exit %d: %s", code, stderr)
	if code == 0 || !strings.Contains(stderr, store) || !strings.Contains(stderr, "in use by another store") {
		t.Errorf("second serve on the same store: exit %d, stderr %q; want non-zero naming %s as in use", code, stderr, store)
	}

	// The same address, another store.
	sameAddr := filepath.Join(dir, "other", "config.yaml")
	if err := os.Symlink(filepath.Join(dir, "keys"), filepath.Join(dir, "other", "keys")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "other", "store"), 0o755); err != nil {
		t.Fatal(err)
	}
	crashConfig(t, sameAddr, addr, ownerURL, senderURL)
	code, stderr = serve(sameAddr)
	t.Logf("second serve on the same address: exit %d: %s", code, stderr)
	if code == 0 || !strings.Contains(stderr, "listen") || !strings.Contains(stderr, addr) {
		t.Errorf("second serve on the same address: exit %d, stderr %q; want non-zero naming %s", code, stderr, addr)
	}
	if n := startedRecords(t, filepath.Join(dir, "other", "store", "tongban.db")); n != 0 {
		t.Errorf("the serve that could not listen recorded %d gateway.started, want 0", n)
	}
	if n := startedRecords(t, store); n != 1 {
		t.Errorf("the running gateway's log holds %d gateway.started, want 1", n)
	}
}
