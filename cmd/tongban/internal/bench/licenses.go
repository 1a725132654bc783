package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
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
	Rate                       float64       // verifications offered per second; 0 = closed loop
	Duration                   time.Duration // 0 = until Verifications are sent
	CacheTTL                   time.Duration // the gateway's license cache; 0 = off
	Drain                      time.Duration // the wait for the usage records
	CPUProfile                 string
	Setup
}

// Validate checks the run's bounds; errors name the command's flag.
func (o LicensesOptions) Validate() error {
	switch {
	case o.Verifications < 1 || o.Verifications > MaxVerifications:
		return fmt.Errorf("--verifications %d must be 1 to %d", o.Verifications, MaxVerifications)
	case o.Concurrency < 1 || o.Concurrency > MaxConcurrent:
		return fmt.Errorf("--concurrency %d must be 1 to %d", o.Concurrency, MaxConcurrent)
	case o.Rate < 0 || o.Rate > MaxRate || math.IsNaN(o.Rate):
		return fmt.Errorf("--rate %v must be 0 (closed loop) to %d", o.Rate, MaxRate)
	case o.Duration < 0 || o.Duration > MaxDuration:
		return fmt.Errorf("--duration %s must be 0 to %s", o.Duration, MaxDuration)
	case o.CacheTTL < 0 || o.CacheTTL > MaxCacheTTL:
		return fmt.Errorf("--cache-ttl %s must be 0 (off) to 10m", o.CacheTTL)
	case o.Drain <= 0 || o.Drain > MaxDuration:
		return fmt.Errorf("--drain %s must be positive and at most %s", o.Drain, MaxDuration)
	}
	return o.Setup.validate()
}

// load is o as a Load for offer.
func (o LicensesOptions) load() Load {
	return Load{Cases: o.Verifications, Concurrency: o.Concurrency, Rate: o.Rate, Duration: o.Duration, Drain: o.Drain, CPUProfile: o.CPUProfile}
}

// RunLicenses runs the rig in a temporary directory, measures the
// engine's raw rates, sends lookups straight to the simulated library
// (unless o.NoDirect) and then o's verifications through the gateway,
// writes the report to w (and o.JSON), and returns a *Failure when a
// verification failed or was not valid, or a usage record did not reach
// the issuer within o.Drain.
func RunLicenses(ctx context.Context, w io.Writer, o LicensesOptions) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
	r, stop, err := startSetup(ctx, o.Setup, func(ro *devrig.Options) { ro.LicenseCacheTTL = o.CacheTTL })
	if err != nil {
		return err
	}
	defer stop()
	rep := r.newReport("licenses", o.load(), o.Setup)
	if o.CacheTTL > 0 {
		rep.Setup.CacheTTL = o.CacheTTL.String()
	} else {
		rep.Setup.CacheTTL = "off"
	}
	if rep.Crypto, err = measureCrypto(ctx, r.Engine, r.Keys[devrig.GatewayKey], CryptoWindow); err != nil {
		return err
	}
	valid, err := r.validLicenses()
	if err != nil {
		return err
	}
	if !o.NoDirect {
		d, err := r.directLookups(ctx, o, valid)
		if err != nil {
			return err
		}
		d.Ceiling = ceiling(d.Ceiling.Ops, rep.Crypto, d.CompletedPerSec)
		rep.Direct = d
	}
	g, st, err := r.runVerifications(ctx, o, valid)
	if err != nil {
		return err
	}
	g.Ceiling = ceiling(g.Ceiling.Ops, rep.Crypto, g.CompletedPerSec)
	rep.Gateway, rep.Store = *g, st
	rep.compare(o.Rate)
	rep.print(w)
	if err := rep.writeJSON(o.JSON); err != nil {
		return err
	}
	if g.Refused > 0 || g.Accepted < g.Sent || g.Completed < g.Accepted {
		return &Failure{fmt.Sprintf("bench: %d verifications failed or were not valid; %d of %d usage records reached the issuer within --drain %s",
			g.Sent-g.Accepted, g.Completed, g.Accepted, o.Drain)}
	}
	return nil
}

// validLicenses returns the ids of the valid demo licenses of the
// owner's library.
func (r *Rig) validLicenses() ([]string, error) {
	var valid []string
	for _, rec := range r.Owner.Licenses() {
		if role, ok := partnersim.DemoRoleOf(rec); ok && role.Outcome() == contracts.LicenseOutcomeValid {
			valid = append(valid, rec.LicenseID)
		}
	}
	if len(valid) == 0 {
		return nil, fmt.Errorf("bench: the library of %s holds no valid license", devrig.Owner)
	}
	return valid, nil
}

// runVerifications signs up to distinctBodies verification requests for
// the valid licenses, offers o's load of them through the gateway, and
// waits up to o.Drain for their usage records to reach the issuer.
func (r *Rig) runVerifications(ctx context.Context, o LicensesOptions, valid []string) (*PathResult, *StoreWork, error) {
	signer := signing.NewSigner(r.Keys[devrig.Window], r.Engine)
	bodies := make([]devrig.Case, min(o.Verifications, distinctBodies))
	for i := range bodies {
		raw, err := json.Marshal(contracts.LicenseVerifyRequest{LicenseID: valid[i%len(valid)], Purpose: fmt.Sprintf("个体工商户设立登记 bench %d", i)})
		if err != nil {
			return nil, nil, err
		}
		sig, err := signing.Sign(signer, r.Engine, raw)
		if err != nil {
			return nil, nil, err
		}
		bodies[i] = devrig.Case{Body: raw, Sig: base64.StdEncoding.EncodeToString(sig)}
	}
	toks := r.Tokens(devrig.Window, "clerk-bench")
	if _, err := toks.Get(); err != nil {
		return nil, nil, err
	}
	client := devrig.LoopbackClient(o.Concurrency)
	defer client.CloseIdleConnections()
	usage0 := len(r.Owner.UsageRecords())
	stopProfile, err := startProfile(o.CPUProfile)
	if err != nil {
		return nil, nil, err
	}
	defer stopProfile()
	var outcomes sync.Map // outcome → *atomic.Int64
	count := func(k string) {
		v, _ := outcomes.LoadOrStore(k, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	runtime.GC()
	resetPeakRSS()
	m0 := r.measure()
	start := time.Now()
	usageNow := func() int { return len(r.Owner.UsageRecords()) - usage0 }
	prog := startProgress(o.Progress, "gateway", o.Verifications, usageNow, "usage records back")
	out := offer(ctx, o.load(), o.Verifications, start, func(ctx context.Context, i int) string {
		tok, err := toks.Get()
		if err != nil {
			return "token: " + err.Error()
		}
		b := &bodies[i%len(bodies)]
		outcome := r.verifyOnce(ctx, client, r.Bases[i%len(r.Bases)], tok, b.Body, b.Sig)
		count(outcome)
		if outcome == string(contracts.LicenseOutcomeValid) {
			return ""
		}
		return outcome
	}, prog)
	res := &PathResult{Sent: out.ok + out.failed, Accepted: out.ok, Refused: out.failed, Errors: out.errors,
		AcceptedPerSec: rate(out.ok, out.lastOK), Latency: map[string]Latency{"verify → signed result": summarise(out.lat)},
		Outcomes: map[string]int{}}
	if o.Rate > 0 {
		res.Latency["(bench's own send lag)"] = summarise(out.lag)
	}
	outcomes.Range(func(k, v any) bool { res.Outcomes[k.(string)] = int(v.(*atomic.Int64).Load()); return true })
	var back int
	for drainUntil := time.Now().Add(o.Drain); ctx.Err() == nil && time.Now().Before(drainUntil); time.Sleep(2 * time.Millisecond) {
		if back = usageNow(); back >= out.ok {
			break
		}
	}
	elapsed := max(time.Since(start), out.lastOK)
	prog.end()
	stopProfile()
	m1 := r.measure()
	res.Completed = min(back, out.ok)
	res.CompletedPerSec, res.Elapsed = rate(res.Completed, elapsed), elapsed.Seconds()
	res.Resources, res.Ceiling.Ops = r.since(m0, res.Completed)
	return res, storeWork(m0.store, m1.store, res.Completed, elapsed), nil
}

// directLookups sends o's load of license lookups straight to the
// simulated library, each built as the gateway builds one for a
// verification and signed with the gateway's key before the clock starts,
// so the library verifies and answers it exactly as it does the
// gateway's. The client checks the answer's status only.
func (r *Rig) directLookups(ctx context.Context, o LicensesOptions, valid []string) (*PathResult, error) {
	signer := signing.NewSigner(r.Keys[devrig.GatewayKey], r.Engine)
	bodies := make([]devrig.Case, min(o.Verifications, distinctBodies))
	now := time.Now()
	if err := parallel(len(bodies), func(i int) error {
		id, err := contracts.NewUUIDv7(now, rand.Reader)
		if err != nil {
			return err
		}
		raw, err := json.Marshal(contracts.LicenseLookupRequest{ExchangeID: id, LicenseID: valid[i%len(valid)],
			RequesterRegion: devrig.Sender, Purpose: fmt.Sprintf("个体工商户设立登记 bench %d", i)})
		if err != nil {
			return err
		}
		sig, err := signing.Sign(signer, r.Engine, raw)
		if err != nil {
			return err
		}
		bodies[i] = devrig.Case{Body: raw, Sig: base64.StdEncoding.EncodeToString(sig)}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("bench: prepare direct lookups: %w", err)
	}
	url := r.Endpoint(devrig.Owner) + "/licenses/lookup"
	return r.direct(ctx, o.load(), o.Progress, o.Verifications, url, func(i int) *devrig.Case { return &bodies[i%len(bodies)] }), nil
}

// verifyOnce posts one signed verification to the gateway at base and
// returns its outcome, or "error " and the error code (or why there was
// no answer).
func (r *Rig) verifyOnce(ctx context.Context, client *http.Client, base, token string, body []byte, sig string) string {
	raw, problem := call(ctx, client, base+"/v1/licenses/verify", token, devrig.Window, &devrig.Case{Body: body, Sig: sig})
	switch problem {
	case "":
	case "cancelled", "transport error", "reading answer":
		return problem
	default:
		return "error " + problem
	}
	var res struct {
		Outcome string `json:"outcome"`
	}
	if json.Unmarshal(raw, &res) != nil {
		return "malformed answer"
	}
	return res.Outcome
}
