package contracts

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// Fixtures built with the package's own check-character functions.
func testIssuer(t testing.TB) string {
	t.Helper()
	c, err := CreditCodeCheck("11330702000000019")
	if err != nil {
		t.Fatal(err)
	}
	return "11330702000000019" + string(c)
}

func testLicenseID(t testing.TB) LicenseID {
	t.Helper()
	id, err := NewLicenseID("11100000000013127D001", testIssuer(t), "A1", "001")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

const testCitizen = "330702199003071233"

func TestLicenseVerifyRequestValidate(t *testing.T) {
	id := testLicenseID(t)
	s := id.String()
	wrongCheck := s[:len(s)-1] + map[bool]string{true: "2", false: "1"}[s[len(s)-1] == '1']
	citizen := &Holder{HolderType: HolderTypeCitizenID, IDNumber: testCitizen}
	tests := []struct {
		name  string
		req   LicenseVerifyRequest
		code  Code   // "" = valid
		field string // the field the error names
	}{
		{"by id", LicenseVerifyRequest{LicenseID: s, Purpose: "办理"}, "", ""},
		{"by holder", LicenseVerifyRequest{Holder: citizen, LicenseTypeCode: id.TypeCode, IssuerRegion: "330702", Purpose: "办理"}, "", ""},
		{"id with everything", LicenseVerifyRequest{LicenseID: s, Holder: citizen, LicenseTypeCode: id.TypeCode, IssuerRegion: "330702",
			LicenseNumber: "NO-1", Face: &LicenseFace{HolderName: "李华", ValidFrom: "2024-01-02", ValidUntil: "2034-01-01"},
			FileSM3: strings.Repeat("a", 64), Purpose: "办理", CaseID: "c-1", WindowID: "w-1", OperatorID: "op 1"}, "", ""},
		{"wrong check character", LicenseVerifyRequest{LicenseID: wrongCheck, Purpose: "x"}, CodeInvalidLicenseID, "license_id"},
		{"nothing names the license", LicenseVerifyRequest{Purpose: "x"}, CodeValidationFailed, "license_id"},
		{"holder without type", LicenseVerifyRequest{Holder: citizen, Purpose: "x"}, CodeValidationFailed, "license_type_code"},
		{"bad holder type", LicenseVerifyRequest{Holder: &Holder{HolderType: "002", IDNumber: testCitizen}, LicenseTypeCode: id.TypeCode, Purpose: "x"}, CodeInvalidHolderType, "holder.holder_type"},
		{"bad citizen check", LicenseVerifyRequest{Holder: &Holder{HolderType: "111", IDNumber: testCitizen[:17] + "X"}, LicenseTypeCode: id.TypeCode, Purpose: "x"}, CodeInvalidCitizenID, "holder.id_number"},
		{"bad credit code", LicenseVerifyRequest{Holder: &Holder{HolderType: "001", IDNumber: testIssuer(t)[:17] + "0"}, LicenseTypeCode: id.TypeCode, Purpose: "x"}, CodeInvalidCreditCode, "holder.id_number"},
		{"type differs from id", LicenseVerifyRequest{LicenseID: s, LicenseTypeCode: "11100000000013127D002", Purpose: "x"}, CodeValidationFailed, "license_type_code"},
		{"region differs from id", LicenseVerifyRequest{LicenseID: s, IssuerRegion: "320404", Purpose: "x"}, CodeValidationFailed, "issuer_region"},
		{"bad type code", LicenseVerifyRequest{Holder: citizen, LicenseTypeCode: "short", Purpose: "x"}, CodeValidationFailed, "license_type_code"},
		{"bad region", LicenseVerifyRequest{Holder: citizen, LicenseTypeCode: id.TypeCode, IssuerRegion: "33070", Purpose: "x"}, CodeInvalidRegion, "issuer_region"},
		{"no purpose", LicenseVerifyRequest{LicenseID: s}, CodeValidationFailed, "purpose"},
		{"blank purpose", LicenseVerifyRequest{LicenseID: s, Purpose: "  "}, CodeValidationFailed, "purpose"},
		{"purpose of 200 characters", LicenseVerifyRequest{LicenseID: s, Purpose: strings.Repeat("事", 200)}, "", ""},
		{"purpose of 201 characters", LicenseVerifyRequest{LicenseID: s, Purpose: strings.Repeat("事", 201)}, CodeValidationFailed, "purpose"},
		{"bad date", LicenseVerifyRequest{LicenseID: s, Purpose: "x", Face: &LicenseFace{ValidUntil: "2026-02-30"}}, CodeValidationFailed, "face.valid_until"},
		{"bad digest", LicenseVerifyRequest{LicenseID: s, Purpose: "x", FileSM3: "ABC"}, CodeValidationFailed, "file_sm3"},
		{"bad case id", LicenseVerifyRequest{LicenseID: s, Purpose: "x", CaseID: "-x"}, CodeValidationFailed, "case_id"},
		{"bad window id", LicenseVerifyRequest{LicenseID: s, Purpose: "x", WindowID: "a b"}, CodeValidationFailed, "window_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Validate()
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate() = %v, want a *FieldError with code %s", err, tt.code)
			}
			if fe.Code != tt.code || fe.Field != tt.field {
				t.Errorf("Validate() = %s at %q, want %s at %q (%v)", fe.Code, fe.Field, tt.code, tt.field, err)
			}
		})
	}
}

func TestIssuerRegionOfAndTypeCode(t *testing.T) {
	id := testLicenseID(t)
	company := &Holder{HolderType: HolderTypeCreditCode, IDNumber: testIssuer(t)}
	tests := []struct {
		name       string
		req        LicenseVerifyRequest
		region, tc string
	}{
		{"from the identifier", LicenseVerifyRequest{LicenseID: id.String()}, "330702", id.TypeCode},
		{"from issuer_region", LicenseVerifyRequest{Holder: company, LicenseTypeCode: "X", IssuerRegion: "610102"}, "610102", "X"},
		{"from a company holder", LicenseVerifyRequest{Holder: company, LicenseTypeCode: "X"}, "330702", "X"},
		{"a citizen holder alone", LicenseVerifyRequest{Holder: &Holder{HolderType: "111", IDNumber: testCitizen}}, "", ""},
	}
	for _, tt := range tests {
		if got := tt.req.IssuerRegionOf(); got != tt.region {
			t.Errorf("%s: IssuerRegionOf() = %q, want %q", tt.name, got, tt.region)
		}
		if got := tt.req.TypeCode(); got != tt.tc {
			t.Errorf("%s: TypeCode() = %q, want %q", tt.name, got, tt.tc)
		}
	}
}

func TestBatchVerifyRequestValidate(t *testing.T) {
	item := LicenseVerifyRequest{LicenseID: testLicenseID(t).String()}
	tests := []struct {
		name string
		b    BatchVerifyRequest
		ok   bool
	}{
		{"one", BatchVerifyRequest{Purpose: "x", Items: []LicenseVerifyRequest{item}}, true},
		{"100", BatchVerifyRequest{Purpose: "x", Items: make([]LicenseVerifyRequest, 100)}, true},
		{"101", BatchVerifyRequest{Purpose: "x", Items: make([]LicenseVerifyRequest, 101)}, false},
		{"none", BatchVerifyRequest{Purpose: "x"}, false},
		{"no purpose", BatchVerifyRequest{Items: []LicenseVerifyRequest{item}}, false},
		{"bad case id", BatchVerifyRequest{Purpose: "x", CaseID: "a b", Items: []LicenseVerifyRequest{item}}, false},
	}
	for _, tt := range tests {
		if err := tt.b.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestLicenseRecordValidate(t *testing.T) {
	id := testLicenseID(t)
	good := LicenseRecord{LicenseID: id.String(), TypeCode: id.TypeCode, Name: "营业执照", Number: "NO-1",
		Holder: Party{HolderType: "111", IDNumber: testCitizen, Name: "李华"}, IssuerName: "局", IssuerCode: testIssuer(t),
		ValidFrom: "2024-01-02", Status: LicenseStatusValid}
	if err := good.Validate(); err != nil {
		t.Fatalf("good record: %v", err)
	}
	for _, tt := range []struct {
		field string
		mut   func(r *LicenseRecord)
	}{
		{"license_id", func(r *LicenseRecord) { r.LicenseID = "x" }},
		{"type_code", func(r *LicenseRecord) { r.TypeCode = "x" }},
		{"name", func(r *LicenseRecord) { r.Name = "" }},
		{"number", func(r *LicenseRecord) { r.Number = "" }},
		{"holder.id_number", func(r *LicenseRecord) { r.Holder.IDNumber = "1" }},
		{"issuer_code", func(r *LicenseRecord) { r.IssuerCode = "x" }},
		{"valid_from", func(r *LicenseRecord) { r.ValidFrom = "" }},
		{"valid_until", func(r *LicenseRecord) { r.ValidUntil = "2024-13-01" }},
		{"status", func(r *LicenseRecord) { r.Status = "lost" }},
		{"file_sm3", func(r *LicenseRecord) { r.FileSM3 = "zz" }},
	} {
		r := good
		tt.mut(&r)
		var fe *FieldError
		if err := r.Validate(); !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("bad %s: Validate() = %v, want an error at %s", tt.field, err, tt.field)
		}
	}
}

// FuzzLicenseVerifyRequest decodes arbitrary JSON as a verification request
// and validates it: it must never panic, and a request that validates must
// name a routable type and, unless it names a citizen holder alone, a region.
func FuzzLicenseVerifyRequest(f *testing.F) {
	id := testLicenseID(f).String()
	f.Add([]byte(`{"license_id":"` + id + `","purpose":"x"}`))
	f.Add([]byte(`{"holder":{"holder_type":"111","id_number":"` + testCitizen + `"},"license_type_code":"11100000000013127D001","purpose":"x"}`))
	f.Add([]byte(`{"license_id":"1.2.156.3005.2.x","face":{"valid_from":"2024-02-30"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r LicenseVerifyRequest
		if json.Unmarshal(b, &r) != nil {
			return
		}
		if r.Validate() != nil {
			return
		}
		if len(r.TypeCode()) != 21 {
			t.Fatalf("valid request %s has type code %q", b, r.TypeCode())
		}
		if reg := r.IssuerRegionOf(); reg != "" && ValidateRegion(reg) != nil {
			t.Fatalf("valid request %s routes to bad region %q", b, reg)
		}
	})
}
