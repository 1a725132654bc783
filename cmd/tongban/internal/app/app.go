// Package app is the tongban gateway application, as `tongban serve` runs
// it: Open builds a gateway from its configuration (its keys, each
// partner's adapter, the store, the telemetry and the node's core) and
// Serve runs it (the HTTP API, the outbox dispatcher, the evidence
// checkpointer) until its context ends, then shuts it down in order. The
// demo, the bench and the end-to-end tests open their gateways here too,
// so that what they run is what serve runs.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/gateway/licensecache"
	"github.com/tongban/tongban/gateway/licenses"
	"github.com/tongban/tongban/gateway/node"
	"github.com/tongban/tongban/gateway/outbox"
	"github.com/tongban/tongban/gateway/sealed"
	"github.com/tongban/tongban/gateway/telemetry"
	"github.com/tongban/tongban/gateway/tlsconf"
	"github.com/tongban/tongban/signing"
)

// Gateway is one gateway: its store, keys, partners, core and telemetry.
// Serve runs it once; a gateway that is not served is released with
// Close.
type Gateway struct {
	cfg     *config.Config
	log     *slog.Logger
	version string
	store   Store
	keys    *keyring.Keyring
	dir     *gateway.Directory
	core    *node.Core
	disp    *outbox.Dispatcher
	tel     *telemetry.Telemetry
	// serverTLS is the listener's TLS (nil: plain HTTP); serverCerts its
	// certificates, whose expiry /readyz watches with the partners'.
	serverTLS   *tls.Config
	serverCerts []tlsconf.Expiry
	// live is the configuration in force and what its partners built to
	// (keys, adapters, client certificate binding); a reload replaces it.
	// changes is held by every change to what is in force: a reload, a
	// key added or revoked at runtime.
	live    atomic.Pointer[liveConfig]
	changes sync.Mutex
	// cfgPath is the configuration file a reload reads (WithConfigPath);
	// "" when the gateway was not opened from a file.
	cfgPath string
	// keyAdmin lists, adds and revokes caller keys for operators.
	keyAdmin *keyring.Admin
	// clock, evidence and recorder make and keep the records of reloads.
	clock    gateway.Clock
	evidence gateway.EvidenceLog
	recorder gateway.Recorder
	// unobserve unregisters the gauges that read the store.
	unobserve []func() error
	// admin is the administration loaded (catalogue, calendar).
	admin *administration
	// gwPub is the gateway's current public key (the console checks
	// uploaded evidence bundles against it).
	gwPub     *signing.PublicKey
	closeOnce sync.Once
}

// options are what Open takes besides the configuration.
type options struct {
	clock      gateway.Clock
	noEvidence bool
	version    string
	telemetry  []telemetry.Option
	configPath string
	stats      telemetry.HistoryOptions
}

// An Option changes how Open builds a gateway.
type Option func(*options)

// WithSpanExporter adds exp to the gateway's span exporters (tests read
// the gateway's spans with an in-memory one).
func WithSpanExporter(exp sdktrace.SpanExporter) Option {
	return func(o *options) { o.telemetry = append(o.telemetry, telemetry.WithSpanExporter(exp)) }
}

// WithStatsHistory configures the history of the gateway's own metrics
// (GET /v1/admin/stats) as h instead of the defaults; tests tick it by
// hand (HistoryOptions.Ticker). Without h.OnError, failed samples are
// logged.
func WithStatsHistory(h telemetry.HistoryOptions) Option { return func(o *options) { o.stats = h } }

// WithoutEvidence opens the gateway with its evidence log off: only the
// benchmarks that measure the log's cost use it (node.Options
// .NoEvidence); serve and demo never do.
func WithoutEvidence() Option { return func(o *options) { o.noEvidence = true } }

// WithClock runs the gateway's core on clock c instead of the system
// clock: deadlines, notices, deliveries' times and evidence times follow
// it (tests run the statutory clock for years in milliseconds; the demo
// moves it forward to show a deadline warning).
func WithClock(c gateway.Clock) Option { return func(o *options) { o.clock = c } }

// WithConfigPath names the file cfg was loaded from (config.Load), which
// a reload reads again (Reload, SIGHUP in serve). Without it the gateway
// refuses to reload.
func WithConfigPath(path string) Option { return func(o *options) { o.configPath = path } }

// WithVersion sets the version the gateway reports (/healthz, the
// telemetry's service.version, its gateway.started record); without it,
// BuildVersion("").
func WithVersion(v string) Option { return func(o *options) { o.version = v } }

// Open builds a gateway from its configuration: it loads the keys, builds
// each partner's adapter through the registry, opens the store (which
// refuses a file another store holds, sqlite.ErrLocked, naming the file)
// and sets up its telemetry, not installed globally (serve and demo call
// Telemetry().Install). It writes no evidence: the gateway.started record
// is Serve's, once the listener is bound.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger, opts ...Option) (*Gateway, error) {
	var oo options
	for _, o := range opts {
		o(&oo)
	}
	if oo.version == "" {
		oo.version = BuildVersion("")
	}
	engine, err := signing.EngineByName(cfg.Engine)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	sealer, err := loadSealer(cfg)
	if err != nil {
		return nil, err
	}
	key, err := LoadPrivateKey(cfg.Resolve(cfg.SigningKey.Path), cfg.Resolve(cfg.SigningKey.PasswordFile))
	if err != nil {
		return nil, fmt.Errorf("signing_key: %w", err)
	}
	previous, err := PreviousKeys(cfg)
	if err != nil {
		return nil, err
	}
	keys, err := keyring.New(keyring.Options{
		GatewayID: cfg.GatewayID, Signer: signing.NewSigner(key, engine), SignerKeyID: cfg.SigningKey.KeyID,
		Engine: engine, MaxTokenLifetime: cfg.Limits.TokenMaxLifetime, Leeway: cfg.Limits.TokenLeeway, Previous: previous,
	})
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, log: log, version: oo.version, keys: keys, gwPub: key.Public(), cfgPath: oo.configPath}
	if g.admin, err = loadAdministration(cfg, keys.SM3Hex); err != nil {
		return nil, err
	}
	now := time.Now()
	if err := g.loadTLS(now); err != nil {
		return nil, err
	}
	set, err := buildPartners(cfg, keys, now)
	if err != nil {
		return nil, err
	}
	g.live.Store(&liveConfig{cfg: cfg, set: set})
	if _, _, err := keys.Sync(set.keys); err != nil {
		g.Close()
		return nil, fmt.Errorf("partners: %w", err)
	}
	if g.dir, err = gateway.NewDirectory(set.partners); err != nil {
		g.Close()
		return nil, fmt.Errorf("partners: %w", err)
	}
	g.store, err = openStore(ctx, cfg, evidence.Linker{SM3: keys.SM3Hex})
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := g.store.SetPullPartners(ctx, g.dir.PullPartners()); err != nil {
		g.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := g.openTelemetry(ctx, oo.stats, oo.telemetry...); err != nil {
		g.Close()
		return nil, err
	}
	var cache licenses.Cache
	if cfg.Licenses.CacheTTL > 0 {
		c, err := licensecache.New(cfg.Licenses.CacheSize, cfg.Licenses.CacheTTL)
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("licenses: %w", err)
		}
		cache = c
	}
	var core gateway.Store = g.store
	if sealer != nil {
		core = sealed.Wrap(g.store, sealer)
		log.Info("personal data sealed at rest", "data_key", sealer.CurrentKey(), "data_keys", len(sealer.KeyIDs()))
	} else {
		log.Warn("personal data stored in the clear: data_keys.disabled is true")
	}
	g.core, err = node.New(node.Options{
		Store: core, Crypto: keys, Directory: g.dir, Log: log, GatewayID: cfg.GatewayID, NoEvidence: oo.noEvidence,
		AllowHTTPMaterialURLs: cfg.Limits.AllowHTTPMaterialURLs, Administration: g.admin.cases, Clock: oo.clock,
		Telemetry: gateway.Telemetry{Traces: g.tel.TracerProvider(), Metrics: g.tel.MeterProvider()}, LicenseCache: cache,
		Dispatcher: outbox.DispatcherOptions{Workers: cfg.Delivery.Workers, Batch: cfg.Delivery.Batch, Lease: cfg.Delivery.Lease, Poll: cfg.Delivery.Poll,
			PerPartner: cfg.Delivery.PerPartnerLimit(), Circuit: cfg.Delivery.Circuit.Policy(config.DefaultDeliveryCooldown)},
		LicenseCircuit: cfg.Licenses.Circuit.Policy(config.DefaultLibraryCooldown),
	})
	if err != nil {
		g.Close()
		return nil, err
	}
	g.disp = g.core.Outbox.Dispatcher()
	g.clock, g.evidence, g.recorder = oo.clock, core, evidence.Recorder{Crypto: keys, Off: oo.noEvidence}
	if g.clock == nil {
		g.clock = gateway.SystemClock{}
	}
	g.keyAdmin, err = keyring.NewAdmin(keyring.AdminOptions{Keys: keys, Directory: g.dir, Evidence: core,
		Env:    gateway.Env{Clock: g.clock, Log: log, Recorder: g.recorder},
		KeyCAs: func() []*signing.Certificate { return g.live.Load().set.keyCAs }, Lock: &g.changes})
	if err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// loadTLS loads the listener's TLS, refusing certificates not valid at
// now (the client certificate binding is the partners': buildPartners).
func (g *Gateway) loadTLS(now time.Time) error {
	if g.cfg.TLS == nil {
		return nil
	}
	var err error
	g.serverTLS, g.serverCerts, err = tlsconf.Server(g.cfg.TLS, g.cfg.Resolve, now)
	return err
}

// TLS returns the listener's TLS configuration, nil when the gateway
// serves plain HTTP.
func (g *Gateway) TLS() *tls.Config { return g.serverTLS }

// calls reports whether adapter a makes calls to its partner (delivers,
// looks licenses up), which a partner's tls section configures.
func calls(a adapters.Adapter) bool {
	_, c := adapters.CaseDelivererOf(a)
	_, s := adapters.StatusDelivererOf(a)
	_, l := adapters.LicenseSourceOf(a)
	_, u := adapters.UsageDelivererOf(a)
	return c || s || l || u
}

// loadSealer returns the sealer of the configured data key file, nil when
// sealing is disabled; it refuses a configuration that says neither.
func loadSealer(cfg *config.Config) (*signing.Sealer, error) {
	switch {
	case !cfg.DataKeys.Configured():
		return nil, errors.New("data_keys: not set; name a data key file (data_keys: {path: keys/datakeys.json}, made by tongban keys init) or, for tests only, data_keys: {disabled: true}")
	case cfg.DataKeys.Disabled:
		return nil, nil
	}
	s, err := signing.LoadSealer(cfg.Resolve(cfg.DataKeys.Path))
	if err != nil {
		return nil, fmt.Errorf("data_keys.path: %w", err)
	}
	return s, nil
}

// wire gives partner p what its adapter a can do: push each kind of
// delivery (cases, status updates), pull them (a mailbox), and read calls
// in the partner's own format. A kind the adapter does not deliver stays
// nil: the outbox refuses such deliveries permanently, with a reason an
// operator can act on.
func wire(p *gateway.Partner, a adapters.Adapter) {
	if c, ok := adapters.CaseDelivererOf(a); ok {
		p.Cases = c
	}
	if st, ok := adapters.StatusDelivererOf(a); ok {
		p.Statuses = st
	}
	if n, ok := adapters.NoticeDelivererOf(a); ok {
		p.Notices = n
	}
	if pl, ok := adapters.PullerOf(a); ok {
		p.Mailbox = &gateway.MailboxPolicy{Visibility: pl.Mailbox().VisibilityTimeout}
	}
	if tr, ok := adapters.TranslatorOf(a); ok {
		p.Translator = tr
	}
}

// libraryOf builds the partner's license library from its config entry,
// with a the partner's adapter, which must be able to look licenses up. Its
// usage records go back through the same adapter when it can take them, in
// batches of up to license_library.usage_batch (its default when the
// adapter sends batches) or one by one.
func libraryOf(pc config.Partner, a adapters.Adapter) (*gateway.Library, error) {
	if pc.Library == nil {
		return nil, nil
	}
	src, ok := adapters.LicenseSourceOf(a)
	if !ok {
		return nil, fmt.Errorf("license_library: adapter %q cannot look licenses up (as configured)", pc.Adapter)
	}
	l := &gateway.Library{Regions: pc.Library.Regions, Types: pc.Library.Types, Fallback: pc.Library.Fallback,
		Timeout: pc.Library.Timeout, Source: src}
	if u, ok := adapters.UsageDelivererOf(a); ok {
		l.Usage = u
	}
	b, batches := adapters.UsageBatchDelivererOf(a)
	if l.UsageBatch = pc.Library.UsageBatchOr(batches); l.UsageBatch > 1 {
		if !batches {
			return nil, fmt.Errorf("license_library.usage_batch: adapter %q cannot pass usage records in batches (as configured); set 1", pc.Adapter)
		}
		l.Batches = b
	}
	return l, nil
}

// Close releases what Open took: the gauges, the adapters, the store and
// the telemetry (flushed, for at most 5 s). Serve closes the gateway when
// it returns; Close is for a gateway that is not served, and may be
// called more than once.
func (g *Gateway) Close() {
	g.closeOnce.Do(func() {
		for _, u := range g.unobserve {
			_ = u()
		}
		g.unobserve = nil
		if l := g.live.Load(); l != nil {
			l.set.close()
		}
		if g.store != nil {
			if err := g.store.Close(); err != nil {
				g.log.Error("closing store", "err", err)
			}
		}
		if g.tel != nil {
			ctx, cancel := context.WithTimeout(context.Background(), telemetryFlushTimeout)
			defer cancel()
			if err := g.tel.Shutdown(ctx); err != nil {
				g.log.Warn("flushing telemetry", "err", err)
			}
		}
	})
}

// Config returns the configuration the gateway was opened with.
func (g *Gateway) Config() *config.Config { return g.cfg }

// Store returns the gateway's store.
func (g *Gateway) Store() Store { return g.store }

// Keys returns the gateway's keyring: its own key and every caller's.
func (g *Gateway) Keys() *keyring.Keyring { return g.keys }

// Directory returns the gateway's partners.
func (g *Gateway) Directory() *gateway.Directory { return g.dir }

// Core returns the node's core: cases, licenses, outbox, auditor.
func (g *Gateway) Core() *node.Core { return g.core }

// Dispatcher returns the outbox's dispatcher, which Serve runs (a
// benchmark may run it alone on a gateway it does not serve).
func (g *Gateway) Dispatcher() *outbox.Dispatcher { return g.disp }

// Telemetry returns the gateway's tracer and meter providers.
func (g *Gateway) Telemetry() *telemetry.Telemetry { return g.tel }

// Version returns the version the gateway reports.
func (g *Gateway) Version() string { return g.version }
