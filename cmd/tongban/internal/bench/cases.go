package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/signing"
)

// runCases measures the engine, runs the direct comparison (unless
// o.NoDirect, and only for an owner of the standard style, whose wire
// the bench writes itself) and then the load through the gateway.
func (r *Rig) runCases(ctx context.Context, o CasesOptions) (*Report, error) {
	if o.Drain <= 0 {
		o.Drain = DefaultCasesDrain
	}
	rep := r.newReport("cases", o.Load, o.Setup)
	rep.Setup.OwnerStyle, rep.Setup.Material = r.OwnerStyle, o.MaterialSize
	var err error
	if rep.Crypto, err = measureCrypto(ctx, r.Engine, r.Keys[devrig.GatewayKey], CryptoWindow); err != nil {
		return nil, err
	}
	var material []byte
	if o.MaterialSize > 0 {
		material = make([]byte, o.MaterialSize)
		if _, err := rand.Read(material); err != nil {
			return nil, err
		}
	}
	if !o.NoDirect && r.OwnerStyle == standard.Name {
		d, err := r.directCases(ctx, o, material)
		if err != nil {
			return nil, err
		}
		d.Ceiling = ceiling(d.Ceiling.Ops, rep.Crypto, d.CompletedPerSec)
		rep.Direct = d
	}
	g, st, err := r.gatewayCases(ctx, o, material)
	if err != nil {
		return nil, err
	}
	g.Ceiling = ceiling(g.Ceiling.Ops, rep.Crypto, g.CompletedPerSec)
	rep.Gateway, rep.Store = *g, st
	rep.compare(o.Rate)
	return rep, nil
}

// newReport starts the report of a run of kind with load l and set-up s.
func (r *Rig) newReport(kind string, l Load, s Setup) *Report {
	cfg := r.Gateway.Config()
	store := "embedded (synchronous=" + cfg.Store.Synchronous + ")"
	if cfg.Store.Driver == config.DriverPostgres {
		store = "postgres (schema " + cfg.Store.Schema + ")"
	}
	gws := make([]string, len(r.Bases))
	for i, b := range r.Bases {
		gws[i] = strings.TrimPrefix(b, "http://")
	}
	mode := "closed loop"
	if l.Rate > 0 {
		mode = "open loop"
	}
	rs := RunSetup{Mode: mode, Concurrency: l.Concurrency, OfferedRate: l.Rate, Requests: l.Cases, Store: store,
		Replicas: len(r.Bases), Evidence: !s.NoEvidence, SealedData: true, Gateways: strings.Join(gws, ", "),
		RateLimits: fmt.Sprintf("on (%d/s per caller: never reached)", BenchRateLimit)}
	if l.Duration > 0 {
		rs.Duration = l.Duration.String()
	}
	return &Report{Kind: kind, Version: s.Version, Started: time.Now().UTC(), Machine: thisMachine(), Setup: rs}
}

// compare fills in the ratios of the gateway run to the direct one; a
// throughput ratio only for a closed loop, where both ran flat out.
func (rep *Report) compare(rate float64) {
	d, g := rep.Direct, &rep.Gateway
	if d == nil || d.CompletedPerSec <= 0 {
		return
	}
	if rate == 0 {
		rep.GatewayOverDirect = g.CompletedPerSec / d.CompletedPerSec
	}
	if est := g.Resources.CPUMicrosPerExchange - d.Resources.CPUMicrosPerExchange; est > 0 {
		rep.GatewayCPUMicros = est
	}
}

// measured brackets a run: CPU and allocations, peak memory, the SM2
// operations of the engine and of the simulated districts, and the
// store's counters.
type measured struct {
	u     usage
	ops   signing.Ops
	sims  signing.Ops
	store StoreCounts
}

func (r *Rig) measure() measured {
	m := measured{u: snapshot(), ops: r.Engine.Ops(), sims: r.SimOps()}
	for i, g := range r.Replicas { // every replica's writes, on the one database
		c := storeStats(g.Store())
		m.store.Writes, m.store.Commits, m.store.Known = m.store.Writes+c.Writes, m.store.Commits+c.Commits, c.Known && (i == 0 || m.store.Known)
	}
	return m
}

// since returns the resources used and the SM2 operations per exchange
// from m to now, for n exchanges.
func (r *Rig) since(m measured, n int) (Resources, PathOps) {
	now := r.measure()
	return resources(m.u, now.u, n, peakRSS()), pathOps(now.ops.Sub(m.ops), now.sims.Sub(m.sims), n)
}

// startProfile starts a CPU profile into path ("": none); stop ends it.
func startProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// gatewayCases offers o's cases to the gateway (each replica in turn)
// and waits up to o.Drain for their deliveries.
func (r *Rig) gatewayCases(ctx context.Context, o CasesOptions, material []byte) (*PathResult, *StoreWork, error) {
	cases, err := r.CasesWith(o.Cases, material)
	if err != nil {
		return nil, nil, err
	}
	client := devrig.LoopbackClient(o.Concurrency)
	defer client.CloseIdleConnections()
	toks := r.Tokens(devrig.Sender, "window-"+devrig.Sender)
	tok, err := toks.Get()
	if err != nil {
		return nil, nil, err
	}
	t := newTracker(cases)
	stopProfile, err := startProfile(o.CPUProfile)
	if err != nil {
		return nil, nil, err
	}
	defer stopProfile()
	per := make([]atomic.Int64, len(r.Bases))
	runtime.GC()
	resetPeakRSS()
	m0 := r.measure()
	t.start = time.Now()
	r.tracker.Store(t)
	defer r.tracker.Store(nil)
	prog := startProgress(o.Progress, "gateway", len(cases), func() int { return int(t.acks.Load()) }, "delivered")
	out := offer(ctx, o.Load, len(cases), t.start, func(ctx context.Context, i int) string {
		if tok, err = toks.Get(); err != nil {
			return "token: " + err.Error()
		}
		replica := i % len(r.Bases)
		code := submit(ctx, client, r.Bases[replica], tok, &cases[i])
		if code == "" {
			per[replica].Add(1)
		}
		return code
	}, prog)
	// Wait for the deliveries of the accepted cases.
	for drainUntil := time.Now().Add(o.Drain); int(t.acks.Load()) < out.ok && time.Now().Before(drainUntil) && ctx.Err() == nil; {
		time.Sleep(2 * time.Millisecond)
	}
	prog.end()
	res := &PathResult{Sent: out.ok + out.failed, Accepted: out.ok, Refused: out.failed, Errors: out.errors,
		AcceptedPerSec: rate(out.ok, out.lastOK), Latency: map[string]Latency{"submit → 202 receipt": summarise(out.lat)}}
	var deliverLat []time.Duration
	var lastAck time.Duration
	for i := range cases {
		sent, ack := out.sentAt[i].Load(), t.ackAt[i].Load()
		if ack == 0 || sent < 0 {
			continue
		}
		res.Completed++
		deliverLat = append(deliverLat, time.Duration(ack-sent))
		lastAck = max(lastAck, time.Duration(ack))
	}
	res.Latency["delivered → owner ack"] = summarise(deliverLat)
	if o.Rate > 0 {
		res.Latency["(bench's own send lag)"] = summarise(out.lag)
	}
	res.CompletedPerSec, res.Elapsed = rate(res.Completed, lastAck), lastAck.Seconds()
	// The gateway's own count: acknowledgements verified and recorded.
	for range 500 {
		counts, err := r.Gateway.Store().CountByState(context.WithoutCancel(ctx))
		if err != nil {
			return nil, nil, err
		}
		if res.Recorded = counts[contracts.TransportStateDelivered]; res.Recorded >= res.Completed {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopProfile()
	m1 := r.measure()
	res.Resources, res.Ceiling.Ops = r.since(m0, res.Completed)
	if len(r.Bases) > 1 {
		res.PerReplica = make([]int, len(per))
		for i := range per {
			res.PerReplica[i] = int(per[i].Load())
		}
	}
	return res, storeWork(m0.store, m1.store, res.Completed, lastAck), nil
}

// directCases sends o's load of case deliveries straight to the
// simulated owner: each built as the gateway builds it from a prepared
// case (a CaseDelivery of the submission) and signed with the gateway's
// key before the clock starts, so the owner verifies and acknowledges it
// exactly as it does the gateway's. The client checks the answer's status
// only: the run measures what the owner alone costs.
func (r *Rig) directCases(ctx context.Context, o CasesOptions, material []byte) (*PathResult, error) {
	cases, err := r.CasesWith(o.Cases, material)
	if err != nil {
		return nil, err
	}
	signer := signing.NewSigner(r.Keys[devrig.GatewayKey], r.Engine)
	now := time.Now().UTC().Truncate(time.Second)
	bodies := make([]devrig.Case, len(cases))
	if err := parallel(len(cases), func(i int) error {
		var sub contracts.CaseSubmission
		if err := json.Unmarshal(cases[i].Body, &sub); err != nil {
			return err
		}
		ids := make([]string, 2)
		for k := range ids {
			if ids[k], err = contracts.NewUUIDv7(now, rand.Reader); err != nil {
				return err
			}
		}
		body, err := json.Marshal(contracts.CaseDelivery{DeliveryID: ids[0], CaseID: ids[1], ExchangeID: sub.ExchangeID,
			SenderRegion: devrig.Sender, SentAt: now, Submission: sub})
		if err != nil {
			return err
		}
		sig, err := signing.Sign(signer, r.Engine, body)
		if err != nil {
			return err
		}
		bodies[i] = devrig.Case{ExchangeID: sub.ExchangeID, Body: body, Sig: base64.StdEncoding.EncodeToString(sig)}
		cases[i].Body = nil
		return nil
	}); err != nil {
		return nil, fmt.Errorf("bench: prepare direct deliveries: %w", err)
	}
	cases = nil
	url := r.Endpoint(devrig.Owner) + "/cases"
	return r.direct(ctx, o.Load, o.Progress, len(bodies), url, func(i int) *devrig.Case { return &bodies[i] }), nil
}

// direct offers l's load of n prepared requests (body(i)) straight to
// the simulated district at url, signed with the gateway's key id, and
// returns what it measured: an answer completes an exchange.
func (r *Rig) direct(ctx context.Context, l Load, progress io.Writer, n int, url string, body func(i int) *devrig.Case) *PathResult {
	client := devrig.LoopbackClient(l.Concurrency)
	defer client.CloseIdleConnections()
	runtime.GC()
	resetPeakRSS()
	m0 := r.measure()
	start := time.Now()
	prog := startProgress(progress, "direct ", n, nil, "")
	out := offer(ctx, l, n, start, func(ctx context.Context, i int) string {
		return post(ctx, client, url, "", config.DefaultKeyID, body(i))
	}, prog)
	prog.end()
	res := &PathResult{Sent: out.ok + out.failed, Accepted: out.ok, Refused: out.failed, Errors: out.errors, Completed: out.ok,
		AcceptedPerSec: rate(out.ok, out.lastOK), CompletedPerSec: rate(out.ok, out.lastOK), Elapsed: out.lastOK.Seconds(),
		Latency: map[string]Latency{"answer": summarise(out.lat)}}
	if l.Rate > 0 {
		res.Latency["(bench's own send lag)"] = summarise(out.lag)
	}
	res.Resources, res.Ceiling.Ops = r.since(m0, res.Completed)
	return res
}

// post sends one signed body to url (with a bearer token when token is
// not empty) and returns "" for a 2xx answer, else the error code or why
// there was no answer.
func post(ctx context.Context, client *http.Client, url, token, keyID string, c *devrig.Case) string {
	_, problem := call(ctx, client, url, token, keyID, c)
	return problem
}

// call is post that also returns a 2xx answer's body (at most 1 MiB).
func call(ctx context.Context, client *http.Client, url, token, keyID string, c *devrig.Case) ([]byte, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(c.Body))
	if err != nil {
		return nil, "request: " + err.Error()
	}
	h := req.Header
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Gw-Signature", c.Sig)
	h.Set("Gw-Key-Id", keyID)
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, "cancelled"
		}
		return nil, "transport error"
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case err != nil:
		return nil, "reading answer"
	case resp.StatusCode/100 == 2:
		return raw, ""
	}
	var e contracts.Error
	if json.Unmarshal(raw, &e) == nil && e.Code != "" {
		return nil, string(e.Code)
	}
	return nil, fmt.Sprintf("HTTP %d", resp.StatusCode)
}

// parallel runs f(0..n-1) on GOMAXPROCS goroutines and returns the
// first error.
func parallel(n int, f func(i int) error) error {
	var next atomic.Int64
	var first atomic.Pointer[error]
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for first.Load() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					first.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return nil
}
