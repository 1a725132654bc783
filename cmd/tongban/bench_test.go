package main

import (
	"context"
	"io"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBenchCasesCommand(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"closed loop", []string{"--cases", "50"}, []string{"closed loop, concurrency 64, 50 cases", "latency from send"}},
		{"open loop", []string{"--cases", "50", "--rate", "500", "--concurrency", "8"},
			[]string{"open loop, 500 cases/s offered, up to 8 in flight", "latency from scheduled send", "send lag"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := must(t, runIn(t, t.TempDir(), "", append([]string{"bench", "cases"}, tt.args...)...))
			want := append(tt.want,
				"submitted  50 accepted (202), 0 refused",
				"delivered  50 acknowledged by the owner",
				"(gateway recorded 50)",
				"p50", "p90", "p99", "max", "writes per commit")
			for _, w := range want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, r.stdout)
				}
			}
			for _, re := range []string{`submitted .*: \d+ cases/s`, `delivered .*: \d+ cases/s`,
				`submit → 202 receipt +50 +[0-9.]+ms +[0-9.]+ms +[0-9.]+ms +[0-9.]+ms`,
				`delivered → owner ack +50 +[0-9.]+ms`} {
				if !regexp.MustCompile(re).MatchString(r.stdout) {
					t.Errorf("output does not match %s:\n%s", re, r.stdout)
				}
			}
		})
	}
}

func TestBenchCasesRefusesUnboundedOrBadLoads(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--cases", "0"},
		{"--cases", "1000001"},
		{"--concurrency", "0"},
		{"--rate", "-1"},
		{"--duration", "2h"},
		{"--drain", "0s"},
	} {
		r := runIn(t, dir, "", append([]string{"bench", "cases"}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, args[0]) {
			t.Errorf("bench cases %v: got exit %d stderr %q, want 2 naming %s", args, r.code, r.stderr, args[0])
		}
	}
}

func TestBenchLoopbackOnly(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "127.9.9.9:1": true,
		"10.0.0.1:8080": false, "192.168.1.2:80": false, "example.org:80": false, "localhost:80": false, "nonsense": false,
	} {
		if err := benchLoopbackOnly(addr); (err == nil) != ok {
			t.Errorf("benchLoopbackOnly(%q): got %v, want allowed=%v", addr, err, ok)
		}
	}
	// The client refuses to dial anything else.
	_, err := benchClient(1).Get("http://10.255.255.1:9/")
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("client to 10.255.255.1: got %v, want a loopback refusal", err)
	}
}

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
		if got := benchPercentile(tt.samples, tt.p); got != tt.want {
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
//	go test -run '^$' -bench CaseSubmit -benchtime 5000x -count 3 ./cmd/tongban
func BenchmarkCaseSubmit(b *testing.B) {
	b.Run("evidence_on", func(b *testing.B) { benchCaseSubmit(b, false) })
	b.Run("evidence_off", func(b *testing.B) { benchCaseSubmit(b, true) })
}

// benchCaseSubmit is BenchmarkCaseSubmit with the evidence log on or off.
func benchCaseSubmit(b *testing.B, noEvidence bool) {
	ctx := context.Background()
	rig, err := startBenchRig(ctx, benchRigOptions{Dir: b.TempDir(), NoEvidence: noEvidence})
	if err != nil {
		b.Fatal(err)
	}
	defer rig.stop()
	cases, err := rig.prepareCases(b.N)
	if err != nil {
		b.Fatal(err)
	}
	tr := &benchTracker{index: make(map[string]int, len(cases)), sentAt: make([]atomic.Int64, len(cases)), ackAt: make([]atomic.Int64, len(cases))}
	for i := range cases {
		tr.index[cases[i].exchangeID] = i
	}
	toks := rig.tokens(benchSender, "window-"+benchSender)
	tok, err := toks.get()
	if err != nil {
		b.Fatal(err)
	}
	const parallelism = 32 // × GOMAXPROCS callers
	client := benchClient(parallelism * 8)
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
			if code := rig.submit(ctx, client, tok, &cases[i]); code != "" {
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
//	go test -run '^$' -bench CaseDeliver -benchtime 20000x ./cmd/tongban
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
	rig, err := startBenchRig(ctx, benchRigOptions{Dir: b.TempDir(), OwnerStyle: style})
	if err != nil {
		b.Fatal(err)
	}
	defer rig.stop()
	cfg := *rig.gw.cfg // same keys and partners, its own store
	cfg.Store.Path = b.TempDir() + "/deliver.db"
	g, err := openGateway(ctx, &cfg, newLogger(io.Discard, cfg.Log.Level))
	if err != nil {
		b.Fatal(err)
	}
	defer g.close()
	srv := httptest.NewServer(g.handler())
	defer srv.Close()
	front := &benchRig{base: srv.URL} // submit needs only the base URL
	cases, err := rig.prepareCases(b.N)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := rig.tokens(benchSender, "window-"+benchSender).get()
	if err != nil {
		b.Fatal(err)
	}
	client := benchClient(64)
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
				if code := front.submit(ctx, client, tok, &cases[i]); code != "" {
					b.Errorf("case %d refused: %s", i, code)
					return
				}
			}
		}()
	}
	wg.Wait()

	dctx, stop := context.WithCancel(ctx)
	defer stop()
	st0 := g.store.Stats()
	b.ResetTimer()
	done := make(chan struct{})
	go func() { g.disp.Run(dctx); close(done) }()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Millisecond) {
		counts, err := g.store.CountByState(ctx)
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
	st1 := g.store.Stats()
	if c := st1.Commits - st0.Commits; c > 0 {
		b.ReportMetric(float64(st1.Writes-st0.Writes)/float64(c), "writes/commit")
	}
	stop()
	<-done
}

func TestBenchLicensesCommand(t *testing.T) {
	r := must(t, runIn(t, t.TempDir(), "", "bench", "licenses", "--verifications", "60", "--concurrency", "4"))
	for _, w := range []string{"closed loop, concurrency 4, 60 verifications", "license cache off", "outcomes   valid 60",
		"usage      60 records acknowledged by 330702"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("output lacks %q:\n%s", w, r.stdout)
		}
	}
	if !regexp.MustCompile(`verify +60 +[0-9.]+ms +[0-9.]+ms +[0-9.]+ms +[0-9.]+ms`).MatchString(r.stdout) {
		t.Errorf("output has no latency row:\n%s", r.stdout)
	}
	for _, args := range [][]string{{"--verifications", "0"}, {"--concurrency", "0"}, {"--cache-ttl", "1h"}, {"--drain", "0s"}} {
		r := runIn(t, t.TempDir(), "", append([]string{"bench", "licenses"}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, args[0]) {
			t.Errorf("bench licenses %v: exit %d, stderr %q; want exit 2 naming the flag", args, r.code, r.stderr)
		}
	}
}

// BenchmarkLicenseVerify verifies the valid demo licenses of 330702 over
// HTTP through an in-process gateway (cache off) with many windows at once,
// and reports verifications per second.
//
//	go test -run '^$' -bench LicenseVerify -benchtime 10000x ./cmd/tongban
func BenchmarkLicenseVerify(b *testing.B) {
	ctx := context.Background()
	rig, err := startBenchRig(ctx, benchRigOptions{Dir: b.TempDir(), LogLevel: "warn"})
	if err != nil {
		b.Fatal(err)
	}
	defer rig.stop()
	b.ReportAllocs()
	b.ResetTimer()
	res, err := rig.runVerifications(ctx, b.N, 32, 0, time.Minute, "")
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.failed > 0 {
		b.Fatalf("%d verifications failed: %v", res.failed, res.outcomes)
	}
	b.ReportMetric(benchRate(len(res.lat), res.elapsed), "verifications/s")
	slices.Sort(res.lat)
	b.ReportMetric(float64(benchPercentile(res.lat, 99).Microseconds())/1000, "p99-ms")
}
