package keyring_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/signing"
)

// TestLoadKeyFile loads callers' keys given as SPKI keys and as SM2
// certificates: a certificate must be valid at the time given and, with
// CAs, chain to one of them (through intermediates in the same file); a
// bare key has nothing to check.
func TestLoadKeyFile(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	issue := func(req signing.CertificateRequest, subject *signing.PrivateKey, issuer *signing.Certificate, issuerKey *signing.PrivateKey) *signing.Certificate {
		if req.NotBefore.IsZero() {
			req.NotBefore, req.Validity = now.AddDate(-1, 0, 0), 5*365*24*time.Hour
		}
		der, err := signing.CreateCertificate(req, subject.Public(), issuer, issuerKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := signing.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	rootKey, interKey, leafKey, otherKey := newKey(t), newKey(t), newKey(t), newKey(t)
	root := issue(signing.CertificateRequest{CommonName: "root", IsCA: true}, rootKey, nil, rootKey)
	inter := issue(signing.CertificateRequest{CommonName: "intermediate", IsCA: true}, interKey, root, rootKey)
	other := issue(signing.CertificateRequest{CommonName: "other", IsCA: true}, otherKey, nil, otherKey)
	leaf := issue(signing.CertificateRequest{CommonName: "330702"}, leafKey, inter, interKey)
	expired := issue(signing.CertificateRequest{CommonName: "330702", NotBefore: now.AddDate(0, -2, 0), Validity: 30 * 24 * time.Hour}, leafKey, root, rootKey)
	write := func(name string, certs ...*signing.Certificate) string {
		var pem []byte
		for _, c := range certs {
			pem = append(pem, signing.MarshalCertificatePEM(c.Raw)...)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	spki, err := signing.MarshalPublicKeyPEM(leafKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	bare := filepath.Join(dir, "bare.pub")
	if err := os.WriteFile(bare, spki, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		cas  []*signing.Certificate
		want string // "" = loads
	}{
		{"bare key, no CAs", bare, nil, ""},
		{"bare key, CAs", bare, []*signing.Certificate{root}, ""},
		{"leaf with its intermediate, root CA", write("chain.crt", leaf, inter), []*signing.Certificate{root}, ""},
		{"leaf without its intermediate", write("leaf.crt", leaf), []*signing.Certificate{root}, "does not chain to a configured CA"},
		{"leaf, no CAs: period only", write("leaf2.crt", leaf), nil, ""},
		{"leaf of another CA", write("chain2.crt", leaf, inter), []*signing.Certificate{other}, "does not chain to a configured CA"},
		{"expired, no CAs", write("old.crt", expired), nil, "expired at"},
		{"expired, its CA", write("old2.crt", expired), []*signing.Certificate{root}, "expired at"},
	}
	for _, tt := range tests {
		pub, cert, err := keyring.LoadKeyFile(tt.path, tt.cas, now)
		if tt.want != "" {
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("%s: got %v, want %q naming the file", tt.name, err, tt.want)
			}
			continue
		}
		if err != nil || !pub.Equal(leafKey.Public()) {
			t.Errorf("%s: %v", tt.name, err)
		}
		if (cert != nil) != (tt.path != bare) {
			t.Errorf("%s: certificate %v", tt.name, cert)
		}
	}
	if _, err := keyring.LoadCAFile(write("cas.crt", root, other), now); err != nil {
		t.Errorf("LoadCAFile: %v", err)
	}
	if _, err := keyring.LoadCAFile(bare, now); err == nil {
		t.Error("LoadCAFile of a bare key: accepted")
	}
	if _, err := keyring.LoadCAFile(write("cas2.crt", root), now.AddDate(10, 0, 0)); err == nil || !strings.Contains(err.Error(), "expired at") {
		t.Errorf("LoadCAFile of an expired CA: %v", err)
	}
}
