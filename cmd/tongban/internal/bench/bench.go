// Package bench is `tongban bench`: load generators that measure a
// gateway built exactly as `tongban serve` builds one, running in this
// process on loopback with simulated districts (the dev rig, devrig).
// Nothing leaves the machine: the bench never talks to a gateway
// elsewhere.
package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tongban/tongban/cmd/tongban/internal/app"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/store/sqlite"
	"github.com/tongban/tongban/gateway/store/storecodec"
)

// Bench limits: every run is bounded in cases and in time.
const (
	DefaultCases      = 10000
	MaxCases          = 1_000_000
	MaxDuration       = time.Hour
	MaxRate           = 1_000_000
	MaxConcurrent     = 4096
	DefaultCasesDrain = 30 * time.Second
	MaxReplicas       = 16
)

// A Failure is a run that measured, but in which a case or verification
// failed or did not finish: the command exits 1 with its message.
type Failure struct{ msg string }

func (f *Failure) Error() string { return f.msg }

// Load is what one cases run offers.
type Load struct {
	Cases       int
	Concurrency int
	Rate        float64       // cases per second; 0 = closed loop
	Duration    time.Duration // 0 = until Cases are sent
	Drain       time.Duration
	CPUProfile  string
}

// Validate checks the load's bounds; errors name the command's flag.
func (o Load) Validate() error {
	switch {
	case o.Cases < 1 || o.Cases > MaxCases:
		return fmt.Errorf("--cases %d must be 1 to %d", o.Cases, MaxCases)
	case o.Concurrency < 1 || o.Concurrency > MaxConcurrent:
		return fmt.Errorf("--concurrency %d must be 1 to %d", o.Concurrency, MaxConcurrent)
	case o.Rate < 0 || o.Rate > MaxRate || math.IsNaN(o.Rate):
		return fmt.Errorf("--rate %v must be 0 (closed loop) to %d", o.Rate, MaxRate)
	case o.Duration < 0 || o.Duration > MaxDuration:
		return fmt.Errorf("--duration %s must be 0 to %s", o.Duration, MaxDuration)
	}
	return nil
}

// CasesOptions are a `tongban bench cases` run: the load and the rig.
type CasesOptions struct {
	Load
	Synchronous string // the store's synchronous setting
	Engine      string // SM2/SM3 engine name; "" = the default
	LogLevel    string
	LogFile     string // the gateway's JSON log; "" = discarded
	Workers     int    // delivery.workers; 0 = the gateway's default
	OwnerStyle  string // the owner district's adapter style
	// StoreDSN, when set, runs the gateway on that PostgreSQL database, in
	// a schema of its own made for the run and dropped after it.
	StoreDSN string
	// Replicas is how many gateways serve that database (1 without
	// StoreDSN); the bench spreads the cases over them in turn.
	Replicas int
	Version  string // the version the gateway reports
}

// Validate checks the run's bounds; errors name the command's flag.
func (o CasesOptions) Validate() error {
	if err := o.Load.Validate(); err != nil {
		return err
	}
	if o.Drain <= 0 || o.Drain > MaxDuration {
		return fmt.Errorf("--drain %s must be positive and at most %s", o.Drain, MaxDuration)
	}
	if o.Replicas < 0 || o.Replicas > MaxReplicas {
		return fmt.Errorf("--replicas %d must be 1 to %d", o.Replicas, MaxReplicas)
	}
	if o.Replicas > 1 && o.StoreDSN == "" {
		return fmt.Errorf("--replicas %d needs --store-dsn: the embedded store serves one gateway", o.Replicas)
	}
	return nil
}

// RunCases runs the rig in a temporary directory, offers o's load,
// writes the report to w, and returns a *Failure when a case was refused
// or not delivered.
func RunCases(ctx context.Context, w io.Writer, o CasesOptions) error {
	if err := o.Validate(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "tongban-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ro := devrig.Options{Dir: dir, Synchronous: o.Synchronous, Engine: o.Engine, LogLevel: o.LogLevel, Workers: o.Workers,
		OwnerStyle: o.OwnerStyle, Version: o.Version, Replicas: o.Replicas}
	if o.StoreDSN != "" {
		schema, drop, err := runSchema(ctx, o.StoreDSN)
		if err != nil {
			return err
		}
		defer drop()
		ro.StoreDSN, ro.StoreSchema = o.StoreDSN, schema
	}
	if o.LogFile != "" {
		lf, err := os.Create(o.LogFile)
		if err != nil {
			return err
		}
		defer lf.Close()
		ro.Log = lf
	}
	rig, err := startRig(ctx, ro)
	if err != nil {
		return err
	}
	defer rig.Stop()
	res, err := rig.runLoad(ctx, o.Load)
	if err != nil {
		return err
	}
	res.print(w)
	if res.failed > 0 || res.delivered < res.submitted {
		return &Failure{fmt.Sprintf("bench: %d cases refused, %d of %d accepted cases not delivered within --drain %s",
			res.failed, res.submitted-res.delivered, res.submitted, o.Drain)}
	}
	return nil
}

// Rig is the dev rig with the bench's tracker on the owner's
// acknowledgements.
type Rig struct {
	*devrig.Rig
	tracker atomic.Pointer[tracker] // the run in progress, if any
}

// startRig starts the dev rig, its owner's acknowledgements counted by
// the run in progress.
func startRig(ctx context.Context, o devrig.Options) (*Rig, error) {
	r := &Rig{}
	o.OnOwnerAck = func(kind, exchangeID string) {
		if t := r.tracker.Load(); t != nil && kind == "case" {
			t.acked(exchangeID)
		}
	}
	var err error
	if r.Rig, err = devrig.Start(ctx, o); err != nil {
		return nil, err
	}
	return r, nil
}

// submit posts one prepared case to the gateway at base and returns ""
// once the gateway answered 202 with its receipt, else the error code (or
// why there was no answer).
func submit(ctx context.Context, client *http.Client, base, token string, c *devrig.Case) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/cases", bytes.NewReader(c.Body))
	if err != nil {
		return "request: " + err.Error()
	}
	h := req.Header
	h.Set("Authorization", "Bearer "+token)
	h.Set("Content-Type", "application/json")
	h.Set("Gw-Signature", c.Sig)
	h.Set("Gw-Key-Id", devrig.Sender)
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

// tracker records one run: per case, when it was (to be) sent and when
// the owner acknowledged it, as nanoseconds since start.
type tracker struct {
	start  time.Time
	index  map[string]int // exchange id → case index; read-only during the run
	sentAt []atomic.Int64 // scheduled (open loop) or actual (closed) send
	ackAt  []atomic.Int64 // owner's first acknowledgement; 0 = none yet
	acks   atomic.Int64
}

// newTracker tracks cases.
func newTracker(cases []devrig.Case) *tracker {
	t := &tracker{index: make(map[string]int, len(cases)), sentAt: make([]atomic.Int64, len(cases)), ackAt: make([]atomic.Int64, len(cases))}
	for i := range cases {
		t.index[cases[i].ExchangeID] = i
	}
	return t
}

func (t *tracker) acked(exchangeID string) {
	i, ok := t.index[exchangeID]
	if !ok {
		return
	}
	if t.ackAt[i].CompareAndSwap(0, max(int64(time.Since(t.start)), 1)) {
		t.acks.Add(1)
	}
}

// result is the outcome of one run.
type result struct {
	load        Load
	ownerStyle  string
	gateway     string // the replicas' addresses
	replicas    int
	synchronous string
	engine      string
	prepared    time.Duration // signing the cases, before the clock started

	submitted, failed int
	perReplica        []int // accepted, by replica
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
func (r *Rig) runLoad(ctx context.Context, o Load) (*result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Drain <= 0 {
		o.Drain = DefaultCasesDrain
	}
	t0 := time.Now()
	cases, err := r.Cases(o.Cases)
	if err != nil {
		return nil, err
	}
	cfg := r.Gateway.Config()
	store := "embedded, synchronous=" + cfg.Store.Synchronous
	if cfg.Store.Driver == config.DriverPostgres {
		store = "postgres, schema " + cfg.Store.Schema
	}
	gateways := make([]string, len(r.Bases))
	for i, b := range r.Bases {
		gateways[i] = strings.TrimPrefix(b, "http://")
	}
	res := &result{load: o, ownerStyle: r.OwnerStyle, gateway: strings.Join(gateways, ", "), replicas: len(r.Bases), synchronous: store,
		engine: cfg.Engine, prepared: time.Since(t0), errors: map[string]int{}}
	client := devrig.LoopbackClient(o.Concurrency)
	defer client.CloseIdleConnections()
	toks := r.Tokens(devrig.Sender, "window-"+devrig.Sender)
	if _, err := toks.Get(); err != nil {
		return nil, err
	}
	t := newTracker(cases)

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

	st0 := storeStats(r.Gateway.Store())
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
		per    []int // accepted, by replica
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
			out.per = make([]int, len(r.Bases))
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
				tok, err := toks.Get()
				if err != nil {
					out.errs["token: "+err.Error()]++
					continue
				}
				replica := i % len(r.Bases)
				code := submit(ctx, client, r.Bases[replica], tok, &cases[i])
				done := time.Now()
				if code != "" {
					if code != "cancelled" {
						out.errs[code]++
					}
					t.sentAt[i].Store(-1)
					continue
				}
				out.ok++
				out.per[replica]++
				out.lat = append(out.lat, done.Sub(at))
				out.lastOK = max(out.lastOK, done.Sub(t.start))
			}
		}()
	}
	wg.Wait()
	res.perReplica = make([]int, len(r.Bases))
	for _, out := range outs {
		for i, n := range out.per {
			res.perReplica[i] += n
		}
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
		counts, err := r.Gateway.Store().CountByState(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		if res.recorded = counts[contracts.TransportStateDelivered]; res.recorded >= res.delivered {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	st1 := storeStats(r.Gateway.Store())
	res.writes, res.commits = st1.Writes-st0.Writes, st1.Commits-st0.Commits
	return res, nil
}

// storeStats returns the store's write counters (both stores keep them:
// storecodec.Counter); a store that keeps none reports zeros, and the
// report leaves the line out.
func storeStats(s app.Store) sqlite.Stats {
	if st, ok := s.(storecodec.Counter); ok {
		return st.Stats()
	}
	return sqlite.Stats{}
}

// percentile returns the p-th percentile (nearest rank) of sorted
// samples, or 0 when there are none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// rate returns n per second over d.
func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func (res *result) print(w io.Writer) {
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
	gw := "gateway " + res.gateway
	if res.replicas > 1 {
		gw = fmt.Sprintf("%d gateway replicas %s, cases sent to each in turn,", res.replicas, res.gateway)
	}
	fmt.Fprintf(w, "%s in process (store %s, engine %s, GOMAXPROCS %d); owner %s (%s) simulated on loopback\n",
		gw, res.synchronous, res.engine, runtime.GOMAXPROCS(0), devrig.Owner, res.ownerStyle)
	fmt.Fprintf(w, "%d cases signed by %s before the clock started (%s)\n\n", o.Cases, devrig.Sender, res.prepared.Round(time.Millisecond))

	fmt.Fprintf(w, "submitted  %d accepted (202), %d refused, in %s: %.0f cases/s\n",
		res.submitted, res.failed, res.lastReceipt.Round(time.Millisecond), rate(res.submitted, res.lastReceipt))
	if res.replicas > 1 {
		per := make([]string, len(res.perReplica))
		for i, n := range res.perReplica {
			per[i] = fmt.Sprint(n)
		}
		fmt.Fprintf(w, "           accepted by each replica: %s\n", strings.Join(per, ", "))
	}
	fmt.Fprintf(w, "delivered  %d acknowledged by the owner, in %s: %.0f cases/s (gateway recorded %d)\n",
		res.delivered, res.lastAck.Round(time.Millisecond), rate(res.delivered, res.lastAck), res.recorded)
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
		fmt.Fprintf(w, "  %-22s %7d %9s %9s %9s %9s\n", row.name, len(row.lat), ms(percentile(row.lat, 50)),
			ms(percentile(row.lat, 90)), ms(percentile(row.lat, 99)), ms(mx))
	}
	if res.commits > 0 {
		fmt.Fprintf(w, "\nstore: %d writes in %d commits (%.1f writes per commit)\n", res.writes, res.commits, float64(res.writes)/float64(res.commits))
	}
}

// runSchema returns the name of a schema made for one run on the
// PostgreSQL database dsn names, and a func that drops it with
// everything in it.
func runSchema(ctx context.Context, dsn string) (string, func(), error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	name := "tongban_bench_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", nil, fmt.Errorf("--store-dsn: %w", err)
	}
	conn.Close(ctx)
	drop := func() {
		c, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`)
	}
	return name, drop, nil
}
