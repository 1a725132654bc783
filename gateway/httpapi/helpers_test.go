package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/httpapi"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/gateway/node"
	"github.com/tongban/tongban/gateway/store/sqlite"
	"github.com/tongban/tongban/signing"
)

// gatewayID is the gateway id of the test environment: the aud of caller tokens.
const gatewayID = "tongban-test"

// Callers of the test environment.
const (
	zhonglou = "320404"        // sender district, serves 320404
	wucheng  = "330702"        // owner district, serves 330702
	chiping  = "371523"        // a partner with no business with the test cases
	window   = "window-320404" // a window serving 320404
	operator = "ops"           // an operator
	auditor  = "auditor"       // an auditor
	library  = "lib-330702"    // the license library of 330702
	stranger = "stranger"      // key registered, not in the directory
	xincheng = "610102"        // a partner that pulls from its mailbox
)

// clockBase is the keyring's injected time; far from the real clock, so a
// test that passes proves the keyring reads its injected clock.
var clockBase = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

// nopAdapter is a hand-written fake partner adapter; deliveries are not
// exercised by these tests.
type nopAdapter struct{}

var errNotExercised = errors.New("nopAdapter: deliveries are not exercised")

func (nopAdapter) DeliverCase(context.Context, *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
	return nil, nil, nil, errNotExercised
}

func (nopAdapter) DeliverStatus(context.Context, *contracts.StatusDelivery) (*contracts.Ack, []byte, []byte, error) {
	return nil, nil, nil, errNotExercised
}

// env is one gateway served on loopback with a real keyring, SQLite store
// and directory.
type env struct {
	t     *testing.T
	srv   *httptest.Server
	keys  map[string]*signing.PrivateKey // by caller id; each key id equals the caller id
	gwKey *signing.PrivateKey
	now   atomic.Int64 // keyring clock, Unix nanoseconds
	lib   *fakeLibrary // the library of 330702
	store *sqlite.Store
	// keyring and reloads are the operator views' (admin_test.go).
	keyring *keyring.Keyring
	reloads *fakeReloader
	opts    httpapi.Options // as served
}

// Now is the keyring's clock.
func (e *env) Now() time.Time { return time.Unix(0, e.now.Load()).UTC() }

// advance moves the keyring's clock.
func (e *env) advance(d time.Duration) { e.now.Add(int64(d)) }

func newEnv(t *testing.T, configure ...func(*httpapi.Options)) *env {
	t.Helper()
	e := &env{t: t, keys: map[string]*signing.PrivateKey{}, lib: newFakeLibrary(t)}
	e.now.Store(clockBase.UnixNano())

	gw, err := signing.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("GenerateKey(gateway): %v", err)
	}
	e.gwKey = gw
	kr, err := keyring.New(keyring.Options{
		GatewayID: gatewayID, Signer: signing.NewSigner(gw, nil), SignerKeyID: "gateway",
		Clock: e.Now,
	})
	if err != nil {
		t.Fatalf("keyring.New: %v", err)
	}
	for _, id := range []string{zhonglou, wucheng, chiping, window, operator, auditor, stranger, xincheng} {
		k, err := signing.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatalf("GenerateKey(%s): %v", id, err)
		}
		e.keys[id] = k
		if err := kr.AddKey(id, id, k.Public()); err != nil {
			t.Fatalf("AddKey(%s): %v", id, err)
		}
	}

	dir, err := gateway.NewDirectory([]*gateway.Partner{
		{ID: zhonglou, Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{"320404"}, Cases: nopAdapter{}},
		{ID: wucheng, Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{"330702"}, Cases: nopAdapter{}},
		{ID: chiping, Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{"371523"}, Cases: nopAdapter{}, Translator: tb1{}},
		{ID: xincheng, Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{"610102"}, Mailbox: &gateway.MailboxPolicy{}},
		{ID: window, Roles: []contracts.Role{contracts.RoleWindow}, Regions: []string{"320404"}},
		{ID: operator, Roles: []contracts.Role{contracts.RoleOperator}},
		{ID: auditor, Roles: []contracts.Role{contracts.RoleAuditor}},
		{ID: library, Roles: []contracts.Role{contracts.RolePartner}, Library: &gateway.Library{Regions: []string{"330702"}, Source: e.lib}},
	})
	if err != nil {
		t.Fatalf("NewDirectory: %v", err)
	}

	st, err := sqlite.Open(t.Context(), sqlite.Options{Path: filepath.Join(t.TempDir(), "gateway.db"), Synchronous: "NORMAL", Linker: evidence.Linker{SM3: signing.EvidenceHash}})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	if err := st.SetPullPartners(t.Context(), dir.PullPartners()); err != nil {
		t.Fatalf("SetPullPartners: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("store Close: %v", err)
		}
	})
	e.store = st
	opts := httpapi.Options{Crypto: kr, Directory: dir}
	for _, f := range configure {
		f(&opts)
	}
	// The core logs through the same logger as the HTTP layer.
	no := node.Options{Store: st, Crypto: kr, Directory: dir, Log: opts.Log}
	if opts.Telemetry != nil {
		no.Telemetry = gateway.Telemetry{Traces: opts.Telemetry.TracerProvider(), Metrics: opts.Telemetry.MeterProvider()}
	}
	core, err := node.New(no)
	if err != nil {
		t.Fatalf("node.New: %v", err)
	}
	opts.Cases, opts.Licenses, opts.Audit = core.Cases, core.Licenses, core.Auditor
	opts.Mailbox, opts.Redelivery = core.Outbox.Mailbox(), core.Outbox.Redelivery()
	e.wireAdmin(&opts, kr, dir, core)
	e.srv = httptest.NewServer(httpapi.New(opts))
	t.Cleanup(e.srv.Close)
	return e
}

// tokenFor mints a valid token for caller (kid = caller) at the keyring's time.
func (e *env) tokenFor(caller string) string {
	e.t.Helper()
	return e.mint(e.keys[caller], signing.TokenRequest{KeyID: caller, Issuer: caller, Audience: gatewayID, TTL: 5 * time.Minute, Now: e.Now()})
}

// mint signs a token request with key; a missing ID gets a fresh UUIDv7.
func (e *env) mint(key *signing.PrivateKey, req signing.TokenRequest) string {
	e.t.Helper()
	if req.ID == "" {
		req.ID = newUUID(e.t)
	}
	tok, err := signing.IssueToken(signing.NewSigner(key, nil), req)
	if err != nil {
		e.t.Fatalf("IssueToken: %v", err)
	}
	return tok
}

func newUUID(t *testing.T) string {
	t.Helper()
	id, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
	if err != nil {
		t.Fatalf("NewUUIDv7: %v", err)
	}
	return id
}

// sign returns the standard base64 DER signature of body by caller's key.
func (e *env) sign(caller string, body []byte) string {
	e.t.Helper()
	sig, err := signing.Sign(signing.NewSigner(e.keys[caller], nil), nil, body)
	if err != nil {
		e.t.Fatalf("Sign: %v", err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// response is a read HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; headers with an empty value are left out.
func (e *env) do(method, path string, body io.Reader, headers map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatalf("NewRequest: %v", err)
	}
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	return e.send(req)
}

func (e *env) send(req *http.Request) response {
	e.t.Helper()
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// get sends an authenticated GET as caller.
func (e *env) get(caller, path string) response {
	e.t.Helper()
	return e.do(http.MethodGet, path, nil, map[string]string{"Authorization": "Bearer " + e.tokenFor(caller)})
}

// post sends body signed by caller (key id caller) with caller's token.
func (e *env) post(caller, path string, body []byte) response {
	e.t.Helper()
	return e.do(http.MethodPost, path, bytes.NewReader(body), map[string]string{
		"Authorization":         "Bearer " + e.tokenFor(caller),
		"Content-Type":          "application/json",
		httpapi.HeaderSignature: e.sign(caller, body),
		httpapi.HeaderKeyID:     caller,
	})
}

// wantError checks an error answer: status, JSON code, and a request_id
// that matches the X-Request-Id header.
func wantError(t *testing.T, r response, status int, code contracts.Code) {
	t.Helper()
	if r.status != status {
		t.Errorf("status: got %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !bytes.HasPrefix([]byte(ct), []byte("application/json")) {
		t.Errorf("Content-Type: got %q, want application/json", ct)
	}
	var got contracts.Error
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("error body %q is not JSON: %v", r.body, err)
	}
	if got.Code != code {
		t.Errorf("code: got %q, want %q (message %q)", got.Code, code, got.Message)
	}
	if got.RequestID == "" {
		t.Errorf("request_id: got empty, want present (body %s)", r.body)
	}
	if h := r.header.Get("X-Request-Id"); got.RequestID != h {
		t.Errorf("request_id: got %q, want the X-Request-Id header %q", got.RequestID, h)
	}
	if got.Message == "" {
		t.Errorf("message: got empty, want a message")
	}
}

// submission returns the golden case submission with a fresh exchange_id.
func submission(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "contracts", "testdata", "case_submission.json"))
	if err != nil {
		t.Fatalf("read golden submission: %v", err)
	}
	const golden = "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10"
	if !bytes.Contains(b, []byte(golden)) {
		t.Fatalf("golden submission lacks exchange_id %s", golden)
	}
	return bytes.Replace(b, []byte(golden), []byte(newUUID(t)), 1)
}

// verifyReceipt checks the Gw-Signature and Gw-Key-Id of a signed answer
// and decodes it as a receipt.
func (e *env) verifyReceipt(r response) contracts.Receipt {
	e.t.Helper()
	if got, want := r.header.Get(httpapi.HeaderKeyID), "gateway"; got != want {
		e.t.Errorf("Gw-Key-Id: got %q, want %q", got, want)
	}
	sig, err := base64.StdEncoding.DecodeString(r.header.Get(httpapi.HeaderSignature))
	if err != nil || len(sig) == 0 {
		e.t.Fatalf("Gw-Signature %q: not standard base64 or empty: %v", r.header.Get(httpapi.HeaderSignature), err)
	}
	if err := signing.Verify(e.gwKey.Public(), r.body, sig); err != nil {
		e.t.Errorf("Gw-Signature does not verify over the response bytes with the gateway key: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	var rc contracts.Receipt
	if err := dec.Decode(&rc); err != nil {
		e.t.Fatalf("receipt %s: %v", r.body, err)
	}
	return rc
}

// newCase submits a fresh case from zhonglou to wucheng and returns its receipt.
func (e *env) newCase() contracts.Receipt {
	e.t.Helper()
	r := e.post(zhonglou, "/v1/cases", submission(e.t))
	if r.status != http.StatusAccepted {
		e.t.Fatalf("submit case: got %d %s, want 202", r.status, r.body)
	}
	return e.verifyReceipt(r)
}

// statusUpdate returns the JSON of a status update for caseID.
func statusUpdate(t *testing.T, caseID string, state contracts.CaseState) []byte {
	t.Helper()
	u := contracts.StatusUpdate{
		ExchangeID: newUUID(t), CaseID: caseID, State: state,
		ReportedAt: time.Now().UTC().Truncate(time.Second), OwnerCaseNo: "WC-2025-000123",
	}
	if state == contracts.CaseStateDelivered {
		u.DeliveredAt = u.ReportedAt
	}
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatalf("marshal status update: %v", err)
	}
	return b
}
