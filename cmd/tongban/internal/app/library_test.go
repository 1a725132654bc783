package app

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/mappedjson"
	"github.com/tongban/tongban/adapters/soap"
	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/signing/signingtest"
)

// TestLibraryUsageBatch: a library's usage records go in batches of
// license_library.usage_batch, by default config.DefaultUsageBatch when
// its adapter can send batches and one by one when it cannot; a batch size
// the adapter cannot send is refused.
func TestLibraryUsageBatch(t *testing.T) {
	gw := signingtest.New(t, "gateway")
	noBatch := func(c map[string]any) { delete(c, "usage_batch_delivery") }
	tests := []struct {
		name    string
		style   string
		change  func(map[string]any) // of the mapped-json example
		set     int
		want    int
		wantErr string
	}{
		{"standard, default", standard.Name, nil, 0, config.DefaultUsageBatch, ""},
		{"standard, one by one", standard.Name, nil, 1, 1, ""},
		{"standard, 20", standard.Name, nil, 20, 20, ""},
		{"soap, default", soap.Name, nil, 0, config.DefaultUsageBatch, ""},
		{"mapped-json with batches, default", mappedjson.Name, nil, 0, config.DefaultUsageBatch, ""},
		{"mapped-json without batches, default", mappedjson.Name, noBatch, 0, 1, ""},
		{"mapped-json without batches, 20", mappedjson.Name, noBatch, 20, 0, "cannot pass usage records in batches"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(`{"endpoint":"https://lib.example"}`)
			switch tt.style {
			case soap.Name:
				raw = soap.ExampleConfig("https://lib.example")
			case mappedjson.Name:
				raw = editJSON(t, mappedjson.ExampleConfig("https://lib.example"), tt.change)
			}
			a, err := adapters.New(tt.style, adapters.Params{PartnerID: "330702", Config: raw, Crypto: gw})
			if err != nil {
				t.Fatal(err)
			}
			pc := config.Partner{ID: "330702", Adapter: tt.style, Library: &config.LicenseLibrary{Regions: []string{"330702"}, UsageBatch: tt.set}}
			l, err := libraryOf(pc, a)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.UsageBatch != tt.want || l.Usage == nil || (l.Batches != nil) != (tt.want > 1) || l.Batching() != (tt.want > 1) {
				t.Errorf("usage batch %d, single %v, batches %v; want %d", l.UsageBatch, l.Usage != nil, l.Batches != nil, tt.want)
			}
		})
	}
}

// editJSON returns raw, a JSON object, changed by change (when set).
func editJSON(t *testing.T, raw []byte, change func(map[string]any)) []byte {
	t.Helper()
	if change == nil {
		return raw
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	change(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
