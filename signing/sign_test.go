package signing

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newKey(t testing.TB) *PrivateKey {
	t.Helper()
	k, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignVerifyCrossEngine(t *testing.T) {
	key := newKey(t)
	msgs := [][]byte{nil, []byte("{}"), bytes.Repeat([]byte("案件"), 10_000)}
	for _, signer := range Engines() {
		for _, verifier := range Engines() {
			t.Run(signer.Name()+"→"+verifier.Name(), func(t *testing.T) {
				for _, m := range msgs {
					sig, err := signer.Sign(key, m)
					if err != nil {
						t.Fatal(err)
					}
					if err := verifier.Verify(key.Public(), m, sig); err != nil {
						t.Fatalf("len %d: got %v, want valid", len(m), err)
					}
					changed := append(append([]byte(nil), m...), 0)
					if err := verifier.Verify(key.Public(), changed, sig); !errors.Is(err, ErrVerification) {
						t.Fatalf("changed message: got %v, want ErrVerification", err)
					}
					other := newKey(t)
					if err := verifier.Verify(other.Public(), m, sig); !errors.Is(err, ErrVerification) {
						t.Fatalf("other key: got %v, want ErrVerification", err)
					}
				}
			})
		}
	}
}

func TestSignerInterfaceMatchesEngine(t *testing.T) {
	key := newKey(t)
	forEachEngine(t, func(t *testing.T, e *Engine) {
		s := NewSigner(key, e)
		msg := []byte("status update")
		sig, err := Sign(s, e, msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(key.Public(), msg, sig); err != nil {
			t.Fatalf("got %v, want valid", err)
		}
		sig2, err := SignReader(s, e, bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Verify(key.Public(), msg, sig2); err != nil {
			t.Fatalf("SignReader: got %v, want valid", err)
		}
		if _, err := s.SignDigest([]byte("short")); err == nil {
			t.Fatal("a 5-byte digest was signed")
		}
	})
}

// patternReader yields n deterministic bytes without holding them.
type patternReader struct{ left, i int }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := min(len(b), p.left)
	for j := range n {
		b[j] = byte(p.i*31 + p.i>>8)
		p.i++
	}
	p.left -= n
	return n, nil
}

func TestStreamingDigestMatchesBytes(t *testing.T) {
	key := newKey(t)
	forEachEngine(t, func(t *testing.T, e *Engine) {
		for _, n := range []int{0, 1, digestBufSize - 1, digestBufSize, 3*digestBufSize + 17} {
			all, _ := io.ReadAll(&patternReader{left: n})
			got, err := e.Digest(key.Public(), &patternReader{left: n})
			if err != nil {
				t.Fatal(err)
			}
			if want := e.DigestBytes(key.Public(), all); !bytes.Equal(got, want) {
				t.Fatalf("n=%d: streamed digest %x, want %x", n, got, want)
			}
		}
	})
}

// TestSign100MiBStreams signs and verifies a 100 MiB body read from a stream
// and checks that the live heap never came near the body's size. (Total
// allocation is no measure here: tjfoc's SM3 copies every chunk it is given
// into fresh garbage, which the collector frees.)
func TestSign100MiBStreams(t *testing.T) {
	const size = 100 << 20
	key := newKey(t)
	forEachEngine(t, func(t *testing.T, e *Engine) {
		peak := watchLiveHeap(t)
		sig, err := e.SignReader(key, &patternReader{left: size})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.VerifyReader(key.Public(), &patternReader{left: size}, sig); err != nil {
			t.Fatalf("got %v, want valid", err)
		}
		if p := peak(); p > 16<<20 {
			t.Fatalf("live heap reached %d bytes while streaming 100 MiB; the body must not be held", p)
		}
		if err := e.VerifyReader(key.Public(), &patternReader{left: size - 1}, sig); !errors.Is(err, ErrVerification) {
			t.Fatalf("shorter body: got %v, want ErrVerification", err)
		}
	})
}

// watchLiveHeap samples the live heap (as of each GC, run often meanwhile)
// until the returned function is called, which reports the peak.
func watchLiveHeap(t *testing.T) func() uint64 {
	old := debug.SetGCPercent(5)
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	finish := func() uint64 {
		once.Do(func() { close(stop); <-done; debug.SetGCPercent(old) })
		return peak.Load()
	}
	t.Cleanup(func() { finish() })
	return finish
}

func TestParseSignature(t *testing.T) {
	good := annexSig(t).DER()
	n := curveN.Bytes()
	tests := []struct {
		name string
		der  []byte
		ok   bool
	}{
		{"annex A", good, true},
		{"empty", nil, false},
		{"trailing byte", append(append([]byte(nil), good...), 0), false},
		// encoding/asn1 reads this; found by FuzzParseSignature.
		{"byte inside the sequence", append(append([]byte{0x30, good[1] + 1}, good[2:]...), 0), false},
		{"truncated", good[:len(good)-1], false},
		{"not a sequence", []byte{0x04, 0x01, 0x00}, false},
		{"zero r", Signature{R: bigZero(), S: annexSig(t).S}.mustDER(), false},
		{"r equal n", Signature{R: bigFrom(n), S: annexSig(t).S}.mustDER(), false},
		{"negative s", Signature{R: annexSig(t).R, S: bigFrom(n).Neg(bigFrom(n))}.mustDER(), false},
	}
	for _, tt := range tests {
		_, err := ParseSignature(tt.der)
		if got := err == nil; got != tt.ok {
			t.Errorf("%s: got ok=%v (%v), want %v", tt.name, got, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrMalformedSignature) {
			t.Errorf("%s: got %v, want ErrMalformedSignature", tt.name, err)
		}
	}
	if _, err := ParseRawSignature(make([]byte, 63)); err == nil {
		t.Error("63-byte raw signature parsed")
	}
	key := annexKey(t)
	forEachEngine(t, func(t *testing.T, e *Engine) {
		if err := e.Verify(key.Public(), []byte(annexM), []byte("garbage")); !errors.Is(err, ErrMalformedSignature) {
			t.Fatalf("garbage: got %v, want ErrMalformedSignature", err)
		}
	})
}
