package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// usageLib is an issuer's fake license library that takes usage records
// one by one and in batches. answer decides its acknowledgement of a
// batch (nil: every record); it records what it was sent.
type usageLib struct {
	mu      sync.Mutex
	batches [][]string // delivery ids of each batch, in order received
	singles []string
	answer  func(b *contracts.UsageRecordBatch) (*contracts.UsageBatchAck, error)
	during  func() // when set, runs while a batch is "in flight"
}

func (l *usageLib) LookupLicense(context.Context, *contracts.LicenseLookupRequest) (*contracts.LicenseLookupResponse, []byte, []byte, error) {
	return nil, nil, nil, errors.New("usageLib: no lookups")
}

func (l *usageLib) DeliverUsage(_ context.Context, d *contracts.UsageRecordDelivery) (*contracts.Ack, []byte, []byte, error) {
	l.mu.Lock()
	l.singles = append(l.singles, d.DeliveryID)
	l.mu.Unlock()
	return &contracts.Ack{ExchangeID: d.ExchangeID, DeliveryID: d.DeliveryID, AcknowledgedAt: t0, KeyID: "lib"}, []byte("ack"), []byte("sig"), nil
}

func (l *usageLib) DeliverUsageBatch(_ context.Context, b *contracts.UsageRecordBatch) (*contracts.UsageBatchAck, []byte, []byte, error) {
	ids := make([]string, 0, len(b.Deliveries))
	for _, d := range b.Deliveries {
		ids = append(ids, d.DeliveryID)
	}
	l.mu.Lock()
	l.batches = append(l.batches, ids)
	answer, during := l.answer, l.during
	l.mu.Unlock()
	if during != nil {
		during()
	}
	ack := &contracts.UsageBatchAck{BatchID: b.BatchID, DeliveryIDs: ids, AcknowledgedAt: t0, BodySM3: strings.Repeat("ab", 32), KeyID: "lib"}
	if answer != nil {
		var err error
		if ack, err = answer(b); err != nil {
			return nil, nil, nil, err
		}
	}
	raw, _ := json.Marshal(ack)
	return ack, raw, partnerSig("lib", raw), nil
}

// sent returns the batches and single records received so far.
func (l *usageLib) sent() ([][]string, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.batches), slices.Clone(l.singles)
}

// issuer is a partner whose library is lib, taking batches of up to size
// records (size 1: one by one).
func issuer(id string, lib *usageLib, size int, retry gateway.RetryPolicy) *gateway.Partner {
	return &gateway.Partner{ID: id, Roles: []contracts.Role{contracts.RolePartner}, Retry: retry,
		Library: &gateway.Library{Regions: []string{id}, Source: lib, Usage: lib, Batches: lib, UsageBatch: size}}
}

// usage stores usage record n's delivery to partner, with a whole
// UsageRecordDelivery as its payload.
func (e *env) usage(n int, partner string) *gateway.Delivery {
	e.t.Helper()
	id := fmt.Sprintf("usage-%d", n)
	exchangeID := fmt.Sprintf("0195f3a0-0002-7001-8001-%012d", n)
	body, err := json.Marshal(contracts.UsageRecordDelivery{DeliveryID: id, ExchangeID: exchangeID, SentAt: t0,
		Record: contracts.UsageRecord{UsageRecordID: fmt.Sprintf("ur-%d", n), Caller: "window-1", Purpose: "核验", CheckedAt: t0,
			Outcome: contracts.LicenseOutcomeValid}})
	if err != nil {
		e.t.Fatal(err)
	}
	d := &gateway.Delivery{ID: id, Kind: contracts.DeliveryKindUsageRecord, Partner: partner, ExchangeID: exchangeID,
		Payload: body, NextAt: e.clock.Now(), CreatedAt: e.clock.Now()}
	e.store.add(d)
	return d
}

// attemptRecords returns the delivery.attempt records of delivery id.
func (e *env) attemptRecords(id string) []contracts.EvidenceDetail {
	e.t.Helper()
	var out []contracts.EvidenceDetail
	for _, r := range e.store.records() {
		if r.Event != contracts.EventDeliveryAttempt || r.DeliveryID != id {
			continue
		}
		var d contracts.EvidenceDetail
		if err := json.Unmarshal(r.Detail, &d); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// noLinger sends each batch with the records claimed with it.
var noLinger = DispatcherOptions{Seed: 42, UsageLinger: -1}

const (
	libA = "330102"
	libB = "320405"
	libC = "371524"
)

// TestGatherUsageGroups: the usage records of a claimed batch go, per
// partner that takes batches, into groups of at most its batch size, in
// claim order; everything else is left to go alone.
func TestGatherUsageGroups(t *testing.T) {
	type item struct {
		kind    contracts.DeliveryKind
		partner string
	}
	u := func(p string) item { return item{contracts.DeliveryKindUsageRecord, p} }
	tests := []struct {
		name  string
		sizes map[string]int // batch size per library partner
		items []item
		want  string // groups of item numbers; singles in ()
	}{
		{"one issuer within its size", map[string]int{libA: 5}, []item{u(libA), u(libA), u(libA)}, "[0 1 2]"},
		{"split at the size", map[string]int{libA: 2}, []item{u(libA), u(libA), u(libA), u(libA), u(libA)}, "[0 1] [2 3] [4]"},
		{"a batch of one is a batch", map[string]int{libA: 50}, []item{u(libA)}, "[0]"},
		{"per issuer, in claim order", map[string]int{libA: 3, libC: 3},
			[]item{u(libA), u(libC), u(libA), u(libC), u(libA), u(libA)}, "[0 2 4] [1 3] [5]"},
		{"an issuer taking records one by one", map[string]int{libA: 5, libB: 1},
			[]item{u(libB), u(libA), u(libB), u(libA)}, "[1 3] (0) (2)"},
		{"cases and status updates go alone", map[string]int{libA: 4},
			[]item{{contracts.DeliveryKindCase, owner}, u(libA), {contracts.DeliveryKindStatus, sender}, u(libA)}, "[1 3] (0) (2)"},
		{"an unknown partner's record goes alone", map[string]int{libA: 4}, []item{u("999999"), u(libA)}, "[1] (0)"},
		{"the size is capped", map[string]int{libA: contracts.MaxUsageBatch}, slices.Repeat([]item{u(libA)}, contracts.MaxUsageBatch+1),
			fmt.Sprint(seq(0, contracts.MaxUsageBatch)) + " [100]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			never := func(context.Context, *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
				return nil, nil, nil, errors.New("unused")
			}
			neverStatus := func(context.Context, *contracts.StatusDelivery) (*contracts.Ack, []byte, []byte, error) {
				return nil, nil, nil, errors.New("unused")
			}
			partners := []*gateway.Partner{pushing(owner, never, nil, gateway.RetryPolicy{}), pushing(sender, nil, neverStatus, gateway.RetryPolicy{})}
			for id, size := range tt.sizes {
				partners = append(partners, issuer(id, &usageLib{}, size, gateway.RetryPolicy{}))
			}
			e := newEnvWith(t, noLinger, true, partners...)
			d := e.ob.Dispatcher()
			claimed := make([]*gateway.Delivery, len(tt.items))
			index := map[*gateway.Delivery]int{}
			for i, it := range tt.items {
				claimed[i] = &gateway.Delivery{ID: fmt.Sprint(i), Kind: it.kind, Partner: it.partner}
				index[claimed[i]] = i
			}
			d.gatherUsage(claimed)
			var groups []*usageGroup
			var singles []string
			for _, del := range claimed {
				m, ok := d.usage.member[del]
				switch {
				case !ok:
					singles = append(singles, fmt.Sprintf("(%d)", index[del]))
				case !slices.Contains(groups, m.g):
					groups = append(groups, m.g)
				}
			}
			var got []string
			for _, g := range groups {
				var ns []int
				for _, del := range g.dels {
					ns = append(ns, index[del])
				}
				got = append(got, fmt.Sprint(ns))
			}
			if s := strings.Join(append(got, singles...), " "); s != tt.want {
				t.Errorf("groups %s, want %s", s, tt.want)
			}
		})
	}
}

// seq returns the integers from lo to hi-1.
func seq(lo, hi int) []int {
	var out []int
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

// TestUsageBatchDelivered: the records due for an issuer go in one batch;
// each is delivered with the batch's acknowledgement as its evidence, all
// in one store write, and each has its own delivery.attempt record naming
// the batch.
func TestUsageBatchDelivered(t *testing.T) {
	lib := &usageLib{}
	e := newEnvWith(t, noLinger, true, issuer(libA, lib, 10, gateway.RetryPolicy{}), pushing(owner, caseFunc(func(_ context.Context, d *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
		return ackFor(d), []byte("ack"), []byte("sig"), nil
	}), nil, gateway.RetryPolicy{}))
	dels := []*gateway.Delivery{e.usage(1, libA), e.usage(2, libA), e.usage(3, libA)}
	c := e.enqueue(4, contracts.DeliveryKindCase, owner)
	if n := e.runOnce(); n != 4 {
		t.Fatalf("RunOnce attempted %d, want 4", n)
	}
	batches, singles := lib.sent()
	if fmt.Sprint(batches) != "[[usage-1 usage-2 usage-3]]" || len(singles) != 0 {
		t.Fatalf("the issuer got batches %v and single records %v, want one batch of the three", batches, singles)
	}
	if e.store.markAlls != 1 {
		t.Errorf("%d MarkDeliveredAll writes, want 1", e.store.markAlls)
	}
	if got := e.store.delivery(c.ID).State; got != contracts.TransportStateDelivered {
		t.Errorf("the case's delivery is %s, want delivered", got)
	}
	var batchID, ackBody string
	for _, d := range dels {
		got := e.store.delivery(d.ID)
		if got.State != contracts.TransportStateDelivered || got.Attempts != 1 || got.Ack == nil ||
			got.Ack.DeliveryID != d.ID || got.Ack.ExchangeID != d.ExchangeID || got.Ack.KeyID != "lib" || got.Ack.BodySM3 != strings.Repeat("ab", 32) {
			t.Errorf("delivery %s: %s, attempts %d, ack %+v; want delivered once, acknowledged as itself", d.ID, got.State, got.Attempts, got.Ack)
			continue
		}
		if ackBody == "" {
			ackBody = string(got.AckBody)
		}
		if string(got.AckBody) != ackBody || string(got.AckSig) != string(partnerSig("lib", got.AckBody)) {
			t.Errorf("delivery %s keeps another acknowledgement than the batch's", d.ID)
		}
		recs := e.attemptRecords(d.ID)
		if len(recs) != 1 || recs[0].Outcome != "delivered" || recs[0].Attempt != 1 || recs[0].BatchID == "" || recs[0].BatchSM3 != strings.Repeat("ab", 32) {
			t.Errorf("delivery %s: attempt records %+v, want one, delivered, naming the batch", d.ID, recs)
			continue
		}
		if batchID == "" {
			batchID = recs[0].BatchID
		}
		if recs[0].BatchID != batchID {
			t.Errorf("delivery %s names batch %s, another its batch-mate %s", d.ID, recs[0].BatchID, batchID)
		}
	}
	if !strings.Contains(ackBody, batchID) {
		t.Errorf("the acknowledgement kept does not name batch %s: %s", batchID, ackBody)
	}
	for _, s := range e.ob.Dispatcher().PartnerStates() {
		if s.Partner == libA && (s.State != "up" || s.LastSuccess.IsZero()) {
			t.Errorf("the issuer's state %+v, want up after its batch", s)
		}
	}
}

// TestUsageBatchPartialAck: the records the acknowledgement does not name
// are retried on their own (and taken in a later batch, where the issuer
// may see them again); the others are delivered.
func TestUsageBatchPartialAck(t *testing.T) {
	lib := &usageLib{}
	lib.answer = func(b *contracts.UsageRecordBatch) (*contracts.UsageBatchAck, error) {
		ack := &contracts.UsageBatchAck{BatchID: b.BatchID, AcknowledgedAt: t0, BodySM3: strings.Repeat("cd", 32), KeyID: "lib"}
		for _, d := range b.Deliveries {
			if d.DeliveryID != "usage-2" {
				ack.DeliveryIDs = append(ack.DeliveryIDs, d.DeliveryID)
			}
		}
		return ack, nil
	}
	retry := gateway.RetryPolicy{MaxAttempts: 5, BaseDelay: time.Second, MaxDelay: time.Second}
	e := newEnvWith(t, noLinger, true, issuer(libA, lib, 10, retry))
	e.usage(1, libA)
	e.usage(2, libA)
	e.usage(3, libA)
	e.runOnce()
	for id, want := range map[string]contracts.TransportState{"usage-1": contracts.TransportStateDelivered,
		"usage-2": contracts.TransportStateRetryWait, "usage-3": contracts.TransportStateDelivered} {
		if got := e.store.delivery(id); got.State != want || got.Attempts != 1 {
			t.Errorf("%s: %s after %d attempts, want %s after 1", id, got.State, got.Attempts, want)
		}
	}
	missed := e.store.delivery("usage-2")
	recs := e.attemptRecords("usage-2")
	if !strings.HasPrefix(missed.LastError, "not acknowledged in usage record batch ") || len(recs) != 1 ||
		recs[0].Outcome != "retry_wait" || recs[0].BatchID == "" || !strings.Contains(missed.LastError, recs[0].BatchID) {
		t.Errorf("the missed record: last error %q, records %+v; want retry_wait naming the batch", missed.LastError, recs)
	}

	// Due again, it goes in a batch of its own, is acknowledged and
	// delivered; the others are not sent again.
	lib.mu.Lock()
	lib.answer = nil
	lib.mu.Unlock()
	e.clock.Advance(2 * time.Second)
	e.runOnce()
	if batches, _ := lib.sent(); fmt.Sprint(batches) != "[[usage-1 usage-2 usage-3] [usage-2]]" {
		t.Errorf("batches %v, want the three, then usage-2 alone", batches)
	}
	if got := e.store.delivery("usage-2"); got.State != contracts.TransportStateDelivered || got.Attempts != 2 {
		t.Errorf("usage-2: %s after %d attempts, want delivered after 2", got.State, got.Attempts)
	}
	if n := len(e.attemptRecords("usage-2")); n != 2 {
		t.Errorf("usage-2 has %d attempt records, want 2", n)
	}
}

// TestUsageBatchFailure: a batch that fails, whatever the failure, fails
// every record of it, each retried on its own schedule with its own
// record; none becomes a dead letter before its retry policy gives up.
func TestUsageBatchFailure(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		wrong bool // acknowledge another batch
		after time.Duration
	}{
		{"timeout", &deliveryErr{reason: "timeout", public: "timeout"}, false, 0},
		{"bad acknowledgement signature", &deliveryErr{permanent: true, reason: "partner's acknowledgement signature does not verify", public: "bad signature"}, false, 0},
		{"refused with a pause", &deliveryErr{after: time.Minute, reason: "503 busy", public: "503"}, false, time.Minute},
		{"acknowledgement of another batch", nil, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lib := &usageLib{answer: func(b *contracts.UsageRecordBatch) (*contracts.UsageBatchAck, error) {
				if tt.wrong {
					return &contracts.UsageBatchAck{BatchID: "0195f3a0-0000-7000-8000-000000000000", DeliveryIDs: []string{"usage-1"}}, nil
				}
				return nil, tt.err
			}}
			retry := gateway.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Second, MaxDelay: time.Second}
			e := newEnvWith(t, noLinger, true, issuer(libA, lib, 10, retry))
			e.usage(1, libA)
			e.usage(2, libA)
			e.runOnce()
			for _, id := range []string{"usage-1", "usage-2"} {
				got := e.store.delivery(id)
				recs := e.attemptRecords(id)
				if got.State != contracts.TransportStateRetryWait || got.Attempts != 1 || len(recs) != 1 || recs[0].BatchID == "" {
					t.Errorf("%s: %s after %d attempts, records %+v; want retry_wait after 1, one record naming the batch", id, got.State, got.Attempts, recs)
				}
				if tt.after > 0 && got.NextAt.Before(t0.Add(tt.after)) {
					t.Errorf("%s: next at %s, before the partner's pause of %s", id, got.NextAt, tt.after)
				}
			}
			if e.store.markAlls != 0 {
				t.Errorf("%d MarkDeliveredAll writes for a failed batch, want none", e.store.markAlls)
			}
			if s := e.ob.Dispatcher().PartnerStates(); len(s) != 1 || s[0].ConsecutiveFailures != 1 {
				t.Errorf("partner states %+v, want one failed attempt: the batch", s)
			}
			// The policy gives up after its attempts, not before.
			for range 2 {
				e.clock.Advance(time.Minute + 2*time.Second)
				e.runOnce()
			}
			for _, id := range []string{"usage-1", "usage-2"} {
				if got := e.store.delivery(id); got.State != contracts.TransportStateDead || got.Attempts != 3 {
					t.Errorf("%s: %s after %d attempts, want dead after 3", id, got.State, got.Attempts)
				}
			}
		})
	}
}

// TestUsageBatchStaleLease: a record another dispatcher took over while
// the batch was out keeps that dispatcher's outcome; the others are
// delivered in the same write.
func TestUsageBatchStaleLease(t *testing.T) {
	lib := &usageLib{}
	e := newEnvWith(t, noLinger, true, issuer(libA, lib, 10, gateway.RetryPolicy{}))
	e.usage(1, libA)
	e.usage(2, libA)
	other := t0.Add(time.Hour)
	lib.during = func() {
		e.store.mu.Lock()
		e.store.dels["usage-2"].LeaseUntil = other // another dispatcher's claim
		e.store.mu.Unlock()
	}
	e.runOnce()
	if got := e.store.delivery("usage-1"); got.State != contracts.TransportStateDelivered {
		t.Errorf("usage-1: %s, want delivered", got.State)
	}
	if got := e.store.delivery("usage-2"); got.State != contracts.TransportStateInFlight || !got.LeaseUntil.Equal(other) {
		t.Errorf("usage-2: %s under lease %s, want in flight under the other claim", got.State, got.LeaseUntil)
	}
	if n := len(e.attemptRecords("usage-2")); n != 0 {
		t.Errorf("usage-2 has %d attempt records by the dispatcher that lost its claim, want none", n)
	}
	if n := len(e.attemptRecords("usage-1")); n != 1 {
		t.Errorf("usage-1 has %d attempt records, want 1", n)
	}
}

// TestUsageBatchOneSlot: a batch takes one of its partner's PerPartner
// slots: with one slot, a second batch claimed in the same round is put
// back, each of its records on its own, and goes next round.
func TestUsageBatchOneSlot(t *testing.T) {
	lib := &usageLib{}
	e := newEnvWith(t, DispatcherOptions{Seed: 42, UsageLinger: -1, PerPartner: 1}, true, issuer(libA, lib, 2, gateway.RetryPolicy{}))
	for i := range 4 {
		e.usage(i+1, libA)
	}
	if n := e.runOnce(); n != 2 {
		t.Errorf("RunOnce attempted %d records, want the 2 of the first batch", n)
	}
	if batches, _ := lib.sent(); fmt.Sprint(batches) != "[[usage-1 usage-2]]" {
		t.Errorf("batches %v, want only the first", batches)
	}
	for _, id := range []string{"usage-3", "usage-4"} {
		if got := e.store.delivery(id); got.State != contracts.TransportStateRetryWait || got.Attempts != 0 {
			t.Errorf("%s: %s after %d attempts, want put back without an attempt", id, got.State, got.Attempts)
		}
	}
	e.clock.Advance(DefaultPoll)
	e.runOnce()
	if batches, _ := lib.sent(); fmt.Sprint(batches) != "[[usage-1 usage-2] [usage-3 usage-4]]" {
		t.Errorf("batches %v, want the second next round", batches)
	}
}

// TestUsageBatchLinger: an admitted batch that is not full waits for the
// records to the same issuer claimed after it, and goes as soon as it is
// full; records beyond it start the next batch.
func TestUsageBatchLinger(t *testing.T) {
	lib := &usageLib{}
	e := newEnvWith(t, DispatcherOptions{Seed: 42, UsageLinger: time.Hour}, true, issuer(libA, lib, 4, gateway.RetryPolicy{}))
	d := e.ob.Dispatcher()
	claim := func() []*gateway.Delivery {
		t.Helper()
		c, err := e.store.ClaimDue(e.ctx, e.clock.Now(), time.Minute, 10)
		if err != nil {
			t.Fatal(err)
		}
		d.gatherUsage(c)
		return c
	}
	var wg sync.WaitGroup
	runAll := func(c []*gateway.Delivery) {
		for _, del := range c {
			a := d.admit(del)
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.run(e.ctx, del, a, nil)
			}()
		}
	}
	e.usage(1, libA)
	e.usage(2, libA)
	runAll(claim()) // admitted; lingers for an hour unless it fills up
	for i := 3; i <= 5; i++ {
		e.usage(i, libA)
	}
	c := claim() // 3 and 4 fill the open batch; 5 starts another
	runAll(c)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			if batches, _ := lib.sent(); len(batches) > 0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	<-done
	if batches, _ := lib.sent(); fmt.Sprint(batches) != "[[usage-1 usage-2 usage-3 usage-4]]" {
		t.Errorf("batches %v, want the first four together, at once", batches)
	}
	// The second batch (usage-5) lingers: close it by filling it up.
	for i := 6; i <= 8; i++ {
		e.usage(i, libA)
	}
	runAll(claim())
	wg.Wait()
	if batches, _ := lib.sent(); fmt.Sprint(batches) != "[[usage-1 usage-2 usage-3 usage-4] [usage-5 usage-6 usage-7 usage-8]]" {
		t.Errorf("batches %v, want two full batches", batches)
	}
	for i := 1; i <= 8; i++ {
		if got := e.store.delivery(fmt.Sprintf("usage-%d", i)); got.State != contracts.TransportStateDelivered {
			t.Errorf("usage-%d: %s, want delivered", i, got.State)
		}
	}
	if len(d.usage.member) != 0 || len(d.usage.open) != 0 {
		t.Errorf("groups left behind: %d members, %d open", len(d.usage.member), len(d.usage.open))
	}
}

// TestUsageBatchSizeOne: an issuer configured for batches of one gets the
// single-record webhook, record by record.
func TestUsageBatchSizeOne(t *testing.T) {
	lib := &usageLib{}
	e := newEnvWith(t, noLinger, true, issuer(libA, lib, 1, gateway.RetryPolicy{}))
	e.usage(1, libA)
	e.usage(2, libA)
	e.runOnce()
	batches, singles := lib.sent()
	slices.Sort(singles)
	if len(batches) != 0 || fmt.Sprint(singles) != "[usage-1 usage-2]" {
		t.Errorf("batches %v, single records %v; want no batch, both records alone", batches, singles)
	}
	for _, id := range []string{"usage-1", "usage-2"} {
		if got := e.store.delivery(id); got.State != contracts.TransportStateDelivered {
			t.Errorf("%s: %s, want delivered", id, got.State)
		}
	}
}

// TestUsageBatchWriteFails: when the store cannot record the
// acknowledgements, the records stay in flight (to be taken over and
// sent again once their lease runs out) and nothing is half-written.
func TestUsageBatchWriteFails(t *testing.T) {
	lib := &usageLib{}
	e := newEnvWith(t, noLinger, true, issuer(libA, lib, 10, gateway.RetryPolicy{}))
	e.usage(1, libA)
	e.usage(2, libA)
	e.store.markErr = errors.New("disk full")
	e.runOnce()
	for _, id := range []string{"usage-1", "usage-2"} {
		if got := e.store.delivery(id); got.State != contracts.TransportStateInFlight || len(e.attemptRecords(id)) != 0 {
			t.Errorf("%s: %s with %d records, want in flight, unrecorded", id, got.State, len(e.attemptRecords(id)))
		}
	}
	e.store.markErr = nil
	e.clock.Advance(DefaultLease + time.Second)
	e.runOnce()
	for _, id := range []string{"usage-1", "usage-2"} {
		recs := e.attemptRecords(id)
		if got := e.store.delivery(id); got.State != contracts.TransportStateDelivered || len(recs) != 2 || recs[0].Outcome != OutcomeInterrupted {
			t.Errorf("%s: %s with records %+v, want delivered after an interrupted attempt", id, got.State, recs)
		}
	}
}

// TestMailboxAckUsageRecords: a pulling issuer acknowledges the usage
// records it pulled with one signed MailboxAck; they are recorded in one
// store write, each delivered with its own record and the MailboxAck as
// its acknowledgement, and acknowledging again changes nothing.
func TestMailboxAckUsageRecords(t *testing.T) {
	p := pulling(puller, gateway.RetryPolicy{})
	lib := &usageLib{}
	p.Library = &gateway.Library{Regions: []string{puller}, Source: lib, Usage: lib}
	e := newEnv(t, false, p)
	var dels []*gateway.Delivery
	for i := range 3 {
		d := e.usage(i+1, puller)
		d.Pull = true
		e.store.mu.Lock()
		e.store.dels[d.ID].Pull = true
		e.store.mu.Unlock()
		dels = append(dels, d)
	}
	b, err := e.ob.Mailbox().Poll(e.ctx, e.principal(puller), Query{})
	if err != nil || len(b.Messages) != 3 {
		t.Fatalf("Poll: %+v, %v", b, err)
	}
	var acks []contracts.Ack
	for _, m := range b.Messages {
		acks = append(acks, contracts.Ack{ExchangeID: m.ExchangeID, DeliveryID: m.DeliveryID,
			AcknowledgedAt: e.clock.Now(), BodySM3: fakeCrypto{}.SM3Hex(m.Body), KeyID: puller})
	}
	body, _ := json.Marshal(contracts.MailboxAck{Acks: acks})
	for i := range 2 {
		res, err := e.ob.Mailbox().Ack(e.ctx, gateway.Inbound{Caller: e.principal(puller), Body: body,
			Signature: partnerSig(puller, body), KeyID: puller})
		if err != nil || res.Acknowledged != 3 {
			t.Fatalf("Ack %d: %+v, %v", i+1, res, err)
		}
	}
	if e.store.markAlls != 1 {
		t.Errorf("%d MarkDeliveredAll writes, want one for the three records", e.store.markAlls)
	}
	for _, d := range dels {
		got := e.store.delivery(d.ID)
		recs := e.attemptRecords(d.ID)
		if got.State != contracts.TransportStateDelivered || string(got.AckBody) != string(body) || got.Ack == nil || got.Ack.DeliveryID != d.ID {
			t.Errorf("%s: %s, ack %+v; want delivered with the MailboxAck as evidence", d.ID, got.State, got.Ack)
		}
		if len(recs) != 2 || recs[0].Outcome != "offered" || recs[1].Outcome != "delivered" {
			t.Errorf("%s: records %+v, want offered then delivered", d.ID, recs)
		}
	}
}

// TestUsageBatchCircuit: a failed batch is one failure for its partner's
// circuit breaker, however many records it carried; once the circuit is
// open, the records due are put back without a call.
func TestUsageBatchCircuit(t *testing.T) {
	lib := &usageLib{answer: func(*contracts.UsageRecordBatch) (*contracts.UsageBatchAck, error) {
		return nil, errors.New("dial tcp: connection refused")
	}}
	retry := gateway.RetryPolicy{MaxAttempts: 10, BaseDelay: time.Second, MaxDelay: time.Second}
	e := newEnvWith(t, DispatcherOptions{Seed: 42, UsageLinger: -1, Circuit: gateway.CircuitPolicy{Failures: 2, Cooldown: time.Hour}}, true,
		issuer(libA, lib, 10, retry))
	for i := range 3 {
		e.usage(i+1, libA)
	}
	state := func() PartnerState { return e.ob.Dispatcher().PartnerStates()[0] }
	e.runOnce()
	if st := state(); st.Circuit != gateway.CircuitClosed || st.ConsecutiveFailures != 1 {
		t.Fatalf("after one failed batch of 3: %+v, want the circuit closed after 1 failure", st)
	}
	e.clock.Advance(2 * time.Second)
	e.runOnce()
	if st := state(); st.Circuit != gateway.CircuitOpen {
		t.Fatalf("after two failed batches: %+v, want the circuit open", st)
	}
	e.clock.Advance(2 * time.Second)
	if n := e.runOnce(); n != 0 {
		t.Errorf("with the circuit open: attempted %d, want none", n)
	}
	if batches, _ := lib.sent(); len(batches) != 2 {
		t.Errorf("%d batches sent, want 2", len(batches))
	}
	for i := range 3 {
		if got := e.store.delivery(fmt.Sprintf("usage-%d", i+1)); got.Attempts != 2 || got.State != contracts.TransportStateRetryWait {
			t.Errorf("usage-%d: %s after %d attempts, want put back after 2", i+1, got.State, got.Attempts)
		}
	}
}
