package storecodec

import (
	"math"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tongban/tongban/contracts"
)

func TestEncoder(t *testing.T) {
	at := time.Date(2026, 12, 6, 9, 30, 0, 123, time.UTC)
	var e Encoder
	if got := e.Time(time.Time{}); got != nil {
		t.Errorf("Time(zero) = %v, want nil", got)
	}
	if got := e.Time(at); got != at.UnixNano() {
		t.Errorf("Time(%s) = %v, want %d", at, got, at.UnixNano())
	}
	if got := e.Instant(time.Time{}); got != math.MinInt64 {
		t.Errorf("Instant(zero) = %d, want MinInt64", got)
	}
	if got := DecInstant(e.Instant(at)); !got.Equal(at) || got.Location() != time.UTC {
		t.Errorf("DecInstant(Instant(%s)) = %s", at, got)
	}
	if !DecInstant(math.MinInt64).IsZero() {
		t.Error("DecInstant(MinInt64) is not the zero time")
	}
	if got := e.Ack(nil); got != nil {
		t.Errorf("Ack(nil) = %v, want nil", got)
	}
	if got, _ := e.Ack(&contracts.Ack{PartnerCaseNo: "Z-1"}).(string); !strings.Contains(got, `"Z-1"`) {
		t.Errorf("Ack = %q, want JSON text with the case number", got)
	}
	if e.Err() != nil {
		t.Fatalf("Err after storable values: %v", e.Err())
	}

	// The first value it cannot encode is the error, and later ones do not
	// replace it.
	e.Time(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))
	e.JSON(make(chan int))
	if err := e.Err(); err == nil || !strings.Contains(err.Error(), "outside the storable range") {
		t.Errorf("Err = %v, want the out-of-range time", err)
	}
}

func TestLoadMigrations(t *testing.T) {
	good := fstest.MapFS{
		"migrations/0002_b.sql": {Data: []byte("B")},
		"migrations/0001_a.sql": {Data: []byte("A")},
		"other/0003_c.sql":      {Data: []byte("C")},
	}
	ms, err := LoadMigrations(good)
	if err != nil || len(ms) != 2 || ms[0] != (Migration{1, "0001_a", "A"}) || ms[1] != (Migration{2, "0002_b", "B"}) {
		t.Fatalf("LoadMigrations = %+v, %v; want 0001_a then 0002_b", ms, err)
	}
	for _, tt := range []struct {
		name  string
		files fstest.MapFS
	}{
		{"gap", fstest.MapFS{"migrations/0001_a.sql": {}, "migrations/0003_c.sql": {}}},
		{"repeat", fstest.MapFS{"migrations/0001_a.sql": {}, "migrations/0001_b.sql": {}}},
		{"no number", fstest.MapFS{"migrations/init.sql": {}}},
		{"not a number", fstest.MapFS{"migrations/x_a.sql": {}}},
		{"zero", fstest.MapFS{"migrations/0000_a.sql": {}}},
		{"not from 1", fstest.MapFS{"migrations/0002_b.sql": {}}},
	} {
		if _, err := LoadMigrations(tt.files); err == nil {
			t.Errorf("LoadMigrations(%s): got nil, want an error", tt.name)
		}
	}
}
