package storetest

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// RunDurable runs the durability tests of a store kept at a path: what was
// written before Close is there after opening the same path again. open
// must open (creating if needed) the store at path; the suite closes every
// store it gets.
func RunDurable(t *testing.T, open func(t *testing.T, path string) gateway.Store) {
	t.Run("Reopen", func(t *testing.T) { testReopen(t, open) })
	t.Run("CloseWhileWriting", func(t *testing.T) { testCloseWhileWriting(t, open) })
	t.Run("EvidenceReopen", func(t *testing.T) { testEvidenceReopen(t, open) })
}

// reopener opens the store at one path again and again.
type reopener struct {
	t    *testing.T
	path string
	open func(t *testing.T, path string) gateway.Store
}

func (r reopener) env() *env {
	r.t.Helper()
	s := r.open(r.t, r.path)
	if s == nil {
		r.t.Fatal("open returned a nil store")
	}
	return &env{t: r.t, s: s}
}

func (e *env) close() {
	e.t.Helper()
	if err := e.s.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
}

func testReopen(t *testing.T, open func(t *testing.T, path string) gateway.Store) {
	r := reopener{t: t, path: filepath.Join(t.TempDir(), "store.db"), open: open}

	e := r.env()
	c, ds := e.caseWith(now.Add(-time.Hour), wucheng, chiping, zhonglou)
	e.mustClaim(now, time.Hour, ds...)
	done := e.deliver(c.ID, ds[0], now)
	e.saveAttempt(ds[1], contracts.TransportStateDead, 8, now)
	usage := newUsage(zhonglou, now)
	usageD := usageDelivery(usage, wucheng, now.Add(2*time.Hour))
	e.addUsage([]gateway.UsageEntry{usage}, usageD)
	wantCase := e.getCase(c.ID)
	wantHistory := e.history(c.ID)
	wantDeliveries := e.deliveries(c.ID)
	wantCounts := e.counts()
	e.close()

	e = r.env()
	defer e.close()
	sameCase(t, "GetCase after reopen", e.getCase(c.ID), wantCase)
	x, err := e.s.GetExchange(t.Context(), c.Sender, c.ExchangeID)
	if err != nil {
		t.Fatalf("GetExchange after reopen: %v", err)
	}
	sameExchange(t, "GetExchange after reopen", x, exchangeFor(c))
	gotHistory := e.history(c.ID)
	if len(gotHistory) != len(wantHistory) {
		t.Fatalf("History after reopen: got %d entries, want %d", len(gotHistory), len(wantHistory))
	}
	for i := range wantHistory {
		if g, w := normStatus(gotHistory[i]), normStatus(wantHistory[i]); !reflect.DeepEqual(g, w) {
			t.Errorf("History[%d] after reopen: got %+v, want %+v", i, g, w)
		}
	}
	gotDeliveries := e.deliveries(c.ID)
	if len(gotDeliveries) != len(wantDeliveries) {
		t.Fatalf("Deliveries after reopen: got %d, want %d", len(gotDeliveries), len(wantDeliveries))
	}
	for i := range wantDeliveries {
		sameDelivery(t, "Deliveries after reopen", gotDeliveries[i], wantDeliveries[i])
	}
	if got := e.getDelivery(ds[0].ID); got.Ack == nil || got.Ack.PartnerCaseNo != done.Ack.PartnerCaseNo {
		t.Errorf("Ack after reopen: got %+v, want %+v", got.Ack, done.Ack)
	}
	if got := e.counts(); !sameCounts(got, wantCounts) {
		t.Errorf("CountByState after reopen: got %v, want %v", got, wantCounts)
	}
	sameUsage(t, "ListUsage after reopen", e.listUsage(gateway.UsageQuery{Limit: 10}), []gateway.UsageEntry{usage})
	sameDelivery(t, "GetDelivery of a delivery of no case after reopen", e.getDelivery(usageD.ID), usageD)
	// The lease survives: ds[2] is still in flight until now+1h.
	e.mustClaim(now, time.Hour)
	e.mustClaim(now.Add(time.Hour), time.Hour, ds[2])

	// Seq keeps increasing across the reopen.
	_, more := e.caseWith(now, wucheng)
	if max := wantDeliveries[len(wantDeliveries)-1].Seq; more[0].Seq <= max {
		t.Errorf("Seq after reopen: got %d, want more than %d", more[0].Seq, max)
	}
	// The stored exchange still refuses its duplicate.
	dup := newCase()
	dup.ExchangeID = c.ExchangeID
	err = e.s.CreateCase(t.Context(), gateway.Change{Case: dup, Exchange: exchangeFor(dup)})
	wantErr(t, "CreateCase with an exchange stored before reopen", err, gateway.ErrDuplicateExchange)
}

// testCloseWhileWriting closes the store while writers are busy: every
// write that returned nil must be there after reopening, and writes after
// Close must fail rather than hang or panic.
func testCloseWhileWriting(t *testing.T, open func(t *testing.T, path string) gateway.Store) {
	const workers, each, closeAfter = 16, 25, 100
	r := reopener{t: t, path: filepath.Join(t.TempDir(), "store.db"), open: open}
	e := r.env()

	type result struct {
		ok  []string // delivery ids of cases created
		err error    // the first failure, which ends the worker
	}
	acked := make(chan struct{}, workers*each)
	results := make(chan result, workers)
	for range workers {
		go func() {
			var res result
			for range each {
				c := newCase()
				d := newDelivery(c, wucheng, now)
				if res.err = e.s.CreateCase(t.Context(), gateway.Change{Case: c, Exchange: exchangeFor(c), Enqueue: []*gateway.Delivery{d}}); res.err != nil {
					break
				}
				res.ok = append(res.ok, d.ID)
				acked <- struct{}{}
			}
			results <- res
		}()
	}
	var closeErr error
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for range closeAfter {
			<-acked
		}
		closeErr = e.s.Close()
	}()

	var ok []string
	failed := 0
	for range workers {
		res := <-results
		ok = append(ok, res.ok...)
		if res.err != nil {
			failed++
		}
	}
	<-closed
	if closeErr != nil {
		t.Fatalf("Close: %v", closeErr)
	}
	if len(ok) < closeAfter {
		t.Fatalf("%d writes succeeded, want at least %d", len(ok), closeAfter)
	}
	t.Logf("%d writes acknowledged, %d writers stopped by Close", len(ok), failed)

	c := newCase()
	if err := e.s.CreateCase(t.Context(), gateway.Change{Case: c, Exchange: exchangeFor(c)}); err == nil {
		t.Error("CreateCase after Close: got nil, want an error")
	}

	e = r.env()
	defer e.close()
	for _, id := range ok {
		if _, err := e.s.GetDelivery(t.Context(), id); err != nil {
			if errors.Is(err, gateway.ErrNotFound) {
				t.Errorf("delivery %s was acknowledged before Close but is gone after reopen", id)
				continue
			}
			t.Fatalf("GetDelivery(%s): %v", id, err)
		}
	}
	if got := e.counts()[contracts.TransportStatePending]; got < len(ok) {
		t.Errorf("CountByState pending after reopen: got %d, want at least %d", got, len(ok))
	}
}
