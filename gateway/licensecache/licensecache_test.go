package licensecache

import (
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/licenses"
)

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		size int
		ttl  time.Duration
	}{
		{"zero ttl", 10, 0},
		{"negative ttl", 10, -time.Second},
		{"ttl too long", 10, MaxTTL + time.Second},
		{"negative size", -1, time.Second},
	} {
		if _, err := New(tt.size, tt.ttl); err == nil {
			t.Errorf("%s: New(%d, %s) succeeded, want an error", tt.name, tt.size, tt.ttl)
		}
	}
}

func TestGetAddEvict(t *testing.T) {
	c, err := New(2, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	rec := func(n string) licenses.CachedLicense {
		return licenses.CachedLicense{Record: contracts.LicenseRecord{Number: n}}
	}
	c.Add("a", rec("1"))
	c.Add("b", rec("2"))
	if got, ok := c.Get("a"); !ok || got.Record.Number != "1" {
		t.Fatalf("Get(a) = %v, %v; want number 1", got, ok)
	}
	c.Add("c", rec("3")) // evicts b, the least recently used
	if _, ok := c.Get("b"); ok {
		t.Error("b is still cached after a third record entered a cache of 2")
	}
	if _, ok := c.Get("c"); !ok {
		t.Error("c is not cached")
	}
	if c.Len() != 2 {
		t.Errorf("Len() = %d, want 2", c.Len())
	}
}

func TestExpiry(t *testing.T) {
	c, err := New(0, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	c.Add("a", licenses.CachedLicense{})
	// Wait (bounded) until the entry must have expired: expiry is the
	// library's own clock, so this test waits past the TTL once.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, ok := c.Get("a"); !ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("entry still cached 5s after a 20ms TTL")
}
