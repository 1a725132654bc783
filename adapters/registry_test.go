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

// nopAdapter pushes cases and status updates and does nothing else.
type nopAdapter struct {
	style string
	p     adapters.Params
}

func (a nopAdapter) Style() string { return a.style }

func (nopAdapter) DeliverCase(context.Context, *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
	return nil, nil, nil, nil
}

func (nopAdapter) DeliverStatus(context.Context, *contracts.StatusDelivery) (*contracts.Ack, []byte, []byte, error) {
	return nil, nil, nil, nil
}

// pullAdapter pulls and may decline to look licenses up.
type pullAdapter struct{ lookup bool }

func (pullAdapter) Style() string { return "test-pull" }
func (pullAdapter) Mailbox() adapters.MailboxOptions {
	return adapters.MailboxOptions{VisibilityTimeout: time.Minute}
}
func (pullAdapter) LookupLicense(context.Context, *contracts.LicenseLookupRequest) (*contracts.LicenseLookupResponse, []byte, []byte, error) {
	return nil, nil, nil, nil
}
func (a pullAdapter) Has(c adapters.Capability) bool {
	return c != adapters.CapLicenseLookup || a.lookup
}

func nopFactory(name string) adapters.Factory {
	return func(p adapters.Params) (adapters.Adapter, error) { return nopAdapter{name, p}, nil }
}

var push = []adapters.Capability{adapters.CapStatusDelivery, adapters.CapCaseDelivery}

// Test names are unique to this file: the registry is process-wide.
func init() {
	adapters.Register(adapters.Style{Name: "test-zulu", Capabilities: push, Factory: nopFactory("test-zulu")})
	adapters.Register(adapters.Style{Name: "test-alpha", Summary: "a test", Capabilities: push, Factory: nopFactory("test-alpha")})
	adapters.Register(adapters.Style{Name: "test-failing", Factory: func(adapters.Params) (adapters.Adapter, error) {
		return nil, errors.New("config: endpoint is required")
	}})
	adapters.Register(adapters.Style{Name: "test-nil", Factory: func(adapters.Params) (adapters.Adapter, error) { return nil, nil }})
	adapters.Register(adapters.Style{Name: "test-undeclared", Capabilities: []adapters.Capability{adapters.CapCaseDelivery},
		Factory: nopFactory("test-undeclared")})
	adapters.Register(adapters.Style{Name: "test-misnamed", Capabilities: push, Factory: nopFactory("test-other")})
	adapters.Register(adapters.Style{Name: "test-pull", Capabilities: []adapters.Capability{adapters.CapPull, adapters.CapLicenseLookup},
		Factory: func(p adapters.Params) (adapters.Adapter, error) {
			return pullAdapter{lookup: string(p.Config) == `{"lookup":true}`}, nil
		}})
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
	mustPanic(t, "twice for test-alpha", func() {
		adapters.Register(adapters.Style{Name: "test-alpha", Factory: nopFactory("test-alpha")})
	})
	mustPanic(t, "nil factory", func() { adapters.Register(adapters.Style{Name: "test-new"}) })
	mustPanic(t, "empty name", func() { adapters.Register(adapters.Style{Factory: nopFactory("")}) })
	mustPanic(t, `unknown capability "teleport"`, func() {
		adapters.Register(adapters.Style{Name: "test-new", Capabilities: []adapters.Capability{"teleport"}, Factory: nopFactory("test-new")})
	})
	if slices.Contains(adapters.Names(), "test-new") {
		t.Error("a failed Register left its name behind")
	}
}

func TestStylesSortedWithCapabilities(t *testing.T) {
	names := adapters.Names()
	if !slices.IsSorted(names) {
		t.Errorf("Names() = %v, not sorted", names)
	}
	for _, n := range []string{"test-alpha", "test-zulu"} {
		if !slices.Contains(names, n) {
			t.Errorf("Names() = %v, missing %s", names, n)
		}
	}
	for _, s := range adapters.Styles() {
		if s.Name != "test-alpha" {
			continue
		}
		want := []adapters.Capability{adapters.CapCaseDelivery, adapters.CapStatusDelivery}
		if s.Summary != "a test" || !slices.Equal(s.Capabilities, want) {
			t.Errorf("got %+v, want summary %q and capabilities %v (sorted)", s, "a test", want)
		}
		s.Capabilities[0] = "changed"
	}
	for _, s := range adapters.Styles() {
		if s.Name == "test-alpha" && s.Capabilities[0] == "changed" {
			t.Error("Styles hands out the registry's own slice")
		}
	}
}

func TestNewUnknownListsKnownNames(t *testing.T) {
	_, err := adapters.New("no-such-style", adapters.Params{PartnerID: "330702", Crypto: nopCrypto{}})
	if err == nil {
		t.Fatal("New of an unknown adapter succeeded")
	}
	want := `unknown adapter "no-such-style" (known: ` + strings.Join(adapters.Names(), ", ") + ")"
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
	for name, want := range map[string]string{
		"test-nil":        "factory returned no adapter",
		"test-undeclared": "has capability status_delivery, which the style does not declare",
		"test-misnamed":   `factory built a "test-other" adapter`,
	} {
		_, err := adapters.New(name, adapters.Params{PartnerID: "330702", Crypto: nopCrypto{}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(%s) = %v, want an error containing %q", name, err, want)
		}
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

func TestCapabilities(t *testing.T) {
	tests := []struct {
		name   string
		a      adapters.Adapter
		want   []adapters.Capability
		lookup bool
	}{
		{"push", nopAdapter{style: "x"}, []adapters.Capability{adapters.CapCaseDelivery, adapters.CapStatusDelivery}, false},
		{"pull without lookup", pullAdapter{}, []adapters.Capability{adapters.CapPull}, false},
		{"pull with lookup", pullAdapter{lookup: true}, []adapters.Capability{adapters.CapLicenseLookup, adapters.CapPull}, true},
		{"nil", nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := adapters.Capabilities(tt.a); !slices.Equal(got, tt.want) {
				t.Errorf("Capabilities = %v, want %v", got, tt.want)
			}
			if _, ok := adapters.LicenseSourceOf(tt.a); ok != tt.lookup {
				t.Errorf("LicenseSourceOf ok = %v, want %v", ok, tt.lookup)
			}
			_, cases := adapters.CaseDelivererOf(tt.a)
			_, statuses := adapters.StatusDelivererOf(tt.a)
			_, pulls := adapters.PullerOf(tt.a)
			if wantPush := slices.Contains(tt.want, adapters.CapCaseDelivery); cases != wantPush || statuses != wantPush {
				t.Errorf("deliverers found = %v/%v, want %v", cases, statuses, wantPush)
			}
			if pulls != slices.Contains(tt.want, adapters.CapPull) {
				t.Errorf("PullerOf ok = %v", pulls)
			}
		})
	}
	a, err := adapters.New("test-pull", adapters.Params{PartnerID: "610102", Crypto: nopCrypto{}, Config: json.RawMessage(`{"lookup":true}`)})
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := adapters.PullerOf(a); !ok || p.Mailbox().VisibilityTimeout != time.Minute {
		t.Errorf("PullerOf(%T) = %v, %v", a, p, ok)
	}
}
