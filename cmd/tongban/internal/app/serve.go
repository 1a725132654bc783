package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/bundle"
	"github.com/tongban/tongban/gateway/console"
	"github.com/tongban/tongban/gateway/httpapi"
	"github.com/tongban/tongban/gateway/outbox"
	"github.com/tongban/tongban/gateway/telemetry"
)

// Shutdown bounds.
const (
	// ShutdownTimeout bounds the graceful shutdown: requests in flight
	// finish, then deliveries in flight, within this long.
	ShutdownTimeout = 30 * time.Second
	// telemetryFlushTimeout bounds the last export of spans and metrics.
	telemetryFlushTimeout = 5 * time.Second
)

// Serve runs the API and the dispatcher until ctx is cancelled, then
// shuts down gracefully and closes the gateway. ready, if not nil,
// receives the bound address once the gateway serves.
//
// The order: the listener is bound first, and only then is gateway.started
// appended to the evidence log (so a gateway that cannot listen records
// nothing); then the dispatcher and the evidence checkpointer start, and
// the API serves. On shutdown the API stops taking requests and finishes
// those in flight, the dispatcher finishes its attempts in flight, the
// counted anonymous denials are recorded, the checkpointer signs the head
// once more, and the store and telemetry close.
func (g *Gateway) Serve(ctx context.Context, ready chan<- string) error {
	defer g.Close()
	ln, err := net.Listen("tcp", g.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if err := g.core.Auditor.RecordStart(ctx, g.version, g.keys.SM3Hex(g.cfg.Source())); err != nil {
		ln.Close()
		return err
	}
	if a := g.admin; a.catalogueSM3 != "" || a.calendarSM3 != "" {
		if err := g.core.Auditor.RecordCatalogue(ctx, a.catalogueSM3, a.calendarSM3, a.items); err != nil {
			ln.Close()
			return err
		}
	}
	srv := &http.Server{
		Handler: g.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		// A mailbox long poll holds its answer up to MaxMailboxWait.
		WriteTimeout: outbox.MaxMailboxWait + 30*time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		// The server's own lines (refused TLS handshakes, say) go to the
		// gateway's log.
		ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelInfo),
	}
	if g.serverTLS != nil {
		// TLS 1.3 only (tlsconf.Server); ServeTLS adds HTTP/2 to it. A
		// plain HTTP request gets 400 and the connection is closed.
		srv.TLSConfig = g.serverTLS.Clone()
	}
	dctx, stopDisp := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); g.disp.Run(dctx) }()
	// Deadline warnings, overdue notices and overdue follow-ups are
	// raised by one pass every alarm_poll.
	wg.Add(1)
	go func() { defer wg.Done(); g.core.Cases.RunAlarms(dctx, g.cfg.Administration.AlarmPoll) }()
	// A store other processes share tells this one when they stored
	// deliveries, so its dispatcher and mailbox polls wake at once.
	if w, ok := g.store.(gateway.DeliveryWatcher); ok {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.WatchDeliveries(dctx, g.core.Outbox.Wake); err != nil {
				g.log.Error("watching the store for deliveries of other replicas failed; relying on the dispatcher's poll", "err", err)
			}
		}()
	}
	// The history of the gateway's own metrics (GET /v1/admin/stats) takes
	// a sample every minute; it lives in memory and starts empty.
	wg.Add(1)
	go func() { defer wg.Done(); g.tel.History().Run(dctx) }()
	// The checkpointer signs the evidence head while the gateway runs and
	// once more when it stops, after the last delivery is recorded.
	cctx, stopCheckpoints := context.WithCancel(context.WithoutCancel(ctx))
	checkpointsDone := make(chan struct{})
	go func() { defer close(checkpointsDone); g.core.Auditor.Checkpointer().Run(cctx) }()
	errc := make(chan error, 1)
	// Read before serving: the server writes its TLSConfig (HTTP/2) as it
	// starts.
	overTLS := srv.TLSConfig != nil
	go func() {
		if overTLS {
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()
	g.log.Info("gateway ready", "addr", ln.Addr().String(), "gateway_id", g.cfg.GatewayID, "partners", len(g.cfg.Partners), "tls", overTLS)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	g.log.Info("shutting down: draining requests and deliveries in flight")
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
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

// Handler returns the HTTP API with its probes and metrics.
func (g *Gateway) Handler() http.Handler {
	e := httpapi.New(httpapi.Options{
		Cases: g.core.Cases, Licenses: g.core.Licenses, Mailbox: g.core.Outbox.Mailbox(), Redelivery: g.core.Outbox.Redelivery(),
		Audit: g.core.Auditor, Crypto: g.keys, Directory: g.dir, MaxBody: g.cfg.Limits.MaxBodyBytes, Log: g.log,
		Telemetry: g.tel, Version: g.version,
		CheckTimeout: g.cfg.Telemetry.Readiness.Timeout, CheckCache: g.cfg.Telemetry.Readiness.Cache,
		Checks: g.readinessChecks(), PeerCheck: g.peerCheck, RateLimits: rateLimits(g.cfg.Limits.Rate),
		Partners: g.core.Outbox, Keys: g.keyAdmin, Reloader: g,
		Stats: g.tel.History(),
	})
	if g.cfg.Console.Enabled {
		if err := console.Mount(e, g.consoleOptions()); err != nil {
			panic(err) // the embedded templates parse: a test renders every page
		}
	}
	return e
}

// consoleOptions wire the web console to the same core as the API.
func (g *Gateway) consoleOptions() console.Options {
	return console.Options{
		Cases: g.core.Cases, Audit: g.core.Auditor, Redelivery: g.core.Outbox.Redelivery(), Tokens: g.keys, Directory: g.dir,
		Partners: g.core.Outbox, Keys: g.keyAdmin, Reloader: g, Stats: g.tel.History(),
		Secure: g.cfg.Console.SecureCookie, Log: g.log,
		CheckBundle: func(zipped []byte) console.BundleCheck {
			rep := bundle.Verify(bytes.NewReader(zipped), int64(len(zipped)), bundle.Options{GatewayKey: g.gwPub})
			out := console.BundleCheck{OK: rep.OK(), CaseID: rep.Manifest.CaseID, Records: rep.Records, Signatures: rep.Signatures}
			for _, p := range rep.Problems {
				out.Problems = append(out.Problems, fmt.Sprintf("%s record %d: %s", p.File, p.Seq, p.Reason))
			}
			return out
		},
	}
}

// readinessProbe is what the keys check signs.
var readinessProbe = []byte("tongban readiness probe")

// readinessChecks are the checks of /readyz: the store takes a write, the
// signing key signs, the evidence log is readable and took the last
// checkpoint, and each partner the dispatcher delivers to is not down
// (a down partner makes the gateway degraded, not unready: its
// deliveries wait in the outbox).
func (g *Gateway) readinessChecks() []httpapi.Check {
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
	if len(g.certificates()) > 0 {
		// Certificates were valid at start (or reload); one that expires
		// while the gateway runs fails its handshakes, and the gateway
		// says so.
		checks = append(checks, httpapi.Check{Name: "certificates", Run: func(context.Context) error {
			now := time.Now()
			for _, c := range g.certificates() {
				if now.After(c.NotAfter) {
					return httpapi.Degraded(fmt.Sprintf("%s: certificate expired at %s", c.Field, c.NotAfter.UTC().Format(time.RFC3339)))
				}
			}
			return nil
		}})
	}
	for _, st := range g.disp.PartnerStates() {
		id := st.Partner
		checks = append(checks, httpapi.Check{Name: "partner:" + id, Run: func(context.Context) error {
			for _, s := range g.disp.PartnerStates() {
				if s.Partner == id && s.State == "down" {
					if s.Circuit == gateway.CircuitOpen {
						return httpapi.Degraded(fmt.Sprintf("down: circuit open after %d failed delivery attempts; deliveries wait without attempts", s.ConsecutiveFailures))
					}
					return httpapi.Degraded(fmt.Sprintf("down: the last %d delivery attempts failed", s.ConsecutiveFailures))
				}
			}
			return nil
		}})
	}
	return checks
}

// openTelemetry builds the gateway's tracer and meter providers from the
// telemetry section, with the stats history stats configures, and
// registers the gauges read from the store.
func (g *Gateway) openTelemetry(ctx context.Context, stats telemetry.HistoryOptions, opts ...telemetry.Option) error {
	tc := g.cfg.Telemetry
	ratio := telemetry.DefaultSamplingRatio
	if tc.SamplingRatio != nil {
		ratio = *tc.SamplingRatio
	}
	// A sample of the stats history that fails (the store did not answer
	// a gauge) is logged.
	if stats.OnError == nil {
		stats.OnError = func(err error) { g.log.Warn("stats history: sample failed or partial", "err", err) }
	}
	opts = append([]telemetry.Option{telemetry.WithHistory(stats)}, opts...)
	var err error
	g.tel, err = telemetry.New(ctx, telemetry.Config{
		Exporter: tc.Exporter, Endpoint: tc.Endpoint, Insecure: tc.Insecure,
		ServiceName: tc.ServiceName, ServiceVersion: g.version, SamplingRatio: ratio,
	}, opts...)
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	// Queue depth: deliveries by transport state, every state reported
	// (zero included) so that an alert on dead > 0 has a series to watch.
	unregister, err := g.tel.Observe(telemetry.MetricOutboxDeliveries, "{delivery}",
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
	unregister, err = g.tel.Observe(telemetry.MetricEvidenceHead, "{record}",
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
