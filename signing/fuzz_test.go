package signing

import (
	"bytes"
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

func FuzzParseToken(f *testing.F) {
	k, _ := GenerateKey(nil)
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tok, _ := IssueToken(NewSigner(k, nil), TokenRequest{KeyID: "k", Issuer: "i", Audience: "a", TTL: time.Minute, ID: "j", Now: now})
	f.Add(tok)
	f.Add("e30.e30.")
	f.Add("a.b.c")
	lookup := func(kid, iss string) (*PublicKey, error) { return k.Public(), nil }
	policy := TokenPolicy{Audience: "a", Now: func() time.Time { return now }}
	f.Fuzz(func(t *testing.T, s string) {
		vt, err := ParseToken(s, lookup, policy)
		if err != nil {
			return
		}
		if vt.Claims.ID == "" || vt.Claims.Issuer == "" || vt.KeyID == "" {
			t.Fatalf("accepted a token without jti, iss or kid: %+v", vt)
		}
	})
}
