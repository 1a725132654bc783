package signing

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func newSealer(t testing.TB, kf *KeyFile) *Sealer {
	t.Helper()
	s, err := kf.Sealer()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealRoundTripAndAAD(t *testing.T) {
	kf, err := NewKeyFile("2026-11", t0)
	if err != nil {
		t.Fatal(err)
	}
	s := newSealer(t, kf)
	msg := []byte(`{"holder":"110101199003070015"}`)
	id, ct, err := s.Seal(msg, []byte("exchange|a|1"))
	if err != nil {
		t.Fatal(err)
	}
	if id != "2026-11" {
		t.Fatalf("key id %q, want the current one", id)
	}
	if bytes.Contains(ct, msg) || bytes.Contains(ct, []byte("110101199003070015")) {
		t.Fatal("ciphertext holds the plaintext")
	}
	_, ct2, _ := s.Seal(msg, []byte("exchange|a|1"))
	if bytes.Equal(ct, ct2) {
		t.Fatal("two seals of the same plaintext are equal: nonce reused")
	}
	tests := []struct {
		name    string
		keyID   string
		ct      []byte
		aad     string
		wantErr error
	}{
		{"same aad", id, ct, "exchange|a|1", nil},
		{"other row's aad", id, ct, "exchange|a|2", ErrOpen},
		{"no aad", id, ct, "", ErrOpen},
		{"flipped bit", id, flip(ct, len(ct)-1), "exchange|a|1", ErrOpen},
		{"truncated", id, ct[:10], "exchange|a|1", ErrOpen},
		{"unknown key", "2020-01", ct, "exchange|a|1", ErrUnknownDataKey},
	}
	for _, tt := range tests {
		for _, inPlace := range []bool{false, true} {
			name := tt.name
			if inPlace {
				name += " in place"
			}
			t.Run(name, func(t *testing.T) {
				ct := bytes.Clone(tt.ct)
				open := s.Open
				if inPlace {
					open = s.OpenInPlace
				}
				pt, err := open(tt.keyID, ct, []byte(tt.aad))
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Open: %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr != nil {
					return
				}
				if !bytes.Equal(pt, msg) {
					t.Fatalf("Open = %q, want %q", pt, msg)
				}
				// In place, the plaintext is where the ciphertext was,
				// after the nonce; else it is a copy of its own.
				if shared := &pt[0] == &ct[len(ct)-len(msg)-16]; shared != inPlace {
					t.Errorf("plaintext in the sealed bytes' memory: %v, want %v", shared, inPlace)
				}
				if !inPlace && !bytes.Equal(ct, tt.ct) {
					t.Error("Open changed the sealed bytes")
				}
			})
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

func TestRotateKeepsOldRowsAndShredDestroysThem(t *testing.T) {
	kf, err := NewKeyFile("2026-11", t0)
	if err != nil {
		t.Fatal(err)
	}
	old := newSealer(t, kf)
	oldID, oldCT, _ := old.Seal([]byte("november"), []byte("d1"))
	if err := kf.Rotate("2026-12", t0.AddDate(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if err := kf.Rotate("2026-12", t0.AddDate(0, 1, 0)); err == nil {
		t.Fatal("Rotate reused an id")
	}
	s := newSealer(t, kf)
	newID, newCT, _ := s.Seal([]byte("december"), []byte("d2"))
	if newID != "2026-12" || oldID != "2026-11" {
		t.Fatalf("key ids %q %q", oldID, newID)
	}
	if pt, err := s.Open(oldID, oldCT, []byte("d1")); err != nil || string(pt) != "november" {
		t.Fatalf("old row after rotation: %q %v", pt, err)
	}
	// Shredding before the rotation date leaves the key that retired then
	// only when the date is earlier.
	if got := kf.ShredBefore(t0.AddDate(0, 0, 29), t0); len(got) != 0 {
		t.Fatalf("shredded %v before the key retired", got)
	}
	if got := kf.ShredBefore(t0.AddDate(0, 1, 0), t0); len(got) != 1 || got[0] != "2026-11" {
		t.Fatalf("shredded %v, want [2026-11]", got)
	}
	if got := kf.ShredBefore(t0.AddDate(1, 0, 0), t0); len(got) != 0 {
		t.Fatalf("shredded %v: the current key must stay", got)
	}
	s = newSealer(t, kf)
	if _, err := s.Open(oldID, oldCT, []byte("d1")); !errors.Is(err, ErrDataKeyShredded) || !s.Shredded(oldID) {
		t.Fatalf("old row after shredding: %v, want ErrDataKeyShredded", err)
	}
	if pt, err := s.Open(newID, newCT, []byte("d2")); err != nil || string(pt) != "december" {
		t.Fatalf("current row after shredding: %q %v", pt, err)
	}
	if err := kf.Rotate("2026-11", t0); err == nil {
		t.Fatal("Rotate reused a shredded id")
	}
}

func TestKeyFileModeAndContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "datakeys.json")
	kf, err := NewKeyFile("k1", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(path, kf); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	s, err := LoadSealer(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.CurrentKey() != "k1" || s.Index("x") != s.Index("x") || s.Index("x") == s.Index("y") {
		t.Fatalf("loaded sealer: current %q", s.CurrentKey())
	}
	for _, m := range []os.FileMode{0o644, 0o604, 0o660, 0o620, 0o670} {
		if err := os.Chmod(path, m); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadSealer(path); err == nil || !strings.Contains(err.Error(), "0600") {
			t.Fatalf("a key file of mode %#o loaded: %v", m, err)
		}
	}
	for _, m := range []os.FileMode{0o400, 0o440, 0o640} {
		if err := os.Chmod(path, m); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadSealer(path); err != nil {
			t.Fatalf("a key file of mode %#o refused: %v", m, err)
		}
	}
	bad := []struct {
		name, content, want string
	}{
		{"not json", "current: k1", "data key file"},
		{"no current", `{"current":"k2","index_key":"` + kf.IndexKey + `","keys":{"k1":` + keyJSON(kf.Keys["k1"].Key) + `}}`, "current data key"},
		{"short key", `{"current":"k1","index_key":"` + kf.IndexKey + `","keys":{"k1":` + keyJSON("AAAA") + `}}`, "16 bytes"},
		{"short index", `{"current":"k1","index_key":"AAAA","keys":{"k1":` + keyJSON(kf.Keys["k1"].Key) + `}}`, "index_key"},
		{"held and shredded", `{"current":"k1","index_key":"` + kf.IndexKey + `","keys":{"k1":` + keyJSON(kf.Keys["k1"].Key) + `},"shredded":{"k1":"2026-01-01T00:00:00Z"}}`, "both held and shredded"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name)
			if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadSealer(p); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadSealer: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func keyJSON(k string) string { return `{"key":"` + k + `","created":"2026-01-01T00:00:00Z"}` }

// The README's sealing figures come from:
//
//	go test ./signing -run '^$' -bench 'Seal|Engines/emmansun/sign' -benchmem
func BenchmarkSeal(b *testing.B) {
	kf, err := NewKeyFile("k1", t0)
	if err != nil {
		b.Fatal(err)
	}
	s := newSealer(b, kf)
	aad := []byte("exchange|371523|5b0c7d0e-1f39-4b8a-9a37-2b0f5c1e9d10")
	key, err := GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	sm2 := Engines()[0]
	for _, n := range []int{1 << 10, 64 << 10} {
		msg := make([]byte, n)
		_, ct, _ := s.Seal(msg, aad)
		b.Run(sizeName(n)+"/seal", func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, _, err := s.Seal(msg, aad); err != nil {
					b.Fatal(err)
				}
			}
		})
		// The SM2 signature the gateway makes over the same body (its
		// receipt or a delivery), for comparison.
		b.Run(sizeName(n)+"/sm2-sign-"+sm2.Name(), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := sm2.Sign(key, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(sizeName(n)+"/open", func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := s.Open("k1", ct, aad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func sizeName(n int) string { return fmt.Sprintf("%dKiB", n>>10) }
