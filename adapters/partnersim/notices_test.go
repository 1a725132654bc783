package partnersim_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters/adaptertest"
	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/contracts"
)

// call is one call the admin gateway stand-in received, its signature
// checked.
type call struct {
	path string
	body []byte
	err  error // what was wrong with its signature, if anything
}

// adminGateway is a gateway stand-in for the calls of a case's
// administration: it checks each call's signature with the partner's key,
// records it, and answers what respond says: 202 with a receipt signed by
// the gateway (naming the parts of a bundle), or the status with a
// contract error.
type adminGateway struct {
	*httptest.Server
	mu      sync.Mutex
	calls   []call
	arrived chan struct{}
}

func newAdminGateway(t testing.TB, gw *testCrypto, respond func(n int, path string) int) *adminGateway {
	t.Helper()
	g := &adminGateway{arrived: make(chan struct{}, 64)}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c := call{path: r.URL.EscapedPath(), body: body}
		sig, err := base64.StdEncoding.DecodeString(r.Header.Get("Gw-Signature"))
		if err == nil {
			err = gw.VerifyBody(partnerID, r.Header.Get("Gw-Key-Id"), body, sig)
		}
		c.err = err
		g.mu.Lock()
		g.calls = append(g.calls, c)
		n := len(g.calls)
		g.mu.Unlock()
		status := http.StatusAccepted
		if respond != nil {
			status = respond(n, c.path)
		}
		w.Header().Set("Content-Type", "application/json")
		if status != http.StatusAccepted {
			w.WriteHeader(status)
			_, _ = w.Write(mustJSON(t, contracts.Error{Code: contracts.CodeInvalidTransition, Message: "not now"}))
		} else {
			var env struct {
				ExchangeID string `json:"exchange_id"`
				CaseID     string `json:"case_id"`
			}
			_ = json.Unmarshal(body, &env)
			rc := contracts.Receipt{ExchangeID: env.ExchangeID, CaseID: env.CaseID, ReceivedAt: fixedNow, BodySM3: gw.SM3Hex(body),
				State: contracts.CaseStateConcluded}
			if strings.HasSuffix(c.path, "/bundles") {
				rc.CaseID, rc.State = "bundle-1", contracts.CaseStateReceived
				rc.Parts = []contracts.ReceiptPart{{Part: "licence", CaseID: "c-1", State: contracts.CaseStateReceived},
					{Part: "permit", CaseID: "c-2", State: contracts.CaseStateWaiting}}
			}
			raw := mustJSON(t, rc)
			rs, _ := gw.Sign(raw)
			w.Header().Set("Gw-Signature", base64.StdEncoding.EncodeToString(rs))
			w.Header().Set("Gw-Key-Id", gw.KeyID())
			w.WriteHeader(status)
			_, _ = w.Write(raw)
		}
		select {
		case g.arrived <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *adminGateway) received() []call {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]call(nil), g.calls...)
}

// wait waits until the stand-in received n calls.
func (g *adminGateway) wait(t testing.TB, n int) []call {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for len(g.received()) < n {
		select {
		case <-g.arrived:
		case <-deadline:
			t.Fatalf("the gateway received %d calls, want %d", len(g.received()), n)
		}
	}
	return g.received()
}

// TestHandlerNotices: every notice type posted to /notices is
// acknowledged, signed, naming its delivery, exchange and the SM3 of the
// exact bytes, and kept once; a repeat of a delivery (another attempt,
// new sent_at) is acknowledged again with the first time and not kept
// twice; each new notice is logged.
func TestHandlerNotices(t *testing.T) {
	gw, partner := newPair(t)
	logs := newLogSink(t)
	sim, srv := newSim(t, partnersim.Config{Crypto: partner, Logf: logs.logf})
	ns := adaptertest.Notices(0, "case-1")
	for _, d := range ns {
		body := mustJSON(t, d)
		ack := post(t, srv.URL+"/notices", gw, body).ack(t, gw)
		want := contracts.Ack{ExchangeID: d.ExchangeID, DeliveryID: d.DeliveryID, AcknowledgedAt: fixedNow, BodySM3: gw.SM3Hex(body), KeyID: partnerID}
		if ack != want {
			t.Errorf("%s: ack = %+v, want %+v", d.Notice.Type, ack, want)
		}
		logs.waitFor(t, "notice "+string(d.Notice.Type)+" of case case-1 received")
	}
	again := *ns[0]
	again.SentAt = again.SentAt.Add(time.Hour)
	body := mustJSON(t, &again)
	if ack := post(t, srv.URL+"/notices", gw, body).ack(t, gw); ack.DeliveryID != again.DeliveryID || ack.BodySM3 != gw.SM3Hex(body) {
		t.Errorf("repeat acknowledged as %+v", ack)
	}
	got := sim.Notices()
	if len(got) != len(ns) {
		t.Fatalf("Notices() = %d, want %d (a repeat kept once)", len(got), len(ns))
	}
	for i, d := range ns {
		adaptertest.Same(t, "notice "+string(d.Notice.Type), &got[i], d)
	}
}

// TestHandlerRejectsNotices: a notice without its ids, of no known type
// or about another case is refused, and none is kept.
func TestHandlerRejectsNotices(t *testing.T) {
	gw, partner := newPair(t)
	sim, srv := newSim(t, partnersim.Config{Crypto: partner})
	tests := []struct {
		name   string
		change func(d *contracts.NoticeDelivery)
		code   contracts.Code
	}{
		{"bad exchange id", func(d *contracts.NoticeDelivery) { d.ExchangeID = "x" }, contracts.CodeInvalidExchangeID},
		{"no delivery id", func(d *contracts.NoticeDelivery) { d.DeliveryID = "" }, contracts.CodeValidationFailed},
		{"unknown type", func(d *contracts.NoticeDelivery) { d.Notice.Type = "gossip" }, contracts.CodeValidationFailed},
		{"another case", func(d *contracts.NoticeDelivery) { d.Notice.CaseID = "case-2" }, contracts.CodeValidationFailed},
	}
	for _, tt := range tests {
		d := *adaptertest.Notices(0, "case-1")[0]
		tt.change(&d)
		if a := post(t, srv.URL+"/notices", gw, mustJSON(t, &d)); a.status != http.StatusBadRequest || a.code(t) != tt.code {
			t.Errorf("%s: answered %d %s, want 400 %s", tt.name, a.status, a.body, tt.code)
		}
	}
	if n := len(sim.Notices()); n != 0 {
		t.Errorf("kept %d refused notices", n)
	}
}

// negative returns the negative evaluation notice of case caseID,
// numbered n, its evaluation naming owner.
func negative(n int, caseID, owner string) *contracts.NoticeDelivery {
	d := adaptertest.Notices(n, caseID)[2]
	d.Notice.Evaluation.Owner = owner
	return d
}

// TestAutoReply: with AutoReply, a negative evaluation of a case the
// simulator owns (it received the case, or the evaluation names it the
// owner) is answered once, after ReplyDelay, by a follow-up reply signed
// over its exact bytes and posted to the case's reply path; a later
// overdue notice of the same case gets no second reply. Positive
// evaluations, other notices and cases of other owners get none.
func TestAutoReply(t *testing.T) {
	gw, partner := newPair(t)
	g := newAdminGateway(t, gw, nil)
	logs := newLogSink(t)
	sim, srv := newSim(t, partnersim.Config{Crypto: partner, GatewayURL: g.URL, NoReports: true, AutoReply: true,
		ReplyDelay: 20 * time.Millisecond, ReplyMeasures: "约谈并整改", Logf: logs.logf})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); waitDone(t, sim) }()
	sim.Start(ctx)

	owned := caseDelivery(1)
	post(t, srv.URL+"/cases", gw, mustJSON(t, owned)).ack(t, gw)
	positive := negative(1, "case-7", partnerID)
	positive.Notice.Evaluation.Level, positive.Notice.Evaluation.Score, positive.Notice.FollowUp = contracts.LevelSatisfied, 4, nil
	answered := negative(2, "case-8", partnerID)
	answered.Notice.Type, answered.Notice.FollowUp.State = contracts.NoticeFollowUpReply, contracts.FollowUpAnswered
	for _, d := range []*contracts.NoticeDelivery{
		adaptertest.Notices(3, owned.CaseID)[0], // a deadline warning
		positive,
		answered,
		negative(4, "case-9", "320404"),     // another owner's case
		negative(5, owned.CaseID, "330100"), // owned: the simulator holds the case
		negative(6, "case-10", partnerID),   // owned: the evaluation names it
	} {
		post(t, srv.URL+"/notices", gw, mustJSON(t, d)).ack(t, gw)
	}
	overdue := adaptertest.Notices(7, owned.CaseID)[4]
	post(t, srv.URL+"/notices", gw, mustJSON(t, overdue)).ack(t, gw)

	g.wait(t, 2)
	logs.waitFor(t, "replied to its negative evaluation")
	logs.waitFor(t, "replied to its negative evaluation")
	time.Sleep(100 * time.Millisecond) // room for a wrong third reply
	calls := g.received()
	if len(calls) != 2 {
		t.Fatalf("the gateway received %d calls, want the 2 replies", len(calls))
	}
	paths := map[string]contracts.EvaluationReply{}
	for _, c := range calls {
		if c.err != nil {
			t.Errorf("%s: signature: %v", c.path, c.err)
		}
		var r contracts.EvaluationReply
		dec := json.NewDecoder(bytes.NewReader(c.body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("%s: body is no follow-up reply: %v", c.path, err)
		}
		if r.Measures != "约谈并整改" || r.Result == "" || !r.ContactedApplicant || !r.RepliedAt.Equal(fixedNow) ||
			contracts.ValidateUUID(r.ExchangeID) != nil {
			t.Errorf("%s: reply %+v", c.path, r)
		}
		paths[c.path] = r
	}
	for _, id := range []string{owned.CaseID, "case-10"} {
		if r, ok := paths["/v1/cases/"+id+"/evaluation/reply"]; !ok || r.CaseID != id {
			t.Errorf("no reply to case %s's evaluation at its path (got %v)", id, paths)
		}
	}
	if got := sim.Replies(); len(got) != 2 {
		t.Errorf("Replies() = %d, want 2", len(got))
	}
}

// TestNoAutoReplyByDefault: without AutoReply, a negative evaluation is
// acknowledged and kept, and nothing is sent.
func TestNoAutoReplyByDefault(t *testing.T) {
	gw, partner := newPair(t)
	g := newAdminGateway(t, gw, nil)
	sim, srv := newSim(t, partnersim.Config{Crypto: partner, GatewayURL: g.URL, NoReports: true, ReplyDelay: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); waitDone(t, sim) }()
	sim.Start(ctx)
	post(t, srv.URL+"/notices", gw, mustJSON(t, negative(1, "case-1", partnerID))).ack(t, gw)
	time.Sleep(100 * time.Millisecond)
	if n := len(g.received()); n != 0 || len(sim.Replies()) != 0 {
		t.Errorf("the simulator sent %d calls without AutoReply", n)
	}
	if n := len(sim.Notices()); n != 1 {
		t.Errorf("Notices() = %d, want 1", n)
	}
}

// TestReplyToEvaluation: on demand, the reply goes out signed and the
// gateway's signed receipt comes back; a 503 is ridden out; a refusal is
// a *GatewayRefusal carrying the gateway's code, listed in no Replies.
func TestReplyToEvaluation(t *testing.T) {
	gw, partner := newPair(t)
	g := newAdminGateway(t, gw, func(n int, path string) int {
		switch {
		case n == 1:
			return http.StatusServiceUnavailable
		case strings.Contains(path, "case-2"):
			return http.StatusConflict
		}
		return http.StatusAccepted
	})
	sim, _ := newSim(t, partnersim.Config{Crypto: partner, GatewayURL: g.URL})
	rc, err := sim.ReplyToEvaluation(context.Background(), "case-1", "")
	if err != nil {
		t.Fatal(err)
	}
	calls := g.received()
	if len(calls) != 2 || calls[1].err != nil || calls[1].path != "/v1/cases/case-1/evaluation/reply" {
		t.Fatalf("calls %+v, want a refused try and a signed retry at the reply path", calls)
	}
	var r contracts.EvaluationReply
	if err := json.Unmarshal(calls[1].body, &r); err != nil || r.Measures != partnersim.DefaultMeasures {
		t.Errorf("reply %+v (%v), want the default measures", r, err)
	}
	if rc.ExchangeID != r.ExchangeID || rc.BodySM3 != gw.SM3Hex(calls[1].body) {
		t.Errorf("receipt %+v is not the one for the reply sent", rc)
	}
	_, err = sim.ReplyToEvaluation(context.Background(), "case-2", "措施")
	var ref *partnersim.GatewayRefusal
	if !errors.As(err, &ref) || ref.Status != http.StatusConflict || ref.Code != contracts.CodeInvalidTransition {
		t.Errorf("refused reply: got %v, want a 409 GatewayRefusal", err)
	}
	if got := sim.Replies(); len(got) != 1 || got[0].CaseID != "case-1" {
		t.Errorf("Replies() = %+v, want the taken one", got)
	}
}

// TestCallEvaluationAndBundle: Call sends an evaluation and a bundle at
// their paths, signed over their exact bytes, and returns the receipt
// read, a bundle's with its parts; a receipt that is not signed by the
// gateway is an error; without a gateway url nothing is sent.
func TestCallEvaluationAndBundle(t *testing.T) {
	gw, partner := newPair(t)
	g := newAdminGateway(t, gw, nil)
	sim, _ := newSim(t, partnersim.Config{Crypto: partner, GatewayURL: g.URL})
	sm3 := gw.SM3Hex
	rc, err := sim.Call(context.Background(), &contracts.InboundCall{Kind: contracts.InboundEvaluation, Evaluation: adaptertest.FullEvaluation("case-1")})
	if err != nil || rc.CaseID != "case-1" {
		t.Fatalf("evaluation: %+v, %v", rc, err)
	}
	rc, err = sim.Call(context.Background(), &contracts.InboundCall{Kind: contracts.InboundBundle, Bundle: adaptertest.FullBundle(sm3)})
	if err != nil || len(rc.Parts) != 2 || rc.Parts[1].State != contracts.CaseStateWaiting {
		t.Fatalf("bundle: %+v, %v", rc, err)
	}
	calls := g.received()
	if len(calls) != 2 || calls[0].path != "/v1/cases/case-1/evaluation" || calls[1].path != "/v1/bundles" {
		t.Fatalf("calls at %+v", calls)
	}
	for _, c := range calls {
		if c.err != nil {
			t.Errorf("%s: %v", c.path, c.err)
		}
	}

	// A gateway whose receipts the partner cannot verify.
	other := newTestCrypto(t, gw.KeyID())
	other.Trust(partnerID, partner)
	forged := newAdminGateway(t, other, nil)
	sim2, _ := newSim(t, partnersim.Config{Crypto: partner, GatewayURL: forged.URL})
	if _, err := sim2.Call(context.Background(), &contracts.InboundCall{Kind: contracts.InboundEvaluation, Evaluation: adaptertest.FullEvaluation("case-1")}); err == nil ||
		!strings.Contains(err.Error(), "signature does not verify") {
		t.Errorf("receipt signed with another key: got %v", err)
	}
	offline, _ := newSim(t, partnersim.Config{Crypto: partner})
	if _, err := offline.Call(context.Background(), &contracts.InboundCall{Kind: contracts.InboundEvaluation, Evaluation: adaptertest.FullEvaluation("case-1")}); err == nil {
		t.Error("a simulator without a gateway url made a call")
	}
}
