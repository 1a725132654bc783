package contracts

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestValidateUUID(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"0193a5b0-7c3e-7a1b-8f00-3a2b1c0d9e8f", true},  // v7
		{"0193A5B0-7C3E-7A1B-8F00-3A2B1C0D9E8F", true},  // upper case
		{"f47ac10b-58cc-4372-a567-0e02b2c3d479", true},  // v4
		{"6ba7b810-9dad-11d1-80b4-00c04fd430c8", true},  // v1
		{"00000000-0000-0000-0000-000000000000", false}, // nil
		{"ffffffff-ffff-ffff-ffff-ffffffffffff", false}, // max
		{"0193a5b0-7c3e-9a1b-8f00-3a2b1c0d9e8f", false}, // version 9
		{"0193a5b0-7c3e-7a1b-cf00-3a2b1c0d9e8f", false}, // variant 110x
		{"0193a5b07c3e7a1b8f003a2b1c0d9e8f", false},     // no hyphens
		{"{0193a5b0-7c3e-7a1b-8f00-3a2b1c0d9e8f}", false},
		{"urn:uuid:0193a5b0-7c3e-7a1b-8f00-3a2b1c0d9e8f", false},
		{"0193a5b0-7c3e-7a1b-8f00-3a2b1c0d9e8g", false},
		{"0193a5b0-7c3e-7a1b-8f00_3a2b1c0d9e8f", false},
		{"", false},
	}
	for _, tt := range tests {
		err := ValidateUUID(tt.in)
		if got := err == nil; got != tt.ok {
			t.Errorf("ValidateUUID(%q): got ok=%v, want %v", tt.in, got, tt.ok)
		}
		var fe *FieldError
		if err != nil && (!errors.As(err, &fe) || fe.Code != CodeInvalidExchangeID) {
			t.Errorf("ValidateUUID(%q): got %v, want a FieldError with %s", tt.in, err, CodeInvalidExchangeID)
		}
	}
}

func TestNewUUIDv7(t *testing.T) {
	base := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 50 {
		id, err := NewUUIDv7(base.Add(time.Duration(i)*time.Millisecond), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if err := ValidateUUID(id); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if id[14] != '7' {
			t.Fatalf("%s: version %c, want 7", id, id[14])
		}
		ids = append(ids, id)
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("UUIDv7 values made in time order do not sort in time order")
	}
	// The timestamp is the first 48 bits: 2026-11-23T10:00:00Z = 0x01a207d92100 ms.
	id, _ := NewUUIDv7(base, bytes.NewReader(make([]byte, 10)))
	if want := "01a207d9-2100-7000-8000-000000000000"; id != want {
		t.Fatalf("got %s, want %s", id, want)
	}
	if _, err := NewUUIDv7(base, bytes.NewReader(nil)); err == nil {
		t.Fatal("no randomness: got an id")
	}
}

func FuzzValidateUUID(f *testing.F) {
	f.Add("0193a5b0-7c3e-7a1b-8f00-3a2b1c0d9e8f")
	f.Add("00000000-0000-0000-0000-000000000000")
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateUUID(s) != nil {
			return
		}
		if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			t.Fatalf("accepted %q", s)
		}
	})
}

// TestUUIDv7SourceIncreases checks that ids of one source strictly increase
// within one millisecond, across a clock step back, and at the overflow of
// the 74 random bits, and that every id is a valid UUIDv7.
func TestUUIDv7SourceIncreases(t *testing.T) {
	base := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name  string
		rand  io.Reader
		times func(i int) time.Time
	}{
		{"same millisecond", rand.Reader, func(int) time.Time { return base }},
		{"clock steps back", rand.Reader, func(i int) time.Time { return base.Add(-time.Duration(i) * time.Millisecond) }},
		{"random bits near overflow", bytes.NewReader(bytes.Repeat([]byte{0xff}, 10*3000)), func(int) time.Time { return base }},
		{"time moves on", rand.Reader, func(i int) time.Time { return base.Add(time.Duration(i) * time.Millisecond) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := NewUUIDv7Source(tt.rand)
			prev := ""
			for i := range 3000 {
				id, err := s.Next(tt.times(i))
				if err != nil {
					t.Fatal(err)
				}
				if err := ValidateUUID(id); err != nil || id[14] != '7' || !strings.ContainsRune("89ab", rune(id[19])) {
					t.Fatalf("id %s is not a UUIDv7: %v", id, err)
				}
				if id <= prev {
					t.Fatalf("id %d %s does not sort after %s", i, id, prev)
				}
				prev = id
			}
		})
	}
}
