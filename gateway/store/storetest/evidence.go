package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/signing"
)

// The evidence tests expect the store to hash records with
// signing.EvidenceHash (the lowercase hex SM3 of their canonical form).

// verifier checks a store's log with the gateway's own chain verifier.
var verifier = evidence.ChainVerifier{SM3: signing.EvidenceHash}

// record returns an evidence record of event for case caseID ("" none).
func record(event, caseID string, at time.Time) contracts.EvidenceRecord {
	return contracts.EvidenceRecord{At: at, Actor: zhonglou, Event: event, CaseID: caseID,
		ExchangeID: newID("ev"), Detail: json.RawMessage(`{"n":1}`)}
}

// rows reads the whole log.
func (e *env) rows() []gateway.EvidenceRow {
	e.t.Helper()
	var out []gateway.EvidenceRow
	if err := e.s.ScanEvidence(e.t.Context(), 1, 0, func(r gateway.EvidenceRow) error {
		out = append(out, r)
		return nil
	}); err != nil {
		e.t.Fatalf("ScanEvidence: %v", err)
	}
	return out
}

// decode reads a stored record.
func decode(t *testing.T, r gateway.EvidenceRow) contracts.EvidenceRecord {
	t.Helper()
	var rec contracts.EvidenceRecord
	if err := json.Unmarshal(r.Record, &rec); err != nil {
		t.Fatalf("record %d: %v", r.Seq, err)
	}
	return rec
}

// wantChain fails unless the log holds n records and verifies.
func (e *env) wantChain(n int64) {
	e.t.Helper()
	res, err := verifier.Verify(e.t.Context(), e.s, 0, 0)
	if err != nil {
		e.t.Fatalf("Verify: %v", err)
	}
	if !res.OK || res.HeadSeq != n || res.Checked != n {
		e.t.Fatalf("Verify: ok %v, head %d, checked %d (first bad %v: %s); want %d records intact",
			res.OK, res.HeadSeq, res.Checked, res.FirstBadSeq, res.Reason, n)
	}
}

// testAppendEvidence: records get consecutive seqs, link to the record
// before and to the case's previous record, hash to their canonical form,
// and read back as appended.
func testAppendEvidence(t *testing.T, e *env) {
	if seq, hash, err := e.s.EvidenceHead(t.Context()); err != nil || seq != 0 || hash != contracts.ZeroHash {
		t.Fatalf("EvidenceHead of an empty log: %d, %q, %v", seq, hash, err)
	}
	c1, c2 := newID("case"), newID("case")
	recs := []contracts.EvidenceRecord{record("a", c1, t0), record("b", "", t0.In(cst)), record("c", c1, t0.Add(time.Second))}
	if err := e.s.AppendEvidence(t.Context(), recs...); err != nil {
		t.Fatalf("AppendEvidence: %v", err)
	}
	if err := e.s.AppendEvidence(t.Context(), record("d", c2, t0), record("e", c1, t0)); err != nil {
		t.Fatalf("AppendEvidence: %v", err)
	}
	rows := e.rows()
	if len(rows) != 5 {
		t.Fatalf("log holds %d records, want 5", len(rows))
	}
	var c1Last string
	prev := contracts.ZeroHash
	for i, r := range rows {
		rec := decode(t, r)
		if r.Seq != int64(i+1) || rec.Seq != r.Seq || rec.PrevHash != prev || rec.Hash != "" {
			t.Errorf("record %d: seq %d/%d, prev %q (want %q), hash %q", i+1, r.Seq, rec.Seq, rec.PrevHash, prev, rec.Hash)
		}
		if h := signing.EvidenceHash(contracts.ChainHeader(r.Seq, prev, signing.EvidenceHash(r.Record))); h != r.Hash {
			t.Errorf("record %d: stored hash %s, chain hash of its canonical form %s", r.Seq, r.Hash, h)
		}
		if canon, err := rec.Canonical(); err != nil || string(canon) != string(r.Record) {
			t.Errorf("record %d is not stored in its canonical form", r.Seq)
		}
		if rec.CaseID == c1 {
			if rec.CasePrevHash != c1Last {
				t.Errorf("record %d: case_prev_hash %q, want %q", r.Seq, rec.CasePrevHash, c1Last)
			}
			c1Last = r.Hash
		} else if rec.CasePrevHash != "" {
			t.Errorf("record %d of case %q: case_prev_hash %q, want none", r.Seq, rec.CaseID, rec.CasePrevHash)
		}
		if !rec.At.Equal(t0) && !rec.At.Equal(t0.Add(time.Second)) {
			t.Errorf("record %d at %s", r.Seq, rec.At)
		}
		prev = r.Hash
	}
	if seq, hash, err := e.s.EvidenceHead(t.Context()); err != nil || seq != 5 || hash != rows[4].Hash {
		t.Errorf("EvidenceHead: %d, %q, %v; want 5 and the last hash", seq, hash, err)
	}
	byCase, err := e.s.CaseEvidence(t.Context(), c1)
	if err != nil || len(byCase) != 3 || byCase[0].Seq != 1 || byCase[1].Seq != 3 || byCase[2].Seq != 5 {
		t.Errorf("CaseEvidence: %+v, %v; want seqs 1, 3, 5", byCase, err)
	}
	if recs[2].Seq != 3 || recs[2].Hash != rows[2].Hash {
		t.Errorf("AppendEvidence did not report what it assigned: %+v", recs[2])
	}
	if err := e.s.AppendEvidence(t.Context(), contracts.EvidenceRecord{Actor: "x", Event: "no time"}); err == nil {
		t.Error("a record without a time was appended")
	}
	e.wantChain(5)
}

// testEvidenceAtomic: a change refused as a whole appends none of its
// records, and the log goes on without a gap.
func testEvidenceAtomic(t *testing.T, e *env) {
	c := newCase()
	ch := gateway.Change{Case: c, Exchange: exchangeFor(c), Status: statusFor(c, contracts.CaseStateReceived, t0),
		Evidence: []contracts.EvidenceRecord{record("case.received", c.ID, t0)}}
	if err := e.s.CreateCase(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	stale := *e.getCase(c.ID)
	stale.Version = 99
	err := e.s.UpdateCase(t.Context(), gateway.Change{Case: &stale, Evidence: []contracts.EvidenceRecord{record("stale", c.ID, t0)}})
	if !errors.Is(err, gateway.ErrStale) {
		t.Fatalf("stale UpdateCase: %v", err)
	}
	dup := newCase()
	x := exchangeFor(dup)
	x.Sender, x.ExchangeID = ch.Exchange.Sender, ch.Exchange.ExchangeID
	err = e.s.CreateCase(t.Context(), gateway.Change{Case: dup, Exchange: x, Evidence: []contracts.EvidenceRecord{record("dup", dup.ID, t0)}})
	if !errors.Is(err, gateway.ErrDuplicateExchange) {
		t.Fatalf("duplicate CreateCase: %v", err)
	}
	// A fenced attempt that lost its claim writes no record either.
	_, ds := e.caseWith(t0, wucheng)
	e.mustClaim(t0, time.Minute, ds...)
	lost := *ds[0]
	lost.LeaseUntil = t0.Add(time.Hour)
	lost.State, lost.Attempts = contracts.TransportStateRetryWait, 1
	if err := e.s.SaveAttempt(t.Context(), &lost, record("lost", lost.CaseID, t0)); !errors.Is(err, gateway.ErrStale) {
		t.Fatalf("fenced SaveAttempt: %v", err)
	}
	a := *ds[0]
	a.State, a.Attempts = contracts.TransportStateRetryWait, 1
	if err := e.s.SaveAttempt(t.Context(), &a, record("delivery.attempt", a.CaseID, t0)); err != nil {
		t.Fatal(err)
	}
	if err := e.s.AppendEvidence(t.Context(), record("after", "", t0)); err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, r := range e.rows() {
		events = append(events, decode(t, r).Event)
	}
	if fmt.Sprint(events) != "[case.received delivery.attempt after]" {
		t.Errorf("log holds %v, want only the records of the writes that happened", events)
	}
	e.wantChain(3)
}

// testEvidenceWrites: every write that takes records appends them with
// what it writes.
func testEvidenceWrites(t *testing.T, e *env) {
	usage := newUsage(zhonglou, t0)
	ud := usageDelivery(usage, wucheng, t0)
	if err := e.s.AddUsage(t.Context(), []gateway.UsageEntry{usage}, []*gateway.Delivery{ud}, record("license.verified", "", t0)); err != nil {
		t.Fatal(err)
	}
	e.mustClaim(t0, time.Minute, ud)
	if err := e.s.MarkDelivered(t.Context(), usageDone(ud, t0), nil, record("delivery.attempt", "", t0)); err != nil {
		t.Fatal(err)
	}
	_, ds := e.caseWith(t0, chiping)
	e.mustClaim(t0, time.Minute, ds...)
	e.saveAttempt(ds[0], contracts.TransportStateDead, 1, time.Time{})
	if err := e.s.Redeliver(t.Context(), ds[0].ID, t0, record("admin.redeliver", "", t0)); err != nil {
		t.Fatal(err)
	}
	e.mustClaim(t0, time.Minute, ds...)
	e.saveAttempt(ds[0], contracts.TransportStateDead, 1, time.Time{})
	ev := record("admin.redeliver", "", t0)
	ids, err := e.s.RedeliverDead(t.Context(), chiping, t0, &ev)
	if err != nil || len(ids) != 1 {
		t.Fatalf("RedeliverDead: %v, %v", ids, err)
	}
	var last contracts.EvidenceRecord
	var events []string
	for _, r := range e.rows() {
		last = decode(t, r)
		events = append(events, last.Event)
	}
	if fmt.Sprint(events) != "[license.verified delivery.attempt admin.redeliver admin.redeliver]" {
		t.Errorf("log holds %v", events)
	}
	if string(last.Detail) != `{"deliveries":["`+ids[0]+`"]}` || ev.Seq != last.Seq {
		t.Errorf("RedeliverDead's record: detail %s, seq %d (the caller's copy says %d)", last.Detail, last.Seq, ev.Seq)
	}
	e.wantChain(4)
}

// testEvidenceConcurrent: appends from many writers at once form one
// chain without gaps, each writer's records in its order.
func testEvidenceConcurrent(t *testing.T, e *env) {
	const writers, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			caseID := fmt.Sprintf("case-w%02d", w)
			for i := range each {
				rec := record(fmt.Sprintf("w%02d-%02d", w, i), caseID, t0)
				if err := e.s.AppendEvidence(t.Context(), rec); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	e.wantChain(writers * each)
	next := map[string]int{}
	for _, r := range e.rows() {
		rec := decode(t, r)
		var w, i int
		fmt.Sscanf(rec.Event, "w%02d-%02d", &w, &i)
		key := fmt.Sprint(w)
		if i != next[key] {
			t.Fatalf("writer %d's record %d came at seq %d after its record %d", w, i, r.Seq, next[key]-1)
		}
		next[key]++
	}
}

// testCheckpoints: checkpoints are kept, first one per seq, and listed in
// order within bounds.
func testCheckpoints(t *testing.T, e *env) {
	for _, seq := range []int64{3, 1, 2} {
		cp := contracts.Checkpoint{Seq: seq, HeadHash: fmt.Sprintf("%064d", seq), At: t0.In(cst), KeyID: "gateway", Signature: []byte{byte(seq)}}
		if err := e.s.SaveCheckpoint(t.Context(), cp); err != nil {
			t.Fatal(err)
		}
	}
	again := contracts.Checkpoint{Seq: 2, HeadHash: fmt.Sprintf("%064d", 9), At: t0, KeyID: "other", Signature: []byte{9}}
	if err := e.s.SaveCheckpoint(t.Context(), again); err != nil {
		t.Fatal(err)
	}
	cps, err := e.s.Checkpoints(t.Context(), 2, 0)
	if err != nil || len(cps) != 2 || cps[0].Seq != 2 || cps[1].Seq != 3 {
		t.Fatalf("Checkpoints(2, 0): %+v, %v", cps, err)
	}
	if cps[0].KeyID != "gateway" || cps[0].Signature[0] != 2 || !cps[0].At.Equal(t0) {
		t.Errorf("checkpoint 2 was replaced or changed: %+v", cps[0])
	}
	if cps, _ := e.s.Checkpoints(t.Context(), 1, 2); len(cps) != 2 {
		t.Errorf("Checkpoints(1, 2): %d, want 2", len(cps))
	}
}

// testEvidenceReopen: the log and its head survive a reopen, and appends
// go on from where they were.
func testEvidenceReopen(t *testing.T, open func(t *testing.T, path string) gateway.Store) {
	r := reopener{t: t, path: filepath.Join(t.TempDir(), "store.db"), open: open}
	e := r.env()
	if err := e.s.AppendEvidence(t.Context(), record("a", "c1", t0), record("b", "c1", t0)); err != nil {
		t.Fatal(err)
	}
	e.close()
	e = r.env()
	defer e.close()
	if err := e.s.AppendEvidence(t.Context(), record("c", "c1", t0)); err != nil {
		t.Fatal(err)
	}
	e.wantChain(3)
	rows := e.rows()
	if rec := decode(t, rows[2]); rec.CasePrevHash != rows[1].Hash {
		t.Errorf("after reopening, the case chain does not link: %q, want %q", rec.CasePrevHash, rows[1].Hash)
	}
}
