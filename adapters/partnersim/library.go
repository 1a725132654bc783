package partnersim

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tongban/tongban/contracts"
)

// newLibrary returns the license library cfg describes (see
// Config.Licenses); cfg.Now is set.
func newLibrary(cfg Config) ([]contracts.LicenseRecord, error) {
	if cfg.Licenses == nil && len(cfg.LicenseRegions) > 0 {
		return demoLibrary(cfg.LicenseRegions, cfg.Now())
	}
	if cfg.Licenses == nil {
		if contracts.ValidateRegion(cfg.PartnerID) != nil {
			return []contracts.LicenseRecord{}, nil
		}
		return DemoLicenses(cfg.PartnerID, cfg.Now())
	}
	seen := make(map[string]int, len(cfg.Licenses))
	for i := range cfg.Licenses {
		rec := &cfg.Licenses[i]
		if err := rec.Validate(); err != nil {
			return nil, fmt.Errorf("partnersim: license %d: %w", i, err)
		}
		if j, dup := seen[rec.LicenseID]; dup {
			return nil, fmt.Errorf("partnersim: licenses %d and %d have the same license_id", j, i)
		}
		seen[rec.LicenseID] = i
	}
	return slices.Clone(cfg.Licenses), nil
}

// demoLibrary returns the demo licenses of each of regions, in turn (see
// Config.LicenseRegions). It fails on an invalid or repeated region.
func demoLibrary(regions []string, today time.Time) ([]contracts.LicenseRecord, error) {
	var out []contracts.LicenseRecord
	for i, region := range regions {
		if slices.Contains(regions[:i], region) {
			return nil, fmt.Errorf("partnersim: license regions: %s is listed twice", region)
		}
		recs, err := DemoLicenses(region, today)
		if err != nil {
			return nil, fmt.Errorf("partnersim: license regions[%d]: %w", i, err)
		}
		out = append(out, recs...)
	}
	return out, nil
}

// Licenses returns a copy of the license library, in the order records were
// configured or added.
//
// A lookup finds a license by license_id exactly. Otherwise the holder's id
// type and number and the type code must match, and the license number too
// when the lookup gives one; of several matches the library answers with a
// valid license in force today (in China Standard Time), else one with
// status valid, else the most recently issued (issued_on, else valid_from),
// else the first in the library.
func (s *Sim) Licenses() []contracts.LicenseRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.licenses)
}

// SetLicense puts rec in the library, replacing the record with the same
// license_id or adding it at the end, so that tests can change a license's
// status while the simulator runs. It fails, changing nothing, if rec does
// not pass contracts.LicenseRecord.Validate.
func (s *Sim) SetLicense(rec contracts.LicenseRecord) error {
	if err := rec.Validate(); err != nil {
		return fmt.Errorf("partnersim: license: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.licenses {
		if s.licenses[i].LicenseID == rec.LicenseID {
			s.licenses[i] = rec
			return nil
		}
	}
	s.licenses = append(s.licenses, rec)
	return nil
}

// Lookups returns how many license lookup requests reached the handler,
// including failed, dropped and repeated ones.
func (s *Sim) Lookups() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookups
}

// UsageRecords returns the distinct usage record deliveries received (one
// per delivery_id), in order of arrival.
func (s *Sim) UsageRecords() []contracts.UsageRecordDelivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.usages)
}

// lookup answers a license lookup from the library: an answer echoing
// the exchange_id with the full record when found (see match), or the
// reason to refuse a malformed lookup.
func (s *Sim) lookup(q *contracts.LicenseLookupRequest) (*contracts.LicenseLookupResponse, *refusal) {
	if status, code, msg := checkLookup(q); status != 0 {
		return nil, refuse(status, code, msg)
	}
	today := s.cfg.Now().In(chinaTime).Format(time.DateOnly)
	s.mu.Lock()
	rec, found := match(s.licenses, q, today)
	s.mu.Unlock()
	resp := &contracts.LicenseLookupResponse{ExchangeID: q.ExchangeID, Found: found}
	if found {
		resp.License = &rec
		s.cfg.Logf("partnersim %s: lookup (exchange %s): found %s, status %s", s.cfg.PartnerID, q.ExchangeID, rec.LicenseID, rec.Status)
	} else {
		s.cfg.Logf("partnersim %s: lookup (exchange %s): not found", s.cfg.PartnerID, q.ExchangeID)
	}
	return resp, nil
}

// checkLookup checks a lookup request as a library would before searching:
// a canonical exchange id; the license named by a well-formed license_id,
// or by a valid holder and a type code; a requester region; a purpose of
// at most contracts.MaxPurposeChars characters. It returns the status,
// code and message of the refusal, or a zero status. Messages never repeat
// the values.
func checkLookup(q *contracts.LicenseLookupRequest) (int, contracts.Code, string) {
	bad := func(field string, err error) (int, contracts.Code, string) {
		code := contracts.CodeValidationFailed
		msg := err.Error()
		var fe *contracts.FieldError
		if errors.As(err, &fe) {
			code, msg = fe.Code, fe.Message
		}
		return http.StatusBadRequest, code, field + ": " + msg
	}
	if err := contracts.ValidateUUID(q.ExchangeID); err != nil {
		return http.StatusBadRequest, contracts.CodeInvalidExchangeID, "exchange_id is not a canonical UUID"
	}
	if q.LicenseID != "" {
		if _, err := contracts.ParseLicenseID(q.LicenseID); err != nil {
			return bad("license_id", err)
		}
	} else if q.Holder == nil || q.LicenseTypeCode == "" {
		return http.StatusBadRequest, contracts.CodeValidationFailed, "license_id, or holder and license_type_code, must name the license"
	}
	if q.Holder != nil {
		if err := contracts.ValidateHolderType(q.Holder.HolderType); err != nil {
			return bad("holder.holder_type", err)
		}
		if err := contracts.ValidateHolderID(q.Holder.HolderType, q.Holder.IDNumber); err != nil {
			return bad("holder.id_number", err)
		}
	}
	if q.LicenseTypeCode != "" {
		if err := contracts.ValidateLicenseTypeCode("license_type_code", q.LicenseTypeCode); err != nil {
			return bad("license_type_code", err)
		}
	}
	if err := contracts.ValidateRegion(q.RequesterRegion); err != nil {
		return bad("requester_region", err)
	}
	if strings.TrimSpace(q.Purpose) == "" || utf8.RuneCountInString(q.Purpose) > contracts.MaxPurposeChars {
		return http.StatusBadRequest, contracts.CodeValidationFailed,
			fmt.Sprintf("purpose: is required and at most %d characters", contracts.MaxPurposeChars)
	}
	if q.CaseID != "" {
		if err := contracts.ValidateOpaqueID("case_id", q.CaseID); err != nil {
			return bad("case_id", err)
		}
	}
	return 0, "", ""
}

// match finds the license q names in library. A license_id matches exactly.
// Otherwise the holder's id type and number and the type code must match,
// and the license number too when q gives one; of several matches it
// prefers a valid license in force on today (YYYY-MM-DD), then a license
// with status valid, then the most recently issued (issued_on, else
// valid_from), then the first in the library.
func match(library []contracts.LicenseRecord, q *contracts.LicenseLookupRequest, today string) (contracts.LicenseRecord, bool) {
	if q.LicenseID != "" {
		for _, rec := range library {
			if rec.LicenseID == q.LicenseID {
				return rec, true
			}
		}
		return contracts.LicenseRecord{}, false
	}
	if q.Holder == nil {
		return contracts.LicenseRecord{}, false
	}
	best := -1
	for i, rec := range library {
		if rec.Holder.HolderType != q.Holder.HolderType || rec.Holder.IDNumber != q.Holder.IDNumber ||
			rec.TypeCode != q.LicenseTypeCode || q.LicenseNumber != "" && rec.Number != q.LicenseNumber {
			continue
		}
		if best < 0 || better(rec, library[best], today) {
			best = i
		}
	}
	if best < 0 {
		return contracts.LicenseRecord{}, false
	}
	return library[best], true
}

// better reports whether a is preferred to b (see match).
func better(a, b contracts.LicenseRecord, today string) bool {
	if ra, rb := rank(a, today), rank(b, today); ra != rb {
		return ra > rb
	}
	return issued(a) > issued(b)
}

// rank is 2 for a valid license in force on today, 1 for another license
// with status valid, 0 for the rest.
func rank(rec contracts.LicenseRecord, today string) int {
	if rec.Status != contracts.LicenseStatusValid {
		return 0
	}
	if today < rec.ValidFrom || rec.ValidUntil != "" && today > rec.ValidUntil {
		return 1
	}
	return 2
}

// issued is the license's issue date, else the start of its validity.
func issued(rec contracts.LicenseRecord) string {
	if rec.IssuedOn != "" {
		return rec.IssuedOn
	}
	return rec.ValidFrom
}
