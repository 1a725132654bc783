package evidence_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
)

// auditLog is memLog as an AuditStore: the denial tests read only the
// log, so the audit reads are refused.
type auditLog struct{ *memLog }

var errNotHere = errors.New("auditLog: not exercised")

func (auditLog) CaseEvidence(context.Context, string) ([]gateway.EvidenceRow, error) {
	return nil, errNotHere
}

func (auditLog) SearchExchanges(context.Context, gateway.ExchangeQuery) ([]contracts.ExchangeSummary, int64, error) {
	return nil, 0, errNotHere
}

func (auditLog) GetExchange(context.Context, string, string) (*gateway.Exchange, error) {
	return nil, errNotHere
}

func (auditLog) GetCase(context.Context, string) (*gateway.Case, error) { return nil, errNotHere }

func (auditLog) GetDelivery(context.Context, string) (*gateway.Delivery, error) {
	return nil, errNotHere
}

// stepClock is a clock the test moves.
type stepClock struct{ now time.Time }

func (c *stepClock) Now() time.Time { return c.now }

// denialRecord is an access.denied record as the tests read it.
type denialRecord struct {
	actor  string
	detail contracts.EvidenceDetail
}

func denialRecords(t *testing.T, log *memLog) []denialRecord {
	t.Helper()
	var out []denialRecord
	for _, row := range log.rows {
		var r contracts.EvidenceRecord
		if err := json.Unmarshal(row.Record, &r); err != nil {
			t.Fatal(err)
		}
		if r.Event != contracts.EventAccessDenied {
			t.Fatalf("record %d is %s, want access.denied", r.Seq, r.Event)
		}
		var d contracts.EvidenceDetail
		if err := json.Unmarshal(r.Detail, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, denialRecord{r.Actor, d})
	}
	return out
}

func newDenialAuditor(t *testing.T) (*evidence.Auditor, *memLog, *stepClock) {
	t.Helper()
	log, clock := &memLog{}, &stepClock{now: time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)}
	a, err := evidence.NewAuditor(evidence.Options{Store: auditLog{log}, Crypto: fakeCrypto{}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return a, log, clock
}

// TestDenialBudgetsArePerCaller: a caller flooding denials uses up only
// its own budget; another caller's first denial in the same instant is
// recorded, and the flooder's suppressed count is written under the
// flooder, with its next record once its budget refills.
func TestDenialBudgetsArePerCaller(t *testing.T) {
	a, log, clock := newDenialAuditor(t)
	ctx := t.Context()
	const flood = 200
	for range flood {
		a.RecordDenial(ctx, evidence.Denial{Caller: "flooder", Code: contracts.CodeForbidden, Method: "GET", Route: "/v1/audit/exchanges"})
	}
	a.RecordDenial(ctx, evidence.Denial{Caller: "victim", Code: contracts.CodeNotFound, Method: "GET", Route: "/v1/cases/:case_id", CaseRef: "case-1"})
	recs := denialRecords(t, log)
	if len(recs) != 51 {
		t.Fatalf("%d records after the flood and one other denial, want the flooder's 50 and the victim's 1", len(recs))
	}
	last := recs[50]
	if last.actor != "victim" || last.detail.SuppressedBefore != 0 || last.detail.CaseRef != "case-1" {
		t.Errorf("other caller's denial recorded as %+v, want victim's, case_ref case-1, nothing suppressed before", last)
	}

	// A second later the flooder's budget has refilled: its next record
	// carries its own suppressed count; the victim's next carries none.
	clock.now = clock.now.Add(time.Second)
	a.RecordDenial(ctx, evidence.Denial{Caller: "victim", Code: contracts.CodeForbidden})
	a.RecordDenial(ctx, evidence.Denial{Caller: "flooder", Code: contracts.CodeForbidden})
	recs = denialRecords(t, log)
	if len(recs) != 53 {
		t.Fatalf("%d records, want 53", len(recs))
	}
	if r := recs[51]; r.actor != "victim" || r.detail.SuppressedBefore != 0 {
		t.Errorf("victim's second record %+v: want nothing suppressed", r)
	}
	if r := recs[52]; r.actor != "flooder" || r.detail.SuppressedBefore != flood-50 {
		t.Errorf("flooder's record %+v: want suppressed_before %d", r, flood-50)
	}
}

// TestFlushDenialsPerCaller: denials still counted when serve stops are
// written, one record per caller, under that caller, with the last
// suppressed denial's route and the whole count.
func TestFlushDenialsPerCaller(t *testing.T) {
	a, log, _ := newDenialAuditor(t)
	ctx := t.Context()
	for _, tt := range []struct {
		caller string
		n      int
	}{{"a", 53}, {"b", 51}, {"c", 10}} {
		for i := range tt.n {
			a.RecordDenial(ctx, evidence.Denial{Caller: tt.caller, Code: contracts.CodeForbidden, Route: fmt.Sprintf("/r/%d", i)})
		}
	}
	before := len(denialRecords(t, log))
	a.FlushDenials(ctx)
	recs := denialRecords(t, log)[before:]
	want := []denialRecord{
		{"a", contracts.EvidenceDetail{Code: contracts.CodeForbidden, Route: "/r/52", SuppressedBefore: 3}},
		{"b", contracts.EvidenceDetail{Code: contracts.CodeForbidden, Route: "/r/50", SuppressedBefore: 1}},
	}
	if len(recs) != len(want) {
		t.Fatalf("flushed %+v, want %+v", recs, want)
	}
	for i := range want {
		if recs[i].actor != want[i].actor || recs[i].detail.Route != want[i].detail.Route ||
			recs[i].detail.SuppressedBefore != want[i].detail.SuppressedBefore {
			t.Errorf("flushed record %d: %+v, want %+v", i, recs[i], want[i])
		}
	}
	a.FlushDenials(ctx)
	if n := len(denialRecords(t, log)); n != before+len(want) {
		t.Errorf("a second flush wrote %d more records, want none", n-before-len(want))
	}
}

// TestDenialBudgetsAreBounded: with more callers than the gate keeps,
// the least recently denied is forgotten, and its pending count is
// written under it then, not lost or moved to another caller.
func TestDenialBudgetsAreBounded(t *testing.T) {
	a, log, _ := newDenialAuditor(t)
	ctx := t.Context()
	for range 52 { // 50 recorded, 2 suppressed
		a.RecordDenial(ctx, evidence.Denial{Caller: "first", Code: contracts.CodeForbidden})
	}
	const callers = 1024 // maxDenialCallers: the next one forgets "first"
	for i := range callers {
		a.RecordDenial(ctx, evidence.Denial{Caller: fmt.Sprintf("c%04d", i), Code: contracts.CodeForbidden})
	}
	recs := denialRecords(t, log)
	if len(recs) != 50+callers+1 {
		t.Fatalf("%d records, want %d", len(recs), 50+callers+1)
	}
	var found bool
	for _, r := range recs[50:] {
		if r.actor == "first" {
			found = r.detail.SuppressedBefore == 2
		} else if r.detail.SuppressedBefore != 0 {
			t.Errorf("%s's record carries suppressed_before %d, want 0", r.actor, r.detail.SuppressedBefore)
		}
	}
	if !found {
		t.Error("the forgotten caller's pending denials were not written under it")
	}
}
