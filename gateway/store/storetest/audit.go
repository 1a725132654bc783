package storetest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// exchangeRecord is the starting record of an exchange of c carried by d.
func exchangeRecord(event string, c *gateway.Case, d *gateway.Delivery, at time.Time, detail string) contracts.EvidenceRecord {
	kind, actor := contracts.ExchangeKindCase, c.Sender
	if event == contracts.EventStatusApplied {
		kind, actor = contracts.ExchangeKindStatus, c.Owner
	}
	return contracts.EvidenceRecord{At: at, Actor: actor, Event: event, ExchangeID: d.ExchangeID, CaseID: c.ID,
		DeliveryID: d.ID, Partner: d.Partner, Kind: kind, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
		BodySM3: "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0", Detail: json.RawMessage(detail)}
}

// testSearchExchanges: audit search lists the records that start
// exchanges (not attempts or denials), newest first, with each filter,
// the delivery's state and regions by side, and pages by cursor; with
// the event filter, the records of that event only, denials with their
// caller, code, route and probed case.
func testSearchExchanges(t *testing.T, e *env) {
	// A case from zhonglou (320404) to wucheng (330702), its delivery
	// delivered; a status update back, its delivery pending.
	c := newCase()
	d := newDelivery(c, wucheng, t0)
	e.create(c, d)
	ch, back := updateChange(c, t0.Add(time.Minute))
	if err := e.s.UpdateCase(t.Context(), ch); err != nil {
		t.Fatalf("UpdateCase: %v", err)
	}
	claimed, err := e.s.ClaimDue(t.Context(), t0.Add(time.Hour), time.Minute, 10)
	if err != nil || len(claimed) == 0 {
		t.Fatalf("ClaimDue: %d, %v", len(claimed), err)
	}
	var mine *gateway.Delivery
	for _, x := range claimed {
		if x.ID == d.ID {
			mine = x
		}
	}
	if mine == nil {
		t.Fatal("the case's delivery was not claimed")
	}
	mine.Attempts, mine.State = 1, contracts.TransportStateDelivered
	if err := e.s.UpdateCase(t.Context(), gateway.Change{Case: e.getCase(c.ID), Delivered: mine}); err != nil {
		t.Fatalf("UpdateCase (delivered): %v", err)
	}
	lic := contracts.EvidenceRecord{At: t0.Add(2 * time.Minute), Actor: windowZL, Event: contracts.EventLicenseVerified,
		ExchangeID: newID("ur"), Partner: "lib-" + chiping, Region: chiping, Kind: contracts.ExchangeKindLicenseVerify,
		Detail: json.RawMessage(`{"outcome":"valid","requester_region":"320404"}`)}
	recs := []contracts.EvidenceRecord{
		exchangeRecord(contracts.EventCaseReceived, c, d, t0, `{"state":"received"}`),
		{At: t0.Add(30 * time.Second), Actor: gateway.GatewayActor, Event: contracts.EventDeliveryAttempt, ExchangeID: d.ExchangeID,
			CaseID: c.ID, DeliveryID: d.ID, Partner: wucheng, Kind: contracts.ExchangeKindCase, Detail: json.RawMessage(`{"outcome":"delivered"}`)},
		exchangeRecord(contracts.EventStatusApplied, c, back, t0.Add(time.Minute), `{"state":"accepted"}`),
		{At: t0.Add(90 * time.Second), Actor: "anonymous", Event: contracts.EventAccessDenied},
		lic,
		{At: t0.Add(150 * time.Second), Actor: chiping, Event: contracts.EventAccessDenied, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
			Detail: json.RawMessage(`{"code":"not_found","method":"GET","route":"/v1/cases/:case_id","case_ref":"` + c.ID + `","suppressed_before":2}`)},
	}
	if err := e.s.AppendEvidence(t.Context(), recs...); err != nil {
		t.Fatalf("AppendEvidence: %v", err)
	}
	caseEx, statusEx, licEx := d.ExchangeID, back.ExchangeID, lic.ExchangeID

	ids := func(xs []contracts.ExchangeSummary) []string {
		out := []string{}
		for _, x := range xs {
			out = append(out, x.ExchangeID)
		}
		return out
	}
	tests := []struct {
		name string
		q    gateway.ExchangeQuery
		want []string
	}{
		{"all, newest first", gateway.ExchangeQuery{}, []string{licEx, statusEx, caseEx}},
		{"case", gateway.ExchangeQuery{CaseID: c.ID}, []string{statusEx, caseEx}},
		{"exchange", gateway.ExchangeQuery{ExchangeID: statusEx}, []string{statusEx}},
		{"partner as receiver", gateway.ExchangeQuery{Partner: wucheng}, []string{statusEx, caseEx}},
		{"partner as sender", gateway.ExchangeQuery{Partner: windowZL}, []string{licEx}},
		{"library", gateway.ExchangeQuery{Partner: "lib-" + chiping}, []string{licEx}},
		{"district", gateway.ExchangeQuery{Region: "320404"}, []string{licEx, statusEx, caseEx}},
		{"city", gateway.ExchangeQuery{Region: "330700"}, []string{statusEx, caseEx}},
		{"province", gateway.ExchangeQuery{Region: "370000"}, []string{licEx}},
		{"other province", gateway.ExchangeQuery{Region: "110000"}, nil},
		{"kind", gateway.ExchangeQuery{Kind: contracts.ExchangeKindStatus}, []string{statusEx}},
		{"delivered", gateway.ExchangeQuery{State: contracts.TransportStateDelivered}, []string{caseEx}},
		{"in flight", gateway.ExchangeQuery{State: contracts.TransportStateInFlight}, []string{statusEx}},
		{"pending", gateway.ExchangeQuery{State: contracts.TransportStatePending}, nil},
		{"from", gateway.ExchangeQuery{From: t0.Add(time.Minute)}, []string{licEx, statusEx}},
		{"to", gateway.ExchangeQuery{To: t0.Add(time.Minute)}, []string{caseEx}},
		{"and", gateway.ExchangeQuery{CaseID: c.ID, Kind: contracts.ExchangeKindCase}, []string{caseEx}},
		{"one starting event", gateway.ExchangeQuery{Event: contracts.EventStatusApplied}, []string{statusEx}},
		{"attempts are not listed", gateway.ExchangeQuery{Event: contracts.EventDeliveryAttempt}, nil},
		{"denials", gateway.ExchangeQuery{Event: contracts.EventAccessDenied}, []string{"", ""}},
		{"denials of a caller", gateway.ExchangeQuery{Event: contracts.EventAccessDenied, Partner: chiping}, []string{""}},
		{"denials in a range", gateway.ExchangeQuery{Event: contracts.EventAccessDenied, To: t0.Add(2 * time.Minute)}, []string{""}},
		{"denials of no case", gateway.ExchangeQuery{Event: contracts.EventAccessDenied, CaseID: c.ID}, nil},
	}
	for _, tt := range tests {
		tt.q.Limit = 10
		got, next, err := e.s.SearchExchanges(t.Context(), tt.q)
		if err != nil {
			t.Fatalf("%s: SearchExchanges: %v", tt.name, err)
		}
		if g := ids(got); !slices.Equal(g, tt.want) || next != 0 {
			t.Errorf("%s: got %v (next %d), want %v (last page)", tt.name, g, next, tt.want)
		}
	}

	all, _, err := e.s.SearchExchanges(t.Context(), gateway.ExchangeQuery{Limit: 10})
	if err != nil || len(all) != 3 {
		t.Fatalf("SearchExchanges: %d, %v", len(all), err)
	}
	x := all[2] // the case submission
	want := contracts.ExchangeSummary{ExchangeID: caseEx, Kind: contracts.ExchangeKindCase, Event: contracts.EventCaseReceived, At: t0, Sender: zhonglou,
		Partner: wucheng, FromRegion: zhonglou, ToRegion: wucheng, CaseID: c.ID, DeliveryID: d.ID,
		State: contracts.TransportStateDelivered, Attempts: 1, CaseState: contracts.CaseStateReceived,
		BodySM3: recs[0].BodySM3, TraceID: recs[0].TraceID, UpdatedAt: t0.Add(30 * time.Second)}
	x.At, x.UpdatedAt = x.At.UTC(), x.UpdatedAt.UTC()
	if x != want {
		t.Errorf("case exchange:\ngot  %+v\nwant %+v", x, want)
	}
	if s := all[1]; s.FromRegion != wucheng || s.ToRegion != zhonglou || s.Sender != wucheng || s.CaseState != contracts.CaseStateAccepted {
		t.Errorf("status exchange goes back: %+v", s)
	}
	if l := all[0]; l.LicenseOutcome != contracts.LicenseOutcomeValid || l.FromRegion != zhonglou || l.ToRegion != chiping || l.State != "" {
		t.Errorf("license exchange: %+v", l)
	}

	// A denial as the search shows it: who was refused, how, and the
	// case it probed.
	denials, _, err := e.s.SearchExchanges(t.Context(), gateway.ExchangeQuery{Event: contracts.EventAccessDenied, Limit: 10})
	if err != nil || len(denials) != 2 {
		t.Fatalf("SearchExchanges(access.denied): %d, %v", len(denials), err)
	}
	dx := denials[0]
	dx.At = dx.At.UTC()
	wantDenial := contracts.DeniedRequest{Code: contracts.CodeNotFound, Method: "GET", Route: "/v1/cases/:case_id", CaseRef: c.ID, SuppressedBefore: 2}
	if dx.Denial == nil || *dx.Denial != wantDenial || dx.Event != contracts.EventAccessDenied || dx.Sender != chiping ||
		!dx.At.Equal(t0.Add(150*time.Second)) || dx.TraceID != recs[0].TraceID || dx.ExchangeID != "" || dx.Kind != "" {
		t.Errorf("denial: got %+v (denial %+v), want %s refused with %+v", dx, dx.Denial, chiping, wantDenial)
	}
	if a := denials[1]; a.Sender != "anonymous" || a.Denial == nil || a.Denial.Code != "" {
		t.Errorf("anonymous denial without detail: got %+v", a)
	}

	// Pages of one.
	var pages []string
	q := gateway.ExchangeQuery{Limit: 1}
	for range 10 {
		got, next, err := e.s.SearchExchanges(t.Context(), q)
		if err != nil {
			t.Fatalf("SearchExchanges page: %v", err)
		}
		pages = append(pages, ids(got)...)
		if next == 0 {
			break
		}
		q.Before = next
	}
	if want := []string{licEx, statusEx, caseEx}; !slices.Equal(pages, want) {
		t.Errorf("pages of one: got %v, want %v", pages, want)
	}
	if _, _, err := e.s.SearchExchanges(t.Context(), gateway.ExchangeQuery{}); err == nil {
		t.Error("SearchExchanges without a limit: want an error")
	}
}
