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

// storeRig is a `tongban serve` child on an embedded store in storeDir,
// with the simulated districts of the crash test and a sender to submit
// cases.
type storeRig struct {
	t             *testing.T
	ctx           context.Context
	base, cfgPath string
	db            string // the store file
	g             *gatewayChild
	zl            *e2etest.Caller
	tok           string
}

// storeSubmission is one submitted exchange; caseID is set once answered 202.
type storeSubmission struct {
	exchangeID string
	body       []byte
	caseID     string
}

// newStoreRig writes the configuration (the store at storeDir/tongban.db,
// readiness results cached 100ms instead of 5s, to keep tests short) and
// starts the gateway.
func newStoreRig(t *testing.T, ctx context.Context, storeDir string) *storeRig {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o755); err != nil {
		t.Fatal(err)
	}
	keys := e2etest.Keys(t, filepath.Join(dir, "keys"), "gateway", "330702", "320404")
	addr := e2etest.FreeLoopbackAddr(t)
	r := &storeRig{t: t, ctx: ctx, base: "http://" + addr, cfgPath: filepath.Join(dir, "config.yaml"), db: filepath.Join(storeDir, "tongban.db")}
	var simLogs e2etest.LockedBuffer
	_, ownerURL := e2etest.Sim(ctx, t, crashGatewayID, "330702", keys["330702"], keys["gateway"], "", &simLogs)
	_, senderURL := e2etest.Sim(ctx, t, crashGatewayID, "320404", keys["320404"], keys["gateway"], "", &simLogs)
	crashConfig(t, r.cfgPath, addr, ownerURL, senderURL)
	cfg, err := config.Load(r.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store.Path = r.db
	cfg.Telemetry.Readiness.Cache = 100 * time.Millisecond
	if _, err := devrig.WriteConfig(r.cfgPath, cfg, 0o644, "", nil); err != nil {
		t.Fatal(err)
	}
	r.g = startGatewayChild(t, r.cfgPath, r.base)
	r.zl = e2etest.NewCaller("320404", crashGatewayID, keys["320404"])
	r.tok = r.zl.Token(t)
	return r
}

// submit posts a new case.
func (r *storeRig) submit() (storeSubmission, e2etest.Answer) {
	r.t.Helper()
	id, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
	if err != nil {
		r.t.Fatal(err)
	}
	body, err := json.Marshal(devrig.Submission(id, time.Now().UTC()))
	if err != nil {
		r.t.Fatal(err)
	}
	ans, err := r.zl.PostSigned(r.ctx, r.tok, r.base+"/v1/cases", body)
	if err != nil {
		r.t.Fatalf("POST /v1/cases: %v", err)
	}
	return storeSubmission{exchangeID: id, body: body}, ans
}

// receiptOf returns s with the case id of ans, a 202 with a receipt;
// ok is false for any other answer.
func receiptOf(s storeSubmission, ans e2etest.Answer) (storeSubmission, bool) {
	var rc contracts.Receipt
	if ans.Status != http.StatusAccepted || json.Unmarshal(ans.Body, &rc) != nil || rc.CaseID == "" {
		return s, false
	}
	s.caseID = rc.CaseID
	return s, true
}

// storeUnavailable reports whether ans is 503 unavailable, naming no path.
func storeUnavailable(ans e2etest.Answer) bool {
	var e contracts.Error
	return ans.Status == http.StatusServiceUnavailable && json.Unmarshal(ans.Body, &e) == nil &&
		e.Code == contracts.CodeUnavailable && !strings.Contains(e.Message, "/")
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	storeDir := filepath.Join(t.TempDir(), "store")
	if err := os.MkdirAll(storeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := newStoreRig(t, ctx, storeDir)
	g, base, db, cfgPath, zl, tok := r.g, r.base, r.db, r.cfgPath, r.zl, r.tok

	var accepted, refused []storeSubmission
	accept := func(n int, when string) {
		t.Helper()
		for range n {
			s, ok := receiptOf(r.submit())
			if !ok {
				t.Fatalf("submission %s: not 202 with a receipt", when)
			}
			accepted = append(accepted, s)
		}
	}

	accept(3, "before the move")
	waitReadyz(t, base, http.StatusOK, contracts.HealthStatusOK)

	if err := os.Rename(db, db+".moved"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		s, ans := r.submit()
		if !storeUnavailable(ans) {
			t.Fatalf("submission while the store file is moved away: %d %s, want 503 %s", ans.Status, ans.Body, contracts.CodeUnavailable)
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

// TestStoreDiskFullWhileServing runs `tongban serve` with its embedded
// store on a 4 MiB tmpfs beside a 1 MiB ballast file and submits cases
// until the file system is full (a real ENOSPC): the submission that does
// not fit is answered 503 unavailable, /readyz turns 503, and once the
// ballast is removed the same process is ready again and takes the
// refused exchange as a new case (202: nothing of it had been stored). It
// needs to mount a file system (root); elsewhere it is skipped.
func TestStoreDiskFullWhileServing(t *testing.T) {
	storeDir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tongban-test", storeDir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s): needs root", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", storeDir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", storeDir, err, out)
		}
	})
	ballast := filepath.Join(storeDir, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := newStoreRig(t, ctx, storeDir)
	waitReadyz(t, r.base, http.StatusOK, contracts.HealthStatusOK)

	var (
		refused storeSubmission
		n       int
	)
	for ; ; n++ {
		if n == 3000 {
			t.Fatal("3000 cases fit in 3 MiB")
		}
		s, ans := r.submit()
		if _, ok := receiptOf(s, ans); ok {
			continue
		}
		if !storeUnavailable(ans) {
			t.Fatalf("submission %d on a full disk: %d %s, want 503 %s", n+1, ans.Status, ans.Body, contracts.CodeUnavailable)
		}
		refused = s
		break
	}
	t.Logf("the disk was full after %d cases", n)
	waitReadyz(t, r.base, http.StatusServiceUnavailable, contracts.HealthStatusFail)

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	waitReadyz(t, r.base, http.StatusOK, contracts.HealthStatusOK)
	ans, err := r.zl.PostSigned(ctx, r.tok, r.base+"/v1/cases", refused.body)
	if err != nil || ans.Status != http.StatusAccepted {
		t.Errorf("the exchange refused on the full disk, submitted again with space free: %d %s (%v); want 202, a new case", ans.Status, ans.Body, err)
	}
	if _, ok := receiptOf(r.submit()); !ok {
		t.Error("a new case with space free: not 202")
	}
	if t.Failed() {
		t.Logf("gateway:\n%s", crashTail(r.g.out.String(), 40))
	}
}
