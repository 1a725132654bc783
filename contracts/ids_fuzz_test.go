package contracts

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzFieldError fails t unless err is a *FieldError with code and no field.
func fuzzFieldError(t *testing.T, err error, code Code) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("got error %v of type %T, want *FieldError", err, err)
	}
	if fe.Code != code || fe.Field != "" || fe.Message == "" {
		t.Fatalf("got FieldError{Field: %q, Code: %s, Message: %q}, want code %s, no field and a message", fe.Field, fe.Code, fe.Message, code)
	}
}

func FuzzValidateRegion(f *testing.F) {
	for _, s := range []string{
		"320404", "320400", "320000", "310116", "419001", "320004", "820000",
		"", "32040", "3204041", "160000", "000000", "900000", "32040a", "３２０４０４",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		err := ValidateRegion(code)
		level := RegionLevelOf(code)
		chain := RegionFallbacks(code)
		if err != nil {
			fuzzFieldError(t, err, CodeInvalidRegion)
			if level != 0 || chain != nil {
				t.Fatalf("invalid code: got level %v and fallbacks %q, want 0 and nil", level, chain)
			}
			return
		}
		if len(code) != 6 || !allDigits(code) {
			t.Fatalf("ValidateRegion(%q) = nil for a code that is not six digits", code)
		}
		if level == 0 {
			t.Fatalf("RegionLevelOf(%q) = 0 for a valid code", code)
		}
		if len(chain) == 0 || chain[0] != code {
			t.Fatalf("RegionFallbacks(%q) = %q, want it to start with the code", code, chain)
		}
		if last := chain[len(chain)-1]; last != code[:2]+"0000" {
			t.Fatalf("RegionFallbacks(%q) = %q, want it to end with the province", code, chain)
		}
		for i, c := range chain {
			if err := ValidateRegion(c); err != nil {
				t.Fatalf("RegionFallbacks(%q)[%d] = %q is invalid: %v", code, i, c, err)
			}
			if i > 0 && RegionLevelOf(c) >= RegionLevelOf(chain[i-1]) {
				t.Fatalf("RegionFallbacks(%q) = %q is not ordered most specific first", code, chain)
			}
		}
	})
}

func FuzzValidateCitizenID(f *testing.F) {
	for _, s := range goodCitizenIDs {
		f.Add(s)
	}
	for _, s := range []string{
		"", "11010519491231002x", "110105194912310021", "320404190002291238",
		"320404189912311236", "320404209912311231", "160101199001011236",
		"110105491231002", "１１０１０５１９４９１２３１００２X",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := ValidateCitizenID(id)
		if err != nil {
			fuzzFieldError(t, err, CodeInvalidCitizenID)
			return
		}
		if len(id) != 18 {
			t.Fatalf("ValidateCitizenID accepted %d bytes", len(id))
		}
		check, cerr := CitizenIDCheck(id[:17])
		if cerr != nil || check != id[17] {
			t.Fatalf("ValidateCitizenID(%q) = nil, but CitizenIDCheck = %q, %v", id, check, cerr)
		}
		if err := ValidateRegion(id[:6]); err != nil {
			t.Fatalf("ValidateCitizenID(%q) = nil with an invalid region: %v", id, err)
		}
		if err := ValidateHolderID(HolderTypeCitizenID, id); err != nil {
			t.Fatalf("ValidateHolderID(111, %q) = %v, want nil", id, err)
		}
	})
}

func FuzzValidateCreditCode(f *testing.F) {
	for _, s := range goodCreditCodes {
		f.Add(s)
	}
	for _, s := range []string{
		"", "91350100m000100y43", "91350100M000100Y44", "91350100I000100Y43",
		"91160100MA1MYB8B5P", "91350100M000100Y4", "91350100M000100Y431",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		err := ValidateCreditCode(code)
		if err != nil {
			fuzzFieldError(t, err, CodeInvalidCreditCode)
			return
		}
		if len(code) != 18 {
			t.Fatalf("ValidateCreditCode accepted %d bytes", len(code))
		}
		check, cerr := CreditCodeCheck(code[:17])
		if cerr != nil || check != code[17] {
			t.Fatalf("ValidateCreditCode(%q) = nil, but CreditCodeCheck = %q, %v", code, check, cerr)
		}
		if err := ValidateRegion(CreditCodeRegion(code)); err != nil {
			t.Fatalf("ValidateCreditCode(%q) = nil with an invalid region: %v", code, err)
		}
		for i := 0; i < len(code); i++ {
			if !strings.ContainsRune(creditAlphabet, rune(code[i])) {
				t.Fatalf("ValidateCreditCode(%q) = nil with a character outside the alphabet", code)
			}
		}
	})
}

func FuzzParseLicenseID(f *testing.F) {
	for _, tt := range goodLicenseIDs {
		f.Add(tt.s)
	}
	for _, s := range licenseEveryCheck[:6] {
		f.Add(s)
	}
	for _, s := range []string{
		"",
		LicenseIDPrefix,
		"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.320404202400001.001.5",
		"1.2.156.3005.2.11100000000000000e001.91350100M000100Y43.320404202400001.001.4",
		"1.2.156.3005.2.11100000000000000E001.91350100M000100Y44.320404202400001.001.E",
		"1.2.156.3005.3.11100000000000000E001.91350100M000100Y43.320404202400001.001.4",
		"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.320404202400001.001.4.",
		"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.001.U",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLicenseID(s)
		if err != nil {
			fuzzFieldError(t, err, CodeInvalidLicenseID)
			if l != (LicenseID{}) {
				t.Fatalf("ParseLicenseID(%q) failed but returned %+v", s, l)
			}
			return
		}
		if got := l.String(); got != s {
			t.Fatalf("ParseLicenseID(%q).String() = %q", s, got)
		}
		if err := ValidateCreditCode(l.Issuer); err != nil {
			t.Fatalf("ParseLicenseID(%q) = nil with an invalid issuer: %v", s, err)
		}
		if err := ValidateRegion(l.IssuerRegion()); err != nil {
			t.Fatalf("ParseLicenseID(%q) = nil with an invalid issuer region: %v", s, err)
		}
		check, cerr := LicenseIDCheck(l.TypeCode + l.Issuer + l.Serial + l.Version)
		if cerr != nil || check != l.Check {
			t.Fatalf("ParseLicenseID(%q) = nil, but LicenseIDCheck = %q, %v", s, check, cerr)
		}
		n, nerr := NewLicenseID(l.TypeCode, l.Issuer, l.Serial, l.Version)
		if nerr != nil || n != l {
			t.Fatalf("NewLicenseID of the parts of %q = %+v, %v; want %+v", s, n, nerr, l)
		}
	})
}

func FuzzValidateHolderID(f *testing.F) {
	f.Add(HolderTypeCitizenID, "11010519491231002X")
	f.Add(HolderTypeCreditCode, "91350100M000100Y43")
	f.Add(HolderTypeCitizenID, "91350100M000100Y43")
	f.Add(HolderTypeCreditCode, "11010519491231002X")
	f.Add("", "")
	f.Add("002", "91350100M000100Y43")
	f.Add("11", "11010519491231002x")
	f.Fuzz(func(t *testing.T, typ, id string) {
		err := ValidateHolderID(typ, id)
		switch typ {
		case HolderTypeCitizenID:
			if (err == nil) != (ValidateCitizenID(id) == nil) {
				t.Fatalf("ValidateHolderID(111, %q) = %v disagrees with ValidateCitizenID", id, err)
			}
			if err != nil {
				fuzzFieldError(t, err, CodeInvalidCitizenID)
			}
		case HolderTypeCreditCode:
			if (err == nil) != (ValidateCreditCode(id) == nil) {
				t.Fatalf("ValidateHolderID(001, %q) = %v disagrees with ValidateCreditCode", id, err)
			}
			if err != nil {
				fuzzFieldError(t, err, CodeInvalidCreditCode)
			}
		default:
			fuzzFieldError(t, err, CodeInvalidHolderType)
			fuzzFieldError(t, ValidateHolderType(typ), CodeInvalidHolderType)
		}
	})
}

func FuzzMaskID(f *testing.F) {
	for _, s := range []string{
		"", "a", "12345678", "123456789", "11010519491231002X", "91350100M000100Y43",
		"张三李四王五赵六钱七", "ab\xffcdefgh\xfeij", "\xe4\xb8\xad\xe4\xb8", "a\xe4\xb8\xad\xadbcdefghij",
		goodLicenseIDs[0].s,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := MaskID(s)
		n := utf8.RuneCountInString(s)
		if m := utf8.RuneCountInString(got); m != n {
			t.Fatalf("MaskID(%q) = %q has %d characters, want %d", s, got, m, n)
		}
		if n <= 8 {
			if got != strings.Repeat("*", n) {
				t.Fatalf("MaskID(%q) = %q, want all '*'", s, got)
			}
			return
		}
		// Split both strings into characters the way MaskID counts them.
		in, out := make([]string, 0, n), make([]string, 0, n)
		for _, p := range []struct {
			s   string
			dst *[]string
		}{{s, &in}, {got, &out}} {
			prev := -1
			for off := range p.s {
				if prev >= 0 {
					*p.dst = append(*p.dst, p.s[prev:off])
				}
				prev = off
			}
			*p.dst = append(*p.dst, p.s[prev:])
		}
		for i := range out {
			if i < 4 || i >= n-4 {
				if out[i] != in[i] {
					t.Fatalf("MaskID(%q) = %q changes character %d", s, got, i)
				}
			} else if out[i] != "*" {
				t.Fatalf("MaskID(%q) = %q reveals character %d", s, got, i)
			}
		}
	})
}
