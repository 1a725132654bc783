package partnersim_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/contracts"
)

var demoDistricts = []string{"320404", "320402", "330702", "371523", "310116", "610102"}

func TestDemoLicenses(t *testing.T) {
	today := time.Date(2026, 3, 14, 1, 0, 0, 0, time.UTC)
	todayCST := "2026-03-14"
	hexRe := regexp.MustCompile(`^[0-9a-f]{64}$`)
	hanRe := regexp.MustCompile(`\p{Han}`)
	seenIDs := map[string]string{}
	for _, region := range append(slices.Clone(demoDistricts), "320400", "110000", "654321") {
		t.Run(region, func(t *testing.T) {
			lib, err := partnersim.DemoLicenses(region, today)
			if err != nil {
				t.Fatal(err)
			}
			again, err := partnersim.DemoLicenses(region, today.Add(2*time.Hour)) // same day in China
			if err != nil || !reflect.DeepEqual(again, lib) {
				t.Errorf("DemoLicenses is not deterministic for a day: %v", err)
			}
			if len(lib) != len(partnersim.DemoRoles) {
				t.Fatalf("%d licenses, want one per role (%d)", len(lib), len(partnersim.DemoRoles))
			}
			for i, rec := range lib {
				role := partnersim.DemoRoles[i]
				if err := rec.Validate(); err != nil {
					t.Errorf("%s: %v", role, err)
				}
				if got, ok := partnersim.DemoRoleOf(rec); !ok || got != role {
					t.Errorf("license %d: DemoRoleOf = %q, %v; want %q", i, got, ok, role)
				}
				id, err := contracts.ParseLicenseID(rec.LicenseID)
				if err != nil {
					t.Fatalf("%s: %v", role, err)
				}
				if id.Issuer != rec.IssuerCode || id.TypeCode != rec.TypeCode || id.IssuerRegion() != region ||
					contracts.CreditCodeRegion(rec.IssuerCode) != region {
					t.Errorf("%s: identifier %s does not agree with issuer %s, type %s and region %s",
						role, rec.LicenseID, rec.IssuerCode, rec.TypeCode, region)
				}
				if prev, dup := seenIDs[rec.LicenseID]; dup {
					t.Errorf("%s: identifier also used by %s", role, prev)
				}
				seenIDs[rec.LicenseID] = region + "/" + string(role)
				if err := contracts.ValidateHolderID(rec.Holder.HolderType, rec.Holder.IDNumber); err != nil {
					t.Errorf("%s: holder: %v", role, err)
				}
				switch rec.Holder.HolderType {
				case contracts.HolderTypeCitizenID:
					if rec.Holder.IDNumber[:6] != region {
						t.Errorf("%s: citizen %s was not registered in %s", role, contracts.MaskID(rec.Holder.IDNumber), region)
					}
				case contracts.HolderTypeCreditCode:
					if contracts.CreditCodeRegion(rec.Holder.IDNumber) != region {
						t.Errorf("%s: company %s was not registered in %s", role, rec.Holder.IDNumber, region)
					}
				}
				if !hexRe.MatchString(rec.FileSM3) || rec.UpdatedAt.IsZero() {
					t.Errorf("%s: file_sm3 %q, updated_at %v", role, rec.FileSM3, rec.UpdatedAt)
				}
				for _, s := range []string{rec.Name, rec.TypeName, rec.Holder.Name, rec.IssuerName} {
					if !hanRe.MatchString(s) {
						t.Errorf("%s: name %q is not Chinese", role, s)
					}
				}
				if rec.IssuedOn > todayCST || rec.ValidFrom > todayCST || rec.UpdatedAt.After(today) {
					t.Errorf("%s: issued %s, valid from %s, updated %v: after today", role, rec.IssuedOn, rec.ValidFrom, rec.UpdatedAt)
				}
				inForce := rec.ValidFrom <= todayCST && (rec.ValidUntil == "" || rec.ValidUntil >= todayCST)
				if want := role.Outcome(); want == contracts.LicenseOutcomeValid && (rec.Status != contracts.LicenseStatusValid || !inForce) {
					t.Errorf("%s: status %s, in force %v; want a valid license in force", role, rec.Status, inForce)
				}
				if rec.Status != contracts.LicenseStatusValid && rec.StatusReason == "" {
					t.Errorf("%s: status %s without a reason", role, rec.Status)
				}
			}
		})
	}
}

func TestDemoRoles(t *testing.T) {
	today := time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
	todayCST := "2026-03-14"
	lib, err := partnersim.DemoLicenses(partnerID, today)
	if err != nil {
		t.Fatal(err)
	}
	pick := func(r partnersim.DemoRole) contracts.LicenseRecord {
		t.Helper()
		rec, ok := partnersim.FindDemo(lib, r)
		if !ok {
			t.Fatalf("FindDemo(%s) found nothing", r)
		}
		return rec
	}
	tests := []struct {
		role    partnersim.DemoRole
		status  contracts.LicenseStatus
		holder  string
		outcome contracts.LicenseOutcome
	}{
		{partnersim.DemoValidCitizen, contracts.LicenseStatusValid, contracts.HolderTypeCitizenID, contracts.LicenseOutcomeValid},
		{partnersim.DemoValidCompany, contracts.LicenseStatusValid, contracts.HolderTypeCreditCode, contracts.LicenseOutcomeValid},
		{partnersim.DemoRenewed, contracts.LicenseStatusValid, contracts.HolderTypeCreditCode, contracts.LicenseOutcomeValid},
		{partnersim.DemoExpired, contracts.LicenseStatusExpired, contracts.HolderTypeCreditCode, contracts.LicenseOutcomeExpired},
		{partnersim.DemoSuspended, contracts.LicenseStatusSuspended, contracts.HolderTypeCitizenID, contracts.LicenseOutcomeSuspended},
		{partnersim.DemoRevoked, contracts.LicenseStatusRevoked, contracts.HolderTypeCreditCode, contracts.LicenseOutcomeRevoked},
		{partnersim.DemoCancelled, contracts.LicenseStatusCancelled, contracts.HolderTypeCreditCode, contracts.LicenseOutcomeCancelled},
		{partnersim.DemoLapsed, contracts.LicenseStatusValid, contracts.HolderTypeCitizenID, contracts.LicenseOutcomeExpired},
	}
	if len(tests) != len(partnersim.DemoRoles) {
		t.Fatalf("test covers %d roles of %d", len(tests), len(partnersim.DemoRoles))
	}
	for _, tt := range tests {
		rec := pick(tt.role)
		if rec.Status != tt.status || rec.Holder.HolderType != tt.holder || tt.role.Outcome() != tt.outcome {
			t.Errorf("%s: status %s, holder type %s, outcome %s; want %s, %s, %s",
				tt.role, rec.Status, rec.Holder.HolderType, tt.role.Outcome(), tt.status, tt.holder, tt.outcome)
		}
	}
	if lapsed := pick(partnersim.DemoLapsed); lapsed.ValidUntil == "" || lapsed.ValidUntil >= todayCST {
		t.Errorf("lapsed license valid until %q, want a day before %s", lapsed.ValidUntil, todayCST)
	}
	if ex := pick(partnersim.DemoExpired); ex.ValidUntil == "" || ex.ValidUntil >= todayCST {
		t.Errorf("expired license valid until %q, want a day before %s", ex.ValidUntil, todayCST)
	}
	renewed, expired := pick(partnersim.DemoRenewed), pick(partnersim.DemoExpired)
	if renewed.Holder != expired.Holder || renewed.TypeCode != expired.TypeCode || renewed.IssuedOn <= expired.IssuedOn {
		t.Error("the renewed license does not replace the expired one of the same holder and type")
	}
	if partnersim.DemoRole("other").Outcome() != "" {
		t.Error("an unknown role has an outcome")
	}
	if _, ok := partnersim.FindDemo(lib[:1], partnersim.DemoLapsed); ok {
		t.Error("FindDemo found a role the slice does not hold")
	}
	if _, ok := partnersim.DemoRoleOf(contracts.LicenseRecord{LicenseID: "x"}); ok {
		t.Error("DemoRoleOf found a role for a malformed identifier")
	}

	// Identifiers stay the same from day to day; dates move with today.
	later, err := partnersim.DemoLicenses(partnerID, today.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	for i := range lib {
		if later[i].LicenseID != lib[i].LicenseID || later[i].Holder != lib[i].Holder || later[i].ValidFrom == lib[i].ValidFrom {
			t.Errorf("%s a year later: id or holder changed, or dates did not move", partnersim.DemoRoles[i])
		}
	}
}

func TestDemoLicensesRejectsBadRegion(t *testing.T) {
	for _, region := range []string{"", "33070", "990000", "33070A", "gateway"} {
		if _, err := partnersim.DemoLicenses(region, fixedNow); err == nil {
			t.Errorf("DemoLicenses(%q) succeeded", region)
		}
	}
}

func TestNewLibrary(t *testing.T) {
	_, partner := newPair(t)
	demo, err := partnersim.DemoLicenses(partnerID, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	bad := demo[0]
	bad.LicenseID = bad.LicenseID[:len(bad.LicenseID)-1] + "Q"
	tests := []struct {
		name      string
		partnerID string
		licenses  []contracts.LicenseRecord
		want      []contracts.LicenseRecord
		wantErr   string
	}{
		{name: "region partner gets the demo library", partnerID: partnerID, want: demo},
		{name: "other partner gets an empty library", partnerID: "tongban-partner", want: []contracts.LicenseRecord{}},
		{name: "given library", partnerID: partnerID, licenses: demo[2:4], want: demo[2:4]},
		{name: "given empty library", partnerID: partnerID, licenses: []contracts.LicenseRecord{}, want: []contracts.LicenseRecord{}},
		{name: "invalid record", partnerID: partnerID, licenses: []contracts.LicenseRecord{demo[0], bad}, wantErr: "license 1: license_id"},
		{name: "duplicate id", partnerID: partnerID, licenses: []contracts.LicenseRecord{demo[0], demo[1], demo[0]}, wantErr: "licenses 0 and 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, err := partnersim.New(partnersim.Config{
				PartnerID: tt.partnerID, Crypto: partner, Licenses: tt.licenses, Now: func() time.Time { return fixedNow },
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := sim.Licenses(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Licenses() = %d records, want %d", len(got), len(tt.want))
			}
		})
	}

	t.Run("the simulator keeps its own copy", func(t *testing.T) {
		given := slices.Clone(demo)
		sim, err := partnersim.New(partnersim.Config{PartnerID: partnerID, Crypto: partner, Licenses: given})
		if err != nil {
			t.Fatal(err)
		}
		given[0].Status = contracts.LicenseStatusRevoked
		got := sim.Licenses()
		got[1].Status = contracts.LicenseStatusRevoked
		if again := sim.Licenses(); again[0].Status != demo[0].Status || again[1].Status != demo[1].Status {
			t.Error("changing the given or returned slice changed the library")
		}
	})
}

// lookupAnswer verifies a 200 lookup answer's signature with the partner's
// key and decodes it strictly.
func (a answer) lookup(t testing.TB, gw *testCrypto) contracts.LicenseLookupResponse {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("library answered %d %s, want 200", a.status, a.body)
	}
	sig, err := base64.StdEncoding.DecodeString(a.header.Get("Gw-Signature"))
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.VerifyBody(partnerID, a.header.Get("Gw-Key-Id"), a.body, sig); err != nil {
		t.Fatalf("answer signature: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(a.body)))
	dec.DisallowUnknownFields()
	var r contracts.LicenseLookupResponse
	if err := dec.Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

func lookupRequest(n int) contracts.LicenseLookupRequest {
	return contracts.LicenseLookupRequest{
		ExchangeID:      fmt.Sprintf("01959250-aaaa-7bbb-8ccc-%012d", n),
		RequesterRegion: "320404",
		Purpose:         "办理不动产登记，核验权属证书",
	}
}

func byID(n int, rec contracts.LicenseRecord) contracts.LicenseLookupRequest {
	q := lookupRequest(n)
	q.LicenseID = rec.LicenseID
	return q
}

func byHolder(n int, rec contracts.LicenseRecord, number string) contracts.LicenseLookupRequest {
	q := lookupRequest(n)
	q.Holder = &contracts.Holder{HolderType: rec.Holder.HolderType, IDNumber: rec.Holder.IDNumber}
	q.LicenseTypeCode, q.LicenseNumber = rec.TypeCode, number
	return q
}

func TestHandlerLookup(t *testing.T) {
	gw, partner := newPair(t)
	sim, srv := newSim(t, partnersim.Config{Crypto: partner})
	lib := sim.Licenses()
	role := func(r partnersim.DemoRole) contracts.LicenseRecord {
		rec, ok := partnersim.FindDemo(lib, r)
		if !ok {
			t.Fatalf("no %s license", r)
		}
		return rec
	}
	company, renewed, expired := role(partnersim.DemoValidCompany), role(partnersim.DemoRenewed), role(partnersim.DemoExpired)
	lapsed := role(partnersim.DemoLapsed)
	unknownID, err := contracts.NewLicenseID(company.TypeCode, company.IssuerCode, "330702999999", "001")
	if err != nil {
		t.Fatal(err)
	}
	otherHolder := byHolder(0, company, "")
	otherHolder.Holder.IDNumber = role(partnersim.DemoCancelled).Holder.IDNumber // the sole trader ...
	otherHolder.LicenseTypeCode = role(partnersim.DemoValidCitizen).TypeCode     // ... holds no 不动产权证书

	tests := []struct {
		name string
		q    contracts.LicenseLookupRequest
		want *contracts.LicenseRecord
	}{
		{"by id", byID(1, company), &company},
		{"by id, the lapsed one", byID(2, lapsed), &lapsed},
		{"by id, unknown", byID(3, contracts.LicenseRecord{LicenseID: unknownID.String()}), nil},
		{"by holder prefers valid", byHolder(4, renewed, ""), &renewed},
		{"by holder and number", byHolder(5, expired, expired.Number), &expired},
		{"by holder, other number", byHolder(6, expired, "JY10000000000000"), nil},
		{"by holder, type not held", otherHolder, nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := post(t, srv.URL+"/licenses/lookup", gw, mustJSON(t, tt.q))
			got := a.lookup(t, gw)
			want := contracts.LicenseLookupResponse{ExchangeID: tt.q.ExchangeID, Found: tt.want != nil, License: tt.want}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("answer %s, want %s", a.body, mustJSON(t, want))
			}
			if n := sim.Lookups(); n != i+1 {
				t.Errorf("Lookups() = %d, want %d", n, i+1)
			}
		})
	}
	if n := sim.Attempts(); n != 0 {
		t.Errorf("Attempts() = %d, want lookups not counted as deliveries", n)
	}

	// SetLicense changes what later lookups find.
	revoked := company
	revoked.Status, revoked.StatusReason = contracts.LicenseStatusRevoked, "吊销（测试）"
	if err := sim.SetLicense(revoked); err != nil {
		t.Fatal(err)
	}
	if got := post(t, srv.URL+"/licenses/lookup", gw, mustJSON(t, byID(9, company))).lookup(t, gw); got.License == nil || got.License.Status != contracts.LicenseStatusRevoked {
		t.Errorf("after SetLicense: %+v", got.License)
	}
	bad := company
	bad.IssuerCode = "x"
	if err := sim.SetLicense(bad); err == nil {
		t.Error("SetLicense took an invalid record")
	}
	if n := len(sim.Licenses()); n != len(lib) {
		t.Errorf("library holds %d licenses, want %d", n, len(lib))
	}
}

func TestHandlerLookupPrefersInForce(t *testing.T) {
	// Of several matches without a number: a valid license in force, then
	// one with status valid, then the most recently issued.
	gw, partner := newPair(t)
	demo, _ := partnersim.DemoLicenses(partnerID, fixedNow)
	base, _ := partnersim.FindDemo(demo, partnersim.DemoRenewed)
	variant := func(serial, issued, until string, st contracts.LicenseStatus) contracts.LicenseRecord {
		id, err := contracts.ParseLicenseID(base.LicenseID)
		if err != nil {
			t.Fatal(err)
		}
		nid, err := contracts.NewLicenseID(id.TypeCode, id.Issuer, serial, "001")
		if err != nil {
			t.Fatal(err)
		}
		r := base
		r.LicenseID, r.IssuedOn, r.ValidFrom, r.ValidUntil, r.Status, r.Number = nid.String(), issued, issued, until, st, "N"+serial
		return r
	}
	lapsedNewest := variant("A1", "2024-01-01", "2025-12-31", contracts.LicenseStatusValid)
	inForceOld := variant("A2", "2020-01-01", "2030-12-31", contracts.LicenseStatusValid)
	revokedNewest := variant("A3", "2026-01-01", "2030-12-31", contracts.LicenseStatusRevoked)
	suspendedOld := variant("A4", "2019-01-01", "2030-12-31", contracts.LicenseStatusSuspended)
	tests := []struct {
		name    string
		library []contracts.LicenseRecord
		want    contracts.LicenseRecord
	}{
		{"in force beats lapsed and revoked", []contracts.LicenseRecord{lapsedNewest, revokedNewest, inForceOld}, inForceOld},
		{"status valid beats revoked", []contracts.LicenseRecord{revokedNewest, lapsedNewest}, lapsedNewest},
		{"else the most recently issued", []contracts.LicenseRecord{suspendedOld, revokedNewest}, revokedNewest},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newSim(t, partnersim.Config{Crypto: partner, Licenses: tt.library})
			got := post(t, srv.URL+"/licenses/lookup", gw, mustJSON(t, byHolder(i, base, ""))).lookup(t, gw)
			if got.License == nil || got.License.LicenseID != tt.want.LicenseID {
				t.Errorf("found %+v, want %s", got.License, tt.want.LicenseID)
			}
		})
	}
}

func TestHandlerLookupRejects(t *testing.T) {
	gw, partner := newPair(t)
	rogue := newTestCrypto(t, gw.KeyID())
	sim, srv := newSim(t, partnersim.Config{Crypto: partner})
	rec, _ := partnersim.FindDemo(sim.Licenses(), partnersim.DemoValidCitizen)
	url := srv.URL + "/licenses/lookup"
	with := func(mutate func(q *contracts.LicenseLookupRequest)) []byte {
		q := byID(1, rec)
		mutate(&q)
		return mustJSON(t, q)
	}
	good := with(func(*contracts.LicenseLookupRequest) {})
	tests := []struct {
		name   string
		signer *testCrypto
		body   []byte
		status int
		code   contracts.Code
	}{
		{"bad gateway signature", rogue, good, 401, contracts.CodeBadSignature},
		{"unknown field", gw, append(good[:len(good)-1], `,"extra":true}`...), 400, contracts.CodeInvalidJSON},
		{"bad exchange id", gw, with(func(q *contracts.LicenseLookupRequest) { q.ExchangeID = "1" }), 400, contracts.CodeInvalidExchangeID},
		{"bad license id", gw, with(func(q *contracts.LicenseLookupRequest) { q.LicenseID += "0" }), 400, contracts.CodeInvalidLicenseID},
		{"nothing names the license", gw, with(func(q *contracts.LicenseLookupRequest) { q.LicenseID = "" }), 400, contracts.CodeValidationFailed},
		{"holder without type code", gw, with(func(q *contracts.LicenseLookupRequest) {
			q.LicenseID, q.Holder = "", &contracts.Holder{HolderType: "111", IDNumber: rec.Holder.IDNumber}
		}), 400, contracts.CodeValidationFailed},
		{"bad holder id", gw, with(func(q *contracts.LicenseLookupRequest) {
			q.LicenseID, q.LicenseTypeCode = "", rec.TypeCode
			q.Holder = &contracts.Holder{HolderType: "111", IDNumber: rec.Holder.IDNumber[:17] + "Y"}
		}), 400, contracts.CodeInvalidCitizenID},
		{"bad holder type", gw, with(func(q *contracts.LicenseLookupRequest) {
			q.LicenseID, q.LicenseTypeCode = "", rec.TypeCode
			q.Holder = &contracts.Holder{HolderType: "414", IDNumber: "E12345678"}
		}), 400, contracts.CodeInvalidHolderType},
		{"bad type code", gw, with(func(q *contracts.LicenseLookupRequest) { q.LicenseTypeCode = "abc" }), 400, contracts.CodeValidationFailed},
		{"no requester region", gw, with(func(q *contracts.LicenseLookupRequest) { q.RequesterRegion = "" }), 400, contracts.CodeInvalidRegion},
		{"no purpose", gw, with(func(q *contracts.LicenseLookupRequest) { q.Purpose = " " }), 400, contracts.CodeValidationFailed},
		{"purpose too long", gw, with(func(q *contracts.LicenseLookupRequest) { q.Purpose = strings.Repeat("用", 201) }), 400, contracts.CodeValidationFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := post(t, url, tt.signer, tt.body)
			if a.status != tt.status || a.code(t) != tt.code {
				t.Errorf("answered %d %s, want %d %s", a.status, a.body, tt.status, tt.code)
			}
			if strings.Contains(string(a.body), rec.Holder.IDNumber[:17]) {
				t.Errorf("answer %s repeats the holder's id", a.body)
			}
		})
	}
	if n := sim.Lookups(); n != len(tests) {
		t.Errorf("Lookups() = %d, want %d", n, len(tests))
	}
}

func TestLookupFaults(t *testing.T) {
	gw, partner := newPair(t)
	sim, srv := newSim(t, partnersim.Config{Crypto: partner, Faults: partnersim.Faults{LookupFail: true}})
	rec, _ := partnersim.FindDemo(sim.Licenses(), partnersim.DemoValidCitizen)
	lookupURL := srv.URL + "/licenses/lookup"

	// LookupFail: lookups fail, deliveries are served.
	if a := post(t, lookupURL, gw, mustJSON(t, byID(1, rec))); a.status != 503 || a.code(t) != contracts.CodeUnavailable {
		t.Errorf("LookupFail: lookup answered %d %s, want 503", a.status, a.body)
	}
	post(t, srv.URL+"/cases", gw, mustJSON(t, caseDelivery(1))).ack(t, gw)

	// BadSignature and FailFirst apply to lookups too.
	sim.SetFaults(partnersim.Faults{BadSignature: true})
	bad := post(t, lookupURL, gw, mustJSON(t, byID(2, rec)))
	sig, _ := base64.StdEncoding.DecodeString(bad.header.Get("Gw-Signature"))
	if bad.status != 200 || gw.VerifyBody(partnerID, bad.header.Get("Gw-Key-Id"), bad.body, sig) == nil {
		t.Errorf("BadSignature: lookup answered %d with a signature that verifies", bad.status)
	}
	sim.SetFaults(partnersim.Faults{FailFirst: 1})
	if a := post(t, lookupURL, gw, mustJSON(t, byID(3, rec))); a.status != 503 {
		t.Errorf("FailFirst: lookup answered %d, want 503", a.status)
	}
	post(t, lookupURL, gw, mustJSON(t, byID(4, rec))).lookup(t, gw)

	// LookupDelay holds lookups, and lets go when the caller gives up, but
	// not deliveries.
	sim.SetFaults(partnersim.Faults{LookupDelay: time.Minute})
	start := time.Now()
	post(t, srv.URL+"/cases", gw, mustJSON(t, caseDelivery(2))).ack(t, gw)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a delivery took %s under LookupDelay", d)
	}

	returned := make(chan struct{}, 1)
	held := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { returned <- struct{}{} }()
		sim.Handler().ServeHTTP(w, r)
	}))
	defer held.Close()
	body := mustJSON(t, byID(5, rec))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, held.URL+"/licenses/lookup", strings.NewReader(string(body)))
	s, _ := gw.Sign(body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Gw-Signature", base64.StdEncoding.EncodeToString(s))
	req.Header.Set("Gw-Key-Id", gw.KeyID())
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a delayed lookup answered %d within 100ms", resp.StatusCode)
	}
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler still holds a lookup its caller gave up")
	}
	if n, want := sim.Lookups(), 5; n != want {
		t.Errorf("Lookups() = %d, want %d", n, want)
	}
	if n := sim.Attempts(); n != 2 {
		t.Errorf("Attempts() = %d, want the 2 case deliveries", n)
	}
}

func TestNewRejectsNegativeLookupDelay(t *testing.T) {
	_, partner := newPair(t)
	if _, err := partnersim.New(partnersim.Config{PartnerID: partnerID, Crypto: partner, Faults: partnersim.Faults{LookupDelay: -1}}); err == nil {
		t.Error("New took a negative LookupDelay")
	}
}

func usageDelivery(n int) contracts.UsageRecordDelivery {
	return contracts.UsageRecordDelivery{
		DeliveryID: fmt.Sprintf("dlv-u%04d", n),
		ExchangeID: fmt.Sprintf("01959251-0000-7000-8000-%012d", n),
		SentAt:     fixedNow,
		Record: contracts.UsageRecord{
			UsageRecordID: fmt.Sprintf("ur-%04d", n), Caller: "320404", WindowID: "window-320404",
			Purpose: "办理不动产登记，核验权属证书", HolderIDMasked: "3307**********1277",
			Outcome: contracts.LicenseOutcomeValid, SourceRegion: partnerID, CheckedAt: fixedNow,
		},
	}
}

func TestHandlerUsage(t *testing.T) {
	gw, partner := newPair(t)
	sim, srv := newSim(t, partnersim.Config{Crypto: partner})
	url := srv.URL + "/licenses/usage"

	d1 := usageDelivery(1)
	a1 := post(t, url, gw, mustJSON(t, d1))
	want := contracts.Ack{ExchangeID: d1.ExchangeID, DeliveryID: d1.DeliveryID, AcknowledgedAt: fixedNow, BodySM3: gw.SM3Hex(mustJSON(t, d1)), KeyID: partnerID}
	if got := a1.ack(t, gw); got != want {
		t.Errorf("ack = %+v, want %+v", got, want)
	}
	// The same bytes: the very same answer; a later attempt: acknowledged, kept once.
	if a := post(t, url, gw, mustJSON(t, d1)); string(a.body) != string(a1.body) || a.header.Get("Gw-Signature") != a1.header.Get("Gw-Signature") {
		t.Errorf("repeat answered %s", a.body)
	}
	later := d1
	later.SentAt = fixedNow.Add(time.Minute)
	if ack := post(t, url, gw, mustJSON(t, later)).ack(t, gw); ack.BodySM3 != gw.SM3Hex(mustJSON(t, later)) {
		t.Errorf("later attempt acknowledged as %+v", ack)
	}
	d2 := usageDelivery(2)
	post(t, url, gw, mustJSON(t, d2)).ack(t, gw)
	if got := sim.UsageRecords(); !reflect.DeepEqual(got, []contracts.UsageRecordDelivery{d1, d2}) {
		t.Errorf("UsageRecords() = %+v, want the two distinct deliveries in order", got)
	}
	if n := sim.Attempts(); n != 4 {
		t.Errorf("Attempts() = %d, want 4", n)
	}

	for _, tt := range []struct {
		name   string
		mutate func(d *contracts.UsageRecordDelivery)
		code   contracts.Code
	}{
		{"bad exchange id", func(d *contracts.UsageRecordDelivery) { d.ExchangeID = "x" }, contracts.CodeInvalidExchangeID},
		{"no delivery id", func(d *contracts.UsageRecordDelivery) { d.DeliveryID = "" }, contracts.CodeValidationFailed},
		{"no purpose", func(d *contracts.UsageRecordDelivery) { d.Record.Purpose = "" }, contracts.CodeValidationFailed},
	} {
		d := usageDelivery(3)
		tt.mutate(&d)
		if a := post(t, url, gw, mustJSON(t, d)); a.status != 400 || a.code(t) != tt.code {
			t.Errorf("%s: answered %d %s, want 400 %s", tt.name, a.status, a.body, tt.code)
		}
	}
	if a := post(t, url, newTestCrypto(t, gw.KeyID()), mustJSON(t, usageDelivery(4))); a.status != 401 {
		t.Errorf("badly signed usage record answered %d, want 401", a.status)
	}
	if n := len(sim.UsageRecords()); n != 2 {
		t.Errorf("UsageRecords() holds %d, want 2", n)
	}
}
