package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/cmd/tongban/internal/e2etest"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/store/postgres/pgtest"
)

// The fault suite: gateways SIGKILLed at random moments under sustained
// load and restarted, cycle after cycle. CI runs faultDefaultCycles
// cycles per store; TONGBAN_FAULT_CYCLES=N runs N (the README's figures
// come from N=100), and TONGBAN_FAULT_VERIFY_EVERY=K verifies the
// evidence chain after every K-th restart (default 1: after each).
//
//	TONGBAN_FAULT_CYCLES=100 go test ./cmd/tongban -run TestFault -v -timeout 30m
const faultDefaultCycles = 20

// faultSettings reads the suite's cycles and verification interval from
// the environment.
func faultSettings(t *testing.T) (cycles, verifyEvery int) {
	t.Helper()
	cycles, verifyEvery = faultDefaultCycles, 1
	for name, v := range map[string]*int{"TONGBAN_FAULT_CYCLES": &cycles, "TONGBAN_FAULT_VERIFY_EVERY": &verifyEvery} {
		if s := os.Getenv(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				t.Fatalf("%s=%q: want a positive number", name, s)
			}
			*v = n
		}
	}
	return cycles, verifyEvery
}

// faultLoad submits cases without pause between cycles: submitters
// goroutines, each one case every pace, through post.
type faultLoad struct {
	caller *e2etest.Caller
	token  string
	post   func(ctx context.Context, body []byte) (e2etest.Answer, error)

	paused atomic.Bool // submitters skip their turns while set (during verifications)

	mu         sync.Mutex
	want       map[string]string // case id → exchange id: every case a receipt named
	unanswered []crashSubmission // no answer, or 5xx: may or may not have landed
	unexpected []string
	sent       int
}

// record files the answer to s.
func (l *faultLoad) record(s crashSubmission, ans e2etest.Answer, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent++
	switch {
	case err != nil || ans.Status >= 500:
		l.unanswered = append(l.unanswered, s)
	case ans.Status == http.StatusAccepted || ans.Status == http.StatusOK:
		// 200: a balancer sent the submission again after a replica died
		// under it, and the first copy had landed; its receipt stands.
		var rc contracts.Receipt
		if err := json.Unmarshal(ans.Body, &rc); err != nil || rc.CaseID == "" || rc.ExchangeID != s.exchangeID {
			l.unexpected = append(l.unexpected, fmt.Sprintf("%d with receipt %s (%v)", ans.Status, ans.Body, err))
			return
		}
		l.want[rc.CaseID] = s.exchangeID
	default:
		l.unexpected = append(l.unexpected, fmt.Sprintf("%d %s", ans.Status, ans.Body))
	}
}

// start runs submitters until the returned stop is called (stop waits
// for them).
func (l *faultLoad) start(ctx context.Context, submitters int, pace time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(pace)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if l.paused.Load() {
					continue
				}
				id, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
				if err != nil {
					panic(err)
				}
				body, err := json.Marshal(devrig.Submission(id, time.Now().UTC()))
				if err != nil {
					panic(err)
				}
				ans, err := l.post(ctx, body)
				if ctx.Err() != nil {
					err = ctx.Err() // cut off by stop: counted as unanswered
				}
				l.record(crashSubmission{exchangeID: id, body: body}, ans, err)
			}
		}()
	}
	return func() { cancel(); wg.Wait() }
}

// resubmit sends every unanswered submission again, four at a time,
// each bounded: each must now be answered 202 (it had not landed) or 200
// (it had), and its case joins want.
func (l *faultLoad) resubmit(t *testing.T, ctx context.Context) (landedBefore, landedNow int) {
	t.Helper()
	l.mu.Lock()
	pending := l.unanswered
	l.unanswered = nil
	l.mu.Unlock()
	work := make(chan crashSubmission)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				before, err := l.resubmitOne(ctx, s)
				mu.Lock()
				switch {
				case err != nil:
					t.Errorf("re-submission of %s: %v", s.exchangeID, err)
				case before:
					landedBefore++
				default:
					landedNow++
				}
				mu.Unlock()
			}
		}()
	}
	for _, s := range pending {
		work <- s
	}
	close(work)
	wg.Wait()
	return landedBefore, landedNow
}

// resubmitOne sends s again (a few tries, 10s each at most, while a
// replica may be between lives) and files its case in want; before says
// the first copy had landed (200).
func (l *faultLoad) resubmitOne(ctx context.Context, s crashSubmission) (before bool, err error) {
	var ans e2etest.Answer
	for try := range 5 {
		if try > 0 {
			time.Sleep(200 * time.Millisecond)
		}
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ans, err = l.post(actx, s.body)
		cancel()
		if err == nil && ans.Status < 500 || ctx.Err() != nil {
			break
		}
	}
	switch {
	case err != nil:
		return false, err
	case ans.Status != http.StatusOK && ans.Status != http.StatusAccepted:
		return false, fmt.Errorf("got %d %s, want 202 or 200", ans.Status, ans.Body)
	}
	var rc contracts.Receipt
	if err := json.Unmarshal(ans.Body, &rc); err != nil || rc.ExchangeID != s.exchangeID || rc.CaseID == "" {
		return false, fmt.Errorf("%d with receipt %s (%v)", ans.Status, ans.Body, err)
	}
	l.mu.Lock()
	l.want[rc.CaseID] = s.exchangeID
	l.mu.Unlock()
	return ans.Status == http.StatusOK, nil
}

// checkFaultDeliveries waits, at most within, until every case of want
// reached owner and its whole lifecycle reached sender; then it checks
// that no case is missing, none reached the owner under two exchanges or
// unasked, and every case's updates reached the sender in lifecycle
// order.
func checkFaultDeliveries(t *testing.T, owner, sender *partnersim.Sim, want map[string]string, within time.Duration) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	var missing, incomplete []string
	for {
		got := map[string]int{}
		for _, d := range owner.Cases() {
			got[d.CaseID]++
		}
		heard := map[string]int{}
		for _, d := range sender.StatusDeliveries() {
			heard[d.CaseID]++
		}
		missing, incomplete = missing[:0], incomplete[:0]
		for id := range want {
			if got[id] == 0 {
				missing = append(missing, id)
			} else if heard[id] < len(partnersim.DefaultProgress) {
				incomplete = append(incomplete, id)
			}
		}
		if len(missing) == 0 && len(incomplete) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	sort.Strings(missing)
	sort.Strings(incomplete)
	if len(missing) > 0 {
		t.Errorf("%d of %d accepted cases never reached the owner within %s: %v", len(missing), len(want), within, missing)
	}
	if len(incomplete) > 0 {
		t.Errorf("%d cases did not carry all %d status updates to the sender within %s: %v", len(incomplete), len(partnersim.DefaultProgress), within, incomplete)
	}
	if len(missing) == 0 && len(incomplete) == 0 {
		t.Logf("every case delivered and its lifecycle carried back %s after the load ended", time.Since(start).Round(time.Millisecond))
	}
	perCase := map[string]int{}
	for _, d := range owner.Cases() {
		perCase[d.CaseID]++
		if _, ok := want[d.CaseID]; !ok {
			t.Errorf("owner got case %s (exchange %s), which no receipt named", d.CaseID, d.ExchangeID)
		}
	}
	for id, n := range perCase {
		if n != 1 {
			t.Errorf("owner got case %s under %d distinct exchanges, want 1", id, n)
		}
	}
	if len(sender.Cases()) != 0 || len(owner.StatusDeliveries()) != 0 {
		t.Errorf("misrouted: sender got %d cases, owner got %d status deliveries; want 0 and 0", len(sender.Cases()), len(owner.StatusDeliveries()))
	}
	heard := map[string][]contracts.CaseState{}
	for _, d := range sender.StatusDeliveries() {
		if perCase[d.CaseID] == 0 {
			t.Errorf("sender heard %s for case %s, which the owner never received", d.Update.State, d.CaseID)
		}
		heard[d.CaseID] = append(heard[d.CaseID], d.Update.State)
	}
	for id, st := range heard {
		for i := 1; i < len(st); i++ {
			if lifecycleRank[st[i]] <= lifecycleRank[st[i-1]] {
				t.Errorf("case %s: sender heard %v, not in lifecycle order", id, st)
				break
			}
		}
	}
}

// auditVerify runs `tongban audit verify` with args (the store) and the
// gateway's public key in dir/keys; it fails the test unless the tool
// exits 0 saying every record hashes and links, and, when checkpoints,
// that signed checkpoints verified too (a gateway that was only ever
// SIGKILLed may not have signed one yet). It returns the summary.
func auditVerify(t *testing.T, dir string, checkpoints bool, args ...string) string {
	t.Helper()
	args = append(append([]string{"audit", "verify"}, args...), "--gateway-pub", filepath.Join(dir, "keys", "gateway.pub"))
	r := runIn(t, dir, "", args...)
	ok := strings.Contains(r.stdout, "OK: every record and checkpoint verifies")
	if !checkpoints {
		ok = ok || strings.Contains(r.stdout, "OK: every record hashes and links")
	}
	if r.code != 0 || !ok {
		t.Fatalf("tongban audit verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "checked records") {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(r.stdout)
}

// faultPause is how long the load runs between a restart and the next
// kill: a random moment from 50 to 400 ms.
func faultPause() time.Duration { return 50*time.Millisecond + mrand.N(350*time.Millisecond) }

// TestFaultKillLoopEmbedded SIGKILLs the gateway on the embedded store at
// random moments while cases stream in, and restarts it on the same
// store, cycle after cycle. After every restart (or every K-th) the
// evidence chain verifies with `tongban audit verify` (the load pauses
// meanwhile, so that every cycle adds about as many cases); at the end, after
// the submissions the kills cut off are sent again, every case that got a
// receipt reached its owner once, and every status update the owner
// reported reached the sender, in lifecycle order.
func TestFaultKillLoopEmbedded(t *testing.T) {
	cycles, verifyEvery := faultSettings(t)
	began := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := newCrashRig(ctx, t)
	dir, keys, base, cfg, owner, sender, simLogs := r.dir, r.keys, r.base, r.cfg, r.owner, r.sender, r.simLogs
	db := filepath.Join(dir, "store", "tongban.db")

	g := startGatewayChild(t, cfg, base)
	zl := e2etest.NewCaller("320404", crashGatewayID, keys["320404"])
	load := &faultLoad{caller: zl, token: zl.Token(t), want: map[string]string{}}
	load.post = func(ctx context.Context, body []byte) (e2etest.Answer, error) {
		return zl.PostSigned(ctx, load.token, base+"/v1/cases", body)
	}
	stopLoad := load.start(ctx, 2, 40*time.Millisecond)

	var restarts, verifies time.Duration
	for c := 1; c <= cycles; c++ {
		time.Sleep(faultPause())
		g.kill(t)
		r := time.Now()
		g = startGatewayChild(t, cfg, base)
		restarts += time.Since(r)
		if c%verifyEvery == 0 || c == cycles {
			v := time.Now()
			load.paused.Store(true)
			auditVerify(t, dir, false, "--store", db)
			load.paused.Store(false)
			verifies += time.Since(v)
		}
		if t.Failed() {
			break
		}
	}
	stopLoad()
	t.Logf("%d cycles survived: %d submissions, %d cases with receipts, %d cut off; restarts took %s on average, %d verifications %s",
		cycles, load.sent, len(load.want), len(load.unanswered), (restarts / time.Duration(cycles)).Round(time.Millisecond),
		(cycles+verifyEvery-1)/verifyEvery, verifies.Round(time.Millisecond))
	for _, u := range load.unexpected {
		t.Errorf("unexpected answer: %s", u)
	}
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second+time.Duration(len(load.unanswered))*20*time.Millisecond)
	defer rcancel()
	before, now := load.resubmit(t, rctx)
	t.Logf("cut-off submissions: %d had landed before their kill, %d landed on re-submission", before, now)

	checkFaultDeliveries(t, owner, sender, load.want, 30*time.Second+time.Duration(cycles)*100*time.Millisecond)
	cancel()
	waitReporters(t, owner, sender)
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.exited:
	case <-time.After(10 * time.Second):
		t.Error("gateway did not exit within 10s of SIGTERM")
	}
	t.Logf("final %s; whole run %s", auditVerify(t, dir, true, "--store", db), time.Since(began).Round(time.Millisecond))
	if t.Failed() {
		t.Logf("gateway's last life:\n%s", crashTail(g.out.String(), 40))
		t.Logf("simulators:\n%s", crashTail(simLogs.String(), 40))
	}
}

// TestFaultKillLoopPostgres runs three replicas on one PostgreSQL schema
// behind a balancer that skips a dead replica, and in every cycle
// SIGKILLs one at random while cases stream in and restarts it. The
// deliveries the victim held wait out their lease (4s) and are taken
// over. The same checks as on the embedded store follow, plus: the
// districts never saw two requests of one delivery at once.
func TestFaultKillLoopPostgres(t *testing.T) {
	const replicas = 3
	cycles, verifyEvery := faultSettings(t)
	began := time.Now()
	schema := pgtest.FreshSchema(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o755); err != nil {
		t.Fatal(err)
	}
	keys := e2etest.Keys(t, filepath.Join(dir, "keys"), "gateway", "330702", "320404", "auditor")
	bases, addrs := make([]string, replicas), make([]string, replicas)
	for i := range addrs {
		addrs[i] = e2etest.FreeLoopbackAddr(t)
		bases[i] = "http://" + addrs[i]
	}
	lb := newReplicaBalancer(bases)
	lbSrv := httptest.NewServer(lb)
	t.Cleanup(lbSrv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var simLogs e2etest.LockedBuffer
	owner, ownerWatch, ownerURL := replicaSim(ctx, t, "330702", keys["330702"], keys["gateway"], lbSrv.URL, partnersim.Faults{}, &simLogs)
	sender, senderWatch, senderURL := replicaSim(ctx, t, "320404", keys["320404"], keys["gateway"], "", partnersim.Faults{}, &simLogs)
	cfgs := make([]string, replicas)
	for i := range cfgs {
		cfgs[i] = filepath.Join(dir, fmt.Sprintf("replica-%d.yaml", i))
		replicaConfig(t, cfgs[i], addrs[i], schema, ownerURL, senderURL)
	}
	gs := startReplicas(t, cfgs, bases)
	store := []string{"--store", pgtest.DSN(), "--schema", schema}

	zl := e2etest.NewCaller("320404", replicaGatewayID, keys["320404"])
	load := &faultLoad{caller: zl, token: zl.Token(t), want: map[string]string{}}
	load.post = func(ctx context.Context, body []byte) (e2etest.Answer, error) {
		return zl.PostSigned(ctx, load.token, lbSrv.URL+"/v1/cases", body)
	}
	stopLoad := load.start(ctx, 3, 40*time.Millisecond)

	var restarts, verifies time.Duration
	killed := make([]int, replicas)
	for c := 1; c <= cycles; c++ {
		time.Sleep(faultPause())
		v := mrand.IntN(replicas)
		killed[v]++
		lb.dead[v].Store(true)
		gs[v].kill(t)
		r := time.Now()
		gs[v] = spawnGateway(t, cfgs[v], replicaEnv())
		gs[v].waitHealthy(t, bases[v], 20*time.Second, fmt.Sprintf("replica %d after its restart", v))
		restarts += time.Since(r)
		lb.dead[v].Store(false)
		if c%verifyEvery == 0 || c == cycles {
			vt := time.Now()
			load.paused.Store(true)
			auditVerify(t, dir, false, store...)
			load.paused.Store(false)
			verifies += time.Since(vt)
		}
		if t.Failed() {
			break
		}
	}
	stopLoad()
	t.Logf("%d cycles survived (kills per replica %v): %d submissions, %d cases with receipts, %d cut off; restarts took %s on average, %d verifications %s",
		cycles, killed, load.sent, len(load.want), len(load.unanswered), (restarts / time.Duration(cycles)).Round(time.Millisecond),
		(cycles+verifyEvery-1)/verifyEvery, verifies.Round(time.Millisecond))
	for _, u := range load.unexpected {
		t.Errorf("unexpected answer: %s", u)
	}
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second+time.Duration(len(load.unanswered))*20*time.Millisecond)
	defer rcancel()
	before, now := load.resubmit(t, rctx)
	t.Logf("cut-off submissions: %d had landed before their kill, %d landed on re-submission", before, now)

	checkFaultDeliveries(t, owner, sender, load.want, 45*time.Second+time.Duration(cycles)*100*time.Millisecond)
	for name, w := range map[string]*overlapWatch{"owner 330702": ownerWatch, "sender 320404": senderWatch} {
		ds, reqs, overlaps := w.report()
		t.Logf("%s: %d delivery requests for %d deliveries", name, reqs, ds)
		for _, o := range overlaps {
			t.Errorf("%s: %s", name, o)
		}
	}
	cancel()
	waitReporters(t, owner, sender)
	for i, g := range gs {
		stopReplica(t, i, g)
	}
	t.Logf("final %s; whole run %s", auditVerify(t, dir, true, store...), time.Since(began).Round(time.Millisecond))
	if t.Failed() {
		for i, g := range gs {
			t.Logf("replica %d's last life:\n%s", i, crashTail(g.out.String(), 40))
		}
		t.Logf("simulators:\n%s", crashTail(simLogs.String(), 40))
	}
}
