package signing

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

func TestPrivateKeyPEMRoundTrip(t *testing.T) {
	key := newKey(t)
	tests := []struct {
		name     string
		password string
		header   string
	}{
		{"plain", "", "-----BEGIN PRIVATE KEY-----"},
		{"encrypted", "correct horse", "-----BEGIN ENCRYPTED PRIVATE KEY-----"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := MarshalPrivateKeyPEM(key, []byte(tt.password))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(data), tt.header) {
				t.Fatalf("got %q, want prefix %q", firstLine(data), tt.header)
			}
			got, err := ParsePrivateKeyPEM(data, []byte(tt.password))
			if err != nil {
				t.Fatal(err)
			}
			if !got.Public().Equal(key.Public()) || got.d().Cmp(key.d()) != 0 {
				t.Fatal("round trip changed the key")
			}
			if tt.password != "" {
				if _, err := ParsePrivateKeyPEM(data, nil); !errors.Is(err, ErrPasswordRequired) {
					t.Fatalf("no password: got %v, want ErrPasswordRequired", err)
				}
				if _, err := ParsePrivateKeyPEM(data, []byte("wrong")); err == nil {
					t.Fatal("wrong password: got a key")
				}
			}
		})
	}
}

func TestPublicKeyPEMRoundTrip(t *testing.T) {
	key := newKey(t)
	data, err := MarshalPublicKeyPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePublicKeyPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(key.Public()) {
		t.Fatal("round trip changed the key")
	}
	raw, err := NewPublicKey(key.Public().Bytes())
	if err != nil || !raw.Equal(key.Public()) {
		t.Fatalf("uncompressed point round trip: %v", err)
	}
}

func TestKeyParsingRejects(t *testing.T) {
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(p256)
	p256Priv := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	der, _ = x509.MarshalPKIXPublicKey(&p256.PublicKey)
	p256Pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})

	tests := []struct {
		name  string
		parse func() error
		want  error
	}{
		{"empty private", func() error { _, err := ParsePrivateKeyPEM(nil, nil); return err }, ErrNoPEM},
		{"public as private", func() error { _, err := ParsePrivateKeyPEM(p256Pub, nil); return err }, ErrNoPEM},
		{"P-256 private", func() error { _, err := ParsePrivateKeyPEM(p256Priv, nil); return err }, ErrNotSM2},
		{"P-256 public", func() error { _, err := ParsePublicKeyPEM(p256Pub); return err }, ErrNotSM2},
		{"garbage public", func() error {
			_, err := ParsePublicKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}))
			return err
		}, nil},
		{"point off curve", func() error {
			b := newKey(t).Public().Bytes()
			b[64] ^= 1
			_, err := NewPublicKey(b)
			return err
		}, nil},
		{"zero scalar", func() error { _, err := NewPrivateKey(make([]byte, 32)); return err }, nil},
	}
	for _, tt := range tests {
		err := tt.parse()
		if err == nil {
			t.Errorf("%s: got no error", tt.name)
			continue
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestCertificateChain(t *testing.T) {
	caKey, leafKey := newKey(t), newKey(t)
	caDER, err := CreateCertificate(CertificateRequest{CommonName: "Tongban test CA", IsCA: true}, caKey.Public(), nil, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafDER, err := CreateCertificate(CertificateRequest{CommonName: "320404", Organization: "钟楼区"}, leafKey.Public(), ca, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ParseCertificatePEM(MarshalCertificatePEM(leafDER))
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.PublicKey.Equal(leafKey.Public()) {
		t.Fatal("leaf certificate carries the wrong key")
	}
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		t.Fatalf("leaf from CA: got %v, want valid", err)
	}
	if err := ca.CheckSignatureFrom(leaf); err == nil {
		t.Fatal("CA from leaf verified")
	}
	pub, err := ParsePublicKeyPEM(MarshalCertificatePEM(leafDER))
	if err != nil || !pub.Equal(leafKey.Public()) {
		t.Fatalf("public key from certificate PEM: %v", err)
	}
}

func firstLine(b []byte) string { return strings.SplitN(string(b), "\n", 2)[0] }
