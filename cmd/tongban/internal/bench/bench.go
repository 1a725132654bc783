// Package bench is `tongban bench`: load generators that measure a
// gateway built exactly as `tongban serve` builds one, running in this
// process on loopback with simulated districts (the dev rig, devrig).
// Nothing leaves the machine: the bench never talks to a gateway
// elsewhere.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tongban/tongban/cmd/tongban/internal/app"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/gateway/config"
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

// Load is what one run offers.
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

// Setup is how the gateway under load is set up, the same for every
// bench: its store, replicas, engine, evidence log, logs, and what the
// report adds (the direct run, the JSON file, the progress lines).
type Setup struct {
	Synchronous string // the store's synchronous setting
	Engine      string // SM2/SM3 engine name; "" = the default
	LogLevel    string
	LogFile     string // the gateway's JSON log; "" = discarded
	// StoreDSN, when set, runs the gateway on that PostgreSQL database, in
	// a schema of its own made for the run and dropped after it.
	StoreDSN string
	// Replicas is how many gateways serve that database (1 without
	// StoreDSN); the bench spreads the requests over them in turn.
	Replicas int
	// NoEvidence runs the gateway with its evidence log off, to measure
	// what the log costs (a gateway in service always keeps it).
	NoEvidence bool
	// NoDirect skips the direct run (the same requests sent straight to
	// the simulated district, for the gateway's overhead as a ratio).
	NoDirect bool
	// JSON, when set, is the file the report is also written to, as JSON.
	JSON string
	// Progress receives a progress line about every second; nil = none.
	Progress io.Writer
	Version  string // the version the gateway reports
}

// validate checks the set-up's bounds; errors name the command's flag.
func (o Setup) validate() error {
	if o.Replicas < 0 || o.Replicas > MaxReplicas {
		return fmt.Errorf("--replicas %d must be 1 to %d", o.Replicas, MaxReplicas)
	}
	if o.Replicas > 1 && o.StoreDSN == "" {
		return fmt.Errorf("--replicas %d needs --store-dsn: the embedded store serves one gateway", o.Replicas)
	}
	return nil
}

// BenchRateLimit is the per-caller rate limit of the bench's gateway:
// on, as in service, but far above any load the bench offers, so the
// limiter's work is measured and it never refuses.
const BenchRateLimit = 1_000_000

// rigOptions returns the dev rig options of s in dir.
func (s Setup) rigOptions(dir string) devrig.Options {
	return devrig.Options{Dir: dir, Synchronous: s.Synchronous, Engine: s.Engine, LogLevel: s.LogLevel, Version: s.Version,
		Replicas: s.Replicas, NoEvidence: s.NoEvidence,
		RateLimits: &config.RateLimits{PerCaller: config.Rate{Rate: BenchRateLimit, Burst: BenchRateLimit}}}
}

// startSetup makes a temporary directory and, when s names a database, a
// schema for the run, and starts the rig in them; stop undoes it all.
func startSetup(ctx context.Context, s Setup, ro func(*devrig.Options)) (r *Rig, stop func(), err error) {
	dir, err := os.MkdirTemp("", "tongban-bench")
	if err != nil {
		return nil, nil, err
	}
	var undo []func()
	stop = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	undo = append(undo, func() { os.RemoveAll(dir) })
	defer func() {
		if err != nil {
			stop()
		}
	}()
	o := s.rigOptions(dir)
	if s.StoreDSN != "" {
		schema, drop, err := runSchema(ctx, s.StoreDSN)
		if err != nil {
			return nil, nil, err
		}
		undo = append(undo, drop)
		o.StoreDSN, o.StoreSchema = s.StoreDSN, schema
	}
	if s.LogFile != "" {
		lf, err := os.Create(s.LogFile)
		if err != nil {
			return nil, nil, err
		}
		undo = append(undo, func() { lf.Close() })
		o.Log = lf
	}
	if ro != nil {
		ro(&o)
	}
	if r, err = startRig(ctx, o); err != nil {
		return nil, nil, err
	}
	undo = append(undo, func() { r.Stop() })
	return r, stop, nil
}

// MaxPrepared bounds the bytes of the request bodies a cases run signs
// before the clock starts (--material-size is bounded like bench
// material's --size: MinMaterialSize to MaxMaterialSize).
const MaxPrepared = 3 << 30

// CasesOptions are a `tongban bench cases` run: the load and the rig.
type CasesOptions struct {
	Load
	Setup
	Workers    int    // delivery.workers; 0 = the gateway's default
	OwnerStyle string // the owner district's adapter style
	// MaterialSize, when not 0, puts one inline material of that many
	// bytes in every case (1 KiB to 10 MiB).
	MaterialSize int64
}

// Validate checks the run's bounds; errors name the command's flag.
func (o CasesOptions) Validate() error {
	if err := o.Load.Validate(); err != nil {
		return err
	}
	if o.Drain <= 0 || o.Drain > MaxDuration {
		return fmt.Errorf("--drain %s must be positive and at most %s", o.Drain, MaxDuration)
	}
	if err := o.Setup.validate(); err != nil {
		return err
	}
	if o.MaterialSize != 0 && (o.MaterialSize < MinMaterialSize || o.MaterialSize > MaxMaterialSize) {
		return fmt.Errorf("--material-size %d must be 1KiB to 10MiB", o.MaterialSize)
	}
	runs := int64(2)
	if o.NoDirect {
		runs = 1
	}
	if body := o.MaterialSize*4/3 + 4<<10; runs*int64(o.Cases)*body > MaxPrepared {
		return fmt.Errorf("--cases %d with --material-size %d would sign %s of bodies before the clock; at most %s: send fewer cases",
			o.Cases, o.MaterialSize, mib(runs*int64(o.Cases)*body), mib(MaxPrepared))
	}
	return nil
}

// RunCases runs the rig in a temporary directory, measures the engine's
// raw rates, sends the cases straight to the simulated owner (unless
// NoDirect) and then through the gateway as o says, writes the report to
// w (and o.JSON), and returns a *Failure when a case was refused or not
// delivered.
func RunCases(ctx context.Context, w io.Writer, o CasesOptions) error {
	if err := o.Validate(); err != nil {
		return err
	}
	r, stop, err := startSetup(ctx, o.Setup, func(ro *devrig.Options) {
		ro.Workers, ro.OwnerStyle = o.Workers, o.OwnerStyle
		if o.MaterialSize > 0 {
			ro.MaxBodyBytes = max(config.DefaultMaxBodyBytes, o.MaterialSize*3/2+1<<20)
		}
	})
	if err != nil {
		return err
	}
	defer stop()
	rep, err := r.runCases(ctx, o)
	if err != nil {
		return err
	}
	rep.print(w)
	if err := rep.writeJSON(o.JSON); err != nil {
		return err
	}
	g := rep.Gateway
	if g.Refused > 0 || g.Completed < g.Accepted {
		return &Failure{fmt.Sprintf("bench: %d cases refused, %d of %d accepted cases not delivered within --drain %s",
			g.Refused, g.Accepted-g.Completed, g.Accepted, o.Drain)}
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
	return post(ctx, client, base+"/v1/cases", token, devrig.Sender, c)
}

// tracker records when the owner acknowledged each case of one run, as
// nanoseconds since start.
type tracker struct {
	start time.Time
	index map[string]int // exchange id → case index; read-only during the run
	ackAt []atomic.Int64 // owner's first acknowledgement; 0 = none yet
	acks  atomic.Int64
}

// newTracker tracks cases.
func newTracker(cases []devrig.Case) *tracker {
	t := &tracker{index: make(map[string]int, len(cases)), ackAt: make([]atomic.Int64, len(cases))}
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

// StoreCounts are a store's counters of its work: logical writes and
// the commits that made them durable.
type StoreCounts struct {
	Writes, Commits int64
	Known           bool // false: the store keeps no counters
}

// storeStats returns the store's write counters (both stores keep them:
// storecodec.Counter); a store that keeps none reports Known false, and
// the report leaves the line out.
func storeStats(s app.Store) StoreCounts {
	if st, ok := s.(storecodec.Counter); ok {
		x := st.Stats()
		return StoreCounts{Writes: x.Writes, Commits: x.Commits, Known: true}
	}
	return StoreCounts{}
}

// storeWork returns the store's work between a and b for n exchanges
// completed in elapsed; nil when the store keeps no counters.
func storeWork(a, b StoreCounts, n int, elapsed time.Duration) *StoreWork {
	if !a.Known || !b.Known {
		return nil
	}
	w := &StoreWork{Writes: b.Writes - a.Writes, Commits: b.Commits - a.Commits}
	if n > 0 {
		w.WritesPerExchange = float64(w.Writes) / float64(n)
	}
	if w.Commits > 0 {
		w.WritesPerCommit = float64(w.Writes) / float64(w.Commits)
	}
	if elapsed > 0 {
		w.CommitsPerSec = float64(w.Commits) / elapsed.Seconds()
	}
	return w
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
