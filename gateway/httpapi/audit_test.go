package httpapi_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

func TestAuditRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := e.newCase()

	t.Run("search", func(t *testing.T) {
		r := e.get(auditor, "/v1/audit/exchanges?case_id="+rc.CaseID+"&limit=10")
		if r.status != http.StatusOK {
			t.Fatalf("status %d %s", r.status, r.body)
		}
		var page contracts.ExchangePage
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 1 || page.Items[0].ExchangeID != rc.ExchangeID || page.Items[0].Kind != contracts.ExchangeKindCase {
			t.Errorf("search by case: %+v, want the submission %s", page.Items, rc.ExchangeID)
		}
	})
	t.Run("trace", func(t *testing.T) {
		r := e.get(auditor, "/v1/audit/cases/"+rc.CaseID+"/trace")
		if r.status != http.StatusOK {
			t.Fatalf("status %d %s", r.status, r.body)
		}
		var tr contracts.CaseTrace
		if err := json.Unmarshal(r.body, &tr); err != nil {
			t.Fatal(err)
		}
		if len(tr.Timeline) != 1 || tr.Timeline[0].Event != contracts.EventCaseReceived || tr.Timeline[0].SignatureValid == nil || !*tr.Timeline[0].SignatureValid {
			t.Errorf("trace: %+v", tr.Timeline)
		}
	})
	t.Run("verify", func(t *testing.T) {
		for _, who := range []string{auditor, operator} {
			r := e.get(who, "/v1/audit/verify?from=1")
			var res contracts.ChainVerifyResult
			if r.status != http.StatusOK || json.Unmarshal(r.body, &res) != nil || !res.OK || res.Checked < 1 {
				t.Errorf("verify as %s: %d %s", who, r.status, r.body)
			}
		}
	})
	t.Run("export", func(t *testing.T) {
		r := e.get(auditor, "/v1/audit/cases/"+rc.CaseID+"/export")
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/zip" ||
			r.header.Get("Content-Disposition") != `attachment; filename="tongban-case-`+rc.CaseID+`.zip"` {
			t.Fatalf("export: %d %v", r.status, r.header)
		}
		zr, err := zip.NewReader(bytes.NewReader(r.body), int64(len(r.body)))
		if err != nil {
			t.Fatalf("export is not a zip: %v", err)
		}
		names := map[string]bool{}
		for _, f := range zr.File {
			names[f.Name] = true
		}
		for _, want := range []string{contracts.BundleManifest, contracts.BundleManifestSig, contracts.BundleEvidence, contracts.BundleChain, contracts.BundleCheckpoints} {
			if !names[want] {
				t.Errorf("bundle lacks %s: %v", want, names)
			}
		}
	})

	tests := []struct {
		name, caller, path string
		status             int
		code               contracts.Code
	}{
		{"search by a window", window, "/v1/audit/exchanges", 403, contracts.CodeForbidden},
		{"search by the operator", operator, "/v1/audit/exchanges", 403, contracts.CodeForbidden},
		{"trace by a partner", zhonglou, "/v1/audit/cases/" + rc.CaseID + "/trace", 403, contracts.CodeForbidden},
		{"export by the operator", operator, "/v1/audit/cases/" + rc.CaseID + "/export", 403, contracts.CodeForbidden},
		{"verify by a partner", wucheng, "/v1/audit/verify", 403, contracts.CodeForbidden},
		{"unknown parameter", auditor, "/v1/audit/exchanges?case=x", 400, contracts.CodeBadRequest},
		{"parameter twice", auditor, "/v1/audit/exchanges?kind=case&kind=status", 400, contracts.CodeBadRequest},
		{"bad limit", auditor, "/v1/audit/exchanges?limit=501", 400, contracts.CodeBadRequest},
		{"bad time", auditor, "/v1/audit/exchanges?from=yesterday", 400, contracts.CodeBadRequest},
		{"bad region", auditor, "/v1/audit/exchanges?region=990000", 400, contracts.CodeInvalidRegion},
		{"bad kind", auditor, "/v1/audit/exchanges?kind=fax", 400, contracts.CodeValidationFailed},
		{"bad cursor", auditor, "/v1/audit/exchanges?cursor=abc", 400, contracts.CodeValidationFailed},
		{"verify from 0", auditor, "/v1/audit/verify?from=0", 400, contracts.CodeBadRequest},
		{"verify backwards", auditor, "/v1/audit/verify?from=5&to=2", 400, contracts.CodeValidationFailed},
		{"trace of no case", auditor, "/v1/audit/cases/no-such-case/trace", 404, contracts.CodeNotFound},
		{"export of no case", auditor, "/v1/audit/cases/no-such-case/export", 404, contracts.CodeNotFound},
		{"trace with a query", auditor, "/v1/audit/cases/" + rc.CaseID + "/trace?x=1", 400, contracts.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, e.get(tt.caller, tt.path), tt.status, tt.code)
		})
	}
}

func TestDenialsAreEvidence(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// No token, then a window asking for an auditor's route.
	wantError(t, e.do(http.MethodGet, "/v1/audit/verify", nil, nil), 401, contracts.CodeUnauthenticated)
	wantError(t, e.get(window, "/v1/audit/exchanges"), 403, contracts.CodeForbidden)

	var recs []contracts.EvidenceRecord
	if err := e.store.ScanEvidence(t.Context(), 1, 0, func(r gateway.EvidenceRow) error {
		var rec contracts.EvidenceRecord
		if err := json.Unmarshal(r.Record, &rec); err != nil {
			return err
		}
		recs = append(recs, rec)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("evidence: %d records, want 2 denials: %+v", len(recs), recs)
	}
	for i, want := range []struct{ actor, code, route string }{
		{"anonymous", "unauthenticated", "/v1/audit/verify"},
		{window, "forbidden", "/v1/audit/exchanges"},
	} {
		r := recs[i]
		if r.Event != contracts.EventAccessDenied || r.Actor != want.actor || !strings.Contains(string(r.Detail), `"code":"`+want.code+`"`) ||
			!strings.Contains(string(r.Detail), `"route":"`+want.route+`"`) || len(r.TraceID) != 32 {
			t.Errorf("record %d: %+v %s; want %s denied (%s) on %s with a trace id", i+1, r, r.Detail, want.actor, want.code, want.route)
		}
	}
	if recs[1].JTI == "" || recs[1].KeyID != window {
		t.Errorf("authenticated denial names no token: %+v", recs[1])
	}
}
