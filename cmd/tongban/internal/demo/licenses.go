package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing"
)

// LicenseRegion is the district whose demo library the examples use.
const LicenseRegion = "330702"

// VerifyPurpose is the examples' 用证事由.
const VerifyPurpose = "个体工商户设立登记：核验经营场所不动产权证书"

// The national example's regions. No demo district declares either, so
// the gateway routes their licenses to the national library (the fallback
// library, devrig.NationalID).
const (
	// NationalRegion is a region of partnersim.NationalRegions: the
	// national library holds its demo licenses (valid).
	NationalRegion = "440305" // 深圳市南山区
	// UnheldRegion is a region whose licenses no library holds, the
	// national one included: a license of it is not_found, not no_route.
	UnheldRegion = "120101" // 天津市和平区
)

// NationalPurpose is the national example's 用证事由.
const NationalPurpose = "跨省通办 证照核验演示：全国一体化政务服务平台"

// nationalBatch returns the national example: the valid company license of
// NationalRegion (valid) and the valid citizen license of UnheldRegion
// (not_found), in that order, with the outcome each must give.
func nationalBatch(now time.Time) (contracts.BatchVerifyRequest, []contracts.LicenseOutcome, error) {
	b := contracts.BatchVerifyRequest{Purpose: NationalPurpose}
	var want []contracts.LicenseOutcome
	for _, it := range []struct {
		region  string
		role    partnersim.DemoRole
		outcome contracts.LicenseOutcome
	}{
		{NationalRegion, partnersim.DemoValidCompany, contracts.LicenseOutcomeValid},
		{UnheldRegion, partnersim.DemoValidCitizen, contracts.LicenseOutcomeNotFound},
	} {
		lib, err := partnersim.DemoLicenses(it.region, now)
		if err != nil {
			return b, nil, err
		}
		rec, ok := partnersim.FindDemo(lib, it.role)
		if !ok {
			return b, nil, fmt.Errorf("demo licenses of %s have no %s license", it.region, it.role)
		}
		b.Items = append(b.Items, contracts.LicenseVerifyRequest{LicenseID: rec.LicenseID})
		want = append(want, it.outcome)
	}
	return b, want, nil
}

// demoBatch returns a batch verifying one license of every demo role of
// 330702's library, in partnersim.DemoRoles order, as of now.
func demoBatch(now time.Time) (contracts.BatchVerifyRequest, error) {
	lib, err := partnersim.DemoLicenses(LicenseRegion, now)
	if err != nil {
		return contracts.BatchVerifyRequest{}, err
	}
	b := contracts.BatchVerifyRequest{Purpose: "跨省通办 证照核验演示"}
	for _, role := range partnersim.DemoRoles {
		rec, ok := partnersim.FindDemo(lib, role)
		if !ok {
			return b, fmt.Errorf("demo library of %s has no %s license", LicenseRegion, role)
		}
		b.Items = append(b.Items, contracts.LicenseVerifyRequest{LicenseID: rec.LicenseID})
	}
	return b, nil
}

// writeLicenseExamples writes D/examples/license-verify.json (the valid
// citizen license of 330702, with its face to compare),
// license-verify-batch.json (one license of every demo role) and
// license-verify-national.json (a batch: a license only the national
// library holds, valid, and one no library holds, not_found; see
// nationalBatch) and returns the paths of the first and the last.
func writeLicenseExamples(dir string, now time.Time) (single, national string, err error) {
	lib, err := partnersim.DemoLicenses(LicenseRegion, now)
	if err != nil {
		return "", "", err
	}
	rec, ok := partnersim.FindDemo(lib, partnersim.DemoValidCitizen)
	if !ok {
		return "", "", fmt.Errorf("demo library of %s has no valid citizen license", LicenseRegion)
	}
	one := contracts.LicenseVerifyRequest{
		LicenseID: rec.LicenseID,
		Face:      &contracts.LicenseFace{HolderName: rec.Holder.Name, LicenseNumber: rec.Number, ValidFrom: rec.ValidFrom, ValidUntil: rec.ValidUntil},
		FileSM3:   rec.FileSM3, Purpose: VerifyPurpose,
	}
	batch, err := demoBatch(now)
	if err != nil {
		return "", "", err
	}
	nat, _, err := nationalBatch(now)
	if err != nil {
		return "", "", err
	}
	files := []struct {
		name string
		v    any
	}{{"license-verify.json", one}, {"license-verify-batch.json", batch}, {"license-verify-national.json", nat}}
	for _, f := range files {
		b, err := json.MarshalIndent(f.v, "", "  ")
		if err != nil {
			return "", "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "examples", f.name), append(b, '\n'), 0o644); err != nil {
			return "", "", err
		}
	}
	return filepath.Join(dir, "examples", files[0].name), filepath.Join(dir, "examples", files[2].name), nil
}

// runSampleVerifications verifies, as window-320404 in one batch, one
// license of every demo role of 330702, then the national example's two
// (nationalBatch: a license only the national library holds, and one no
// library holds), and logs each outcome beside the outcome it must give
// (no holder data is logged).
func runSampleVerifications(ctx context.Context, log *slog.Logger, base string, key *signing.PrivateKey) {
	log = log.With("component", "sample-licenses")
	now := time.Now()
	b, err := demoBatch(now)
	if err != nil {
		log.Error("build the sample batch", "err", err)
		return
	}
	labels := make([]string, 0, len(b.Items)+2)
	want := make([]contracts.LicenseOutcome, 0, len(b.Items)+2)
	for _, role := range partnersim.DemoRoles {
		labels, want = append(labels, string(role)), append(want, role.Outcome())
	}
	nat, natWant, err := nationalBatch(now)
	if err != nil {
		log.Error("build the sample batch", "err", err)
		return
	}
	b.Items = append(b.Items, nat.Items...)
	labels = append(labels, "national:"+NationalRegion, "national:"+UnheldRegion)
	want = append(want, natWant...)
	body, err := json.Marshal(b)
	if err != nil {
		log.Error("encode the sample batch", "err", err)
		return
	}
	signer := signing.NewSigner(key, nil)
	sig, err := signing.Sign(signer, nil, body)
	if err != nil {
		log.Error("sign", "err", err)
		return
	}
	jti, _ := contracts.NewUUIDv7(time.Now(), rand.Reader)
	tok, err := signing.IssueToken(signer, signing.TokenRequest{KeyID: "window-320404", Issuer: "window-320404", Subject: "clerk-0231",
		Audience: GatewayID, TTL: 5 * time.Minute, ID: jti})
	if err != nil {
		log.Error("token", "err", err)
		return
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/licenses/verify/batch", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Gw-Signature", base64.StdEncoding.EncodeToString(sig))
	req.Header.Set("Gw-Key-Id", "window-320404")
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		log.Error("verify", "err", err)
		return
	}
	defer resp.Body.Close()
	var out contracts.BatchVerifyResult
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		log.Error("sample verification refused", "status", resp.StatusCode, "err", err)
		return
	}
	for i, r := range out.Results {
		if i >= len(labels) {
			break
		}
		switch {
		case r.Error != nil:
			log.Warn("sample license verification refused", "license", labels[i], "code", r.Error.Code)
		case r.Result != nil:
			log.Info("sample license verified", "license", labels[i], "outcome", r.Result.Outcome, "expected", want[i],
				"source_region", r.Result.SourceRegion, "usage_record_id", r.Result.UsageRecordID)
		}
	}
}
