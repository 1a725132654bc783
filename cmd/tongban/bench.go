package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/signing"
)

// Bench limits: every run is bounded in cases and in time.
const (
	benchGatewayID     = "tongban-bench"
	benchSender        = "320404" // 钟楼区, submits the cases
	benchOwner         = "330702" // 婺城区, owns them
	benchWindow        = "window-320404"
	benchDefaultCases  = 10000
	benchMaxCases      = 1_000_000
	benchMaxDuration   = time.Hour
	benchMaxRate       = 1_000_000
	benchMaxConcurrent = 4096
	benchTokenTTL      = 5 * time.Minute
)

func newBenchCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure the gateway on this machine (loopback only, in process)",
		Long: `Load generators that measure a gateway built exactly as "tongban serve"
builds one, running in this process on loopback with simulated districts.
Nothing leaves the machine: the bench never talks to a gateway elsewhere.`,
		Example: "  tongban bench cases --concurrency 64 --cases 20000",
		Args:    cobra.NoArgs,
	}
	c.AddCommand(newBenchCasesCmd(), newBenchLicensesCmd())
	return c
}

func newBenchCasesCmd() *cobra.Command {
	var (
		o           benchLoad
		synchronous string
		level       string
		cpuProfile  string
		workers     int
		logFile     string
		ownerStyle  string
		drain       time.Duration
	)
	c := &cobra.Command{
		Use:   "cases [--cases N] [--concurrency C] [--rate R] [--duration D]",
		Short: "Submit signed remote cases through the full path and report throughput and latency",
		Long: `Measure the remote-case path end to end. The bench starts, in this process
and on loopback only, a simulated owner district (330702, acknowledging
every case with a signed acknowledgement and reporting no status, so only
the case path is measured) and a gateway opened exactly as "tongban serve"
opens one: its own SM2 keys, the embedded store in a temporary directory
(synchronous full by default), the owner's adapter (--owner-style:
standard, mapped-json, soap, or mailbox, where the owner pulls) and the
outbox dispatcher. District 320404 then submits signed cases (SM2 over the exact
bytes, Gw-Signature and Gw-Key-Id) over real HTTP with a real bearer token,
one token reused as real callers do.

Every case is prepared and signed before the clock starts, so the client's
own signing does not count against the gateway. Two latencies are measured
per case: submit, until the signed 202 receipt of POST /v1/cases; and
delivered, until the owner district acknowledged the case the gateway
forwarded to it.

Two modes:
  closed loop (default)  --concurrency C callers, each sending its next case
                         as soon as the previous one is answered: maximum
                         throughput. Latency runs from the actual send.
  open loop (--rate R)   cases are offered at R per second whatever the
                         gateway does, by up to --concurrency callers in
                         flight. Latency runs from each case's scheduled send
                         time, so a stalled gateway is not hidden
                         (no coordinated omission).

The run ends when --cases cases are sent or --duration passes, whichever is
first (with --rate and --duration, --cases defaults to rate × duration); the
bench then waits up to --drain for the remaining deliveries. It exits 1 when
any case was refused or not delivered.`,
		Example: `  # maximum sustained throughput
  tongban bench cases --concurrency 64 --cases 20000

  # latency at 1,000 cases/s offered, for 10 seconds
  tongban bench cases --rate 1000 --duration 10s

  # where the time goes
  tongban bench cases --cases 20000 --cpuprofile cpu.out && go tool pprof -top cpu.out`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("cases") {
				o.Cases = benchDefaultCases
				if o.Rate > 0 && o.Duration > 0 {
					o.Cases = int(math.Ceil(o.Rate * o.Duration.Seconds()))
				}
			}
			if err := o.validate(); err != nil {
				return err
			}
			if drain <= 0 || drain > benchMaxDuration {
				return fmt.Errorf("--drain %s must be positive and at most %s", drain, benchMaxDuration)
			}
			engine, _ := cmd.Flags().GetString("engine")
			if _, err := engineFlag(cmd); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			dir, err := os.MkdirTemp("", "tongban-bench")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			ro := benchRigOptions{Dir: dir, Synchronous: synchronous, Engine: engine, LogLevel: level, Workers: workers, OwnerStyle: ownerStyle}
			if logFile != "" {
				lf, err := os.Create(logFile)
				if err != nil {
					return err
				}
				defer lf.Close()
				ro.Log = lf
			}
			rig, err := startBenchRig(ctx, ro)
			if err != nil {
				return err
			}
			defer rig.stop()
			o.CPUProfile, o.Drain = cpuProfile, drain
			res, err := rig.runLoad(ctx, o)
			if err != nil {
				return err
			}
			res.print(cmd.OutOrStdout())
			if res.failed > 0 || res.delivered < res.submitted {
				return &exitError{1, fmt.Sprintf("bench: %d cases refused, %d of %d accepted cases not delivered within --drain %s",
					res.failed, res.submitted-res.delivered, res.submitted, drain)}
			}
			return nil
		},
	}
	f := c.Flags()
	f.IntVar(&o.Cases, "cases", benchDefaultCases, "cases to send (at most 1,000,000)")
	f.IntVar(&o.Concurrency, "concurrency", 64, "callers in flight at once")
	f.Float64Var(&o.Rate, "rate", 0, "open loop: cases offered per second (0: closed loop)")
	f.DurationVar(&o.Duration, "duration", 0, "stop sending after this long (0: when --cases are sent; at most 1h)")
	f.DurationVar(&drain, "drain", 30*time.Second, "how long to wait for deliveries after the last case is sent")
	f.StringVar(&synchronous, "synchronous", "full", "store synchronous setting: full or normal")
	f.StringVar(&level, "log-level", "info", "gateway log level")
	f.StringVar(&logFile, "log", "", "write the gateway's JSON log to this file (default: formatted, then discarded)")
	f.IntVar(&workers, "workers", 0, "the gateway's delivery.workers (0: its default)")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the measured run to this file")
	f.StringVar(&ownerStyle, "owner-style", "standard", "the owner district's adapter style: standard, mapped-json, soap or mailbox")
	return c
}

// benchLoad is what one bench run offers.
type benchLoad struct {
	Cases       int
	Concurrency int
	Rate        float64       // cases per second; 0 = closed loop
	Duration    time.Duration // 0 = until Cases are sent
	Drain       time.Duration
	CPUProfile  string
}

func (o benchLoad) validate() error {
	switch {
	case o.Cases < 1 || o.Cases > benchMaxCases:
		return fmt.Errorf("--cases %d must be 1 to %d", o.Cases, benchMaxCases)
	case o.Concurrency < 1 || o.Concurrency > benchMaxConcurrent:
		return fmt.Errorf("--concurrency %d must be 1 to %d", o.Concurrency, benchMaxConcurrent)
	case o.Rate < 0 || o.Rate > benchMaxRate || math.IsNaN(o.Rate):
		return fmt.Errorf("--rate %v must be 0 (closed loop) to %d", o.Rate, benchMaxRate)
	case o.Duration < 0 || o.Duration > benchMaxDuration:
		return fmt.Errorf("--duration %s must be 0 to %s", o.Duration, benchMaxDuration)
	}
	return nil
}

// benchRigOptions configure the in-process gateway and districts.
type benchRigOptions struct {
	Dir         string // config, keys and store; required
	Synchronous string // store synchronous: full (default) or normal
	Engine      string // SM2/SM3 engine name; "" = default
	LogLevel    string // gateway log level; "" = info
	Log         io.Writer
	// Workers is the dispatcher's delivery.workers; 0 = the gateway default.
	Workers int
	// OwnerFaults are the owner district's initial faults.
	OwnerFaults partnersim.Faults
	// OwnerStyle is the owner district's adapter style; "" = standard.
	OwnerStyle string
	// LicenseCacheTTL is the gateway's licenses.cache_ttl; 0 = off.
	LicenseCacheTTL time.Duration
	// NoEvidence runs the gateway with its evidence log off, to measure
	// what the log costs (never in serve or demo).
	NoEvidence bool
	// SpanExporter, when set, receives the gateway's spans, and the
	// gateway's telemetry is installed as the process's global one.
	SpanExporter sdktrace.SpanExporter
}

// benchRig is a gateway opened as serve opens one, with two simulated
// districts (sender 320404, owner 330702) and an operator caller, all on
// loopback in this process.
type benchRig struct {
	dir    string
	base   string // gateway URL, http://127.0.0.1:port
	engine *signing.Engine
	keys   map[string]*signing.PrivateKey
	gw     *gatewayProc
	sender *partnersim.Sim
	owner  *partnersim.Sim
	// ownerStyle is the owner district's adapter style.
	ownerStyle string

	tracker atomic.Pointer[benchTracker] // the run in progress, if any

	cancel context.CancelFunc
	done   chan error
	simSrv *http.Server
}

// startBenchRig writes keys and a configuration into o.Dir, starts the
// simulated districts and the gateway, and returns once the gateway
// listens. Call stop to shut it down.
func startBenchRig(ctx context.Context, o benchRigOptions) (_ *benchRig, err error) {
	if o.Dir == "" {
		return nil, errors.New("bench: a directory is required")
	}
	if o.Synchronous == "" {
		o.Synchronous = "full"
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.OwnerStyle == "" {
		o.OwnerStyle = "standard"
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
	if err := os.MkdirAll(filepath.Join(o.Dir, "keys"), 0o700); err != nil {
		return nil, err
	}
	r := &benchRig{dir: o.Dir, engine: engine, keys: map[string]*signing.PrivateKey{}, ownerStyle: o.OwnerStyle}
	for _, id := range []string{"gateway", benchSender, benchOwner, "operator", benchWindow} {
		if r.keys[id], err = demoKey(filepath.Join(o.Dir, "keys", id)); err != nil {
			return nil, err
		}
	}

	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	var ownerCfg partnersim.Config
	for _, id := range []string{benchSender, benchOwner} {
		kr, err := keyring.New(keyring.Options{GatewayID: id, Signer: signing.NewSigner(r.keys[id], engine), SignerKeyID: id, Engine: engine})
		if err != nil {
			simLn.Close()
			return nil, err
		}
		if err := kr.AddKey(partnersim.GatewayCaller, "gateway", r.keys["gateway"].Public()); err != nil {
			simLn.Close()
			return nil, err
		}
		// No status reports: the districts acknowledge what they receive,
		// so only the case path is measured.
		cfg := partnersim.Config{PartnerID: id, Crypto: kr, NoReports: true}
		if id == benchOwner {
			cfg.Style, cfg.StyleConfig, cfg.Faults = o.OwnerStyle, demoStyleConfig(o.OwnerStyle, "http://sim.invalid"), o.OwnerFaults
			cfg.Token = func() (string, error) { return kr.IssueToken(benchGatewayID) }
			cfg.OnAck = func(kind, exchangeID string) {
				if t := r.tracker.Load(); t != nil && kind == "case" {
					t.acked(exchangeID)
				}
			}
			if o.OwnerStyle == "mailbox" {
				ownerCfg = cfg // started once the gateway listens
				continue
			}
		}
		sim, err := partnersim.New(cfg)
		if err != nil {
			simLn.Close()
			return nil, err
		}
		if id == benchOwner {
			r.owner = sim
		} else {
			r.sender = sim
		}
		mux.Handle("/p/"+id+"/", http.StripPrefix("/p/"+id, sim.Handler()))
		mux.Handle("/p/"+id, http.StripPrefix("/p/"+id, sim.Handler()))
	}
	r.simSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go r.simSrv.Serve(simLn)
	defer func() {
		if err != nil {
			r.simSrv.Close()
		}
	}()

	cfgPath := filepath.Join(o.Dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(benchConfig(engine.Name(), o.Synchronous, o.LogLevel, o.Workers, o.LicenseCacheTTL, "http://"+simLn.Addr().String(), o.OwnerStyle)), 0o600); err != nil {
		return nil, err
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	gctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var opts []openOption
	if o.NoEvidence {
		opts = append(opts, withoutEvidence())
	}
	if o.SpanExporter != nil {
		opts = append(opts, withSpanExporter(o.SpanExporter))
	}
	r.gw, err = openGateway(gctx, cfg, newLogger(o.Log, cfg.Log.Level), opts...)
	if err != nil {
		cancel()
		return nil, err
	}
	if o.SpanExporter != nil {
		r.gw.tel.Install()
	}
	ready := make(chan string, 1)
	r.done = make(chan error, 1)
	r.cancel = cancel
	go func() { r.done <- r.gw.serve(gctx, ready) }()
	select {
	case addr := <-ready:
		if err := benchLoopbackOnly(addr); err != nil {
			cancel()
			<-r.done
			return nil, err
		}
		r.base = "http://" + addr
	case err := <-r.done:
		cancel()
		return nil, err
	}
	if ownerCfg.Style == "mailbox" {
		ownerCfg.GatewayURL = r.base
		if r.owner, err = partnersim.New(ownerCfg); err != nil {
			cancel()
			<-r.done
			return nil, err
		}
		r.owner.Start(gctx)
	}
	return r, nil
}

// stop shuts the gateway down gracefully and closes the districts.
func (r *benchRig) stop() error {
	r.cancel()
	err := <-r.done
	r.simSrv.Close()
	return err
}

// benchConfig is the rig's configuration, in the shape of demoConfig. The
// owner's simulator is also the license library of its region.
func benchConfig(engine, synchronous, level string, workers int, cacheTTL time.Duration, simBase, ownerStyle string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by "tongban bench" for one run.
gateway_id: %s
listen: 127.0.0.1:0
engine: %s
signing_key: {path: keys/gateway.key, key_id: gateway}
store: {path: tongban.db, synchronous: %s}
delivery: {poll: 200ms, workers: %d}
log: {level: %s}
licenses: {cache_ttl: %s}
partners:
`, benchGatewayID, engine, synchronous, workers, level, cacheTTL)
	for _, id := range []string{benchSender, benchOwner} {
		style := "standard"
		if id == benchOwner {
			style = ownerStyle
		}
		fmt.Fprintf(&b, `  - id: "%[1]s"
    roles: [partner]
    regions: ["%[1]s"]
    keys: {"%[1]s": keys/%[1]s.pub}
    adapter: %[2]s
    config:
%[3]s
    retry: {max_attempts: 8, base_delay: 500ms, max_delay: 30s}
    timeout: 5s
`, id, style, yamlBlock(demoStyleConfig(style, simBase+"/p/"+id), "      "))
		if style != "mailbox" {
			fmt.Fprintf(&b, "    license_library: {regions: [\"%s\"]}\n", id)
		}
	}
	b.WriteString("  - id: operator\n    roles: [operator]\n    regions: []\n    keys: {operator: keys/operator.pub}\n")
	fmt.Fprintf(&b, "  - id: %[1]s\n    roles: [window]\n    regions: [\"%[2]s\"]\n    keys: {%[1]s: keys/%[1]s.pub}\n", benchWindow, benchSender)
	return b.String()
}

// benchLoopbackOnly refuses any address that is not a loopback IP.
func benchLoopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("bench: refusing %s: the bench only talks to a gateway on loopback", addr)
	}
	return nil
}

// benchClient returns an HTTP client for up to conns concurrent requests
// that can only connect to loopback addresses.
func benchClient(conns int) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if err := benchLoopbackOnly(addr); err != nil {
					return nil, err
				}
				return dialer.DialContext(ctx, network, addr)
			},
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute,
			DisableCompression: true, ForceAttemptHTTP2: false,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// benchCase is one prepared submission.
type benchCase struct {
	exchangeID string
	body       []byte
	sig        string // Gw-Signature
}

// prepareCases builds and signs n distinct cases from 320404 to 330702,
// spread over the machine's cores.
func (r *benchRig) prepareCases(n int) ([]benchCase, error) {
	cases := make([]benchCase, n)
	signer := signing.NewSigner(r.keys[benchSender], r.engine)
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
				sub := demoSubmission(id, now)
				sub.LocalCaseNo = fmt.Sprintf("ZL-BENCH-%07d", i+1)
				body, err := json.Marshal(sub)
				if err == nil {
					var sig []byte
					if sig, err = signing.Sign(signer, r.engine, body); err == nil {
						cases[i] = benchCase{exchangeID: id, body: body, sig: base64.StdEncoding.EncodeToString(sig)}
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

// benchTokens hands out the sender's bearer token, minting a new one only
// when the current one has less than a minute left.
type benchTokens struct {
	signer          signing.Signer
	caller, subject string
	mu              sync.Mutex
	tok             string
	exp             time.Time
}

// tokens returns the token source of caller (whose key id is its id).
func (r *benchRig) tokens(caller, subject string) *benchTokens {
	return &benchTokens{signer: signing.NewSigner(r.keys[caller], r.engine), caller: caller, subject: subject}
}

func (t *benchTokens) get() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now := time.Now(); t.tok == "" || now.After(t.exp.Add(-time.Minute)) {
		jti, err := contracts.NewUUIDv7(now, rand.Reader)
		if err != nil {
			return "", err
		}
		tok, err := signing.IssueToken(t.signer, signing.TokenRequest{
			KeyID: t.caller, Issuer: t.caller, Subject: t.subject,
			Audience: benchGatewayID, TTL: benchTokenTTL, ID: jti, Now: now,
		})
		if err != nil {
			return "", err
		}
		t.tok, t.exp = tok, now.Add(benchTokenTTL)
	}
	return t.tok, nil
}

// submit posts one prepared case and returns "" once the gateway answered
// 202 with its receipt, else the error code (or why there was no answer).
func (r *benchRig) submit(ctx context.Context, client *http.Client, token string, c *benchCase) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+"/v1/cases", bytes.NewReader(c.body))
	if err != nil {
		return "request: " + err.Error()
	}
	h := req.Header
	h.Set("Authorization", "Bearer "+token)
	h.Set("Content-Type", "application/json")
	h.Set("Gw-Signature", c.sig)
	h.Set("Gw-Key-Id", benchSender)
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "cancelled"
		}
		return "transport error"
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case err != nil:
		return "reading answer"
	case resp.StatusCode == http.StatusAccepted:
		return ""
	}
	var e contracts.Error
	if json.Unmarshal(raw, &e) == nil && e.Code != "" {
		return string(e.Code)
	}
	return fmt.Sprintf("HTTP %d", resp.StatusCode)
}

// benchTracker records one run: per case, when it was (to be) sent and
// when the owner acknowledged it, as nanoseconds since start.
type benchTracker struct {
	start  time.Time
	index  map[string]int // exchange id → case index; read-only during the run
	sentAt []atomic.Int64 // scheduled (open loop) or actual (closed) send
	ackAt  []atomic.Int64 // owner's first acknowledgement; 0 = none yet
	acks   atomic.Int64
}

func (t *benchTracker) acked(exchangeID string) {
	i, ok := t.index[exchangeID]
	if !ok {
		return
	}
	if t.ackAt[i].CompareAndSwap(0, max(int64(time.Since(t.start)), 1)) {
		t.acks.Add(1)
	}
}

// benchResult is the outcome of one run.
type benchResult struct {
	load        benchLoad
	ownerStyle  string
	gateway     string
	synchronous string
	engine      string
	prepared    time.Duration // signing the cases, before the clock started

	submitted, failed int
	errors            map[string]int
	submitLat         []time.Duration
	lastReceipt       time.Duration // since start
	delivered         int
	deliverLat        []time.Duration
	lastAck           time.Duration
	recorded          int             // deliveries the gateway's store holds as delivered
	lag               []time.Duration // open loop: actual minus scheduled send
	writes, commits   int64           // the store's writes and commits during the run
}

// runLoad prepares o.Cases cases, offers them as o says, waits up to
// o.Drain for their deliveries, and returns the measurements.
func (r *benchRig) runLoad(ctx context.Context, o benchLoad) (*benchResult, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Drain <= 0 {
		o.Drain = 30 * time.Second
	}
	t0 := time.Now()
	cases, err := r.prepareCases(o.Cases)
	if err != nil {
		return nil, err
	}
	res := &benchResult{load: o, ownerStyle: r.ownerStyle, gateway: strings.TrimPrefix(r.base, "http://"), synchronous: r.gw.cfg.Store.Synchronous,
		engine: r.gw.cfg.Engine, prepared: time.Since(t0), errors: map[string]int{}}
	client := benchClient(o.Concurrency)
	defer client.CloseIdleConnections()
	toks := r.tokens(benchSender, "window-"+benchSender)
	if _, err := toks.get(); err != nil {
		return nil, err
	}
	t := &benchTracker{index: make(map[string]int, len(cases)), sentAt: make([]atomic.Int64, len(cases)), ackAt: make([]atomic.Int64, len(cases))}
	for i := range cases {
		t.index[cases[i].exchangeID] = i
	}

	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}

	st0 := r.gw.store.Stats()
	t.start = time.Now()
	r.tracker.Store(t)
	defer r.tracker.Store(nil)
	var deadline time.Time
	if o.Duration > 0 {
		deadline = t.start.Add(o.Duration)
	}
	var interval time.Duration
	if o.Rate > 0 {
		interval = time.Duration(float64(time.Second) / o.Rate)
	}
	type workerOut struct {
		lat    []time.Duration
		lag    []time.Duration
		ok     int
		errs   map[string]int
		lastOK time.Duration
	}
	outs := make([]workerOut, o.Concurrency)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := &outs[w]
			out.errs = map[string]int{}
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(cases) {
					return
				}
				var at time.Time
				if interval > 0 {
					at = t.start.Add(time.Duration(i) * interval)
					if !deadline.IsZero() && !at.Before(deadline) {
						return
					}
					if d := time.Until(at); d > 0 {
						tm := time.NewTimer(d)
						select {
						case <-tm.C:
						case <-ctx.Done():
							tm.Stop()
							return
						}
					}
				} else {
					at = time.Now()
					if !deadline.IsZero() && !at.Before(deadline) {
						return
					}
				}
				t.sentAt[i].Store(int64(at.Sub(t.start)))
				if interval > 0 {
					out.lag = append(out.lag, time.Since(at))
				}
				tok, err := toks.get()
				if err != nil {
					out.errs["token: "+err.Error()]++
					continue
				}
				code := r.submit(ctx, client, tok, &cases[i])
				done := time.Now()
				if code != "" {
					if code != "cancelled" {
						out.errs[code]++
					}
					t.sentAt[i].Store(-1)
					continue
				}
				out.ok++
				out.lat = append(out.lat, done.Sub(at))
				out.lastOK = max(out.lastOK, done.Sub(t.start))
			}
		}()
	}
	wg.Wait()
	for _, out := range outs {
		res.submitted += out.ok
		res.submitLat = append(res.submitLat, out.lat...)
		res.lag = append(res.lag, out.lag...)
		res.lastReceipt = max(res.lastReceipt, out.lastOK)
		for k, v := range out.errs {
			res.errors[k] += v
			res.failed += v
		}
	}

	// Wait for the deliveries of the accepted cases.
	drainUntil := time.Now().Add(o.Drain)
	for int(t.acks.Load()) < res.submitted && time.Now().Before(drainUntil) && ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
	}
	for i := range cases {
		sent, ack := t.sentAt[i].Load(), t.ackAt[i].Load()
		if ack == 0 || sent < 0 {
			continue
		}
		res.delivered++
		res.deliverLat = append(res.deliverLat, time.Duration(ack-sent))
		res.lastAck = max(res.lastAck, time.Duration(ack))
	}
	// The gateway's own count: acknowledgements verified and recorded.
	for range 500 {
		counts, err := r.gw.store.CountByState(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		if res.recorded = counts[contracts.TransportStateDelivered]; res.recorded >= res.delivered {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	st1 := r.gw.store.Stats()
	res.writes, res.commits = st1.Writes-st0.Writes, st1.Commits-st0.Commits
	return res, nil
}

// benchPercentile returns the p-th percentile (nearest rank) of sorted
// samples, or 0 when there are none.
func benchPercentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// benchRate returns n per second over d.
func benchRate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func benchMS(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func (res *benchResult) print(w io.Writer) {
	o := res.load
	mode := fmt.Sprintf("closed loop, concurrency %d", o.Concurrency)
	if o.Rate > 0 {
		mode = fmt.Sprintf("open loop, %.0f cases/s offered, up to %d in flight", o.Rate, o.Concurrency)
	}
	bound := fmt.Sprintf("%d cases", o.Cases)
	if o.Duration > 0 {
		bound += fmt.Sprintf(" or %s", o.Duration)
	}
	fmt.Fprintf(w, "tongban bench cases: %s, %s\n", mode, bound)
	fmt.Fprintf(w, "gateway %s in process (store synchronous=%s, engine %s, GOMAXPROCS %d); owner %s (%s) simulated on loopback\n",
		res.gateway, res.synchronous, res.engine, runtime.GOMAXPROCS(0), benchOwner, res.ownerStyle)
	fmt.Fprintf(w, "%d cases signed by %s before the clock started (%s)\n\n", o.Cases, benchSender, res.prepared.Round(time.Millisecond))

	fmt.Fprintf(w, "submitted  %d accepted (202), %d refused, in %s: %.0f cases/s\n",
		res.submitted, res.failed, res.lastReceipt.Round(time.Millisecond), benchRate(res.submitted, res.lastReceipt))
	fmt.Fprintf(w, "delivered  %d acknowledged by the owner, in %s: %.0f cases/s (gateway recorded %d)\n",
		res.delivered, res.lastAck.Round(time.Millisecond), benchRate(res.delivered, res.lastAck), res.recorded)
	if len(res.errors) > 0 {
		codes := make([]string, 0, len(res.errors))
		for k := range res.errors {
			codes = append(codes, k)
		}
		slices.Sort(codes)
		for _, k := range codes {
			fmt.Fprintf(w, "refused    %d × %s\n", res.errors[k], k)
		}
	}
	from := "send"
	if o.Rate > 0 {
		from = "scheduled send"
	}
	fmt.Fprintf(w, "\nlatency from %s\n", from)
	fmt.Fprintf(w, "  %-22s %7s %9s %9s %9s %9s\n", "", "n", "p50", "p90", "p99", "max")
	rows := []struct {
		name string
		lat  []time.Duration
	}{{"submit → 202 receipt", res.submitLat}, {"delivered → owner ack", res.deliverLat}}
	if o.Rate > 0 {
		rows = append(rows, struct {
			name string
			lat  []time.Duration
		}{"(bench's own send lag)", res.lag})
	}
	for _, row := range rows {
		slices.Sort(row.lat)
		var mx time.Duration
		if len(row.lat) > 0 {
			mx = row.lat[len(row.lat)-1]
		}
		fmt.Fprintf(w, "  %-22s %7d %9s %9s %9s %9s\n", row.name, len(row.lat), benchMS(benchPercentile(row.lat, 50)),
			benchMS(benchPercentile(row.lat, 90)), benchMS(benchPercentile(row.lat, 99)), benchMS(mx))
	}
	if res.commits > 0 {
		fmt.Fprintf(w, "\nstore: %d writes in %d commits (%.1f writes per commit)\n", res.writes, res.commits, float64(res.writes)/float64(res.commits))
	}
}
