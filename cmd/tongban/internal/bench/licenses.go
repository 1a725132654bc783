package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing"
)

// Bench limits of license verification runs.
const (
	DefaultVerifications = 20000
	MaxVerifications     = 1_000_000
	MaxCacheTTL          = 10 * time.Minute
	DefaultLicensesDrain = 60 * time.Second
	distinctBodies       = 1000 // signed request bodies, reused in turn
)

// LicensesOptions are a `tongban bench licenses` run.
type LicensesOptions struct {
	Verifications, Concurrency int
	Duration                   time.Duration // 0 = until Verifications are sent
	CacheTTL                   time.Duration // the gateway's license cache; 0 = off
	Drain                      time.Duration // the wait for the usage records
	CPUProfile                 string
	Synchronous                string
	Engine                     string // SM2/SM3 engine name; "" = the default
	Version                    string // the version the gateway reports
}

// Validate checks the run's bounds; errors name the command's flag.
func (o LicensesOptions) Validate() error {
	switch {
	case o.Verifications < 1 || o.Verifications > MaxVerifications:
		return fmt.Errorf("--verifications %d must be 1 to %d", o.Verifications, MaxVerifications)
	case o.Concurrency < 1 || o.Concurrency > MaxConcurrent:
		return fmt.Errorf("--concurrency %d must be 1 to %d", o.Concurrency, MaxConcurrent)
	case o.Duration < 0 || o.Duration > MaxDuration:
		return fmt.Errorf("--duration %s must be 0 to %s", o.Duration, MaxDuration)
	case o.CacheTTL < 0 || o.CacheTTL > MaxCacheTTL:
		return fmt.Errorf("--cache-ttl %s must be 0 (off) to 10m", o.CacheTTL)
	case o.Drain <= 0 || o.Drain > MaxDuration:
		return fmt.Errorf("--drain %s must be positive and at most %s", o.Drain, MaxDuration)
	}
	return nil
}

// RunLicenses runs the rig in a temporary directory, sends o's
// verifications, writes the report to w, and returns a *Failure when a
// verification failed or was not valid, or a usage record did not reach
// the issuer within o.Drain.
func RunLicenses(ctx context.Context, w io.Writer, o LicensesOptions) error {
	if err := o.Validate(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "tongban-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rig, err := startRig(ctx, devrig.Options{Dir: dir, Synchronous: o.Synchronous, Engine: o.Engine, LogLevel: "warn",
		LicenseCacheTTL: o.CacheTTL, Version: o.Version})
	if err != nil {
		return err
	}
	defer rig.Stop()
	res, err := rig.runVerifications(ctx, o.Verifications, o.Concurrency, o.Duration, o.Drain, o.CPUProfile)
	if err != nil {
		return err
	}
	res.cacheTTL = o.CacheTTL
	res.print(w)
	if res.failed > 0 || res.usageDelivered < res.ok {
		return &Failure{fmt.Sprintf("bench: %d verifications failed or were not valid; %d of %d usage records reached the issuer within --drain %s",
			res.failed, res.usageDelivered, res.ok, o.Drain)}
	}
	return nil
}

// verifyResult is the outcome of one verification run.
type verifyResult struct {
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

// runVerifications signs up to distinctBodies verification requests for
// the valid licenses of the owner's library, sends n of them with c
// windows in flight, and waits up to drain for the usage records.
func (r *Rig) runVerifications(ctx context.Context, n, c int, duration, drain time.Duration, cpuProfile string) (*verifyResult, error) {
	var valid []string
	for _, rec := range r.Owner.Licenses() {
		if role, ok := partnersim.DemoRoleOf(rec); ok && role.Outcome() == contracts.LicenseOutcomeValid {
			valid = append(valid, rec.LicenseID)
		}
	}
	if len(valid) == 0 {
		return nil, fmt.Errorf("bench: the library of %s holds no valid license", devrig.Owner)
	}
	signer := signing.NewSigner(r.Keys[devrig.Window], r.Engine)
	type body struct {
		raw []byte
		sig string
	}
	bodies := make([]body, min(n, distinctBodies))
	for i := range bodies {
		raw, err := json.Marshal(contracts.LicenseVerifyRequest{LicenseID: valid[i%len(valid)], Purpose: fmt.Sprintf("个体工商户设立登记 bench %d", i)})
		if err != nil {
			return nil, err
		}
		sig, err := signing.Sign(signer, r.Engine, raw)
		if err != nil {
			return nil, err
		}
		bodies[i] = body{raw, base64.StdEncoding.EncodeToString(sig)}
	}
	toks := r.Tokens(devrig.Window, "clerk-bench")
	if _, err := toks.Get(); err != nil {
		return nil, err
	}
	client := devrig.LoopbackClient(c)
	defer client.CloseIdleConnections()
	usage0 := len(r.Owner.UsageRecords())

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
	cfg := r.Gateway.Config()
	res := &verifyResult{requests: n, concurrency: c, engine: cfg.Engine, synchronous: cfg.Store.Synchronous, outcomes: map[string]int{}}
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
				tok, err := toks.Get()
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
		if res.usageDelivered = len(r.Owner.UsageRecords()) - usage0; res.usageDelivered >= res.ok {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	res.usageElapsed = time.Since(start)
	return res, nil
}

// verifyOnce posts one signed verification and returns its outcome, or
// the error code (or why there was no answer).
func (r *Rig) verifyOnce(ctx context.Context, client *http.Client, token string, body []byte, sig string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.Base+"/v1/licenses/verify", bytes.NewReader(body))
	if err != nil {
		return "request: " + err.Error()
	}
	h := req.Header
	h.Set("Authorization", "Bearer "+token)
	h.Set("Content-Type", "application/json")
	h.Set("Gw-Signature", sig)
	h.Set("Gw-Key-Id", devrig.Window)
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

func (res *verifyResult) print(w io.Writer) {
	cache := "off"
	if res.cacheTTL > 0 {
		cache = "ttl " + res.cacheTTL.String()
	}
	fmt.Fprintf(w, "tongban bench licenses: closed loop, concurrency %d, %d verifications\n", res.concurrency, res.requests)
	fmt.Fprintf(w, "gateway in process (store synchronous=%s, engine %s, license cache %s, GOMAXPROCS %d); library %s simulated on loopback\n\n",
		res.synchronous, res.engine, cache, runtime.GOMAXPROCS(0), devrig.Owner)
	fmt.Fprintf(w, "verified   %d in %s: %.0f verifications/s\n", len(res.lat), res.elapsed.Round(time.Millisecond), rate(len(res.lat), res.elapsed))
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
	fmt.Fprintf(w, "usage      %d records acknowledged by %s, the last %s after the start\n\n", res.usageDelivered, devrig.Owner, res.usageElapsed.Round(time.Millisecond))
	slices.Sort(res.lat)
	var mx time.Duration
	if len(res.lat) > 0 {
		mx = res.lat[len(res.lat)-1]
	}
	fmt.Fprintf(w, "latency    %7s %9s %9s %9s %9s\n", "n", "p50", "p90", "p99", "max")
	fmt.Fprintf(w, "  verify   %7d %9s %9s %9s %9s\n", len(res.lat), ms(percentile(res.lat, 50)),
		ms(percentile(res.lat, 90)), ms(percentile(res.lat, 99)), ms(mx))
}
