package bench

import (
	"context"
	"io"
	"math"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tongban/tongban/cmd/tongban/internal/app"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/signing"
)

func TestBenchPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 50, 7 * time.Millisecond},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 51, 3 * time.Millisecond},
		{ms(1, 2, 3, 4), 100, 4 * time.Millisecond},
		{ms(hundred...), 90, 90 * time.Millisecond},
		{ms(hundred...), 99, 99 * time.Millisecond},
		{ms(hundred...), 0, 1 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(tt.samples, tt.p); got != tt.want {
			t.Errorf("p%v of %d samples: got %s, want %s", tt.p, len(tt.samples), got, tt.want)
		}
	}
}

// BenchmarkCaseSubmit submits signed cases over HTTP to an in-process
// gateway opened as serve opens one (store synchronous full), many callers
// at once, and reports submitted and delivered cases per second: with the
// evidence log on (as the gateway always runs) and, to measure what the
// log costs, off.
//
//	go test -run '^$' -bench CaseSubmit -benchtime 5000x -count 3 ./cmd/tongban/internal/bench
//
// administered runs with the example service catalogue and calendar:
// every submission is checked against the catalogue.
func BenchmarkCaseSubmit(b *testing.B) {
	b.Run("evidence_on", func(b *testing.B) { benchCaseSubmit(b, devrig.Options{}) })
	b.Run("evidence_off", func(b *testing.B) { benchCaseSubmit(b, devrig.Options{NoEvidence: true}) })
	b.Run("administered", func(b *testing.B) { benchCaseSubmit(b, devrig.Options{Administration: true}) })
}

// benchCaseSubmit is BenchmarkCaseSubmit with the rig o sets up.
func benchCaseSubmit(b *testing.B, o devrig.Options) {
	ctx := context.Background()
	o.Dir = b.TempDir()
	rig, err := startRig(ctx, o)
	if err != nil {
		b.Fatal(err)
	}
	defer rig.Stop()
	cases, err := rig.Cases(b.N)
	if err != nil {
		b.Fatal(err)
	}
	tr := newTracker(cases)
	toks := rig.Tokens(devrig.Sender, "window-"+devrig.Sender)
	tok, err := toks.Get()
	if err != nil {
		b.Fatal(err)
	}
	const parallelism = 32 // × GOMAXPROCS callers
	client := devrig.LoopbackClient(parallelism * 8)
	defer client.CloseIdleConnections()
	var next atomic.Int64
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	tr.start = time.Now()
	rig.tracker.Store(tr)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			if code := submit(ctx, client, rig.Base, tok, &cases[i]); code != "" {
				b.Errorf("case %d refused: %s", i, code)
				return
			}
		}
	})
	b.StopTimer()
	elapsed := time.Since(tr.start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "cases/s")
	for deadline := time.Now().Add(time.Minute); tr.acks.Load() < int64(b.N) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	rig.tracker.Store(nil)
	var last int64
	for i := range tr.ackAt {
		last = max(last, tr.ackAt[i].Load())
	}
	if n := tr.acks.Load(); n < int64(b.N) {
		b.Errorf("%d of %d cases delivered within a minute", n, b.N)
	} else if last > 0 {
		b.ReportMetric(float64(n)/time.Duration(last).Seconds(), "delivered/s")
	}
}

// BenchmarkCaseDeliver measures the outbox dispatcher alone: b.N cases are
// stored first through a gateway whose dispatcher is not running, then the
// dispatcher is started and timed until every case is delivered to the
// owner district and recorded. It reports delivered cases per second and
// the store's writes per commit.
//
//	go test -run '^$' -bench CaseDeliver -benchtime 20000x ./cmd/tongban/internal/bench
//
// There is one sub-benchmark per pushing owner style (standard,
// mapped-json, soap).
func BenchmarkCaseDeliver(b *testing.B) {
	for _, style := range []string{"standard", "mapped-json", "soap"} {
		b.Run(style, func(b *testing.B) { benchCaseDeliver(b, style) })
	}
}

// benchCaseDeliver delivers b.N stored cases to an owner of style.
func benchCaseDeliver(b *testing.B, style string) {
	ctx := context.Background()
	rig, err := startRig(ctx, devrig.Options{Dir: b.TempDir(), OwnerStyle: style})
	if err != nil {
		b.Fatal(err)
	}
	defer rig.Stop()
	cfg := *rig.Gateway.Config() // same keys and partners, its own store
	cfg.Store.Path = b.TempDir() + "/deliver.db"
	g, err := app.Open(ctx, &cfg, app.NewLogger(io.Discard, cfg.Log.Level))
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()
	cases, err := rig.Cases(b.N)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := rig.Tokens(devrig.Sender, "window-"+devrig.Sender).Get()
	if err != nil {
		b.Fatal(err)
	}
	client := devrig.LoopbackClient(64)
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
				if code := submit(ctx, client, srv.URL, tok, &cases[i]); code != "" {
					b.Errorf("case %d refused: %s", i, code)
					return
				}
			}
		}()
	}
	wg.Wait()

	dctx, stop := context.WithCancel(ctx)
	defer stop()
	st0 := storeStats(g.Store())
	b.ResetTimer()
	done := make(chan struct{})
	go func() { g.Dispatcher().Run(dctx); close(done) }()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Millisecond) {
		counts, err := g.Store().CountByState(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if counts["delivered"] >= b.N {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d delivered after 2 minutes", counts["delivered"], b.N)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "delivered/s")
	st1 := storeStats(g.Store())
	if c := st1.Commits - st0.Commits; c > 0 {
		b.ReportMetric(float64(st1.Writes-st0.Writes)/float64(c), "writes/commit")
	}
	stop()
	<-done
}

// BenchmarkLicenseVerify verifies the valid demo licenses of 330702 over
// HTTP through an in-process gateway (cache off) with many windows at once,
// and reports verifications per second.
//
//	go test -run '^$' -bench LicenseVerify -benchtime 10000x ./cmd/tongban/internal/bench
func BenchmarkLicenseVerify(b *testing.B) {
	ctx := context.Background()
	rig, err := startRig(ctx, devrig.Options{Dir: b.TempDir(), LogLevel: "warn"})
	if err != nil {
		b.Fatal(err)
	}
	defer rig.Stop()
	valid, err := rig.validLicenses()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	res, _, err := rig.runVerifications(ctx, LicensesOptions{Verifications: b.N, Concurrency: 32, Drain: time.Minute}, valid)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.Refused > 0 || res.Completed < res.Accepted {
		b.Fatalf("%d verifications failed (%v); %d of %d usage records back", res.Refused, res.Errors, res.Completed, res.Accepted)
	}
	b.ReportMetric(res.AcceptedPerSec, "verifications/s")
	b.ReportMetric(res.Latency["verify → signed result"].P99, "p99-ms")
}

// TestCeiling: the ceiling is the rate at which every core doing only
// the path's SM2 operations completes exchanges, and the achieved fraction
// is the measured rate over it.
func TestCeiling(t *testing.T) {
	rates := CryptoRates{SignPerSec: 40000, VerifyPerSec: 20000, SignMicros: 50, VerifyMicros: 100} // 2 cores
	tests := []struct {
		name     string
		all, sim signing.Ops
		n        int
		achieved float64
		wantOps  PathOps
		wantPer  float64
		wantUs   float64
	}{
		{"case path", signing.Ops{Signs: 3000, Verifies: 3000}, signing.Ops{Signs: 1000, Verifies: 1000}, 1000, 1000,
			PathOps{2, 2, 1, 1}, 1 / (3.0/40000 + 3.0/20000), 450},
		{"signs only", signing.Ops{Signs: 10}, signing.Ops{}, 10, 0, PathOps{GatewaySigns: 1}, 40000, 50},
		{"nothing done", signing.Ops{}, signing.Ops{}, 0, 0, PathOps{}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := pathOps(tt.all, tt.sim, tt.n)
			if ops != tt.wantOps {
				t.Fatalf("ops %+v, want %+v", ops, tt.wantOps)
			}
			c := ceiling(ops, rates, tt.achieved)
			if math.Abs(c.PerSec-tt.wantPer) > 1e-6 || math.Abs(c.MicrosPerExchange-tt.wantUs) > 1e-9 {
				t.Errorf("ceiling %+v, want %v/s and %v µs", c, tt.wantPer, tt.wantUs)
			}
			if tt.wantPer > 0 && math.Abs(c.Achieved-tt.achieved/tt.wantPer) > 1e-9 {
				t.Errorf("achieved %v, want %v", c.Achieved, tt.achieved/tt.wantPer)
			}
		})
	}
}

// TestOfferBoundsAndCounts: a closed loop sends exactly n requests, an
// open loop stops at its duration, and refusals are counted by code
// without their latency.
func TestOfferBoundsAndCounts(t *testing.T) {
	ctx := context.Background()
	out := offer(ctx, Load{Concurrency: 4}, 100, time.Now(), func(_ context.Context, i int) string {
		if i%10 == 0 {
			return "busy"
		}
		return ""
	}, nil)
	if out.ok != 90 || out.failed != 10 || out.errors["busy"] != 10 || len(out.lat) != 90 {
		t.Errorf("closed loop: ok %d failed %d errors %v latencies %d", out.ok, out.failed, out.errors, len(out.lat))
	}
	for i := range out.sentAt {
		if sent := out.sentAt[i].Load(); (i%10 == 0) != (sent < 0) {
			t.Errorf("request %d: sentAt %d", i, sent)
		}
	}
	var calls atomic.Int64
	out = offer(ctx, Load{Concurrency: 2, Rate: 1000, Duration: 20 * time.Millisecond}, 1000, time.Now(), func(context.Context, int) string {
		calls.Add(1)
		return ""
	}, nil)
	if n := calls.Load(); n > 20 || n != int64(out.ok) || len(out.lag) != out.ok {
		t.Errorf("open loop at 1000/s for 20ms sent %d (ok %d, %d lags), want at most 20", n, out.ok, len(out.lag))
	}
}
