package contracts

import (
	"fmt"
	"time"
)

// Limits of license verification requests.
const (
	// MaxBatchItems is the most verifications one batch may carry.
	MaxBatchItems = 100
	// MaxOpaqueIDLen bounds gateway-assigned identifiers (OpaqueID).
	MaxOpaqueIDLen = 64
)

// ValidateOpaqueID reports whether s is an OpaqueID: 1 to 64 characters of
// A-Z, a-z, 0-9, '.', '_', ':' and '-', starting with a letter or digit.
func ValidateOpaqueID(field, s string) error {
	if s == "" {
		return invalid(field, "is required")
	}
	if len(s) > MaxOpaqueIDLen {
		return invalid(field, fmt.Sprintf("must be at most %d characters", MaxOpaqueIDLen))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != ':' && c != '-') {
			return invalid(field, "must be letters, digits, '.', '_', ':' or '-', starting with a letter or digit")
		}
	}
	return nil
}

// ValidateDate reports whether s is an RFC 3339 full date (YYYY-MM-DD) that
// exists in the calendar.
func ValidateDate(field, s string) error {
	if _, err := time.Parse(time.DateOnly, s); err != nil || len(s) != len(time.DateOnly) {
		return invalid(field, "must be a date YYYY-MM-DD")
	}
	return nil
}

// ValidateLicenseTypeCode reports whether s is a 21-character license type
// code over 0-9 and A-Z.
func ValidateLicenseTypeCode(field, s string) error {
	if len(s) != licenseTypeLen || !allB36(s) {
		return invalid(field, "must be 21 digits or uppercase letters")
	}
	return nil
}

func (h *Holder) validate(field string) error {
	if err := ValidateHolderType(h.HolderType); err != nil {
		return atField(err, field+".holder_type")
	}
	if err := ValidateHolderID(h.HolderType, h.IDNumber); err != nil {
		return atField(err, field+".id_number")
	}
	return nil
}

func (f *LicenseFace) validate(field string) error {
	if err := maxLen(field+".holder_name", f.HolderName, MaxNameLen); err != nil {
		return err
	}
	if err := maxLen(field+".license_number", f.LicenseNumber, MaxCodeLen); err != nil {
		return err
	}
	if f.ValidFrom != "" {
		if err := ValidateDate(field+".valid_from", f.ValidFrom); err != nil {
			return err
		}
	}
	if f.ValidUntil != "" {
		if err := ValidateDate(field+".valid_until", f.ValidUntil); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks a verification request before any lookup: the license is
// named by a GB/T 36904 identifier whose check character matches, or by a
// holder whose id passes GB 11643 or GB 32100 plus a license type code;
// purpose is present and at most MaxPurposeChars characters; every optional
// field is well formed. A license_type_code or issuer_region given beside a
// license_id must agree with the identifier. The error is a *FieldError
// naming the first bad field, with code invalid_license_id,
// invalid_holder_type, invalid_citizen_id, invalid_credit_code,
// invalid_region or validation_failed.
func (r *LicenseVerifyRequest) Validate() error {
	if r.LicenseID != "" {
		id, err := ParseLicenseID(r.LicenseID)
		if err != nil {
			return atField(err, "license_id")
		}
		if r.LicenseTypeCode != "" && r.LicenseTypeCode != id.TypeCode {
			return invalid("license_type_code", "differs from the type code in license_id")
		}
		if r.IssuerRegion != "" && r.IssuerRegion != id.IssuerRegion() {
			return invalid("issuer_region", "differs from the issuer's region in license_id")
		}
	} else {
		if r.Holder == nil {
			return invalid("license_id", "is required unless holder and license_type_code name the license")
		}
		if r.LicenseTypeCode == "" {
			return invalid("license_type_code", "is required when the license is named by holder")
		}
	}
	if r.Holder != nil {
		if err := r.Holder.validate("holder"); err != nil {
			return err
		}
	}
	if r.LicenseTypeCode != "" {
		if err := ValidateLicenseTypeCode("license_type_code", r.LicenseTypeCode); err != nil {
			return err
		}
	}
	if err := maxLen("license_number", r.LicenseNumber, MaxCodeLen); err != nil {
		return err
	}
	if r.Face != nil {
		if err := r.Face.validate("face"); err != nil {
			return err
		}
	}
	if r.FileSM3 != "" {
		if err := ValidateSM3Hex("file_sm3", r.FileSM3); err != nil {
			return err
		}
	}
	if err := required("purpose", r.Purpose, MaxPurposeChars); err != nil {
		return err
	}
	if r.IssuerRegion != "" {
		if err := ValidateRegion(r.IssuerRegion); err != nil {
			return atField(err, "issuer_region")
		}
	}
	for _, f := range []struct{ name, v string }{{"case_id", r.CaseID}, {"window_id", r.WindowID}} {
		if f.v != "" {
			if err := ValidateOpaqueID(f.name, f.v); err != nil {
				return err
			}
		}
	}
	return maxLen("operator_id", r.OperatorID, MaxCodeLen)
}

// IssuerRegionOf returns the GB/T 2260 region whose library holds the
// license: the issuer's region from the identifier (characters 3–8 of the
// issuer's credit code); else the request's issuer_region; else, for a
// holder named by unified social credit code, the region that registered
// the holder (characters 3–8 of its code). It returns "" when none applies
// (a citizen holder without issuer_region). Call it on a validated request.
func (r *LicenseVerifyRequest) IssuerRegionOf() string {
	if id, err := ParseLicenseID(r.LicenseID); err == nil {
		return id.IssuerRegion()
	}
	if r.IssuerRegion != "" {
		return r.IssuerRegion
	}
	if r.Holder != nil && r.Holder.HolderType == HolderTypeCreditCode {
		return CreditCodeRegion(r.Holder.IDNumber)
	}
	return ""
}

// TypeCode returns the license type code the request names: the one in the
// identifier, else license_type_code. Call it on a validated request.
func (r *LicenseVerifyRequest) TypeCode() string {
	if id, err := ParseLicenseID(r.LicenseID); err == nil {
		return id.TypeCode
	}
	return r.LicenseTypeCode
}

// Validate checks the batch's own fields: purpose (required, at most
// MaxPurposeChars characters), case_id, and 1 to MaxBatchItems items. Items
// are validated one by one by the gateway (after taking the batch's purpose
// and case id), so one bad item does not refuse the others.
func (b *BatchVerifyRequest) Validate() error {
	if err := required("purpose", b.Purpose, MaxPurposeChars); err != nil {
		return err
	}
	if b.CaseID != "" {
		if err := ValidateOpaqueID("case_id", b.CaseID); err != nil {
			return err
		}
	}
	switch n := len(b.Items); {
	case n == 0:
		return invalid("items", "must hold at least one verification")
	case n > MaxBatchItems:
		return invalid("items", fmt.Sprintf("must hold at most %d verifications", MaxBatchItems))
	}
	return nil
}

// Validate checks a license record as a library returned it: a valid
// identifier, type code, issuer credit code and holder, the required names,
// well-formed dates, a known status and, when present, a well-formed file
// digest. The error is a *FieldError naming the first bad field.
func (l *LicenseRecord) Validate() error {
	if _, err := ParseLicenseID(l.LicenseID); err != nil {
		return atField(err, "license_id")
	}
	if err := ValidateLicenseTypeCode("type_code", l.TypeCode); err != nil {
		return err
	}
	if err := required("name", l.Name, MaxNameLen); err != nil {
		return err
	}
	if err := maxLen("type_name", l.TypeName, MaxNameLen); err != nil {
		return err
	}
	if err := required("number", l.Number, MaxCodeLen); err != nil {
		return err
	}
	if err := ValidateHolderType(l.Holder.HolderType); err != nil {
		return atField(err, "holder.holder_type")
	}
	if err := ValidateHolderID(l.Holder.HolderType, l.Holder.IDNumber); err != nil {
		return atField(err, "holder.id_number")
	}
	if err := maxLen("holder.name", l.Holder.Name, MaxNameLen); err != nil {
		return err
	}
	if err := required("issuer_name", l.IssuerName, MaxNameLen); err != nil {
		return err
	}
	if err := ValidateCreditCode(l.IssuerCode); err != nil {
		return atField(err, "issuer_code")
	}
	if err := ValidateDate("valid_from", l.ValidFrom); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"issued_on", l.IssuedOn}, {"valid_until", l.ValidUntil}} {
		if f.v != "" {
			if err := ValidateDate(f.name, f.v); err != nil {
				return err
			}
		}
	}
	if !l.Status.Valid() {
		return invalid("status", "must be valid, suspended, revoked, cancelled or expired")
	}
	if err := freeText("status_reason", l.StatusReason, MaxTextLen); err != nil {
		return err
	}
	if l.FileSM3 != "" {
		return ValidateSM3Hex("file_sm3", l.FileSM3)
	}
	return nil
}
