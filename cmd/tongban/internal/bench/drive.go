package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// A job sends request i and returns "" when it was answered as hoped,
// else what went wrong (an error code, or why there was no answer);
// "cancelled" is not counted as a failure.
type job func(ctx context.Context, i int) string

// offered is the outcome of offering n requests as a load says.
type offered struct {
	ok, failed int
	errors     map[string]int
	lat        []time.Duration // successes: from (scheduled) send to answer
	lag        []time.Duration // open loop: actual minus scheduled send
	lastOK     time.Duration   // since start
	// sentAt[i] is when request i was (to be) sent, since start; -1 when
	// it was refused or never sent.
	sentAt []atomic.Int64
}

// offer sends up to n requests with do, from start, as o says: closed
// loop (o.Concurrency callers, each sending its next request when the
// previous is answered) or open loop (o.Rate per second on a fixed
// schedule, latency from the scheduled time so a stall is not hidden),
// until n are sent or o.Duration passes. prog, when not nil, is told of
// every answer.
func offer(ctx context.Context, o Load, n int, start time.Time, do job, prog *progress) *offered {
	res := &offered{errors: map[string]int{}, sentAt: make([]atomic.Int64, n)}
	for i := range res.sentAt {
		res.sentAt[i].Store(-1)
	}
	var deadline time.Time
	if o.Duration > 0 {
		deadline = start.Add(o.Duration)
	}
	var interval time.Duration
	if o.Rate > 0 {
		interval = time.Duration(float64(time.Second) / o.Rate)
	}
	type workerOut struct {
		lat, lag []time.Duration
		ok       int
		errs     map[string]int
		lastOK   time.Duration
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
				if i >= n {
					return
				}
				var at time.Time
				if interval > 0 {
					at = start.Add(time.Duration(i) * interval)
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
					out.lag = append(out.lag, time.Since(at))
				} else {
					at = time.Now()
					if !deadline.IsZero() && !at.Before(deadline) {
						return
					}
				}
				res.sentAt[i].Store(int64(at.Sub(start)))
				prog.sent()
				code := do(ctx, i)
				done := time.Now()
				if code != "" {
					res.sentAt[i].Store(-1)
					if code != "cancelled" {
						out.errs[code]++
						prog.answered(false)
					}
					continue
				}
				prog.answered(true)
				out.ok++
				out.lat = append(out.lat, done.Sub(at))
				out.lastOK = max(out.lastOK, done.Sub(start))
			}
		}()
	}
	wg.Wait()
	for _, out := range outs {
		res.ok += out.ok
		res.lat = append(res.lat, out.lat...)
		res.lag = append(res.lag, out.lag...)
		res.lastOK = max(res.lastOK, out.lastOK)
		for k, v := range out.errs {
			res.errors[k] += v
			res.failed += v
		}
	}
	return res
}

// Latency summarises latencies in milliseconds (nearest-rank
// percentiles).
type Latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// summarise sorts lat and summarises it.
func summarise(lat []time.Duration) Latency {
	slices.Sort(lat)
	f := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	l := Latency{N: len(lat), P50: f(percentile(lat, 50)), P90: f(percentile(lat, 90)), P99: f(percentile(lat, 99))}
	if len(lat) > 0 {
		l.Max = f(lat[len(lat)-1])
	}
	return l
}

// row prints l as a latency table row named name.
func (l Latency) row(w io.Writer, name string) {
	fmt.Fprintf(w, "  %-24s %7d %8.2fms %8.2fms %8.2fms %8.2fms\n", name, l.N, l.P50, l.P90, l.P99, l.Max)
}

// latencyHeader prints the header of latency rows.
func latencyHeader(w io.Writer) {
	fmt.Fprintf(w, "  %-24s %7s %10s %10s %10s %10s\n", "", "n", "p50", "p90", "p99", "max")
}

// progress prints a line to w about every second while a run goes:
// what was sent, answered, refused and (when done is set) completed
// downstream. A nil *progress prints nothing.
type progress struct {
	w                   io.Writer
	phase               string
	total               int
	start               time.Time
	nSent, nOK, nFailed atomic.Int64
	done                func() int // completed downstream (delivered); nil: not shown
	doneLabel           string
	stop                chan struct{}
	stopped             sync.WaitGroup
}

// startProgress starts printing to w (nil: never) about phase, which
// sends up to total requests.
func startProgress(w io.Writer, phase string, total int, done func() int, doneLabel string) *progress {
	if w == nil {
		return nil
	}
	p := &progress{w: w, phase: phase, total: total, start: time.Now(), done: done, doneLabel: doneLabel, stop: make(chan struct{})}
	p.stopped.Add(1)
	go func() {
		defer p.stopped.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				p.line()
				return
			case <-t.C:
				p.line()
			}
		}
	}()
	return p
}

func (p *progress) line() {
	s := fmt.Sprintf("%s %6.1fs: sent %d/%d, answered %d, refused %d", p.phase, time.Since(p.start).Seconds(),
		p.nSent.Load(), p.total, p.nOK.Load(), p.nFailed.Load())
	if p.done != nil {
		s += fmt.Sprintf(", %s %d", p.doneLabel, p.done())
	}
	fmt.Fprintln(p.w, s)
}

func (p *progress) sent() {
	if p != nil {
		p.nSent.Add(1)
	}
}

func (p *progress) answered(ok bool) {
	if p == nil {
		return
	}
	if ok {
		p.nOK.Add(1)
	} else {
		p.nFailed.Add(1)
	}
}

// end prints the last line and stops.
func (p *progress) end() {
	if p == nil {
		return
	}
	close(p.stop)
	p.stopped.Wait()
}
