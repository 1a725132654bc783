package signing

import (
	"strings"
	"testing"
)

// TestEngineCountsOperations: every way of signing and verifying through
// an engine is counted once, a malformed signature is not, and Sub gives
// the operations between two reads.
func TestEngineCountsOperations(t *testing.T) {
	for _, e := range Engines() {
		t.Run(e.Name(), func(t *testing.T) {
			k := newKey(t)
			msg := []byte("计数")
			steps := []struct {
				name string
				do   func() error
				want Ops
			}{
				{"Engine.Sign", func() error { _, err := e.Sign(k, msg); return err }, Ops{Signs: 1}},
				{"Engine.SignReader", func() error { _, err := e.SignReader(k, strings.NewReader("x")); return err }, Ops{Signs: 1}},
				{"KeySigner via Sign", func() error { _, err := Sign(NewSigner(k, e), e, msg); return err }, Ops{Signs: 1}},
				{"Verify good", func() error {
					sig, _ := e.Sign(k, msg)
					return e.Verify(k.Public(), msg, sig)
				}, Ops{Signs: 1, Verifies: 1}},
				{"Verify wrong message", func() error {
					sig, _ := e.Sign(k, msg)
					if e.Verify(k.Public(), []byte("别的"), sig) == nil {
						t.Error("a signature of another message verified")
					}
					return nil
				}, Ops{Signs: 1, Verifies: 1}},
				{"Verify malformed", func() error {
					if e.Verify(k.Public(), msg, []byte{0x30, 0x00}) == nil {
						t.Error("a malformed signature verified")
					}
					return nil
				}, Ops{}},
				{"JWT sign and verify", func() error {
					m := JWTMethod(e)
					sig, err := m.Sign("header.claims", k)
					if err != nil {
						return err
					}
					return m.Verify("header.claims", sig, k.Public())
				}, Ops{Signs: 1, Verifies: 1}},
			}
			for _, s := range steps {
				before := e.Ops()
				if err := s.do(); err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				if got := e.Ops().Sub(before); got != s.want {
					t.Errorf("%s counted %+v, want %+v", s.name, got, s.want)
				}
			}
		})
	}
}
