package standard

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// FuzzAcceptAck feeds arbitrary bodies to the path that parses and checks a
// partner's acknowledgement after its signature verified. It must never
// panic, must classify every failure as a permanent *adapters.Error wrapping
// ErrMalformedAck or ErrAckMismatch, and must accept only acknowledgements
// of the delivery it expects.
func FuzzAcceptAck(f *testing.F) {
	want := adapters.AckExpectation{
		ExchangeID: "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10",
		DeliveryID: "dlv-0001",
		BodySM3:    strings.Repeat("0a", 32),
		Case:       true,
	}
	good, _ := json.Marshal(contracts.Ack{
		ExchangeID: want.ExchangeID, DeliveryID: want.DeliveryID, PartnerCaseNo: "330702-2026-000001",
		AcknowledgedAt: time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC), BodySM3: want.BodySM3, KeyID: "330702",
	})
	f.Add(good, "330702")
	f.Add(good, "other")
	f.Add([]byte(`{}`), "330702")
	f.Add([]byte(`null`), "330702")
	f.Add([]byte(`[]`), "330702")
	f.Add([]byte(`{"exchange_id":"01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10","acknowledged_at":"2026-03-14T09:30:00Z","body_sm3":"`+want.BodySM3+`","key_id":"330702","partner_case_no":"x"} `), "330702")
	f.Add([]byte(`{"exchange_id":1}`), "330702")
	f.Add([]byte(`{"acknowledged_at":"not a time"}`), "330702")
	f.Add([]byte("\xff\xfe"), "")

	f.Fuzz(func(t *testing.T, raw []byte, keyID string) {
		want := want
		want.KeyID = keyID
		ack, err := acceptAck(raw, want)
		if err != nil {
			var e *adapters.Error
			if !errors.As(err, &e) || !e.Permanent() {
				t.Fatalf("failure %v is not a permanent *adapters.Error", err)
			}
			if !errors.Is(err, adapters.ErrMalformedAck) && !errors.Is(err, adapters.ErrAckMismatch) {
				t.Fatalf("failure %v wraps neither ErrMalformedAck nor ErrAckMismatch", err)
			}
			return
		}
		if ack.ExchangeID != want.ExchangeID || ack.BodySM3 != want.BodySM3 || ack.KeyID != keyID ||
			ack.PartnerCaseNo == "" || ack.AcknowledgedAt.IsZero() ||
			(ack.DeliveryID != "" && ack.DeliveryID != want.DeliveryID) {
			t.Fatalf("accepted an acknowledgement of something else: %+v", ack)
		}
	})
}

// FuzzParseLookupResponse feeds arbitrary bodies to the path that parses
// and checks a library's lookup answer after its signature verified. It
// must never panic, must classify every failure as a permanent
// *adapters.Error wrapping ErrMalformedAck or ErrAckMismatch whose text
// quotes no identifier from the body, and must accept only answers to the
// lookup it expects: the same exchange, a valid record of the license asked
// for exactly when found.
func FuzzParseLookupResponse(f *testing.F) {
	rec := contracts.LicenseRecord{
		LicenseID:  "1.2.156.3005.2.11100000MB1503156L001.1133070278352773XK.330702000101.001.9",
		TypeCode:   "11100000MB1503156L001",
		Name:       "不动产权证书",
		Number:     "浙(2023)金华市不动产权第7458475号",
		Holder:     contracts.Party{HolderType: "111", IDNumber: "330702198506121277", Name: "王建国"},
		IssuerName: "金华市婺城区自然资源和规划局",
		IssuerCode: "1133070278352773XK",
		ValidFrom:  "2023-02-25",
		Status:     contracts.LicenseStatusValid,
		FileSM3:    strings.Repeat("0a", 32),
	}
	if err := rec.Validate(); err != nil {
		f.Fatal(err)
	}
	q := &contracts.LicenseLookupRequest{
		ExchangeID: "01959250-aaaa-7bbb-8ccc-000000000001", LicenseID: rec.LicenseID,
		RequesterRegion: "320404", Purpose: "核验",
	}
	good, _ := json.Marshal(contracts.LicenseLookupResponse{ExchangeID: q.ExchangeID, Found: true, License: &rec})
	notFound, _ := json.Marshal(contracts.LicenseLookupResponse{ExchangeID: q.ExchangeID})
	f.Add(good)
	f.Add(notFound)
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"exchange_id":"01959250-aaaa-7bbb-8ccc-000000000001","found":true}`))
	f.Add([]byte(`{"exchange_id":"01959250-aaaa-7bbb-8ccc-000000000001","found":false,"license":null}`))
	f.Add([]byte(`{"exchange_id":"01959250-aaaa-7bbb-8ccc-000000000001","found":true,"license":{"holder":{"id_number":330702198506121277}}}`))
	f.Add([]byte(`{"exchange_id":"01959250-aaaa-7bbb-8ccc-000000000001","found":false,"330702198506121277":1}`))
	f.Add([]byte(`{"exchange_id":"01959250-aaaa-7bbb-8ccc-000000000001","found":true,"license":{"updated_at":"330702198506121277"}}`))
	f.Add(append(append([]byte(nil), notFound...), ' ', '1'))
	f.Add([]byte("\xff\xfe"))

	ids := regexp.MustCompile(`[0-9A-Z]{15,}`)
	f.Fuzz(func(t *testing.T, raw []byte) {
		resp, err := acceptLookup(raw, q)
		if err != nil {
			var e *adapters.Error
			if !errors.As(err, &e) || !e.Permanent() {
				t.Fatalf("failure %v is not a permanent *adapters.Error", err)
			}
			if !errors.Is(err, adapters.ErrMalformedAck) && !errors.Is(err, adapters.ErrAckMismatch) {
				t.Fatalf("failure %v wraps neither ErrMalformedAck nor ErrAckMismatch", err)
			}
			if m := ids.FindString(e.Error()); m != "" && bytes.Contains(raw, []byte(m)) {
				t.Fatalf("failure %q quotes %q from the answer", e.Error(), m)
			}
			return
		}
		if resp.ExchangeID != q.ExchangeID || resp.Found != (resp.License != nil) {
			t.Fatalf("accepted an answer to something else: %+v", resp)
		}
		if resp.Found {
			if err := resp.License.Validate(); err != nil || resp.License.LicenseID != q.LicenseID {
				t.Fatalf("accepted record %+v (%v)", resp.License, err)
			}
		}
	})
}
