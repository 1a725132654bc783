// Package adaptertest is the contract test suite every pushing adapter
// style runs against its partner simulator, the way every store runs
// gateway/store/storetest:
//
//	func TestContract(t *testing.T) {
//		adaptertest.Run(t, adaptertest.Setup{
//			Style:   "soap",
//			Config:  func(endpoint string) json.RawMessage { return soap.ExampleConfig(endpoint) },
//			Gateway: gw, Partner: partner, Rogue: rogue,
//		})
//	}
//
// The suite builds the adapter through the registry (adapters.New) and a
// simulated district of the same style (package partnersim, speaking the
// style's PartnerSide) and checks what every style promises: every field
// of every contract message survives the round trip through the partner's
// format (times to the second); signatures are placed on what the gateway
// sends and checked on what comes back; failures are classified (outages,
// timeouts and dropped connections retryable; bad signatures and malformed
// answers permanent); redelivery is idempotent (the partner keeps one case
// and answers with the same case number); and the partner's own calls
// (status callbacks) are signed over their exact bytes and read back by the
// adapter's Translator as the update the partner meant. For a style that
// passes usage records in batches, batches are signed once, every record
// survives, one signed acknowledgement covers them, a repeated record is
// stored once and a partial acknowledgement is returned as it is.
//
// A pulling style (mailbox) has no push path to test here: its contract is
// the gateway's mailbox API, tested against a real gateway in cmd/tongban.
package adaptertest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/contracts"
)

// PartnerID is the simulated district's id and region.
const PartnerID = "330702"

// Setup describes the style under test.
type Setup struct {
	// Style is the registered style name; its package must be imported.
	Style string
	// Config returns the style's config block for a partner whose system
	// listens at endpoint. The simulator gets the same block.
	Config func(endpoint string) json.RawMessage
	// Gateway is the gateway's key: it signs deliveries and must know the
	// partner's key under PartnerID.
	Gateway adapters.Crypto
	// Partner is the district's key: it signs answers and calls and must
	// know the gateway's key under partnersim.GatewayCaller.
	Partner adapters.Crypto
	// Rogue signs with another key under the gateway's key id.
	Rogue adapters.Crypto
}

// rig is one adapter against one simulator.
type rig struct {
	t       *testing.T
	s       Setup
	srv     *httptest.Server
	adapter adapters.Adapter

	mu  sync.Mutex
	sim *partnersim.Sim
	tap func(req *http.Request, body []byte) // sees every call first, when set
}

func newRig(t *testing.T, s Setup, crypto adapters.Crypto, timeout time.Duration) *rig {
	t.Helper()
	r := &rig{t: t, s: s}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		sim, tap := r.sim, r.tap
		r.mu.Unlock()
		if tap != nil {
			body, _ := io.ReadAll(req.Body)
			tap(req, body)
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		sim.Handler().ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	cfg := s.Config(r.srv.URL)
	sim, err := partnersim.New(partnersim.Config{
		PartnerID: PartnerID, Style: s.Style, StyleConfig: cfg, Crypto: s.Partner, Seed: 1,
		Now: func() time.Time { return t0 }, Logf: t.Logf,
	})
	if err != nil {
		t.Fatalf("partnersim.New(%s): %v", s.Style, err)
	}
	r.setSim(sim)
	r.adapter, err = adapters.New(s.Style, adapters.Params{PartnerID: PartnerID, Config: cfg, Crypto: crypto, Timeout: timeout})
	if err != nil {
		t.Fatalf("adapters.New(%s): %v", s.Style, err)
	}
	if c, ok := r.adapter.(io.Closer); ok {
		t.Cleanup(func() { c.Close() })
	}
	return r
}

func (r *rig) setSim(sim *partnersim.Sim) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sim = sim
}

func (r *rig) setTap(tap func(*http.Request, []byte)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tap = tap
}

func (r *rig) cases() adapters.CaseDeliverer {
	r.t.Helper()
	d, ok := adapters.CaseDelivererOf(r.adapter)
	if !ok {
		r.t.Fatalf("%s adapter cannot deliver cases as configured", r.s.Style)
	}
	return d
}

func (r *rig) statuses() adapters.StatusDeliverer {
	r.t.Helper()
	d, ok := adapters.StatusDelivererOf(r.adapter)
	if !ok {
		r.t.Fatalf("%s adapter cannot deliver status updates as configured", r.s.Style)
	}
	return d
}

// Run runs the suite.
func Run(t *testing.T, s Setup) {
	if s.Config == nil || s.Gateway == nil || s.Partner == nil || s.Rogue == nil {
		t.Fatal("adaptertest: Setup needs Config, Gateway, Partner and Rogue")
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s Setup)
	}{
		{"Capabilities", testCapabilities},
		{"RoundTrip/Case", testCaseRoundTrip},
		{"RoundTrip/Status", testStatusRoundTrip},
		{"RoundTrip/Usage", testUsageRoundTrip},
		{"RoundTrip/Lookup", testLookupRoundTrip},
		{"Signatures/GatewaySignsWhatItSends", testGatewaySigns},
		{"Signatures/PartnerRefusesForgery", testPartnerRefusesForgery},
		{"Signatures/BadAnswerSignatureIsPermanent", testBadAnswerSignature},
		{"Errors/MalformedAnswerIsPermanent", testMalformedAnswer},
		{"Errors/OutageIsRetryable", testOutage},
		{"Errors/DroppedConnectionIsRetryable", testDropped},
		{"Errors/TimeoutIsRetryable", testTimeout},
		{"Redelivery/Idempotent", testRedelivery},
		{"Callbacks/SignedAndRead", testCallbacks},
	}
	tests = append(tests, batchTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, s) })
	}
}

// testCapabilities: the adapter, as the style's example configures it,
// pushes cases and status updates and has no capability its style does
// not declare.
func testCapabilities(t *testing.T, s Setup) {
	r := newRig(t, s, s.Gateway, 0)
	var declared []adapters.Capability
	for _, st := range adapters.Styles() {
		if st.Name == s.Style {
			declared = st.Capabilities
		}
	}
	got := adapters.Capabilities(r.adapter)
	for _, c := range got {
		if !slices.Contains(declared, c) {
			t.Errorf("capability %s is not declared by the style (%v)", c, declared)
		}
	}
	for _, c := range []adapters.Capability{adapters.CapCaseDelivery, adapters.CapStatusDelivery} {
		if !slices.Contains(got, c) {
			t.Errorf("capabilities %v lack %s", got, c)
		}
	}
}

// checkAck checks an acknowledgement as the gateway keeps it: it names
// the delivery, and the partner's signature verifies over the exact
// bytes returned.
func checkAck(t *testing.T, s Setup, what string, ack *contracts.Ack, raw, sig []byte, exchangeID string) {
	t.Helper()
	if ack == nil || ack.ExchangeID != exchangeID || ack.KeyID != s.Partner.KeyID() || ack.AcknowledgedAt.IsZero() {
		t.Errorf("%s: acknowledgement %+v does not name exchange %s signed by %s", what, ack, exchangeID, s.Partner.KeyID())
	}
	if err := s.Gateway.VerifyBody(PartnerID, s.Partner.KeyID(), raw, sig); err != nil {
		t.Errorf("%s: the acknowledgement's bytes and signature kept as evidence do not verify: %v", what, err)
	}
}

func testCaseRoundTrip(t *testing.T, s Setup) {
	r := newRig(t, s, s.Gateway, 0)
	d := FullCase(1, s.Gateway.SM3Hex)
	ack, raw, sig, err := r.cases().DeliverCase(t.Context(), d)
	if err != nil {
		t.Fatalf("DeliverCase: %v", err)
	}
	checkAck(t, s, "case", ack, raw, sig, d.ExchangeID)
	if no, _ := r.sim.CaseNo(d.CaseID); ack.PartnerCaseNo != no || no == "" {
		t.Errorf("partner_case_no %q, the partner numbered the case %q", ack.PartnerCaseNo, no)
	}
	got := r.sim.Cases()
	if len(got) != 1 {
		t.Fatalf("the partner holds %d cases, want 1", len(got))
	}
	Same(t, "case delivery", &got[0], d)
}

func testStatusRoundTrip(t *testing.T, s Setup) {
	r := newRig(t, s, s.Gateway, 0)
	us := Updates(uuid(2001), s.Gateway.SM3Hex)
	for i, u := range us {
		d := StatusDelivery(i, u)
		ack, raw, sig, err := r.statuses().DeliverStatus(t.Context(), d)
		if err != nil {
			t.Fatalf("DeliverStatus(%s): %v", u.State, err)
		}
		checkAck(t, s, string(u.State), ack, raw, sig, d.ExchangeID)
		got := r.sim.StatusDeliveries()
		if len(got) != i+1 {
			t.Fatalf("the partner holds %d status deliveries, want %d", len(got), i+1)
		}
		Same(t, "status delivery "+string(u.State), &got[i], d)
	}
}

func testUsageRoundTrip(t *testing.T, s Setup) {
	r := newRig(t, s, s.Gateway, 0)
	ur, ok := adapters.UsageDelivererOf(r.adapter)
	if !ok {
		t.Logf("%s adapter takes no usage records as configured; nothing to check", s.Style)
		return
	}
	refused := FullUsage(2)
	refused.Record.Outcome, refused.Record.ErrorCode, refused.Record.SourceRegion = "", contracts.CodeInvalidLicenseID, ""
	for i, d := range []*contracts.UsageRecordDelivery{FullUsage(1), refused} {
		ack, raw, sig, err := ur.DeliverUsage(t.Context(), d)
		if err != nil {
			t.Fatalf("DeliverUsage: %v", err)
		}
		checkAck(t, s, "usage record", ack, raw, sig, d.ExchangeID)
		got := r.sim.UsageRecords()
		if len(got) != i+1 {
			t.Fatalf("the partner holds %d usage records, want %d", len(got), i+1)
		}
		Same(t, "usage record delivery", &got[i], d)
	}
}

func testLookupRoundTrip(t *testing.T, s Setup) {
	r := newRig(t, s, s.Gateway, 0)
	src, ok := adapters.LicenseSourceOf(r.adapter)
	if !ok {
		t.Logf("%s adapter looks no licenses up as configured; nothing to check", s.Style)
		return
	}
	lib := r.sim.Licenses()
	for i, role := range partnersim.DemoRoles {
		rec, ok := partnersim.FindDemo(lib, role)
		if !ok {
			t.Fatalf("demo library has no %s license", role)
		}
		q := &contracts.LicenseLookupRequest{ExchangeID: uuid(8000 + i), LicenseID: rec.LicenseID,
			RequesterRegion: "320404", Purpose: "核验营业执照", CaseID: uuid(2001)}
		if i%2 == 1 { // by holder
			q = &contracts.LicenseLookupRequest{ExchangeID: uuid(8000 + i), Holder: &contracts.Holder{HolderType: rec.Holder.HolderType, IDNumber: rec.Holder.IDNumber},
				LicenseTypeCode: rec.TypeCode, LicenseNumber: rec.Number, RequesterRegion: "320404", Purpose: "核验"}
		}
		resp, raw, sig, err := src.LookupLicense(t.Context(), q)
		if err != nil {
			t.Fatalf("LookupLicense(%s): %v", role, err)
		}
		if err := s.Gateway.VerifyBody(PartnerID, s.Partner.KeyID(), raw, sig); err != nil {
			t.Errorf("%s: the answer's bytes and signature do not verify: %v", role, err)
		}
		if !resp.Found || resp.License == nil {
			t.Fatalf("%s: not found", role)
		}
		if q.LicenseID != "" {
			Same(t, "license "+string(role), resp.License, &rec)
		}
	}
	q := &contracts.LicenseLookupRequest{ExchangeID: uuid(8999),
		LicenseID:       "1.2.156.3005.2.111000000000000000000.11110105000013948H.1101052019M000001.001.B",
		RequesterRegion: "320404", Purpose: "核验"}
	resp, _, _, err := src.LookupLicense(t.Context(), q)
	if err != nil {
		t.Fatalf("LookupLicense(unknown): %v", err)
	}
	if resp.Found || resp.License != nil || resp.ExchangeID != q.ExchangeID {
		t.Errorf("unknown license: %+v, want not found", resp)
	}
}

// testGatewaySigns: every call carries Gw-Signature and Gw-Key-Id, and the
// signature verifies over the exact body with the gateway's key.
func testGatewaySigns(t *testing.T, s Setup) {
	r := newRig(t, s, s.Gateway, 0)
	var (
		mu    sync.Mutex
		calls int
	)
	r.setTap(func(req *http.Request, body []byte) {
		sig, err := base64.StdEncoding.DecodeString(req.Header.Get(adapters.HeaderSignature))
		if err != nil || req.Header.Get(adapters.HeaderKeyID) != s.Gateway.KeyID() {
			t.Errorf("call to %s: Gw-Signature %q, Gw-Key-Id %q", req.URL.Path, req.Header.Get(adapters.HeaderSignature), req.Header.Get(adapters.HeaderKeyID))
		} else if err := s.Partner.VerifyBody(partnersim.GatewayCaller, s.Gateway.KeyID(), body, sig); err != nil {
			t.Errorf("call to %s: the gateway's signature does not verify over the exact body: %v", req.URL.Path, err)
		}
		mu.Lock()
		calls++
		mu.Unlock()
	})
	if _, _, _, err := r.cases().DeliverCase(t.Context(), FullCase(1, s.Gateway.SM3Hex)); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := r.statuses().DeliverStatus(t.Context(), StatusDelivery(0, Updates(uuid(2001), s.Gateway.SM3Hex)[0])); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 {
		t.Errorf("partner saw %d calls, want 2", calls)
	}
}

// testPartnerRefusesForgery: a delivery signed with another key under the
// gateway's key id is refused, permanently, and not stored.
func testPartnerRefusesForgery(t *testing.T, s Setup) {
	r := newRig(t, s, s.Rogue, 0)
	_, _, _, err := r.cases().DeliverCase(t.Context(), FullCase(1, s.Gateway.SM3Hex))
	if e := classified(t, err); e == nil || !e.Permanent() {
		t.Errorf("forged delivery: got %v, want a permanent refusal", err)
	}
	if n := len(r.sim.Cases()); n != 0 {
		t.Errorf("partner stored %d forged cases", n)
	}
}

func testBadAnswerSignature(t *testing.T, s Setup) {
	r := newRig(t, s, s.Gateway, 0)
	r.sim.SetFaults(partnersim.Faults{BadSignature: true})
	d := FullCase(1, s.Gateway.SM3Hex)
	_, _, _, err := r.cases().DeliverCase(t.Context(), d)
	if e := classified(t, err); e == nil || !e.Permanent() || !errors.Is(err, adapters.ErrBadSignature) {
		t.Errorf("badly signed acknowledgement: got %v, want a permanent ErrBadSignature", err)
	}
	r.sim.SetFaults(partnersim.Faults{})
	if _, _, _, err := r.cases().DeliverCase(t.Context(), d); err != nil {
		t.Errorf("after the partner recovered: %v", err)
	}
}

func testMalformedAnswer(t *testing.T, s Setup) {
	r := newRig(t, s, s.Gateway, 0)
	r.sim.SetFaults(partnersim.Faults{Malformed: true})
	_, _, _, err := r.cases().DeliverCase(t.Context(), FullCase(1, s.Gateway.SM3Hex))
	if e := classified(t, err); e == nil || !e.Permanent() || !errors.Is(err, adapters.ErrMalformedAck) {
		t.Errorf("malformed acknowledgement: got %v, want a permanent ErrMalformedAck", err)
	}
}

func testOutage(t *testing.T, s Setup) {
	r := newRig(t, s, s.Gateway, 0)
	r.sim.SetFaults(partnersim.Faults{FailFirst: 1000})
	_, _, _, err := r.cases().DeliverCase(t.Context(), FullCase(1, s.Gateway.SM3Hex))
	if e := classified(t, err); e == nil || e.Permanent() || e.Status == 0 {
		t.Errorf("partner refusing as unavailable: got %v, want a retryable error with the partner's status", err)
	}
	r.sim.SetFaults(partnersim.Faults{FailFirst: 1})
	if _, _, _, err := r.cases().DeliverCase(t.Context(), FullCase(1, s.Gateway.SM3Hex)); err != nil {
		t.Errorf("one refusal, ridden out inside the attempt: %v", err)
	}
}

func testDropped(t *testing.T, s Setup) {
	r := newRig(t, s, s.Gateway, 0)
	r.sim.SetFaults(partnersim.Faults{DropFirst: 1000})
	_, _, _, err := r.cases().DeliverCase(t.Context(), FullCase(1, s.Gateway.SM3Hex))
	if e := classified(t, err); e == nil || e.Permanent() {
		t.Errorf("dropped connections: got %v, want a retryable error", err)
	}
}

func testTimeout(t *testing.T, s Setup) {
	r := newRig(t, s, s.Gateway, 300*time.Millisecond)
	r.sim.SetFaults(partnersim.Faults{Hang: true})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, _, _, err := r.cases().DeliverCase(ctx, FullCase(1, s.Gateway.SM3Hex))
	if e := classified(t, err); e == nil || e.Permanent() {
		t.Errorf("partner that never answers: got %v, want a retryable error", err)
	}
}

// testRedelivery: the same delivery again, and a later attempt of it (new
// sent_at), give the same case number; the partner keeps one case.
func testRedelivery(t *testing.T, s Setup) {
	r := newRig(t, s, s.Gateway, 0)
	d := FullCase(1, s.Gateway.SM3Hex)
	first, _, _, err := r.cases().DeliverCase(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	again, _, _, err := r.cases().DeliverCase(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	later := *d
	later.SentAt = d.SentAt.Add(time.Hour)
	third, _, _, err := r.cases().DeliverCase(t.Context(), &later)
	if err != nil {
		t.Fatal(err)
	}
	if again.PartnerCaseNo != first.PartnerCaseNo || third.PartnerCaseNo != first.PartnerCaseNo {
		t.Errorf("case numbers %q, %q, %q: want one", first.PartnerCaseNo, again.PartnerCaseNo, third.PartnerCaseNo)
	}
	if n := len(r.sim.Cases()); n != 1 {
		t.Errorf("the partner holds %d cases after redelivery, want 1", n)
	}
}

// testCallbacks: the partner's status reports reach a gateway stand-in
// signed over their exact bytes with the partner's key, and the adapter's
// Translator reads each as the update the partner reported; the receipt
// it renders reads back on the partner's side.
func testCallbacks(t *testing.T, s Setup) {
	r := newRig(t, s, s.Gateway, 0)
	tr, ok := adapters.TranslatorOf(r.adapter)
	if !ok {
		t.Logf("%s adapter reads no calls in the partner's format; the partner uses the standard contract", s.Style)
		return
	}
	var (
		mu      sync.Mutex
		decoded []contracts.StatusUpdate
	)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		sig, _ := base64.StdEncoding.DecodeString(req.Header.Get(adapters.HeaderSignature))
		if err := s.Gateway.VerifyBody(PartnerID, req.Header.Get(adapters.HeaderKeyID), body, sig); err != nil {
			t.Errorf("callback to %s: the partner's signature does not verify: %v", req.URL.Path, err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		tampered := append(bytes.Clone(body), ' ')
		if s.Gateway.VerifyBody(PartnerID, req.Header.Get(adapters.HeaderKeyID), tampered, sig) == nil {
			t.Error("the callback's signature verifies over other bytes")
		}
		mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
		op := ""
		if p := "/v1/inbound/" + PartnerID + "/"; len(req.URL.Path) > len(p) && req.URL.Path[:len(p)] == p {
			op = req.URL.Path[len(p):]
		} else if req.URL.Path != "/v1/inbound/"+PartnerID {
			t.Errorf("callback to %s, want /v1/inbound/%s[/operation]", req.URL.Path, PartnerID)
		}
		call, err := tr.DecodeCall(&contracts.NativeCall{Operation: op, MediaType: mt,
			Action: trimQuotes(req.Header.Get("SOAPAction")), Body: body})
		if err != nil || call.Kind != contracts.InboundStatus || call.Update == nil {
			t.Errorf("DecodeCall: %+v, %v", call, err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		decoded = append(decoded, *call.Update)
		mu.Unlock()
		rb, rmt, err := tr.EncodeReceipt(call, &contracts.Receipt{ExchangeID: call.Update.ExchangeID, CaseID: call.Update.CaseID,
			ReceivedAt: t0, BodySM3: s.Gateway.SM3Hex(body), State: call.Update.State})
		if err != nil {
			t.Errorf("EncodeReceipt: %v", err)
		}
		rs, _ := s.Gateway.Sign(rb)
		w.Header().Set("Content-Type", rmt)
		w.Header().Set(adapters.HeaderSignature, base64.StdEncoding.EncodeToString(rs))
		w.Header().Set(adapters.HeaderKeyID, s.Gateway.KeyID())
		w.WriteHeader(http.StatusAccepted)
		w.Write(rb)
	}))
	defer gw.Close()

	sim, err := partnersim.New(partnersim.Config{
		PartnerID: PartnerID, Style: s.Style, StyleConfig: s.Config("http://partner.invalid"), Crypto: s.Partner,
		GatewayURL: gw.URL, Step: time.Millisecond, Logf: t.Logf, Now: func() time.Time { return t0 },
		Progress: []contracts.CaseState{contracts.CaseStateCorrectionRequired},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.setSim(sim) // the rig's server now serves this one
	ctx, cancel := context.WithCancel(t.Context())
	defer func() { cancel(); <-sim.Done() }()
	sim.Start(ctx)
	d := FullCase(1, s.Gateway.SM3Hex)
	if _, _, _, err := r.cases().DeliverCase(ctx, d); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(sim.Reports()) < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	reports := sim.Reports()
	mu.Lock()
	defer mu.Unlock()
	if len(reports) != 1 || len(decoded) != 1 {
		t.Fatalf("partner reported %d updates, the gateway stand-in read %d; want 1 each", len(reports), len(decoded))
	}
	Same(t, "status callback", &decoded[0], &reports[0])

	side, err := partnersim.StyleSide(s.Style, PartnerID, s.Config("http://partner.invalid"))
	if err != nil {
		t.Fatal(err)
	}
	u := Updates(d.CaseID, s.Gateway.SM3Hex)[4]
	c, err := side.Call(&contracts.InboundCall{Kind: contracts.InboundStatus, Update: &u})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tr.DecodeCall(&contracts.NativeCall{Operation: operationOf(c.Path), MediaType: mediaOf(c.MediaType), Action: c.Action, Body: c.Body})
	if err != nil {
		t.Fatalf("DecodeCall of a concluded update with documents: %v", err)
	}
	Same(t, "concluded update", got.Update, &u)
}

func trimQuotes(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// operationOf returns the operation segment of an inbound path.
func operationOf(path string) string {
	p := "/v1/inbound/" + PartnerID + "/"
	if len(path) > len(p) && path[:len(p)] == p {
		return path[len(p):]
	}
	return ""
}

func mediaOf(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ct
	}
	return mt
}

// classified returns err as an *adapters.Error, failing t when it is not
// one.
func classified(t *testing.T, err error) *adapters.Error {
	t.Helper()
	if err == nil {
		t.Error("got no error")
		return nil
	}
	var e *adapters.Error
	if !errors.As(err, &e) {
		t.Errorf("error %v is not an *adapters.Error", err)
		return nil
	}
	return e
}

// Same fails t unless got and want, contract values, are equal once
// normalised: times as instants, JSON values by meaning. Style tests use it
// for their own round trips.
func Same(t testing.TB, what string, got, want any) {
	t.Helper()
	g, w := normalize(got), normalize(want)
	if !reflect.DeepEqual(g, w) {
		gb, _ := json.MarshalIndent(g, "", " ")
		wb, _ := json.MarshalIndent(w, "", " ")
		t.Errorf("%s did not survive the round trip:\ngot  %s\nwant %s", what, gb, wb)
	}
}

// normalize returns v as generic JSON with every time in UTC, so that
// equal instants and equal JSON values compare equal.
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	var out any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return err.Error()
	}
	return utcTimes(out)
}

// utcTimes rewrites every RFC 3339 date-time string in x in UTC.
func utcTimes(x any) any {
	switch v := x.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = utcTimes(e)
		}
	case []any:
		for i, e := range v {
			v[i] = utcTimes(e)
		}
	case string:
		if tm, err := time.Parse(time.RFC3339Nano, v); err == nil && len(v) >= 20 {
			return tm.UTC().Format(time.RFC3339Nano)
		}
	}
	return x
}
