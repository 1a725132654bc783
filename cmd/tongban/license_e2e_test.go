package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/cmd/tongban/internal/demo"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/cmd/tongban/internal/e2etest"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/signing"
)

// demoCaller loads the demo key of id and returns it as a caller.
func demoCaller(t *testing.T, dir, id string) *e2etest.Caller {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(dir, "keys", id+".key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := signing.ParsePrivateKeyPEM(pem, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e2etest.NewCaller(id, demo.GatewayID, key)
}

// checkDemoLicenses verifies, as the window window-320404 of a running
// demo, the example license (valid, face matching), the example batch (one
// license of every demo role, each with its role's outcome), and reads the
// usage records as the auditor.
func checkDemoLicenses(ctx context.Context, t *testing.T, dir, base string, logs *e2etest.LockedBuffer) {
	t.Helper()
	win := demoCaller(t, dir, "window-320404")
	tok := win.Token(t)
	gwPub := filepath.Join(dir, "keys", "gateway.pub")

	body, err := os.ReadFile(filepath.Join(dir, "examples", "license-verify.json"))
	if err != nil {
		t.Fatalf("the demo wrote no license example: %v", err)
	}
	ans, err := win.PostSigned(ctx, tok, base+"/v1/licenses/verify", body)
	if err != nil {
		t.Fatal(err)
	}
	if ans.Status != http.StatusOK || ans.KeyID != "gateway" {
		t.Fatalf("verify the example: %d %s (key %q), want 200 signed by gateway", ans.Status, ans.Body, ans.KeyID)
	}
	e2etest.VerifySignedBy(t, gwPub, ans.Body, ans.Sig)
	var res contracts.LicenseVerifyResult
	if err := json.Unmarshal(ans.Body, &res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != contracts.LicenseOutcomeValid || res.SourceRegion != demo.LicenseRegion || res.License == nil ||
		!strings.Contains(res.License.Holder.IDMasked, "*") || res.UsageRecordID == "" {
		t.Errorf("example verification %+v: want valid from %s, holder masked, a usage record", res, demo.LicenseRegion)
	}

	body, err = os.ReadFile(filepath.Join(dir, "examples", "license-verify-batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	ans, err = win.PostSigned(ctx, tok, base+"/v1/licenses/verify/batch", body)
	if err != nil {
		t.Fatal(err)
	}
	if ans.Status != http.StatusOK {
		t.Fatalf("verify the batch example: %d %s", ans.Status, ans.Body)
	}
	e2etest.VerifySignedBy(t, gwPub, ans.Body, ans.Sig)
	var out contracts.BatchVerifyResult
	if err := json.Unmarshal(ans.Body, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Results) != len(partnersim.DemoRoles) {
		t.Fatalf("batch: %d results, want %d", len(out.Results), len(partnersim.DemoRoles))
	}
	for i, role := range partnersim.DemoRoles {
		if r := out.Results[i].Result; r == nil || r.Outcome != role.Outcome() {
			t.Errorf("batch item %d (%s): %+v, want %s", i, role, out.Results[i], role.Outcome())
		}
	}

	// The auditor reads the usage records of the example license.
	var ex contracts.LicenseVerifyRequest
	body, _ = os.ReadFile(filepath.Join(dir, "examples", "license-verify.json"))
	if err := json.Unmarshal(body, &ex); err != nil {
		t.Fatal(err)
	}
	aud := demoCaller(t, dir, "auditor")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/licenses/usage?license_id="+ex.LicenseID, nil)
	req.Header.Set("Authorization", "Bearer "+aud.Token(t))
	resp, err := aud.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page contracts.UsageRecordPage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("usage records: %d, %v", resp.StatusCode, err)
	}
	found := false
	for _, u := range page.Records {
		if u.UsageRecordID == res.UsageRecordID {
			found = u.Caller == "window-320404" && u.Purpose == demo.VerifyPurpose && u.Outcome == contracts.LicenseOutcomeValid
		}
	}
	if !found {
		t.Errorf("usage records %+v lack the example verification %s", page.Records, res.UsageRecordID)
	}

	// The demo's own sample verifications ran and were logged.
	deadline := time.Now().Add(15 * time.Second)
	for strings.Count(logs.String(), "sample license verified") < len(partnersim.DemoRoles) {
		if time.Now().After(deadline) {
			t.Fatalf("log lacks the sample verifications within 15s:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// No holder's id number or name reaches the log.
	lib, err := partnersim.DemoLicenses(demo.LicenseRegion, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range lib {
		if l := logs.String(); strings.Contains(l, rec.Holder.IDNumber) || strings.Contains(l, rec.Holder.Name) {
			t.Errorf("the log shows the holder of %s (id or name)", rec.LicenseID)
		}
	}
}

// TestNationalFallbackLibrary runs the dev rig with the simulated national
// library (devrig.NationalID, license_library {fallback: true}, no regions
// of its own) over real HTTP on loopback. The window verifies a license of
// 510104, a region no district library declares and only the national
// library holds: it routes there and is valid; and one of 120101, which no
// library holds: not_found, not 422 no_route. Each verification's usage
// record is delivered to the national library and acknowledged by it, and
// the national partner lists both among its library's usage records.
// Without the national library the same license is 422 no_route.
func TestNationalFallbackLibrary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	startRig := func(t *testing.T, national bool) *devrig.Rig {
		t.Helper()
		rig, err := devrig.Start(ctx, devrig.Options{Dir: t.TempDir(), National: national})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stopped := make(chan error, 1)
			go func() { stopped <- rig.Stop() }()
			select {
			case err := <-stopped:
				if err != nil {
					t.Errorf("stop the rig: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("the rig did not stop within 10s")
			}
		})
		return rig
	}
	license := func(region string, role partnersim.DemoRole) contracts.LicenseRecord {
		t.Helper()
		lib, err := partnersim.DemoLicenses(region, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		rec, ok := partnersim.FindDemo(lib, role)
		if !ok {
			t.Fatalf("no %s license of %s", role, region)
		}
		return rec
	}
	held := license("510104", partnersim.DemoValidCitizen)
	unheld := license("120101", partnersim.DemoValidCompany)
	const purpose = "跨省通办：核验外省不动产权证书"
	verify := func(t *testing.T, rig *devrig.Rig, licenseID string) (int, []byte) {
		t.Helper()
		win := e2etest.NewCaller(devrig.Window, devrig.RigGatewayID, rig.Keys[devrig.Window])
		body, err := json.Marshal(contracts.LicenseVerifyRequest{LicenseID: licenseID, Purpose: purpose})
		if err != nil {
			t.Fatal(err)
		}
		ans, err := win.PostSigned(ctx, win.Token(t), rig.Base+"/v1/licenses/verify", body)
		if err != nil {
			t.Fatal(err)
		}
		if ans.Status == http.StatusOK {
			e2etest.VerifySignedBy(t, filepath.Join(rig.Dir, devrig.PubPath(devrig.GatewayKey)), ans.Body, ans.Sig)
		}
		return ans.Status, ans.Body
	}

	t.Run("without the national library: no_route", func(t *testing.T) {
		rig := startRig(t, false)
		status, body := verify(t, rig, held.LicenseID)
		var e contracts.Error
		if err := json.Unmarshal(body, &e); err != nil || status != http.StatusUnprocessableEntity || e.Code != contracts.CodeNoRoute {
			t.Errorf("verify a license of 510104: %d %s, want 422 no_route", status, body)
		}
	})

	rig := startRig(t, true)
	if rig.National == nil {
		t.Fatal("the rig has no national library")
	}
	// No district library declares 510104 or 120101, or their cities or
	// provinces: the national library is asked as the fallback.
	for _, rec := range []contracts.LicenseRecord{held, unheld} {
		id, err := contracts.ParseLicenseID(rec.LicenseID)
		if err != nil {
			t.Fatal(err)
		}
		p, err := rig.Gateway.Directory().RouteLicense(id.IssuerRegion(), rec.TypeCode)
		if err != nil || p.ID != devrig.NationalID || len(p.Regions) != 0 || p.Library == nil || !p.Library.Fallback || len(p.Library.Regions) != 0 {
			t.Fatalf("route of %s: %+v, %v; want the national library, fallback, no regions", id.IssuerRegion(), p, err)
		}
	}

	results := map[string]contracts.LicenseVerifyResult{} // by license id
	for _, tt := range []struct {
		rec     contracts.LicenseRecord
		outcome contracts.LicenseOutcome
		region  string
	}{
		{held, contracts.LicenseOutcomeValid, "510104"},
		{unheld, contracts.LicenseOutcomeNotFound, "120101"},
	} {
		status, body := verify(t, rig, tt.rec.LicenseID)
		if status != http.StatusOK {
			t.Fatalf("verify a license of %s: %d %s, want 200", tt.region, status, body)
		}
		var res contracts.LicenseVerifyResult
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatal(err)
		}
		if res.Outcome != tt.outcome || res.SourceRegion != tt.region || res.UsageRecordID == "" {
			t.Errorf("verify a license of %s: %s, want %s from %s with a usage record", tt.region, body, tt.outcome, tt.region)
		}
		if found := res.License != nil; found != (tt.outcome == contracts.LicenseOutcomeValid) ||
			found && (res.License.LicenseID != tt.rec.LicenseID || !strings.Contains(res.License.Holder.IDMasked, "*")) {
			t.Errorf("verify a license of %s: license %+v, want it (holder masked) only when found", tt.region, res.License)
		}
		results[tt.rec.LicenseID] = res
	}
	if n := rig.National.Lookups(); n != 2 {
		t.Errorf("the national library was asked %d times, want 2", n)
	}

	// Each usage record reaches the national library ...
	deliveries := map[string]contracts.UsageRecordDelivery{} // by usage record id
	deadline := time.Now().Add(10 * time.Second)
	for len(deliveries) < len(results) {
		if time.Now().After(deadline) {
			t.Fatalf("the national library received %d of %d usage records within 10s", len(deliveries), len(results))
		}
		time.Sleep(20 * time.Millisecond)
		for _, d := range rig.National.UsageRecords() {
			deliveries[d.Record.UsageRecordID] = d
		}
	}
	for licenseID, res := range results {
		d, ok := deliveries[res.UsageRecordID]
		if !ok {
			t.Errorf("usage record %s of %s never reached the national library", res.UsageRecordID, licenseID)
			continue
		}
		u := d.Record
		if u.LicenseID != licenseID || u.Caller != devrig.Window || u.Purpose != purpose || u.Outcome != res.Outcome || u.SourceRegion != res.SourceRegion {
			t.Errorf("usage record at the national library %+v, want %s's verification by %s, %s", u, licenseID, devrig.Window, res.Outcome)
		}
		// ... and the gateway holds its signed acknowledgement.
		var got *gateway.Delivery
		for {
			dl, err := rig.Gateway.Store().GetDelivery(ctx, d.DeliveryID)
			if err == nil && dl.State == contracts.TransportStateDelivered {
				got = dl
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("delivery %s of usage record %s not delivered within 10s: %+v, %v", d.DeliveryID, res.UsageRecordID, dl, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got.Kind != contracts.DeliveryKindUsageRecord || got.Partner != devrig.NationalID || got.Ack == nil ||
			got.Ack.KeyID != devrig.NationalID || got.Ack.DeliveryID != d.DeliveryID || got.Ack.ExchangeID != d.ExchangeID {
			t.Errorf("delivery %s: %s to %s, ack %+v; want a usage record acknowledged by %s", d.DeliveryID, got.Kind, got.Partner, got.Ack, devrig.NationalID)
		}
	}

	// The national partner lists both among its library's usage records.
	nat := e2etest.NewCaller(devrig.NationalID, devrig.RigGatewayID, rig.Keys[devrig.NationalID])
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rig.Base+"/v1/licenses/usage", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+nat.Token(t))
	resp, err := nat.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page contracts.UsageRecordPage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("usage records as %s: %d, %v", devrig.NationalID, resp.StatusCode, err)
	}
	listed := map[string]bool{}
	for _, u := range page.Records {
		listed[u.UsageRecordID] = true
	}
	for licenseID, res := range results {
		if !listed[res.UsageRecordID] {
			t.Errorf("the national partner's usage records %+v lack %s (license %s)", page.Records, res.UsageRecordID, licenseID)
		}
	}
}

// TestDemoNationalLibrary runs the demo in process and verifies, as the
// window window-320404, its national example (license-verify-national.json):
// a license only the demo's national library holds is valid, one no library
// holds is not_found (not 422 no_route). The demo's own sample
// verifications of both are logged with their expected outcomes, and every
// usage record of them (the samples' and the test's) is delivered to the
// national library, as the auditor sees.
func TestDemoNationalLibrary(t *testing.T) {
	dir := t.TempDir()
	addr := e2etest.FreeLoopbackAddr(t)
	var out, logs e2etest.LockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- demo.Run(ctx, demo.Options{Out: &out, Log: &logs, Dir: dir, Addr: addr, Step: 50 * time.Millisecond, Ready: ready})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("demo.Run did not return within 10s of cancel")
		}
	})
	var base string
	select {
	case bound := <-ready:
		base = "http://" + bound
	case err := <-done:
		t.Fatalf("demo.Run returned before ready: %v\nlog:\n%s", err, logs.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("demo not ready within 10s\nlog:\n%s", logs.String())
	}
	natExample := filepath.Join(dir, "examples", "license-verify-national.json")
	for _, want := range []string{"national library", "fallback: true", "not_found, not no_route", natExample} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo's help lacks %q:\n%s", want, out.String())
		}
	}

	body, err := os.ReadFile(natExample)
	if err != nil {
		t.Fatalf("the demo wrote no national example: %v", err)
	}
	win := demoCaller(t, dir, "window-320404")
	ans, err := win.PostSigned(ctx, win.Token(t), base+"/v1/licenses/verify/batch", body)
	if err != nil {
		t.Fatal(err)
	}
	if ans.Status != http.StatusOK {
		t.Fatalf("verify the national example: %d %s, want 200", ans.Status, ans.Body)
	}
	e2etest.VerifySignedBy(t, filepath.Join(dir, "keys", "gateway.pub"), ans.Body, ans.Sig)
	var res contracts.BatchVerifyResult
	if err := json.Unmarshal(ans.Body, &res); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		outcome contracts.LicenseOutcome
		region  string
	}{{contracts.LicenseOutcomeValid, demo.NationalRegion}, {contracts.LicenseOutcomeNotFound, demo.UnheldRegion}}
	if len(res.Results) != len(want) {
		t.Fatalf("national example: %s, want %d results", ans.Body, len(want))
	}
	for i, w := range want {
		r := res.Results[i].Result
		if r == nil || r.Outcome != w.outcome || r.SourceRegion != w.region || r.UsageRecordID == "" {
			t.Errorf("national example item %d: %+v, want %s from %s with a usage record", i, res.Results[i], w.outcome, w.region)
		}
	}

	// The demo's own samples of both ran, each with the outcome it expects.
	deadline := time.Now().Add(15 * time.Second)
	for _, region := range []string{demo.NationalRegion, demo.UnheldRegion} {
		for !strings.Contains(logs.String(), `"license":"national:`+region+`"`) {
			if time.Now().After(deadline) {
				t.Fatalf("log lacks the sample verification of %s within 15s:\n%s", region, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"license":"national:`) {
			var l struct{ Outcome, Expected string }
			if err := json.Unmarshal([]byte(line), &l); err != nil || l.Outcome == "" || l.Outcome != l.Expected {
				t.Errorf("sample verification: %s, want its expected outcome", line)
			}
		}
	}

	// Four usage records (two samples, two of the test) reach the national
	// library, each acknowledged, as the auditor sees.
	aud := demoCaller(t, dir, "auditor")
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/audit/exchanges?kind=usage_record&partner=national", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+aud.Token(t))
		resp, err := aud.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page contracts.ExchangePage
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("audit search: %d, %v", resp.StatusCode, err)
		}
		delivered := 0
		for _, x := range page.Items {
			if x.State == contracts.TransportStateDelivered && x.Partner == "national" {
				delivered++
			}
		}
		if delivered == len(page.Items) && delivered == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage records to the national library within 15s: %+v, want 4 delivered", page.Items)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
