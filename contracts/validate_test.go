package contracts

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func goldenSubmission(t *testing.T) CaseSubmission {
	t.Helper()
	b, err := os.ReadFile("testdata/case_submission.json")
	if err != nil {
		t.Fatal(err)
	}
	var s CaseSubmission
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCaseSubmissionValidate(t *testing.T) {
	if s := goldenSubmission(t); s.Validate() != nil {
		t.Fatalf("golden submission: %v", s.Validate())
	}
	tests := []struct {
		name  string
		mod   func(*CaseSubmission)
		field string
		code  Code
	}{
		{"bad exchange id", func(s *CaseSubmission) { s.ExchangeID = "42" }, "exchange_id", CodeInvalidExchangeID},
		{"bad from region", func(s *CaseSubmission) { s.FromRegion = "990404" }, "from_region", CodeInvalidRegion},
		{"same region", func(s *CaseSubmission) { s.ToRegion = s.FromRegion }, "to_region", CodeValidationFailed},
		{"no submitted_at", func(s *CaseSubmission) { s.SubmittedAt = time.Time{} }, "submitted_at", CodeValidationFailed},
		{"submitted_at offset of 24h", func(s *CaseSubmission) {
			s.SubmittedAt = s.SubmittedAt.In(time.FixedZone("", 24*3600))
		}, "submitted_at", CodeValidationFailed},
		{"received_at after year 9999", func(s *CaseSubmission) { s.ReceivedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "received_at", CodeValidationFailed},
		{"no basic code", func(s *CaseSubmission) { s.ServiceItem.BasicCode = " " }, "service_item.basic_code", CodeValidationFailed},
		{"citizen id check", func(s *CaseSubmission) { s.Applicant.IDNumber = "110105194912310021" }, "applicant.id_number", CodeInvalidCitizenID},
		{"holder type", func(s *CaseSubmission) { s.Applicant.HolderType = "999" }, "applicant.holder_type", CodeInvalidHolderType},
		{"agent id", func(s *CaseSubmission) { s.Agent.IDNumber = "320404198506123016" }, "agent.id_number", CodeInvalidCitizenID},
		{"long name", func(s *CaseSubmission) { s.Applicant.Name = strings.Repeat("王", MaxNameLen+1) }, "applicant.name", CodeValidationFailed},
		{"window region", func(s *CaseSubmission) { s.Window.Region = "32040" }, "window.region", CodeInvalidRegion},
		{"form not object", func(s *CaseSubmission) { s.Form = json.RawMessage(`[]`) }, "form", CodeValidationFailed},
		{"material sm3", func(s *CaseSubmission) { s.Materials[0].SM3 = strings.ToUpper(s.Materials[0].SM3) }, "materials[0].sm3", CodeValidationFailed},
		{"material size", func(s *CaseSubmission) { s.Materials[0].Size++ }, "materials[0].size", CodeValidationFailed},
		{"material without content or url", func(s *CaseSubmission) { s.Materials[0].Content, s.Materials[0].URL = nil, "" }, "materials[0]", CodeValidationFailed},
		{"license id check", func(s *CaseSubmission) {
			id := s.LicenseIDs[0]
			s.LicenseIDs[0] = id[:len(id)-1] + "C"
		}, "license_ids[0]", CodeInvalidLicenseID},
		{"delivery method", func(s *CaseSubmission) { s.ResultDelivery.Method = "pigeon" }, "result_delivery.method", CodeValidationFailed},
		{"post without address", func(s *CaseSubmission) {
			s.ResultDelivery.Method, s.ResultDelivery.Address = ResultDeliveryMethodPost, ""
		}, "result_delivery.address", CodeValidationFailed},
		{"invalid utf-8", func(s *CaseSubmission) { s.Remark = "\xff" }, "remark", CodeValidationFailed},
	}
	for _, tt := range tests {
		s := goldenSubmission(t)
		tt.mod(&s)
		err := s.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field || fe.Code != tt.code {
			t.Errorf("%s: got %v, want %s on %s", tt.name, err, tt.code, tt.field)
		}
	}
}

func goodUpdate(state CaseState) StatusUpdate {
	u := StatusUpdate{
		ExchangeID: "0193a5b0-7c3e-7a1b-8f00-3a2b1c0d9e8f", CaseID: "case-1", State: state,
		ReportedAt: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
	}
	switch state {
	case CaseStateRejected:
		u.Reason = "不属于本区管辖"
	case CaseStateCorrectionRequired:
		u.Reason, u.CorrectionItems = "材料不全", []string{"经营场所使用证明"}
	case CaseStateConcluded:
		u.Outcome = OutcomeApproved
	case CaseStateDispatched:
		u.Dispatch = &Dispatch{Method: ResultDeliveryMethodPost, Carrier: "EMS", TrackingNumber: "EA123456785CN", DispatchedAt: u.ReportedAt}
	case CaseStateDelivered:
		u.DeliveredAt = u.ReportedAt
	}
	return u
}

func TestStatusUpdateValidate(t *testing.T) {
	for _, st := range []CaseState{CaseStateAccepted, CaseStateRejected, CaseStateCorrectionRequired, CaseStateInProgress, CaseStateConcluded, CaseStateDispatched, CaseStateDelivered} {
		u := goodUpdate(st)
		if err := u.Validate(); err != nil {
			t.Errorf("%s: got %v, want valid", st, err)
		}
	}
	tests := []struct {
		name  string
		state CaseState
		mod   func(*StatusUpdate)
		field string
	}{
		{"received is not reportable", CaseStateAccepted, func(u *StatusUpdate) { u.State = CaseStateReceived }, "state"},
		{"forwarded is not reportable", CaseStateAccepted, func(u *StatusUpdate) { u.State = CaseStateForwarded }, "state"},
		{"no case id", CaseStateAccepted, func(u *StatusUpdate) { u.CaseID = "" }, "case_id"},
		{"no reported_at", CaseStateAccepted, func(u *StatusUpdate) { u.ReportedAt = time.Time{} }, "reported_at"},
		{"reported_at offset of -24h", CaseStateAccepted, func(u *StatusUpdate) {
			u.ReportedAt = u.ReportedAt.In(time.FixedZone("", -24*3600))
		}, "reported_at"},
		{"delivered_at out of range", CaseStateDelivered, func(u *StatusUpdate) { u.DeliveredAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) }, "delivered_at"},
		{"rejected without reason", CaseStateRejected, func(u *StatusUpdate) { u.Reason = "" }, "reason"},
		{"correction without items", CaseStateCorrectionRequired, func(u *StatusUpdate) { u.CorrectionItems = nil }, "correction_items"},
		{"concluded without outcome", CaseStateConcluded, func(u *StatusUpdate) { u.Outcome = "" }, "outcome"},
		{"outcome on accepted", CaseStateAccepted, func(u *StatusUpdate) { u.Outcome = OutcomeDenied }, "outcome"},
		{"dispatched without dispatch", CaseStateDispatched, func(u *StatusUpdate) { u.Dispatch = nil }, "dispatch"},
		{"post without tracking", CaseStateDispatched, func(u *StatusUpdate) { u.Dispatch.TrackingNumber = "" }, "dispatch.tracking_number"},
		{"delivered without time", CaseStateDelivered, func(u *StatusUpdate) { u.DeliveredAt = time.Time{} }, "delivered_at"},
		{"document sm3", CaseStateConcluded, func(u *StatusUpdate) {
			u.Documents = []Document{{Name: "决定书", MediaType: "application/pdf", SM3: "x"}}
		}, "documents[0].sm3"},
	}
	for _, tt := range tests {
		u := goodUpdate(tt.state)
		tt.mod(&u)
		var fe *FieldError
		if err := u.Validate(); !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%s: got %v, want an error on %s", tt.name, err, tt.field)
		}
	}
}
