package outbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// ListDeliveries of the fake store keeps the store contract (unfinished
// states only, seq order, after the cursor, at most the limit, no payload)
// and remembers the query; listErr, when set, is its answer instead.
func (s *fakeStore) ListDeliveries(ctx context.Context, q gateway.DeliveryQuery) ([]*gateway.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastList = q
	if s.listErr != nil {
		return nil, s.listErr
	}
	if q.Limit <= 0 || len(q.States) == 0 {
		return nil, fmt.Errorf("fake: list deliveries: bad query %+v", q)
	}
	var out []*gateway.Delivery
	for _, d := range s.sorted() {
		if len(out) == q.Limit {
			break
		}
		if gateway.Unfinished(d.State) && slices.Contains(q.States, d.State) && d.Seq > q.After &&
			(q.Partner == "" || d.Partner == q.Partner) {
			c := clone(d)
			c.Payload, c.Ack, c.AckBody, c.AckSig = nil, nil, nil, nil
			out = append(out, c)
		}
	}
	return out, nil
}

// set changes a stored delivery in place.
func (s *fakeStore) set(id string, change func(d *gateway.Delivery)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	change(s.dels[id])
}

// TestListDeliveries: operators list the unfinished deliveries, dead and
// retry_wait unless they name a state, oldest first, in pages; every
// filter is checked, and only operators may.
func TestListDeliveries(t *testing.T) {
	accept := caseFunc(func(context.Context, *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
		return nil, nil, nil, errors.New("not called")
	})
	e := newEnv(t, false, pushing(owner, accept, nil, gateway.RetryPolicy{}), pulling(puller, gateway.RetryPolicy{}))
	r, ops := e.ob.Redelivery(), e.principal(operator)
	next := t0.Add(time.Hour)
	var dels []*gateway.Delivery
	for i, st := range []contracts.TransportState{
		contracts.TransportStateDead, contracts.TransportStateRetryWait, contracts.TransportStatePending,
		contracts.TransportStateDelivered, contracts.TransportStateDead, contracts.TransportStateInFlight,
		contracts.TransportStateRetryWait,
	} {
		kind, partner := contracts.DeliveryKindCase, owner
		if i == 4 {
			kind = contracts.DeliveryKindUsageRecord
		}
		if i >= 5 {
			partner = puller
		}
		d := e.enqueue(i+1, kind, partner)
		e.store.set(d.ID, func(d *gateway.Delivery) {
			d.State, d.Attempts, d.NextAt = st, i, next
			if st == contracts.TransportStateDead || st == contracts.TransportStateRetryWait {
				d.LastError = "partner answered 503"
			}
		})
		dels = append(dels, d)
	}
	ids := func(p *contracts.DeliveryPage) []string {
		out := []string{}
		for _, it := range p.Items {
			out = append(out, it.DeliveryID)
		}
		return out
	}
	list := func(f DeliveryFilter) *contracts.DeliveryPage {
		t.Helper()
		p, err := r.ListDeliveries(e.ctx, ops, f)
		if err != nil {
			t.Fatalf("ListDeliveries(%+v): %v", f, err)
		}
		return p
	}

	t.Run("default: dead and retry_wait", func(t *testing.T) {
		p := list(DeliveryFilter{})
		if got, want := ids(p), []string{dels[0].ID, dels[1].ID, dels[4].ID, dels[6].ID}; !slices.Equal(got, want) || p.NextCursor != "" {
			t.Errorf("got %v cursor %q, want %v and no cursor", got, p.NextCursor, want)
		}
		if q := e.store.lastList; !slices.Equal(q.States, []contracts.TransportState{contracts.TransportStateDead, contracts.TransportStateRetryWait}) ||
			q.Limit != DefaultDeliveryPage+1 || q.After != 0 || q.Partner != "" {
			t.Errorf("store query: %+v, want dead and retry_wait, the default page and one more", q)
		}
		dead, retry, usage := p.Items[0], p.Items[1], p.Items[2]
		want := contracts.DeliverySummary{DeliveryID: dels[0].ID, Kind: contracts.DeliveryKindCase, CaseID: "case-1", Partner: owner,
			ExchangeID: dels[0].ExchangeID, State: contracts.TransportStateDead, Attempts: 0, LastError: "partner answered 503", CreatedAt: t0}
		if dead != want {
			t.Errorf("dead letter:\ngot  %+v\nwant %+v (no next attempt)", dead, want)
		}
		if retry.State != contracts.TransportStateRetryWait || !retry.NextAttemptAt.Equal(next) || retry.Attempts != 1 {
			t.Errorf("retry_wait: got %+v, want its next attempt at %s", retry, next)
		}
		if usage.Kind != contracts.DeliveryKindUsageRecord || usage.CaseID != "" {
			t.Errorf("delivery of no case: got %+v", usage)
		}
	})
	t.Run("one state, one partner", func(t *testing.T) {
		for _, tt := range []struct {
			f    DeliveryFilter
			want []string
		}{
			{DeliveryFilter{State: contracts.TransportStatePending}, []string{dels[2].ID}},
			{DeliveryFilter{State: contracts.TransportStateInFlight}, []string{dels[5].ID}},
			{DeliveryFilter{State: contracts.TransportStateDead}, []string{dels[0].ID, dels[4].ID}},
			{DeliveryFilter{Partner: puller}, []string{dels[6].ID}},
			{DeliveryFilter{Partner: "no-longer-configured"}, []string{}},
		} {
			if got := ids(list(tt.f)); !slices.Equal(got, tt.want) {
				t.Errorf("%+v: got %v, want %v", tt.f, got, tt.want)
			}
		}
		if p := list(DeliveryFilter{State: contracts.TransportStatePending}); p.Items[0].NextAttemptAt.IsZero() {
			t.Errorf("pending: got no next attempt")
		}
	})
	t.Run("pages", func(t *testing.T) {
		var got []string
		f := DeliveryFilter{Limit: 3}
		p := list(f)
		got = append(got, ids(p)...)
		if p.NextCursor != strconv.FormatInt(dels[4].Seq, 10) {
			t.Fatalf("first page: cursor %q, want the seq of its last item %d", p.NextCursor, dels[4].Seq)
		}
		f.Cursor = p.NextCursor
		p = list(f)
		got = append(got, ids(p)...)
		if p.NextCursor != "" {
			t.Errorf("last page: cursor %q, want none", p.NextCursor)
		}
		if want := []string{dels[0].ID, dels[1].ID, dels[4].ID, dels[6].ID}; !slices.Equal(got, want) {
			t.Errorf("pages: got %v, want %v", got, want)
		}
		if p := list(DeliveryFilter{Limit: 4}); p.NextCursor != "" || len(p.Items) != 4 {
			t.Errorf("a page exactly full: got %d items, cursor %q; want 4 and no cursor", len(p.Items), p.NextCursor)
		}
	})
	t.Run("refused", func(t *testing.T) {
		for _, tt := range []struct {
			who  string
			f    DeliveryFilter
			code contracts.Code
		}{
			{owner, DeliveryFilter{}, contracts.CodeForbidden},
			{operator, DeliveryFilter{State: contracts.TransportStateDelivered}, contracts.CodeValidationFailed},
			{operator, DeliveryFilter{State: "stuck"}, contracts.CodeValidationFailed},
			{operator, DeliveryFilter{Partner: "bad id"}, contracts.CodeValidationFailed},
			{operator, DeliveryFilter{Limit: -1}, contracts.CodeValidationFailed},
			{operator, DeliveryFilter{Limit: MaxDeliveryPage + 1}, contracts.CodeValidationFailed},
			{operator, DeliveryFilter{Cursor: "x"}, contracts.CodeValidationFailed},
			{operator, DeliveryFilter{Cursor: "0"}, contracts.CodeValidationFailed},
		} {
			if _, err := r.ListDeliveries(e.ctx, e.principal(tt.who), tt.f); gateway.CodeOf(err) != tt.code {
				t.Errorf("%s %+v: got %v, want %s", tt.who, tt.f, err, tt.code)
			}
		}
	})
	t.Run("store failure", func(t *testing.T) {
		e.store.mu.Lock()
		e.store.listErr = errors.New("disk on fire")
		e.store.mu.Unlock()
		if _, err := r.ListDeliveries(e.ctx, ops, DeliveryFilter{}); gateway.CodeOf(err) != contracts.CodeInternal {
			t.Errorf("got %v, want internal", err)
		}
	})
}
