package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing"
)

// Bench limits of license verification runs.
const (
	benchDefaultVerifications = 20000
	benchMaxVerifications     = 1_000_000
	benchDistinctBodies       = 1000 // signed request bodies, reused in turn
)

func newBenchLicensesCmd() *cobra.Command {
	var (
		n, concurrency int
		duration       time.Duration
		cacheTTL       time.Duration
		drain          time.Duration
		cpuProfile     string
		synchronous    string
	)
	c := &cobra.Command{
		Use:   "licenses [--verifications N] [--concurrency C] [--duration D] [--cache-ttl T]",
		Short: "Verify e-licenses through the full path and report throughput and latency",
		Long: `Measure POST /v1/licenses/verify end to end. The bench starts, in this
process and on loopback only, the simulated district 330702 (whose license
library is the demo library) and a gateway opened exactly as "tongban serve"
opens one. The window window-320404 then verifies the valid demo licenses of
330702 over real HTTP with a real bearer token: the gateway checks the
window's SM2 signature, routes to 330702's library, sends a signed lookup,
verifies the library's signed answer, writes the usage record (with its
delivery back to 330702 through the outbox) and answers with a signed
result. The usage records are passed back to 330702 during and after the
run; the bench waits up to --drain for all of them.

Closed loop: --concurrency windows in flight, each sending its next
verification as soon as the previous one is answered. Request bodies are
signed before the clock starts. The license cache is off unless --cache-ttl
is set (the default measures every verification asking the library).

It exits 1 when any verification failed or was not valid, or a usage record
did not reach the issuer within --drain.`,
		Example: `  tongban bench licenses --concurrency 32 --verifications 20000
  tongban bench licenses --duration 10s --cpuprofile cpu.out && go tool pprof -top cpu.out`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case n < 1 || n > benchMaxVerifications:
				return fmt.Errorf("--verifications %d must be 1 to %d", n, benchMaxVerifications)
			case concurrency < 1 || concurrency > benchMaxConcurrent:
				return fmt.Errorf("--concurrency %d must be 1 to %d", concurrency, benchMaxConcurrent)
			case duration < 0 || duration > benchMaxDuration:
				return fmt.Errorf("--duration %s must be 0 to %s", duration, benchMaxDuration)
			case cacheTTL < 0 || cacheTTL > 10*time.Minute:
				return fmt.Errorf("--cache-ttl %s must be 0 (off) to 10m", cacheTTL)
			case drain <= 0 || drain > benchMaxDuration:
				return fmt.Errorf("--drain %s must be positive and at most %s", drain, benchMaxDuration)
			}
			engine, err := engineFlag(cmd)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			dir, err := os.MkdirTemp("", "tongban-bench")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			rig, err := startBenchRig(ctx, benchRigOptions{Dir: dir, Synchronous: synchronous, Engine: engine.Name(), LogLevel: "warn", LicenseCacheTTL: cacheTTL})
			if err != nil {
				return err
			}
			defer rig.stop()
			res, err := rig.runVerifications(ctx, n, concurrency, duration, drain, cpuProfile)
			if err != nil {
				return err
			}
			res.cacheTTL = cacheTTL
			res.print(cmd.OutOrStdout())
			if res.failed > 0 || res.usageDelivered < res.ok {
				return &exitError{1, fmt.Sprintf("bench: %d verifications failed or were not valid; %d of %d usage records reached the issuer within --drain %s",
					res.failed, res.usageDelivered, res.ok, drain)}
			}
			return nil
		},
	}
	f := c.Flags()
	f.IntVar(&n, "verifications", benchDefaultVerifications, "verifications to send (at most 1,000,000)")
	f.IntVar(&concurrency, "concurrency", 32, "windows in flight at once")
	f.DurationVar(&duration, "duration", 0, "stop sending after this long (0: when --verifications are sent)")
	f.DurationVar(&cacheTTL, "cache-ttl", 0, "the gateway's license cache TTL (0: off, the default)")
	f.DurationVar(&drain, "drain", 60*time.Second, "how long to wait for the usage records to reach the issuer")
	f.StringVar(&synchronous, "synchronous", "full", "store synchronous setting: full or normal")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the measured run to this file")
	return c
}

// benchVerifyResult is the outcome of one verification run.
type benchVerifyResult struct {
	requests, concurrency int
	cacheTTL              time.Duration
	engine, synchronous   string
	ok, failed            int
	outcomes              map[string]int
	lat                   []time.Duration
	elapsed               time.Duration
	usageDelivered        int
	usageElapsed          time.Duration
}

// runVerifications signs up to benchDistinctBodies verification requests
// for the valid licenses of the owner's library, sends n of them with c
// windows in flight, and waits up to drain for the usage records.
func (r *benchRig) runVerifications(ctx context.Context, n, c int, duration, drain time.Duration, cpuProfile string) (*benchVerifyResult, error) {
	var valid []string
	for _, rec := range r.owner.Licenses() {
		if role, ok := partnersim.DemoRoleOf(rec); ok && role.Outcome() == contracts.LicenseOutcomeValid {
			valid = append(valid, rec.LicenseID)
		}
	}
	if len(valid) == 0 {
		return nil, fmt.Errorf("bench: the library of %s holds no valid license", benchOwner)
	}
	signer := signing.NewSigner(r.keys[benchWindow], r.engine)
	type body struct {
		raw []byte
		sig string
	}
	bodies := make([]body, min(n, benchDistinctBodies))
	for i := range bodies {
		raw, err := json.Marshal(contracts.LicenseVerifyRequest{LicenseID: valid[i%len(valid)], Purpose: fmt.Sprintf("个体工商户设立登记 bench %d", i)})
		if err != nil {
			return nil, err
		}
		sig, err := signing.Sign(signer, r.engine, raw)
		if err != nil {
			return nil, err
		}
		bodies[i] = body{raw, base64.StdEncoding.EncodeToString(sig)}
	}
	toks := r.tokens(benchWindow, "clerk-bench")
	if _, err := toks.get(); err != nil {
		return nil, err
	}
	client := benchClient(c)
	defer client.CloseIdleConnections()
	usage0 := len(r.owner.UsageRecords())

	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	res := &benchVerifyResult{requests: n, concurrency: c, engine: r.gw.cfg.Engine, synchronous: r.gw.cfg.Store.Synchronous, outcomes: map[string]int{}}
	type out struct {
		lat      []time.Duration
		outcomes map[string]int
		ok       int
	}
	outs := make([]out, c)
	start := time.Now()
	var deadline time.Time
	if duration > 0 {
		deadline = start.Add(duration)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := &outs[w]
			o.outcomes = map[string]int{}
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n || !deadline.IsZero() && time.Now().After(deadline) {
					return
				}
				tok, err := toks.get()
				if err != nil {
					o.outcomes["token: "+err.Error()]++
					continue
				}
				b := &bodies[i%len(bodies)]
				t0 := time.Now()
				outcome := r.verifyOnce(ctx, client, tok, b.raw, b.sig)
				o.lat = append(o.lat, time.Since(t0))
				o.outcomes[outcome]++
				if outcome == string(contracts.LicenseOutcomeValid) {
					o.ok++
				}
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	for _, o := range outs {
		res.lat = append(res.lat, o.lat...)
		res.ok += o.ok
		for k, v := range o.outcomes {
			res.outcomes[k] += v
		}
	}
	res.failed = len(res.lat) - res.ok
	drainUntil := time.Now().Add(drain)
	for ctx.Err() == nil && time.Now().Before(drainUntil) {
		if res.usageDelivered = len(r.owner.UsageRecords()) - usage0; res.usageDelivered >= res.ok {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	res.usageElapsed = time.Since(start)
	return res, nil
}

// verifyOnce posts one signed verification and returns its outcome, or
// the error code (or why there was no answer).
func (r *benchRig) verifyOnce(ctx context.Context, client *http.Client, token string, body []byte, sig string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+"/v1/licenses/verify", bytes.NewReader(body))
	if err != nil {
		return "request: " + err.Error()
	}
	h := req.Header
	h.Set("Authorization", "Bearer "+token)
	h.Set("Content-Type", "application/json")
	h.Set("Gw-Signature", sig)
	h.Set("Gw-Key-Id", benchWindow)
	resp, err := client.Do(req)
	if err != nil {
		return "transport error"
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "reading answer"
	}
	if resp.StatusCode != http.StatusOK {
		var e contracts.Error
		if json.Unmarshal(raw, &e) == nil && e.Code != "" {
			return "error " + string(e.Code)
		}
		return fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	var res struct {
		Outcome string `json:"outcome"`
	}
	if json.Unmarshal(raw, &res) != nil {
		return "malformed answer"
	}
	return res.Outcome
}

func (res *benchVerifyResult) print(w io.Writer) {
	cache := "off"
	if res.cacheTTL > 0 {
		cache = "ttl " + res.cacheTTL.String()
	}
	fmt.Fprintf(w, "tongban bench licenses: closed loop, concurrency %d, %d verifications\n", res.concurrency, res.requests)
	fmt.Fprintf(w, "gateway in process (store synchronous=%s, engine %s, license cache %s, GOMAXPROCS %d); library %s simulated on loopback\n\n",
		res.synchronous, res.engine, cache, runtime.GOMAXPROCS(0), benchOwner)
	fmt.Fprintf(w, "verified   %d in %s: %.0f verifications/s\n", len(res.lat), res.elapsed.Round(time.Millisecond), benchRate(len(res.lat), res.elapsed))
	keys := make([]string, 0, len(res.outcomes))
	for k := range res.outcomes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, res.outcomes[k]))
	}
	fmt.Fprintf(w, "outcomes   %s\n", strings.Join(parts, ", "))
	fmt.Fprintf(w, "usage      %d records acknowledged by %s, the last %s after the start\n\n", res.usageDelivered, benchOwner, res.usageElapsed.Round(time.Millisecond))
	slices.Sort(res.lat)
	var mx time.Duration
	if len(res.lat) > 0 {
		mx = res.lat[len(res.lat)-1]
	}
	fmt.Fprintf(w, "latency    %7s %9s %9s %9s %9s\n", "n", "p50", "p90", "p99", "max")
	fmt.Fprintf(w, "  verify   %7d %9s %9s %9s %9s\n", len(res.lat), benchMS(benchPercentile(res.lat, 50)),
		benchMS(benchPercentile(res.lat, 90)), benchMS(benchPercentile(res.lat, 99)), benchMS(mx))
}
