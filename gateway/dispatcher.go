package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tongban/tongban/contracts"
	"go.opentelemetry.io/otel/attribute"
)

// Dispatcher drains the outbox: it claims due deliveries, hands each to its
// partner's adapter, and records the acknowledgement or schedules a retry
// (exponential backoff with jitter, honouring Retry-After) until the
// partner's retry policy is exhausted, when the delivery becomes a dead
// letter. Delivery is at least once; the exchange_id is the partner's dedup
// key. Per-case order is the store's ClaimDue rule.
type Dispatcher struct {
	store Store
	dir   *Directory
	clock Clock
	log   *slog.Logger
	opt   DispatcherOptions

	mu   sync.Mutex
	rnd  *rand.Rand
	wake chan struct{}

	health partnerHealth
}

// PartnerStates returns what the dispatcher saw of each partner it
// delivers to (see PartnerState), sorted by partner id.
func (d *Dispatcher) PartnerStates() []PartnerState { return d.health.states(d.dir) }

// DispatcherOptions tune the dispatcher; zero values take the defaults.
type DispatcherOptions struct {
	Batch   int           // deliveries claimed per round; default 64
	Workers int           // concurrent attempts; default 32
	Lease   time.Duration // claim lease; must exceed one attempt; default 2m
	Poll    time.Duration // longest idle sleep; default 1s
	Floor   time.Duration // shortest idle sleep; default 20ms
	Seed    uint64        // jitter seed; 0 = random
	// SM3 digests acknowledgements for their evidence records (lowercase
	// hex); nil leaves the digest out (the signature is kept either way).
	SM3 func([]byte) string
	// NoEvidence writes no evidence records of attempts; see
	// ServiceOptions.NoEvidence.
	NoEvidence bool
}

// NewDispatcher returns a dispatcher; call Run, or RunOnce in tests.
func NewDispatcher(store Store, dir *Directory, clock Clock, log *slog.Logger, o DispatcherOptions) *Dispatcher {
	if o.Batch <= 0 {
		o.Batch = 64
	}
	if o.Workers <= 0 {
		o.Workers = 32
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Floor <= 0 {
		o.Floor = 20 * time.Millisecond
	}
	seed := o.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	if clock == nil {
		clock = SystemClock{}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Dispatcher{store: store, dir: dir, clock: clock, log: log, opt: o,
		rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), wake: make(chan struct{}, 1)}
}

// Notify wakes the dispatcher: new deliveries may be due.
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is cancelled, then lets attempts in flight finish
// (each is bounded by its partner's timeout) and returns. It keeps up to
// Workers attempts in flight and claims more as soon as one finishes, so a
// slow partner occupies one worker, not a whole round.
func (d *Dispatcher) Run(ctx context.Context) error {
	sem := make(chan struct{}, d.opt.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	detached := context.WithoutCancel(ctx)
	for ctx.Err() == nil {
		free := d.opt.Workers - len(sem)
		want := min(free, d.opt.Batch)
		if len(sem) > 0 && free < max(1, d.opt.Workers/4) {
			want = 0 // wait for a few workers to free up: one claim, several deliveries
		}
		got := 0
		if want > 0 {
			batch, err := d.store.ClaimDue(ctx, d.clock.Now().UTC(), d.opt.Lease, want)
			if err != nil && ctx.Err() == nil {
				d.log.Error("claiming deliveries failed", "err", err)
			}
			for _, del := range batch {
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer func() { <-sem; wg.Done(); d.Notify() }()
					d.attempt(detached, del)
				}()
			}
			got = len(batch)
		}
		if want > 0 && got == want {
			continue // more may be due right now
		}
		sleep := d.opt.Poll
		if want > 0 {
			if t, ok, err := d.store.NextDue(ctx); err == nil && ok {
				sleep = min(max(t.Sub(d.clock.Now()), d.opt.Floor), d.opt.Poll)
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

// RunOnce claims one batch of due deliveries, attempts them all, records
// the outcomes and returns how many it attempted. Attempts run with a
// context detached from ctx's cancellation, so shutdown never cuts one off
// half-recorded.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	batch, err := d.store.ClaimDue(ctx, d.clock.Now().UTC(), d.opt.Lease, d.opt.Batch)
	if err != nil {
		return 0, err
	}
	sem := make(chan struct{}, d.opt.Workers)
	var wg sync.WaitGroup
	for _, del := range batch {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			d.attempt(context.WithoutCancel(ctx), del)
		}()
	}
	wg.Wait()
	return len(batch), nil
}

// attempt delivers one claimed delivery and records the outcome.
func (d *Dispatcher) attempt(ctx context.Context, del *Delivery) {
	p := d.dir.Get(del.Partner)
	switch {
	case p != nil && p.Mailbox != nil:
		// The store hands a pulling partner's deliveries only to its
		// mailbox once told (Store.SetPullPartners); this one got here
		// because it was not.
		d.fail(ctx, del, p, fmt.Errorf("partner %s pulls from its mailbox; the store was not told (SetPullPartners)", del.Partner), true, 0)
		return
	case p == nil || (p.Adapter == nil && del.Kind != contracts.DeliveryKindUsageRecord):
		d.fail(ctx, del, nil, fmt.Errorf("partner %s is not configured for delivery", del.Partner), true, 0)
		return
	}
	// The attempt continues the trace of the request that created the
	// delivery; the adapter propagates it to the partner.
	sctx, span := startSpan(withTraceParent(ctx, del.TraceParent), "deliver "+string(del.Kind),
		attribute.String("tongban.partner", del.Partner), attribute.String("tongban.delivery_id", del.ID),
		attribute.Int("tongban.attempt", del.Attempts+1))
	var spanErr error
	defer func() { endSpan(span, spanErr) }()
	actx, cancel := context.WithTimeout(sctx, max(p.Timeout, time.Second)*3)
	defer cancel()
	start := d.clock.Now()
	var (
		ack      *contracts.Ack
		raw, sig []byte
		err      error
	)
	switch del.Kind {
	case contracts.DeliveryKindCase:
		var m contracts.CaseDelivery
		if err = json.Unmarshal(del.Payload, &m); err == nil {
			ack, raw, sig, err = p.Adapter.DeliverCase(actx, &m)
		}
	case contracts.DeliveryKindStatus:
		var m contracts.StatusDelivery
		if err = json.Unmarshal(del.Payload, &m); err == nil {
			ack, raw, sig, err = p.Adapter.DeliverStatus(actx, &m)
		}
	case contracts.DeliveryKindUsageRecord:
		if p.Library == nil || p.Library.Usage == nil {
			d.fail(ctx, del, p, fmt.Errorf("partner %s no longer accepts usage records", del.Partner), true, 0)
			return
		}
		var m contracts.UsageRecordDelivery
		if err = json.Unmarshal(del.Payload, &m); err == nil {
			ack, raw, sig, err = p.Library.Usage.DeliverUsage(actx, &m)
		}
	default:
		d.fail(ctx, del, p, fmt.Errorf("delivery kind %q is not supported", del.Kind), true, 0)
		return
	}
	latency := d.clock.Now().Sub(start)
	spanErr = err
	if err != nil {
		var perm interface{ Permanent() bool }
		var ra interface{ RetryAfter() time.Duration }
		after := time.Duration(0)
		if errors.As(err, &ra) {
			after = ra.RetryAfter()
		}
		d.failAfter(sctx, del, p, err, errors.As(err, &perm) && perm.Permanent(), after, latency)
		return
	}
	d.delivered(sctx, del, ack, raw, sig, latency)
	d.log.InfoContext(sctx, "delivered", "delivery_id", del.ID, "case_id", del.CaseID, "kind", del.Kind, "partner", del.Partner,
		"attempt", del.Attempts, "latency_ms", latency.Milliseconds())
}

// delivered records the acknowledgement of an attempt.
func (d *Dispatcher) delivered(ctx context.Context, del *Delivery, ack *contracts.Ack, raw, sig []byte, latency time.Duration) {
	del.Attempts++
	d.health.note(del.Partner, d.clock.Now(), "")
	err := recordAck(ctx, d.store, attemptLog{sm3: d.opt.SM3, off: d.opt.NoEvidence}, d.clock.Now().UTC(), del, ack, raw, sig, false, latency)
	switch {
	case err == nil:
		recordAttempt(ctx, del, string(contracts.TransportStateDelivered), latency)
	case !errors.Is(err, ErrStale): // stale: another dispatcher's outcome stands, and counts
		d.log.ErrorContext(ctx, "recording acknowledgement failed", "delivery_id", del.ID, "err", err)
	}
}

// fail records a failed attempt that did not reach the partner.
func (d *Dispatcher) fail(ctx context.Context, del *Delivery, p *Partner, cause error, permanent bool, after time.Duration) {
	d.failAfter(ctx, del, p, cause, permanent, after, 0)
}

// failAfter records a failed attempt that took latency: dead letter when
// permanent or when the policy is exhausted, else retry_wait with
// backoff; its evidence record goes in the same write.
func (d *Dispatcher) failAfter(ctx context.Context, del *Delivery, p *Partner, cause error, permanent bool, after, latency time.Duration) {
	now := d.clock.Now().UTC()
	del.Attempts++
	policy := RetryPolicy{}.WithDefaults()
	if p != nil {
		policy = p.Retry
	}
	// why says why the attempt failed: with the partner's own message
	// for operators (the delivery's last error), without it for the
	// evidence log (it may name people).
	var why func(reason string) string
	switch {
	case permanent:
		del.State = contracts.TransportStateDead
		why = func(r string) string { return "permanent: " + r }
	case del.Attempts >= policy.MaxAttempts:
		del.State = contracts.TransportStateDead
		why = func(r string) string { return fmt.Sprintf("gave up after %d attempts: %s", del.Attempts, r) }
	case now.Sub(since(del)) >= policy.MaxAge:
		del.State = contracts.TransportStateDead
		why = func(r string) string { return fmt.Sprintf("gave up after %s: %s", policy.MaxAge, r) }
	default:
		del.State = contracts.TransportStateRetryWait
		del.NextAt = now.Add(max(d.Backoff(policy, del.Attempts), after))
		why = func(r string) string { return r }
	}
	public := *del
	public.LastError = why(publicReason(cause))
	if p != nil {
		d.health.note(del.Partner, now, public.LastError)
	}
	recordAttempt(ctx, del, string(del.State), latency)
	ev := attemptLog{sm3: d.opt.SM3, off: d.opt.NoEvidence}.record(&public, now, string(del.State), latency, "")
	del.LastError = why(reason(cause))
	if err := d.store.SaveAttempt(ctx, del, ev...); err != nil && !errors.Is(err, ErrStale) {
		d.log.ErrorContext(ctx, "recording attempt failed", "delivery_id", del.ID, "err", err)
	}
	d.log.WarnContext(ctx, "delivery attempt failed", "delivery_id", del.ID, "case_id", del.CaseID, "partner", del.Partner,
		"attempt", del.Attempts, "state", del.State, "next_at", del.NextAt, "reason", public.LastError)
}

// Backoff returns the delay before retry number attempt (1-based):
// BaseDelay·2^(attempt−1) capped at MaxDelay, with "equal jitter" (a random
// point in the upper half), so retries of many deliveries spread out.
func (d *Dispatcher) Backoff(p RetryPolicy, attempt int) time.Duration {
	delay := p.MaxDelay
	if attempt-1 < 40 {
		if e := p.BaseDelay << (attempt - 1); e > 0 && e < p.MaxDelay {
			delay = e
		}
	}
	d.mu.Lock()
	j := time.Duration(d.rnd.Int64N(int64(delay/2) + 1))
	d.mu.Unlock()
	return delay/2 + j
}

// reason is the caller-safe text of a delivery failure: an adapter's
// Reason (which carries no URLs or dial details) when it has one.
func reason(err error) string {
	var r interface{ ReasonText() string }
	if errors.As(err, &r) {
		return r.ReasonText()
	}
	return err.Error()
}

// publicReason is reason without the partner's own free text (an
// adapter's PublicReason): what the evidence log, traces, partner states
// and logs keep, since a partner's message may name people.
func publicReason(err error) string {
	var r interface{ PublicReason() string }
	if errors.As(err, &r) {
		return r.PublicReason()
	}
	return reason(err)
}

// since is when the delivery's current series of attempts began.
func since(d *Delivery) time.Time {
	if d.Since.IsZero() {
		return d.CreatedAt
	}
	return d.Since
}
