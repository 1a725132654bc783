package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// Usage records in batches.
//
// An issuer whose library takes batches (gateway.Library.Batching: a
// usage_batch above 1 and an adapter that sends contracts.UsageRecordBatch)
// gets the usage records the dispatcher finds due for it together: one
// signed call and one signed acknowledgement for up to UsageBatch records,
// instead of four SM2 operations per record. The decisions:
//
//   - Grouping. gatherUsage looks at each claimed batch before admission:
//     the usage records of a batching partner, in claim (Seq) order, go
//     into groups of at most the partner's UsageBatch. Cases, status
//     updates and the usage records of partners that take them one by one
//     are left alone, and go as before.
//   - Admission. A group is admitted as one attempt: the first of its
//     deliveries admit meets takes one of the partner's PerPartner slots
//     and asks its circuit breaker once; the others follow that decision
//     (all sent together, or all put back, each on its own). One batch is
//     one attempt slot, and one success or failure for the breaker and
//     for the partner's health.
//   - Lingering. An admitted group that is not full stays open for
//     DispatcherOptions.UsageLinger: records to the same partner claimed
//     meanwhile join it (they take no slot of their own) until it is full,
//     then it is sent. Under a steady trickle of verifications this makes
//     batches of many records, not many batches of one.
//   - Outcomes. Each delivery keeps its own fate. The batch's failure (no
//     answer, a refusal, a bad signature, an acknowledgement that does not
//     check) fails every delivery of it, each retried on its own schedule
//     by the partner's retry policy (honouring Retry-After), and made a
//     dead letter only when that policy gives up: unlike a single
//     attempt's, a batch's permanent failure is not final for its records,
//     since a refusal of the whole batch, or an answer that does not
//     verify, says nothing certain of any one record (for the circuit
//     breaker it is still an answer). An acknowledged delivery is
//     delivered; one the acknowledgement does not name is retried on its
//     own (it may come again in another batch: the issuer recognises it by
//     delivery_id). Every delivery gets its own delivery.attempt record, as
//     for a single attempt, whose detail also names the batch (batch_id;
//     batch_sm3, the digest of the batch body the issuer acknowledged).
//   - One write. The acknowledged deliveries of a batch, with their
//     evidence, are recorded by one store write (MarkDeliveredAll), each
//     fenced by its own lease: one another dispatcher took over meanwhile
//     is left to it (ErrStale), without holding the others back. Failed
//     deliveries are recorded as failed single attempts are (SaveAttempt
//     each, concurrently, so that the store commits them together).
//   - What the partner keeps as evidence of each delivery is the one
//     batch acknowledgement: its exact bytes and signature are every
//     acknowledged delivery's AckBody and AckSig, and its Ack names the
//     delivery, the acknowledgement's time and key, and as body_sm3 the
//     SM3 of the batch body.
//
// gatherUsage and admit keep the groups between them: every delivery
// gatherUsage saw must then go through admit, in any order, before the
// next claim is gathered.

// usageBatches holds the groups of usage records being formed and sent.
type usageBatches struct {
	mu     sync.Mutex
	member map[*gateway.Delivery]usageMember // gathered, not yet admitted
	open   map[string]*usageGroup            // per partner: admitted, waiting for more records
}

// usageMember is a gathered delivery's place: in group g, as one of its
// first records (their first admission decides for all of them) or as a
// record that joined g after g was admitted.
type usageMember struct {
	g      *usageGroup
	joined bool
}

// usageGroup is a batch of usage records to one partner.
type usageGroup struct {
	p   *gateway.Partner
	max int

	mu       sync.Mutex
	dels     []*gateway.Delivery
	decided  bool      // its first admission is made
	follow   admission // what its other first records get
	sealed   bool      // no more records join it
	lingers  bool      // it is its partner's open group: it waits for more records
	full     chan struct{}
	fullOnce sync.Once
}

// add puts del into g unless g is sealed or full; it reports whether it
// did.
func (g *usageGroup) add(del *gateway.Delivery) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sealed || len(g.dels) >= g.max {
		return false
	}
	g.dels = append(g.dels, del)
	if len(g.dels) == g.max {
		g.fullOnce.Do(func() { close(g.full) })
	}
	return true
}

// seal closes g to further records and returns its records.
func (g *usageGroup) seal() []*gateway.Delivery {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sealed = true
	return g.dels
}

// batchingPartner returns the partner of del when del is a usage record
// to a partner whose library takes batches, else nil.
func (d *Dispatcher) batchingPartner(del *gateway.Delivery) *gateway.Partner {
	if del.Kind != contracts.DeliveryKindUsageRecord {
		return nil
	}
	p := d.dir.Get(del.Partner)
	if p == nil || p.Mailbox != nil || !p.Library.Batching() {
		return nil
	}
	return p
}

// gatherUsage groups the usage records of claimed, a batch ClaimDue
// returned, that go to partners taking batches: each joins its partner's
// open group (one admitted and still waiting) while that has room, else a
// new group of at most the partner's UsageBatch records, in claimed's
// order. admit then decides for each group as one.
func (d *Dispatcher) gatherUsage(claimed []*gateway.Delivery) {
	u := &d.usage
	u.mu.Lock()
	defer u.mu.Unlock()
	forming := map[string]*usageGroup{}
	for _, del := range claimed {
		p := d.batchingPartner(del)
		if p == nil {
			continue
		}
		if u.member == nil {
			u.member, u.open = map[*gateway.Delivery]usageMember{}, map[string]*usageGroup{}
		}
		if g := u.open[p.ID]; g != nil {
			if g.add(del) {
				u.member[del] = usageMember{g: g, joined: true}
				continue
			}
			delete(u.open, p.ID) // sealed or full
		}
		g := forming[p.ID]
		if g == nil || !g.add(del) {
			g = &usageGroup{p: p, max: min(p.Library.UsageBatch, contracts.MaxUsageBatch), full: make(chan struct{})}
			g.add(del)
			forming[p.ID] = g
		}
		u.member[del] = usageMember{g: g}
	}
}

// grouped reports whether gatherUsage put del in a batch that admit has
// yet to decide for it.
func (d *Dispatcher) grouped(del *gateway.Delivery) bool {
	u := &d.usage
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.member[del]
	return ok
}

// admit decides what becomes of a claimed delivery now (see admitAlone).
// A usage record gatherUsage put in a group follows its group: the first
// of the group's records admit meets is decided for all of them; when
// admitted it carries the group (and the group stays open for more
// records while it lingers), and the others are joined; else the others
// get the same refusal or postponement, each for itself. A record that
// joined an admitted group is joined.
func (d *Dispatcher) admit(del *gateway.Delivery) admission {
	u := &d.usage
	u.mu.Lock()
	m, ok := u.member[del]
	delete(u.member, del)
	u.mu.Unlock()
	if !ok {
		return d.admitAlone(del)
	}
	g := m.g
	if m.joined {
		return admission{p: g.p, joined: true}
	}
	g.mu.Lock()
	if g.decided {
		f := g.follow
		g.mu.Unlock()
		return f
	}
	a := d.admitAlone(del)
	g.decided = true
	if a.deliver == nil {
		g.follow = admission{p: a.p, refusal: a.refusal, postpone: a.postpone, wait: a.wait}
		g.sealed = true
		g.mu.Unlock()
		return a
	}
	g.follow = admission{p: g.p, joined: true}
	open := !g.sealed && len(g.dels) < g.max && d.opt.UsageLinger > 0
	g.mu.Unlock()
	a.group = g
	if open {
		u.mu.Lock()
		if u.open == nil {
			u.open = map[string]*usageGroup{}
		}
		if u.open[g.p.ID] == nil { // one open group per partner
			u.open[g.p.ID] = g
			g.mu.Lock()
			g.lingers = true
			g.mu.Unlock()
		}
		u.mu.Unlock()
	}
	return a
}

// runGrouped carries out an admission of a usage record in a batch and
// reports whether a was one: a joined record needs nothing (its group's
// sender records its outcome); the group's sender sends the batch.
func (d *Dispatcher) runGrouped(ctx context.Context, a admission) bool {
	switch {
	case a.joined:
		return true
	case a.group != nil:
		d.sendBatch(ctx, a)
		return true
	}
	return false
}

// closeGroup closes g to more records: when g is its partner's open
// group it first waits while g may still grow (until it is full or
// UsageLinger has passed). It seals g, takes it out of the open groups and
// returns its records.
func (d *Dispatcher) closeGroup(g *usageGroup) []*gateway.Delivery {
	g.mu.Lock()
	lingers := g.lingers
	g.mu.Unlock()
	if lingers {
		t := time.NewTimer(d.opt.UsageLinger)
		select {
		case <-g.full:
		case <-t.C:
		}
		t.Stop()
	}
	dels := g.seal()
	u := &d.usage
	u.mu.Lock()
	if u.open[g.p.ID] == g {
		delete(u.open, g.p.ID)
	}
	u.mu.Unlock()
	return dels
}

// sendBatch sends the batch a carries to its partner as one attempt and
// records the outcome of each of its deliveries (see the decisions
// above). It releases a's slot once the partner answered.
func (d *Dispatcher) sendBatch(ctx context.Context, a admission) {
	p := a.p
	dels := d.closeGroup(a.group)
	for _, del := range dels {
		if del.TakenOver {
			// The attempt cut off before is recorded first: the partner
			// may have received it.
			d.interrupted(ctx, del)
		}
	}
	now := d.env.Clock.Now().UTC()
	b := &contracts.UsageRecordBatch{SentAt: now, Deliveries: make([]contracts.UsageRecordDelivery, 0, len(dels))}
	sent := make([]*gateway.Delivery, 0, len(dels))
	for _, del := range dels {
		var m contracts.UsageRecordDelivery
		if err := json.Unmarshal(del.Payload, &m); err != nil {
			// As for a single attempt: retried on the partner's schedule.
			d.failAfter(ctx, del, p, failure{reason: err.Error(), public: "payload is not a usage record delivery"}, 0)
			continue
		}
		b.Deliveries = append(b.Deliveries, m)
		sent = append(sent, del)
	}
	if len(sent) == 0 {
		d.release(p.ID, a, false)
		return
	}
	id, err := d.env.IDs.Next(now)
	if err != nil {
		d.release(p.ID, a, false)
		const why = "no batch id: the id source failed"
		d.failAll(ctx, sent, p, failure{reason: why, public: why}, 0)
		return
	}
	b.BatchID = id

	// The batch continues the trace of its first record's request; the
	// adapter propagates it to the partner.
	sctx, span := d.env.Telemetry.StartSpan(gateway.WithTraceParent(ctx, sent[0].TraceParent), "deliver usage_record batch",
		attribute.String("tongban.partner", p.ID), attribute.String("tongban.batch_id", id),
		attribute.Int("tongban.batch_size", len(sent)))
	var spanErr error
	defer func() { gateway.EndSpan(span, spanErr) }()
	actx, cancel := context.WithTimeout(sctx, gateway.AttemptBound(p.Timeout))
	defer cancel()
	start := d.env.Clock.Now()
	ack, raw, sig, err := p.Library.Batches.DeliverUsageBatch(actx, b)
	latency := d.env.Clock.Now().Sub(start)
	spanErr = err
	if err == nil && (ack == nil || ack.BatchID != id) {
		err = errors.New("the adapter returned an acknowledgement of another batch")
		spanErr = err
	}
	if err != nil {
		f := classify(err)
		f.batch = id
		// A permanent refusal is an answer: the partner is up. For the
		// records it is not final (see the decisions above).
		d.release(p.ID, a, !f.permanent)
		f.permanent = false
		d.health.note(p.ID, d.env.Clock.Now(), f.public)
		d.failAll(sctx, sent, p, f, latency)
		return
	}
	d.release(p.ID, a, false)
	d.health.note(p.ID, d.env.Clock.Now(), "")
	took := make(map[string]bool, len(ack.DeliveryIDs))
	for _, did := range ack.DeliveryIDs {
		took[did] = true
	}
	now = d.env.Clock.Now().UTC()
	var (
		marks  []gateway.DeliveredMark
		missed []*gateway.Delivery
	)
	for _, del := range sent {
		if !took[del.ID] {
			missed = append(missed, del)
			continue
		}
		del.Attempts++
		del.State, del.DeliveredAt = contracts.TransportStateDelivered, now
		del.Ack = &contracts.Ack{ExchangeID: del.ExchangeID, DeliveryID: del.ID, AcknowledgedAt: ack.AcknowledgedAt,
			BodySM3: ack.BodySM3, KeyID: ack.KeyID}
		del.AckBody, del.AckSig = raw, sig // LastError keeps the last failure, for operators
		marks = append(marks, gateway.DeliveredMark{Delivery: del,
			Evidence: d.env.Recorder.BatchAttempt(del, now, string(contracts.TransportStateDelivered), latency, id, ack.BodySM3)})
	}
	d.recordDelivered(sctx, marks, latency)
	if len(missed) > 0 {
		why := fmt.Sprintf("not acknowledged in usage record batch %s", id)
		d.failAll(sctx, missed, p, failure{reason: why, public: why, batch: id}, latency)
	}
	d.env.Log.InfoContext(sctx, "delivered usage record batch", "batch_id", id, "partner", p.ID,
		"records", len(sent), "acknowledged", len(marks), "latency_ms", latency.Milliseconds())
}

// recordDelivered records the acknowledged deliveries of a batch, marks,
// in one store write. A delivery another dispatcher took over meanwhile
// keeps that one's outcome (ErrStale), and counts there.
func (d *Dispatcher) recordDelivered(ctx context.Context, marks []gateway.DeliveredMark, latency time.Duration) {
	if len(marks) == 0 {
		return
	}
	errs, err := d.store.MarkDeliveredAll(ctx, marks, false)
	if err != nil {
		// Nothing was written: the deliveries stay in flight until their
		// lease runs out, then are taken over and sent again (the partner
		// recognises them by delivery_id).
		d.env.Log.ErrorContext(ctx, "recording acknowledgements failed", "deliveries", len(marks), "err", err)
		return
	}
	for i, m := range marks {
		switch e := errs[i]; {
		case e == nil:
			d.inst.attempt(ctx, m.Delivery, string(contracts.TransportStateDelivered), latency)
		case !errors.Is(e, gateway.ErrStale):
			d.env.Log.ErrorContext(ctx, "recording acknowledgement failed", "delivery_id", m.Delivery.ID, "err", e)
		}
	}
}

// failAll records the failed attempt f of each of dels, as failAfter
// does for one, concurrently: the store commits the writes together.
func (d *Dispatcher) failAll(ctx context.Context, dels []*gateway.Delivery, p *gateway.Partner, f failure, latency time.Duration) {
	var wg sync.WaitGroup
	for _, del := range dels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.failAfter(ctx, del, p, f, latency)
		}()
	}
	wg.Wait()
}
