package gateway_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/partnersim"
	_ "github.com/tongban/tongban/adapters/standard" // registers "standard"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/gateway/node"
	"github.com/tongban/tongban/gateway/outbox"
	"github.com/tongban/tongban/gateway/port"
	"github.com/tongban/tongban/gateway/store/sqlite"
	"github.com/tongban/tongban/signing"
)

// ---- test harness shared by service_test.go and dispatcher_test.go ----

// fakeClock is a hand-written, mutex-protected clock the tests move forward
// themselves, so retry schedules are tested without sleeping.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

// Now returns the clock's current time.
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// AdvanceTo moves the clock forward to t; it never moves it back.
func (c *fakeClock) AdvanceTo(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

var _ gateway.Clock = (*fakeClock)(nil)

// The demo districts the tests use.
const (
	zhonglou  = "320404" // receiving district A (the sender)
	wucheng   = "330702" // owning district B
	chiping   = "371523" // a partner with no business with the test cases
	jinshan   = "310116" // a partner that pulls from its mailbox
	operator  = "ops"
	window    = "window-320404"
	auditor   = "auditor"
	gatewayID = "tongban-test"
	gwKeyID   = "gateway-2026"
)

// libraryTimeout bounds a license lookup in the harness.
const libraryTimeout = 500 * time.Millisecond

// t0 is the harness's start time.
var t0 = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

// district is one simulated partner district: its own SM2 key (a keyring
// that signs as the district and knows the gateway's key), its simulator
// served on loopback, and its entry in the gateway's directory.
type district struct {
	id     string
	key    *signing.PrivateKey
	crypto *keyring.Keyring
	sim    *partnersim.Sim
	srv    *httptest.Server
}

// env is a gateway wired from real pieces: a temp-file SQLite store, a
// keyring with real SM2 keys, partnersim districts behind the standard
// adapter (max_retries 0, so one attempt is one HTTP request), and a fake
// clock.
type env struct {
	t         *testing.T
	ctx       context.Context
	clock     *fakeClock
	store     *sqlite.Store
	storePath string
	gw        *keyring.Keyring
	gwPub     *signing.PublicKey
	dir       *gateway.Directory
	core      *node.Core
	disp      *outbox.Dispatcher
	districts map[string]*district
}

// newEnv builds the harness. Every delivering partner gets retry policy
// retry (zero fields take the defaults).
func newEnv(t *testing.T, retry gateway.RetryPolicy) *env {
	t.Helper()
	ctx := context.Background()
	clock := newFakeClock(t0)
	e := &env{t: t, ctx: ctx, clock: clock, districts: map[string]*district{}}

	e.storePath = filepath.Join(t.TempDir(), "tongban.db")
	st, err := sqlite.Open(ctx, sqlite.Options{Path: e.storePath, Synchronous: "NORMAL", Linker: evidence.Linker{SM3: signing.EvidenceHash}})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	e.store = st

	gwKey := genKey(t)
	e.gwPub = gwKey.Public()
	e.gw, err = keyring.New(keyring.Options{
		GatewayID: gatewayID, Signer: signing.NewSigner(gwKey, nil), SignerKeyID: gwKeyID, Clock: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}

	var partners []*gateway.Partner
	for _, id := range []string{zhonglou, wucheng, chiping} {
		d := e.newDistrict(id)
		a, err := adapters.New("standard", adapters.Params{
			PartnerID: id,
			Config:    json.RawMessage(`{"endpoint": "` + d.srv.URL + `", "max_retries": 0}`),
			Crypto:    e.gw,
			Timeout:   5 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		// Each district's simulator is also its region's license library,
		// reached through the same standard adapter.
		lib := &gateway.Library{Regions: []string{id}, Timeout: libraryTimeout, Source: a.(port.LicenseSource), Usage: a.(port.UsageDeliverer)}
		partners = append(partners, &gateway.Partner{
			ID: id, Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{id},
			Cases: a.(port.CaseDeliverer), Statuses: a.(port.StatusDeliverer), Notices: a.(port.NoticeDeliverer), Retry: retry, Timeout: 5 * time.Second, Library: lib,
		})
	}
	e.newDistrict(jinshan) // its key; its simulator's handler is never called
	partners = append(partners,
		&gateway.Partner{ID: jinshan, Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{jinshan},
			Mailbox: &gateway.MailboxPolicy{Visibility: time.Minute}, Retry: retry},
		&gateway.Partner{ID: operator, Roles: []contracts.Role{contracts.RoleOperator}},
		&gateway.Partner{ID: auditor, Roles: []contracts.Role{contracts.RoleAuditor}},
		&gateway.Partner{ID: window, Roles: []contracts.Role{contracts.RoleWindow}, Regions: []string{zhonglou}},
	)
	e.dir, err = gateway.NewDirectory(partners)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetPullPartners(ctx, e.dir.PullPartners()); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	e.core, err = node.New(node.Options{Store: st, Crypto: e.gw, Directory: e.dir, Clock: clock, Log: log, GatewayID: gatewayID,
		Dispatcher: outbox.DispatcherOptions{Seed: 7}})
	if err != nil {
		t.Fatal(err)
	}
	e.disp = e.core.Outbox.Dispatcher()
	return e
}

// withCore returns another core over e's store, directory and clock, with
// the settings o gives (Crypto, Rand, MaxVerifyRange) in place of e's.
func (e *env) withCore(t *testing.T, o node.Options) *node.Core {
	t.Helper()
	o.Store, o.Directory, o.Clock, o.GatewayID = e.store, e.dir, e.clock, gatewayID
	if o.Crypto == nil {
		o.Crypto = e.gw
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	c, err := node.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newDistrict makes a district's key, registers it with the gateway,
// and serves its simulator (reports off: the tests report themselves).
func (e *env) newDistrict(id string) *district {
	t := e.t
	key := genKey(t)
	kr, err := keyring.New(keyring.Options{GatewayID: id, Signer: signing.NewSigner(key, nil), SignerKeyID: id, Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := kr.AddKey(partnersim.GatewayCaller, gwKeyID, e.gwPub); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.AddKey(id, id, key.Public()); err != nil {
		t.Fatal(err)
	}
	sim, err := partnersim.New(partnersim.Config{PartnerID: id, Crypto: kr, Now: e.clock.Now, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	d := &district{id: id, key: key, crypto: kr, sim: sim, srv: srv}
	e.districts[id] = d
	return d
}

func genKey(t *testing.T) *signing.PrivateKey {
	t.Helper()
	k, err := signing.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// principal returns the authenticated caller id.
func (e *env) principal(id string) gateway.Principal {
	p := e.dir.Get(id)
	if p == nil {
		e.t.Fatalf("no partner %s", id)
	}
	return gateway.Principal{Partner: p, Subject: "clerk-1", TokenID: "jti-1", KeyID: id}
}

// signed returns body as caller sends it, signed with caller's key.
func (e *env) signed(caller string, body []byte) gateway.Inbound {
	e.t.Helper()
	sig, err := e.districts[caller].crypto.Sign(body)
	if err != nil {
		e.t.Fatal(err)
	}
	return gateway.Inbound{Caller: e.principal(caller), Body: body, Signature: sig, KeyID: caller, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *env) newExchangeID() string {
	e.t.Helper()
	id, err := contracts.NewUUIDv7(e.clock.Now(), rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func sm3Hex(b []byte) string { return hex.EncodeToString(signing.Default.SM3(b)) }

var idCardPDF = []byte("%PDF-1.4\n% 居民身份证 scan\n%%EOF\n")

// submission returns a valid case from Zhonglou to Wucheng.
func (e *env) submission() contracts.CaseSubmission {
	now := e.clock.Now()
	return contracts.CaseSubmission{
		ExchangeID: e.newExchangeID(), FromRegion: zhonglou, ToRegion: wucheng, SubmittedAt: now,
		ServiceItem: contracts.ServiceItem{BasicCode: "000155014000", ImplementationCode: "1133", Name: "个体工商户设立登记"},
		Applicant:   contracts.Party{HolderType: "111", IDNumber: "11010519491231002X", Name: "王秀英"},
		Window:      contracts.Window{WindowID: window, OperatorID: "zl-0231", Region: zhonglou},
		ReceivedAt:  now,
		LocalCaseNo: "ZL-2026-000123",
		Form:        json.RawMessage(`{"shop_name":"王记小吃"}`),
		Materials: []contracts.Material{{
			MaterialID: "m-001", Name: "居民身份证", MediaType: "application/pdf",
			Size: int64(len(idCardPDF)), SM3: sm3Hex(idCardPDF), Content: idCardPDF,
		}},
		ResultDelivery: contracts.ResultDelivery{Method: contracts.ResultDeliveryMethodWindowPickup},
	}
}

// update returns a valid status update of caseID entering st.
func (e *env) update(caseID string, st contracts.CaseState) contracts.StatusUpdate {
	now := e.clock.Now()
	// The owner reports its own number of the case: the one its simulator
	// acknowledged it with, or one of its own when it has not seen it.
	caseNo, ok := e.districts[wucheng].sim.CaseNo(caseID)
	if !ok {
		caseNo = "330702-R-" + caseID
	}
	u := contracts.StatusUpdate{ExchangeID: e.newExchangeID(), CaseID: caseID, State: st, ReportedAt: now, OwnerCaseNo: caseNo}
	switch st {
	case contracts.CaseStateRejected:
		u.Reason = "不属于本机关职权范围"
	case contracts.CaseStateCorrectionRequired:
		u.Reason = "申请材料不齐全"
		u.CorrectionItems = []string{"经营场所使用证明"}
	case contracts.CaseStateConcluded:
		doc := []byte("%PDF-1.4\n% 准予行政许可决定书\n%%EOF\n")
		u.Outcome = contracts.OutcomeApproved
		u.Documents = []contracts.Document{{Name: "准予行政许可决定书", MediaType: "application/pdf", Size: int64(len(doc)), SM3: sm3Hex(doc), Content: doc}}
	case contracts.CaseStateDispatched:
		u.Dispatch = &contracts.Dispatch{Method: contracts.ResultDeliveryMethodPost, Carrier: "EMS", TrackingNumber: "EA123456785CN", DispatchedAt: now}
	case contracts.CaseStateDelivered:
		u.DeliveredAt = now
	}
	return u
}

// submit sends sub from Zhonglou and returns the answer.
func (e *env) submit(sub contracts.CaseSubmission) (*gateway.Signed, error) {
	return e.core.Cases.SubmitCase(e.ctx, e.signed(zhonglou, mustJSON(e.t, sub)))
}

// submitOK submits sub and returns the verified receipt.
func (e *env) submitOK(sub contracts.CaseSubmission) contracts.Receipt {
	e.t.Helper()
	ans, err := e.submit(sub)
	if err != nil {
		e.t.Fatalf("SubmitCase: %v", err)
	}
	return e.receipt(ans)
}

// newCase submits a fresh case and returns its id.
func (e *env) newCase() string {
	e.t.Helper()
	return e.submitOK(e.submission()).CaseID
}

// report sends u for its case from caller.
func (e *env) report(caller string, u contracts.StatusUpdate) (*gateway.Signed, error) {
	return e.core.Cases.ReportStatus(e.ctx, u.CaseID, e.signed(caller, mustJSON(e.t, u)))
}

// reportOK reports u as the owner and returns the verified receipt.
func (e *env) reportOK(u contracts.StatusUpdate) contracts.Receipt {
	e.t.Helper()
	ans, err := e.report(wucheng, u)
	if err != nil {
		e.t.Fatalf("ReportStatus %s: %v", u.State, err)
	}
	return e.receipt(ans)
}

// receipt checks that a signed answer verifies with the gateway's key and
// decodes it.
func (e *env) receipt(ans *gateway.Signed) contracts.Receipt {
	e.t.Helper()
	if ans.KeyID != gwKeyID {
		e.t.Errorf("receipt key id %q, want %q", ans.KeyID, gwKeyID)
	}
	if err := signing.Verify(e.gwPub, ans.Body, ans.Signature); err != nil {
		e.t.Fatalf("receipt signature does not verify with the gateway key: %v", err)
	}
	var r contracts.Receipt
	dec := json.NewDecoder(bytes.NewReader(ans.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		e.t.Fatalf("receipt %s: %v", ans.Body, err)
	}
	return r
}

func (e *env) getCase(id string) *gateway.Case {
	e.t.Helper()
	c, err := e.store.GetCase(e.ctx, id)
	if err != nil {
		e.t.Fatalf("GetCase %s: %v", id, err)
	}
	return c
}

func (e *env) deliveries(caseID string) []*gateway.Delivery {
	e.t.Helper()
	ds, err := e.store.Deliveries(e.ctx, caseID)
	if err != nil {
		e.t.Fatal(err)
	}
	return ds
}

func (e *env) delivery(id string) *gateway.Delivery {
	e.t.Helper()
	d, err := e.store.GetDelivery(e.ctx, id)
	if err != nil {
		e.t.Fatalf("GetDelivery %s: %v", id, err)
	}
	return d
}

func (e *env) history(caseID string) []gateway.Status {
	e.t.Helper()
	h, err := e.store.History(e.ctx, caseID)
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// runOnce runs one dispatcher round and returns how many it attempted.
func (e *env) runOnce() int {
	e.t.Helper()
	n, err := e.disp.RunOnce(e.ctx)
	if err != nil {
		e.t.Fatalf("RunOnce: %v", err)
	}
	return n
}

// drain runs rounds until one attempts nothing (at most 50 rounds; the
// clock does not move, so only deliveries due now are attempted).
func (e *env) drain() {
	e.t.Helper()
	for range 50 {
		if e.runOnce() == 0 {
			return
		}
	}
	e.t.Fatal("outbox did not drain within 50 rounds")
}

func (e *env) countByState() map[contracts.TransportState]int {
	e.t.Helper()
	m, err := e.store.CountByState(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func total(m map[contracts.TransportState]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// wantCode checks that err is a *gateway.Error with code want.
func wantCode(t *testing.T, err error, want contracts.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", want)
	}
	var ge *gateway.Error
	if !errors.As(err, &ge) {
		t.Fatalf("got %T %v, want a *gateway.Error with code %s", err, err, want)
	}
	if got := gateway.CodeOf(err); got != want {
		t.Fatalf("got code %s (%v), want %s", got, err, want)
	}
}

// ---- SubmitCase ----

func TestSubmitCaseStoresCaseAndSignsReceipt(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	sub := e.submission()
	body := mustJSON(t, sub)
	ans, err := e.core.Cases.SubmitCase(e.ctx, e.signed(zhonglou, body))
	if err != nil {
		t.Fatal(err)
	}
	if ans.Replay {
		t.Error("first answer says Replay")
	}
	r := e.receipt(ans)
	if got, want := r.BodySM3, sm3Hex(body); got != want {
		t.Errorf("receipt body_sm3 %s, want SM3 of the body %s", got, want)
	}
	if r.ExchangeID != sub.ExchangeID || r.State != contracts.CaseStateReceived || !r.ReceivedAt.Equal(t0) {
		t.Errorf("receipt %+v: want exchange %s, state received, received_at %s", r, sub.ExchangeID, t0)
	}
	if contracts.ValidateUUID(r.CaseID) != nil {
		t.Errorf("case id %q is not a UUID", r.CaseID)
	}

	c := e.getCase(r.CaseID)
	if c.State != contracts.CaseStateReceived || c.Sender != zhonglou || c.Owner != wucheng ||
		c.FromRegion != zhonglou || c.ToRegion != wucheng || c.ExchangeID != sub.ExchangeID ||
		c.LocalCaseNo != sub.LocalCaseNo || c.ServiceItem != sub.ServiceItem || c.Version != 1 {
		t.Errorf("stored case %+v", c)
	}
	ds := e.deliveries(r.CaseID)
	if len(ds) != 1 {
		t.Fatalf("%d deliveries, want 1", len(ds))
	}
	d := ds[0]
	if d.Kind != contracts.DeliveryKindCase || d.Partner != wucheng || d.State != contracts.TransportStatePending ||
		d.Attempts != 0 || d.ExchangeID != sub.ExchangeID || !d.NextAt.Equal(t0) {
		t.Errorf("delivery %+v: want a pending case delivery to %s due now", d, wucheng)
	}
	var cd contracts.CaseDelivery
	if err := json.Unmarshal(d.Payload, &cd); err != nil {
		t.Fatal(err)
	}
	if cd.CaseID != r.CaseID || cd.DeliveryID != d.ID || cd.SenderRegion != zhonglou || cd.Submission.Applicant.Name != "王秀英" {
		t.Errorf("payload %+v", cd)
	}
	ex, err := e.store.GetExchange(e.ctx, zhonglou, sub.ExchangeID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ex.Body, body) || !bytes.Equal(ex.Receipt, ans.Body) || ex.Kind != gateway.ExchangeCase {
		t.Error("stored exchange does not keep the exact body and receipt")
	}
	h := e.history(r.CaseID)
	if len(h) != 1 || h[0].State != contracts.CaseStateReceived || h[0].ReportedBy != zhonglou {
		t.Errorf("history %+v, want one received entry by %s", h, zhonglou)
	}
}

func TestSubmitCaseReplayAndConflict(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	sub := e.submission()
	body := mustJSON(t, sub)
	first, err := e.core.Cases.SubmitCase(e.ctx, e.signed(zhonglou, body))
	if err != nil {
		t.Fatal(err)
	}
	caseID := e.receipt(first).CaseID

	e.clock.Advance(time.Minute)
	// The same bytes, signed again (SM2 signatures differ each time).
	again, err := e.core.Cases.SubmitCase(e.ctx, e.signed(zhonglou, body))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Replay {
		t.Error("replay: Replay is false")
	}
	if !bytes.Equal(again.Body, first.Body) || !bytes.Equal(again.Signature, first.Signature) {
		t.Errorf("replay answered\n%s\nwant the original receipt\n%s", again.Body, first.Body)
	}

	changed := sub
	changed.Remark = "another application under the same exchange id"
	_, err = e.submit(changed)
	wantCode(t, err, contracts.CodeExchangeConflict)

	if n := len(e.deliveries(caseID)); n != 1 {
		t.Errorf("%d deliveries after replay and conflict, want 1", n)
	}
	if n := total(e.countByState()); n != 1 {
		t.Errorf("%d deliveries in the store, want 1 (no second case)", n)
	}
}

func TestSubmitCaseRefusals(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	tests := []struct {
		name string
		in   func() gateway.Inbound
		want contracts.Code
	}{
		{"tampered body", func() gateway.Inbound {
			in := e.signed(zhonglou, mustJSON(t, e.submission()))
			in.Body = append(in.Body, ' ')
			return in
		}, contracts.CodeBadSignature},
		{"signature of another caller's key", func() gateway.Inbound {
			// Signed by Wucheng but sent as Zhonglou with Zhonglou's key id.
			body := mustJSON(t, e.submission())
			in := e.signed(zhonglou, body)
			in.Signature, _ = e.districts[wucheng].crypto.Sign(body)
			return in
		}, contracts.CodeBadSignature},
		{"no signature", func() gateway.Inbound {
			in := e.signed(zhonglou, mustJSON(t, e.submission()))
			in.Signature = nil
			return in
		}, contracts.CodeBadSignature},
		{"unknown field", func() gateway.Inbound {
			b := mustJSON(t, e.submission())
			b = append([]byte(`{"priority":"urgent",`), b[1:]...)
			return e.signed(zhonglou, b)
		}, contracts.CodeInvalidJSON},
		{"trailing data", func() gateway.Inbound {
			return e.signed(zhonglou, append(mustJSON(t, e.submission()), []byte(`{}`)...))
		}, contracts.CodeInvalidJSON},
		{"bad citizen id", func() gateway.Inbound {
			s := e.submission()
			s.Applicant.IDNumber = "110105194912310021" // check character should be X
			return e.signed(zhonglou, mustJSON(t, s))
		}, contracts.CodeInvalidCitizenID},
		{"from_region not served by the caller", func() gateway.Inbound {
			s := e.submission()
			s.FromRegion = "320402" // Tianning, not Zhonglou's
			return e.signed(zhonglou, mustJSON(t, s))
		}, contracts.CodeForbidden},
		{"to_region with no partner", func() gateway.Inbound {
			s := e.submission()
			s.ToRegion = "610102" // Xi'an: no district, city or province partner
			return e.signed(zhonglou, mustJSON(t, s))
		}, contracts.CodeNoRoute},
		{"material sm3 mismatch", func() gateway.Inbound {
			s := e.submission()
			s.Materials[0].SM3 = sm3Hex([]byte("other bytes"))
			return e.signed(zhonglou, mustJSON(t, s))
		}, contracts.CodeValidationFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.core.Cases.SubmitCase(e.ctx, tt.in())
			wantCode(t, err, tt.want)
		})
	}
	if n := total(e.countByState()); n != 0 {
		t.Errorf("refused submissions left %d deliveries in the store", n)
	}
}

// The error table documents unknown_key for "the key id (token kid or
// Gw-Key-Id) is not registered for this caller", and the keyring reports it
// as gateway.ErrUnknownKey, but Service.verify answers
// every VerifyBody failure with bad_signature, ErrUnknownKey included.
func TestSubmitCaseUnregisteredGwKeyIDAnswersUnknownKey(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	in := e.signed(zhonglou, mustJSON(t, e.submission()))
	in.KeyID = "zhonglou-retired-2019"
	_, err := e.core.Cases.SubmitCase(e.ctx, in)
	if !errors.Is(err, gateway.ErrUnknownKey) {
		t.Fatalf("error %v does not wrap gateway.ErrUnknownKey", err)
	}
	wantCode(t, err, contracts.CodeUnknownKey)
}

// ---- ReportStatus ----

func TestReportStatusLifecycle(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	caseID := e.newCase()
	if n := e.runOnce(); n != 1 {
		t.Fatalf("dispatcher attempted %d, want the case delivery", n)
	}
	if c := e.getCase(caseID); c.State != contracts.CaseStateForwarded {
		t.Fatalf("case is %s after delivery, want forwarded", c.State)
	}

	// Refusals before the first report.
	_, err := e.report(zhonglou, e.update(caseID, contracts.CaseStateAccepted))
	wantCode(t, err, contracts.CodeForbidden) // the sender is not the owner
	_, err = e.report(chiping, e.update(caseID, contracts.CaseStateAccepted))
	wantCode(t, err, contracts.CodeNotFound) // unrelated partner
	missing := e.update(e.newExchangeID(), contracts.CaseStateAccepted)
	_, err = e.report(wucheng, missing)
	wantCode(t, err, contracts.CodeNotFound) // no such case
	mismatch := e.update(caseID, contracts.CaseStateAccepted)
	_, err = e.core.Cases.ReportStatus(e.ctx, e.newExchangeID(), e.signed(wucheng, mustJSON(t, mismatch)))
	wantCode(t, err, contracts.CodeValidationFailed) // path and body name other cases

	steps := []contracts.CaseState{
		contracts.CaseStateAccepted, contracts.CaseStateInProgress, contracts.CaseStateConcluded,
		contracts.CaseStateDispatched, contracts.CaseStateDelivered,
	}
	var sent []contracts.StatusUpdate
	for i, st := range steps {
		e.clock.Advance(time.Minute)
		u := e.update(caseID, st)
		body := mustJSON(t, u)
		ans, err := e.core.Cases.ReportStatus(e.ctx, caseID, e.signed(wucheng, body))
		if err != nil {
			t.Fatalf("%s: %v", st, err)
		}
		r := e.receipt(ans)
		if r.CaseID != caseID || r.ExchangeID != u.ExchangeID || r.State != st || r.BodySM3 != sm3Hex(body) || ans.Replay {
			t.Errorf("%s: receipt %+v", st, r)
		}
		c := e.getCase(caseID)
		if c.State != st {
			t.Errorf("%s: case is %s", st, c.State)
		}
		var status []*gateway.Delivery
		for _, d := range e.deliveries(caseID) {
			if d.Kind == contracts.DeliveryKindStatus {
				status = append(status, d)
			}
		}
		if len(status) != i+1 {
			t.Fatalf("%s: %d status deliveries, want %d", st, len(status), i+1)
		}
		last := status[i]
		if last.Partner != zhonglou || last.ExchangeID != u.ExchangeID || last.State != contracts.TransportStatePending {
			t.Errorf("%s: status delivery %+v, want pending to the sender %s", st, last, zhonglou)
		}
		var sd contracts.StatusDelivery
		if err := json.Unmarshal(last.Payload, &sd); err != nil {
			t.Fatal(err)
		}
		if sd.Update.State != st || sd.CaseID != caseID || sd.LocalCaseNo != "ZL-2026-000123" {
			t.Errorf("%s: status payload %+v", st, sd)
		}
		sent = append(sent, u)
	}
	c := e.getCase(caseID)
	if c.Outcome != contracts.OutcomeApproved {
		t.Errorf("outcome %q, want approved", c.Outcome)
	}

	// Replay of an earlier update after the case moved on: the same receipt.
	e.clock.Advance(time.Minute)
	first, err := e.core.Cases.ReportStatus(e.ctx, caseID, e.signed(wucheng, mustJSON(t, sent[1])))
	if err != nil {
		t.Fatalf("replay of in_progress: %v", err)
	}
	ex, err := e.store.GetExchange(e.ctx, wucheng, sent[1].ExchangeID)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Replay || !bytes.Equal(first.Body, ex.Receipt) || !bytes.Equal(first.Signature, ex.ReceiptSig) {
		t.Error("replay did not answer the stored receipt")
	}
	// A delivered case takes no more reports.
	_, err = e.report(wucheng, e.update(caseID, contracts.CaseStateInProgress))
	wantCode(t, err, contracts.CodeInvalidTransition)
	// The same exchange id with other bytes.
	changed := sent[4]
	changed.Note = "changed"
	_, err = e.report(wucheng, changed)
	wantCode(t, err, contracts.CodeExchangeConflict)

	// Every update reaches the sender, in order.
	e.drain()
	var got []contracts.CaseState
	for _, sd := range e.districts[zhonglou].sim.StatusDeliveries() {
		got = append(got, sd.Update.State)
	}
	if !slices.Equal(got, steps) {
		t.Errorf("sender received %v, want %v", got, steps)
	}
	if n := len(e.deliveries(caseID)); n != 1+len(steps) {
		t.Errorf("%d deliveries, want %d (replays enqueue nothing)", n, 1+len(steps))
	}
}

func TestReportStatusInvalidTransitions(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	caseID := e.newCase()
	// From received, before the acknowledgement: in_progress cannot come first.
	_, err := e.report(wucheng, e.update(caseID, contracts.CaseStateInProgress))
	wantCode(t, err, contracts.CodeInvalidTransition)
	// accepted may race the acknowledgement.
	e.reportOK(e.update(caseID, contracts.CaseStateAccepted))
	for _, st := range []contracts.CaseState{
		contracts.CaseStateDelivered, contracts.CaseStateDispatched, contracts.CaseStateAccepted, contracts.CaseStateRejected,
	} {
		_, err := e.report(wucheng, e.update(caseID, st))
		if got := gateway.CodeOf(err); got != contracts.CodeInvalidTransition {
			t.Errorf("accepted → %s: code %s (%v), want invalid_transition", st, got, err)
		}
	}
	// A contract violation is validation_failed, not a transition question.
	u := e.update(caseID, contracts.CaseStateConcluded)
	u.Outcome = ""
	_, err = e.report(wucheng, u)
	wantCode(t, err, contracts.CodeValidationFailed)
	// A document whose SM3 does not match its content.
	u = e.update(caseID, contracts.CaseStateConcluded)
	u.Documents[0].SM3 = sm3Hex([]byte("x"))
	_, err = e.report(wucheng, u)
	wantCode(t, err, contracts.CodeValidationFailed)

	if c := e.getCase(caseID); c.State != contracts.CaseStateAccepted {
		t.Errorf("refused reports changed the case to %s", c.State)
	}
	if n := len(e.deliveries(caseID)); n != 2 {
		t.Errorf("%d deliveries, want the case and one status delivery", n)
	}
}

func TestCorrectionAndResubmission(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	sub := e.submission()
	caseID := e.submitOK(sub).CaseID
	e.drain()
	e.reportOK(e.update(caseID, contracts.CaseStateAccepted))

	// Resubmitting a case that needs no correction is refused.
	early := e.submission()
	early.ResubmitsCaseID = caseID
	_, err := e.submit(early)
	wantCode(t, err, contracts.CodeInvalidTransition)

	e.clock.Advance(time.Hour)
	r := e.reportOK(e.update(caseID, contracts.CaseStateCorrectionRequired))
	if r.State != contracts.CaseStateCorrectionRequired {
		t.Fatalf("receipt state %s", r.State)
	}
	e.drain()

	// Another partner cannot resubmit Zhonglou's case.
	foreign := e.submission()
	foreign.FromRegion, foreign.ToRegion, foreign.Window.Region = chiping, wucheng, chiping
	foreign.ResubmitsCaseID = caseID
	_, err = e.core.Cases.SubmitCase(e.ctx, e.signed(chiping, mustJSON(t, foreign)))
	wantCode(t, err, contracts.CodeNotFound)

	e.clock.Advance(24 * time.Hour)
	re := e.submission()
	re.ResubmitsCaseID = caseID
	re.Materials = append(re.Materials, contracts.Material{
		MaterialID: "m-002", Name: "经营场所使用证明", MediaType: "application/pdf",
		Size: int64(len(idCardPDF)), SM3: sm3Hex(idCardPDF), Content: idCardPDF,
	})
	body := mustJSON(t, re)
	ans, err := e.core.Cases.SubmitCase(e.ctx, e.signed(zhonglou, body))
	if err != nil {
		t.Fatalf("resubmission: %v", err)
	}
	rr := e.receipt(ans)
	if rr.CaseID != caseID || rr.State != contracts.CaseStateReceived || rr.ExchangeID != re.ExchangeID {
		t.Errorf("resubmission receipt %+v, want case %s received", rr, caseID)
	}
	c := e.getCase(caseID)
	if c.State != contracts.CaseStateReceived {
		t.Fatalf("case is %s after resubmission, want received", c.State)
	}
	var cases []*gateway.Delivery
	for _, d := range e.deliveries(caseID) {
		if d.Kind == contracts.DeliveryKindCase {
			cases = append(cases, d)
		}
	}
	if len(cases) != 2 || cases[1].State != contracts.TransportStatePending || cases[1].ExchangeID != re.ExchangeID || cases[1].Partner != wucheng {
		t.Fatalf("case deliveries %+v, want a second pending one to %s for exchange %s", cases, wucheng, re.ExchangeID)
	}
	h := e.history(caseID)
	if last := h[len(h)-1]; last.State != contracts.CaseStateReceived || last.ExchangeID != re.ExchangeID {
		t.Errorf("last history entry %+v", last)
	}
	// A replay of the resubmission answers the same receipt.
	again, err := e.core.Cases.SubmitCase(e.ctx, e.signed(zhonglou, body))
	if err != nil || !again.Replay || !bytes.Equal(again.Body, ans.Body) {
		t.Errorf("replay of the resubmission: %v, replay %v", err, again != nil && again.Replay)
	}

	// The owner gets the corrected case and acknowledges it again.
	e.drain()
	c = e.getCase(caseID)
	owner := e.districts[wucheng].sim
	caseNo, _ := owner.CaseNo(caseID)
	if c.State != contracts.CaseStateForwarded || c.OwnerCaseNo != caseNo {
		t.Errorf("after redelivery: case %s, owner case no %q, want forwarded, %q", c.State, c.OwnerCaseNo, caseNo)
	}
	got := owner.Cases()
	if len(got) != 2 || got[1].Submission.ResubmitsCaseID != caseID || len(got[1].Submission.Materials) != 2 {
		t.Errorf("owner received %d cases, want the original and the resubmission", len(got))
	}
	// And may now accept it.
	e.reportOK(e.update(caseID, contracts.CaseStateAccepted))
}

// ---- GetCase ----

func TestGetCaseView(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{BaseDelay: time.Second})
	caseID := e.newCase()
	e.drain()
	e.clock.Advance(time.Minute)
	e.reportOK(e.update(caseID, contracts.CaseStateAccepted))
	e.clock.Advance(time.Minute)
	e.reportOK(e.update(caseID, contracts.CaseStateInProgress))
	// The sender is down: the first status delivery fails once.
	e.districts[zhonglou].sim.SetFaults(partnersim.Faults{FailFirst: 1})
	if n := e.runOnce(); n != 1 {
		t.Fatalf("attempted %d, want 1 (the second update waits for the first)", n)
	}

	v, err := e.core.Cases.GetCase(e.ctx, e.principal(zhonglou), caseID)
	if err != nil {
		t.Fatal(err)
	}
	var states []contracts.CaseState
	for i, h := range v.History {
		states = append(states, h.State)
		if i > 0 && h.At.Before(v.History[i-1].At) {
			t.Errorf("history entry %d (%s) is older than the one before", i, h.State)
		}
	}
	wantStates := []contracts.CaseState{contracts.CaseStateReceived, contracts.CaseStateForwarded, contracts.CaseStateAccepted, contracts.CaseStateInProgress}
	if !slices.Equal(states, wantStates) {
		t.Errorf("history %v, want %v", states, wantStates)
	}
	if v.History[1].ReportedBy != wucheng || v.History[0].ReportedBy != zhonglou {
		t.Errorf("reported_by: %q, %q", v.History[0].ReportedBy, v.History[1].ReportedBy)
	}
	caseNo, _ := e.districts[wucheng].sim.CaseNo(caseID)
	if v.State != contracts.CaseStateInProgress || v.OwnerCaseNo != caseNo || v.Sender != zhonglou || v.Owner != wucheng {
		t.Errorf("view %+v", v)
	}
	if len(v.Deliveries) != 3 {
		t.Fatalf("%d deliveries, want 3", len(v.Deliveries))
	}
	type dv struct {
		kind     contracts.DeliveryKind
		partner  string
		state    contracts.TransportState
		attempts int
	}
	want := []dv{
		{contracts.DeliveryKindCase, wucheng, contracts.TransportStateDelivered, 1},
		{contracts.DeliveryKindStatus, zhonglou, contracts.TransportStateRetryWait, 1},
		{contracts.DeliveryKindStatus, zhonglou, contracts.TransportStatePending, 0},
	}
	for i, d := range v.Deliveries {
		if got := (dv{d.Kind, d.Partner, d.State, d.Attempts}); got != want[i] {
			t.Errorf("delivery %d: %+v, want %+v", i, got, want[i])
		}
	}
	if d := v.Deliveries[0]; d.Ack == nil || d.Ack.PartnerCaseNo != caseNo || d.DeliveredAt.IsZero() {
		t.Errorf("case delivery view lacks the acknowledgement: %+v", d)
	}
	if d := v.Deliveries[1]; d.LastError == "" || !d.NextAttemptAt.After(e.clock.Now()) {
		t.Errorf("retrying delivery: last_error %q, next_attempt_at %s (now %s)", d.LastError, d.NextAttemptAt, e.clock.Now())
	}

	// Who may read it.
	for _, who := range []string{wucheng, window, auditor, operator} {
		if _, err := e.core.Cases.GetCase(e.ctx, e.principal(who), caseID); err != nil {
			t.Errorf("%s: %v", who, err)
		}
	}
	_, err = e.core.Cases.GetCase(e.ctx, e.principal(chiping), caseID)
	wantCode(t, err, contracts.CodeNotFound)
	_, err = e.core.Cases.GetCase(e.ctx, e.principal(zhonglou), e.newExchangeID())
	wantCode(t, err, contracts.CodeNotFound)
}

// DeliveryView.NextAttemptAt is documented as "when the next attempt is
// due, in retry_wait or pending", but Service.GetCase
// copies Delivery.NextAt whatever the state, so a delivered or dead
// delivery shows a stale next_attempt_at in the past.
func TestGetCaseHidesNextAttemptAtOfFinishedDeliveries(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	caseID := e.newCase()
	e.drain()
	v, err := e.core.Cases.GetCase(e.ctx, e.principal(zhonglou), caseID)
	if err != nil {
		t.Fatal(err)
	}
	d := v.Deliveries[0]
	if d.State != contracts.TransportStateDelivered {
		t.Fatalf("delivery is %s", d.State)
	}
	if !d.NextAttemptAt.IsZero() {
		t.Errorf("delivered delivery shows next_attempt_at %s; want none", d.NextAttemptAt)
	}
}
