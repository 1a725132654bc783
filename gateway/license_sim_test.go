package gateway_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/signing"
)

// These tests verify licenses end to end against the partner simulator's
// demo library, through the real standard adapter over HTTP: signed
// lookups, signed answers, usage records passed back through the outbox.

// verifyAs sends req signed by caller and returns the verified result.
func (e *env) verifyAs(caller string, req contracts.LicenseVerifyRequest) contracts.LicenseVerifyResult {
	e.t.Helper()
	ans, err := e.core.Licenses.VerifyLicense(e.ctx, e.signed(caller, mustJSON(e.t, req)))
	if err != nil {
		e.t.Fatalf("VerifyLicense: %v", err)
	}
	var r contracts.LicenseVerifyResult
	e.decodeAnswer(ans, &r)
	return r
}

// decodeAnswer checks a signed answer's signature and decodes it strictly.
func (e *env) decodeAnswer(ans *gateway.Signed, v any) {
	e.t.Helper()
	if err := signing.Verify(e.gwPub, ans.Body, ans.Signature); err != nil {
		e.t.Fatalf("answer signature does not verify with the gateway key: %v", err)
	}
	if err := decodeStrictJSON(ans.Body, v); err != nil {
		e.t.Fatalf("answer %s: %v", ans.Body, err)
	}
}

// demoLicense returns the license of role in district's simulator library.
func (e *env) demoLicense(district string, role partnersim.DemoRole) contracts.LicenseRecord {
	e.t.Helper()
	rec, ok := partnersim.FindDemo(e.districts[district].sim.Licenses(), role)
	if !ok {
		e.t.Fatalf("district %s has no %s license", district, role)
	}
	return rec
}

func TestVerifyEveryOutcomeAgainstSimulator(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	sim := e.districts[wucheng].sim
	var ids []string
	for _, role := range partnersim.DemoRoles {
		rec := e.demoLicense(wucheng, role)
		r := e.verifyAs(zhonglou, contracts.LicenseVerifyRequest{LicenseID: rec.LicenseID, Purpose: "跨省通办核验", WindowID: window, OperatorID: "zl-0231"})
		if r.Outcome != role.Outcome() {
			t.Errorf("%s: outcome %s, want %s", role, r.Outcome, role.Outcome())
		}
		if r.License == nil || r.License.LicenseID != rec.LicenseID || r.License.Holder.IDMasked != contracts.MaskID(rec.Holder.IDNumber) || r.SourceRegion != wucheng {
			t.Errorf("%s: result %+v, want the license with its holder masked, from %s", role, r, wucheng)
		}
		ids = append(ids, r.UsageRecordID)
	}
	// A face that differs is a mismatch; one that agrees stays valid.
	valid := e.demoLicense(wucheng, partnersim.DemoValidCitizen)
	face := &contracts.LicenseFace{HolderName: valid.Holder.Name, LicenseNumber: valid.Number, ValidFrom: valid.ValidFrom, ValidUntil: valid.ValidUntil}
	if r := e.verifyAs(zhonglou, contracts.LicenseVerifyRequest{LicenseID: valid.LicenseID, Face: face, FileSM3: valid.FileSM3, Purpose: "x"}); r.Outcome != contracts.LicenseOutcomeValid {
		t.Errorf("matching face: outcome %s %v, want valid", r.Outcome, r.Mismatches)
	}
	bad := *face
	bad.HolderName = "某某"
	if r := e.verifyAs(zhonglou, contracts.LicenseVerifyRequest{LicenseID: valid.LicenseID, Face: &bad, Purpose: "x"}); r.Outcome != contracts.LicenseOutcomeMismatch || strings.Join(r.Mismatches, ",") != "holder_name" {
		t.Errorf("other holder name: outcome %s %v, want mismatch [holder_name]", r.Outcome, r.Mismatches)
	}
	// By holder and type: the company's renewed food license, not the expired one.
	renewed := e.demoLicense(wucheng, partnersim.DemoRenewed)
	r := e.verifyAs(zhonglou, contracts.LicenseVerifyRequest{
		Holder: &contracts.Holder{HolderType: renewed.Holder.HolderType, IDNumber: renewed.Holder.IDNumber}, LicenseTypeCode: renewed.TypeCode, Purpose: "x",
	})
	if r.Outcome != contracts.LicenseOutcomeValid || r.License == nil || r.License.LicenseID != renewed.LicenseID {
		t.Errorf("by holder: %+v, want the renewed license, valid", r)
	}
	// Unknown to the library.
	id, err := contracts.ParseLicenseID(valid.LicenseID)
	if err != nil {
		t.Fatal(err)
	}
	missing, err := contracts.NewLicenseID(id.TypeCode, id.Issuer, "NOSUCH1", "001")
	if err != nil {
		t.Fatal(err)
	}
	if r := e.verifyAs(zhonglou, contracts.LicenseVerifyRequest{LicenseID: missing.String(), Purpose: "x"}); r.Outcome != contracts.LicenseOutcomeNotFound || r.License != nil {
		t.Errorf("unknown license: %+v, want not_found", r)
	}

	// Every usage record reaches the issuing district through the outbox.
	e.drain()
	got := map[string]contracts.UsageRecord{}
	for _, d := range sim.UsageRecords() {
		got[d.Record.UsageRecordID] = d.Record
	}
	if want := len(partnersim.DemoRoles) + 4; len(got) != want {
		t.Errorf("district received %d usage records, want %d", len(got), want)
	}
	for _, id := range ids {
		u, ok := got[id]
		if !ok {
			t.Errorf("usage record %s never reached %s", id, wucheng)
			continue
		}
		if u.Caller != zhonglou || u.WindowID != window || u.OperatorID != "zl-0231" || u.Purpose != "跨省通办核验" || strings.Contains(u.HolderIDMasked, valid.Holder.IDNumber[4:14]) {
			t.Errorf("usage record %+v: want who, which window, why, and the holder masked", u)
		}
	}
	if c := e.countByState(); c[contracts.TransportStateDelivered] != len(got) {
		t.Errorf("delivery states %v, want %d delivered", c, len(got))
	}
}

func TestVerifyBatchAgainstSimulatorWithASlowLibrary(t *testing.T) {
	e := newEnv(t, gateway.RetryPolicy{})
	b := contracts.BatchVerifyRequest{Purpose: "企业开办", CaseID: "case-77"}
	for _, role := range partnersim.DemoRoles {
		b.Items = append(b.Items, contracts.LicenseVerifyRequest{LicenseID: e.demoLicense(wucheng, role).LicenseID})
	}
	// One item from 371523, whose library is slow: it must not hold back
	// the others, and yields source_unavailable after the library timeout.
	b.Items = append(b.Items, contracts.LicenseVerifyRequest{LicenseID: e.demoLicense(chiping, partnersim.DemoValidCitizen).LicenseID})
	e.districts[chiping].sim.SetFaults(partnersim.Faults{LookupDelay: time.Minute})
	ans, err := e.core.Licenses.VerifyLicenseBatch(e.ctx, e.signed(zhonglou, mustJSON(t, b)))
	if err != nil {
		t.Fatal(err)
	}
	var out contracts.BatchVerifyResult
	e.decodeAnswer(ans, &out)
	if len(out.Results) != len(b.Items) {
		t.Fatalf("%d results, want %d", len(out.Results), len(b.Items))
	}
	for i, role := range partnersim.DemoRoles {
		if r := out.Results[i].Result; r == nil || r.Outcome != role.Outcome() {
			t.Errorf("item %d (%s): %+v, want %s", i, role, out.Results[i], role.Outcome())
		}
	}
	if r := out.Results[len(b.Items)-1].Result; r == nil || r.Outcome != contracts.LicenseOutcomeSourceUnavailable {
		t.Errorf("slow library's item: %+v, want source_unavailable", out.Results[len(b.Items)-1])
	}

	// The single form too: a library slower than its timeout is
	// source_unavailable, recorded as such, never a hung window.
	r := e.verifyAs(zhonglou, contracts.LicenseVerifyRequest{LicenseID: e.demoLicense(chiping, partnersim.DemoValidCompany).LicenseID, Purpose: "x"})
	if r.Outcome != contracts.LicenseOutcomeSourceUnavailable || r.License != nil {
		t.Errorf("slow library: %+v, want source_unavailable", r)
	}
	es, err := e.store.ListUsage(e.ctx, gateway.UsageQuery{Limit: 1})
	if err != nil || len(es) != 1 || es[0].Record.Outcome != contracts.LicenseOutcomeSourceUnavailable || es[0].Library != chiping {
		t.Errorf("latest usage record %+v, %v: want source_unavailable at %s", es, err, chiping)
	}
	// The library recovers: the next verification is answered.
	e.districts[chiping].sim.SetFaults(partnersim.Faults{})
	if r := e.verifyAs(zhonglou, contracts.LicenseVerifyRequest{LicenseID: e.demoLicense(chiping, partnersim.DemoValidCompany).LicenseID, Purpose: "x"}); r.Outcome != contracts.LicenseOutcomeValid {
		t.Errorf("after recovery: %+v, want valid", r)
	}
}
