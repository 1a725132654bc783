package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/httpapi"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/gateway/node"
	"github.com/tongban/tongban/signing"
)

// fakeReloader stands in for the application's reload (which reads a
// configuration file: cmd/tongban/internal/app tests it): it answers a
// fixed result and remembers who asked.
type fakeReloader struct {
	mu    sync.Mutex
	calls []string
}

var reloaded = contracts.ReloadResult{ConfigSM3: "6a09e667f3bcc908b2fb1366ea957d3e3adec17512775099da2f590b0667322a", Partners: 8,
	Changed: contracts.ReloadChanges{Added: []string{}, Removed: []string{}, Updated: []string{wucheng}},
	Keys:    contracts.ReloadKeyChanges{Added: []contracts.KeyRef{}, Removed: []contracts.KeyRef{}}}

func (f *fakeReloader) Reload(_ context.Context, p gateway.Principal) (*contracts.ReloadResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, p.ID())
	r := reloaded
	return &r, nil
}

func (f *fakeReloader) callers() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// wireAdmin gives the test gateway its operator views: the outbox's
// partners view and the keyring's admin over the real store, and a fake
// reloader.
func (e *env) wireAdmin(opts *httpapi.Options, kr *keyring.Keyring, dir *gateway.Directory, core *node.Core) {
	e.t.Helper()
	e.keyring, e.reloads = kr, &fakeReloader{}
	admin, err := keyring.NewAdmin(keyring.AdminOptions{Keys: kr, Directory: dir, Evidence: e.store,
		Env: gateway.Env{Clock: e, Recorder: evidence.Recorder{Crypto: kr}, Log: slog.New(slog.DiscardHandler)}})
	if err != nil {
		e.t.Fatal(err)
	}
	opts.Partners, opts.Keys, opts.Reloader = core.Outbox, admin, e.reloads
	e.opts = *opts
}

// decodeStrict decodes an answer's body with unknown fields refused.
func decodeStrict(t *testing.T, r response, status int, v any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d %s, want %d", r.status, r.body, status)
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
}

// events returns the events of the evidence log, in order.
func (e *env) events() []contracts.EvidenceRecord {
	e.t.Helper()
	var out []contracts.EvidenceRecord
	err := e.store.ScanEvidence(e.t.Context(), 1, 0, func(row gateway.EvidenceRow) error {
		var rec contracts.EvidenceRecord
		if err := json.Unmarshal(row.Record, &rec); err != nil {
			return err
		}
		out = append(out, rec)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// TestAdminPartnersHTTP: GET /v1/admin/partners answers an operator every
// configured caller's state, in the documented shape (decoded with
// unknown fields refused); it takes no query parameter, and only
// operators may.
func TestAdminPartnersHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newCase() // a delivery pending for 330702
	var l contracts.PartnerList
	decodeStrict(t, e.get(operator, "/v1/admin/partners"), http.StatusOK, &l)
	if len(l.Partners) != 8 || l.Totals.Pending != 1 || l.CountCap <= 0 {
		t.Fatalf("partners %d, totals %+v, cap %d", len(l.Partners), l.Totals, l.CountCap)
	}
	for _, p := range l.Partners {
		switch p.ID {
		case wucheng:
			if p.Delivery != contracts.DeliveryPush || p.Queue.Pending != 1 || p.OldestWaitingAt.IsZero() {
				t.Errorf("330702: %+v", p)
			}
		case xincheng:
			if p.Delivery != contracts.DeliveryPull {
				t.Errorf("610102: %+v", p)
			}
		case operator:
			if p.Delivery != contracts.DeliveryNone || p.Roles[0] != contracts.RoleOperator {
				t.Errorf("operator: %+v", p)
			}
		}
	}
	wantError(t, e.get(operator, "/v1/admin/partners?state=dead"), http.StatusBadRequest, contracts.CodeBadRequest)
	for _, caller := range []string{auditor, window, zhonglou} {
		wantError(t, e.get(caller, "/v1/admin/partners"), http.StatusForbidden, contracts.CodeForbidden)
	}
}

// TestAdminKeysHTTP: operators and auditors list the keys in force; an
// operator's signed POST /v1/admin/keys puts a caller's new key in force
// at once (201; a token signed with it is accepted), DELETE takes one out
// at once (a token of it is refused); both are in the evidence log with
// the operator's jti; unsigned, badly typed, unknown-field and last-key
// requests are refused.
func TestAdminKeysHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var l contracts.KeyList
	decodeStrict(t, e.get(auditor, "/v1/admin/keys"), http.StatusOK, &l)
	if len(l.Gateway) != 1 || l.Gateway[0].KeyID != "gateway" || !l.Gateway[0].Current || len(l.Callers) != 8 {
		t.Fatalf("keys: %+v", l)
	}
	wantError(t, e.get(window, "/v1/admin/keys"), http.StatusForbidden, contracts.CodeForbidden)

	// The auditor gets a second key.
	newKey, err := signing.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := signing.MarshalPublicKeyPEM(newKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	body := mustMarshal(t, contracts.KeyAddRequest{Caller: auditor, KeyID: "auditor-2027", PublicKeyPEM: string(pub)})
	var added contracts.KeyInfo
	decodeStrict(t, e.post(operator, "/v1/admin/keys", body), http.StatusCreated, &added)
	if added.Caller != auditor || added.KeyID != "auditor-2027" || added.Kind != contracts.KeyPublicKey || added.Source != contracts.KeyFromRuntime || len(added.Fingerprint) != 64 {
		t.Errorf("added: %+v", added)
	}
	newTok := e.mint(newKey, signing.TokenRequest{KeyID: "auditor-2027", Issuer: auditor, Audience: gatewayID, TTL: 5 * time.Minute, Now: e.Now()})
	if r := e.do(http.MethodGet, "/v1/admin/keys", nil, map[string]string{"Authorization": "Bearer " + newTok}); r.status != http.StatusOK {
		t.Fatalf("a token of the added key: %d %s", r.status, r.body)
	}

	// Refusals.
	wantError(t, e.post(operator, "/v1/admin/keys", body), http.StatusBadRequest, contracts.CodeValidationFailed) // registered already
	wantError(t, e.post(auditor, "/v1/admin/keys", mustMarshal(t, contracts.KeyAddRequest{Caller: auditor, KeyID: "a3", PublicKeyPEM: string(pub)})),
		http.StatusForbidden, contracts.CodeForbidden)
	wantError(t, e.post(operator, "/v1/admin/keys", []byte(`{"caller":"auditor","key_id":"a3","public_key_pem":"x","extra":1}`)),
		http.StatusBadRequest, contracts.CodeInvalidJSON)
	wantError(t, e.do(http.MethodPost, "/v1/admin/keys", bytes.NewReader(body), map[string]string{
		"Authorization": "Bearer " + e.tokenFor(operator), "Content-Type": "application/json"}), http.StatusUnauthorized, contracts.CodeBadSignature)
	wantError(t, e.do(http.MethodPost, "/v1/admin/keys", bytes.NewReader(body), map[string]string{
		"Authorization": "Bearer " + e.tokenFor(operator), "Content-Type": "text/plain",
		httpapi.HeaderSignature: e.sign(operator, body), httpapi.HeaderKeyID: operator}), http.StatusUnsupportedMediaType, contracts.CodeUnsupportedMedia)

	// Revocation.
	del := func(caller, path string) response {
		return e.do(http.MethodDelete, path, nil, map[string]string{"Authorization": "Bearer " + e.tokenFor(caller)})
	}
	wantError(t, del(auditor, "/v1/admin/keys/auditor/auditor-2027"), http.StatusForbidden, contracts.CodeForbidden)
	wantError(t, del(operator, "/v1/admin/keys/auditor/nope"), http.StatusNotFound, contracts.CodeNotFound)
	var revoked contracts.KeyInfo
	decodeStrict(t, del(operator, "/v1/admin/keys/auditor/auditor-2027"), http.StatusOK, &revoked)
	if revoked.KeyID != "auditor-2027" || revoked.Fingerprint != added.Fingerprint {
		t.Errorf("revoked: %+v", revoked)
	}
	wantError(t, e.do(http.MethodGet, "/v1/admin/keys", nil, map[string]string{"Authorization": "Bearer " + newTok}),
		http.StatusUnauthorized, contracts.CodeUnknownKey)
	wantError(t, del(operator, "/v1/admin/keys/auditor/auditor"), http.StatusBadRequest, contracts.CodeValidationFailed) // its last key

	var got []string
	for _, rec := range e.events() {
		if rec.Event == contracts.EventAdminKeyAdded || rec.Event == contracts.EventAdminKeyRevoked {
			got = append(got, rec.Event)
			if rec.Actor != operator || rec.Partner != auditor || rec.JTI == "" || rec.KeyID != operator {
				t.Errorf("record %+v", rec)
			}
		}
	}
	if len(got) != 2 || got[0] != contracts.EventAdminKeyAdded || got[1] != contracts.EventAdminKeyRevoked {
		t.Errorf("admin records: %v, want one key added and one revoked", got)
	}
}

// TestAdminReloadHTTP: POST /v1/admin/reload answers an operator with the
// reloader's result; anyone else is refused before the reloader is asked,
// and a query parameter is refused.
func TestAdminReloadHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	post := func(caller, path string) response {
		return e.do(http.MethodPost, path, nil, map[string]string{"Authorization": "Bearer " + e.tokenFor(caller)})
	}
	for _, caller := range []string{auditor, window, zhonglou} {
		wantError(t, post(caller, "/v1/admin/reload"), http.StatusForbidden, contracts.CodeForbidden)
	}
	wantError(t, post(operator, "/v1/admin/reload?dry_run=1"), http.StatusBadRequest, contracts.CodeBadRequest)
	if calls := e.reloads.callers(); len(calls) != 0 {
		t.Fatalf("the reloader was asked by %v", calls)
	}
	var r contracts.ReloadResult
	decodeStrict(t, post(operator, "/v1/admin/reload"), http.StatusOK, &r)
	if r.ConfigSM3 != reloaded.ConfigSM3 || r.Changed.Updated[0] != wucheng {
		t.Errorf("result: %+v", r)
	}
	if calls := e.reloads.callers(); len(calls) != 1 || calls[0] != operator {
		t.Errorf("the reloader was asked by %v, want the operator once", calls)
	}
}

// TestAdminViewsNotWired: a gateway not given the operator views answers
// their routes not_found, after authentication.
func TestAdminViewsNotWired(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.opts
	o.Partners, o.Keys, o.Reloader = nil, nil, nil
	srv := httptest.NewServer(httpapi.New(o))
	t.Cleanup(srv.Close)
	for _, tt := range []struct{ method, path string }{
		{http.MethodGet, "/v1/admin/partners"}, {http.MethodGet, "/v1/admin/keys"},
		{http.MethodDelete, "/v1/admin/keys/auditor/auditor"}, {http.MethodPost, "/v1/admin/reload"},
	} {
		req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+e.tokenFor(operator))
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 404", tt.method, tt.path, res.StatusCode)
		}
	}
}
