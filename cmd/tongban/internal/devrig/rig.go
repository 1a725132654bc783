package devrig

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tongban/tongban/adapters/mailbox"
	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/cmd/tongban/internal/app"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/catalogue"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/workdays"
	"github.com/tongban/tongban/signing"
)

// The rig's gateway and callers.
const (
	RigGatewayID = "tongban-bench"
	Sender       = "320404" // 钟楼区, submits the cases
	Owner        = "330702" // 婺城区, owns them
	Window       = "window-320404"
	Operator     = "operator"
	Auditor      = "auditor"
	// TokenTTL is the lifetime of the callers' tokens.
	TokenTTL = 5 * time.Minute
)

// Options configure a Rig: its gateway and districts.
type Options struct {
	Dir         string // config, keys and store; required
	Synchronous string // store synchronous: full or normal; "" = the gateway's default
	Engine      string // SM2/SM3 engine name; "" = signing.Default
	LogLevel    string // gateway log level; "" = the gateway's default
	Log         io.Writer
	// Workers is the dispatcher's delivery.workers; 0 = the gateway default.
	Workers int
	// DeliveryCircuit is the gateway's delivery.circuit; zero = the
	// gateway default.
	DeliveryCircuit config.Circuit
	// OwnerFaults are the owner district's initial faults.
	OwnerFaults partnersim.Faults
	// OwnerStyle is the owner district's adapter style; "" = standard.
	OwnerStyle string
	// OnOwnerAck, when set, is told the kind and exchange id of every
	// delivery the owner acknowledged (partnersim.Config.OnAck).
	OnOwnerAck func(kind, exchangeID string)
	// LicenseCacheTTL is the gateway's licenses.cache_ttl; 0 = off.
	LicenseCacheTTL time.Duration
	// NoEvidence runs the gateway with its evidence log off, to measure
	// what the log costs (never in serve or demo).
	NoEvidence bool
	// SpanExporter, when set, receives the gateway's spans, and the
	// gateway's telemetry is installed as the process's global one.
	SpanExporter sdktrace.SpanExporter
	// Version is the version the gateway reports; "" = app.BuildVersion("").
	Version string
	// National adds the simulated national library (NationalID, the
	// fallback library of every region no district declares; Rig.National).
	National bool
	// StoreDSN, when set, puts the gateway on PostgreSQL (store.driver
	// postgres) in schema StoreSchema instead of the embedded store.
	StoreDSN, StoreSchema string
	// Replicas is how many gateways the rig serves on the one PostgreSQL
	// store (StoreDSN): each is opened as serve opens one, in this process,
	// on a port of its own (Rig.Bases). 0 or 1 = one gateway; more than one
	// needs StoreDSN.
	Replicas int
	// RateLimits are the gateway's limits.rate; nil turns them off (the
	// rig's callers send far more than the default per-caller limit).
	RateLimits *config.RateLimits
	// MaxBodyBytes is the gateway's limits.max_body_bytes; 0 = its default.
	MaxBodyBytes int64
	// Console serves the web console (console.enabled).
	Console bool
	// Administration runs the gateway with the example catalogue and
	// calendar (administration.catalogue, .calendar): every submission is
	// checked against the catalogue and accepted cases get a clock.
	Administration bool
}

// Rig is a gateway opened as serve opens one, with two simulated
// districts (Sender 320404, Owner 330702; neither reports status, both
// acknowledge what they receive), with Options.National the simulated
// national library, and three other callers (Operator, Window, Auditor), all on
// loopback in this process.
type Rig struct {
	Dir  string
	Base string // gateway URL, http://127.0.0.1:port
	// Bases are the URLs of every replica (Options.Replicas), Base first.
	Bases []string
	// Replicas are the gateways behind Bases; Gateway is Replicas[0].
	Replicas   []*app.Gateway
	Engine     *signing.Engine
	Keys       map[string]*signing.PrivateKey // by caller id, and GatewayKey
	Gateway    *app.Gateway
	Sender     *partnersim.Sim
	Owner      *partnersim.Sim
	OwnerStyle string
	// National is the simulated national library (Options.National);
	// nil without it.
	National *partnersim.Sim

	cancel context.CancelFunc
	done   []chan error
	sims   *Sims
	simOps simOps // SM2 operations of the simulated districts
}

// SimOps returns the SM2 operations the simulated districts (Sender,
// Owner, National) have made so far; the rest of the engine's count
// (Engine.Ops) is the gateway's and the rig callers'.
func (r *Rig) SimOps() signing.Ops { return r.simOps.read() }

// Endpoint returns the URL of simulated district code's system, as the
// gateway's configuration names it.
func (r *Rig) Endpoint(code string) string { return r.sims.Endpoint(code) }

// Start writes keys and a configuration into o.Dir, starts the simulated
// districts and the gateway, and returns once the gateway listens. Call
// Stop to shut it down.
func Start(ctx context.Context, o Options) (_ *Rig, err error) {
	if o.Dir == "" {
		return nil, errors.New("bench: a directory is required")
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.OwnerStyle == "" {
		o.OwnerStyle = standard.Name
	}
	if o.Replicas > 1 && o.StoreDSN == "" {
		return nil, fmt.Errorf("%d replicas need a PostgreSQL store: the embedded store serves one gateway", o.Replicas)
	}
	if !slices.Contains(partnersim.Styles, o.OwnerStyle) {
		return nil, fmt.Errorf("owner style %q: must be one of %s", o.OwnerStyle, strings.Join(partnersim.Styles, ", "))
	}
	engine := signing.Default
	if o.Engine != "" {
		if engine, err = signing.EngineByName(o.Engine); err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
	}
	r := &Rig{Dir: o.Dir, Engine: engine, OwnerStyle: o.OwnerStyle}
	ids := []string{GatewayKey, Sender, Owner, Operator, Window, Auditor}
	if o.National {
		ids = append(ids, NationalID)
	}
	if r.Keys, err = Keys(o.Dir, ids...); err != nil {
		return nil, err
	}

	if r.sims, err = ListenSims(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			r.sims.Close()
		}
	}()
	var ownerCfg partnersim.Config
	for _, id := range []string{Sender, Owner} {
		kr, err := SimCrypto(id, r.Keys[id], r.Keys[GatewayKey].Public(), engine)
		if err != nil {
			return nil, err
		}
		// No status reports: the districts acknowledge what they receive,
		// so only the case path is measured.
		cfg := partnersim.Config{PartnerID: id, Crypto: r.simOps.count(kr), NoReports: true}
		if id == Owner {
			cfg.Style, cfg.StyleConfig, cfg.Faults = o.OwnerStyle, StyleConfig(o.OwnerStyle, "http://sim.invalid"), o.OwnerFaults
			cfg.Token = func() (string, error) { return kr.IssueToken(RigGatewayID) }
			cfg.OnAck = o.OnOwnerAck
			if o.OwnerStyle == mailbox.Name {
				ownerCfg = cfg // started once the gateway listens
				continue
			}
		}
		sim, err := partnersim.New(cfg)
		if err != nil {
			return nil, err
		}
		if id == Owner {
			r.Owner = sim
		} else {
			r.Sender = sim
		}
		r.sims.Handle(id, sim)
	}
	if o.National {
		kr, err := SimCrypto(NationalID, r.Keys[NationalID], r.Keys[GatewayKey].Public(), engine)
		if err != nil {
			return nil, err
		}
		if r.National, err = partnersim.New(NationalSimConfig(r.simOps.count(kr))); err != nil {
			return nil, err
		}
		r.sims.Handle(NationalID, r.National)
	}

	cfg := Gateway(RigGatewayID, "127.0.0.1:0")
	cfg.Engine = engine.Name()
	cfg.Store.Synchronous = o.Synchronous
	if o.StoreDSN != "" {
		cfg.Store = config.Store{Driver: config.DriverPostgres, DSN: o.StoreDSN, Schema: o.StoreSchema}
	}
	cfg.Delivery.Workers = o.Workers
	cfg.Delivery.Circuit = o.DeliveryCircuit
	cfg.Log.Level = o.LogLevel
	cfg.Licenses.CacheTTL = o.LicenseCacheTTL
	// The rig's load comes from one sender caller, far above the default
	// per-caller rate limit: off unless the caller sets limits (the bench
	// sets them above its load, so the limiter runs but never refuses).
	cfg.Limits.Rate.Off = true
	if o.RateLimits != nil {
		cfg.Limits.Rate = *o.RateLimits
	}
	cfg.Limits.MaxBodyBytes = o.MaxBodyBytes
	// The owner's simulator is also the license library of its region.
	for _, d := range []District{{Sender, "钟楼区", standard.Name}, {Owner, "婺城区", o.OwnerStyle}} {
		p, err := Partner(d, r.sims.Endpoint(d.Code))
		if err != nil {
			return nil, err
		}
		cfg.Partners = append(cfg.Partners, p)
	}
	if o.National {
		p, err := NationalPartner(r.sims.Endpoint(NationalID))
		if err != nil {
			return nil, err
		}
		cfg.Partners = append(cfg.Partners, p)
	}
	cfg.Partners = append(cfg.Partners, Caller(Operator, contracts.RoleOperator), Caller(Window, contracts.RoleWindow, Sender),
		Caller(Auditor, contracts.RoleAuditor))
	cfg.Console.Enabled = o.Console
	if o.Administration {
		for name, data := range map[string][]byte{"catalogue.yaml": catalogue.Example, "calendar.yaml": workdays.Example2026} {
			if err := os.WriteFile(filepath.Join(o.Dir, name), data, 0o644); err != nil {
				return nil, err
			}
		}
		cfg.Administration.Catalogue, cfg.Administration.Calendar = "catalogue.yaml", "calendar.yaml"
	}
	loaded, err := WriteConfig(filepath.Join(o.Dir, "config.yaml"), cfg, 0o600, `Written by "tongban bench" for one run.`, nil)
	if err != nil {
		return nil, err
	}
	gctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var opts []app.Option
	if o.NoEvidence {
		opts = append(opts, app.WithoutEvidence())
	}
	if o.SpanExporter != nil {
		opts = append(opts, app.WithSpanExporter(o.SpanExporter))
	}
	if o.Version != "" {
		opts = append(opts, app.WithVersion(o.Version))
	}
	r.cancel = cancel
	for i := range max(o.Replicas, 1) {
		g, err := app.Open(gctx, loaded, app.NewLogger(o.Log, loaded.Log.Level), opts...)
		if err != nil {
			r.stopGateways()
			return nil, err
		}
		if i == 0 && o.SpanExporter != nil {
			g.Telemetry().Install()
		}
		ready := make(chan string, 1)
		done := make(chan error, 1)
		r.done = append(r.done, done)
		r.Replicas = append(r.Replicas, g)
		go func() { done <- g.Serve(gctx, ready) }()
		select {
		case addr := <-ready:
			if err := LoopbackOnly(addr); err != nil {
				r.stopGateways()
				return nil, err
			}
			r.Bases = append(r.Bases, "http://"+addr)
		case err := <-done:
			r.done = r.done[:len(r.done)-1]
			r.stopGateways()
			return nil, err
		}
	}
	r.Gateway, r.Base = r.Replicas[0], r.Bases[0]
	if ownerCfg.Style == mailbox.Name {
		ownerCfg.GatewayURL = r.Base
		if r.Owner, err = partnersim.New(ownerCfg); err != nil {
			r.stopGateways()
			return nil, err
		}
		r.Owner.Start(gctx)
	}
	return r, nil
}

// Stop shuts the gateways down gracefully and closes the districts.
func (r *Rig) Stop() error {
	err := r.stopGateways()
	r.sims.Close()
	return err
}

// stopGateways cancels the gateways' context and waits until every one
// that serves has stopped; it returns the first error one reported.
func (r *Rig) stopGateways() error {
	r.cancel()
	var first error
	for _, d := range r.done {
		if err := <-d; err != nil && first == nil {
			first = err
		}
	}
	r.done = nil
	return first
}

// Case is one prepared submission from Sender to Owner.
type Case struct {
	ExchangeID string
	Body       []byte
	Sig        string // Gw-Signature
}

// Cases builds and signs n distinct cases from Sender to Owner, spread
// over the machine's cores.
func (r *Rig) Cases(n int) ([]Case, error) { return r.CasesWith(n, nil) }

// CasesWith is Cases whose every case carries material, when not nil,
// inline as its one application material (application/pdf, with its
// SM3), instead of the small demo document.
func (r *Rig) CasesWith(n int, material []byte) ([]Case, error) {
	var m *contracts.Material
	if material != nil {
		m = &contracts.Material{MaterialID: "M01", Name: "经营场所使用证明", MediaType: "application/pdf",
			Size: int64(len(material)), SM3: hex.EncodeToString(r.Engine.SM3(material)), Content: material}
	}
	cases := make([]Case, n)
	signer := signing.NewSigner(r.Keys[Sender], r.Engine)
	now := time.Now().UTC().Truncate(time.Second)
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				id, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
				if err != nil {
					select {
					case errc <- err:
					default:
					}
					return
				}
				sub := Submission(id, now)
				sub.LocalCaseNo = fmt.Sprintf("ZL-BENCH-%07d", i+1)
				if m != nil {
					sub.Materials = []contracts.Material{*m}
				}
				body, err := json.Marshal(sub)
				if err == nil {
					var sig []byte
					if sig, err = signing.Sign(signer, r.Engine, body); err == nil {
						cases[i] = Case{ExchangeID: id, Body: body, Sig: base64.StdEncoding.EncodeToString(sig)}
						continue
					}
				}
				select {
				case errc <- err:
				default:
				}
				return
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return nil, fmt.Errorf("bench: prepare cases: %w", err)
	default:
	}
	return cases, nil
}

// Tokens hands out a caller's bearer token, minting a new one only when
// the current one has less than a minute left.
type Tokens struct {
	signer          signing.Signer
	caller, subject string
	mu              sync.Mutex
	tok             string
	exp             time.Time
}

// Tokens returns the token source of caller (whose key id is its id),
// naming subject as the person acting.
func (r *Rig) Tokens(caller, subject string) *Tokens {
	return &Tokens{signer: signing.NewSigner(r.Keys[caller], r.Engine), caller: caller, subject: subject}
}

// Get returns a token with at least a minute left.
func (t *Tokens) Get() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now := time.Now(); t.tok == "" || now.After(t.exp.Add(-time.Minute)) {
		jti, err := contracts.NewUUIDv7(now, rand.Reader)
		if err != nil {
			return "", err
		}
		tok, err := signing.IssueToken(t.signer, signing.TokenRequest{
			KeyID: t.caller, Issuer: t.caller, Subject: t.subject,
			Audience: RigGatewayID, TTL: TokenTTL, ID: jti, Now: now,
		})
		if err != nil {
			return "", err
		}
		t.tok, t.exp = tok, now.Add(TokenTTL)
	}
	return t.tok, nil
}
