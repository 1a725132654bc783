package contracts

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// at returns a UTC time, so that values survive a JSON round trip
// unchanged under reflect.DeepEqual (a decoded +08:00 offset gets a fresh
// *time.Location).
func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func fullSubmission() CaseSubmission {
	return CaseSubmission{
		ExchangeID:      "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10",
		FromRegion:      "320404",
		ToRegion:        "330702",
		SubmittedAt:     at("2025-03-14T01:30:12.345Z"),
		ResubmitsCaseID: "0195924a-0000-7000-8000-000000000001",
		ServiceItem: ServiceItem{
			BasicCode:          "000155014000",
			ImplementationCode: "113307020025937411400015501400001",
			Name:               "个体工商户设立登记",
			Department:         "金华市婺城区市场监督管理局",
		},
		Applicant:   Party{HolderType: "111", IDNumber: "11010519491231002X", Name: "王秀英", Phone: "13961234567"},
		Agent:       &Party{HolderType: "111", IDNumber: "320404198506123015", Name: "李明"},
		Window:      Window{WindowID: "window-320404", OperatorID: "zl-0231", Region: "320404", Name: "钟楼区政务服务中心"},
		ReceivedAt:  at("2025-03-14T01:12:40Z"),
		LocalCaseNo: "ZL-KSTB-20250314-0017",
		Form:        json.RawMessage(`{"business_name":"婺城区秀英百货店","employees":2}`),
		Materials: []Material{{
			MaterialID: "M01", Name: "经营场所使用证明", MediaType: "application/pdf", Size: 4,
			SM3: strings.Repeat("ab", 32), Content: []byte("%PDF"),
		}, {
			MaterialID: "M02", Name: "照片", MediaType: "image/jpeg", Size: 48213,
			SM3: strings.Repeat("cd", 32), URL: "https://example.gov.cn/m02.jpg",
		}},
		LicenseIDs: []string{"1.2.156.3005.2.111000000000000000000.11110105000013948H.1101052019M000001.001.B"},
		ResultDelivery: ResultDelivery{
			Method: ResultDeliveryMethodPost, Recipient: "王秀英", Phone: "13961234567",
			Address: "江苏省常州市钟楼区延陵西路88号", PostalCode: "213000",
		},
		Remark: "邮寄至常州住址",
	}
}

func TestJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   any
		out  func() any // a fresh pointer of the same type
	}{
		{"CaseSubmission", fullSubmission(), func() any { return new(CaseSubmission) }},
		{"StatusUpdate", StatusUpdate{
			ExchangeID:      "0195a0c1-2b3c-7d4e-9f50-617283940a1b",
			CaseID:          "0195924a-0000-7000-8000-000000000001",
			State:           CaseStateDispatched,
			ReportedAt:      at("2025-03-20T06:00:00Z"),
			OwnerCaseNo:     "WC-2025-031400088",
			Note:            "营业执照已寄出",
			Reason:          "",
			CorrectionItems: []string{"经营场所使用证明需加盖公章"},
			Outcome:         OutcomeApproved,
			Documents: []Document{{
				Name: "营业执照", MediaType: "application/ofd", Size: 3, SM3: strings.Repeat("0f", 32),
				Content: []byte{1, 2, 3}, LicenseID: "1.2.156.3005.2.111000000000000000000.11110105000013948H.1101052019M000001.001.B",
			}},
			Dispatch: &Dispatch{
				Method: ResultDeliveryMethodPost, Carrier: "EMS", TrackingNumber: "1151234567890",
				DispatchedAt: at("2025-03-20T05:30:00Z"),
			},
			DeliveredAt: at("2025-03-22T02:00:00Z"),
		}, func() any { return new(StatusUpdate) }},
		{"LicenseVerifyResult", LicenseVerifyResult{
			Outcome: LicenseOutcomeMismatch,
			License: &LicenseMetadata{
				LicenseID: "1.2.156.3005.2.111000000000000000000.11110105000013948H.1101052019M000001.001.B",
				TypeCode:  "111000000000000000000", TypeName: "居民身份证", Name: "居民身份证", Number: "11010519491231002X",
				Holder:     LicenseHolder{HolderType: "111", IDMasked: "110105********002X", Name: "王秀英"},
				IssuerName: "北京市公安局朝阳分局", IssuerCode: "11110105000013948H",
				IssuedOn: "2019-06-01", ValidFrom: "2019-06-01", Status: LicenseStatusValid,
			},
			Mismatches:    []string{"holder_name"},
			SourceRegion:  "110105",
			CheckedAt:     at("2025-03-14T01:10:00Z"),
			UsageRecordID: "ur-0195923f",
			Cached:        true,
		}, func() any { return new(LicenseVerifyResult) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.in)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			out := tt.out()
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(out); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if got := reflect.ValueOf(out).Elem().Interface(); !reflect.DeepEqual(got, tt.in) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tt.in)
			}
			b2, err := json.Marshal(out)
			if err != nil {
				t.Fatalf("marshal again: %v", err)
			}
			if !bytes.Equal(b2, b) {
				t.Errorf("re-encoding changed the bytes:\n got %s\nwant %s", b2, b)
			}
		})
	}
}

// TestOptionalFieldsOmitted checks that optional fields, including zero
// times (omitzero), are left out of the JSON.
func TestOptionalFieldsOmitted(t *testing.T) {
	u := StatusUpdate{
		ExchangeID: "0195a0c1-2b3c-7d4e-9f50-617283940a1b",
		CaseID:     "c1",
		State:      CaseStateAccepted,
		ReportedAt: at("2025-03-15T01:00:00Z"),
	}
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	want := `{"exchange_id":"0195a0c1-2b3c-7d4e-9f50-617283940a1b","case_id":"c1","state":"accepted","reported_at":"2025-03-15T01:00:00Z"}`
	if got != want {
		t.Errorf("minimal StatusUpdate:\n got %s\nwant %s", got, want)
	}
	var r ChainVerifyResult
	b, err = json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"first_bad_seq":null`)) {
		t.Errorf("ChainVerifyResult: got %s, want first_bad_seq null when unset", b)
	}
}

func TestGoldenCaseSubmission(t *testing.T) {
	raw, err := os.ReadFile("testdata/case_submission.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var s CaseSubmission
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if dec.More() {
		t.Fatal("trailing data after the case")
	}
	tests := []struct {
		what      string
		got, want any
	}{
		{"from_region", s.FromRegion, "320404"},
		{"to_region", s.ToRegion, "330702"},
		{"applicant.holder_type", s.Applicant.HolderType, HolderTypeCitizenID},
		{"applicant.id_number", s.Applicant.IDNumber, "11010519491231002X"},
		{"exchange_id version", s.ExchangeID[14:15], "7"},
		{"submitted_at", s.SubmittedAt.UTC(), at("2025-03-14T01:30:12.345Z")},
		{"result_delivery.method valid", s.ResultDelivery.Method.Valid(), true},
		{"materials", len(s.Materials), 2},
		{"materials[0].size", s.Materials[0].Size, int64(len(s.Materials[0].Content))},
		{"form is an object", s.Form[0], byte('{')},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.what, tt.got, tt.want)
		}
	}
	for name, err := range map[string]error{
		"from_region":          ValidateRegion(s.FromRegion),
		"to_region":            ValidateRegion(s.ToRegion),
		"window.region":        ValidateRegion(s.Window.Region),
		"applicant.id_number":  ValidateHolderID(s.Applicant.HolderType, s.Applicant.IDNumber),
		"agent.id_number":      ValidateHolderID(s.Agent.HolderType, s.Agent.IDNumber),
		"license_ids[0]":       func() error { _, err := ParseLicenseID(s.LicenseIDs[0]); return err }(),
		"service_item.uscc":    ValidateCreditCode(s.ServiceItem.ImplementationCode[:18]),
		"materials[0] has sm3": boolErr(len(s.Materials[0].SM3) == 64),
	} {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func boolErr(ok bool) error {
	if ok {
		return nil
	}
	return &FieldError{Code: CodeValidationFailed, Message: "check failed"}
}
