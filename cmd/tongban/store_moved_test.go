package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/cmd/tongban/internal/e2etest"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/config"
)

// readyz returns the status of GET base/readyz and its store check.
func readyz(t *testing.T, base string) (int, contracts.HealthStatus) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(base + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	var h contracts.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatalf("GET /readyz: %d, body: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, h.Checks["store"].Status
}

// waitReadyz polls base/readyz (bounded: 10s) until it answers status
// with the store check at store.
func waitReadyz(t *testing.T, base string, status int, store contracts.HealthStatus) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, st := readyz(t, base)
		if got == status && st == store {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d with store %q 10s on, want %d with store %q", got, st, status, store)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStoreFileMovedWhileServing moves the embedded store's file away
// from under a running `tongban serve`: /readyz turns 503 with the store
// check failing, submissions are answered 503 unavailable (never 202),
// and no new file appears at the configured path. Moved back, the same
// process is ready again and takes submissions (202). After a restart
// every case answered 202 is there, and each exchange answered 503 was
// never stored: submitted again, it is accepted as new (202, not a 200
// replay). Stopped while the file is away, serve refuses to start rather
// than create an empty store in its place.
func TestStoreFileMovedWhileServing(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"keys", "store"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	keys := e2etest.Keys(t, filepath.Join(dir, "keys"), "gateway", "330702", "320404")
	addr := e2etest.FreeLoopbackAddr(t)
	base := "http://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var simLogs e2etest.LockedBuffer
	_, ownerURL := e2etest.Sim(ctx, t, crashGatewayID, "330702", keys["330702"], keys["gateway"], "", &simLogs)
	_, senderURL := e2etest.Sim(ctx, t, crashGatewayID, "320404", keys["320404"], keys["gateway"], "", &simLogs)
	cfgPath := filepath.Join(dir, "config.yaml")
	crashConfig(t, cfgPath, addr, ownerURL, senderURL)
	// Readiness results are cached 100ms instead of 5s, to keep the test short.
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Telemetry.Readiness.Cache = 100 * time.Millisecond
	if _, err := devrig.WriteConfig(cfgPath, cfg, 0o644, "", nil); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "store", "tongban.db")

	g := startGatewayChild(t, cfgPath, base)
	zl := e2etest.NewCaller("320404", crashGatewayID, keys["320404"])
	tok := zl.Token(t)

	type submission struct {
		exchangeID string
		body       []byte
		caseID     string
	}
	submit := func() (submission, e2etest.Answer) {
		t.Helper()
		id, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		body, err := json.Marshal(devrig.Submission(id, time.Now().UTC()))
		if err != nil {
			t.Fatal(err)
		}
		ans, err := zl.PostSigned(ctx, tok, base+"/v1/cases", body)
		if err != nil {
			t.Fatalf("POST /v1/cases: %v", err)
		}
		return submission{exchangeID: id, body: body}, ans
	}
	var accepted, refused []submission
	accept := func(n int, when string) {
		t.Helper()
		for range n {
			s, ans := submit()
			var rc contracts.Receipt
			if ans.Status != http.StatusAccepted || json.Unmarshal(ans.Body, &rc) != nil || rc.CaseID == "" {
				t.Fatalf("submission %s: %d %s, want 202 with a receipt", when, ans.Status, ans.Body)
			}
			s.caseID = rc.CaseID
			accepted = append(accepted, s)
		}
	}

	accept(3, "before the move")
	waitReadyz(t, base, http.StatusOK, contracts.HealthStatusOK)

	if err := os.Rename(db, db+".moved"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		s, ans := submit()
		var e contracts.Error
		if ans.Status != http.StatusServiceUnavailable || json.Unmarshal(ans.Body, &e) != nil || e.Code != contracts.CodeUnavailable {
			t.Fatalf("submission while the store file is moved away: %d %s, want 503 %s", ans.Status, ans.Body, contracts.CodeUnavailable)
		}
		if strings.Contains(e.Message, dir) {
			t.Errorf("503 body %s names the store's path", ans.Body)
		}
		refused = append(refused, s)
	}
	waitReadyz(t, base, http.StatusServiceUnavailable, contracts.HealthStatusFail)
	// A case read either comes from the open file or is refused alike.
	for _, s := range accepted {
		if _, err := zl.GetCase(ctx, tok, base, s.caseID); err != nil && !strings.Contains(err.Error(), ": 503 ") {
			t.Errorf("reading case %s while the store file is moved away: %v, want 200 or 503", s.caseID, err)
		}
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("while the store file is moved away, stat %s: %v; want no file there", db, err)
	}

	if err := os.Rename(db+".moved", db); err != nil {
		t.Fatal(err)
	}
	waitReadyz(t, base, http.StatusOK, contracts.HealthStatusOK)
	accept(3, "once the store file is back")

	// Stopped while the file is away, the gateway does not start on an
	// empty store in its place; with the file back, every 202 is there
	// and every 503 was never stored.
	if err := os.Rename(db, db+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("gateway did not exit within 10s of SIGTERM")
	}
	sctx, stop := context.WithTimeout(ctx, 20*time.Second)
	defer stop()
	out, err := exec.CommandContext(sctx, bin, "serve", "--config", cfgPath).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "put it back") {
		t.Errorf("serve with the store file away: %v, output:\n%s\nwant it to refuse, saying to put the file back", err, out)
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after serve with the store file away, stat %s: %v; want no file there", db, err)
	}
	if err := os.Rename(db+".moved", db); err != nil {
		t.Fatal(err)
	}
	g2 := startGatewayChild(t, cfgPath, base)
	for _, s := range accepted {
		v, err := zl.GetCase(ctx, tok, base, s.caseID)
		if err != nil || v.CaseID != s.caseID {
			t.Errorf("after the restart, case %s answered 202: %+v, %v; want it stored", s.caseID, v.CaseID, err)
		}
	}
	for _, s := range refused {
		ans, err := zl.PostSigned(ctx, tok, base+"/v1/cases", s.body)
		if err != nil || ans.Status != http.StatusAccepted {
			t.Errorf("after the restart, exchange %s answered 503 submitted again: %d %s (%v); want 202, a new case", s.exchangeID, ans.Status, ans.Body, err)
		}
	}
	if t.Failed() {
		t.Logf("gateway:\n%s", crashTail(g.out.String(), 40))
		t.Logf("gateway after the restart:\n%s", crashTail(g2.out.String(), 20))
	}
}
