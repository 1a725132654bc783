package contracts

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzFieldValidators feeds arbitrary strings to the validators of single
// fields (opaque ids, dates, license type codes, SM3 digests). A refusal is
// a *FieldError at the field given, with validation_failed and a message
// that does not repeat the value; what one accepts has exactly the shape it
// promises: an opaque id of 1 to 64 characters, a calendar date that
// formats back to itself, 21 characters of 0-9 and A-Z, 64 lowercase hex
// digits that decode to 32 bytes.
func FuzzFieldValidators(f *testing.F) {
	for _, s := range []string{"", "c-1", "window-320404", "-x", "a b", strings.Repeat("a", 64), strings.Repeat("a", 65),
		"2026-02-28", "2026-02-29", "2024-02-29", "2026-1-01", "+2026-01-01", "11100000000013127D001", "11100000000013127d001",
		strings.Repeat("0a", 32), strings.Repeat("0A", 32), strings.Repeat("0a", 31), "é"} {
		f.Add(s)
	}
	refused := func(t *testing.T, err error, field, value string) {
		t.Helper()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field || fe.Code != CodeValidationFailed {
			t.Fatalf("%s: refusal %v is not a validation_failed *FieldError at the field", field, err)
		}
		if len(value) >= 6 && strings.Contains(err.Error(), value) {
			t.Fatalf("%s: refusal %q repeats the value", field, err)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := ValidateOpaqueID("case_id", s); err != nil {
			refused(t, err, "case_id", s)
		} else if len(s) < 1 || len(s) > MaxOpaqueIDLen || strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") != "" ||
			strings.ContainsAny(s[:1], "._:-") {
			t.Fatalf("opaque id %q accepted", s)
		}
		if err := ValidateDate("valid_from", s); err != nil {
			refused(t, err, "valid_from", s)
		} else if d, err := time.Parse(time.DateOnly, s); err != nil || d.Format(time.DateOnly) != s {
			t.Fatalf("date %q accepted, formats back as %q (%v)", s, d.Format(time.DateOnly), err)
		}
		if err := ValidateLicenseTypeCode("license_type_code", s); err != nil {
			refused(t, err, "license_type_code", s)
		} else if len(s) != 21 || strings.Trim(s, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			t.Fatalf("license type code %q accepted", s)
		}
		if err := ValidateSM3Hex("body_sm3", s); err != nil {
			refused(t, err, "body_sm3", s)
		} else if b, err := hex.DecodeString(s); err != nil || len(b) != 32 || hex.EncodeToString(b) != s {
			t.Fatalf("digest %q accepted (%v)", s, err)
		}
	})
}
