package standard_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/adaptertest"
	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing"
)

// TestDeliverNoticeRoundTrip: every notice type reaches the partner's
// simulator intact at {endpoint}/notices and comes back acknowledged,
// naming the delivery, the exchange and the SM3 of the exact bytes sent,
// signed by the partner over the bytes returned.
func TestDeliverNoticeRoundTrip(t *testing.T) {
	gw, partner := newPair(t)
	sim, srv := newSim(t, partner, partnersim.Faults{})
	a := newAdapter(t, gw, srv.URL, "", 0)
	if _, ok := adapters.NoticeDelivererOf(a); !ok {
		t.Fatal("the standard adapter does not deliver notices")
	}
	ns := adaptertest.Notices(0, "case-01959245f1f97a3c")
	for i, d := range ns {
		ack, raw, sig, err := a.DeliverNotice(context.Background(), d)
		if err != nil {
			t.Fatalf("DeliverNotice(%s): %v", d.Notice.Type, err)
		}
		body, _ := json.Marshal(d)
		want := contracts.Ack{ExchangeID: d.ExchangeID, DeliveryID: d.DeliveryID, AcknowledgedAt: fixedNow,
			BodySM3: gw.SM3Hex(body), KeyID: partnerID}
		if !reflect.DeepEqual(*ack, want) {
			t.Errorf("%s: ack = %+v, want %+v", d.Notice.Type, *ack, want)
		}
		if err := signing.Verify(partner.Key.Public(), raw, sig); err != nil {
			t.Errorf("%s: returned signature does not verify over raw: %v", d.Notice.Type, err)
		}
		got := sim.Notices()
		if len(got) != i+1 {
			t.Fatalf("the partner holds %d notices, want %d", len(got), i+1)
		}
		adaptertest.Same(t, "notice "+string(d.Notice.Type), &got[i], d)
	}
}

// TestDeliverNoticeRefusesWhatItCannotSend: a notice without the ids its
// acknowledgement must name is refused permanently, unsent.
func TestDeliverNoticeRefusesWhatItCannotSend(t *testing.T) {
	gw, partner := newPair(t)
	srv := newAckServer(t, partner, nil)
	a := newAdapter(t, gw, srv.URL, "", 0)
	noDelivery := *adaptertest.Notices(0, "c-1")[0]
	noDelivery.DeliveryID = ""
	noCase := *adaptertest.Notices(0, "c-1")[0]
	noCase.CaseID = ""
	for name, d := range map[string]*contracts.NoticeDelivery{"nil": nil, "no delivery id": &noDelivery, "no case id": &noCase} {
		_, _, _, err := a.DeliverNotice(context.Background(), d)
		if e := asError(t, err); !e.Permanent() {
			t.Errorf("%s: got %v, want a permanent error", name, err)
		}
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("the partner saw %d requests", n)
	}
}

// TestDeliverNoticeAckChecked: an acknowledgement of a notice that names
// another delivery, another exchange or other bytes is refused
// permanently, as for a status update.
func TestDeliverNoticeAckChecked(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(a *contracts.Ack)
		want   error
	}{
		{"another delivery", func(a *contracts.Ack) { a.DeliveryID = "dlv-other" }, adapters.ErrAckMismatch},
		{"another exchange", func(a *contracts.Ack) { a.ExchangeID = "01959246-0000-7000-8000-00000000ffff" }, adapters.ErrAckMismatch},
		{"other bytes", func(a *contracts.Ack) { a.BodySM3 = strings.Repeat("0", 64) }, adapters.ErrAckMismatch},
		{"no time", func(a *contracts.Ack) { a.AcknowledgedAt = time.Time{} }, adapters.ErrMalformedAck},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw, partner := newPair(t)
			srv := newAckServer(t, partner, func(a *contracts.Ack) []byte { tt.mutate(a); return nil })
			a := newAdapter(t, gw, srv.URL, "", 0)
			_, _, _, err := a.DeliverNotice(context.Background(), adaptertest.Notices(0, "c-1")[2])
			if e := asError(t, err); !e.Permanent() || !errors.Is(err, tt.want) {
				t.Errorf("got %v, want a permanent %v", err, tt.want)
			}
		})
	}
}

// TestNoticeDeliveryGolden pins the exact bytes and path of a notice
// delivery (a negative evaluation with its open follow-up).
func TestNoticeDeliveryGolden(t *testing.T) {
	gw, partner := newPair(t)
	srv := newAckServer(t, partner, nil)
	a := newAdapter(t, gw, srv.URL+"/p", "", 0)
	if _, _, _, err := a.DeliverNotice(context.Background(), adaptertest.Notices(0, "case-01959245f1f97a3c")[2]); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 1 || reqs[0].path != "/p/notices" || reqs[0].header.Get("Content-Type") != "application/json" {
		t.Fatalf("partner saw %+v, want one JSON POST to /p/notices", reqs)
	}
	checkGolden(t, filepath.Join("testdata", "notice_delivery.golden.json"), reqs[0].body)
}

// TestPartnerSideReadsNotices: the partner side reads a notice at
// /notices strictly.
func TestPartnerSideReadsNotices(t *testing.T) {
	d := adaptertest.Notices(0, "c-1")[3]
	body, _ := json.Marshal(d)
	m, err := standard.PartnerSide{}.ReadRequest("/notices", "application/json", "", body)
	if err != nil || m.Kind() != "notice" || m.ExchangeID() != d.ExchangeID {
		t.Fatalf("ReadRequest(/notices) = %+v, %v", m, err)
	}
	adaptertest.Same(t, "notice", m.Notice, d)
	for _, bad := range []string{`{"delivery_id":"d","unknown":1}`, `{"delivery_id":"d"} {}`} {
		if _, err := (standard.PartnerSide{}).ReadRequest("/notices", "application/json", "", []byte(bad)); err == nil {
			t.Errorf("%s read as a notice", bad)
		}
	}
}

// TestPartnerSideCalls: each inbound call renders as the gateway's own
// JSON at its path, and the body reads back strictly as the message.
func TestPartnerSideCalls(t *testing.T) {
	caseID := "case 7/甲"
	esc := "case%207%2F%E7%94%B2"
	u := adaptertest.Updates(caseID, func([]byte) string { return strings.Repeat("a", 64) })[4]
	sub := adaptertest.FullCase(1, func([]byte) string { return strings.Repeat("b", 64) }).Submission
	tests := []struct {
		call contracts.InboundCall
		path string
		into any
	}{
		{contracts.InboundCall{Kind: contracts.InboundCase, Submission: &sub}, "/v1/cases", &contracts.CaseSubmission{}},
		{contracts.InboundCall{Kind: contracts.InboundStatus, Update: &u}, "/v1/cases/" + esc + "/status", &contracts.StatusUpdate{}},
		{contracts.InboundCall{Kind: contracts.InboundEvaluation, Evaluation: adaptertest.FullEvaluation(caseID)},
			"/v1/cases/" + esc + "/evaluation", &contracts.EvaluationSubmission{}},
		{contracts.InboundCall{Kind: contracts.InboundReply, Reply: adaptertest.FullReply(caseID)},
			"/v1/cases/" + esc + "/evaluation/reply", &contracts.EvaluationReply{}},
		{contracts.InboundCall{Kind: contracts.InboundBundle, Bundle: adaptertest.FullBundle(func([]byte) string { return strings.Repeat("c", 64) })},
			"/v1/bundles", &contracts.BundleSubmission{}},
	}
	for _, tt := range tests {
		c, err := standard.PartnerSide{}.Call(&tt.call)
		if err != nil {
			t.Fatalf("%s: %v", tt.call.Kind, err)
		}
		if c.Path != tt.path || c.MediaType != "application/json" || c.Action != "" {
			t.Errorf("%s: POST %s (%s, action %q), want %s, application/json", tt.call.Kind, c.Path, c.MediaType, c.Action, tt.path)
		}
		if err := adapters.DecodeJSON(c.Body, tt.into); err != nil {
			t.Fatalf("%s: body does not read back strictly: %v", tt.call.Kind, err)
		}
		var want any = map[contracts.InboundKind]any{contracts.InboundCase: tt.call.Submission, contracts.InboundStatus: tt.call.Update,
			contracts.InboundEvaluation: tt.call.Evaluation, contracts.InboundReply: tt.call.Reply, contracts.InboundBundle: tt.call.Bundle}[tt.call.Kind]
		adaptertest.Same(t, string(tt.call.Kind)+" call", tt.into, want)
	}
	noCase := *adaptertest.FullReply("")
	for name, c := range map[string]*contracts.InboundCall{
		"nil":                 nil,
		"kind without body":   {Kind: contracts.InboundEvaluation, Reply: adaptertest.FullReply("c")},
		"unknown kind":        {Kind: "complaint", Reply: adaptertest.FullReply("c")},
		"reply without case":  {Kind: contracts.InboundReply, Reply: &noCase},
		"bundle without body": {Kind: contracts.InboundBundle},
	} {
		if got, err := (standard.PartnerSide{}).Call(c); err == nil {
			t.Errorf("%s: rendered as %+v", name, got)
		}
	}
}

// TestReadReceiptWithParts: a bundle's receipt, naming each part's case,
// reads back whole; an unknown field in a part is refused.
func TestReadReceiptWithParts(t *testing.T) {
	want := contracts.Receipt{ExchangeID: "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10", CaseID: "bundle-1",
		ReceivedAt: fixedNow, BodySM3: strings.Repeat("d", 64), State: contracts.CaseStateReceived, EvidenceSeq: 42,
		Parts: []contracts.ReceiptPart{{Part: "licence", CaseID: "c-1", State: contracts.CaseStateReceived},
			{Part: "permit", CaseID: "c-2", State: contracts.CaseStateWaiting}}}
	body, _ := json.Marshal(want)
	got, err := standard.PartnerSide{}.ReadReceipt("application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("receipt read as %+v, want %+v", *got, want)
	}
	bad := strings.Replace(string(body), `"part":"permit"`, `"part":"permit","after":["licence"]`, 1)
	if _, err := (standard.PartnerSide{}).ReadReceipt("application/json", []byte(bad)); err == nil {
		t.Error("a part with an unknown field was read")
	}
}

// TestSimRefusesMalformedNotices: the simulator refuses a notice of no
// known type, or about another case than its delivery, and stores
// neither.
func TestSimRefusesMalformedNotices(t *testing.T) {
	gw, partner := newPair(t)
	sim, srv := newSim(t, partner, partnersim.Faults{})
	a := newAdapter(t, gw, srv.URL, "", 0)
	unknown := *adaptertest.Notices(0, "c-1")[0]
	unknown.Notice.Type = "gossip"
	other := *adaptertest.Notices(0, "c-1")[1]
	other.Notice.CaseID = "c-2"
	for _, d := range []*contracts.NoticeDelivery{&unknown, &other} {
		_, _, _, err := a.DeliverNotice(context.Background(), d)
		if e := asError(t, err); !e.Permanent() || e.Status != http.StatusBadRequest {
			t.Errorf("notice %+v: got %v, want a permanent 400", d.Notice, err)
		}
	}
	if n := len(sim.Notices()); n != 0 {
		t.Errorf("the partner stored %d malformed notices", n)
	}
}
