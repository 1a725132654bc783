package contracts_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
)

// TestStatsWire pins the JSON of GET /v1/admin/stats: the member names,
// the optional members absent when unknown, arrays never null.
func TestStatsWire(t *testing.T) {
	head, growth, p50, p95 := int64(47), int64(7), 10.5, 937.5
	at := time.Date(2025, 3, 1, 8, 1, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   contracts.Stats
		want string
	}{
		{"empty history", contracts.Stats{IntervalSeconds: 60, Points: []contracts.StatsPoint{}}, `{"interval_seconds":60,"points":[]}`},
		{"every member", contracts.Stats{IntervalSeconds: 60, Points: []contracts.StatsPoint{{
			At: at, Seconds: 60, DeliveriesByState: map[contracts.TransportState]int64{contracts.TransportStateDead: 1, contracts.TransportStatePending: 2},
			EvidenceHead: &head, EvidenceGrowth: &growth, HTTPRequests: 8, HTTPErrors: 2, HTTPRefused: 1,
			Partners: []contracts.PartnerStats{{Partner: "330702", Delivered: 3, Offered: 0, Failed: 2, Dead: 1, P50Ms: &p50, P95Ms: &p95}},
		}}}, `{"interval_seconds":60,"points":[{"at":"2025-03-01T08:01:00Z","seconds":60,"deliveries_by_state":{"dead":1,"pending":2},` +
			`"evidence_head":47,"evidence_growth":7,"http_requests":8,"http_errors":2,"http_refused":1,` +
			`"partners":[{"partner":"330702","delivered":3,"offered":0,"failed":2,"dead":1,"p50_ms":10.5,"p95_ms":937.5}]}]}`},
		{"unknowns absent", contracts.Stats{IntervalSeconds: 60, Points: []contracts.StatsPoint{{
			At: at, Seconds: 60, Partners: []contracts.PartnerStats{{Partner: contracts.OtherPartners, Offered: 2}},
		}}}, `{"interval_seconds":60,"points":[{"at":"2025-03-01T08:01:00Z","seconds":60,"http_requests":0,"http_errors":0,"http_refused":0,` +
			`"partners":[{"partner":"_other","delivered":0,"offered":2,"failed":0,"dead":0}]}]}`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
		// What the gateway writes, a client reads back with unknown
		// members refused.
		dec := json.NewDecoder(bytes.NewReader(got))
		dec.DisallowUnknownFields()
		var back contracts.Stats
		if err := dec.Decode(&back); err != nil {
			t.Errorf("%s: decoding: %v", tt.name, err)
		}
	}
}

// TestOtherPartnersIsNoPartnerID: the name of the summed partners can
// never be a partner's.
func TestOtherPartnersIsNoPartnerID(t *testing.T) {
	if err := contracts.ValidateOpaqueID("partner", contracts.OtherPartners); err == nil {
		t.Errorf("%q is a valid partner id", contracts.OtherPartners)
	}
}
