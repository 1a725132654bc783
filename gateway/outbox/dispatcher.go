package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/port"
)

// Dispatcher drains the outbox: it claims due deliveries, hands each to
// the partner's deliverer of its kind, and records the acknowledgement or
// schedules a retry (exponential backoff with jitter, honouring
// Retry-After) until the partner's retry policy is exhausted, when the
// delivery becomes a dead letter (Policy.Failed). Delivery is at least
// once; the delivery_id is the partner's dedup key. Per-case order is the
// store's ClaimDue rule.
type Dispatcher struct {
	store DispatchStore
	dir   *gateway.Directory
	env   Env
	opt   DispatcherOptions
	inst  *instruments
	acks  acker

	mu   sync.Mutex
	rnd  *rand.Rand
	wake chan struct{}

	health   partnerHealth
	circuits *gateway.Circuits // per partner; no breakers when opt.Circuit.Failures is 0
	gateMu   sync.Mutex
	busy     map[string]int // attempts in flight per partner
	usage    usageBatches   // usage records grouped into batches (usagebatch.go)
}

// NewDispatcher returns a dispatcher of store's outbox to the partners of
// dir, on its own (New makes one as part of an Outbox); call Run, or
// RunOnce in tests. Zero fields of env and o take the defaults (see
// Env and DispatcherOptions).
func NewDispatcher(store DispatchStore, dir *gateway.Directory, env Env, o DispatcherOptions) *Dispatcher {
	env = env.withDefaults()
	return newDispatcher(store, dir, env, o, newInstruments(env.Telemetry.Meter()))
}

// newDispatcher returns a dispatcher with env already defaulted,
// recording with inst.
func newDispatcher(store DispatchStore, dir *gateway.Directory, env Env, o DispatcherOptions, inst *instruments) *Dispatcher {
	o = o.withDefaults()
	seed := o.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &Dispatcher{store: store, dir: dir, env: env, opt: o, inst: inst,
		acks: acker{store: store, rec: env.Recorder, effect: env.AckEffect},
		rnd:  rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), wake: make(chan struct{}, 1),
		circuits: gateway.NewCircuits(o.Circuit), busy: map[string]int{}}
}

// PartnerStates returns what the dispatcher saw of each partner it pushes
// to (see PartnerState), sorted by partner id.
func (d *Dispatcher) PartnerStates() []PartnerState { return d.health.states(d.dir, d.circuits) }

// Notify wakes the dispatcher: new deliveries may be due. It never blocks.
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// RunOnce claims one batch of due deliveries, attempts those it may (see
// admit; the others are put back without an attempt), records the
// outcomes and returns how many it attempted (or refused permanently). Attempts run with a
// context detached from ctx's cancellation, so shutdown never cuts one off
// half-recorded.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	batch, err := d.store.ClaimDue(ctx, d.env.Clock.Now().UTC(), d.opt.Lease, d.opt.Batch)
	if err != nil {
		return 0, err
	}
	d.gatherUsage(batch)
	sem := make(chan struct{}, d.opt.Workers)
	var wg sync.WaitGroup
	attempted := 0
	for _, del := range batch {
		a := d.admit(del)
		if a.postpone == "" {
			attempted++
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			d.run(context.WithoutCancel(ctx), del, a, nil)
		}()
	}
	wg.Wait()
	return attempted, nil
}

// Backoff returns the delay before retry number attempt (1-based) under
// policy p, drawing the jitter from the dispatcher's seeded source (see
// the package's Backoff).
func (d *Dispatcher) Backoff(p gateway.RetryPolicy, attempt int) time.Duration {
	return Backoff(p, attempt, func(n int64) int64 {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.rnd.Int64N(n)
	})
}

// deliverFunc sends one delivery's payload to its partner and returns the
// partner's acknowledgement, its exact bytes and signature.
type deliverFunc func(ctx context.Context, payload []byte) (ack *contracts.Ack, raw, sig []byte, err error)

// deliverer returns how to deliver a delivery of kind to p, or the reason
// p cannot take it (a permanent failure).
func deliverer(p *gateway.Partner, kind contracts.DeliveryKind) (deliverFunc, error) {
	switch kind {
	case contracts.DeliveryKindCase:
		if p.Cases == nil {
			return nil, fmt.Errorf("partner %s's adapter is not configured to deliver cases", p.ID)
		}
		return func(ctx context.Context, payload []byte) (*contracts.Ack, []byte, []byte, error) {
			var m contracts.CaseDelivery
			if err := json.Unmarshal(payload, &m); err != nil {
				return nil, nil, nil, err
			}
			return p.Cases.DeliverCase(ctx, &m)
		}, nil
	case contracts.DeliveryKindStatus:
		if p.Statuses == nil {
			return nil, fmt.Errorf("partner %s's adapter is not configured to deliver status updates", p.ID)
		}
		return func(ctx context.Context, payload []byte) (*contracts.Ack, []byte, []byte, error) {
			var m contracts.StatusDelivery
			if err := json.Unmarshal(payload, &m); err != nil {
				return nil, nil, nil, err
			}
			return p.Statuses.DeliverStatus(ctx, &m)
		}, nil
	case contracts.DeliveryKindNotice:
		if p.Notices == nil {
			return nil, fmt.Errorf("partner %s's adapter is not configured to deliver notices", p.ID)
		}
		return func(ctx context.Context, payload []byte) (*contracts.Ack, []byte, []byte, error) {
			var m contracts.NoticeDelivery
			if err := json.Unmarshal(payload, &m); err != nil {
				return nil, nil, nil, err
			}
			return p.Notices.DeliverNotice(ctx, &m)
		}, nil
	case contracts.DeliveryKindUsageRecord:
		if p.Library == nil || p.Library.Usage == nil {
			return nil, fmt.Errorf("partner %s no longer accepts usage records", p.ID)
		}
		return func(ctx context.Context, payload []byte) (*contracts.Ack, []byte, []byte, error) {
			var m contracts.UsageRecordDelivery
			if err := json.Unmarshal(payload, &m); err != nil {
				return nil, nil, nil, err
			}
			return p.Library.Usage.DeliverUsage(ctx, &m)
		}, nil
	}
	return nil, fmt.Errorf("delivery kind %q is not supported", kind)
}

// Why a claimed delivery is put back without an attempt (the reason of
// the tongban.delivery.postponed metric).
const (
	// PostponedPartnerBusy: PerPartner attempts to its partner were in
	// flight. It is due again after Poll.
	PostponedPartnerBusy = "partner_busy"
	// PostponedCircuitOpen: its partner's circuit was open (or half-open
	// with its trial attempt in flight). It is due again when the circuit
	// lets a trial through.
	PostponedCircuitOpen = "circuit_open"
)

// admission is what admit decided for one claimed delivery: attempt it
// (deliver, with done to report to the partner's breaker), refuse it
// permanently (refusal), or put it back (postpone, for wait). An admitted
// delivery that leads a batch of usage records carries it (group); one
// that joined a batch another delivery leads (joined) needs nothing more.
type admission struct {
	p        *gateway.Partner // nil when not configured
	deliver  deliverFunc
	done     func(failed bool)
	refusal  error
	postpone string
	wait     time.Duration
	group    *usageGroup
	joined   bool
}

// admitAlone decides what becomes of a claimed delivery now: a permanent
// refusal when its partner cannot take it; else an attempt, taking one of
// its partner's PerPartner slots and asking its circuit breaker; else,
// when the slots are taken or the circuit is open, a postponement. (admit
// decides for a batch of usage records as one.)
func (d *Dispatcher) admitAlone(del *gateway.Delivery) admission {
	a := d.route(del)
	if a.refusal != nil {
		return a
	}
	return d.gate(a)
}

// route is admitAlone's first half: the partner of del and how to deliver
// it there (a.p, a.deliver), or the reason it cannot be (a.refusal).
func (d *Dispatcher) route(del *gateway.Delivery) admission {
	p := d.dir.Get(del.Partner)
	switch {
	case p == nil:
		return admission{refusal: fmt.Errorf("partner %s is not configured for delivery", del.Partner)}
	case p.Mailbox != nil:
		// The store hands a pulling partner's deliveries only to its
		// mailbox once told (MailboxStore.SetPullPartners); this one got
		// here because it was not.
		return admission{p: p, refusal: fmt.Errorf("partner %s pulls from its mailbox; the store was not told (SetPullPartners)", del.Partner)}
	}
	deliver, refusal := deliverer(p, del.Kind)
	if refusal != nil {
		return admission{p: p, refusal: refusal}
	}
	return admission{p: p, deliver: deliver}
}

// gate is admit's second half, for a routed delivery (a from route): it
// takes one of the partner's PerPartner slots and asks its circuit
// breaker, or says why the delivery is postponed.
func (d *Dispatcher) gate(a admission) admission {
	d.gateMu.Lock()
	defer d.gateMu.Unlock()
	if d.busy[a.p.ID] >= d.opt.PerPartner {
		return admission{p: a.p, postpone: PostponedPartnerBusy, wait: d.opt.Poll}
	}
	done, wait, ok := d.circuits.Allow(a.p.ID)
	if !ok {
		return admission{p: a.p, postpone: PostponedCircuitOpen, wait: wait}
	}
	d.busy[a.p.ID]++
	return admission{p: a.p, deliver: a.deliver, done: done}
}

// release frees the slot an admitted attempt to partner held and reports
// its result to the partner's breaker.
func (d *Dispatcher) release(partner string, a admission, failed bool) {
	a.done(failed)
	d.gateMu.Lock()
	d.busy[partner]--
	d.gateMu.Unlock()
}

// run carries out what admit decided for del. Under Run (rn not nil)
// it returns the deliveries claimed with the write that recorded del's
// acknowledgement, for rn to take (see runner.fold). A delivery in a batch
// of usage records goes with its batch (runGrouped), which claims nothing.
func (d *Dispatcher) run(ctx context.Context, del *gateway.Delivery, a admission, rn *runner) *gateway.NextClaim {
	if d.runGrouped(ctx, a) {
		return nil
	}
	if del.TakenOver {
		// Whatever becomes of it now, the attempt cut off before is
		// recorded first: the partner may have received it.
		d.interrupted(ctx, del)
		del.TakenOver = false
	}
	switch {
	case a.refusal != nil:
		d.fail(ctx, del, a.p, a.refusal)
	case a.postpone != "":
		d.putBack(ctx, del, a)
	default:
		return d.attempt(ctx, del, a, rn)
	}
	return nil
}

// putBack returns a claimed delivery to retry_wait, due after a.wait,
// without an attempt: its Attempts and LastError stay, no evidence is
// recorded (nothing was sent), and it is counted in the
// tongban.delivery.postponed metric and its partner's PartnerState.
func (d *Dispatcher) putBack(ctx context.Context, del *gateway.Delivery, a admission) {
	del.State = contracts.TransportStateRetryWait
	del.NextAt = d.env.Clock.Now().UTC().Add(a.wait)
	if err := d.store.SaveAttempt(ctx, del); err != nil && !errors.Is(err, gateway.ErrStale) {
		d.env.Log.ErrorContext(ctx, "putting back a delivery failed", "delivery_id", del.ID, "err", err)
		return
	}
	d.health.postponed(del.Partner)
	d.inst.postponed(ctx, del, a.postpone)
	d.env.Log.DebugContext(ctx, "delivery postponed without an attempt", "delivery_id", del.ID, "partner", del.Partner,
		"reason", a.postpone, "next_at", del.NextAt)
}

// attempt delivers one admitted delivery and records the outcome; it
// returns what the acknowledgement's write claimed (see run).
func (d *Dispatcher) attempt(ctx context.Context, del *gateway.Delivery, a admission, rn *runner) *gateway.NextClaim {
	p, deliver := a.p, a.deliver
	// The attempt continues the trace of the request that created the
	// delivery; the adapter propagates it to the partner.
	sctx, span := d.env.Telemetry.StartSpan(gateway.WithTraceParent(ctx, del.TraceParent), "deliver "+string(del.Kind),
		attribute.String("tongban.partner", del.Partner), attribute.String("tongban.delivery_id", del.ID),
		attribute.Int("tongban.attempt", del.Attempts+1))
	var spanErr error
	defer func() { gateway.EndSpan(span, spanErr) }()
	actx, cancel := context.WithTimeout(sctx, gateway.AttemptBound(p.Timeout))
	defer cancel()
	start := d.env.Clock.Now()
	ack, raw, sig, err := deliver(actx, del.Payload)
	latency := d.env.Clock.Now().Sub(start)
	spanErr = err
	if err != nil {
		f := classify(err)
		// A permanent refusal is an answer: the partner is up.
		d.release(p.ID, a, !f.permanent)
		rn.freed(p.ID, false)
		d.failAfter(sctx, del, p, f, latency)
		return nil
	}
	d.release(p.ID, a, false)
	rn.freed(p.ID, true)
	next, err := d.delivered(sctx, del, ack, raw, sig, latency, rn)
	var c *AckConflict
	if errors.As(err, &c) {
		spanErr = err
		d.refuseAck(sctx, del, p, c, latency)
		return next
	}
	d.env.Log.DebugContext(sctx, "delivered", "delivery_id", del.ID, "case_id", del.CaseID, "kind", del.Kind, "partner", del.Partner,
		"attempt", del.Attempts, "latency_ms", latency.Milliseconds())
	return next
}

// delivered records the acknowledgement of an attempt. Under Run, the
// same write claims the next deliveries (runner.fold), which it returns.
// An acknowledgement refused because the owner's case number it gives is
// another case's (an *AckConflict, checked in the write) is returned with
// del as it was, for refuseAck to record.
func (d *Dispatcher) delivered(ctx context.Context, del *gateway.Delivery, ack *contracts.Ack, raw, sig []byte, latency time.Duration, rn *runner) (*gateway.NextClaim, error) {
	before := *del
	del.Attempts++
	now := d.env.Clock.Now()
	next := rn.fold(del.Partner, true)
	err := d.acks.recordNext(ctx, now.UTC(), del, ack, raw, sig, false, latency, next)
	claimed := rn.folded(next)
	var c *AckConflict
	switch {
	case errors.As(err, &c):
		*del = before
		return claimed, err
	case err == nil:
		d.inst.attempt(ctx, del, string(contracts.TransportStateDelivered), latency)
	case !errors.Is(err, gateway.ErrStale): // stale: another dispatcher's outcome stands, and counts
		d.env.Log.ErrorContext(ctx, "recording acknowledgement failed", "delivery_id", del.ID, "err", err)
	}
	d.health.note(del.Partner, now, "")
	return claimed, nil
}

// failure is what a failed attempt said of itself.
type failure struct {
	permanent  bool
	retryAfter time.Duration
	reason     string // for operators: the delivery's last error
	public     string // without the partner's own words: evidence, traces, logs
	batch      string // the batch of usage records the attempt was made in, if any
}

// classify reads a delivery error: a port.DeliveryError says whether it
// is permanent, the pause the partner asked for and its two reasons; any
// other error is retried on the partner's schedule and described by its
// text.
func classify(err error) failure {
	var de port.DeliveryError
	if errors.As(err, &de) {
		return failure{permanent: de.Permanent(), retryAfter: de.RetryAfter(), reason: de.ReasonText(), public: de.PublicReason()}
	}
	return failure{reason: err.Error(), public: err.Error()}
}

// fail records a permanent failure that did not reach the partner p (nil
// when the partner is not configured at all).
func (d *Dispatcher) fail(ctx context.Context, del *gateway.Delivery, p *gateway.Partner, cause error) {
	d.failAfter(ctx, del, p, failure{permanent: true, reason: cause.Error(), public: cause.Error()}, 0)
}

// failAfter records a failed attempt that took latency, as Policy.Failed
// decides (dead letter, or retry_wait after the backoff), with its
// evidence record in the same write.
func (d *Dispatcher) failAfter(ctx context.Context, del *gateway.Delivery, p *gateway.Partner, f failure, latency time.Duration) {
	now := d.env.Clock.Now().UTC()
	del.Attempts++
	pol := PolicyFor(p)
	tr := pol.Failed(del.Attempts, Since(del), now, f.permanent, f.retryAfter,
		func() time.Duration { return d.Backoff(pol.Retry, del.Attempts) })
	del.State = tr.State
	if !tr.Next.IsZero() {
		del.NextAt = tr.Next
	}
	public := *del
	public.LastError = tr.Why(f.public)
	if p != nil && f.batch == "" { // a batch's attempt is noted once, by its sender
		d.health.note(del.Partner, now, public.LastError)
	}
	d.inst.attempt(ctx, del, string(del.State), latency)
	var ev []contracts.EvidenceRecord
	if f.batch == "" {
		ev = d.env.Recorder.Attempt(&public, now, string(del.State), latency, "")
	} else {
		ev = d.env.Recorder.BatchAttempt(&public, now, string(del.State), latency, f.batch, "")
	}
	del.LastError = tr.Why(f.reason)
	if err := d.store.SaveAttempt(ctx, del, ev...); err != nil && !errors.Is(err, gateway.ErrStale) {
		d.env.Log.ErrorContext(ctx, "recording attempt failed", "delivery_id", del.ID, "err", err)
	}
	d.env.Log.WarnContext(ctx, "delivery attempt failed", "delivery_id", del.ID, "case_id", del.CaseID, "partner", del.Partner,
		"attempt", del.Attempts, "state", del.State, "next_at", del.NextAt, "reason", public.LastError)
}
