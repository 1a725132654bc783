package adapters_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// nopCrypto is a Crypto that is never asked to do anything here.
type nopCrypto struct{}

func (nopCrypto) Sign([]byte) ([]byte, error)                     { return nil, nil }
func (nopCrypto) KeyID() string                                   { return "k" }
func (nopCrypto) VerifyBody(string, string, []byte, []byte) error { return nil }
func (nopCrypto) SM3Hex([]byte) string                            { return "" }

type nopAdapter struct{ p adapters.Params }

func (nopAdapter) DeliverCase(context.Context, *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
	return nil, nil, nil, nil
}

func (nopAdapter) DeliverStatus(context.Context, *contracts.StatusDelivery) (*contracts.Ack, []byte, []byte, error) {
	return nil, nil, nil, nil
}

func nopFactory(p adapters.Params) (adapters.Adapter, error) { return nopAdapter{p}, nil }

// Test names are unique to this file: the registry is process-wide.
func init() {
	adapters.Register("test-zulu", nopFactory)
	adapters.Register("test-alpha", nopFactory)
	adapters.Register("test-failing", func(adapters.Params) (adapters.Adapter, error) {
		return nil, errors.New("config: endpoint is required")
	})
	adapters.Register("test-nil", func(adapters.Params) (adapters.Adapter, error) { return nil, nil })
}

func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatalf("no panic, want one containing %q", want)
		}
		if s, _ := r.(string); !strings.Contains(s, want) {
			t.Fatalf("panic %v, want one containing %q", r, want)
		}
	}()
	f()
}

func TestRegisterPanics(t *testing.T) {
	mustPanic(t, "twice for test-alpha", func() { adapters.Register("test-alpha", nopFactory) })
	mustPanic(t, "nil factory", func() { adapters.Register("test-new", nil) })
	mustPanic(t, "empty name", func() { adapters.Register("", nopFactory) })
	if slices.Contains(adapters.Names(), "test-new") {
		t.Error("a failed Register left its name behind")
	}
}

func TestNamesSorted(t *testing.T) {
	names := adapters.Names()
	if !slices.IsSorted(names) {
		t.Errorf("Names() = %v, not sorted", names)
	}
	for _, n := range []string{"test-alpha", "test-zulu"} {
		if !slices.Contains(names, n) {
			t.Errorf("Names() = %v, missing %s", names, n)
		}
	}
}

func TestNewUnknownListsKnownNames(t *testing.T) {
	_, err := adapters.New("soap", adapters.Params{PartnerID: "330702", Crypto: nopCrypto{}})
	if err == nil {
		t.Fatal("New of an unknown adapter succeeded")
	}
	want := `unknown adapter "soap" (known: ` + strings.Join(adapters.Names(), ", ") + ")"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("got %q, want it to contain %q", err, want)
	}
}

func TestNewAppliesDefaultsAndWrapsErrors(t *testing.T) {
	a, err := adapters.New("test-alpha", adapters.Params{PartnerID: "330702", Crypto: nopCrypto{}, Config: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.(nopAdapter).p.Timeout; got != adapters.DefaultTimeout {
		t.Errorf("factory got timeout %s, want the default %s", got, adapters.DefaultTimeout)
	}

	_, err = adapters.New("test-failing", adapters.Params{PartnerID: "330702", Crypto: nopCrypto{}})
	if err == nil || err.Error() != "adapters: test-failing adapter for partner 330702: config: endpoint is required" {
		t.Errorf("got %v", err)
	}
	if _, err = adapters.New("test-nil", adapters.Params{PartnerID: "330702", Crypto: nopCrypto{}}); err == nil {
		t.Error("a factory returning no adapter was accepted")
	}

	for _, p := range []adapters.Params{
		{Crypto: nopCrypto{}},
		{PartnerID: "330702"},
		{PartnerID: "330702", Crypto: nopCrypto{}, Timeout: -time.Second},
	} {
		if _, err := adapters.New("test-alpha", p); err == nil {
			t.Errorf("New(%+v) succeeded", p)
		}
	}
}
