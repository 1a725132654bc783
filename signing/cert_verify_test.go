package signing

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestVerifyChain checks chains to configured CAs and validity periods:
// a leaf of the CA verifies while valid, and fails expired, not yet
// valid, issued by another CA, or with no CA configured.
func TestVerifyChain(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	ca := func(name string) (*Certificate, *PrivateKey) {
		k := newKey(t)
		der, err := CreateCertificate(CertificateRequest{CommonName: name, IsCA: true, NotBefore: now.AddDate(-1, 0, 0), Validity: 10 * 365 * 24 * time.Hour}, k.Public(), nil, k)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, k
	}
	ca1, ca1Key := ca("CA one")
	ca2, _ := ca("CA two")
	leafKey := newKey(t)
	der, err := CreateCertificate(CertificateRequest{CommonName: "320404", NotBefore: now.AddDate(0, -1, 0), Validity: 60 * 24 * time.Hour}, leafKey.Public(), ca1, ca1Key)
	if err != nil {
		t.Fatal(err)
	}
	bundle := append(MarshalCertificatePEM(ca2.Raw), MarshalCertificatePEM(ca1.Raw)...)
	roots, err := ParseCertificatesPEM(append([]byte("junk\n"), bundle...))
	if err != nil || len(roots) != 2 {
		t.Fatalf("bundle: %d certificates, %v", len(roots), err)
	}
	leaf, err := ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		roots []*Certificate
		at    time.Time
		want  string // "" = valid
	}{
		{"valid under its CA", roots, now, ""},
		{"expired", roots, now.AddDate(0, 2, 0), "expired"},
		{"not yet valid", roots, now.AddDate(0, -2, 0), "not valid before"},
		{"other CA", []*Certificate{ca2}, now, "does not chain"},
		{"no CA", nil, now, "no CA"},
	}
	for _, tt := range tests {
		err := leaf.VerifyChain(nil, tt.roots, tt.at)
		if verr := leaf.ValidAt(tt.at); tt.want == "expired" || tt.want == "not valid before" {
			if verr == nil || !strings.Contains(verr.Error(), tt.want) {
				t.Errorf("%s: ValidAt: got %v, want %q", tt.name, verr, tt.want)
			}
		}
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: got %v, want valid", tt.name, err)
		case tt.want != "" && err == nil:
			t.Errorf("%s: verified, want an error", tt.name)
		}
		if tt.want == "" && leaf.ValidAt(tt.at) != nil {
			t.Errorf("%s: ValidAt refused", tt.name)
		}
	}
	if _, err := ParseCertificatesPEM([]byte("no pem here")); !errors.Is(err, ErrNoPEM) {
		t.Errorf("empty bundle: got %v, want ErrNoPEM", err)
	}
}
