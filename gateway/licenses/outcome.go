package licenses

import (
	"slices"

	"github.com/tongban/tongban/contracts"
)

// LicenseOutcomeOf maps a library's record to the outcome of verifying
// req on date today (YYYY-MM-DD). The record's status decides first:
// suspended, revoked, cancelled and expired are reported as such, and a
// valid license outside its validity dates (before valid_from or after
// valid_until) is expired (失效: not in force). Then every presented field
// is compared; any difference makes the outcome mismatch and is named in
// the returned list: holder (a holder given beside license_id differs),
// holder_name, license_number, valid_from, valid_until, file_sm3 (a
// presented digest the record lacks counts as different: it cannot be
// confirmed). Otherwise the outcome is valid.
func LicenseOutcomeOf(req *contracts.LicenseVerifyRequest, rec *contracts.LicenseRecord, today string) (contracts.LicenseOutcome, []string) {
	switch rec.Status {
	case contracts.LicenseStatusSuspended:
		return contracts.LicenseOutcomeSuspended, nil
	case contracts.LicenseStatusRevoked:
		return contracts.LicenseOutcomeRevoked, nil
	case contracts.LicenseStatusCancelled:
		return contracts.LicenseOutcomeCancelled, nil
	case contracts.LicenseStatusExpired:
		return contracts.LicenseOutcomeExpired, nil
	}
	if today < rec.ValidFrom || rec.ValidUntil != "" && today > rec.ValidUntil {
		return contracts.LicenseOutcomeExpired, nil
	}
	var mm []string
	differs := func(name, presented, recorded string) {
		if presented != "" && presented != recorded && !slices.Contains(mm, name) {
			mm = append(mm, name)
		}
	}
	if h := req.Holder; h != nil && (h.HolderType != rec.Holder.HolderType || h.IDNumber != rec.Holder.IDNumber) {
		mm = append(mm, "holder")
	}
	differs("license_number", req.LicenseNumber, rec.Number)
	if f := req.Face; f != nil {
		differs("holder_name", f.HolderName, rec.Holder.Name)
		differs("license_number", f.LicenseNumber, rec.Number)
		differs("valid_from", f.ValidFrom, rec.ValidFrom)
		differs("valid_until", f.ValidUntil, rec.ValidUntil)
	}
	differs("file_sm3", req.FileSM3, rec.FileSM3)
	if len(mm) > 0 {
		return contracts.LicenseOutcomeMismatch, mm
	}
	return contracts.LicenseOutcomeValid, nil
}

// metadataOf is what windows see of a record: the holder's id masked.
func metadataOf(r *contracts.LicenseRecord) *contracts.LicenseMetadata {
	return &contracts.LicenseMetadata{
		LicenseID: r.LicenseID, TypeCode: r.TypeCode, TypeName: r.TypeName, Name: r.Name, Number: r.Number,
		Holder:     contracts.LicenseHolder{HolderType: r.Holder.HolderType, IDMasked: contracts.MaskID(r.Holder.IDNumber), Name: r.Holder.Name},
		IssuerName: r.IssuerName, IssuerCode: r.IssuerCode, IssuedOn: r.IssuedOn, ValidFrom: r.ValidFrom,
		ValidUntil: r.ValidUntil, Status: r.Status,
	}
}
