package keyring_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/signing"
)

// memEvidence keeps appended records; fail makes appends fail.
type memEvidence struct {
	mu   sync.Mutex
	recs []contracts.EvidenceRecord
	fail bool
}

func (m *memEvidence) AppendEvidence(_ context.Context, recs ...contracts.EvidenceRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errors.New("store down")
	}
	m.recs = append(m.recs, recs...)
	return nil
}

type adminFixture struct {
	*fixture
	ev    *memEvidence
	admin *keyring.Admin
	ops   gateway.Principal
	opKey *signing.PrivateKey
	ca    *signing.Certificate
	caKey *signing.PrivateKey
}

func newAdminFixture(t *testing.T) *adminFixture {
	t.Helper()
	f := &adminFixture{fixture: newFixture(t, nil), ev: &memEvidence{}, opKey: newKey(t), caKey: newKey(t)}
	if err := f.k.AddKey("ops", "ops", f.opKey.Public()); err != nil {
		t.Fatal(err)
	}
	der, err := signing.CreateCertificate(signing.CertificateRequest{CommonName: "key CA", IsCA: true, NotBefore: start.Add(-time.Hour), Validity: 365 * 24 * time.Hour},
		f.caKey.Public(), nil, f.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if f.ca, err = signing.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	dir, err := gateway.NewDirectory([]*gateway.Partner{
		{ID: "320404", Roles: []contracts.Role{contracts.RoleWindow}, Regions: []string{"320404"}},
		{ID: "330702", Roles: []contracts.Role{contracts.RoleWindow}, Regions: []string{"330702"}},
		{ID: "ops", Roles: []contracts.Role{contracts.RoleOperator}},
		{ID: "auditor", Roles: []contracts.Role{contracts.RoleAuditor}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.ops = gateway.Principal{Partner: dir.Get("ops"), Subject: "li.si", TokenID: "jti-ops", KeyID: "ops"}
	f.admin, err = keyring.NewAdmin(keyring.AdminOptions{Keys: f.k, Directory: dir, Evidence: f.ev,
		Env:    gateway.Env{Clock: f.clock, Recorder: evidence.Recorder{Crypto: f.k}, Log: slog.New(slog.DiscardHandler)},
		KeyCAs: func() []*signing.Certificate { return []*signing.Certificate{f.ca} }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// certPEM returns a certificate of key for 330702 issued by issuer
// (self-signed when issuerKey is key), valid from nb for validity.
func certPEM(t *testing.T, key *signing.PrivateKey, issuer *signing.Certificate, issuerKey *signing.PrivateKey, nb time.Time, validity time.Duration) string {
	t.Helper()
	der, err := signing.CreateCertificate(signing.CertificateRequest{CommonName: "330702", NotBefore: nb, Validity: validity}, key.Public(), issuer, issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(signing.MarshalCertificatePEM(der))
}

func spkiPEM(t *testing.T, key *signing.PrivateKey) string {
	t.Helper()
	b, err := signing.MarshalPublicKeyPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// signedAdd is a signed POST /v1/admin/keys request of the operator.
func (f *adminFixture) signedAdd(t *testing.T, req any) gateway.Inbound {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signing.Sign(signing.NewSigner(f.opKey, nil), nil, body)
	if err != nil {
		t.Fatal(err)
	}
	return gateway.Inbound{Caller: f.ops, Body: body, Signature: sig, KeyID: "ops"}
}

// TestAdminAddKey: an operator's signed request puts a key in force at
// once (a token signed with it verifies), listed as a runtime key, with
// its admin.key_added record (operator, subject, jti, key id,
// fingerprint, the body's SM3 and signature) appended first; every
// refusal names its field and changes nothing.
func TestAdminAddKey(t *testing.T) {
	f := newAdminFixture(t)
	newK := newKey(t)
	info, err := f.admin.AddKey(t.Context(), f.signedAdd(t, contracts.KeyAddRequest{Caller: "330702", KeyID: "330702-2027", PublicKeyPEM: spkiPEM(t, newK)}))
	if err != nil {
		t.Fatal(err)
	}
	fp, _ := f.k.Fingerprint(newK.Public())
	want := contracts.KeyInfo{Caller: "330702", KeyID: "330702-2027", Kind: contracts.KeyPublicKey, Fingerprint: fp, Source: contracts.KeyFromRuntime, AddedAt: start}
	if *info != want {
		t.Errorf("added:\n got %+v\nwant %+v", *info, want)
	}
	tok, err := signing.IssueToken(signing.NewSigner(newK, nil), signing.TokenRequest{KeyID: "330702-2027", Issuer: "330702", Audience: gatewayID,
		TTL: time.Minute, ID: "j1", Now: start})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.k.VerifyToken(tok); err != nil {
		t.Errorf("a token of the added key: %v", err)
	}
	if len(f.ev.recs) != 1 {
		t.Fatalf("%d records, want 1", len(f.ev.recs))
	}
	rec := f.ev.recs[0]
	var d contracts.EvidenceDetail
	if err := json.Unmarshal(rec.Detail, &d); err != nil {
		t.Fatal(err)
	}
	if rec.Event != contracts.EventAdminKeyAdded || rec.Actor != "ops" || rec.JTI != "jti-ops" || rec.KeyID != "ops" || rec.Partner != "330702" ||
		rec.BodySM3 == "" || d.Subject != "li.si" || d.TargetKeyID != "330702-2027" || d.Fingerprint != fp || d.Signature == "" || d.KeyKind != contracts.KeyPublicKey {
		t.Errorf("record %+v detail %+v", rec, d)
	}

	// A certificate chaining to key_ca is taken with its expiry.
	certKey := newKey(t)
	cert := certPEM(t, certKey, f.ca, f.caKey, start.Add(-time.Hour), 30*24*time.Hour)
	info, err = f.admin.AddKey(t.Context(), f.signedAdd(t, contracts.KeyAddRequest{Caller: "330702", KeyID: "330702-cert", PublicKeyPEM: cert}))
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != contracts.KeyCertificate || !info.NotAfter.Equal(start.Add(-time.Hour).Add(30*24*time.Hour)) {
		t.Errorf("certificate key: %+v", info)
	}

	before := len(f.k.Keys())
	other := newKey(t)
	tests := []struct {
		name  string
		in    gateway.Inbound
		code  contracts.Code
		field string // in the message
	}{
		{"unknown caller", f.signedAdd(t, contracts.KeyAddRequest{Caller: "999999", KeyID: "k9", PublicKeyPEM: spkiPEM(t, other)}), contracts.CodeValidationFailed, "caller"},
		{"bad key id", f.signedAdd(t, contracts.KeyAddRequest{Caller: "330702", KeyID: "k/9", PublicKeyPEM: spkiPEM(t, other)}), contracts.CodeValidationFailed, "key_id"},
		{"id registered for this caller", f.signedAdd(t, contracts.KeyAddRequest{Caller: "330702", KeyID: "330702-2027", PublicKeyPEM: spkiPEM(t, newK)}), contracts.CodeValidationFailed, "key_id"},
		{"id of another caller", f.signedAdd(t, contracts.KeyAddRequest{Caller: "330702", KeyID: "320404", PublicKeyPEM: spkiPEM(t, other)}), contracts.CodeValidationFailed, "key_id"},
		{"gateway key id", f.signedAdd(t, contracts.KeyAddRequest{Caller: "330702", KeyID: "gateway", PublicKeyPEM: spkiPEM(t, other)}), contracts.CodeValidationFailed, "key_id"},
		{"not a key", f.signedAdd(t, contracts.KeyAddRequest{Caller: "330702", KeyID: "k9", PublicKeyPEM: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}), contracts.CodeValidationFailed, "public_key_pem"},
		{"expired certificate", f.signedAdd(t, contracts.KeyAddRequest{Caller: "330702", KeyID: "k9",
			PublicKeyPEM: certPEM(t, other, f.ca, f.caKey, start.Add(-60*24*time.Hour), 30*24*time.Hour)}), contracts.CodeValidationFailed, "public_key_pem"},
		{"certificate of another CA", f.signedAdd(t, contracts.KeyAddRequest{Caller: "330702", KeyID: "k9",
			PublicKeyPEM: certPEM(t, other, nil, other, start.Add(-time.Hour), 30*24*time.Hour)}), contracts.CodeValidationFailed, "public_key_pem"},
		{"unknown field", f.signedAdd(t, map[string]string{"caller": "330702", "key_id": "k9", "public_key_pem": spkiPEM(t, other), "role": "operator"}), contracts.CodeInvalidJSON, "role"},
		{"bad signature", func() gateway.Inbound {
			in := f.signedAdd(t, contracts.KeyAddRequest{Caller: "330702", KeyID: "k9", PublicKeyPEM: spkiPEM(t, other)})
			in.Body = append(in.Body, ' ')
			return in
		}(), contracts.CodeBadSignature, ""},
		{"not an operator", func() gateway.Inbound {
			in := f.signedAdd(t, contracts.KeyAddRequest{Caller: "330702", KeyID: "k9", PublicKeyPEM: spkiPEM(t, other)})
			in.Caller = gateway.Principal{Partner: &gateway.Partner{ID: "auditor", Roles: []contracts.Role{contracts.RoleAuditor}}}
			return in
		}(), contracts.CodeForbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.admin.AddKey(t.Context(), tt.in)
			if got := gateway.CodeOf(err); got != tt.code || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("got %v, want %s naming %q", err, tt.code, tt.field)
			}
		})
	}
	if n := len(f.k.Keys()); n != before || len(f.ev.recs) != 2 {
		t.Errorf("refusals changed something: %d keys (want %d), %d records (want 2)", n, before, len(f.ev.recs))
	}

	// A record that cannot be written: the key does not take effect.
	f.ev.fail = true
	if _, err := f.admin.AddKey(t.Context(), f.signedAdd(t, contracts.KeyAddRequest{Caller: "330702", KeyID: "k10", PublicKeyPEM: spkiPEM(t, other)})); gateway.CodeOf(err) != contracts.CodeInternal {
		t.Errorf("evidence down: got %v, want internal", err)
	}
	if _, ok := f.k.Key("330702", "k10"); ok {
		t.Error("evidence down: the key took effect without its record")
	}
}

// TestAdminRevokeKey: an operator revokes a caller's key at once (a
// token of it is refused from then), its admin.key_revoked record
// appended first; the caller's last key, a key of another caller and a
// non-operator are refused.
func TestAdminRevokeKey(t *testing.T) {
	f := newAdminFixture(t)
	tok := f.token(t, "320404-b", nil)
	if _, err := f.k.VerifyToken(tok); err != nil {
		t.Fatal(err)
	}
	aud := gateway.Principal{Partner: &gateway.Partner{ID: "auditor", Roles: []contracts.Role{contracts.RoleAuditor}}}
	for _, tt := range []struct {
		name        string
		p           gateway.Principal
		caller, kid string
		code        contracts.Code
	}{
		{"auditor", aud, "320404", "320404-b", contracts.CodeForbidden},
		{"another caller's key", f.ops, "330702", "320404-b", contracts.CodeNotFound},
		{"no such key", f.ops, "320404", "nope", contracts.CodeNotFound},
		{"malformed id", f.ops, "320404", "../x", contracts.CodeNotFound},
		{"last key", f.ops, "330702", "330702", contracts.CodeValidationFailed},
	} {
		if _, err := f.admin.RevokeKey(t.Context(), tt.p, tt.caller, tt.kid); gateway.CodeOf(err) != tt.code {
			t.Errorf("%s: got %v, want %s", tt.name, err, tt.code)
		}
	}
	if len(f.ev.recs) != 0 {
		t.Fatalf("refusals recorded %d records", len(f.ev.recs))
	}
	info, err := f.admin.RevokeKey(t.Context(), f.ops, "320404", "320404-b")
	if err != nil || info.KeyID != "320404-b" {
		t.Fatalf("RevokeKey: %+v %v", info, err)
	}
	if _, err := f.k.VerifyToken(tok); !errors.Is(err, keyring.ErrUnknownKey) {
		t.Errorf("a token of the revoked key: got %v, want refused", err)
	}
	if len(f.ev.recs) != 1 || f.ev.recs[0].Event != contracts.EventAdminKeyRevoked || f.ev.recs[0].Partner != "320404" || f.ev.recs[0].JTI != "jti-ops" {
		t.Errorf("records: %+v", f.ev.recs)
	}
	// Now 320404 has one key left: it is kept.
	if _, err := f.admin.RevokeKey(t.Context(), f.ops, "320404", "320404"); gateway.CodeOf(err) != contracts.CodeValidationFailed {
		t.Errorf("the last key: got %v, want validation_failed", err)
	}
	// Evidence down: nothing is revoked.
	f.ev.fail = true
	if err := f.k.AddKey("320404", "320404-c", newKey(t).Public()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.RevokeKey(t.Context(), f.ops, "320404", "320404-c"); gateway.CodeOf(err) != contracts.CodeInternal {
		t.Errorf("evidence down: got %v, want internal", err)
	}
	if _, ok := f.k.Key("320404", "320404-c"); !ok {
		t.Error("evidence down: the key was revoked without its record")
	}
}

// TestAdminListKeys: operators and auditors see the keys in force, the
// gateway's first; others are refused.
func TestAdminListKeys(t *testing.T) {
	f := newAdminFixture(t)
	l, err := f.admin.ListKeys(t.Context(), f.ops)
	if err != nil || len(l.Gateway) != 1 || !l.Gateway[0].Current || len(l.Callers) != len(callers)+1 {
		t.Fatalf("ListKeys: %+v %v", l, err)
	}
	aud := gateway.Principal{Partner: &gateway.Partner{ID: "auditor", Roles: []contracts.Role{contracts.RoleAuditor}}}
	if _, err := f.admin.ListKeys(t.Context(), aud); err != nil {
		t.Errorf("auditor: %v", err)
	}
	win := gateway.Principal{Partner: &gateway.Partner{ID: "320404", Roles: []contracts.Role{contracts.RoleWindow}}}
	if _, err := f.admin.ListKeys(t.Context(), win); gateway.CodeOf(err) != contracts.CodeForbidden {
		t.Errorf("window: got %v, want forbidden", err)
	}
}
