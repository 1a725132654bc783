package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/cmd/tongban/internal/app"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/store/sqlite"
)

// testConfig writes, in dir, the keys and the configuration of a gateway
// listening on listen with one standard district (whose system is not
// running: nothing is delivered) and loads it.
func testConfig(t *testing.T, dir, listen string) *config.Config {
	t.Helper()
	if _, err := devrig.Keys(dir, devrig.GatewayKey, "330702"); err != nil {
		t.Fatal(err)
	}
	cfg := devrig.Gateway("tongban-test", listen)
	p, err := devrig.Partner(devrig.District{Code: "330702", Name: "婺城区", Style: standard.Name}, "http://127.0.0.1:1/p/330702")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Partners = []config.Partner{p}
	loaded, err := devrig.WriteConfig(filepath.Join(dir, "config.yaml"), cfg, 0o600, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return loaded
}

// evidenceEvents returns the events of the store's evidence log, read as an
// auditor reads it (sqlite.OpenReader, no lock).
func evidenceEvents(t *testing.T, cfg *config.Config) []string {
	t.Helper()
	r, err := sqlite.OpenReader(t.Context(), cfg.Resolve(cfg.Store.Path))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var events []string
	err = r.ScanEvidence(t.Context(), 1, 0, func(row gateway.EvidenceRow) error {
		var rec contracts.EvidenceRecord
		if err := json.Unmarshal(row.Record, &rec); err != nil {
			return err
		}
		events = append(events, rec.Event)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// TestServeRecordsStartOnlyOnceListening: a gateway whose listen address
// is taken fails with the listener's error and appends nothing to its
// evidence log, no gateway.started; once the address is free, it starts
// and records gateway.started, once.
func TestServeRecordsStartOnlyOnceListening(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	cfg := testConfig(t, dir, taken.Addr().String())
	g, err := app.Open(t.Context(), cfg, app.NewLogger(io.Discard, "info"))
	if err != nil {
		t.Fatal(err)
	}
	err = g.Serve(t.Context(), nil)
	if err == nil || !strings.HasPrefix(err.Error(), "listen: ") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Serve on a taken address: got %v, want listen: ... address already in use", err)
	}
	if events := evidenceEvents(t, cfg); len(events) != 0 {
		t.Fatalf("a gateway that could not listen recorded %v; want nothing", events)
	}

	// The same store, a free address: the start is recorded.
	taken.Close()
	g, err = app.Open(t.Context(), cfg, app.NewLogger(io.Discard, "info"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, ready) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready within 10s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
	events := evidenceEvents(t, cfg)
	started := 0
	for _, e := range events {
		if e == contracts.EventGatewayStarted {
			started++
		}
	}
	if started != 1 || events[0] != contracts.EventGatewayStarted {
		t.Errorf("evidence after one start: %v; want gateway.started first, once", events)
	}
}

// TestSecondGatewayOnOneStoreRefused: while a gateway holds its store, a
// second one on the same file is refused at Open with sqlite.ErrLocked,
// naming the file, and writes nothing to it.
func TestSecondGatewayOnOneStoreRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "127.0.0.1:0")
	first, err := app.Open(t.Context(), cfg, app.NewLogger(io.Discard, "info"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- first.Serve(ctx, ready) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	defer func() { cancel(); <-done }()

	second, err := app.Open(t.Context(), cfg, app.NewLogger(io.Discard, "info"))
	if err == nil {
		second.Close()
		t.Fatal("a second gateway opened the store the first one serves")
	}
	store := cfg.Resolve(cfg.Store.Path)
	if !errors.Is(err, sqlite.ErrLocked) || !strings.Contains(err.Error(), store) || !strings.HasPrefix(err.Error(), "store: ") {
		t.Errorf("second Open: got %v; want store: ... sqlite.ErrLocked naming %s", err, store)
	}
	if events := evidenceEvents(t, cfg); len(events) != 1 || events[0] != contracts.EventGatewayStarted {
		t.Errorf("evidence: %v; want the first gateway's start alone", events)
	}
}

// TestOpenNeedsDataKeys: a gateway does not start unless its
// configuration says how personal data is kept (a data key file, or
// sealing disabled), nor with a key file others may read.
func TestOpenNeedsDataKeys(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "127.0.0.1:0")
	keyFile := cfg.Resolve(cfg.DataKeys.Path)
	for _, tt := range []struct {
		name string
		keys config.DataKeys
		mode os.FileMode
		want string
	}{
		{"neither", config.DataKeys{}, 0o600, "data_keys: not set"},
		{"world-readable file", cfg.DataKeys, 0o644, "0600"},
		{"missing file", config.DataKeys{Path: "keys/none.json"}, 0o600, "data_keys.path"},
		{"disabled", config.DataKeys{Disabled: true}, 0o600, ""},
		{"file", cfg.DataKeys, 0o600, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.Chmod(keyFile, tt.mode); err != nil {
				t.Fatal(err)
			}
			c := *cfg
			c.DataKeys = tt.keys
			g, err := app.Open(t.Context(), &c, app.NewLogger(io.Discard, "info"))
			if err == nil {
				g.Close()
			}
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Open: %v, want %q", err, tt.want)
			}
		})
	}
}
