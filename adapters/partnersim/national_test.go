package partnersim_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing/signingtest"
)

// TestNationalLibrary runs the simulated national library: a partner whose
// id is no region and whose library holds the demo licenses of
// NationalRegions. It finds their licenses, answers not found for a
// license of any other region, and takes usage records.
func TestNationalLibrary(t *testing.T) {
	const national = "national"
	gw, partner := signingtest.Pair(t, "gateway-2026", partnersim.GatewayCaller, national)
	sim, srv := newSim(t, partnersim.Config{PartnerID: national, Crypto: partner, LicenseRegions: partnersim.NationalRegions})

	var want []contracts.LicenseRecord
	for _, region := range partnersim.NationalRegions {
		recs, err := partnersim.DemoLicenses(region, fixedNow)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, recs...)
	}
	lib := sim.Licenses()
	if !reflect.DeepEqual(lib, want) {
		t.Fatalf("Licenses() = %d records, want the %d demo licenses of %v", len(lib), len(want), partnersim.NationalRegions)
	}
	for _, region := range []string{"440305", "510104"} {
		if !slices.Contains(partnersim.NationalRegions, region) {
			t.Errorf("NationalRegions %v lack %s", partnersim.NationalRegions, region)
		}
	}
	// Its licenses are issued in those regions, none in a demo district's.
	for _, rec := range lib {
		id, err := contracts.ParseLicenseID(rec.LicenseID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(partnersim.NationalRegions, id.IssuerRegion()) {
			t.Errorf("license %s issued in %s, not one of %v", rec.LicenseID, id.IssuerRegion(), partnersim.NationalRegions)
		}
		if strings.Contains(rec.IssuerName, "模拟辖区") {
			t.Errorf("license %s: issuer %q has no real place name", rec.LicenseID, rec.IssuerName)
		}
	}

	lookup := func(n int, licenseID string) contracts.LicenseLookupResponse {
		t.Helper()
		q := lookupRequest(n)
		q.LicenseID = licenseID
		a := post(t, srv.URL+"/licenses/lookup", gw, mustJSON(t, q))
		if a.status != http.StatusOK {
			t.Fatalf("lookup %s: %d %s", licenseID, a.status, a.body)
		}
		sig, err := base64.StdEncoding.DecodeString(a.header.Get("Gw-Signature"))
		if err != nil {
			t.Fatal(err)
		}
		if err := gw.VerifyBody(national, a.header.Get("Gw-Key-Id"), a.body, sig); err != nil {
			t.Fatalf("lookup answer signature: %v", err)
		}
		var r contracts.LicenseLookupResponse
		if err := json.Unmarshal(a.body, &r); err != nil {
			t.Fatal(err)
		}
		if r.ExchangeID != q.ExchangeID {
			t.Errorf("lookup answer echoes exchange %s, want %s", r.ExchangeID, q.ExchangeID)
		}
		return r
	}
	for i, region := range partnersim.NationalRegions {
		recs, _ := partnersim.DemoLicenses(region, fixedNow)
		rec, _ := partnersim.FindDemo(recs, partnersim.DemoValidCompany)
		if r := lookup(i+1, rec.LicenseID); !r.Found || r.License == nil || !reflect.DeepEqual(*r.License, rec) {
			t.Errorf("lookup of %s's valid company license: %+v, want found", region, r)
		}
	}
	// A license of a region it does not hold, and a demo district's.
	for i, region := range []string{"120101", "330702"} {
		recs, err := partnersim.DemoLicenses(region, fixedNow)
		if err != nil {
			t.Fatal(err)
		}
		if r := lookup(10+i, recs[0].LicenseID); r.Found || r.License != nil {
			t.Errorf("lookup of a license of %s: %+v, want not found", region, r)
		}
	}

	// Usage records are taken and acknowledged under its own key.
	d := usageDelivery(1)
	d.Record.SourceRegion = "440305"
	a := post(t, srv.URL+"/licenses/usage", gw, mustJSON(t, d))
	if a.status != http.StatusOK || a.header.Get("Gw-Key-Id") != national {
		t.Fatalf("usage record: %d %s (key %q), want 200 signed by %s", a.status, a.body, a.header.Get("Gw-Key-Id"), national)
	}
	if got := sim.UsageRecords(); len(got) != 1 || got[0].Record.UsageRecordID != d.Record.UsageRecordID {
		t.Errorf("UsageRecords() = %+v, want the one delivered", got)
	}
}

func TestLicenseRegions(t *testing.T) {
	_, partner := newPair(t)
	now := func() time.Time { return fixedNow }
	wucheng, err := partnersim.DemoLicenses("330702", fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		regions  []string
		licenses []contracts.LicenseRecord
		want     int
		wantErr  string
	}{
		{name: "one region, not the partner's", regions: []string{"440305"}, want: len(partnersim.DemoRoles)},
		{name: "given licenses win", regions: partnersim.NationalRegions, licenses: wucheng[:2], want: 2},
		{name: "invalid region", regions: []string{"440305", "44030"}, wantErr: "license regions[1]"},
		{name: "region twice", regions: []string{"440305", "510104", "440305"}, wantErr: "440305 is listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, err := partnersim.New(partnersim.Config{PartnerID: "330702", Crypto: partner, Now: now, LicenseRegions: tt.regions, Licenses: tt.licenses})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := len(sim.Licenses()); n != tt.want {
				t.Errorf("library holds %d licenses, want %d", n, tt.want)
			}
		})
	}
}
