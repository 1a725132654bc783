package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// denials returns the access.denied records of e's evidence log, oldest
// first, with their details.
func (e *env) denials() ([]contracts.EvidenceRecord, []contracts.EvidenceDetail) {
	e.t.Helper()
	var (
		recs    []contracts.EvidenceRecord
		details []contracts.EvidenceDetail
	)
	if err := e.store.ScanEvidence(e.t.Context(), 1, 0, func(r gateway.EvidenceRow) error {
		var rec contracts.EvidenceRecord
		if err := json.Unmarshal(r.Record, &rec); err != nil {
			return err
		}
		if rec.Event != contracts.EventAccessDenied {
			return nil
		}
		var d contracts.EvidenceDetail
		if err := json.Unmarshal(rec.Detail, &d); err != nil {
			return err
		}
		recs, details = append(recs, rec), append(details, d)
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return recs, details
}

// TestCrossTenantProbesAreEvidence: a partner reading or reporting on a
// case that is not its own gets 404, as if the case did not exist, and
// the evidence log gets an access.denied record naming the caller, the
// route and the case probed; a case that does not exist is no probe.
// The auditor lists them with the audit search's event=access.denied.
func TestCrossTenantProbesAreEvidence(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := e.newCase() // zhonglou to wucheng; chiping has no business with it
	probes := []struct {
		name   string
		send   func() response
		method string
		route  string
	}{
		{"read", func() response { return e.get(chiping, "/v1/cases/"+rc.CaseID) }, http.MethodGet, "/v1/cases/:case_id"},
		{"report", func() response {
			return e.post(chiping, "/v1/cases/"+rc.CaseID+"/status", statusUpdate(t, rc.CaseID, contracts.CaseStateAccepted))
		}, http.MethodPost, "/v1/cases/:case_id/status"},
	}
	for _, p := range probes {
		wantError(t, p.send(), http.StatusNotFound, contracts.CodeNotFound)
	}
	// Not probes: a case that does not exist, and the case's own parties.
	wantError(t, e.get(chiping, "/v1/cases/no-such-case"), http.StatusNotFound, contracts.CodeNotFound)
	if r := e.get(zhonglou, "/v1/cases/"+rc.CaseID); r.status != http.StatusOK {
		t.Fatalf("the sender reads its case: %d %s", r.status, r.body)
	}

	recs, details := e.denials()
	if len(recs) != len(probes) {
		t.Fatalf("%d access.denied records %+v, want one per probe (%d)", len(recs), details, len(probes))
	}
	for i, p := range probes {
		r, d := recs[i], details[i]
		if r.Actor != chiping || r.JTI == "" || r.KeyID != chiping || r.CaseID != "" ||
			d.Code != contracts.CodeNotFound || d.Method != p.method || d.Route != p.route || d.CaseRef != rc.CaseID {
			t.Errorf("%s probe recorded as %+v %+v; want actor %s with its token, code not_found, %s %s, case_ref %s, outside the case's chain",
				p.name, r, d, chiping, p.method, p.route, rc.CaseID)
		}
	}
	// The auditor's search by event lists them, newest first, and only
	// them; a caller that is not an auditor cannot.
	r := e.get(auditor, "/v1/audit/exchanges?event=access.denied&partner="+chiping)
	if r.status != http.StatusOK {
		t.Fatalf("search by event: %d %s", r.status, r.body)
	}
	var page contracts.ExchangePage
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != len(probes) {
		t.Fatalf("search by event found %+v, want the %d probes", page.Items, len(probes))
	}
	for i, x := range page.Items {
		p := probes[len(probes)-1-i]
		if x.Event != contracts.EventAccessDenied || x.Sender != chiping || x.Denial == nil ||
			x.Denial.Route != p.route || x.Denial.CaseRef != rc.CaseID || x.Denial.Code != contracts.CodeNotFound {
			t.Errorf("item %d: %+v (denial %+v), want %s's %s probe of %s", i, x, x.Denial, chiping, p.name, rc.CaseID)
		}
	}
	if r := e.get(auditor, "/v1/audit/exchanges?event=access.denied&partner="+zhonglou); r.status != http.StatusOK || string(r.body) != `{"items":[]}`+"\n" {
		t.Errorf("denials of a caller refused nothing: %d %s, want no items", r.status, r.body)
	}
	wantError(t, e.get(auditor, "/v1/audit/exchanges?event=delivery.attempt"), http.StatusBadRequest, contracts.CodeValidationFailed)
	wantError(t, e.get(auditor, "/v1/audit/exchanges?event=access.denied&event=case.received"), http.StatusBadRequest, contracts.CodeBadRequest)
}
