package standard

import (
	"encoding/json"
	"errors"
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
	want := expect{
		exchangeID: "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10",
		deliveryID: "dlv-0001",
		bodySM3:    strings.Repeat("0a", 32),
		caseNo:     true,
	}
	good, _ := json.Marshal(contracts.Ack{
		ExchangeID: want.exchangeID, DeliveryID: want.deliveryID, PartnerCaseNo: "330702-2026-000001",
		AcknowledgedAt: time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC), BodySM3: want.bodySM3, KeyID: "330702",
	})
	f.Add(good, "330702")
	f.Add(good, "other")
	f.Add([]byte(`{}`), "330702")
	f.Add([]byte(`null`), "330702")
	f.Add([]byte(`[]`), "330702")
	f.Add([]byte(`{"exchange_id":"01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10","acknowledged_at":"2026-03-14T09:30:00Z","body_sm3":"`+want.bodySM3+`","key_id":"330702","partner_case_no":"x"} `), "330702")
	f.Add([]byte(`{"exchange_id":1}`), "330702")
	f.Add([]byte(`{"acknowledged_at":"not a time"}`), "330702")
	f.Add([]byte("\xff\xfe"), "")

	f.Fuzz(func(t *testing.T, raw []byte, keyID string) {
		ack, err := want.accept(raw, keyID)
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
		if ack.ExchangeID != want.exchangeID || ack.BodySM3 != want.bodySM3 || ack.KeyID != keyID ||
			ack.PartnerCaseNo == "" || ack.AcknowledgedAt.IsZero() ||
			(ack.DeliveryID != "" && ack.DeliveryID != want.deliveryID) {
			t.Fatalf("accepted an acknowledgement of something else: %+v", ack)
		}
	})
}
