package licenses_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/licenses"
)

func TestLicenseOutcomeOf(t *testing.T) {
	holder := contracts.Party{HolderType: "111", IDNumber: citizenID(t, "330702", "123"), Name: "李华"}
	other := contracts.Holder{HolderType: "111", IDNumber: citizenID(t, "330702", "456")}
	base := license(t, "330702", typeBusiness, "A1", holder, contracts.LicenseStatusValid)
	with := func(fn func(r *contracts.LicenseRecord)) *contracts.LicenseRecord { r := base; fn(&r); return &r }
	req := func(fn func(q *contracts.LicenseVerifyRequest)) *contracts.LicenseVerifyRequest {
		q := &contracts.LicenseVerifyRequest{LicenseID: base.LicenseID, Purpose: "办理"}
		if fn != nil {
			fn(q)
		}
		return q
	}
	const today = "2026-03-14"
	tests := []struct {
		name    string
		req     *contracts.LicenseVerifyRequest
		rec     *contracts.LicenseRecord
		today   string
		want    contracts.LicenseOutcome
		wantMis []string
	}{
		{"valid", req(nil), &base, today, contracts.LicenseOutcomeValid, nil},
		{"suspended", req(nil), with(func(r *contracts.LicenseRecord) { r.Status = contracts.LicenseStatusSuspended }), today, contracts.LicenseOutcomeSuspended, nil},
		{"revoked", req(nil), with(func(r *contracts.LicenseRecord) { r.Status = contracts.LicenseStatusRevoked }), today, contracts.LicenseOutcomeRevoked, nil},
		{"cancelled", req(nil), with(func(r *contracts.LicenseRecord) { r.Status = contracts.LicenseStatusCancelled }), today, contracts.LicenseOutcomeCancelled, nil},
		{"expired status", req(nil), with(func(r *contracts.LicenseRecord) { r.Status = contracts.LicenseStatusExpired }), today, contracts.LicenseOutcomeExpired, nil},
		{"lapsed: after valid_until", req(nil), base2(base, "2020-01-01", "2026-03-13"), today, contracts.LicenseOutcomeExpired, nil},
		{"last valid day", req(nil), base2(base, "2020-01-01", "2026-03-14"), today, contracts.LicenseOutcomeValid, nil},
		{"not yet in force", req(nil), base2(base, "2026-03-15", ""), today, contracts.LicenseOutcomeExpired, nil},
		{"no end date (长期)", req(nil), base2(base, "2020-01-01", ""), today, contracts.LicenseOutcomeValid, nil},
		{"status beats mismatch", req(func(q *contracts.LicenseVerifyRequest) { q.Face = &contracts.LicenseFace{HolderName: "别人"} }),
			with(func(r *contracts.LicenseRecord) { r.Status = contracts.LicenseStatusRevoked }), today, contracts.LicenseOutcomeRevoked, nil},
		{"face matches", req(func(q *contracts.LicenseVerifyRequest) {
			q.Face = &contracts.LicenseFace{HolderName: "李华", LicenseNumber: base.Number, ValidFrom: base.ValidFrom, ValidUntil: base.ValidUntil}
			q.FileSM3 = base.FileSM3
			q.Holder = &contracts.Holder{HolderType: "111", IDNumber: holder.IDNumber}
		}), &base, today, contracts.LicenseOutcomeValid, nil},
		{"every field differs", req(func(q *contracts.LicenseVerifyRequest) {
			q.Face = &contracts.LicenseFace{HolderName: "张三", LicenseNumber: "X", ValidFrom: "2024-01-03", ValidUntil: "2035-01-01"}
			q.FileSM3 = strings.Repeat("cd", 32)
			q.Holder = &other
		}), &base, today, contracts.LicenseOutcomeMismatch, []string{"holder", "holder_name", "license_number", "valid_from", "valid_until", "file_sm3"}},
		{"number beside the id differs", req(func(q *contracts.LicenseVerifyRequest) { q.LicenseNumber = "NO-B2" }), &base, today,
			contracts.LicenseOutcomeMismatch, []string{"license_number"}},
		{"digest the record lacks", req(func(q *contracts.LicenseVerifyRequest) { q.FileSM3 = base.FileSM3 }),
			with(func(r *contracts.LicenseRecord) { r.FileSM3 = "" }), today, contracts.LicenseOutcomeMismatch, []string{"file_sm3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, mis := licenses.LicenseOutcomeOf(tt.req, tt.rec, tt.today)
			if got != tt.want || !slices.Equal(mis, tt.wantMis) {
				t.Errorf("LicenseOutcomeOf = %s %v, want %s %v", got, mis, tt.want, tt.wantMis)
			}
		})
	}
}
