package signing

import (
	"bytes"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func FuzzParsePrivateKeyPEM(f *testing.F) {
	k, _ := GenerateKey(nil)
	plain, _ := MarshalPrivateKeyPEM(k, nil)
	enc, _ := MarshalPrivateKeyPEM(k, []byte("pw"))
	f.Add(plain, []byte(nil))
	f.Add(enc, []byte("pw"))
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), []byte(nil))
	f.Add([]byte("garbage"), []byte(nil))
	f.Fuzz(func(t *testing.T, data, password []byte) {
		key, err := ParsePrivateKeyPEM(data, password)
		if err != nil {
			return
		}
		// Whatever parses must re-encode and parse to the same key.
		again, err := MarshalPrivateKeyPEM(key, nil)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParsePrivateKeyPEM(again, nil)
		if err != nil || !back.Public().Equal(key.Public()) {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

func FuzzParsePublicKeyPEM(f *testing.F) {
	k, _ := GenerateKey(nil)
	pub, _ := MarshalPublicKeyPEM(k.Public())
	cert, _ := CreateCertificate(CertificateRequest{CommonName: "fuzz"}, k.Public(), nil, k)
	f.Add(pub)
	f.Add(MarshalCertificatePEM(cert))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ParsePublicKeyPEM(data)
		if err != nil {
			return
		}
		again, err := MarshalPublicKeyPEM(key)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParsePublicKeyPEM(again)
		if err != nil || !back.Equal(key) {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

func FuzzParseSignature(f *testing.F) {
	k, _ := GenerateKey(nil)
	sig, _ := Default.Sign(k, []byte("m"))
	f.Add(sig)
	f.Add([]byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01})
	f.Add([]byte{0x30, 0x80})
	pub := k.Public()
	f.Fuzz(func(t *testing.T, der []byte) {
		s, err := ParseSignature(der)
		if err != nil {
			// A malformed signature never verifies, with any engine.
			for _, e := range Engines() {
				if e.Verify(pub, []byte("m"), der) == nil {
					t.Fatalf("%s verified a malformed signature", e.Name())
				}
			}
			return
		}
		// Strict DER: re-encoding gives the same bytes.
		if !bytes.Equal(s.DER(), der) {
			t.Fatalf("non-canonical DER accepted: %x", der)
		}
		r, err := ParseRawSignature(s.Raw())
		if err != nil || r.R.Cmp(s.R) != 0 || r.S.Cmp(s.S) != 0 {
			t.Fatalf("raw round trip: %v", err)
		}
	})
}

// FuzzParseToken feeds arbitrary strings to the caller-token parser with a
// fixed key (so checked-in tokens verify) and a fixed clock. A refusal
// wraps ErrTokenExpired or ErrTokenInvalid; an accepted token has kid, iss
// and jti, names the gateway's audience, has not expired and lives no
// longer than the policy allows.
func FuzzParseToken(f *testing.F) {
	k := annexKey(f)
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tok, _ := IssueToken(NewSigner(k, nil), TokenRequest{KeyID: "k", Issuer: "i", Audience: "a", TTL: time.Minute, ID: "j", Now: now})
	long, _ := IssueToken(NewSigner(k, nil), TokenRequest{KeyID: "k", Issuer: "i", Audience: "a", TTL: time.Hour, ID: "j", Now: now})
	f.Add(tok)
	f.Add(long)
	f.Add("e30.e30.")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiJpIiwiYXVkIjoiYSJ9.")
	lookup := func(kid, iss string) (*PublicKey, error) { return k.Public(), nil }
	policy := TokenPolicy{Audience: "a", Now: func() time.Time { return now }}
	f.Fuzz(func(t *testing.T, s string) {
		vt, err := ParseToken(s, lookup, policy)
		if err != nil {
			if !errors.Is(err, ErrTokenInvalid) && !errors.Is(err, ErrTokenExpired) {
				t.Fatalf("refusal %v wraps neither ErrTokenInvalid nor ErrTokenExpired", err)
			}
			return
		}
		c := vt.Claims
		if c.ID == "" || c.Issuer == "" || vt.KeyID == "" || c.IssuedAt == nil || c.ExpiresAt == nil {
			t.Fatalf("accepted a token without jti, iss, kid, iat or exp: %+v", vt)
		}
		if !slices.Contains([]string(c.Audience), "a") {
			t.Fatalf("accepted a token for audience %v", c.Audience)
		}
		if !c.ExpiresAt.After(now) || c.ExpiresAt.Sub(c.IssuedAt.Time) > 10*time.Minute {
			t.Fatalf("accepted a token living from %s to %s at %s", c.IssuedAt, c.ExpiresAt, now)
		}
	})
}

// FuzzParseCertificate feeds arbitrary DER to the certificate parser. A
// refusal is ErrNotSM2 or a "signing: " error; a certificate that parses
// carries exactly the bytes given, an SM2 key that round-trips through
// SPKI, reads back the same from its PEM, and checking its signature
// (against itself) answers without panicking.
func FuzzParseCertificate(f *testing.F) {
	k := annexKey(f)
	self, _ := CreateCertificate(CertificateRequest{CommonName: "fuzz", IsCA: true,
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, k.Public(), nil, k)
	f.Add(self)
	f.Add(self[:len(self)-1])
	f.Add(append(append([]byte{}, self...), 0))
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		c, err := ParseCertificate(der)
		if err != nil {
			if !errors.Is(err, ErrNotSM2) && !strings.HasPrefix(err.Error(), "signing: ") {
				t.Fatalf("refusal %v is not the signing package's", err)
			}
			return
		}
		if !bytes.Equal(c.Raw, der) {
			t.Fatalf("certificate of %d bytes keeps %d", len(der), len(c.Raw))
		}
		spki, err := MarshalPublicKeyPEM(c.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := ParsePublicKeyPEM(spki); err != nil || !back.Equal(c.PublicKey) {
			t.Fatalf("subject key does not round-trip: %v", err)
		}
		p, err := ParseCertificatePEM(MarshalCertificatePEM(der))
		if err != nil || !p.PublicKey.Equal(c.PublicKey) || p.SerialNumber.Cmp(c.SerialNumber) != 0 {
			t.Fatalf("PEM of the certificate reads back differently: %v", err)
		}
		_ = c.CheckSignatureFrom(c)
	})
}

// FuzzParsePublicKeyDER feeds arbitrary DER to the SPKI parser. What parses
// is a point that re-encodes to an equal key, whose uncompressed bytes make
// the same key, and over which no engine verifies a signature made by
// another key.
func FuzzParsePublicKeyDER(f *testing.F) {
	k := annexKey(f)
	pemKey, _ := MarshalPublicKeyPEM(k.Public())
	b, _ := pem.Decode(pemKey)
	f.Add(b.Bytes)
	f.Add(b.Bytes[:len(b.Bytes)-1])
	f.Add([]byte{0x30, 0x00})
	other, _ := GenerateKey(nil)
	sig, _ := Default.Sign(other, []byte("m"))
	f.Fuzz(func(t *testing.T, der []byte) {
		pub, err := ParsePublicKeyDER(der)
		if err != nil {
			if !errors.Is(err, ErrNotSM2) && !strings.HasPrefix(err.Error(), "signing: ") {
				t.Fatalf("refusal %v is not the signing package's", err)
			}
			return
		}
		again, err := MarshalPublicKeyPEM(pub)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := ParsePublicKeyPEM(again); err != nil || !back.Equal(pub) {
			t.Fatalf("re-parse: %v", err)
		}
		if raw, err := NewPublicKey(pub.Bytes()); err != nil || !raw.Equal(pub) {
			t.Fatalf("uncompressed point does not make the same key: %v", err)
		}
		if !pub.Equal(other.Public()) {
			for _, e := range Engines() {
				if e.Verify(pub, []byte("m"), sig) == nil {
					t.Fatalf("%s verified another key's signature", e.Name())
				}
			}
		}
	})
}

// FuzzParseRawSignature feeds arbitrary bytes to the r ‖ s parser used for
// JWT signatures: only 64 bytes with 0 < r, s < n parse, and what parses
// gives back the same bytes and a DER form that parses to the same r, s.
func FuzzParseRawSignature(f *testing.F) {
	f.Add(annexSig(f).Raw())
	f.Add(make([]byte, 64))
	f.Add(bytes.Repeat([]byte{0xff}, 64))
	f.Add(append(curveN.FillBytes(make([]byte, 32)), annexSig(f).Raw()[32:]...))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := ParseRawSignature(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformedSignature) {
				t.Fatalf("refusal %v is not ErrMalformedSignature", err)
			}
			return
		}
		if !bytes.Equal(s.Raw(), raw) {
			t.Fatalf("raw %x comes back as %x", raw, s.Raw())
		}
		d, err := ParseSignature(s.DER())
		if err != nil || d.R.Cmp(s.R) != 0 || d.S.Cmp(s.S) != 0 {
			t.Fatalf("DER round trip of %x: %v", raw, err)
		}
	})
}
