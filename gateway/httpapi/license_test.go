package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/httpapi"
	"github.com/tongban/tongban/signing"
)

// fakeLibrary is a hand-written license library holding one valid license.
type fakeLibrary struct {
	mu      sync.Mutex
	rec     contracts.LicenseRecord
	lookups int
}

// holderID is the citizen holder of the fake library's license.
const holderID = "330702199003071233"

func newFakeLibrary(t *testing.T) *fakeLibrary {
	t.Helper()
	if err := contracts.ValidateCitizenID(holderID); err != nil {
		t.Fatalf("fixture holder id: %v", err)
	}
	c, err := contracts.CreditCodeCheck("11330702000000019")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "11330702000000019" + string(c)
	id, err := contracts.NewLicenseID("11100000000013127D001", issuer, "A1", "001")
	if err != nil {
		t.Fatal(err)
	}
	return &fakeLibrary{rec: contracts.LicenseRecord{
		LicenseID: id.String(), TypeCode: id.TypeCode, Name: "营业执照", Number: "NO-A1",
		Holder:     contracts.Party{HolderType: "111", IDNumber: holderID, Name: "李华"},
		IssuerName: "婺城区市场监督管理局", IssuerCode: issuer, ValidFrom: "2024-01-02", Status: contracts.LicenseStatusValid,
	}}
}

func (f *fakeLibrary) LookupLicense(_ context.Context, q *contracts.LicenseLookupRequest) (*contracts.LicenseLookupResponse, []byte, []byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	resp := &contracts.LicenseLookupResponse{ExchangeID: q.ExchangeID}
	if q.LicenseID == f.rec.LicenseID {
		r := f.rec
		resp.Found, resp.License = true, &r
	}
	return resp, nil, nil, nil
}

func (f *fakeLibrary) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// verifySigned checks a signed answer's headers and signature and decodes
// its body strictly into v.
func (e *env) verifySigned(r response, v any) {
	e.t.Helper()
	if r.status != http.StatusOK {
		e.t.Fatalf("status %d %s, want 200", r.status, r.body)
	}
	sig, err := base64.StdEncoding.DecodeString(r.header.Get(httpapi.HeaderSignature))
	if err != nil || len(sig) == 0 || r.header.Get(httpapi.HeaderKeyID) != "gateway" {
		e.t.Fatalf("answer is not signed: Gw-Signature %q, Gw-Key-Id %q", r.header.Get(httpapi.HeaderSignature), r.header.Get(httpapi.HeaderKeyID))
	}
	if err := signing.Verify(e.gwKey.Public(), r.body, sig); err != nil {
		e.t.Fatalf("answer signature does not verify: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		e.t.Fatalf("answer %s: %v", r.body, err)
	}
}

func TestVerifyLicenseHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.post(window, "/v1/licenses/verify", mustMarshal(t, contracts.LicenseVerifyRequest{LicenseID: e.lib.rec.LicenseID, Purpose: "个体工商户设立登记"}))
	var res contracts.LicenseVerifyResult
	e.verifySigned(r, &res)
	if res.Outcome != contracts.LicenseOutcomeValid || res.License == nil || res.License.Holder.IDMasked != "3307**********1233" || res.SourceRegion != "330702" {
		t.Errorf("result %+v, want valid with the holder masked as 3307**********1233", res)
	}
	if bytes.Contains(r.body, []byte(holderID)) {
		t.Errorf("the answer shows the full holder id: %s", r.body)
	}
	if err := opensslVerify(t, e.gwKey.Public(), r); err != nil {
		t.Errorf("openssl does not verify the verification result: %v", err)
	}
}

func TestVerifyLicenseHTTPRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.lib.rec.LicenseID
	wrong := id[:len(id)-1] + map[bool]string{true: "2", false: "1"}[id[len(id)-1] == '1']
	tests := []struct {
		name   string
		caller string
		body   []byte
		status int
		code   contracts.Code
	}{
		{"wrong check character", window, mustMarshal(t, contracts.LicenseVerifyRequest{LicenseID: wrong, Purpose: "x"}), 400, contracts.CodeInvalidLicenseID},
		{"no purpose", window, mustMarshal(t, contracts.LicenseVerifyRequest{LicenseID: id}), 400, contracts.CodeValidationFailed},
		{"unknown field", window, []byte(`{"license_id":"` + id + `","purpose":"x","extra":1}`), 400, contracts.CodeInvalidJSON},
		{"operator", operator, mustMarshal(t, contracts.LicenseVerifyRequest{LicenseID: id, Purpose: "x"}), 403, contracts.CodeForbidden},
		{"no library for the region", window, mustMarshal(t, contracts.LicenseVerifyRequest{
			Holder: &contracts.Holder{HolderType: "111", IDNumber: holderID}, LicenseTypeCode: "11100000000013127D001", IssuerRegion: "610102", Purpose: "x"}),
			422, contracts.CodeNoRoute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, e.post(tt.caller, "/v1/licenses/verify", tt.body), tt.status, tt.code)
		})
	}
	if n := e.lib.count(); n != 0 {
		t.Errorf("library asked %d times for refused requests, want 0", n)
	}
	// Refusals are usage records too.
	var page contracts.UsageRecordPage
	r := e.get(auditor, "/v1/licenses/usage")
	if r.status != http.StatusOK {
		t.Fatalf("usage: %d %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != len(tests) {
		t.Errorf("%d usage records, want %d (one per refused call)", len(page.Records), len(tests))
	}
}

func TestVerifyLicenseBatchHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := contracts.BatchVerifyRequest{Purpose: "企业开办", Items: []contracts.LicenseVerifyRequest{
		{LicenseID: e.lib.rec.LicenseID}, {LicenseID: "bad"},
	}}
	var out contracts.BatchVerifyResult
	e.verifySigned(e.post(zhonglou, "/v1/licenses/verify/batch", mustMarshal(t, b)), &out)
	if len(out.Results) != 2 || out.Results[0].Result == nil || out.Results[0].Result.Outcome != contracts.LicenseOutcomeValid ||
		out.Results[1].Error == nil || out.Results[1].Error.Code != contracts.CodeInvalidLicenseID {
		t.Errorf("batch results %+v, want [valid, invalid_license_id]", out.Results)
	}
}

func TestListUsageHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for range 3 {
		r := e.post(window, "/v1/licenses/verify", mustMarshal(t, contracts.LicenseVerifyRequest{LicenseID: e.lib.rec.LicenseID, Purpose: "核验"}))
		if r.status != http.StatusOK {
			t.Fatalf("verify: %d %s", r.status, r.body)
		}
	}
	list := func(caller string, q url.Values) contracts.UsageRecordPage {
		t.Helper()
		r := e.get(caller, "/v1/licenses/usage?"+q.Encode())
		if r.status != http.StatusOK {
			t.Fatalf("GET usage as %s ?%s: %d %s", caller, q.Encode(), r.status, r.body)
		}
		var p contracts.UsageRecordPage
		dec := json.NewDecoder(bytes.NewReader(r.body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := list(auditor, url.Values{"holder_id": {holderID}, "limit": {"2"}})
	if len(p.Records) != 2 || p.NextCursor == "" {
		t.Fatalf("first page %+v, want 2 records and a cursor", p)
	}
	if strings.Contains(string(mustMarshal(t, p)), holderID) {
		t.Error("usage records show the full holder id")
	}
	if p2 := list(auditor, url.Values{"holder_id": {holderID}, "limit": {"2"}, "cursor": {p.NextCursor}}); len(p2.Records) != 1 || p2.NextCursor != "" {
		t.Errorf("second page %+v, want the last record and no cursor", p2)
	}
	if n := len(list(window, nil).Records); n != 3 {
		t.Errorf("window sees %d of its records, want 3", n)
	}
	if n := len(list(chiping, nil).Records); n != 0 {
		t.Errorf("an unrelated partner sees %d records, want 0", n)
	}
	for _, q := range []string{"holder_id=123", "license_id=1.2.3", "from=yesterday", "limit=0", "limit=501", "cursor=x", "color=red", "caller=a&caller=b"} {
		wantError(t, e.get(auditor, "/v1/licenses/usage?"+q), http.StatusBadRequest, map[bool]contracts.Code{true: contracts.CodeInvalidLicenseID, false: contracts.CodeBadRequest}[strings.HasPrefix(q, "license_id")])
	}
	wantError(t, e.get(operator, "/v1/licenses/usage"), http.StatusForbidden, contracts.CodeForbidden)
}
