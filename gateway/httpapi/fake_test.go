package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/httpapi"
)

// Handler tests with hand-written fakes of the core: what the HTTP layer
// does on its own (authentication, the signed-body headers, the one error
// table, denials handed to the audit), with no store behind it.

// fakeCrypto accepts the bearer token "ok-<caller>" and nothing else.
type fakeCrypto struct{}

func (fakeCrypto) SM3Hex([]byte) string                            { return strings.Repeat("0", 64) }
func (fakeCrypto) Sign([]byte) ([]byte, error)                     { return []byte{1}, nil }
func (fakeCrypto) KeyID() string                                   { return "gateway" }
func (fakeCrypto) VerifyBody(string, string, []byte, []byte) error { return nil }
func (fakeCrypto) VerifyToken(tok string) (gateway.TokenInfo, error) {
	caller, ok := strings.CutPrefix(tok, "ok-")
	if !ok {
		return gateway.TokenInfo{}, gateway.ErrTokenInvalid
	}
	return gateway.TokenInfo{Issuer: caller, KeyID: caller, ID: "jti-1"}, nil
}

// fakeCases answers every call with err, or with a fixed receipt, and
// keeps what it was given.
type fakeCases struct {
	err error
	got gateway.Inbound
}

func (f *fakeCases) SubmitCase(_ context.Context, in gateway.Inbound) (*gateway.Signed, error) {
	f.got = in
	if f.err != nil {
		return nil, f.err
	}
	return &gateway.Signed{Body: []byte(`{"case_id":"c-1"}`), Signature: []byte{0xAB}, KeyID: "gateway"}, nil
}

func (f *fakeCases) ReportStatus(context.Context, string, gateway.Inbound) (*gateway.Signed, error) {
	return nil, f.err
}

func (f *fakeCases) ReceiveNative(context.Context, gateway.Inbound, contracts.NativeCall) (*gateway.Signed, *contracts.InboundCall, error) {
	return nil, nil, f.err
}

func (f *fakeCases) GetCase(context.Context, gateway.Principal, string) (*contracts.CaseView, error) {
	return nil, f.err
}

func (f *fakeCases) SubmitBundle(context.Context, gateway.Inbound) (*gateway.Signed, error) {
	return nil, f.err
}

func (f *fakeCases) Evaluate(context.Context, string, gateway.Inbound) (*gateway.Signed, error) {
	return nil, f.err
}

func (f *fakeCases) ReplyFollowUp(context.Context, string, gateway.Inbound) (*gateway.Signed, error) {
	return nil, f.err
}

func (f *fakeCases) Catalogue(context.Context, gateway.Principal) (*contracts.Catalogue, error) {
	return nil, f.err
}

// fakeAudit keeps the denials the layer records.
type fakeAudit struct {
	httpapi.Audit
	denials []evidence.Denial
}

func (f *fakeAudit) RecordDenial(_ context.Context, d evidence.Denial) {
	f.denials = append(f.denials, d)
}

func fakeServer(t *testing.T, cases *fakeCases, audit *fakeAudit) *httptest.Server {
	t.Helper()
	dir, err := gateway.NewDirectory([]*gateway.Partner{
		{ID: "320404", Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{"320404"}, Cases: nopAdapter{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Options{Cases: cases, Audit: audit, Crypto: fakeCrypto{}, Directory: dir}))
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, srv *httptest.Server, token string, body string, sig string) (*http.Response, contracts.Error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/cases", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if sig != "" {
		req.Header.Set(httpapi.HeaderSignature, sig)
		req.Header.Set(httpapi.HeaderKeyID, "320404")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e contracts.Error
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("error body %q: %v", b, err)
		}
	}
	return resp, e
}

// TestErrorTableWithFakeCore: each core error becomes its contract status
// and code, an internal cause never reaches the caller, and a denial is
// handed to the audit with the caller and the route pattern.
func TestErrorTableWithFakeCore(t *testing.T) {
	sig := base64.StdEncoding.EncodeToString([]byte{0x30, 0x00})
	tests := []struct {
		name   string
		token  string
		err    error
		status int
		code   contracts.Code
		denied bool
	}{
		{"accepted", "ok-320404", nil, http.StatusAccepted, "", false},
		{"no token", "", nil, http.StatusUnauthorized, contracts.CodeUnauthenticated, true},
		{"bad token", "forged", nil, http.StatusUnauthorized, contracts.CodeUnauthenticated, true},
		{"unknown caller", "ok-999999", nil, http.StatusUnauthorized, contracts.CodeUnauthenticated, true},
		{"validation", "ok-320404", gateway.Failf(contracts.CodeValidationFailed, "from_region: bad"), http.StatusBadRequest, contracts.CodeValidationFailed, false},
		{"forbidden", "ok-320404", gateway.Failf(contracts.CodeForbidden, "no"), http.StatusForbidden, contracts.CodeForbidden, true},
		{"conflict", "ok-320404", gateway.Failf(contracts.CodeExchangeConflict, "used"), http.StatusConflict, contracts.CodeExchangeConflict, false},
		{"internal", "ok-320404", gateway.Internal(errors.New("disk on fire at /var/lib/tongban")), http.StatusInternalServerError, contracts.CodeInternal, false},
		{"store unavailable", "ok-320404", gateway.Internal(fmt.Errorf("commit: %w: /var/lib/tongban/tongban.db is gone", gateway.ErrStoreUnavailable)), http.StatusServiceUnavailable, contracts.CodeUnavailable, false},
		{"store unavailable, unwrapped", "ok-320404", fmt.Errorf("%w: disk full at /var/lib/tongban", gateway.ErrStoreUnavailable), http.StatusServiceUnavailable, contracts.CodeUnavailable, false},
		{"unwrapped", "ok-320404", errors.New("disk on fire at /var/lib/tongban"), http.StatusInternalServerError, contracts.CodeInternal, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cases, audit := &fakeCases{err: tt.err}, &fakeAudit{}
			srv := fakeServer(t, cases, audit)
			resp, e := post(t, srv, tt.token, `{"x":1}`, sig)
			if resp.StatusCode != tt.status || e.Code != tt.code {
				t.Fatalf("got %d %q (%s), want %d %q", resp.StatusCode, e.Code, e.Message, tt.status, tt.code)
			}
			if tt.code == "" {
				if resp.Header.Get(httpapi.HeaderSignature) != "qw==" || string(cases.got.Body) != `{"x":1}` || cases.got.KeyID != "320404" {
					t.Errorf("accepted: signature %q, core got %q with key %q", resp.Header.Get(httpapi.HeaderSignature), cases.got.Body, cases.got.KeyID)
				}
			}
			if strings.Contains(e.Message, "/var/lib") || (e.Code != "" && e.RequestID == "") {
				t.Errorf("error body %+v: leaks the cause or lacks the request id", e)
			}
			if got := len(audit.denials) == 1; got != tt.denied {
				t.Fatalf("denials recorded: %+v, want one: %v", audit.denials, tt.denied)
			}
			if tt.denied && (audit.denials[0].Code != tt.code || audit.denials[0].Route != "/v1/cases") {
				t.Errorf("denial %+v, want code %s on route /v1/cases", audit.denials[0], tt.code)
			}
		})
	}
}
