package signing

import (
	"testing"
	"time"
)

// The README's signing table comes from:
//
//	go test ./signing -run '^$' -bench . -benchmem
func BenchmarkEngines(b *testing.B) {
	key, err := GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 1024)
	big := make([]byte, 1<<20)
	for _, e := range Engines() {
		sig, _ := e.Sign(key, msg)
		b.Run(e.Name()+"/sign-1KiB", func(b *testing.B) {
			for b.Loop() {
				if _, err := e.Sign(key, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(e.Name()+"/verify-1KiB", func(b *testing.B) {
			for b.Loop() {
				if err := e.Verify(key.Public(), msg, sig); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(e.Name()+"/sm3-1KiB", func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				e.SM3(msg)
			}
		})
		b.Run(e.Name()+"/sm3-1MiB", func(b *testing.B) {
			b.SetBytes(int64(len(big)))
			for b.Loop() {
				e.SM3(big)
			}
		})
		b.Run(e.Name()+"/jwt-sign", func(b *testing.B) {
			s := NewSigner(key, e)
			for b.Loop() {
				if _, err := JWTMethod(e).Sign("eyJhbGciOiJTTTIifQ.eyJpc3MiOiIzMjA0MDQifQ", s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseToken(b *testing.B) {
	key, _ := GenerateKey(nil)
	now := time.Now()
	tok, err := IssueToken(NewSigner(key, nil), TokenRequest{KeyID: "k", Issuer: "i", Audience: "a", TTL: time.Minute, ID: "j", Now: now})
	if err != nil {
		b.Fatal(err)
	}
	lookup := func(kid, iss string) (*PublicKey, error) { return key.Public(), nil }
	for b.Loop() {
		if _, err := ParseToken(tok, lookup, TokenPolicy{Audience: "a"}); err != nil {
			b.Fatal(err)
		}
	}
}
