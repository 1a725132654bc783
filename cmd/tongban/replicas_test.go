package main

import (
	"bytes"
	"cmp"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/cmd/tongban/internal/e2etest"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/store/postgres"
	"github.com/tongban/tongban/gateway/store/postgres/pgtest"
	"github.com/tongban/tongban/signing"
)

// The replica tests run several `tongban serve` processes against one
// PostgreSQL schema. That a second and a third serve on the same database
// start at all is itself checked: PostgreSQL has no single-instance lock
// (unlike the embedded store, whose second serve exits 2), so every
// replica startReplicas launches must become healthy and record its own
// gateway.started.

const (
	replicaGatewayID = "tongban-replicas"
	// replicaLease is delivery.lease: short, so that the deliveries a
	// killed replica holds are taken over within seconds. It must exceed
	// 3 × replicaPartnerTimeout (the configuration refuses less); the
	// timeout is kept at 1s, since the dispatcher bounds an attempt by
	// 3 × max(timeout, 1s), not 3 × timeout.
	replicaLease          = 4 * time.Second
	replicaPartnerTimeout = time.Second
)

// replicaConfig writes the configuration of one replica to path: listening
// on addr, store postgres (the test server, schema), districts 330702 (the
// owner) and 320404 (the sender), both standard, at ownerURL and
// senderURL, and an auditor. Every replica's file differs only in its
// listen address.
func replicaConfig(t *testing.T, path, addr, schema, ownerURL, senderURL string) {
	t.Helper()
	cfg := devrig.Gateway(replicaGatewayID, addr)
	cfg.Store = config.Store{Driver: config.DriverPostgres, DSN: pgtest.DSN(), Schema: schema}
	cfg.Delivery.Poll = 50 * time.Millisecond
	cfg.Delivery.Lease = replicaLease
	// A flaky district may fail five attempts in a row and open its
	// circuit: a short cooldown keeps that from stalling the test.
	cfg.Delivery.Circuit.Cooldown = time.Second
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
		pc.Timeout = replicaPartnerTimeout
		cfg.Partners = append(cfg.Partners, pc)
	}
	// The auditor takes no deliveries, but the configuration's lease check
	// covers every entry, and its default timeout (10s) would need a lease
	// over 30s.
	aud := devrig.Caller("auditor", contracts.RoleAuditor)
	aud.Timeout = replicaPartnerTimeout
	cfg.Partners = append(cfg.Partners, aud)
	if _, err := devrig.WriteConfig(path, cfg, 0o644, "", nil); err != nil {
		t.Fatal(err)
	}
}

// replicaEnv is the environment of a replica: the test's, without the
// TONGBAN_ overrides, so that the configuration file alone decides.
func replicaEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TONGBAN_") {
			env = append(env, kv)
		}
	}
	return env
}

// startReplicas starts `bin serve --config cfgs[i]` for every i at once
// (they migrate the fresh schema together) and waits, bounded, until each
// answers bases[i]/healthz with 200. None may be refused.
func startReplicas(t *testing.T, cfgs, bases []string) []*gatewayChild {
	t.Helper()
	gs := make([]*gatewayChild, len(cfgs))
	for i, cfg := range cfgs {
		gs[i] = spawnGateway(t, cfg, replicaEnv())
	}
	for i, g := range gs {
		g.waitHealthy(t, bases[i], 20*time.Second,
			fmt.Sprintf("replica %d (a second serve on one PostgreSQL database must not be refused)", i))
	}
	return gs
}

// stopReplica sends SIGTERM and expects a clean exit 0 within 15s.
func stopReplica(t *testing.T, i int, g *gatewayChild) {
	t.Helper()
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("replica %d: SIGTERM: %v", i, err)
		return
	}
	select {
	case <-g.exited:
		if code := g.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("replica %d exit code after SIGTERM: got %d, want 0\n%s", i, code, crashTail(g.out.String(), 20))
		}
	case <-time.After(15 * time.Second):
		t.Errorf("replica %d did not exit within 15s of SIGTERM", i)
	}
}

// overlapWatch sits in front of a simulated district and counts, per
// delivery_id, the requests being served at once: two at a time means
// two dispatchers attempted the same delivery concurrently.
type overlapWatch struct {
	mu       sync.Mutex
	inFlight map[string]int
	seen     map[string]int // requests per delivery id
	overlaps []string
}

func newOverlapWatch() *overlapWatch {
	return &overlapWatch{inFlight: map[string]int{}, seen: map[string]int{}}
}

func (o *overlapWatch) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var m struct {
			DeliveryID string `json:"delivery_id"`
		}
		_ = json.Unmarshal(body, &m)
		if id := m.DeliveryID; id != "" {
			o.mu.Lock()
			o.seen[id]++
			o.inFlight[id]++
			if n := o.inFlight[id]; n > 1 {
				o.overlaps = append(o.overlaps, fmt.Sprintf("delivery %s: %d requests in flight at once (request %d)", id, n, o.seen[id]))
			}
			o.mu.Unlock()
			defer func() {
				o.mu.Lock()
				o.inFlight[id]--
				o.mu.Unlock()
			}()
		}
		h.ServeHTTP(w, r) // the fault injection may hijack w: it is the server's own
	})
}

func (o *overlapWatch) report() (deliveries, requests int, overlaps []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, n := range o.seen {
		requests += n
	}
	return len(o.seen), requests, append([]string(nil), o.overlaps...)
}

// replicaSim starts district code's simulated system (standard style,
// reporting every 20 ms to gatewayURL, "" for none) with faults, behind an
// overlapWatch, on an httptest server.
func replicaSim(ctx context.Context, t *testing.T, code string, key, gw *signing.PrivateKey, gatewayURL string,
	faults partnersim.Faults, logs *e2etest.LockedBuffer) (*partnersim.Sim, *overlapWatch, string) {
	t.Helper()
	kr, err := devrig.SimCrypto(code, key, gw.Public(), nil)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := partnersim.New(partnersim.Config{
		PartnerID: code, Crypto: kr, GatewayURL: gatewayURL, Step: 20 * time.Millisecond, Faults: faults,
		Token:     func() (string, error) { return kr.IssueToken(replicaGatewayID) },
		Logf:      func(format string, args ...any) { fmt.Fprintf(logs, format+"\n", args...) },
		Client:    &http.Client{Timeout: 5 * time.Second},
		NoReports: gatewayURL == "",
	})
	if err != nil {
		t.Fatal(err)
	}
	watch := newOverlapWatch()
	srv := httptest.NewServer(watch.wrap(sim.Handler()))
	t.Cleanup(srv.Close)
	sim.Start(ctx)
	return sim, watch, srv.URL
}

// replicaBalancer is the load balancer in front of the replicas: each
// request goes to the next live replica, and to the one after it when
// that one cannot be reached (a replica killed under the request).
type replicaBalancer struct {
	bases  []string
	dead   []atomic.Bool
	next   atomic.Uint64
	client *http.Client
}

func newReplicaBalancer(bases []string) *replicaBalancer {
	return &replicaBalancer{bases: bases, dead: make([]atomic.Bool, len(bases)), client: &http.Client{Timeout: 5 * time.Second}}
}

// live returns the base URL of a live replica, in turn.
func (b *replicaBalancer) live() string {
	for range len(b.bases) {
		i := int(b.next.Add(1) % uint64(len(b.bases)))
		if !b.dead[i].Load() {
			return b.bases[i]
		}
	}
	return b.bases[0]
}

func (b *replicaBalancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	start := int(b.next.Add(1))
	var last error
	for k := range len(b.bases) {
		i := (start + k) % len(b.bases)
		if b.dead[i].Load() {
			continue
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, b.bases[i]+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := b.client.Do(req)
		if err != nil {
			last = err
			continue
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			last = err
			continue
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(raw)
		return
	}
	http.Error(w, fmt.Sprintf("no replica answered: %v", last), http.StatusBadGateway)
}

// replicaGet GETs url as caller c and decodes a 200 answer into out.
func replicaGet(ctx context.Context, c *e2etest.Caller, token, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, raw)
	}
	return json.Unmarshal(raw, out)
}

// evidenceEntry is one record of the log with its detail decoded.
type evidenceEntry struct {
	contracts.EvidenceRecord
	detail contracts.EvidenceDetail
}

// readEvidence reads the whole evidence log of schema, as an auditor's
// tool would (read-only connections).
func readEvidence(t *testing.T, schema string) []evidenceEntry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := postgres.OpenReader(ctx, pgtest.DSN(), schema)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []evidenceEntry
	err = r.ScanEvidence(ctx, 1, 0, func(row gateway.EvidenceRow) error {
		var e evidenceEntry
		if err := json.Unmarshal(row.Record, &e.EvidenceRecord); err != nil {
			return fmt.Errorf("record %d: %w", row.Seq, err)
		}
		if e.Seq != row.Seq {
			return fmt.Errorf("record at seq %d says seq %d", row.Seq, e.Seq)
		}
		if len(e.Detail) > 0 {
			if err := json.Unmarshal(e.Detail, &e.detail); err != nil {
				return fmt.Errorf("record %d detail: %w", row.Seq, err)
			}
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// replicaSubmission is one submitted exchange and what came of it.
type replicaSubmission struct {
	exchangeID string
	body       []byte
	replica    int
	caseID     string // from the 202 receipt
}

// TestReplicasSurviveAKill runs three replicas as separate serve processes
// on one PostgreSQL schema, with a flaky owner district (refusals and
// dropped connections) that reports every case's lifecycle through a load
// balancer in front of the replicas. Submissions go round-robin to the
// replicas; one replica is SIGKILLed partway and nothing is restarted.
// Every case answered 202 must reach the owner, through the deliveries
// the dead replica held once their lease runs out; no delivery may be
// attempted by two replicas at once (seen by the district, and in the
// evidence: attempt numbers 1, 2, 3, … without repeats, time intervals
// that do not overlap, one delivered outcome, last); per-case order must
// hold (the sender hears the lifecycle in order, and in the evidence no
// delivery of a case to a partner is attempted before the earlier one
// was delivered); and `tongban audit verify` passes on the shared log.
func TestReplicasSurviveAKill(t *testing.T) {
	const (
		replicas   = 3
		maxCases   = 60
		killAfter  = 20 // 202s before the kill
		submitters = 3
	)
	schema := pgtest.FreshSchema(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o755); err != nil {
		t.Fatal(err)
	}
	keys := e2etest.Keys(t, filepath.Join(dir, "keys"), "gateway", "330702", "320404", "auditor")
	bases := make([]string, replicas)
	addrs := make([]string, replicas)
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
	// 20% refused (503), 10% dropped connections, and 50ms on every
	// request, so that deliveries are held in flight when the kill comes.
	flaky := partnersim.Faults{ErrorRate: 0.2, DropRate: 0.1, Delay: 50 * time.Millisecond}
	owner, ownerWatch, ownerURL := replicaSim(ctx, t, "330702", keys["330702"], keys["gateway"], lbSrv.URL, flaky, &simLogs)
	sender, senderWatch, senderURL := replicaSim(ctx, t, "320404", keys["320404"], keys["gateway"], "", partnersim.Faults{}, &simLogs)
	cfgs := make([]string, replicas)
	for i := range cfgs {
		cfgs[i] = filepath.Join(dir, fmt.Sprintf("replica-%d.yaml", i))
		replicaConfig(t, cfgs[i], addrs[i], schema, ownerURL, senderURL)
	}
	start := time.Now()
	gs := startReplicas(t, cfgs, bases)
	t.Logf("%d replicas on schema %s healthy in %s", replicas, schema, time.Since(start).Round(time.Millisecond))

	zl := e2etest.NewCaller("320404", replicaGatewayID, keys["320404"])
	tok := zl.Token(t)
	victim := mrand.IntN(replicas)

	var (
		mu         sync.Mutex
		accepted   []replicaSubmission // answered 202
		unanswered []replicaSubmission // transport error: may or may not have landed
		unexpected []string
		perReplica = make([]int, replicas) // 202s per replica
		next       atomic.Int64
		nAccepted  atomic.Int64
		killOnce   sync.Once
		killedAt   time.Time
		wg         sync.WaitGroup
	)
	kill := func() {
		killOnce.Do(func() {
			lb.dead[victim].Store(true) // the balancer stops sending it work first
			_ = gs[victim].cmd.Process.Kill()
			mu.Lock()
			killedAt = time.Now()
			mu.Unlock()
		})
	}
	sctx, stopSubmit := context.WithTimeout(ctx, 30*time.Second)
	defer stopSubmit()
	for range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sctx.Err() == nil {
				n := next.Add(1)
				if n > maxCases {
					return
				}
				// Round-robin over the three; once one is dead, over the
				// two left (a submission already on its way to the victim
				// when it died is cut off).
				var live []int
				for i := range replicas {
					if !lb.dead[i].Load() {
						live = append(live, i)
					}
				}
				r := live[int(n)%len(live)]
				id, err := contracts.NewUUIDv7(time.Now(), crand.Reader)
				if err != nil {
					panic(err)
				}
				body, err := json.Marshal(devrig.Submission(id, time.Now().UTC()))
				if err != nil {
					panic(err)
				}
				s := replicaSubmission{exchangeID: id, body: body, replica: r}
				ans, err := zl.PostSigned(sctx, tok, bases[r]+"/v1/cases", body)
				mu.Lock()
				switch {
				case err != nil:
					unanswered = append(unanswered, s)
				case ans.Status == http.StatusAccepted:
					var rc contracts.Receipt
					if err := json.Unmarshal(ans.Body, &rc); err != nil || rc.CaseID == "" || rc.ExchangeID != id {
						unexpected = append(unexpected, fmt.Sprintf("replica %d: 202 with receipt %s (%v)", r, ans.Body, err))
					} else {
						s.caseID = rc.CaseID
						accepted = append(accepted, s)
						perReplica[r]++
					}
				default:
					unexpected = append(unexpected, fmt.Sprintf("replica %d: %d %s", r, ans.Status, ans.Body))
				}
				mu.Unlock()
				if err == nil && ans.Status == http.StatusAccepted && nAccepted.Add(1) == killAfter {
					kill()
				}
			}
		}()
	}
	wg.Wait()
	stopSubmit()
	if !lb.dead[victim].Load() {
		t.Fatalf("only %d cases answered 202 (unexpected: %v); replica %d was never killed", nAccepted.Load(), unexpected, victim)
	}
	select {
	case <-gs[victim].exited:
	case <-time.After(5 * time.Second):
		t.Fatalf("replica %d did not exit within 5s of SIGKILL", victim)
	}
	for _, u := range unexpected {
		t.Errorf("unexpected answer: %s", u)
	}
	// The deliveries the victim held: in flight now and still in flight
	// under the same lease a second later, when every attempt of a live
	// replica (50ms at the district) has long been recorded. They wait
	// out their lease and are then taken over.
	orphans := inFlight(t, schema)
	time.Sleep(time.Second)
	later := inFlight(t, schema)
	for id, lease := range orphans {
		if later[id] != lease {
			delete(orphans, id)
		}
	}
	t.Logf("killed replica %d (pid %d) %s after the first submission, holding %d deliveries in flight; %d answered 202 (per replica %v), %d cut off by the kill",
		victim, gs[victim].cmd.Process.Pid, killedAt.Sub(start).Round(time.Millisecond), len(orphans), len(accepted), perReplica, len(unanswered))

	// Cut-off submissions are sent again to a live replica: one that had
	// landed before the kill is answered 200 with its receipt, one that had
	// not lands now (202). Either way its case must reach the owner; never
	// 409. (Cases the victim never answered 202 are not otherwise counted.)
	want := map[string]string{} // case id → exchange id
	for _, s := range accepted {
		want[s.caseID] = s.exchangeID
	}
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	var landedBefore, landedNow int
	for _, s := range unanswered {
		ans, err := zl.PostSigned(rctx, tok, lb.live()+"/v1/cases", s.body)
		if err != nil {
			t.Errorf("re-submission of cut-off %s: %v", s.exchangeID, err)
			continue
		}
		var rc contracts.Receipt
		if ans.Status != http.StatusOK && ans.Status != http.StatusAccepted {
			t.Errorf("re-submission of cut-off %s: got %d %s, want 200 or 202", s.exchangeID, ans.Status, ans.Body)
			continue
		}
		if err := json.Unmarshal(ans.Body, &rc); err != nil || rc.ExchangeID != s.exchangeID || rc.CaseID == "" {
			t.Errorf("re-submission of cut-off %s: %d with receipt %s (%v)", s.exchangeID, ans.Status, ans.Body, err)
			continue
		}
		if ans.Status == http.StatusOK {
			landedBefore++
		} else {
			landedNow++
		}
		want[rc.CaseID] = s.exchangeID
	}
	t.Logf("cut-off exchanges: %d had landed before the kill, %d landed on re-submission", landedBefore, landedNow)

	// Wait, bounded, until every case is delivered to the owner and its
	// whole lifecycle carried back to the sender, as a live replica shows
	// it (GET /v1/cases/{id} as the sender).
	killDone := time.Now()
	deadline := time.Now().Add(60 * time.Second)
	views := map[string]contracts.CaseView{}
	caseDelivered := map[string]bool{}
	complete := map[string]bool{}
	for {
		for id := range want {
			if complete[id] {
				continue
			}
			gctx, gcancel := context.WithTimeout(ctx, 5*time.Second)
			v, err := zl.GetCase(gctx, tok, lb.live(), id)
			gcancel()
			if err != nil {
				continue // the next round asks again
			}
			views[id] = v
			for _, d := range v.Deliveries {
				if d.Kind == contracts.DeliveryKindCase && d.Partner == "330702" && d.State == contracts.TransportStateDelivered {
					caseDelivered[id] = true
				}
			}
			if len(v.Deliveries) == 1+len(partnersim.DefaultProgress) && e2etest.AllDelivered(v.Deliveries) {
				complete[id] = true
			}
		}
		if len(complete) == len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d of %d cases delivered to the owner, %d with their whole lifecycle back at the sender, %s after the submissions ended",
		len(caseDelivered), len(want), len(complete), time.Since(killDone).Round(time.Millisecond))

	// (a) Every case answered 202 (or landed on re-submission) was delivered.
	var missing, incomplete []string
	for id, ex := range want {
		switch {
		case !caseDelivered[id]:
			missing = append(missing, fmt.Sprintf("%s (exchange %s, deliveries %+v)", id, ex, views[id].Deliveries))
		case !complete[id]:
			incomplete = append(incomplete, fmt.Sprintf("%s (%d deliveries, state %s)", id, len(views[id].Deliveries), views[id].State))
		}
	}
	sort.Strings(missing)
	sort.Strings(incomplete)
	if len(missing) > 0 {
		t.Errorf("%d of %d accepted cases were not delivered to the owner 330702 within 60s: %v", len(missing), len(want), missing)
	}
	if len(incomplete) > 0 {
		t.Errorf("%d cases did not carry all %d status updates back to 320404 within 60s: %v", len(incomplete), len(partnersim.DefaultProgress), incomplete)
	}
	// The owner saw each case once (one exchange per case), and no case
	// that no receipt named.
	perCase := map[string]int{}
	for _, d := range owner.Cases() {
		perCase[d.CaseID]++
		if _, ok := want[d.CaseID]; !ok {
			t.Errorf("owner got case %s (exchange %s), which no receipt named", d.CaseID, d.ExchangeID)
		}
	}
	for id := range want {
		if perCase[id] != 1 {
			t.Errorf("owner got case %s under %d distinct exchanges, want 1", id, perCase[id])
		}
	}

	// (b), as the districts saw it: never two requests of one delivery at once.
	for name, w := range map[string]*overlapWatch{"owner 330702": ownerWatch, "sender 320404": senderWatch} {
		ds, reqs, overlaps := w.report()
		t.Logf("%s: %d delivery requests for %d deliveries", name, reqs, ds)
		if ds == 0 {
			t.Errorf("%s: the overlap watch saw no delivery_id: it checks nothing", name)
		}
		for _, o := range overlaps {
			t.Errorf("%s: %s", name, o)
		}
	}

	// Stop the reporters, then the two live replicas (their shutdown
	// checkpoints sign the head).
	cancel()
	waitReporters(t, owner, sender)
	for i, g := range gs {
		if i != victim {
			stopReplica(t, i, g)
		}
	}

	// (b) and (c) from the evidence log.
	records := readEvidence(t, schema)
	var (
		attempts = map[string][]evidenceEntry{} // delivery id → its attempt records, in seq order
		created  = map[string]evidenceEntry{}   // delivery id → the record that queued it
		started  int
		retried  int
	)
	for _, e := range records {
		switch e.Event {
		case contracts.EventDeliveryAttempt:
			attempts[e.DeliveryID] = append(attempts[e.DeliveryID], e)
			if e.detail.Outcome != string(contracts.TransportStateDelivered) {
				retried++
			}
		case contracts.EventCaseReceived, contracts.EventStatusApplied:
			if e.DeliveryID == "" {
				t.Errorf("%s record %d names no delivery", e.Event, e.Seq)
				continue
			}
			if prev, dup := created[e.DeliveryID]; dup {
				t.Errorf("delivery %s queued twice: records %d and %d", e.DeliveryID, prev.Seq, e.Seq)
			}
			created[e.DeliveryID] = e
		case contracts.EventGatewayStarted:
			started++
		}
	}
	if started != replicas {
		t.Errorf("gateway.started records: got %d, want %d (one per replica; none refused)", started, replicas)
	}
	delivered := map[string]int64{} // delivery id → seq of its delivered record
	for id, as := range attempts {
		for k, a := range as {
			if a.detail.Attempt != k+1 {
				t.Errorf("delivery %s: record %d is attempt %d, want %d (attempts %v): two dispatchers attempted it, or an attempt went unrecorded",
					id, a.Seq, a.detail.Attempt, k+1, attemptNumbers(as))
				break
			}
			if k > 0 {
				prev := as[k-1]
				began := a.At.Add(-time.Duration(a.detail.LatencyMS) * time.Millisecond)
				if began.Before(prev.At) {
					t.Errorf("delivery %s: attempt %d (record %d) began at %s, before attempt %d (record %d) ended at %s: overlapping attempts",
						id, a.detail.Attempt, a.Seq, began.Format(time.RFC3339Nano), prev.detail.Attempt, prev.Seq, prev.At.Format(time.RFC3339Nano))
				}
			}
			if a.detail.Outcome == string(contracts.TransportStateDelivered) {
				if k != len(as)-1 {
					t.Errorf("delivery %s: attempted again after it was delivered (attempts %v)", id, attemptNumbers(as))
				}
				delivered[id] = a.Seq
			}
		}
		if _, ok := created[id]; !ok {
			t.Errorf("delivery %s was attempted but no record queued it", id)
		}
	}
	for id := range want {
		n := 0
		for _, e := range records {
			if e.CaseID == id && e.Event == contracts.EventCaseReceived {
				n++
				if _, ok := delivered[e.DeliveryID]; !ok {
					t.Errorf("case %s: its delivery %s has no delivered record", id, e.DeliveryID)
				}
			}
		}
		if n != 1 {
			t.Errorf("case %s: %d case.received records, want 1", id, n)
		}
	}
	// Per-case order: the deliveries of a case to one partner, in the
	// order they were queued; none is attempted before the one before it
	// was delivered.
	type lane struct{ caseID, partner string }
	lanes := map[lane][]evidenceEntry{}
	for _, e := range created {
		lanes[lane{e.CaseID, e.Partner}] = append(lanes[lane{e.CaseID, e.Partner}], e)
	}
	for l, ds := range lanes {
		slices.SortFunc(ds, func(a, b evidenceEntry) int { return cmp.Compare(a.Seq, b.Seq) })
		for k := 1; k < len(ds); k++ {
			before, after := ds[k-1].DeliveryID, ds[k].DeliveryID
			first := attempts[after]
			if len(first) == 0 {
				continue
			}
			at, ok := delivered[before]
			if !ok || first[0].Seq < at {
				t.Errorf("case %s to %s: delivery %s (queued at record %d) attempted at record %d, before delivery %s (queued at %d) was delivered (record %d)",
					l.caseID, l.partner, after, ds[k].Seq, first[0].Seq, before, ds[k-1].Seq, at)
			}
		}
	}
	// Per-case order as the sender heard it: a subsequence of the lifecycle.
	heard := map[string][]contracts.CaseState{}
	for _, d := range sender.StatusDeliveries() {
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
	t.Logf("evidence: %d records, %d deliveries attempted (%d failed attempts), %d delivered",
		len(records), len(attempts), retried, len(delivered))
	// What the victim held was taken over: delivered, by a live replica.
	for id := range orphans {
		if _, ok := delivered[id]; !ok {
			t.Errorf("delivery %s, in flight at the killed replica, was never delivered", id)
		}
	}

	// (d) The shared log is one intact chain.
	r := runIn(t, dir, "", "audit", "verify", "--store", pgtest.DSN(), "--schema", schema,
		"--gateway-pub", filepath.Join(dir, "keys", "gateway.pub"))
	if r.code != 0 || !strings.Contains(r.stdout, "OK: every record and checkpoint verifies") {
		t.Errorf("tongban audit verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	} else {
		t.Logf("audit verify: %s", strings.TrimSpace(strings.Split(r.stdout, "\n")[1]))
	}

	if t.Failed() {
		for i, g := range gs {
			t.Logf("replica %d:\n%s", i, crashTail(g.out.String(), 40))
		}
		t.Logf("simulators:\n%s", crashTail(simLogs.String(), 40))
	}
}

// inFlight returns the deliveries of schema in flight, with their lease.
func inFlight(t *testing.T, schema string) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := pgtest.Admin(t).Query(ctx, `SELECT id, lease_until FROM `+pgx.Identifier{schema, "deliveries"}.Sanitize()+
		` WHERE state = 'in_flight' AND lease_until IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var lease int64
		if err := rows.Scan(&id, &lease); err != nil {
			t.Fatal(err)
		}
		out[id] = lease
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// attemptNumbers lists the attempt numbers of records.
func attemptNumbers(as []evidenceEntry) []int {
	var n []int
	for _, a := range as {
		n = append(n, a.detail.Attempt)
	}
	return n
}

// TestReplicasStoreAnExchangeOnce sends the same signed submission (same
// exchange_id, same bytes, same signature) to two replicas at the same
// moment, many times. Each time one answer is 202 and the other 200 (the
// replay), with byte-identical signed receipts naming one case; afterwards
// the auditor's search finds one exchange per exchange_id, the log one
// case.received each, the database one case each, and the owner got each
// case once.
func TestReplicasStoreAnExchangeOnce(t *testing.T) {
	const rounds = 40
	schema := pgtest.FreshSchema(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o755); err != nil {
		t.Fatal(err)
	}
	keys := e2etest.Keys(t, filepath.Join(dir, "keys"), "gateway", "330702", "320404", "auditor")
	bases := make([]string, 2)
	cfgs := make([]string, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var simLogs e2etest.LockedBuffer
	owner, _, ownerURL := replicaSim(ctx, t, "330702", keys["330702"], keys["gateway"], "", partnersim.Faults{}, &simLogs)
	_, _, senderURL := replicaSim(ctx, t, "320404", keys["320404"], keys["gateway"], "", partnersim.Faults{}, &simLogs)
	for i := range bases {
		addr := e2etest.FreeLoopbackAddr(t)
		bases[i] = "http://" + addr
		cfgs[i] = filepath.Join(dir, fmt.Sprintf("replica-%d.yaml", i))
		replicaConfig(t, cfgs[i], addr, schema, ownerURL, senderURL)
	}
	gs := startReplicas(t, cfgs, bases)

	zl := e2etest.NewCaller("320404", replicaGatewayID, keys["320404"])
	tok := zl.Token(t)
	// One client per replica, so the two copies never queue on one connection.
	clients := []*http.Client{{Timeout: 5 * time.Second}, {Timeout: 5 * time.Second}}
	post := func(i int, body []byte, sig string, ready *sync.WaitGroup, gate <-chan struct{}) (e2etest.Answer, error) {
		req, err := http.NewRequest(http.MethodPost, bases[i]+"/v1/cases", bytes.NewReader(body))
		if err != nil {
			return e2etest.Answer{}, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Gw-Signature", sig)
		req.Header.Set("Gw-Key-Id", zl.ID)
		ready.Done()
		<-gate
		resp, err := clients[i].Do(req)
		if err != nil {
			return e2etest.Answer{}, err
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		return e2etest.Answer{Status: resp.StatusCode, Body: raw, Sig: resp.Header.Get("Gw-Signature"), KeyID: resp.Header.Get("Gw-Key-Id")}, err
	}

	caseOf := map[string]string{} // exchange id → case id
	firstBy := [2]int{}           // which replica answered 202
	for round := range rounds {
		id := e2etest.MustUUID(t)
		body, err := json.Marshal(devrig.Submission(id, time.Now().UTC()))
		if err != nil {
			t.Fatal(err)
		}
		sig, err := signing.Sign(zl.Signer, nil, body)
		if err != nil {
			t.Fatal(err)
		}
		sigB64 := base64.StdEncoding.EncodeToString(sig)
		var (
			ready sync.WaitGroup
			done  sync.WaitGroup
			ans   [2]e2etest.Answer
			errs  [2]error
		)
		gate := make(chan struct{})
		ready.Add(2)
		done.Add(2)
		for i := range 2 {
			go func() {
				defer done.Done()
				ans[i], errs[i] = post(i, body, sigB64, &ready, gate)
			}()
		}
		ready.Wait()
		close(gate) // both copies leave together
		done.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("round %d: %v / %v", round, errs[0], errs[1])
		}
		statuses := []int{ans[0].Status, ans[1].Status}
		switch {
		case statuses[0] == http.StatusAccepted && statuses[1] == http.StatusOK:
			firstBy[0]++
		case statuses[0] == http.StatusOK && statuses[1] == http.StatusAccepted:
			firstBy[1]++
		default:
			t.Errorf("round %d (exchange %s): answers %d %s / %d %s; want one 202 and one 200 (the replay)",
				round, id, statuses[0], ans[0].Body, statuses[1], ans[1].Body)
			continue
		}
		if !bytes.Equal(ans[0].Body, ans[1].Body) || ans[0].Sig != ans[1].Sig || ans[0].KeyID != ans[1].KeyID {
			t.Errorf("round %d (exchange %s): receipts differ:\n%s (sig %s)\n%s (sig %s)", round, id, ans[0].Body, ans[0].Sig, ans[1].Body, ans[1].Sig)
			continue
		}
		e2etest.VerifySignedBy(t, filepath.Join(dir, "keys", "gateway.pub"), ans[0].Body, ans[0].Sig)
		var rc contracts.Receipt
		if err := json.Unmarshal(ans[0].Body, &rc); err != nil || rc.ExchangeID != id || rc.CaseID == "" {
			t.Errorf("round %d: receipt %s (%v)", round, ans[0].Body, err)
			continue
		}
		caseOf[id] = rc.CaseID
	}
	t.Logf("%d rounds: replica 0 answered 202 in %d, replica 1 in %d", rounds, firstBy[0], firstBy[1])

	// The auditor's search, on either replica: one exchange per exchange_id.
	aud := e2etest.NewCaller("auditor", replicaGatewayID, keys["auditor"])
	atok := aud.Token(t)
	qctx, qcancel := context.WithTimeout(ctx, 20*time.Second)
	defer qcancel()
	k := 0
	for ex, caseID := range caseOf {
		var page contracts.ExchangePage
		if err := replicaGet(qctx, aud, atok, bases[k%2]+"/v1/audit/exchanges?exchange_id="+url.QueryEscape(ex), &page); err != nil {
			t.Errorf("search exchange %s: %v", ex, err)
			continue
		}
		k++
		if len(page.Items) != 1 || page.Items[0].CaseID != caseID || page.Items[0].Kind != contracts.ExchangeKindCase {
			t.Errorf("exchange %s: the auditor's search found %+v; want one case exchange of case %s", ex, page.Items, caseID)
		}
	}
	// The database: one case and one exchange row per exchange id.
	var cases, exchanges, distinct int
	q := fmt.Sprintf(`SELECT (SELECT count(*) FROM %[1]s.cases), (SELECT count(*) FROM %[1]s.exchanges WHERE kind = 'case'),
		(SELECT count(DISTINCT exchange_id) FROM %[1]s.cases)`, pgx.Identifier{schema}.Sanitize())
	if err := pgtest.Admin(t).QueryRow(qctx, q).Scan(&cases, &exchanges, &distinct); err != nil {
		t.Fatal(err)
	}
	if cases != rounds || exchanges != rounds || distinct != rounds {
		t.Errorf("database holds %d cases (%d distinct exchanges) and %d case exchanges; want %d of each", cases, distinct, exchanges, rounds)
	}

	// The owner gets each case once, whichever replica's dispatcher took it.
	deadline := time.Now().Add(20 * time.Second)
	for len(owner.Cases()) < rounds && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	got := map[string]int{}
	for _, d := range owner.Cases() {
		got[d.CaseID]++
	}
	for ex, caseID := range caseOf {
		if got[caseID] != 1 {
			t.Errorf("exchange %s: the owner got case %s %d times, want 1", ex, caseID, got[caseID])
		}
	}
	if len(got) != len(caseOf) {
		t.Errorf("the owner got %d distinct cases, want %d", len(got), len(caseOf))
	}

	for i, g := range gs {
		stopReplica(t, i, g)
	}
	// The log: one case.received (one receipt issued) per exchange.
	received := map[string]int{}
	for _, e := range readEvidence(t, schema) {
		if e.Event == contracts.EventCaseReceived {
			received[e.ExchangeID]++
		}
	}
	for ex := range caseOf {
		if received[ex] != 1 {
			t.Errorf("exchange %s: %d case.received records, want 1", ex, received[ex])
		}
	}
	if len(received) != rounds {
		t.Errorf("case.received records name %d exchanges, want %d", len(received), rounds)
	}
	if t.Failed() {
		for i, g := range gs {
			t.Logf("replica %d:\n%s", i, crashTail(g.out.String(), 40))
		}
		t.Logf("simulators:\n%s", crashTail(simLogs.String(), 40))
	}
}
