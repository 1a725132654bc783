package outbox

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// FuzzParseMailboxAck feeds arbitrary bodies to the parser of a pulling
// partner's acknowledgements. It must never panic, must refuse with a
// caller error (a *gateway.Error with one of the codes a bad body gets), and must
// accept only batches of 1 to MaxMailboxBatch acknowledgements that each
// pass checkAckShape under the signing key.
func FuzzParseMailboxAck(f *testing.F) {
	good := contracts.Ack{
		ExchangeID: "0195f3a0-0001-7001-8001-000000000001", DeliveryID: "0195f3a0-03e9-73e9-83e9-0000000003e9",
		PartnerCaseNo: "610102-2026-000001", AcknowledgedAt: time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC),
		BodySM3: strings.Repeat("ab", 32), KeyID: "610102",
	}
	one, _ := json.Marshal(contracts.MailboxAck{Acks: []contracts.Ack{good}})
	f.Add(one, "610102")
	f.Add(one, "other")
	f.Add([]byte(`{"acks":[]}`), "610102")
	f.Add([]byte(`{"acks":null}`), "610102")
	f.Add([]byte(`{"acks":[{}]}`), "610102")
	f.Add([]byte(`{"acks":[{"exchange_id":1}]}`), "610102")
	f.Add([]byte(`{"acks":[],"extra":1}`), "610102")
	f.Add([]byte(`[]`), "")
	f.Add([]byte("\xff"), "")
	f.Fuzz(func(t *testing.T, body []byte, keyID string) {
		acks, err := parseMailboxAck(body, keyID)
		if err != nil {
			var e *gateway.Error
			if !errors.As(err, &e) {
				t.Fatalf("refusal %v is not a *Error", err)
			}
			switch e.Code {
			case contracts.CodeInvalidJSON, contracts.CodeValidationFailed, contracts.CodeInvalidExchangeID:
			default:
				t.Fatalf("refusal with code %s", e.Code)
			}
			return
		}
		if len(acks) == 0 || len(acks) > MaxMailboxBatch {
			t.Fatalf("accepted %d acknowledgements", len(acks))
		}
		for i, a := range acks {
			if a.KeyID != keyID || contracts.ValidateUUID(a.ExchangeID) != nil || a.DeliveryID == "" ||
				a.AcknowledgedAt.IsZero() || contracts.ValidateSM3Hex("body_sm3", a.BodySM3) != nil {
				t.Fatalf("accepted acknowledgement %d: %+v", i, a)
			}
		}
	})
}
