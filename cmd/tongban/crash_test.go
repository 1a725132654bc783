package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/cmd/tongban/internal/e2etest"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/signing"
)

const crashGatewayID = "tongban-crash"

// crashConfig writes the configuration of the crash test's gateway to
// path: districts 330702 (the owner) and 320404 (the sender), both
// standard, at ownerURL and senderURL.
func crashConfig(t *testing.T, path, addr, ownerURL, senderURL string) {
	t.Helper()
	cfg := devrig.Gateway(crashGatewayID, addr)
	cfg.Store.Path = "store/tongban.db"
	// The default lease (2m) stays: deliveries the killed process left in flight
	// must be released when serve reopens the store, not wait out the lease.
	cfg.Delivery.Poll = 50 * time.Millisecond
	for _, p := range []struct{ code, url string }{{"330702", ownerURL}, {"320404", senderURL}} {
		pc, err := devrig.Partner(devrig.District{Code: p.code, Style: standard.Name}, p.url)
		if err == nil {
			err = pc.SetAdapterConfig(devrig.AdapterBlock(map[string]any{"endpoint": p.url, "max_retries": 0}))
		}
		if err != nil {
			t.Fatal(err)
		}
		pc.Library = nil
		pc.Retry = config.Retry{MaxAttempts: 100, BaseDelay: 50 * time.Millisecond, MaxDelay: 200 * time.Millisecond}
		pc.Timeout = time.Second
		cfg.Partners = append(cfg.Partners, pc)
	}
	if _, err := devrig.WriteConfig(path, cfg, 0o644, "", nil); err != nil {
		t.Fatal(err)
	}
}

// gatewayChild is a gateway running as a subprocess.
type gatewayChild struct {
	cmd    *exec.Cmd
	out    *e2etest.LockedBuffer
	exited chan struct{}
}

// startGatewayChild runs `bin serve --config cfg` and waits (bounded) until
// base/healthz answers 200.
func startGatewayChild(t *testing.T, cfg, base string) *gatewayChild {
	t.Helper()
	g := spawnGateway(t, cfg, nil)
	g.waitHealthy(t, base, 10*time.Second, "gateway")
	return g
}

// spawnGateway starts `bin serve --config cfg` with environment env (nil:
// the test's own) and returns at once; the process is SIGKILLed when the
// test ends, if still running.
func spawnGateway(t *testing.T, cfg string, env []string) *gatewayChild {
	t.Helper()
	g := &gatewayChild{cmd: exec.Command(bin, "serve", "--config", cfg), out: &e2etest.LockedBuffer{}, exited: make(chan struct{})}
	g.cmd.Env = env
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.cmd.Wait(); close(g.exited) }()
	t.Cleanup(func() { g.kill(t) })
	return g
}

// waitHealthy waits until base/healthz answers 200, at most within; the
// test fails, naming what, when the process exits first or time runs out.
func (g *gatewayChild) waitHealthy(t *testing.T, base string, within time.Duration, what string) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(within)
	for {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-g.exited:
			t.Fatalf("%s exited before it was healthy:\n%s", what, g.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy within %s:\n%s", what, within, g.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits (bounded) until the process is gone.
func (g *gatewayChild) kill(t *testing.T) {
	select {
	case <-g.exited:
		return
	default:
	}
	_ = g.cmd.Process.Kill()
	select {
	case <-g.exited:
	case <-time.After(5 * time.Second):
		t.Errorf("gateway pid %d still running 5s after SIGKILL", g.cmd.Process.Pid)
	}
}

// crashSubmission is one submitted exchange and what came of it.
type crashSubmission struct {
	exchangeID string
	body       []byte
	caseID     string // from the 202 receipt
}

// lifecycleRank orders the states a sender hears about.
var lifecycleRank = map[contracts.CaseState]int{
	contracts.CaseStateReceived: 0, contracts.CaseStateAccepted: 1, contracts.CaseStateInProgress: 2,
	contracts.CaseStateConcluded: 3, contracts.CaseStateDispatched: 4, contracts.CaseStateDelivered: 5,
}

// TestSIGKILLLosesNoAcceptedCase kills the gateway process while cases
// stream in, restarts it on the same store, and checks that every case
// answered 202 reaches its owner, that replays after the restart are
// idempotent, and that status updates reach the sender in lifecycle order.
func TestSIGKILLLosesNoAcceptedCase(t *testing.T) {
	const (
		maxCases   = 400
		killAfter  = 100
		submitters = 4
	)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := newCrashRig(ctx, t)
	keys, base, cfg, owner, sender, simLogs := r.keys, r.base, r.cfg, r.owner, r.sender, r.simLogs

	first := startGatewayChild(t, cfg, base)
	zl := e2etest.NewCaller("320404", crashGatewayID, keys["320404"])
	tok := zl.Token(t)

	// Stream submissions; SIGKILL the gateway once killAfter got a 202.
	var (
		mu         sync.Mutex
		accepted   []crashSubmission // answered 202
		unanswered []crashSubmission // transport error: may or may not have landed
		unexpected []string
		next       atomic.Int64
		nAccepted  atomic.Int64
		killed     atomic.Bool
		killedAt   time.Time
		wg         sync.WaitGroup
	)
	submitStart := time.Now()
	sctx, stopSubmit := context.WithTimeout(ctx, 15*time.Second)
	defer stopSubmit()
	for range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= maxCases && sctx.Err() == nil {
				id, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
				if err != nil {
					panic(err)
				}
				body, err := json.Marshal(devrig.Submission(id, time.Now().UTC()))
				if err != nil {
					panic(err)
				}
				s := crashSubmission{exchangeID: id, body: body}
				ans, err := zl.PostSigned(sctx, tok, base+"/v1/cases", body)
				mu.Lock()
				switch {
				case err != nil:
					unanswered = append(unanswered, s)
				case ans.Status == http.StatusAccepted:
					var rc contracts.Receipt
					if err := json.Unmarshal(ans.Body, &rc); err != nil || rc.CaseID == "" || rc.ExchangeID != id {
						unexpected = append(unexpected, fmt.Sprintf("202 with receipt %s (%v)", ans.Body, err))
					} else {
						s.caseID = rc.CaseID
						accepted = append(accepted, s)
					}
				default:
					unexpected = append(unexpected, fmt.Sprintf("%d %s", ans.Status, ans.Body))
				}
				mu.Unlock()
				if err == nil && ans.Status == http.StatusAccepted && nAccepted.Add(1) == killAfter {
					_ = first.cmd.Process.Kill()
					mu.Lock()
					killedAt = time.Now()
					mu.Unlock()
					killed.Store(true)
				}
				if killed.Load() && err != nil {
					return // the gateway is gone; what is left is never sent
				}
			}
		}()
	}
	wg.Wait()
	stopSubmit()
	if !killed.Load() {
		t.Fatalf("only %d cases answered 202 (unexpected: %v); the gateway was never killed", nAccepted.Load(), unexpected)
	}
	select {
	case <-first.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("gateway did not exit within 5s of SIGKILL")
	}
	for _, u := range unexpected {
		t.Errorf("unexpected answer before the kill: %s", u)
	}
	t.Logf("%d answered 202 (kill after %d, %s after the first submission), %d cut off by the kill",
		len(accepted), killAfter, killedAt.Sub(submitStart).Round(time.Millisecond), len(unanswered))

	// Restart on the same config and store.
	restart := time.Now()
	second := startGatewayChild(t, cfg, base)
	t.Logf("restarted and healthy in %s", time.Since(restart).Round(time.Millisecond))

	// Replays after the restart: a 202'd exchange is answered with its
	// original case (200); a cut-off one either lands now (202) or landed
	// before the kill (200); never 409.
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	want := map[string]string{} // case id → exchange id, every case that must reach the owner
	for _, s := range accepted {
		want[s.caseID] = s.exchangeID
	}
	var landedBefore, landedNow int
	replay := func(s crashSubmission, wasAccepted bool) {
		ans, err := zl.PostSigned(rctx, tok, base+"/v1/cases", s.body)
		if err != nil {
			t.Errorf("replay of %s after restart: %v", s.exchangeID, err)
			return
		}
		var rc contracts.Receipt
		if ans.Status == http.StatusAccepted || ans.Status == http.StatusOK {
			if err := json.Unmarshal(ans.Body, &rc); err != nil || rc.ExchangeID != s.exchangeID || rc.CaseID == "" {
				t.Errorf("replay of %s: %d with receipt %s (%v)", s.exchangeID, ans.Status, ans.Body, err)
				return
			}
		}
		switch {
		case wasAccepted && ans.Status == http.StatusOK:
			if rc.CaseID != s.caseID {
				t.Errorf("replay of 202'd %s: case %s, want the original %s", s.exchangeID, rc.CaseID, s.caseID)
			}
		case wasAccepted:
			t.Errorf("replay of 202'd %s after restart: got %d %s, want 200 with case %s", s.exchangeID, ans.Status, ans.Body, s.caseID)
		case ans.Status == http.StatusOK:
			landedBefore++
			want[rc.CaseID] = s.exchangeID
		case ans.Status == http.StatusAccepted:
			landedNow++
			want[rc.CaseID] = s.exchangeID
		default:
			t.Errorf("re-submission of cut-off %s after restart: got %d %s, want 202 or 200", s.exchangeID, ans.Status, ans.Body)
		}
	}
	for _, s := range unanswered {
		replay(s, false)
	}
	for _, s := range accepted {
		replay(s, true)
	}
	t.Logf("cut-off exchanges: %d had landed before the kill, %d landed on re-submission", landedBefore, landedNow)

	// Every case must reach the owner once, and every update the sender,
	// in lifecycle order (the fault suite's check).
	checkFaultDeliveries(t, owner, sender, want, 20*time.Second)
	t.Logf("owner got %d distinct case deliveries (%d delivery attempts); sender got %d status deliveries; all done %s after restart",
		len(owner.Cases()), owner.Attempts(), len(sender.StatusDeliveries()), time.Since(restart).Round(time.Millisecond))

	if t.Failed() {
		t.Logf("gateway before the kill:\n%s", crashTail(first.out.String(), 60))
		t.Logf("gateway after the restart:\n%s", crashTail(second.out.String(), 60))
		t.Logf("simulators:\n%s", crashTail(simLogs.String(), 60))
	}
	cancel()
	waitReporters(t, owner, sender)
	// The restarted gateway shuts down gracefully on SIGTERM.
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-second.exited:
		if code := second.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("gateway exit code after SIGTERM: got %d, want 0\n%s", code, crashTail(second.out.String(), 20))
		}
	case <-time.After(10 * time.Second):
		t.Error("gateway did not exit within 10s of SIGTERM")
	}
}

// crashTail returns the last n lines of s.
func crashTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// crashRig is the set-up the crash test and the embedded fault suite
// share: keys for the gateway and two districts under dir/keys, the
// districts 330702 (owner, reporting to base) and 320404 simulated on
// loopback until ctx ends, and a serve configuration at cfg listening on
// base with its store under dir/store.
type crashRig struct {
	dir, base, cfg string
	keys           map[string]*signing.PrivateKey
	owner, sender  *partnersim.Sim
	simLogs        *e2etest.LockedBuffer
}

// newCrashRig makes a crashRig in a temporary directory of t.
func newCrashRig(ctx context.Context, t *testing.T) *crashRig {
	t.Helper()
	r := &crashRig{dir: t.TempDir(), simLogs: new(e2etest.LockedBuffer)}
	for _, sub := range []string{"keys", "store"} {
		if err := os.MkdirAll(filepath.Join(r.dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r.keys = e2etest.Keys(t, filepath.Join(r.dir, "keys"), "gateway", "330702", "320404")
	addr := e2etest.FreeLoopbackAddr(t)
	r.base = "http://" + addr
	var ownerURL, senderURL string
	r.owner, ownerURL = e2etest.Sim(ctx, t, crashGatewayID, "330702", r.keys["330702"], r.keys["gateway"], r.base, r.simLogs)
	r.sender, senderURL = e2etest.Sim(ctx, t, crashGatewayID, "320404", r.keys["320404"], r.keys["gateway"], "", r.simLogs)
	r.cfg = filepath.Join(r.dir, "config.yaml")
	crashConfig(t, r.cfg, addr, ownerURL, senderURL)
	return r
}

// waitReporters waits up to 5 s for each simulator's status reporter to
// stop once its context ended, failing t for one that does not.
func waitReporters(t *testing.T, sims ...*partnersim.Sim) {
	t.Helper()
	for _, s := range sims {
		select {
		case <-s.Done():
		case <-time.After(5 * time.Second):
			t.Error("simulator reporter did not stop within 5s")
		}
	}
}
