package partnersim_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/contracts"
)

// waitDone waits for the reporter to stop.
func waitDone(t *testing.T, sim *partnersim.Sim) {
	t.Helper()
	select {
	case <-sim.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("reporter did not stop after its context was cancelled")
	}
}

func TestReporterReportsFullLifecycle(t *testing.T) {
	gw, partner := newPair(t)
	g := newFakeGateway(t, gw, nil)
	sim, srv := newSim(t, partnersim.Config{
		Crypto: partner, GatewayURL: g.URL, Step: time.Millisecond,
		Token: func() (string, error) { return token, nil },
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim.Start(ctx)

	d := caseDelivery(1)
	ack := post(t, srv.URL+"/cases", gw, mustJSON(t, d)).ack(t, gw)

	posts := g.collect(t, len(partnersim.DefaultProgress))
	var states []contracts.CaseState
	ids := map[string]bool{}
	for _, p := range posts {
		u := p.update
		states = append(states, u.State)
		if p.auth != "Bearer "+token {
			t.Errorf("%s: Authorization %q", u.State, p.auth)
		}
		if u.CaseID != d.CaseID || u.OwnerCaseNo != ack.PartnerCaseNo || u.ReportedAt.IsZero() {
			t.Errorf("%s: case %q, owner case no %q (want %q, %q)", u.State, u.CaseID, u.OwnerCaseNo, d.CaseID, ack.PartnerCaseNo)
		}
		if contracts.ValidateUUID(u.ExchangeID) != nil || u.ExchangeID[14] != '7' || ids[u.ExchangeID] {
			t.Errorf("%s: exchange id %q is not a fresh UUIDv7", u.State, u.ExchangeID)
		}
		ids[u.ExchangeID] = true
		switch u.State {
		case contracts.CaseStateConcluded:
			if u.Outcome != contracts.OutcomeApproved || len(u.Documents) != 1 {
				t.Fatalf("concluded: outcome %q, %d documents", u.Outcome, len(u.Documents))
			}
			doc := u.Documents[0]
			if doc.SM3 != gw.SM3Hex(doc.Content) || doc.Size != int64(len(doc.Content)) || doc.Name == "" || doc.MediaType != "application/pdf" {
				t.Errorf("concluded: document %+v does not match its content", doc)
			}
		case contracts.CaseStateDispatched:
			dp := u.Dispatch
			if dp == nil || dp.Method != contracts.ResultDeliveryMethodPost || dp.Carrier != "EMS" ||
				!regexp.MustCompile(`^EA\d{9}CN$`).MatchString(dp.TrackingNumber) || dp.DispatchedAt.IsZero() {
				t.Errorf("dispatched: %+v", dp)
			}
		case contracts.CaseStateDelivered:
			if u.DeliveredAt.IsZero() {
				t.Error("delivered: no delivered_at")
			}
		}
	}
	if !slices.Equal(states, partnersim.DefaultProgress) {
		t.Errorf("reported %v, want %v", states, partnersim.DefaultProgress)
	}

	// The last report counts once the simulator has read the 202.
	var reported []contracts.StatusUpdate
	for _, p := range posts {
		reported = append(reported, p.update)
	}
	for deadline := time.Now().Add(10 * time.Second); len(sim.Reports()) < len(reported) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if got := sim.Reports(); !reflect.DeepEqual(got, reported) {
		t.Errorf("Reports() = %d updates, want the %d accepted ones", len(got), len(reported))
	}
	cancel()
	waitDone(t, sim)
}

func TestReporterRetriesThenStopsOn409(t *testing.T) {
	gw, partner := newPair(t)
	g := newFakeGateway(t, gw, func(n int, u contracts.StatusUpdate) int {
		switch {
		case n <= 2:
			return http.StatusServiceUnavailable
		case u.State == contracts.CaseStateInProgress:
			return http.StatusConflict
		}
		return http.StatusAccepted
	})
	logs := newLogSink(t)
	sim, srv := newSim(t, partnersim.Config{Crypto: partner, GatewayURL: g.URL, Step: time.Millisecond, Logf: logs.logf})
	post(t, srv.URL+"/cases", gw, mustJSON(t, caseDelivery(1))).ack(t, gw)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim.Start(ctx) // a case received before Start is reported too

	posts := g.collect(t, 4)
	logs.waitFor(t, "stopping this case")
	cancel()
	waitDone(t, sim)

	for i, want := range []contracts.CaseState{"accepted", "accepted", "accepted", "in_progress"} {
		if posts[i].update.State != want {
			t.Errorf("report %d: %s, want %s", i, posts[i].update.State, want)
		}
	}
	if string(posts[0].body) != string(posts[1].body) || string(posts[1].body) != string(posts[2].body) {
		t.Error("a retried report changed its bytes; it must repeat the same exchange")
	}
	if n := g.n.Load(); n != 4 {
		t.Errorf("gateway got %d reports, want 4 (nothing after the 409)", n)
	}
	if got := sim.Reports(); len(got) != 1 || got[0].State != contracts.CaseStateAccepted {
		t.Errorf("Reports() = %+v, want only accepted", got)
	}
}

func TestReporterStopsWhenCancelled(t *testing.T) {
	gw, partner := newPair(t)
	g := newFakeGateway(t, gw, func(int, contracts.StatusUpdate) int { return http.StatusServiceUnavailable })
	sim, srv := newSim(t, partnersim.Config{Crypto: partner, GatewayURL: g.URL, Step: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	sim.Start(ctx)
	sim.Start(ctx) // a second Start does nothing
	post(t, srv.URL+"/cases", gw, mustJSON(t, caseDelivery(1))).ack(t, gw)
	post(t, srv.URL+"/cases", gw, mustJSON(t, caseDelivery(2))).ack(t, gw)
	g.collect(t, 2)
	cancel()
	waitDone(t, sim)
	if n := len(sim.Reports()); n != 0 {
		t.Errorf("%d reports accepted by a gateway that answers 503", n)
	}
}

func TestReporterOtherStates(t *testing.T) {
	gw, partner := newPair(t)
	g := newFakeGateway(t, gw, nil)
	sim, srv := newSim(t, partnersim.Config{
		Crypto: partner, GatewayURL: g.URL + "/", Step: time.Millisecond,
		Progress: []contracts.CaseState{contracts.CaseStateCorrectionRequired, contracts.CaseStateRejected},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim.Start(ctx)
	post(t, srv.URL+"/cases", gw, mustJSON(t, caseDelivery(1))).ack(t, gw)
	posts := g.collect(t, 2)
	if u := posts[0].update; u.State != contracts.CaseStateCorrectionRequired || u.Reason == "" || len(u.CorrectionItems) == 0 {
		t.Errorf("correction_required report %+v lacks reason or items", u)
	}
	if u := posts[1].update; u.State != contracts.CaseStateRejected || u.Reason == "" {
		t.Errorf("rejected report %+v lacks a reason", u)
	}
}

func TestHandlerCases(t *testing.T) {
	gw, partner := newPair(t)
	sim, srv := newSim(t, partnersim.Config{Crypto: partner})
	url := srv.URL + "/cases"

	d1 := caseDelivery(1)
	a1 := post(t, url, gw, mustJSON(t, d1))
	ack1 := a1.ack(t, gw)
	want := contracts.Ack{
		ExchangeID: d1.ExchangeID, DeliveryID: d1.DeliveryID, PartnerCaseNo: "330702-2026-000001",
		AcknowledgedAt: fixedNow, BodySM3: gw.SM3Hex(mustJSON(t, d1)), KeyID: partnerID,
	}
	if ack1 != want {
		t.Errorf("ack = %+v, want %+v", ack1, want)
	}
	if ct := a1.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}

	// The same exchange with the same bytes: the very same answer.
	a2 := post(t, url, gw, mustJSON(t, d1))
	if string(a2.body) != string(a1.body) || a2.header.Get("Gw-Signature") != a1.header.Get("Gw-Signature") {
		t.Errorf("repeat answered\n%s\n%s", a2.body, a1.body)
	}
	// The same exchange in a later attempt (new sent_at): same case number.
	later := d1
	later.SentAt = fixedNow.Add(time.Minute)
	if ack := post(t, url, gw, mustJSON(t, later)).ack(t, gw); ack.PartnerCaseNo != ack1.PartnerCaseNo || ack.BodySM3 == ack1.BodySM3 {
		t.Errorf("later attempt acknowledged as %+v", ack)
	}
	// A second case gets the next number.
	if ack := post(t, url, gw, mustJSON(t, caseDelivery(2))).ack(t, gw); ack.PartnerCaseNo != "330702-2026-000002" {
		t.Errorf("second case numbered %q", ack.PartnerCaseNo)
	}
	// Another sender's case reusing the first one's exchange_id is another
	// case: repeats are recognised by delivery_id, never by exchange_id,
	// which is unique per sender only.
	reused := caseDelivery(3)
	reused.ExchangeID, reused.Submission.ExchangeID, reused.SenderRegion = d1.ExchangeID, d1.ExchangeID, "310101"
	if ack := post(t, url, gw, mustJSON(t, reused)).ack(t, gw); ack.PartnerCaseNo != "330702-2026-000003" || ack.DeliveryID != reused.DeliveryID {
		t.Errorf("another sender's case with a reused exchange_id acknowledged as %+v, want its own number 330702-2026-000003", ack)
	}
	if got := sim.Cases(); len(got) != 3 || !reflect.DeepEqual(got[0], d1) {
		t.Errorf("Cases() = %d cases, want 3 starting with the first", len(got))
	}
	if n, ok := sim.CaseNo(d1.CaseID); !ok || n != ack1.PartnerCaseNo {
		t.Errorf("CaseNo = %q, %v", n, ok)
	}
	if n := sim.Attempts(); n != 5 {
		t.Errorf("Attempts() = %d, want 5", n)
	}
}

func TestHandlerStatus(t *testing.T) {
	gw, partner := newPair(t)
	sim, srv := newSim(t, partnersim.Config{Crypto: partner})
	d := contracts.StatusDelivery{
		DeliveryID: "dlv-9", CaseID: "case 9/甲", ExchangeID: "01959246-0000-7000-8000-000000000009", SentAt: fixedNow,
		Update: contracts.StatusUpdate{
			ExchangeID: "01959246-0000-7000-8000-000000000009", CaseID: "case 9/甲",
			State: contracts.CaseStateAccepted, ReportedAt: fixedNow, OwnerCaseNo: "371523-2026-000007",
		},
	}
	ack := post(t, srv.URL+"/cases/case%209%2F%E7%94%B2/status", gw, mustJSON(t, d)).ack(t, gw)
	if ack.ExchangeID != d.ExchangeID || ack.PartnerCaseNo != "" {
		t.Errorf("ack = %+v", ack)
	}
	if got := sim.StatusDeliveries(); len(got) != 1 || !reflect.DeepEqual(got[0], d) {
		t.Errorf("StatusDeliveries() = %+v", got)
	}
	if a := post(t, srv.URL+"/cases/other/status", gw, mustJSON(t, d)); a.status != 400 || a.code(t) != contracts.CodeValidationFailed {
		t.Errorf("path mismatch answered %d %s", a.status, a.body)
	}
}

func TestHandlerRejects(t *testing.T) {
	gw, partner := newPair(t)
	rogue := newTestCrypto(t, gw.KeyID())
	sim, srv := newSim(t, partnersim.Config{Crypto: partner})
	good := mustJSON(t, caseDelivery(1))

	tests := []struct {
		name   string
		send   func() answer
		status int
		code   contracts.Code
	}{
		{"bad gateway signature", func() answer { return post(t, srv.URL+"/cases", rogue, good) }, 401, contracts.CodeBadSignature},
		{"unknown gateway key", func() answer { return post(t, srv.URL+"/cases", newTestCrypto(t, "nobody"), good) }, 401, contracts.CodeBadSignature},
		{"no signature", func() answer {
			resp, err := http.Post(srv.URL+"/cases", "application/json", strings.NewReader(string(good)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b [512]byte
			n, _ := resp.Body.Read(b[:])
			return answer{status: resp.StatusCode, body: b[:n]}
		}, 401, contracts.CodeBadSignature},
		{"unknown field", func() answer {
			return post(t, srv.URL+"/cases", gw, append(good[:len(good)-1], `,"extra":true}`...))
		}, 400, contracts.CodeInvalidJSON},
		{"bad exchange id", func() answer {
			d := caseDelivery(1)
			d.ExchangeID = "not-a-uuid"
			return post(t, srv.URL+"/cases", gw, mustJSON(t, d))
		}, 400, contracts.CodeInvalidExchangeID},
		{"no case id", func() answer {
			d := caseDelivery(1)
			d.CaseID = ""
			return post(t, srv.URL+"/cases", gw, mustJSON(t, d))
		}, 400, contracts.CodeValidationFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.send()
			if a.status != tt.status || a.code(t) != tt.code {
				t.Errorf("answered %d %s, want %d %s", a.status, a.body, tt.status, tt.code)
			}
		})
	}
	if n := len(sim.Cases()); n != 0 {
		t.Errorf("stored %d rejected cases", n)
	}
}

func TestFaults(t *testing.T) {
	gw, partner := newPair(t)
	sim, srv := newSim(t, partnersim.Config{Crypto: partner, Faults: partnersim.Faults{FailFirst: 2}})
	url := srv.URL + "/cases"
	body := mustJSON(t, caseDelivery(1))

	for i := range 2 {
		if a := post(t, url, gw, body); a.status != 503 || a.code(t) != contracts.CodeUnavailable {
			t.Fatalf("try %d answered %d, want 503", i, a.status)
		}
	}
	first := post(t, url, gw, body)
	first.ack(t, gw)

	sim.SetFaults(partnersim.Faults{DropFirst: 1})
	if a := post(t, url, gw, body); a.status != 0 {
		t.Errorf("dropped try answered %d", a.status)
	}
	post(t, url, gw, body).ack(t, gw)

	sim.SetFaults(partnersim.Faults{BadSignature: true})
	bad := post(t, url, gw, body)
	if bad.status != 200 || string(bad.body) != string(first.body) {
		t.Fatalf("bad-signature answer %d %s", bad.status, bad.body)
	}
	sig, _ := base64.StdEncoding.DecodeString(bad.header.Get("Gw-Signature"))
	if gw.VerifyBody(partnerID, bad.header.Get("Gw-Key-Id"), bad.body, sig) == nil {
		t.Error("BadSignature answered with a signature that verifies")
	}

	sim.SetFaults(partnersim.Faults{})
	if again := post(t, url, gw, body); again.header.Get("Gw-Signature") != first.header.Get("Gw-Signature") {
		t.Error("after recovery the stored acknowledgement was not replayed")
	}
	if n := sim.Attempts(); n != 7 {
		t.Errorf("Attempts() = %d, want 7", n)
	}
	if n := len(sim.Cases()); n != 1 {
		t.Errorf("Cases() holds %d, want 1", n)
	}
}

func TestNew(t *testing.T) {
	_, partner := newPair(t)
	tests := []struct {
		name string
		cfg  partnersim.Config
	}{
		{"no partner id", partnersim.Config{Crypto: partner}},
		{"no crypto", partnersim.Config{PartnerID: partnerID}},
		{"relative gateway url", partnersim.Config{PartnerID: partnerID, Crypto: partner, GatewayURL: "127.0.0.1:8080"}},
		{"negative step", partnersim.Config{PartnerID: partnerID, Crypto: partner, Step: -1}},
		{"negative faults", partnersim.Config{PartnerID: partnerID, Crypto: partner, Faults: partnersim.Faults{FailFirst: -1}}},
		{"forwarded is the gateway's", partnersim.Config{PartnerID: partnerID, Crypto: partner, Progress: []contracts.CaseState{"forwarded"}}},
		{"unknown state", partnersim.Config{PartnerID: partnerID, Crypto: partner, Progress: []contracts.CaseState{"done"}}},
	}
	for _, tt := range tests {
		if _, err := partnersim.New(tt.cfg); err == nil {
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
	if _, err := partnersim.New(partnersim.Config{PartnerID: partnerID, Crypto: partner}); err != nil {
		t.Errorf("minimal config: %v", err)
	}
}

func TestAckIsJSONAck(t *testing.T) {
	// The acknowledgement decodes strictly as contracts.Ack: no extra fields.
	gw, partner := newPair(t)
	_, srv := newSim(t, partnersim.Config{Crypto: partner})
	a := post(t, srv.URL+"/cases", gw, mustJSON(t, caseDelivery(1)))
	dec := json.NewDecoder(strings.NewReader(string(a.body)))
	dec.DisallowUnknownFields()
	var ack contracts.Ack
	if err := dec.Decode(&ack); err != nil {
		t.Fatal(err)
	}
}
