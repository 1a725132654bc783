package contracts

import (
	"errors"
	"testing"
	"time"
)

// TestValidateRefusesHostileText: control characters in identifiers and
// names, control characters other than tab/CR/LF in free text, required
// fields that are only whitespace, and material URLs that are not https
// are refused with validation_failed naming the field.
func TestValidateRefusesHostileText(t *testing.T) {
	tests := []struct {
		name      string
		mod       func(*CaseSubmission)
		allowHTTP bool
		field     string // "" means valid
	}{
		{"NUL in an id", func(s *CaseSubmission) { s.Window.WindowID = "window\x00-320404" }, false, "window.window_id"},
		{"newline in an id", func(s *CaseSubmission) { s.Materials[0].MaterialID = "M01\nM02" }, false, "materials[0].material_id"},
		{"escape in a name", func(s *CaseSubmission) { s.Applicant.Name = "王\x1b[31m秀英" }, false, "applicant.name"},
		{"C1 control in a name", func(s *CaseSubmission) { s.ServiceItem.Name = "登记\u0085" }, false, "service_item.name"},
		{"DEL in a code", func(s *CaseSubmission) { s.ServiceItem.BasicCode = "0001\x7f" }, false, "service_item.basic_code"},
		{"tab in a resubmission id", func(s *CaseSubmission) { s.ResubmitsCaseID = "a\tb" }, false, "resubmits_case_id"},
		{"bell in the remark", func(s *CaseSubmission) { s.Remark = "ok\a" }, false, "remark"},
		{"newline and tab in the remark", func(s *CaseSubmission) { s.Remark = "第一行\r\n\t第二行" }, false, ""},
		{"newline in the address", func(s *CaseSubmission) { s.ResultDelivery.Address = "江苏省常州市\n钟楼区" }, false, ""},
		{"NUL in the address", func(s *CaseSubmission) { s.ResultDelivery.Address = "江苏省\x00" }, false, "result_delivery.address"},
		{"whitespace-only name", func(s *CaseSubmission) { s.ServiceItem.Name = " \t\u3000 " }, false, "service_item.name"},
		{"whitespace-only operator", func(s *CaseSubmission) { s.Window.OperatorID = "\u00a0" }, false, "window.operator_id"},
		{"whitespace-only address for post", func(s *CaseSubmission) { s.ResultDelivery.Address = "\n\n" }, false, "result_delivery.address"},
		{"file URL", func(s *CaseSubmission) { s.Materials[1].URL = "file:///etc/passwd" }, false, "materials[1].url"},
		{"file URL with http allowed", func(s *CaseSubmission) { s.Materials[1].URL = "file:///etc/passwd" }, true, "materials[1].url"},
		{"ftp URL", func(s *CaseSubmission) { s.Materials[1].URL = "ftp://example.gov.cn/a.jpg" }, false, "materials[1].url"},
		{"gopher URL", func(s *CaseSubmission) { s.Materials[1].URL = "gopher://127.0.0.1:6379/_FLUSHALL" }, false, "materials[1].url"},
		{"data URL", func(s *CaseSubmission) { s.Materials[1].URL = "data:text/plain,hi" }, false, "materials[1].url"},
		{"relative URL", func(s *CaseSubmission) { s.Materials[1].URL = "/materials/M02.jpg" }, false, "materials[1].url"},
		{"scheme without host", func(s *CaseSubmission) { s.Materials[1].URL = "https:///M02.jpg" }, false, "materials[1].url"},
		{"credentials in the URL", func(s *CaseSubmission) { s.Materials[1].URL = "https://user:pw@example.gov.cn/M02.jpg" }, false, "materials[1].url"},
		{"control character in the URL", func(s *CaseSubmission) { s.Materials[1].URL = "https://example.gov.cn/\x00" }, false, "materials[1].url"},
		{"http URL refused by default", func(s *CaseSubmission) { s.Materials[1].URL = "http://example.gov.cn/M02.jpg" }, false, "materials[1].url"},
		{"http URL where allowed", func(s *CaseSubmission) { s.Materials[1].URL = "http://example.gov.cn/M02.jpg" }, true, ""},
		{"HTTPS in capitals", func(s *CaseSubmission) { s.Materials[1].URL = "HTTPS://example.gov.cn/M02.jpg" }, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := goldenSubmission(t)
			tt.mod(&s)
			err := s.ValidateWith(ValidationOptions{AllowHTTPMaterialURLs: tt.allowHTTP})
			if tt.field == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || fe.Code != CodeValidationFailed {
				t.Fatalf("got %v, want validation_failed on %s", err, tt.field)
			}
		})
	}
}

// TestStatusUpdateRefusesHostileText: the same rules on a status update.
func TestStatusUpdateRefusesHostileText(t *testing.T) {
	base := func() StatusUpdate {
		return StatusUpdate{
			ExchangeID: "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10", CaseID: "c-1", State: CaseStateCorrectionRequired,
			ReportedAt: time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC), Reason: "材料不全", CorrectionItems: []string{"补充身份证复印件"},
		}
	}
	if u := base(); u.Validate() != nil {
		t.Fatalf("base update: %v", u.Validate())
	}
	tests := []struct {
		name  string
		mod   func(*StatusUpdate)
		field string
	}{
		{"NUL in the case id", func(u *StatusUpdate) { u.CaseID = "c\x00-1" }, "case_id"},
		{"newline in the owner's case number", func(u *StatusUpdate) { u.OwnerCaseNo = "WC\n1" }, "owner_case_no"},
		{"escape in the reason", func(u *StatusUpdate) { u.Reason = "\x1b]0;pwned\a" }, "reason"},
		{"whitespace-only reason", func(u *StatusUpdate) { u.Reason = " \u3000" }, "reason"},
		{"whitespace-only correction item", func(u *StatusUpdate) { u.CorrectionItems = []string{"\t"} }, "correction_items[0]"},
		{"NUL in a correction item", func(u *StatusUpdate) { u.CorrectionItems = []string{"a\x00"} }, "correction_items[0]"},
		{"newline in the note", func(u *StatusUpdate) { u.Note = "一\n二" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := base()
			tt.mod(&u)
			err := u.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("got %v, want an error on %s", err, tt.field)
			}
		})
	}
}
