package postgres

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// Tests of several Store values on one schema: what the shared suite,
// which opens one store at a time, cannot express. Each Store has a pool
// of its own, as a process would.

var (
	t0     = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	fixIDs atomic.Int64
)

func fixID(prefix string) string { return fmt.Sprintf("%s-%06d", prefix, fixIDs.Add(1)) }

// decodeRow decodes a stored record.
func decodeRow(r gateway.EvidenceRow) (contracts.EvidenceRecord, error) {
	var rec contracts.EvidenceRecord
	if err := json.Unmarshal(r.Record, &rec); err != nil {
		return rec, fmt.Errorf("record %d: %w", r.Seq, err)
	}
	return rec, nil
}

// fixChange returns a CreateCase change of a new case with its exchange
// (from sender 320404 under exchangeID, new when ""), one delivery to
// 330702 due at t0 and its case.received record.
func fixChange(exchangeID string) gateway.Change {
	id := fixID("case")
	if exchangeID == "" {
		exchangeID = fixID("ex")
	}
	c := &gateway.Case{ID: id, ExchangeID: exchangeID, Sender: "320404", Owner: "330702", FromRegion: "320404",
		ToRegion: "330702", State: contracts.CaseStateReceived, CreatedAt: t0, UpdatedAt: t0}
	d := &gateway.Delivery{ID: fixID("dl"), CaseID: id, Kind: contracts.DeliveryKindCase, Partner: "330702",
		ExchangeID: fixID("dx"), Payload: []byte(`{"case_id":"` + id + `"}`), PayloadKey: "2026-11", NextAt: t0, CreatedAt: t0}
	return gateway.Change{
		Case: c,
		Exchange: &gateway.Exchange{Sender: c.Sender, ExchangeID: exchangeID, Kind: gateway.ExchangeCase, CaseID: id,
			Body: []byte(`{"case":"` + id + `"}`), BodySM3: "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
			KeyID: c.Sender, ReceivedAt: t0, Receipt: []byte(`{"case_id":"` + id + `"}`), BodyKey: "2026-11"},
		Status:  &gateway.Status{CaseID: id, State: contracts.CaseStateReceived, At: t0, ReportedBy: c.Sender},
		Enqueue: []*gateway.Delivery{d},
		Evidence: []contracts.EvidenceRecord{{At: t0, Actor: c.Sender, Event: contracts.EventCaseReceived,
			ExchangeID: exchangeID, CaseID: id, DeliveryID: d.ID, Partner: c.Owner, Kind: contracts.ExchangeKindCase}},
	}
}

// TestDuplicateExchangeAcrossStores: two stores (two processes) store the
// same exchange at the same moment, many times over; each time exactly one
// change is written, whole, and the other fails with
// ErrDuplicateExchange having written nothing.
func TestDuplicateExchangeAcrossStores(t *testing.T) {
	const rounds = 60
	schema := freshSchema(t)
	a, b := openClosed(t, schema), openClosed(t, schema)
	ctx := t.Context()
	for round := range rounds {
		exchangeID := fixID("dup")
		chs := []gateway.Change{fixChange(exchangeID), fixChange(exchangeID)}
		errs := make([]error, 2)
		var start, done sync.WaitGroup
		start.Add(1)
		for i, s := range []*Store{a, b} {
			done.Go(func() {
				start.Wait()
				errs[i] = s.CreateCase(ctx, chs[i])
			})
		}
		start.Done()
		done.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if won >= 0 {
					t.Fatalf("round %d: both changes with exchange %s were stored", round, exchangeID)
				}
				won = i
			case !errors.Is(err, gateway.ErrDuplicateExchange):
				t.Fatalf("round %d: CreateCase: got %v, want nil or ErrDuplicateExchange", round, err)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: neither change was stored: %v", round, errs)
		}
		lost := chs[1-won]
		if _, err := a.GetCase(ctx, lost.Case.ID); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("round %d: the losing case: got %v, want ErrNotFound", round, err)
		}
		if _, err := b.GetDelivery(ctx, lost.Enqueue[0].ID); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("round %d: the losing delivery: got %v, want ErrNotFound", round, err)
		}
		if lost.Case.Version != 0 || lost.Enqueue[0].Seq != 0 {
			t.Errorf("round %d: the losing change was reported stored: version %d, seq %d", round, lost.Case.Version, lost.Enqueue[0].Seq)
		}
		x, err := b.GetExchange(ctx, "320404", exchangeID)
		if err != nil || x.CaseID != chs[won].Case.ID {
			t.Errorf("round %d: GetExchange: %v, %v; want the winner's", round, x, err)
		}
	}
	if n := queryInt(t, `SELECT count(*) FROM `+ident(schema, "exchanges")); n != rounds {
		t.Errorf("exchanges stored: %d, want %d", n, rounds)
	}
	if n := queryInt(t, `SELECT count(*) FROM `+ident(schema, "cases")); n != rounds {
		t.Errorf("cases stored: %d, want %d", n, rounds)
	}
	counts, err := a.CountByState(ctx)
	if err != nil || counts[contracts.TransportStatePending] != rounds {
		t.Errorf("CountByState: %v, %v; want %d pending", counts, err, rounds)
	}
	// Only the winners' records are in the log, in one chain.
	wantChain(t, a, rounds)
}

// TestEvidenceAcrossStores: stores appending at once, each from several
// goroutines, form one chain with no gap and no fork; every writer's
// records keep their order and every case's chain links.
func TestEvidenceAcrossStores(t *testing.T) {
	const stores, writers, each = 3, 4, 25
	schema := freshSchema(t)
	var ss []*Store
	for range stores {
		ss = append(ss, openClosed(t, schema))
	}
	var wg sync.WaitGroup
	errc := make(chan error, stores*writers)
	for si, s := range ss {
		for w := range writers {
			wg.Go(func() {
				caseID := fmt.Sprintf("case-s%d", w) // shared by the stores: case chains cross them
				for i := range each {
					rec := contracts.EvidenceRecord{At: t0, Actor: "gateway", Event: fmt.Sprintf("s%d-w%d-%02d", si, w, i), CaseID: caseID}
					if err := s.AppendEvidence(t.Context(), rec); err != nil {
						errc <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	wantChain(t, ss[0], stores*writers*each)

	next := map[string]int{}
	lastOfCase := map[string]string{}
	err := ss[1].ScanEvidence(t.Context(), 1, 0, func(r gateway.EvidenceRow) error {
		rec, err := decodeRow(r)
		if err != nil {
			return err
		}
		var si, w, i int
		fmt.Sscanf(rec.Event, "s%d-w%d-%02d", &si, &w, &i)
		key := fmt.Sprint(si, w)
		if i != next[key] {
			return fmt.Errorf("writer %s's record %d at seq %d after its record %d", key, i, r.Seq, next[key]-1)
		}
		next[key]++
		if rec.CasePrevHash != lastOfCase[rec.CaseID] {
			return fmt.Errorf("record %d of %s: case_prev_hash %q, want %q", r.Seq, rec.CaseID, rec.CasePrevHash, lastOfCase[rec.CaseID])
		}
		lastOfCase[rec.CaseID] = r.Hash
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestClaimAcrossStores: dispatchers of two processes claiming at once
// take every due delivery exactly once.
func TestClaimAcrossStores(t *testing.T) {
	const n, workers, limit = 200, 4, 7
	schema := freshSchema(t)
	a, b := openClosed(t, schema), openClosed(t, schema)
	want := map[string]bool{}
	for i := range n {
		ch := fixChange("")
		ch.Enqueue[0].NextAt = t0.Add(-time.Duration(i) * time.Millisecond)
		if err := a.CreateCase(t.Context(), ch); err != nil {
			t.Fatal(err)
		}
		want[ch.Enqueue[0].ID] = true
	}
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
	)
	for _, s := range []*Store{a, b} {
		for range workers {
			wg.Go(func() {
				for range n { // bounded: an empty claim ends the loop
					ds, err := s.ClaimDue(t.Context(), t0, time.Hour, limit)
					if err != nil {
						t.Error(err)
						return
					}
					if len(ds) == 0 {
						return
					}
					mu.Lock()
					for _, d := range ds {
						seen[d.ID]++
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	for id, k := range seen {
		if k != 1 {
			t.Errorf("delivery %s claimed %d times", id, k)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("claimed %d distinct deliveries, want %d", len(seen), len(want))
	}
}

// TestNoLinker: without a linker the store refuses evidence records, and
// a change carrying some writes nothing.
func TestNoLinker(t *testing.T) {
	s, err := Open(t.Context(), Options{DSN: testDSN(), Schema: freshSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.AppendEvidence(t.Context(), contracts.EvidenceRecord{At: t0, Actor: "gateway", Event: "x"})
	if err == nil || !strings.Contains(err.Error(), "Linker") {
		t.Errorf("AppendEvidence without a linker: got %v, want an error naming Options.Linker", err)
	}
	ch := fixChange("")
	if err := s.CreateCase(t.Context(), ch); err == nil {
		t.Fatal("CreateCase with evidence and no linker: got nil")
	}
	if _, err := s.GetCase(t.Context(), ch.Case.ID); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("the refused case: got %v, want ErrNotFound", err)
	}
	ch = fixChange("")
	ch.Evidence = nil
	if err := s.CreateCase(t.Context(), ch); err != nil {
		t.Errorf("CreateCase without evidence and no linker: %v", err)
	}
}
