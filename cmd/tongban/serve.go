package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/httpapi"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/gateway/licensecache"
	"github.com/tongban/tongban/gateway/licenses"
	"github.com/tongban/tongban/gateway/node"
	"github.com/tongban/tongban/gateway/outbox"
	"github.com/tongban/tongban/gateway/store/sqlite"
	"github.com/tongban/tongban/gateway/telemetry"
	"github.com/tongban/tongban/signing"
)

func newServeCmd() *cobra.Command {
	var path string
	c := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the gateway with a YAML configuration",
		Long: `Run the gateway: the v1 HTTP API, the outbox dispatcher that delivers every
case and status update until the partner acknowledges it, and the embedded
store. Invalid configuration fails at start with a message naming the field.
SIGINT or SIGTERM shut down gracefully: requests in flight and delivery
attempts in flight finish, then the store closes.

Environment overrides: ` + fmt.Sprint(config.EnvNames()) + `.
See deploy/config.example.yaml for every setting.`,
		Example: "  tongban serve --config /etc/tongban/config.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return errors.New("--config FILE is required")
			}
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			g, err := openGateway(ctx, cfg, newLogger(cmd.ErrOrStderr(), cfg.Log.Level))
			if err != nil {
				return err
			}
			g.tel.Install()
			return g.serve(ctx, nil)
		},
	}
	c.Flags().StringVar(&path, "config", "", "YAML configuration file (required)")
	return c
}

// newLogger returns the JSON logger at level: lines logged with a request's
// context carry its request_id and trace_id, and identity numbers are
// masked (telemetry.NewLogHandler).
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})))
}

// gatewayProc is one running gateway: store, keys, partners, core, HTTP.
type gatewayProc struct {
	cfg     *config.Config
	log     *slog.Logger
	store   *sqlite.Store
	keys    *keyring.Keyring
	dir     *gateway.Directory
	core    *node.Core
	disp    *outbox.Dispatcher
	tel     *telemetry.Telemetry
	closers []io.Closer
	// unobserve unregisters the gauges that read the store.
	unobserve []func() error
}

// openOptions are what openGateway takes besides the configuration.
type openOptions struct {
	noEvidence bool
	telemetry  []telemetry.Option
}

// withSpanExporter adds exp to the gateway's span exporters (tests read
// the gateway's spans with an in-memory one).
func withSpanExporter(exp sdktrace.SpanExporter) openOption {
	return func(o *openOptions) { o.telemetry = append(o.telemetry, telemetry.WithSpanExporter(exp)) }
}

// openOption sets an openOptions field.
type openOption func(*openOptions)

// withoutEvidence opens the gateway with its evidence log off: only the
// benchmarks that measure the log's cost use it (node.Options
// .NoEvidence); serve and demo never do.
func withoutEvidence() openOption { return func(o *openOptions) { o.noEvidence = true } }

// openGateway builds a gateway from its configuration: it loads the keys,
// builds each partner's adapter through the registry, opens the store and
// sets up its telemetry (not installed globally: serve and demo call
// g.tel.Install).
func openGateway(ctx context.Context, cfg *config.Config, log *slog.Logger, opts ...openOption) (*gatewayProc, error) {
	var oo openOptions
	for _, o := range opts {
		o(&oo)
	}
	engine, err := signing.EngineByName(cfg.Engine)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	key, err := loadPrivateKey(cfg.Resolve(cfg.SigningKey.Path), cfg.Resolve(cfg.SigningKey.PasswordFile))
	if err != nil {
		return nil, fmt.Errorf("signing_key: %w", err)
	}
	previous, err := previousKeys(cfg)
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
	g := &gatewayProc{cfg: cfg, log: log, keys: keys}
	var partners []*gateway.Partner
	for i, pc := range cfg.Partners {
		kids := make([]string, 0, len(pc.Keys))
		for kid := range pc.Keys {
			kids = append(kids, kid)
		}
		sort.Strings(kids)
		for _, kid := range kids {
			pub, err := keyring.LoadPublicKeyFile(cfg.Resolve(pc.Keys[kid]))
			if err != nil {
				return nil, fmt.Errorf("partners[%d].keys.%s: %w", i, kid, err)
			}
			if err := keys.AddKey(pc.ID, kid, pub); err != nil {
				return nil, fmt.Errorf("partners[%d].keys.%s: %w", i, kid, err)
			}
		}
		p := &gateway.Partner{ID: pc.ID, Regions: pc.Regions, Timeout: pc.Timeout, Retry: gateway.RetryPolicy{
			MaxAttempts: pc.Retry.MaxAttempts, MaxAge: pc.Retry.MaxAge, BaseDelay: pc.Retry.BaseDelay, MaxDelay: pc.Retry.MaxDelay,
		}}
		for _, r := range pc.Roles {
			p.Roles = append(p.Roles, contracts.Role(r))
		}
		if pc.Adapter != "" {
			raw, err := pc.AdapterConfig()
			if err != nil {
				return nil, fmt.Errorf("partners[%d].config: %w", i, err)
			}
			a, err := adapters.New(pc.Adapter, adapters.Params{PartnerID: pc.ID, Config: raw, Crypto: keys, Timeout: pc.Timeout})
			if err != nil {
				g.close()
				return nil, fmt.Errorf("partners[%d] (%s): adapter: %w", i, pc.ID, err)
			}
			if c, ok := a.(io.Closer); ok {
				g.closers = append(g.closers, c)
			}
			wire(p, a)
			if p.Library, err = libraryOf(pc, a); err != nil {
				g.close()
				return nil, fmt.Errorf("partners[%d] (%s): %w", i, pc.ID, err)
			}
		}
		partners = append(partners, p)
	}
	if g.dir, err = gateway.NewDirectory(partners); err != nil {
		g.close()
		return nil, fmt.Errorf("partners: %w", err)
	}
	// serve owns its store file: deliveries a killed process left in flight
	// are due again at once rather than after their lease.
	g.store, err = sqlite.Open(ctx, sqlite.Options{Path: cfg.Resolve(cfg.Store.Path), Synchronous: cfg.Store.Synchronous, ReleaseLeases: true,
		Linker: evidence.Linker{SM3: keys.SM3Hex}})
	if err != nil {
		g.close()
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := g.store.SetPullPartners(ctx, g.dir.PullPartners()); err != nil {
		g.close()
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := g.openTelemetry(ctx, oo.telemetry...); err != nil {
		g.close()
		return nil, err
	}
	var cache licenses.Cache
	if cfg.Licenses.CacheTTL > 0 {
		c, err := licensecache.New(cfg.Licenses.CacheSize, cfg.Licenses.CacheTTL)
		if err != nil {
			g.close()
			return nil, fmt.Errorf("licenses: %w", err)
		}
		cache = c
	}
	g.core, err = node.New(node.Options{
		Store: g.store, Crypto: keys, Directory: g.dir, Log: log, GatewayID: cfg.GatewayID, NoEvidence: oo.noEvidence,
		Telemetry: gateway.Telemetry{Traces: g.tel.TracerProvider(), Metrics: g.tel.MeterProvider()}, LicenseCache: cache,
		Dispatcher: outbox.DispatcherOptions{Workers: cfg.Delivery.Workers, Batch: cfg.Delivery.Batch, Lease: cfg.Delivery.Lease, Poll: cfg.Delivery.Poll},
	})
	if err != nil {
		g.close()
		return nil, err
	}
	g.disp = g.core.Outbox.Dispatcher()
	if err := g.core.Auditor.RecordStart(ctx, buildVersion(), keys.SM3Hex(cfg.Source())); err != nil {
		g.close()
		return nil, err
	}
	return g, nil
}

// previousKeys loads the gateway's earlier public keys
// (signing_key.previous).
func previousKeys(cfg *config.Config) (map[string]*signing.PublicKey, error) {
	out := map[string]*signing.PublicKey{}
	for kid, path := range cfg.SigningKey.Previous {
		pub, err := keyring.LoadPublicKeyFile(cfg.Resolve(path))
		if err != nil {
			return nil, fmt.Errorf("signing_key.previous.%s: %w", kid, err)
		}
		out[kid] = pub
	}
	return out, nil
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
	if pl, ok := adapters.PullerOf(a); ok {
		p.Mailbox = &gateway.MailboxPolicy{Visibility: pl.Mailbox().VisibilityTimeout}
	}
	if tr, ok := adapters.TranslatorOf(a); ok {
		p.Translator = tr
	}
}

// libraryOf builds the partner's license library from its config entry,
// with a the partner's adapter, which must be able to look licenses up. Its
// usage records go back through the same adapter when it can take them.
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
	return l, nil
}

// openTelemetry builds the gateway's tracer and meter providers from the
// telemetry section and registers the gauges read from the store.
func (g *gatewayProc) openTelemetry(ctx context.Context, opts ...telemetry.Option) error {
	tc := g.cfg.Telemetry
	ratio := telemetry.DefaultSamplingRatio
	if tc.SamplingRatio != nil {
		ratio = *tc.SamplingRatio
	}
	var err error
	g.tel, err = telemetry.New(ctx, telemetry.Config{
		Exporter: tc.Exporter, Endpoint: tc.Endpoint, Insecure: tc.Insecure,
		ServiceName: tc.ServiceName, ServiceVersion: buildVersion(), SamplingRatio: ratio,
	}, opts...)
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	// Queue depth: deliveries by transport state, every state reported
	// (zero included) so that an alert on dead > 0 has a series to watch.
	unregister, err := g.tel.Observe("tongban.outbox.deliveries", "{delivery}",
		"Deliveries in the outbox by transport state (dead: dead letters).",
		func(ctx context.Context, record func(int64, ...attribute.KeyValue)) error {
			counts, err := g.store.CountByState(ctx)
			if err != nil {
				return err
			}
			for _, st := range transportStates {
				record(int64(counts[st]), attribute.String("transport_state", string(st)))
			}
			return nil
		})
	if err != nil {
		return err
	}
	g.unobserve = append(g.unobserve, unregister)
	unregister, err = g.tel.Observe("tongban.evidence.head", "{record}",
		"Sequence number of the evidence log's last record.",
		func(ctx context.Context, record func(int64, ...attribute.KeyValue)) error {
			seq, _, err := g.store.EvidenceHead(ctx)
			if err != nil {
				return err
			}
			record(seq)
			return nil
		})
	if err != nil {
		return err
	}
	g.unobserve = append(g.unobserve, unregister)
	return nil
}

// transportStates are the states the queue depth gauge reports.
var transportStates = []contracts.TransportState{
	contracts.TransportStatePending, contracts.TransportStateInFlight, contracts.TransportStateRetryWait,
	contracts.TransportStateDead, contracts.TransportStateDelivered, contracts.TransportStateCancelled,
}

func (g *gatewayProc) close() {
	for _, u := range g.unobserve {
		_ = u()
	}
	g.unobserve = nil
	for _, c := range g.closers {
		c.Close()
	}
	if g.store != nil {
		if err := g.store.Close(); err != nil {
			g.log.Error("closing store", "err", err)
		}
	}
	if g.tel != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.tel.Shutdown(ctx); err != nil {
			g.log.Warn("flushing telemetry", "err", err)
		}
	}
}

// readinessProbe is what the keys check signs.
var readinessProbe = []byte("tongban readiness probe")

// handler returns the HTTP API with its probes and metrics.
func (g *gatewayProc) handler() http.Handler {
	return httpapi.New(httpapi.Options{
		Cases: g.core.Cases, Licenses: g.core.Licenses, Mailbox: g.core.Outbox.Mailbox(), Redelivery: g.core.Outbox.Redelivery(),
		Audit: g.core.Auditor, Crypto: g.keys, Directory: g.dir, MaxBody: g.cfg.Limits.MaxBodyBytes, Log: g.log,
		Telemetry: g.tel, Version: buildVersion(),
		CheckTimeout: g.cfg.Telemetry.Readiness.Timeout, CheckCache: g.cfg.Telemetry.Readiness.Cache,
		Checks: g.readinessChecks(),
	})
}

// readinessChecks are the checks of /readyz: the store takes a write, the
// signing key signs, the evidence log is readable and took the last
// checkpoint, and each partner the dispatcher delivers to is not down
// (a down partner makes the gateway degraded, not unready: its
// deliveries wait in the outbox).
func (g *gatewayProc) readinessChecks() []httpapi.Check {
	checks := []httpapi.Check{
		{Name: "store", Run: g.store.Probe},
		{Name: "keys", Run: func(context.Context) error { _, err := g.keys.Sign(readinessProbe); return err }},
		{Name: "evidence", Run: func(ctx context.Context) error {
			if _, _, err := g.store.EvidenceHead(ctx); err != nil {
				return err
			}
			if err := g.core.Auditor.Checkpointer().Err(); err != nil {
				return httpapi.Failed("the last evidence checkpoint failed", err)
			}
			return nil
		}},
	}
	for _, st := range g.disp.PartnerStates() {
		id := st.Partner
		checks = append(checks, httpapi.Check{Name: "partner:" + id, Run: func(context.Context) error {
			for _, s := range g.disp.PartnerStates() {
				if s.Partner == id && s.State == "down" {
					return httpapi.Degraded(fmt.Sprintf("down: the last %d delivery attempts failed", s.ConsecutiveFailures))
				}
			}
			return nil
		}})
	}
	return checks
}

// serve runs the API and the dispatcher until ctx is cancelled, then shuts
// down gracefully. ready, if not nil, receives the bound address once the
// listener is open.
func (g *gatewayProc) serve(ctx context.Context, ready chan<- string) error {
	defer g.close()
	ln, err := net.Listen("tcp", g.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler: g.handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		// A mailbox long poll holds its answer up to MaxMailboxWait.
		WriteTimeout: outbox.MaxMailboxWait + 30*time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
	}
	dctx, stopDisp := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); g.disp.Run(dctx) }()
	// The checkpointer signs the evidence head while the gateway runs and
	// once more when it stops, after the last delivery is recorded.
	cctx, stopCheckpoints := context.WithCancel(context.WithoutCancel(ctx))
	checkpointsDone := make(chan struct{})
	go func() { defer close(checkpointsDone); g.core.Auditor.Checkpointer().Run(cctx) }()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	g.log.Info("gateway ready", "addr", ln.Addr().String(), "gateway_id", g.cfg.GatewayID, "partners", len(g.cfg.Partners))
	if ready != nil {
		ready <- ln.Addr().String()
	}
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	g.log.Info("shutting down: draining requests and deliveries in flight")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		g.log.Error("http shutdown", "err", serr)
	}
	stopDisp()
	wg.Wait()
	g.core.Auditor.FlushDenials(sctx) // counted anonymous denials, before the last checkpoint
	stopCheckpoints()
	<-checkpointsDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	g.log.Info("stopped")
	return err
}
