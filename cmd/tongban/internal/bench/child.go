package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/cmd/tongban/internal/app"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/signing"
)

// The benches that measure the gateway as a process of its own (backlog,
// material) run it as a child: `tongban serve --config FILE`, exactly as
// an operator runs it, so that its resident memory is its own and a
// SIGKILL kills it alone. The simulated districts and the load generator
// stay in the bench's process, on loopback.

// Child-process bench bounds.
const (
	// DefaultStartWithin bounds the wait for the child to answer /readyz
	// 200 after it is started.
	DefaultStartWithin = 2 * time.Minute
	// childStopWithin bounds a graceful stop (SIGTERM) of the child: its
	// own shutdown bound, and a margin.
	childStopWithin = app.ShutdownTimeout + 15*time.Second
	// DefaultProgress and MaxProgress are the default and the longest
	// interval between progress lines.
	DefaultProgress = 2 * time.Second
	MaxProgress     = time.Minute
)

// The retry policy and circuit breaker of the owner in the child's
// configuration: an owner that comes back is called again within about a
// second, so a drain measures the gateway, not the backoff.
var (
	childRetry   = config.Retry{MaxAttempts: 10000, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	childCircuit = config.Circuit{Cooldown: time.Second}
)

// ChildOptions are what the child-process benches share.
type ChildOptions struct {
	// Exe is the tongban binary the gateway runs as (Exe serve --config
	// FILE); the command passes its own executable.
	Exe string
	// Engine is the SM2/SM3 engine of the gateway and of the bench's
	// callers and districts; nil = signing.Default.
	Engine *signing.Engine
	// Dir holds the configuration, keys, store and log; "" = a temporary
	// directory removed after the run. A directory that holds a store
	// already (of an earlier run) is refused.
	Dir         string
	Synchronous string // store synchronous: full or normal; "" = the default
	Workers     int    // delivery.workers; 0 = the gateway's default
	LogLevel    string // the child's log level; "" = the default (info)
	// LogFile receives the child's log (its stderr); "" = gateway.log in
	// Dir.
	LogFile string
	// Progress is the interval of the progress lines written to the
	// progress writer; 0 = none.
	Progress time.Duration
}

// validate checks the shared bounds; errors name the command's flag.
func (o ChildOptions) validate() error {
	switch {
	case o.Exe == "":
		return errors.New("bench: the tongban binary to run as the gateway is required")
	case o.Workers < 0:
		return fmt.Errorf("--workers %d must not be negative", o.Workers)
	case o.Progress < 0 || o.Progress > MaxProgress:
		return fmt.Errorf("--progress %s must be 0 (none) to %s", o.Progress, MaxProgress)
	}
	return nil
}

// childRig is a gateway configuration in dir, the simulated districts
// Sender and Owner (standard style, acknowledging what they receive,
// reporting no status) in this process on loopback, and, once start was
// called, the gateway serving that configuration as a child process.
type childRig struct {
	o        ChildOptions
	dir      string
	tempDir  bool
	cfgPath  string
	base     string // http://127.0.0.1:PORT, the child's listener
	engine   *signing.Engine
	keys     map[string]*signing.PrivateKey
	sims     *devrig.Sims
	owner    *partnersim.Sim
	sender   *partnersim.Sim
	acks     *ackSet
	logPath  string
	log      *os.File
	proc     *childProc
	client   *http.Client
	progress io.Writer
}

// startChildRig writes keys and the configuration (tune, when not nil,
// changes it before it is written) and starts the simulated districts,
// the owner with faults; the gateway is not started (start).
func startChildRig(o ChildOptions, progress io.Writer, faults partnersim.Faults, tune func(*config.Config)) (_ *childRig, err error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	r := &childRig{o: o, dir: o.Dir, engine: o.Engine, acks: newAckSet(), progress: progress,
		client: devrig.LoopbackClient(4)}
	if r.engine == nil {
		r.engine = signing.Default
	}
	if r.progress == nil {
		r.progress = io.Discard
	}
	if r.dir == "" {
		if r.dir, err = os.MkdirTemp("", "tongban-bench"); err != nil {
			return nil, err
		}
		r.tempDir = true
	} else {
		// The child runs in dir: every path it is given is absolute.
		if r.dir, err = filepath.Abs(r.dir); err != nil {
			return nil, err
		}
		if _, err := os.Stat(filepath.Join(r.dir, config.DefaultStorePath)); err == nil {
			return nil, fmt.Errorf("--dir %s holds the store of an earlier run: name a new directory", o.Dir)
		}
		if err := os.MkdirAll(r.dir, 0o700); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if r.keys, err = devrig.Keys(r.dir, devrig.GatewayKey, devrig.Sender, devrig.Owner); err != nil {
		return nil, err
	}
	if r.sims, err = devrig.ListenSims(); err != nil {
		return nil, err
	}
	for _, id := range []string{devrig.Sender, devrig.Owner} {
		kr, err := devrig.SimCrypto(id, r.keys[id], r.keys[devrig.GatewayKey].Public(), r.engine)
		if err != nil {
			return nil, err
		}
		cfg := partnersim.Config{PartnerID: id, Style: standard.Name, Crypto: kr, NoReports: true}
		if id == devrig.Owner {
			cfg.Faults, cfg.OnAck = faults, r.acks.add
		}
		sim, err := partnersim.New(cfg)
		if err != nil {
			return nil, err
		}
		r.sims.Handle(id, sim)
		if id == devrig.Owner {
			r.owner = sim
		} else {
			r.sender = sim
		}
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	r.base = "http://" + addr
	cfg := devrig.Gateway(devrig.RigGatewayID, addr)
	cfg.Engine = r.engine.Name()
	cfg.Store.Synchronous = o.Synchronous
	cfg.Delivery.Workers = o.Workers
	cfg.Delivery.Circuit = childCircuit
	cfg.Log.Level = o.LogLevel
	cfg.Limits.Rate.Off = true // the load comes from one caller: measure the gateway, not its limiter
	for _, d := range []devrig.District{{Code: devrig.Sender, Name: "钟楼区", Style: standard.Name}, {Code: devrig.Owner, Name: "婺城区", Style: standard.Name}} {
		p, err := devrig.Partner(d, r.sims.Endpoint(d.Code))
		if err != nil {
			return nil, err
		}
		p.Retry = childRetry
		cfg.Partners = append(cfg.Partners, p)
	}
	if tune != nil {
		tune(cfg)
	}
	r.cfgPath = filepath.Join(r.dir, "config.yaml")
	if _, err := devrig.WriteConfig(r.cfgPath, cfg, 0o600, `Written by "tongban bench" for one run.`, nil); err != nil {
		return nil, err
	}
	r.logPath = o.LogFile
	if r.logPath == "" {
		r.logPath = filepath.Join(r.dir, "gateway.log")
	}
	if r.logPath, err = filepath.Abs(r.logPath); err != nil {
		return nil, err
	}
	if r.log, err = os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return nil, err
	}
	return r, nil
}

// close stops the child (SIGTERM, then SIGKILL), the simulators, and
// removes a temporary directory.
func (r *childRig) close() {
	if r.proc != nil {
		r.proc.stop()
	}
	if r.sims != nil {
		r.sims.Close()
	}
	if r.log != nil {
		r.log.Close()
	}
	r.client.CloseIdleConnections()
	if r.tempDir {
		os.RemoveAll(r.dir)
	}
}

// caseSource returns a rig whose Cases and Tokens sign as the bench's
// callers with the keys written for the child (the in-process rig's
// signing, without its gateway).
func (r *childRig) caseSource() *devrig.Rig {
	return &devrig.Rig{Keys: r.keys, Engine: r.engine}
}

// childEnv is the bench's environment without the gateway's overrides
// (TONGBAN_*): the child serves the configuration the bench wrote.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TONGBAN_") {
			env = append(env, kv)
		}
	}
	return env
}

// start starts the gateway as a child process, its stdout and stderr
// appended to the log; it returns at once (waitReady).
func (r *childRig) start() error {
	if r.proc != nil {
		select {
		case <-r.proc.exited:
		default:
			return errors.New("bench: the gateway is already running")
		}
	}
	fmt.Fprintf(r.log, "---- bench: starting %s serve --config %s at %s\n", r.o.Exe, r.cfgPath, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(r.o.Exe, "serve", "--config", r.cfgPath)
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = r.log, r.log
	cmd.Dir = r.dir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("bench: start the gateway: %w", err)
	}
	p := &childProc{cmd: cmd, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	r.proc = p
	return nil
}

// logTail returns the last lines of the child's log, for an error.
func (r *childRig) logTail() string {
	b, err := os.ReadFile(r.logPath)
	if err != nil {
		return ""
	}
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// waitReady waits until the child answers GET /readyz with 200, at most
// within, and returns how long that took from since. It fails when the
// child exits first or time runs out.
func (r *childRig) waitReady(ctx context.Context, since time.Time, within time.Duration) (time.Duration, error) {
	deadline := since.Add(within)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/readyz", nil)
		if err != nil {
			return 0, err
		}
		if resp, err := r.client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(since), nil
			}
		}
		select {
		case <-r.proc.exited:
			return 0, fmt.Errorf("bench: the gateway exited before it was ready (%v); its log ends:\n%s", r.proc.err, r.logTail())
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("bench: the gateway was not ready within %s; its log ends:\n%s", within, r.logTail())
		}
	}
}

// deliveryCounts reads the child's queue depth gauge from GET /metrics:
// deliveries by transport state.
func (r *childRig) deliveryCounts(ctx context.Context) (map[contracts.TransportState]int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: GET /metrics: HTTP %d", resp.StatusCode)
	}
	return parseDeliveryGauge(resp.Body)
}

// deliveryGauge is the prefix of the queue depth gauge's samples.
const deliveryGauge = `tongban_outbox_deliveries{`

// parseDeliveryGauge reads the samples of tongban_outbox_deliveries from
// a Prometheus text exposition.
func parseDeliveryGauge(rd io.Reader) (map[contracts.TransportState]int, error) {
	out := map[contracts.TransportState]int{}
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	found := false
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, deliveryGauge) {
			continue
		}
		labels, value, ok := strings.Cut(line[len(deliveryGauge):], "} ")
		if !ok {
			continue
		}
		_, st, ok := strings.Cut(labels, `transport_state="`)
		if !ok {
			continue
		}
		st, _, _ = strings.Cut(st, `"`)
		n, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return nil, fmt.Errorf("bench: metrics: %q: %w", line, err)
		}
		out[contracts.TransportState(st)] = int(n)
		found = true
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !found {
		return nil, errors.New("bench: metrics: no tongban_outbox_deliveries samples")
	}
	return out, nil
}

// dispatchCounts are the child's outbox counters since it started:
// delivery attempts by outcome, and claimed deliveries put back without
// an attempt by reason (tongban_delivery_attempts_total,
// tongban_delivery_postponed_total).
type dispatchCounts struct {
	attempts, postponed map[string]int
}

// dispatchCounts reads the child's dispatchCounts from GET /metrics.
func (r *childRig) dispatchCounts(ctx context.Context) (dispatchCounts, error) {
	c := dispatchCounts{attempts: map[string]int{}, postponed: map[string]int{}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/metrics", nil)
	if err != nil {
		return c, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return c, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		for _, m := range []struct {
			prefix, label string
			into          map[string]int
		}{{"tongban_delivery_attempts_total{", `outcome="`, c.attempts}, {"tongban_delivery_postponed_total{", `reason="`, c.postponed}} {
			rest, ok := strings.CutPrefix(sc.Text(), m.prefix)
			if !ok {
				continue
			}
			labels, value, ok := strings.Cut(rest, "} ")
			_, v, found := strings.Cut(labels, m.label)
			if !ok || !found {
				continue
			}
			v, _, _ = strings.Cut(v, `"`)
			if n, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
				m.into[v] += int(n)
			}
		}
	}
	return c, sc.Err()
}

// unfinished is the number of deliveries not yet delivered or cancelled.
func unfinished(c map[contracts.TransportState]int) int {
	return c[contracts.TransportStatePending] + c[contracts.TransportStateInFlight] + c[contracts.TransportStateRetryWait] + c[contracts.TransportStateDead]
}

// childProc is one run of the gateway process.
type childProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
}

// pid returns the process id.
func (p *childProc) pid() int { return p.cmd.Process.Pid }

// kill sends SIGKILL and waits (at most 10 s) until the process is gone.
func (p *childProc) kill() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("bench: gateway pid %d still running 10s after SIGKILL", p.pid())
	}
}

// stop asks the process to shut down (SIGTERM) and waits for it, at most
// childStopWithin, then kills it; it returns the exit error of a process
// that did not stop cleanly.
func (p *childProc) stop() error {
	select {
	case <-p.exited:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.err
	case <-time.After(childStopWithin):
		p.kill()
		return fmt.Errorf("bench: the gateway did not stop within %s of SIGTERM; killed", childStopWithin)
	}
}

// procMemory is a process's resident memory from /proc/PID/status: VmRSS
// (now) and VmHWM (its peak since it started), in bytes.
type procMemory struct{ rss, hwm int64 }

// readProcMemory reads pid's procMemory; it fails where there is no
// /proc (not Linux).
func readProcMemory(pid int) (procMemory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMemory{}, err
	}
	return parseProcStatus(b)
}

// parseProcStatus reads VmRSS and VmHWM of a /proc/PID/status text.
func parseProcStatus(b []byte) (procMemory, error) {
	var m procMemory
	found := 0
	for line := range bytes.Lines(b) {
		name, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(name) {
		case "VmRSS":
			dst = &m.rss
		case "VmHWM":
			dst = &m.hwm
		default:
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("bench: /proc status: %q", line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("bench: /proc status: %q: %w", line, err)
		}
		*dst = kb << 10
		found++
	}
	if found != 2 {
		return m, errors.New("bench: /proc status: no VmRSS and VmHWM")
	}
	return m, nil
}

// rssSampler samples a process's resident memory every interval until
// stopped, keeping the peak.
type rssSampler struct {
	pid     int
	peak    atomic.Int64
	last    atomic.Int64
	samples atomic.Int64
	stopped chan struct{}
	done    chan struct{}
	err     error
}

// sampleRSS starts sampling pid every interval.
func sampleRSS(pid int, interval time.Duration) *rssSampler {
	s := &rssSampler{pid: pid, stopped: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			m, err := readProcMemory(pid)
			if err != nil {
				s.err = err
				return
			}
			s.last.Store(m.rss)
			s.samples.Add(1)
			if m.rss > s.peak.Load() {
				s.peak.Store(m.rss)
			}
			select {
			case <-s.stopped:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop stops sampling and returns the error that ended it early, if any.
func (s *rssSampler) stop() error {
	select {
	case <-s.stopped:
	default:
		close(s.stopped)
	}
	<-s.done
	return s.err
}

// ackSet is the exchange ids of the cases the owner acknowledged.
type ackSet struct {
	mu  sync.Mutex
	ids map[string]struct{}
	n   atomic.Int64
}

func newAckSet() *ackSet { return &ackSet{ids: map[string]struct{}{}} }

// add is the owner's OnAck: it counts each case's exchange id once.
func (a *ackSet) add(kind, exchangeID string) {
	if kind != "case" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.ids[exchangeID]; !ok {
		a.ids[exchangeID] = struct{}{}
		a.n.Add(1)
	}
}

// count is how many distinct cases were acknowledged.
func (a *ackSet) count() int { return int(a.n.Load()) }

// has reports whether the case exchangeID was acknowledged.
func (a *ackSet) has(exchangeID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.ids[exchangeID]
	return ok
}

// freeLoopbackAddr returns a loopback address whose port was free a
// moment ago, below Linux's ephemeral range (32768 and up) so that no
// outgoing connection takes it before the child binds it, again after a
// restart.
func freeLoopbackAddr() (string, error) {
	for range 100 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000)))
		if err != nil {
			continue
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr, nil
	}
	return "", errors.New("bench: no free loopback port in 20000-31999 after 100 tries")
}

// fileSize returns the total size of the store's files (the database and
// its -wal), 0 for those missing.
func storeSize(dir string) int64 {
	var n int64
	for _, f := range []string{config.DefaultStorePath, config.DefaultStorePath + "-wal"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// mib formats bytes in MiB.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// progressLine writes one progress line, prefixed with the elapsed time.
func (r *childRig) progressf(start time.Time, format string, args ...any) {
	fmt.Fprintf(r.progress, "[%6.1fs] "+format+"\n", append([]any{time.Since(start).Seconds()}, args...)...)
}

// splitInterval is how often sampleSplit reads the child's metrics.
const splitInterval = 100 * time.Millisecond

// memorySplit is one sample of the child's memory: its RSS and, from the
// Go runtime's figures on /metrics, the heap's pages held from the system
// (heap_sys - heap_released) and in use.
type memorySplit struct{ rss, heapMapped, heapInUse int64 }

// splitSampler keeps the memorySplit of the highest RSS it sampled.
type splitSampler struct {
	stopped, done chan struct{}
	peak          memorySplit
}

// sampleSplit samples the child's memorySplit every interval until stop.
func sampleSplit(r *childRig, pid int, interval time.Duration) *splitSampler {
	s := &splitSampler{stopped: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stopped:
				return
			case <-time.After(interval):
			}
			vals, err := r.goMemory()
			if err != nil {
				continue
			}
			m, err := readProcMemory(pid)
			if err != nil {
				return
			}
			if m.rss > s.peak.rss {
				s.peak = memorySplit{rss: m.rss, heapMapped: int64(vals["go_memstats_heap_sys_bytes"] - vals["go_memstats_heap_released_bytes"]),
					heapInUse: int64(vals["go_memstats_heap_inuse_bytes"])}
			}
		}
	}()
	return s
}

// stop stops sampling and returns the sample of the highest RSS.
func (s *splitSampler) stop() memorySplit {
	select {
	case <-s.stopped:
	default:
		close(s.stopped)
	}
	<-s.done
	return s.peak
}

// goMemory reads the Go runtime's memory figures (go_memstats_*) from the
// child's /metrics.
func (r *childRig) goMemory() (map[string]float64, error) {
	resp, err := r.client.Get(r.base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	vals := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(name, "go_memstats_") {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			vals[name] = f
		}
	}
	return vals, sc.Err()
}
