package contracts

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on free-text fields, in characters. They bound what a partner can
// make the gateway store and forward.
const (
	MaxNameLen      = 100
	MaxCodeLen      = 64
	MaxTextLen      = 2000
	MaxMaterials    = 200
	MaxLicenseIDs   = 100
	MaxDocuments    = 50
	MaxCorrections  = 100
	MaxPurposeChars = 200
)

func invalid(field, msg string) *FieldError {
	return &FieldError{Field: field, Code: CodeValidationFailed, Message: msg}
}

// atField places a validator's error on field, keeping its code.
func atField(err error, field string) error {
	if fe, ok := err.(*FieldError); ok {
		return fe.At(field)
	}
	return err
}

// required checks a required one-line value: not empty or only
// whitespace, then as maxLen.
func required(field, v string, max int) error {
	if strings.TrimSpace(v) == "" {
		return invalid(field, "is required")
	}
	return maxLen(field, v, max)
}

// maxLen checks a one-line value (an identifier, a name, a code): valid
// UTF-8, no control character at all, at most max characters.
func maxLen(field, v string, max int) error {
	return checkText(field, v, max, false)
}

// requiredText checks a required free-text value: not empty or only
// whitespace, then as freeText.
func requiredText(field, v string, max int) error {
	if strings.TrimSpace(v) == "" {
		return invalid(field, "is required")
	}
	return freeText(field, v, max)
}

// freeText checks a free-text value (a remark, a reason, an address):
// valid UTF-8, no control character other than tab, carriage return and
// line feed, at most max characters.
func freeText(field, v string, max int) error {
	return checkText(field, v, max, true)
}

func checkText(field, v string, max int, multiline bool) error {
	if !utf8.ValidString(v) {
		return invalid(field, "must be valid UTF-8")
	}
	n := 0
	for _, r := range v {
		n++
		if unicode.IsControl(r) && !(multiline && (r == '\t' || r == '\r' || r == '\n')) {
			if multiline {
				return invalid(field, "must not hold control characters other than tab, carriage return and line feed")
			}
			return invalid(field, "must not hold control characters")
		}
	}
	if n > max {
		return invalid(field, fmt.Sprintf("must be at most %d characters", max))
	}
	return nil
}

// ValidateMaterialURL checks where a material is fetched from: an
// absolute URL with a host, no credentials, scheme https, or http when
// allowHTTP (a deployment's limits.allow_http_material_urls). Anything
// else (file:, ftp:, data:, a relative path) the owning district's
// systems must never be sent to fetch.
func ValidateMaterialURL(field, v string, allowHTTP bool) error {
	if err := maxLen(field, v, MaxTextLen); err != nil {
		return err
	}
	u, err := url.Parse(v)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return invalid(field, "must be an absolute https URL")
	}
	if u.User != nil {
		return invalid(field, "must not carry credentials")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if allowHTTP {
			return nil
		}
		return invalid(field, "must be an https URL (this gateway does not accept http)")
	}
	return invalid(field, "must be an https URL")
}

func validSM3Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ValidateSM3Hex reports whether s is a lowercase hex SM3 digest (64 chars).
func ValidateSM3Hex(field, s string) error {
	if !validSM3Hex(s) {
		return invalid(field, "must be a lowercase hex SM3 digest (64 characters)")
	}
	return nil
}

func (p *Party) validate(field string) error {
	if err := ValidateHolderType(p.HolderType); err != nil {
		return atField(err, field+".holder_type")
	}
	if err := ValidateHolderID(p.HolderType, p.IDNumber); err != nil {
		return atField(err, field+".id_number")
	}
	if err := required(field+".name", p.Name, MaxNameLen); err != nil {
		return err
	}
	return maxLen(field+".phone", p.Phone, 32)
}

// Validate checks everything the gateway can check about a submission
// without looking at its store: identifiers and their check characters,
// required fields, sizes, and that inline material content matches its
// declared size. (The SM3 digest of inline content is checked by the
// gateway, which owns the hash function.) Material URLs must be https.
// The error is a *FieldError naming the first bad field.
func (s *CaseSubmission) Validate() error { return s.ValidateWith(ValidationOptions{}) }

// ValidationOptions are what a deployment decides about submissions.
type ValidationOptions struct {
	// AllowHTTPMaterialURLs lets materials[].url use http as well as https.
	AllowHTTPMaterialURLs bool
}

// ValidateWith is Validate under a deployment's options.
func (s *CaseSubmission) ValidateWith(o ValidationOptions) error {
	if err := ValidateUUID(s.ExchangeID); err != nil {
		return atField(err, "exchange_id")
	}
	if err := ValidateRegion(s.FromRegion); err != nil {
		return atField(err, "from_region")
	}
	if s.ToRegion != "" {
		if err := ValidateRegion(s.ToRegion); err != nil {
			return atField(err, "to_region")
		}
	}
	if s.FromRegion == s.ToRegion {
		return invalid("to_region", "must differ from from_region: a remote case goes to another district")
	}
	if err := checkTime("submitted_at", s.SubmittedAt, true); err != nil {
		return err
	}
	if s.ResubmitsCaseID != "" {
		if err := maxLen("resubmits_case_id", s.ResubmitsCaseID, MaxCodeLen); err != nil {
			return err
		}
	}
	if err := required("service_item.basic_code", s.ServiceItem.BasicCode, MaxCodeLen); err != nil {
		return err
	}
	if err := required("service_item.implementation_code", s.ServiceItem.ImplementationCode, MaxCodeLen); err != nil {
		return err
	}
	if err := required("service_item.name", s.ServiceItem.Name, MaxNameLen); err != nil {
		return err
	}
	if err := maxLen("service_item.department", s.ServiceItem.Department, MaxNameLen); err != nil {
		return err
	}
	if err := s.Applicant.validate("applicant"); err != nil {
		return err
	}
	if s.Agent != nil {
		if err := s.Agent.validate("agent"); err != nil {
			return err
		}
	}
	if err := required("window.window_id", s.Window.WindowID, MaxCodeLen); err != nil {
		return err
	}
	if err := required("window.operator_id", s.Window.OperatorID, MaxCodeLen); err != nil {
		return err
	}
	if err := ValidateRegion(s.Window.Region); err != nil {
		return atField(err, "window.region")
	}
	if err := maxLen("window.name", s.Window.Name, MaxNameLen); err != nil {
		return err
	}
	if err := checkTime("received_at", s.ReceivedAt, true); err != nil {
		return err
	}
	if err := maxLen("local_case_no", s.LocalCaseNo, MaxCodeLen); err != nil {
		return err
	}
	if len(s.Form) == 0 || s.Form[0] != '{' {
		return invalid("form", "must be a JSON object")
	}
	if len(s.Materials) > MaxMaterials {
		return invalid("materials", fmt.Sprintf("at most %d items", MaxMaterials))
	}
	for i := range s.Materials {
		m := &s.Materials[i]
		f := fmt.Sprintf("materials[%d]", i)
		if err := required(f+".material_id", m.MaterialID, MaxCodeLen); err != nil {
			return err
		}
		if err := required(f+".name", m.Name, MaxNameLen); err != nil {
			return err
		}
		if err := required(f+".media_type", m.MediaType, 127); err != nil {
			return err
		}
		if err := ValidateSM3Hex(f+".sm3", m.SM3); err != nil {
			return err
		}
		if m.Size < 0 {
			return invalid(f+".size", "must not be negative")
		}
		if m.Content != nil && int64(len(m.Content)) != m.Size {
			return invalid(f+".size", "does not match the inline content's length")
		}
		if m.Content == nil && m.URL == "" {
			return invalid(f, "needs inline content or a url")
		}
		if m.URL != "" {
			if err := ValidateMaterialURL(f+".url", m.URL, o.AllowHTTPMaterialURLs); err != nil {
				return err
			}
		}
	}
	if len(s.LicenseIDs) > MaxLicenseIDs {
		return invalid("license_ids", fmt.Sprintf("at most %d items", MaxLicenseIDs))
	}
	for i, id := range s.LicenseIDs {
		if _, err := ParseLicenseID(id); err != nil {
			return atField(err, fmt.Sprintf("license_ids[%d]", i))
		}
	}
	rd := &s.ResultDelivery
	if !rd.Method.Valid() {
		return invalid("result_delivery.method", "must be window_pickup, post or electronic")
	}
	if rd.Method == ResultDeliveryMethodPost {
		if err := requiredText("result_delivery.address", rd.Address, MaxTextLen); err != nil {
			return err
		}
		if err := required("result_delivery.recipient", rd.Recipient, MaxNameLen); err != nil {
			return err
		}
	}
	for _, f := range []struct{ name, v string }{
		{"result_delivery.recipient", rd.Recipient}, {"result_delivery.phone", rd.Phone},
		{"result_delivery.postal_code", rd.PostalCode},
	} {
		if err := maxLen(f.name, f.v, MaxTextLen); err != nil {
			return err
		}
	}
	for _, f := range []struct{ name, v string }{{"result_delivery.address", rd.Address}, {"remark", s.Remark}} {
		if err := freeText(f.name, f.v, MaxTextLen); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks a status update on its own: the state is a lifecycle
// state an owner may report, and the fields that state needs are present
// (reason for rejected and correction_required, outcome for concluded,
// dispatch for dispatched). Whether the transition is allowed from the
// case's current state is the gateway's decision.
func (u *StatusUpdate) Validate() error {
	if err := ValidateUUID(u.ExchangeID); err != nil {
		return atField(err, "exchange_id")
	}
	if err := required("case_id", u.CaseID, MaxCodeLen); err != nil {
		return err
	}
	switch u.State {
	case CaseStateAccepted, CaseStateRejected, CaseStateCorrectionRequired, CaseStateInProgress,
		CaseStateConcluded, CaseStateDispatched, CaseStateDelivered:
	default:
		return invalid("state", "must be accepted, rejected, correction_required, in_progress, concluded, dispatched or delivered")
	}
	if err := checkTime("reported_at", u.ReportedAt, true); err != nil {
		return err
	}
	if err := checkTime("delivered_at", u.DeliveredAt, false); err != nil {
		return err
	}
	if u.Dispatch != nil {
		if err := checkTime("dispatch.dispatched_at", u.Dispatch.DispatchedAt, false); err != nil {
			return err
		}
	}
	if err := maxLen("owner_case_no", u.OwnerCaseNo, MaxTextLen); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"note", u.Note}, {"reason", u.Reason}} {
		if err := freeText(f.name, f.v, MaxTextLen); err != nil {
			return err
		}
	}
	if (u.State == CaseStateRejected || u.State == CaseStateCorrectionRequired) && strings.TrimSpace(u.Reason) == "" {
		return invalid("reason", "is required for "+string(u.State))
	}
	if u.State == CaseStateCorrectionRequired && len(u.CorrectionItems) == 0 {
		return invalid("correction_items", "must list what to correct")
	}
	if len(u.CorrectionItems) > MaxCorrections {
		return invalid("correction_items", fmt.Sprintf("at most %d items", MaxCorrections))
	}
	for i, c := range u.CorrectionItems {
		if err := requiredText(fmt.Sprintf("correction_items[%d]", i), c, MaxTextLen); err != nil {
			return err
		}
	}
	if u.State == CaseStateConcluded {
		if !u.Outcome.Valid() {
			return invalid("outcome", "must be approved or denied when the case is concluded")
		}
	} else if u.Outcome != "" {
		return invalid("outcome", "is only allowed with state concluded")
	}
	if len(u.Documents) > MaxDocuments {
		return invalid("documents", fmt.Sprintf("at most %d items", MaxDocuments))
	}
	for i := range u.Documents {
		d := &u.Documents[i]
		f := fmt.Sprintf("documents[%d]", i)
		if err := required(f+".name", d.Name, MaxNameLen); err != nil {
			return err
		}
		if err := required(f+".media_type", d.MediaType, 127); err != nil {
			return err
		}
		if err := ValidateSM3Hex(f+".sm3", d.SM3); err != nil {
			return err
		}
		if d.Content != nil && int64(len(d.Content)) != d.Size {
			return invalid(f+".size", "does not match the inline content's length")
		}
		if d.LicenseID != "" {
			if _, err := ParseLicenseID(d.LicenseID); err != nil {
				return atField(err, f+".license_id")
			}
		}
	}
	if u.State == CaseStateDispatched {
		if u.Dispatch == nil {
			return invalid("dispatch", "is required for dispatched")
		}
		switch u.Dispatch.Method {
		case ResultDeliveryMethodPost:
			if err := required("dispatch.tracking_number", u.Dispatch.TrackingNumber, MaxCodeLen); err != nil {
				return err
			}
			if err := required("dispatch.carrier", u.Dispatch.Carrier, MaxNameLen); err != nil {
				return err
			}
		case ResultDeliveryMethodElectronic:
		default:
			return invalid("dispatch.method", "must be post or electronic")
		}
		if u.Dispatch.DispatchedAt.IsZero() {
			return invalid("dispatch.dispatched_at", "is required")
		}
	}
	if u.State == CaseStateDelivered && u.DeliveredAt.IsZero() {
		return invalid("delivered_at", "is required for delivered")
	}
	return nil
}

// checkTime checks a time field: present when required, and, when set, one
// that RFC 3339 can carry back out (a year from 0 to 9999, a zone offset
// under 24 hours): the gateway writes every time it accepts into the
// deliveries it signs, so a time it could not write would fail later, as an
// internal error, instead of now as the caller's.
func checkTime(field string, t time.Time, required bool) error {
	if t.IsZero() {
		if required {
			return invalid(field, "is required")
		}
		return nil
	}
	_, off := t.Zone()
	if y := t.Year(); y < 0 || y > 9999 || off <= -24*3600 || off >= 24*3600 {
		return invalid(field, "is out of range (year 0 to 9999, zone offset under 24 hours)")
	}
	return nil
}
