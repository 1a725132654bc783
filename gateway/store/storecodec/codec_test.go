package storecodec

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
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

// TestEncoderHeldUntil: gateway.HeldUntil, past what Unix nanoseconds
// hold, is stored as Held and read back exactly, whatever zone it was
// given in; it sorts after every storable time; the last storable times
// either side of it still round-trip, and any other far-future time is
// refused rather than wrapped around.
func TestEncoderHeldUntil(t *testing.T) {
	last := time.Unix(0, math.MaxInt64-1).UTC()
	for _, tt := range []struct {
		name string
		in   time.Time
		want any // the encoding; nil: refused
		back time.Time
	}{
		{"held", gateway.HeldUntil, Held, gateway.HeldUntil},
		{"held in another zone", gateway.HeldUntil.In(time.FixedZone("CST", 8*3600)), Held, gateway.HeldUntil},
		{"last storable", last, int64(math.MaxInt64 - 1), last},
		{"first storable", time.Unix(0, math.MinInt64+1).UTC(), int64(math.MinInt64 + 1), time.Unix(0, math.MinInt64+1).UTC()},
		{"just past the range", last.Add(2 * time.Nanosecond), nil, time.Time{}},
		{"the day before held", gateway.HeldUntil.AddDate(0, 0, -1), nil, time.Time{}},
	} {
		var e Encoder
		got := e.Time(tt.in)
		if tt.want == nil {
			if e.Err() == nil {
				t.Errorf("%s: Time(%s) = %v, want refused", tt.name, tt.in, got)
			}
			continue
		}
		if e.Err() != nil || got != tt.want {
			t.Errorf("%s: Time(%s) = %v, %v; want %v", tt.name, tt.in, got, e.Err(), tt.want)
			continue
		}
		if back := DecNanos(got.(int64)); !back.Equal(tt.back) || back != tt.back {
			t.Errorf("%s: DecNanos(%d) = %s, want %s exactly", tt.name, got, back, tt.back)
		}
		if back := DecInstant(e.Instant(tt.in)); !back.Equal(tt.back) {
			t.Errorf("%s: DecInstant(Instant) = %s, want %s", tt.name, back, tt.back)
		}
	}
	if HeldSQL != strconv.FormatInt(Held, 10) {
		t.Errorf("HeldSQL %s is not Held %d", HeldSQL, Held)
	}
	var e Encoder
	if h, l := e.Time(gateway.HeldUntil).(int64), e.Time(last).(int64); h <= l {
		t.Errorf("Held %d does not sort after the last storable time %d", h, l)
	}
}

// TestAdmin: a case's administration round-trips as JSON text; none is
// NULL, and NULL or "" reads back as none; text that is not one is an
// error.
func TestAdmin(t *testing.T) {
	var e Encoder
	if got := e.Admin(nil); got != nil {
		t.Errorf("Admin(nil) = %v, want nil", got)
	}
	a := &gateway.CaseAdmin{WarnAt: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC),
		Part: &gateway.PartAdmin{Part: "p1", Name: "营业执照", Parts: 2, After: []string{"p0"}, Held: "dl-1"}}
	text, ok := e.Admin(a).(string)
	if !ok || e.Err() != nil || !strings.Contains(text, `"held":"dl-1"`) {
		t.Fatalf("Admin = %q, %v; want JSON text", text, e.Err())
	}
	back, err := DecAdmin(&text)
	if err != nil || back == nil || !back.WarnAt.Equal(a.WarnAt) || back.Part.Held != "dl-1" || back.Part.After[0] != "p0" {
		t.Errorf("DecAdmin(%s) = %+v, %v", text, back, err)
	}
	empty := ""
	for _, in := range []*string{nil, &empty} {
		if got, err := DecAdmin(in); got != nil || err != nil {
			t.Errorf("DecAdmin(%v) = %+v, %v; want nil, nil", in, got, err)
		}
	}
	bad := `{"part":1}`
	if _, err := DecAdmin(&bad); err == nil {
		t.Errorf("DecAdmin(%s): got nil, want an error", bad)
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
