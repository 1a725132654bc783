package storecodec

import (
	"strings"
	"testing"

	"github.com/tongban/tongban/contracts"
)

func TestSummaryFromRecord(t *testing.T) {
	for _, tt := range []struct {
		name, record string
		check        func(x contracts.ExchangeSummary) bool
	}{
		{"case received", `{"event":"case.received","actor":"320404","case_id":"c1","exchange_id":"e1","detail":{"state":"received"}}`,
			func(x contracts.ExchangeSummary) bool {
				return x.Sender == "320404" && x.CaseID == "c1" && x.ExchangeID == "e1" && x.CaseState == "received" && x.Denial == nil
			}},
		{"license verified", `{"event":"license.verified","actor":"window-1","detail":{"outcome":"valid"}}`,
			func(x contracts.ExchangeSummary) bool { return x.LicenseOutcome == "valid" && x.CaseState == "" }},
		{"access denied", `{"event":"access.denied","actor":"371523","detail":{"code":"not_found","method":"POST","route":"/v1/cases/:case_id/status","case_ref":"c9"}}`,
			func(x contracts.ExchangeSummary) bool {
				return x.Denial != nil && x.Denial.Code == "not_found" && x.Denial.CaseRef == "c9" && x.Denial.Route == "/v1/cases/:case_id/status"
			}},
	} {
		x := contracts.ExchangeSummary{FromRegion: "kept"}
		if err := SummaryFromRecord(7, []byte(tt.record), &x); err != nil || !tt.check(x) || x.FromRegion != "kept" {
			t.Errorf("%s: %+v, %v", tt.name, x, err)
		}
	}
	if err := SummaryFromRecord(7, []byte(`{`), new(contracts.ExchangeSummary)); err == nil || !strings.Contains(err.Error(), "evidence record 7") {
		t.Errorf("broken record: %v, want an error naming record 7", err)
	}
}

func TestLikeEscape(t *testing.T) {
	for in, want := range map[string]string{"3204": "3204", `a%b_c\d`: `a\%b\_c\\d`} {
		if got := LikeEscape(in); got != want {
			t.Errorf("LikeEscape(%q) = %q, want %q", in, got, want)
		}
	}
}
