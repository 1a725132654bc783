package signing

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ToLower(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// forEachEngine runs f once per registered engine.
func forEachEngine(t *testing.T, f func(t *testing.T, e *Engine)) {
	t.Helper()
	if len(Engines()) < 2 {
		t.Fatalf("got %d engines, want both emmansun and tjfoc", len(Engines()))
	}
	for _, e := range Engines() {
		t.Run(e.Name(), func(t *testing.T) { f(t, e) })
	}
}

func TestSM3Vectors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"abc", "abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"},
		{"abcd x16", strings.Repeat("abcd", 16), "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"},
	}
	forEachEngine(t, func(t *testing.T, e *Engine) {
		for _, tt := range tests {
			if got := hex.EncodeToString(e.SM3([]byte(tt.in))); got != tt.want {
				t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
			}
			// The same digest written in odd-sized pieces.
			h := e.NewSM3()
			for i := 0; i < len(tt.in); i += 7 {
				h.Write([]byte(tt.in[i:min(i+7, len(tt.in))]))
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != tt.want {
				t.Errorf("%s streamed: got %s, want %s", tt.name, got, tt.want)
			}
		}
	})
}

// GB/T 32918.5-2017 Annex A.
const (
	annexD = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"
	annexK = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21"
	annexR = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
	annexS = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
	annexZ = "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"
	annexM = "message digest"
)

func annexKey(t testing.TB) *PrivateKey {
	t.Helper()
	k, err := NewPrivateKey(mustHex(t, annexD))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func annexSig(t testing.TB) Signature {
	t.Helper()
	s, err := ParseRawSignature(append(mustHex(t, annexR), mustHex(t, annexS)...))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAnnexAZValue(t *testing.T) {
	k := annexKey(t)
	if got, want := k.Public().Z(), mustHex(t, annexZ); !bytes.Equal(got, want) {
		t.Fatalf("Z: got %x, want %x", got, want)
	}
}

func TestAnnexASignatureVerifies(t *testing.T) {
	pub := annexKey(t).Public()
	sig := annexSig(t)
	forEachEngine(t, func(t *testing.T, e *Engine) {
		if err := e.Verify(pub, []byte(annexM), sig.DER()); err != nil {
			t.Fatalf("Annex A signature: got %v, want valid", err)
		}
		// Flip every bit of M, then one bit in each byte of r and of s.
		for i := range len(annexM) * 8 {
			m := []byte(annexM)
			m[i/8] ^= 1 << (i % 8)
			if err := e.Verify(pub, m, sig.DER()); err == nil {
				t.Fatalf("M with bit %d flipped verified", i)
			}
		}
		for i := range 32 {
			raw := sig.Raw()
			raw[i] ^= 0x01
			if bad, err := ParseRawSignature(raw); err == nil && e.Verify(pub, []byte(annexM), bad.DER()) == nil {
				t.Fatalf("r with byte %d flipped verified", i)
			}
			raw = sig.Raw()
			raw[32+i] ^= 0x80
			if bad, err := ParseRawSignature(raw); err == nil && e.Verify(pub, []byte(annexM), bad.DER()) == nil {
				t.Fatalf("s with byte %d flipped verified", i)
			}
		}
	})
}

// fixedNonce yields bytes that make tjfoc's nonce derivation produce k.
func fixedNonce(t *testing.T, k string) *bytes.Reader {
	kb := mustHex(t, k)
	// k = (b mod (n-1)) + 1, so b = k-1, left-padded to 40 bytes.
	kb[len(kb)-1]-- // annexK ends in 0x21: no borrow
	return bytes.NewReader(append(make([]byte, 8), kb...))
}

// TestTjfocSignDigestReproducesAnnexA pins the hand-written digest signing of
// the tjfoc engine to the standard's worked example.
func TestTjfocSignDigestReproducesAnnexA(t *testing.T) {
	k := annexKey(t)
	e := &Engine{name: "tjfoc-fixed-k", impl: tjfocEngine{}, Rand: fixedNonce(t, annexK)}
	der, err := e.Sign(k, []byte(annexM))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseSignature(der)
	if err != nil {
		t.Fatal(err)
	}
	if want := annexSig(t); got.R.Cmp(want.R) != 0 || got.S.Cmp(want.S) != 0 {
		t.Fatalf("got (r, s) = (%X, %X), want (%s, %s)", got.R, got.S, annexR, annexS)
	}
}
