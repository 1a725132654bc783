package bench

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
)

// Backlog bench bounds and targets.
const (
	DefaultPending      = 100_000
	MaxPending          = 1_000_000
	DefaultBacklogDrain = 15 * time.Minute
	// BacklogServingTarget and BacklogRSSTarget are the targets the
	// report states the figures against (issue 14): serving within 10 s
	// of the restart, resident memory under 300 MiB while draining.
	BacklogServingTarget = 10 * time.Second
	BacklogRSSTarget     = 300 << 20
	// rssInterval is how often the child's resident memory is sampled.
	rssInterval = 50 * time.Millisecond
)

// BacklogOptions are a `tongban bench backlog` run.
type BacklogOptions struct {
	ChildOptions
	Pending     int           // cases submitted while the owner is down
	Concurrency int           // callers submitting them
	Drain       time.Duration // longest wait for the backlog to drain
	StartWithin time.Duration // longest wait for the gateway to serve after a start
}

// Validate checks the run's bounds; errors name the command's flag.
func (o BacklogOptions) Validate() error {
	switch {
	case o.Pending < 1 || o.Pending > MaxPending:
		return fmt.Errorf("--pending %d must be 1 to %d", o.Pending, MaxPending)
	case o.Concurrency < 1 || o.Concurrency > MaxConcurrent:
		return fmt.Errorf("--concurrency %d must be 1 to %d", o.Concurrency, MaxConcurrent)
	case o.Drain <= 0 || o.Drain > MaxDuration:
		return fmt.Errorf("--drain %s must be positive and at most %s", o.Drain, MaxDuration)
	case o.StartWithin <= 0 || o.StartWithin > MaxDuration:
		return fmt.Errorf("--start-within %s must be positive and at most %s", o.StartWithin, MaxDuration)
	}
	return o.ChildOptions.validate()
}

// backlogResult is what one backlog run measured.
type backlogResult struct {
	o                   BacklogOptions
	engine              string
	prepared            time.Duration
	submitted, refused  int
	errors              map[string]int
	submitTook          time.Duration
	pendingAtKill       int // unfinished deliveries the gateway counted before the kill
	storeBytes          int64
	firstPID, secondPID int
	readyAfter          time.Duration // restart → /readyz 200
	servingAfter        time.Duration // restart → 202 of a new case
	probeRefusals       int           // answers other than 202 before it
	drainTook           time.Duration
	expected, delivered int            // accepted cases (with the probe) and those the owner acknowledged
	recorded            int            // deliveries the gateway counts as delivered
	unfinishedAfter     int            // deliveries the gateway still counts unfinished
	dispatch            dispatchCounts // the restarted gateway's, at the end of the drain
	peakRSS, hwm        int64
	idleRSS             int64 // after the restart was serving, before the drain
	rssSamples          int64
	rssErr              error
}

// RunBacklog measures a gateway restart and drain under a backlog: with
// the simulated owner down (every delivery answered 503), o.Pending cases
// are submitted, so that as many deliveries wait in the outbox; the
// gateway is killed (SIGKILL) and started again, and the time until it
// is ready (/readyz 200) and serving (a new signed case answered 202) is
// measured; then the owner comes back and the child's resident memory is
// sampled while the backlog drains. It writes the report to w and
// progress lines to progress, and returns a *Failure when an accepted
// case was not delivered within o.Drain.
func RunBacklog(ctx context.Context, w, progress io.Writer, o BacklogOptions) error {
	if err := o.Validate(); err != nil {
		return err
	}
	r, err := startChildRig(o.ChildOptions, progress, partnersim.Faults{ErrorRate: 1}, nil)
	if err != nil {
		return err
	}
	defer r.close()
	res := &backlogResult{o: o, engine: r.engine.Name(), errors: map[string]int{}}
	start := time.Now()

	// Sign every case, and the probe sent after the restart, before the
	// clock starts.
	src := r.caseSource()
	cases, err := src.Cases(o.Pending + 1)
	if err != nil {
		return err
	}
	probe := cases[o.Pending]
	cases = cases[:o.Pending]
	res.prepared = time.Since(start)
	toks := src.Tokens(devrig.Sender, "window-"+devrig.Sender)
	if _, err := toks.Get(); err != nil {
		return err
	}
	r.progressf(start, "signed %d cases in %s; starting the gateway", len(cases)+1, res.prepared.Round(time.Millisecond))

	if err := r.start(); err != nil {
		return err
	}
	res.firstPID = r.proc.pid()
	if _, err := r.waitReady(ctx, time.Now(), o.StartWithin); err != nil {
		return err
	}

	// The backlog: every case accepted while the owner refuses them all.
	accepted := make([]bool, len(cases))
	t0 := time.Now()
	var next, ok, bad atomic.Int64
	stopProgress := r.every(o.Progress, func() {
		r.progressf(start, "submitting: %d of %d accepted (%.0f/s), %d refused", ok.Load(), len(cases),
			rate(int(ok.Load()), time.Since(t0)), bad.Load())
	})
	var mu sync.Mutex
	var wg sync.WaitGroup
	client := devrig.LoopbackClient(o.Concurrency)
	defer client.CloseIdleConnections()
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs := map[string]int{}
			defer func() {
				mu.Lock()
				for k, v := range errs {
					res.errors[k] += v
				}
				mu.Unlock()
			}()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(cases) {
					return
				}
				tok, err := toks.Get()
				if err != nil {
					errs["token: "+err.Error()]++
					bad.Add(1)
					continue
				}
				if code := submit(ctx, client, r.base, tok, &cases[i]); code != "" {
					if code != "cancelled" {
						errs[code]++
						bad.Add(1)
					}
					continue
				}
				accepted[i] = true
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	stopProgress()
	res.submitTook = time.Since(t0)
	res.submitted, res.refused = int(ok.Load()), int(bad.Load())
	if err := ctx.Err(); err != nil {
		return err
	}
	counts, err := r.deliveryCounts(ctx)
	if err != nil {
		return err
	}
	res.pendingAtKill = unfinished(counts)
	r.progressf(start, "submitted %d (%d refused) in %s; %d deliveries pending; SIGKILL pid %d",
		res.submitted, res.refused, res.submitTook.Round(time.Millisecond), res.pendingAtKill, res.firstPID)

	// SIGKILL, and start again on the same store.
	if err := r.proc.kill(); err != nil {
		return err
	}
	res.storeBytes = storeSize(r.dir)
	restart := time.Now()
	if err := r.start(); err != nil {
		return err
	}
	res.secondPID = r.proc.pid()
	sampler := sampleRSS(res.secondPID, rssInterval)
	defer sampler.stop()
	if res.readyAfter, err = r.waitReady(ctx, restart, o.StartWithin); err != nil {
		return err
	}
	tok, err := toks.Get()
	if err != nil {
		return err
	}
	for {
		code := submit(ctx, client, r.base, tok, &probe)
		if code == "" {
			res.servingAfter = time.Since(restart)
			break
		}
		res.probeRefusals++
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(restart) > o.StartWithin {
			return fmt.Errorf("bench: the restarted gateway did not accept a case within %s (last answer %s)", o.StartWithin, code)
		}
		time.Sleep(5 * time.Millisecond)
	}
	res.idleRSS = sampler.last.Load()
	r.progressf(start, "restarted: ready after %s, a new case accepted after %s; the owner is back, draining",
		res.readyAfter.Round(time.Millisecond), res.servingAfter.Round(time.Millisecond))

	// The owner comes back: the backlog drains.
	ids := make([]string, 0, res.submitted+1)
	for i := range cases {
		if accepted[i] {
			ids = append(ids, cases[i].ExchangeID)
		}
	}
	ids = append(ids, probe.ExchangeID)
	res.expected = len(ids)
	drained := func() int {
		n := 0
		for _, id := range ids {
			if r.acks.has(id) {
				n++
			}
		}
		return n
	}
	if err := r.owner.SetFaults(partnersim.Faults{}); err != nil {
		return err
	}
	d0 := time.Now()
	stopProgress = r.every(o.Progress, func() {
		n := r.acks.count()
		r.progressf(start, "draining: %d of %d acknowledged (%.0f/s), gateway RSS %s (peak %s)", n, res.expected,
			rate(n, time.Since(d0)), mib(sampler.last.Load()), mib(sampler.peak.Load()))
	})
	deadline := d0.Add(o.Drain)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if r.acks.count() >= res.expected && drained() >= res.expected {
			break
		}
		select {
		case <-r.proc.exited:
			stopProgress()
			return fmt.Errorf("bench: the gateway exited while draining (%v); its log ends:\n%s", r.proc.err, r.logTail())
		case <-time.After(5 * time.Millisecond):
		}
	}
	res.drainTook = time.Since(d0)
	stopProgress()
	res.delivered = drained()
	res.rssErr = sampler.stop()
	res.peakRSS, res.rssSamples = sampler.peak.Load(), sampler.samples.Load()
	if m, err := readProcMemory(res.secondPID); err == nil {
		res.hwm = m.hwm
		res.peakRSS = max(res.peakRSS, m.rss)
	} else if res.rssErr == nil {
		res.rssErr = err
	}
	// The gateway's own count: acknowledgements verified and recorded
	// (the last ones may still be on their way to the store).
	for range 500 {
		counts, err := r.deliveryCounts(context.WithoutCancel(ctx))
		if err != nil {
			return err
		}
		res.recorded, res.unfinishedAfter = counts["delivered"], unfinished(counts)
		if res.recorded >= res.delivered || ctx.Err() != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if res.dispatch, err = r.dispatchCounts(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	if err := r.proc.stop(); err != nil {
		return fmt.Errorf("bench: stopping the gateway: %w", err)
	}
	res.print(w)
	if res.delivered < res.expected {
		return &Failure{fmt.Sprintf("bench: %d of %d accepted cases not delivered within --drain %s", res.expected-res.delivered, res.expected, o.Drain)}
	}
	return nil
}

// every calls f every interval until the returned stop is called (which
// waits for a call in progress); interval 0 never calls it.
func (r *childRig) every(interval time.Duration, f func()) (stop func()) {
	if interval <= 0 {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				f()
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(quit); <-done }) }
}

// verdict says whether a figure meets its target.
func verdict(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

func (res *backlogResult) print(w io.Writer) {
	o := res.o
	synchronous := o.Synchronous
	if synchronous == "" {
		synchronous = "full"
	}
	fmt.Fprintf(w, "tongban bench backlog: %d pending deliveries, the gateway a child process (tongban serve)\n", o.Pending)
	fmt.Fprintf(w, "store embedded, synchronous=%s, engine %s; owner %s (standard) simulated on loopback, down (503) while the cases were submitted\n",
		synchronous, res.engine, devrig.Owner)
	fmt.Fprintf(w, "%d cases signed by %s before the clock started (%s)\n\n", o.Pending+1, devrig.Sender, res.prepared.Round(time.Millisecond))

	fmt.Fprintf(w, "submitted  %d accepted (202), %d refused, in %s: %.0f cases/s, concurrency %d\n",
		res.submitted, res.refused, res.submitTook.Round(time.Millisecond), rate(res.submitted, res.submitTook), o.Concurrency)
	for k, v := range res.errors {
		fmt.Fprintf(w, "refused    %d × %s\n", v, k)
	}
	fmt.Fprintf(w, "pending    %d deliveries unfinished in the gateway (pid %d) when it was killed (SIGKILL); store %s\n",
		res.pendingAtKill, res.firstPID, mib(res.storeBytes))
	fmt.Fprintf(w, "restart    ready (/readyz 200) after %s; serving (a new signed case answered 202) after %s\n",
		res.readyAfter.Round(time.Millisecond), res.servingAfter.Round(time.Millisecond))
	fmt.Fprintf(w, "drain      %d of %d accepted cases acknowledged by the owner in %s: %.0f deliveries/s (gateway recorded %d delivered, %d unfinished)\n",
		res.delivered, res.expected, res.drainTook.Round(time.Millisecond), rate(res.delivered, res.drainTook), res.recorded, res.unfinishedAfter)
	fmt.Fprintf(w, "           since the restart: %s; %s\n", countsText("attempts", res.dispatch.attempts), countsText("claimed and put back without an attempt", res.dispatch.postponed))
	if res.rssErr != nil {
		fmt.Fprintf(w, "memory     not measured: %v\n", res.rssErr)
	} else {
		fmt.Fprintf(w, "memory     gateway (pid %d) RSS %s when serving, peak %s sampled while draining (%d samples); VmHWM %s since the restart\n",
			res.secondPID, mib(res.idleRSS), mib(res.peakRSS), res.rssSamples, mib(res.hwm))
	}
	fmt.Fprintf(w, "\n%-36s %12s %12s  %s\n", "target (issue 14)", "figure", "target", "")
	fmt.Fprintf(w, "%-36s %12s %12s  %s\n", "serving after SIGKILL and restart", res.servingAfter.Round(time.Millisecond),
		"≤ "+BacklogServingTarget.String(), verdict(res.servingAfter <= BacklogServingTarget))
	if res.rssErr == nil {
		peak := max(res.peakRSS, res.hwm)
		fmt.Fprintf(w, "%-36s %12s %12s  %s\n", "resident memory while draining", mib(peak), "< "+mib(BacklogRSSTarget),
			verdict(peak < BacklogRSSTarget))
	}
	fmt.Fprintf(w, "%-36s %12s %12s  %s\n", "accepted cases delivered", fmt.Sprintf("%d/%d", res.delivered, res.expected), "all",
		verdict(res.delivered == res.expected))
}

// countsText writes counts by key after what, largest first: "attempts
// 100001 (delivered 100000, retry_wait 1)"; "what 0" when there are none.
func countsText(what string, counts map[string]int) string {
	keys := slices.Collect(maps.Keys(counts))
	total := 0
	for _, k := range keys {
		total += counts[k]
	}
	if total == 0 {
		return what + " 0"
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b)) })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, counts[k])
	}
	return fmt.Sprintf("%s %d (%s)", what, total, strings.Join(parts, ", "))
}
