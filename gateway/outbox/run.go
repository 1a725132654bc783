package outbox

import (
	"context"
	"sync"
	"time"

	"github.com/tongban/tongban/gateway"
)

// Run delivers until ctx is cancelled, then lets attempts in flight finish
// (each is bounded by its partner's timeout), puts the deliveries it
// claimed and did not start back to the queue, due at once, and returns.
//
// It keeps up to Workers attempts in flight, and at most PerPartner of
// them to one partner, so a hanging partner never holds more than that
// many workers. Claims come mostly with the writes that record
// acknowledgements (gateway.NextClaim): an attempt that succeeded claims,
// in the write of its acknowledgement, as many deliveries as there is
// room for, so a busy dispatcher needs no claim write of its own. Run
// claims on its own (ClaimDue) when woken (Notify) or when its poll says
// deliveries are due, if there is room enough (see room).
//
// A claimed delivery starts at once when a worker and a slot of its
// partner are free; else it waits, in memory, for its partner's next
// free slot (at most twice Workers wait in all), so that the partner's next
// attempt starts as soon as one ends, without waiting for a claim. One
// that waits Poll (on the wall clock), or finds no place to wait, is put
// back without an attempt (see admit), as is one whose partner's circuit
// is open.
func (d *Dispatcher) Run(ctx context.Context) error {
	r := newRunner(d, ctx)
	defer r.close()
	for ctx.Err() == nil {
		now := d.env.Clock.Now()
		r.expire(time.Now())
		want := r.reserve(time.Now())
		got, started := 0, 0
		if want > 0 {
			batch, err := d.store.ClaimDue(ctx, now.UTC(), d.opt.Lease, want)
			if err != nil && ctx.Err() == nil {
				d.env.Log.Error("claiming deliveries failed", "err", err)
			}
			started = r.take(batch)
			r.unreserve(want)
			got = len(batch)
		}
		if want > 0 && got == want && started > 0 {
			continue // more may be due right now
		}
		sleep := d.opt.Poll
		if want > 0 && (got == 0 || started > 0) {
			// (A round that could start nothing it claimed sleeps the
			// whole poll, woken early when an attempt ends: claiming the
			// same blocked partner's deliveries again at once would only
			// churn the store.)
			if t, ok, err := d.store.NextDue(ctx); err == nil && ok {
				sleep = min(max(t.Sub(d.env.Clock.Now()), d.opt.Floor), d.opt.Poll)
			}
		}
		timer := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
		case <-d.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
	return nil
}

// runner is one Run's bookkeeping: its workers, the claims under way and
// the claimed deliveries waiting for a slot of their partner. Its methods
// are safe for concurrent use; those called from attempts (freed, fold,
// folded) do nothing on a nil runner (RunOnce).
type runner struct {
	d *Dispatcher
	// stop is Run's context: once it is done nothing more is claimed or
	// started. ctx is the attempts': never cancelled.
	stop, ctx context.Context
	workers   chan struct{} // one per attempt under way (Workers)
	wg        sync.WaitGroup

	// pushing is the partners deliveries are pushed to (no mailbox), as
	// of the directory's generation gen (a reloaded configuration
	// changes them: room reads them again).
	pushing map[string]bool
	gen     uint64

	mu      sync.Mutex
	waiting map[string][]waiter // by partner, oldest first
	nwait   int
	// asked counts the deliveries the claims under way may bring;
	// acking, by partner, the attempts acknowledged whose write has not
	// asked yet (nacking in all).
	asked, nacking int
	acking         map[string]int
	// probed is when Run last claimed for the partners not at work.
	probed time.Time
	closed bool
}

// waiter is a claimed delivery waiting for a slot of its partner.
type waiter struct {
	del   *gateway.Delivery
	a     admission // from route
	since time.Time // wall clock
}

func newRunner(d *Dispatcher, ctx context.Context) *runner {
	r := &runner{d: d, stop: ctx, ctx: context.WithoutCancel(ctx), workers: make(chan struct{}, d.opt.Workers),
		waiting: map[string][]waiter{}, acking: map[string]int{}}
	r.readPushing()
	return r
}

// readPushing reads the pushing partners from the directory in force.
// r.mu is held, or r is not shared yet.
func (r *runner) readPushing() {
	r.gen = r.d.dir.Generation()
	r.pushing = map[string]bool{}
	for _, p := range r.d.dir.Partners() {
		if p.Mailbox == nil {
			r.pushing[p.ID] = true
		}
	}
}

// room is how many more deliveries may be claimed, less what claims
// under way asked for and the acknowledged attempts about to ask: the
// free slots of the partners at work (with attempts under way,
// deliveries waiting or acknowledgements being written), no more than
// the free workers (own: and the worker asking, about to be free) can
// start, and the free places to wait (Workers in all); with probe, also
// the free slots of the pushing partners not at work. The places to wait
// let claims run ahead of the attempts: a partner's next attempt starts
// as soon as one ends, while the acknowledgements that claim the next
// ones are still being written. A claim cannot choose its partners: this
// fills the partners at work without claiming for partners that have
// nothing due, and reaches the others as their deliveries come due;
// should a busy partner's due deliveries all come before theirs, the
// probe, made at most once per Poll, reaches them (what it brings for the
// busy partner waits, or is put back). With no partner at work, the room
// is what the free workers can start on all pushing partners' slots.
// r.mu is held.
func (r *runner) room(own int, probe bool) int {
	if r.d.dir.Generation() != r.gen {
		r.readPushing()
	}
	per := r.d.opt.PerPartner
	free := r.d.opt.Workers - len(r.workers) + own
	slots, busy, idle := 0, 0, 0
	r.d.gateMu.Lock()
	for p := range r.pushing {
		n := r.d.busy[p]
		if n > 0 || r.acking[p] > 0 || len(r.waiting[p]) > 0 {
			slots += per
			busy += n
		} else {
			idle += per
		}
	}
	r.d.gateMu.Unlock()
	// Deliveries to partners not configured are claimed too, to be
	// refused: there is room for them even without a pushing partner.
	n := min(free, max(idle, 1))
	if slots > 0 {
		n = min(free, slots-busy) + r.d.opt.Workers - r.nwait
		if probe {
			n += min(free, idle)
		}
	}
	return max(0, min(r.d.opt.Batch, n-r.asked-r.nacking))
}

// reserve returns how many deliveries Run's own claim asks for, counted
// as asked until unreserve: the room, when it is at least a quarter of
// the most there can be, or when nothing is under way at all (a claim of
// a few would take a write that the attempts' acknowledgements save:
// they claim with theirs). When the room is too small, and Poll has
// passed since, it probes (see room).
func (r *runner) reserve(now time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0
	}
	n := r.room(0, false)
	idle := len(r.workers) == 0 && r.nwait == 0 && r.asked == 0 && r.nacking == 0
	if !idle && n < max(1, min(r.d.opt.Batch, r.d.opt.Workers)/4) {
		n = 0
		if now.Sub(r.probed) >= r.d.opt.Poll {
			n = r.room(0, true)
			r.probed = now
		}
	}
	r.asked += n
	return n
}

// unreserve ends a claim that asked for n.
func (r *runner) unreserve(n int) {
	r.mu.Lock()
	r.asked -= n
	r.mu.Unlock()
}

// freed is called when an attempt to partner has given its partner slot
// back; acked says it succeeded, and that its acknowledgement's write
// will ask for the next deliveries (fold). A delivery waiting for the
// partner starts at once on the slot.
func (r *runner) freed(partner string, acked bool) {
	if r == nil {
		return
	}
	if acked {
		r.mu.Lock()
		r.acking[partner]++
		r.nacking++
		r.mu.Unlock()
	}
	r.startWaiting()
}

// fold returns what the write recording an acknowledgement is to claim:
// the room, counting the acknowledging worker as free (its slot is given
// back right after the write), counted as asked until folded; nil when
// there is room for fewer than Workers/8 (the acknowledgements after it
// claim for it), or with claim false (the acknowledgement was refused,
// nothing is claimed).
func (r *runner) fold(partner string, claim bool) *gateway.NextClaim {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.acking[partner]--; r.acking[partner] <= 0 {
		delete(r.acking, partner)
	}
	r.nacking--
	if !claim || r.closed || r.stop.Err() != nil {
		return nil
	}
	// A claim of one or two would cost about what a claim of several
	// does: claim once there is room for a few (what is left waits for
	// the next acknowledgement, or for Run).
	n := r.room(1, false)
	if n < max(1, min(r.d.opt.Batch, r.d.opt.Workers)/8) {
		return nil
	}
	r.asked += n
	return &gateway.NextClaim{Now: r.d.env.Clock.Now().UTC(), Lease: r.d.opt.Lease, Limit: n}
}

// folded returns what the claim next asked for brought, for the worker
// to take (takeFolded) once it has given its own worker back; the claim
// stays counted as asked until then.
func (r *runner) folded(next *gateway.NextClaim) *gateway.NextClaim {
	if r == nil || next == nil {
		return nil
	}
	return next
}

// takeFolded takes what a folded claim brought and ends the claim.
func (r *runner) takeFolded(next *gateway.NextClaim) {
	if next == nil {
		return
	}
	r.take(next.Claimed)
	r.unreserve(next.Limit)
}

// take hands out claimed deliveries (see Run): each is refused, starts,
// waits for its partner, or is put back, as admit says. It returns how
// many started or wait.
//
// Usage records to an issuer that takes batches go as gatherUsage groups
// them and admit decides for each group (usagebatch.go): the record that
// leads an admitted batch holds a worker (waiting for one if none is
// free: attempts end within their partner's timeout), the others go with
// it; a group put back is put back record by record.
func (r *runner) take(batch []*gateway.Delivery) int {
	r.d.gatherUsage(batch)
	n := 0
	for _, del := range batch {
		if r.d.grouped(del) {
			a := r.d.admit(del)
			lead := a.deliver != nil && a.group != nil
			if lead {
				r.workers <- struct{}{}
			}
			r.spawn(del, a, lead)
			if lead || a.joined {
				n++
			}
			continue
		}
		a := r.d.route(del)
		switch {
		case a.refusal != nil:
			r.spawn(del, a, false)
			continue
		case r.stop.Err() != nil:
			r.spawn(del, r.putBack(a), false)
			continue
		}
		if r.tryWorker() {
			g := r.d.gate(a)
			if g.postpone == "" {
				r.spawn(del, g, true)
				n++
				continue
			}
			<-r.workers
			if g.postpone != PostponedPartnerBusy {
				r.spawn(del, g, false)
				continue
			}
		}
		if r.wait(del, a) {
			n++
		} else {
			r.spawn(del, r.putBack(a), false)
		}
	}
	return n
}

// putBack is the admission of a routed delivery (a from route) that can
// neither start nor wait: put back as one whose partner is busy, due
// again after Poll, or at once when Run is ending.
func (r *runner) putBack(a admission) admission {
	wait := r.d.opt.Poll
	if r.stop.Err() != nil {
		wait = 0
	}
	return admission{p: a.p, postpone: PostponedPartnerBusy, wait: wait}
}

// tryWorker takes a worker if one is free.
func (r *runner) tryWorker() bool {
	select {
	case r.workers <- struct{}{}:
		return true
	default:
		return false
	}
}

// wait puts del, routed as a says, among the deliveries waiting for its
// partner, if there is a place.
func (r *runner) wait(del *gateway.Delivery, a admission) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	// The room counts Workers places; a claim may find fewer free slots
	// than it counted on (a waiting delivery took one meanwhile), so
	// twice as many may wait before one is put back.
	if r.closed || r.nwait >= 2*r.d.opt.Workers {
		return false
	}
	r.waiting[del.Partner] = append(r.waiting[del.Partner], waiter{del: del, a: a, since: time.Now()})
	r.nwait++
	return true
}

// startWaiting starts waiting deliveries, oldest first per partner, while
// their partners have free slots and workers are free.
func (r *runner) startWaiting() {
	for r.stop.Err() == nil {
		var (
			w waiter
			g admission
		)
		r.mu.Lock()
		for p, ws := range r.waiting {
			if !r.tryWorker() {
				break
			}
			g = r.d.gate(ws[0].a)
			if g.postpone == PostponedPartnerBusy {
				<-r.workers
				continue
			}
			w = ws[0]
			r.pop(p)
			break
		}
		r.mu.Unlock()
		switch {
		case w.del == nil:
			return
		case g.postpone != "":
			<-r.workers
			r.spawn(w.del, g, false)
		default:
			r.spawn(w.del, g, true)
		}
	}
}

// pop removes partner's oldest waiting delivery; r.mu is held.
func (r *runner) pop(partner string) {
	ws := r.waiting[partner]
	ws[0] = waiter{}
	if len(ws) == 1 {
		delete(r.waiting, partner)
	} else {
		r.waiting[partner] = ws[1:]
	}
	r.nwait--
}

// expire puts back the deliveries that have waited Poll by now (wall
// clock), as admit does those of a busy partner.
func (r *runner) expire(now time.Time) {
	var out []waiter
	r.mu.Lock()
	for p, ws := range r.waiting {
		for len(ws) > 0 && now.Sub(ws[0].since) >= r.d.opt.Poll {
			out = append(out, ws[0])
			r.pop(p)
			ws = r.waiting[p]
		}
	}
	r.mu.Unlock()
	for _, w := range out {
		r.spawn(w.del, r.putBack(w.a), false)
	}
}

// spawn carries out a for del in a goroutine of its own; worker says it
// holds a worker, given back when it ends. What the attempt's
// acknowledgement claimed is taken then.
func (r *runner) spawn(del *gateway.Delivery, a admission, worker bool) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		next := r.d.run(r.ctx, del, a, r)
		if worker {
			<-r.workers
		}
		r.takeFolded(next)
		r.startWaiting()
		r.d.Notify()
	}()
}

// close waits for every attempt to end, then puts back what still waits,
// due at once: another dispatcher, or this one's next start, takes it
// without waiting out its lease.
func (r *runner) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.wg.Wait()
	r.mu.Lock()
	var out []waiter
	for p, ws := range r.waiting {
		out = append(out, ws...)
		delete(r.waiting, p)
	}
	r.nwait = 0
	r.mu.Unlock()
	for _, w := range out {
		r.d.run(r.ctx, w.del, r.putBack(w.a), nil)
	}
}
