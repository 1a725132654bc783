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
	"github.com/tongban/tongban/cmd/tongban/internal/e2etest"
	"github.com/tongban/tongban/contracts"
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
