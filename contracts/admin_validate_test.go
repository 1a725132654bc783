package contracts

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// wantRefusal checks err against a table row: nil when code is "",
// else a *FieldError with that code at that field.
func wantRefusal(t *testing.T, err error, code Code, field string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("got %v, want valid", err)
		}
		return
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("got %v, want a *FieldError %s at %q", err, code, field)
	}
	if fe.Code != code || fe.Field != field {
		t.Fatalf("got %s at %q (%v), want %s at %q", fe.Code, fe.Field, err, code, field)
	}
}

func goodEvaluation() EvaluationSubmission {
	return EvaluationSubmission{
		ExchangeID: "0195a3c1-2b4d-7e6f-8a90-1b2c3d4e5f61", CaseID: "case-1", Level: LevelDissatisfied,
		Text: "等了很久。\n窗口态度一般。", Channel: ChannelApp, EvaluatedAt: time.Date(2025, 3, 20, 10, 0, 0, 0, time.UTC),
		Applicant: EvaluationApplicant{HolderType: HolderTypeCitizenID, IDNumber: testCitizen},
	}
}

func TestEvaluationSubmissionValidate(t *testing.T) {
	credit := testIssuer(t)
	tests := []struct {
		name  string
		mod   func(*EvaluationSubmission)
		code  Code // "" = valid
		field string
	}{
		{"valid", func(*EvaluationSubmission) {}, "", ""},
		{"every level", func(e *EvaluationSubmission) { e.Level = LevelVerySatisfied }, "", ""},
		{"every channel", func(e *EvaluationSubmission) { e.Channel = ChannelSMS }, "", ""},
		{"without text", func(e *EvaluationSubmission) { e.Text = "" }, "", ""},
		{"text of 500 characters", func(e *EvaluationSubmission) { e.Text = strings.Repeat("慢", MaxEvaluationText) }, "", ""},
		{"credit code applicant", func(e *EvaluationSubmission) {
			e.Applicant = EvaluationApplicant{HolderType: HolderTypeCreditCode, IDNumber: credit}
		}, "", ""},
		{"bad exchange id", func(e *EvaluationSubmission) { e.ExchangeID = "42" }, CodeInvalidExchangeID, "exchange_id"},
		{"no case id", func(e *EvaluationSubmission) { e.CaseID = "" }, CodeValidationFailed, "case_id"},
		{"blank case id", func(e *EvaluationSubmission) { e.CaseID = " \t" }, CodeValidationFailed, "case_id"},
		{"control character in the case id", func(e *EvaluationSubmission) { e.CaseID = "case\n1" }, CodeValidationFailed, "case_id"},
		{"long case id", func(e *EvaluationSubmission) { e.CaseID = strings.Repeat("c", MaxCodeLen+1) }, CodeValidationFailed, "case_id"},
		{"no level", func(e *EvaluationSubmission) { e.Level = "" }, CodeValidationFailed, "level"},
		{"unknown level", func(e *EvaluationSubmission) { e.Level = "ok" }, CodeValidationFailed, "level"},
		{"level as a score", func(e *EvaluationSubmission) { e.Level = "5" }, CodeValidationFailed, "level"},
		{"no channel", func(e *EvaluationSubmission) { e.Channel = "" }, CodeValidationFailed, "channel"},
		{"unknown channel", func(e *EvaluationSubmission) { e.Channel = "wechat" }, CodeValidationFailed, "channel"},
		{"text of 501 characters", func(e *EvaluationSubmission) { e.Text = strings.Repeat("慢", MaxEvaluationText+1) }, CodeValidationFailed, "text"},
		{"escape in the text", func(e *EvaluationSubmission) { e.Text = "好\x1b[2J" }, CodeValidationFailed, "text"},
		{"invalid UTF-8 in the text", func(e *EvaluationSubmission) { e.Text = "\xff" }, CodeValidationFailed, "text"},
		{"no evaluated_at", func(e *EvaluationSubmission) { e.EvaluatedAt = time.Time{} }, CodeValidationFailed, "evaluated_at"},
		{"evaluated_at after year 9999", func(e *EvaluationSubmission) {
			e.EvaluatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		}, CodeValidationFailed, "evaluated_at"},
		{"no holder type", func(e *EvaluationSubmission) { e.Applicant.HolderType = "" }, CodeInvalidHolderType, "applicant.holder_type"},
		{"passport holder type", func(e *EvaluationSubmission) { e.Applicant.HolderType = "414" }, CodeInvalidHolderType, "applicant.holder_type"},
		{"no id number", func(e *EvaluationSubmission) { e.Applicant.IDNumber = "" }, CodeInvalidCitizenID, "applicant.id_number"},
		{"citizen id check character", func(e *EvaluationSubmission) {
			e.Applicant.IDNumber = testCitizen[:17] + "X"
		}, CodeInvalidCitizenID, "applicant.id_number"},
		{"credit code as a citizen id", func(e *EvaluationSubmission) { e.Applicant.IDNumber = credit }, CodeInvalidCitizenID, "applicant.id_number"},
		{"credit code check character", func(e *EvaluationSubmission) {
			e.Applicant = EvaluationApplicant{HolderType: HolderTypeCreditCode, IDNumber: credit[:17] + "0"}
		}, CodeInvalidCreditCode, "applicant.id_number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := goodEvaluation()
			tt.mod(&e)
			err := e.Validate()
			wantRefusal(t, err, tt.code, tt.field)
			if err != nil && strings.Contains(err.Error(), e.Applicant.IDNumber) && e.Applicant.IDNumber != "" {
				t.Fatalf("error %q repeats the applicant's id", err)
			}
		})
	}
}

func goodReply() EvaluationReply {
	return EvaluationReply{
		ExchangeID: "0195a3c1-2b4d-7e6f-8a90-1b2c3d4e5f62", CaseID: "case-1",
		RepliedAt: time.Date(2025, 3, 25, 16, 0, 0, 0, time.UTC),
		Measures:  "已约谈窗口人员，\n增设午间窗口。", Result: "申请人表示认可。", ContactedApplicant: true,
	}
}

func TestEvaluationReplyValidate(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*EvaluationReply)
		code  Code // "" = valid
		field string
	}{
		{"valid", func(*EvaluationReply) {}, "", ""},
		{"without result", func(r *EvaluationReply) { r.Result = "" }, "", ""},
		{"without contact", func(r *EvaluationReply) { r.ContactedApplicant = false }, "", ""},
		{"measures of 500 characters", func(r *EvaluationReply) { r.Measures = strings.Repeat("改", MaxEvaluationText) }, "", ""},
		{"result of 500 characters", func(r *EvaluationReply) { r.Result = strings.Repeat("好", MaxEvaluationText) }, "", ""},
		{"tab and CRLF in the measures", func(r *EvaluationReply) { r.Measures = "一、\t整改\r\n二、回访" }, "", ""},
		{"bad exchange id", func(r *EvaluationReply) { r.ExchangeID = "0195a3c1-2b4d-7e6f-8a90-1b2c3d4e5f6" }, CodeInvalidExchangeID, "exchange_id"},
		{"no case id", func(r *EvaluationReply) { r.CaseID = "" }, CodeValidationFailed, "case_id"},
		{"no replied_at", func(r *EvaluationReply) { r.RepliedAt = time.Time{} }, CodeValidationFailed, "replied_at"},
		{"replied_at offset of 24h", func(r *EvaluationReply) {
			r.RepliedAt = r.RepliedAt.In(time.FixedZone("", 24*3600))
		}, CodeValidationFailed, "replied_at"},
		{"no measures", func(r *EvaluationReply) { r.Measures = "" }, CodeValidationFailed, "measures"},
		{"whitespace-only measures", func(r *EvaluationReply) { r.Measures = "\n\u3000 " }, CodeValidationFailed, "measures"},
		{"measures of 501 characters", func(r *EvaluationReply) { r.Measures = strings.Repeat("改", MaxEvaluationText+1) }, CodeValidationFailed, "measures"},
		{"NUL in the measures", func(r *EvaluationReply) { r.Measures = "改\x00" }, CodeValidationFailed, "measures"},
		{"result of 501 characters", func(r *EvaluationReply) { r.Result = strings.Repeat("好", MaxEvaluationText+1) }, CodeValidationFailed, "result"},
		{"bell in the result", func(r *EvaluationReply) { r.Result = "好\a" }, CodeValidationFailed, "result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := goodReply()
			tt.mod(&r)
			wantRefusal(t, r.Validate(), tt.code, tt.field)
		})
	}
}

func goldenBundle(t testing.TB) BundleSubmission {
	t.Helper()
	b, err := os.ReadFile("testdata/bundle_submission.json")
	if err != nil {
		t.Fatal(err)
	}
	var s BundleSubmission
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// extraParts appends n parts, each named pN, a copy of the bundle's first
// part with no after.
func extraParts(b *BundleSubmission, n int) {
	for i := 0; i < n; i++ {
		p := b.Parts[0]
		p.Part, p.After = fmt.Sprintf("p%d", i), nil
		b.Parts = append(b.Parts, p)
	}
}

func TestBundleSubmissionValidate(t *testing.T) {
	tests := []struct {
		name      string
		mod       func(*BundleSubmission)
		allowHTTP bool
		code      Code // "" = valid
		field     string
		message   string // when set, the error's message must contain it
	}{
		{"golden", func(*BundleSubmission) {}, false, "", "", ""},
		{"every to_region empty", func(b *BundleSubmission) {
			for i := range b.Parts {
				b.Parts[i].ToRegion = ""
			}
		}, false, "", "", ""},
		{"parts in any order", func(b *BundleSubmission) { b.Parts[0], b.Parts[1] = b.Parts[1], b.Parts[0] }, false, "", "", ""},
		{"a chain of three", func(b *BundleSubmission) {
			extraParts(b, 1)
			b.Parts[2].After = []string{"food", "license"}
		}, false, "", "", ""},
		{"a part waited for by two", func(b *BundleSubmission) {
			extraParts(b, 1)
			b.Parts[2].After = []string{"license"}
		}, false, "", "", ""},
		{"20 parts", func(b *BundleSubmission) { extraParts(b, MaxBundleParts-2) }, false, "", "", ""},
		{"names of 32 characters and every allowed byte", func(b *BundleSubmission) {
			b.Parts[0].Part = strings.Repeat("a", MaxPartNameLen)
			b.Parts[1].Part, b.Parts[1].After = "z09_-", []string{b.Parts[0].Part}
		}, false, "", "", ""},
		{"bad exchange id", func(b *BundleSubmission) { b.ExchangeID = "" }, false, CodeInvalidExchangeID, "exchange_id", ""},
		{"bad from_region", func(b *BundleSubmission) { b.FromRegion = "32040" }, false, CodeInvalidRegion, "from_region", ""},
		{"no name", func(b *BundleSubmission) { b.Name = "" }, false, CodeValidationFailed, "name", ""},
		{"whitespace-only name", func(b *BundleSubmission) { b.Name = "\u3000" }, false, CodeValidationFailed, "name", ""},
		{"newline in the name", func(b *BundleSubmission) { b.Name = "开办\n餐饮店" }, false, CodeValidationFailed, "name", ""},
		{"name of 100 characters", func(b *BundleSubmission) { b.Name = strings.Repeat("事", MaxNameLen) }, false, "", "", ""},
		{"name of 101 characters", func(b *BundleSubmission) { b.Name = strings.Repeat("事", MaxNameLen+1) }, false, CodeValidationFailed, "name", ""},
		{"no parts", func(b *BundleSubmission) { b.Parts = nil }, false, CodeValidationFailed, "parts", "at least 2"},
		{"one part", func(b *BundleSubmission) { b.Parts = b.Parts[:1] }, false, CodeValidationFailed, "parts", "at least 2"},
		{"21 parts", func(b *BundleSubmission) { extraParts(b, MaxBundleParts-1) }, false, CodeValidationFailed, "parts", "at most 20"},
		{"empty part name", func(b *BundleSubmission) { b.Parts[1].Part = "" }, false, CodeValidationFailed, "parts[1].part", ""},
		{"capitals in a part name", func(b *BundleSubmission) { b.Parts[0].Part = "License" }, false, CodeValidationFailed, "parts[0].part", ""},
		{"space in a part name", func(b *BundleSubmission) { b.Parts[0].Part = "food license" }, false, CodeValidationFailed, "parts[0].part", ""},
		{"non-ASCII part name", func(b *BundleSubmission) { b.Parts[0].Part = "执照" }, false, CodeValidationFailed, "parts[0].part", ""},
		{"part name of 33 characters", func(b *BundleSubmission) {
			b.Parts[0].Part = strings.Repeat("a", MaxPartNameLen+1)
		}, false, CodeValidationFailed, "parts[0].part", ""},
		{"two parts of one name", func(b *BundleSubmission) {
			b.Parts[1].Part, b.Parts[1].After = "license", nil
		}, false, CodeValidationFailed, "parts[1].part", "parts[0].part"},
		{"after names no part", func(b *BundleSubmission) { b.Parts[1].After = []string{"permit"} }, false, CodeValidationFailed, "parts[1].after[0]", ""},
		{"after names the part itself", func(b *BundleSubmission) {
			extraParts(b, 1)
			b.Parts[1].After = []string{"license", "food"}
		}, false, CodeValidationFailed, "parts[1].after[1]", "itself"},
		{"after names a part twice", func(b *BundleSubmission) {
			extraParts(b, 1)
			b.Parts[1].After = []string{"license", "license"}
		}, false, CodeValidationFailed, "parts[1].after[1]", ""},
		{"after longer than the bundle", func(b *BundleSubmission) {
			b.Parts[1].After = []string{"license", "license", "license"}
		}, false, CodeValidationFailed, "parts[1].after", ""},
		{"a cycle of two", func(b *BundleSubmission) { b.Parts[0].After = []string{"food"} }, false,
			CodeValidationFailed, "parts[0].after", "license → food → license"},
		{"a cycle of three behind a free part", func(b *BundleSubmission) {
			extraParts(b, 2) // license, food, p0, p1
			b.Parts[2].After = []string{"p1"}
			b.Parts[3].After = []string{"food"}
			b.Parts[1].After = []string{"p0"}
			b.Parts[0].After = []string{"p0"} // license waits for the cycle
		}, false, CodeValidationFailed, "parts[2].after", "p0 → p1 → food → p0"},
		{"part routed back to from_region", func(b *BundleSubmission) { b.Parts[1].ToRegion = b.FromRegion }, false,
			CodeValidationFailed, "parts[1].to_region", ""},
		{"bad part to_region", func(b *BundleSubmission) { b.Parts[0].ToRegion = "33070x" }, false,
			CodeInvalidRegion, "parts[0].to_region", ""},
		{"blank item name", func(b *BundleSubmission) { b.Parts[1].ServiceItem.Name = " " }, false,
			CodeValidationFailed, "parts[1].service_item.name", ""},
		{"form not an object", func(b *BundleSubmission) { b.Parts[0].Form = json.RawMessage(`"x"`) }, false,
			CodeValidationFailed, "parts[0].form", ""},
		{"no form", func(b *BundleSubmission) { b.Parts[1].Form = nil }, false, CodeValidationFailed, "parts[1].form", ""},
		{"material digest", func(b *BundleSubmission) { b.Parts[0].Materials[0].SM3 = "abc" }, false,
			CodeValidationFailed, "parts[0].materials[0].sm3", ""},
		{"http material refused", func(b *BundleSubmission) {
			b.Parts[1].Materials[0].URL = "http://example.gov.cn/M02.pdf"
		}, false, CodeValidationFailed, "parts[1].materials[0].url", ""},
		{"http material where allowed", func(b *BundleSubmission) {
			b.Parts[1].Materials[0].URL = "http://example.gov.cn/M02.pdf"
		}, true, "", "", ""},
		{"license id check character", func(b *BundleSubmission) {
			id := b.Parts[1].LicenseIDs[0]
			b.Parts[1].LicenseIDs[0] = id[:len(id)-1] + "C"
		}, false, CodeInvalidLicenseID, "parts[1].license_ids[0]", ""},
		{"applicant id (common)", func(b *BundleSubmission) { b.Applicant.IDNumber = "110105194912310021" }, false,
			CodeInvalidCitizenID, "applicant.id_number", ""},
		{"agent holder type (common)", func(b *BundleSubmission) {
			b.Agent = &Party{HolderType: "999", IDNumber: testCitizen, Name: "李明"}
		}, false, CodeInvalidHolderType, "agent.holder_type", ""},
		{"window region (common)", func(b *BundleSubmission) { b.Window.Region = "" }, false, CodeInvalidRegion, "window.region", ""},
		{"no submitted_at (common)", func(b *BundleSubmission) { b.SubmittedAt = time.Time{} }, false,
			CodeValidationFailed, "submitted_at", ""},
		{"no received_at (common)", func(b *BundleSubmission) { b.ReceivedAt = time.Time{} }, false,
			CodeValidationFailed, "received_at", ""},
		{"post without address (common)", func(b *BundleSubmission) {
			b.ResultDelivery = ResultDelivery{Method: ResultDeliveryMethodPost, Recipient: "王秀英"}
		}, false, CodeValidationFailed, "result_delivery.address", ""},
		{"escape in the remark (common)", func(b *BundleSubmission) { b.Remark = "\x1b]0;x\a" }, false,
			CodeValidationFailed, "remark", ""},
		{"local case number of 65 characters (common)", func(b *BundleSubmission) {
			b.LocalCaseNo = strings.Repeat("n", MaxCodeLen+1)
		}, false, CodeValidationFailed, "local_case_no", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := goldenBundle(t)
			tt.mod(&b)
			err := b.ValidateWith(ValidationOptions{AllowHTTPMaterialURLs: tt.allowHTTP})
			wantRefusal(t, err, tt.code, tt.field)
			if tt.message != "" && !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("message %q does not say %q", err, tt.message)
			}
		})
	}
}

// TestBundleValidateIsPartValidate: a golden bundle's parts are valid
// submissions carrying the bundle's common fields and their own, and
// Validate is ValidateWith under the default options.
func TestBundleValidateIsPartValidate(t *testing.T) {
	b := goldenBundle(t)
	if err := b.Validate(); err != nil {
		t.Fatalf("golden bundle: %v", err)
	}
	for i := range b.Parts {
		s := b.PartSubmission(i)
		if err := s.Validate(); err != nil {
			t.Errorf("part %d: %v", i, err)
		}
		if s.ExchangeID != b.ExchangeID || s.Applicant != b.Applicant || s.ToRegion != b.Parts[i].ToRegion ||
			s.ServiceItem != b.Parts[i].ServiceItem {
			t.Errorf("part %d: submission %+v does not carry the bundle's and the part's fields", i, s)
		}
	}
	b.Parts[1].Materials[0].URL = "http://example.gov.cn/M02.pdf"
	if b.Validate() == nil {
		t.Fatal("Validate took an http material URL: it must use the default options")
	}
}
