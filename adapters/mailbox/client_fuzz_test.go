package mailbox

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
)

// trusting is a Crypto whose every signature verifies, so the fuzzer
// reaches the body parser; refusing verifies none.
type trusting struct{ refuse bool }

func (trusting) Sign([]byte) ([]byte, error) { return []byte{1}, nil }
func (trusting) KeyID() string               { return "610102" }
func (trusting) SM3Hex([]byte) string        { return "" }
func (t trusting) VerifyBody(string, string, []byte, []byte) error {
	if t.refuse {
		return errors.New("does not verify")
	}
	return nil
}

// FuzzCheckMessage feeds arbitrary messages to the partner side's check of
// what it pulled: it must never panic, must refuse a message whose
// signature does not verify, and must accept only a body that decodes
// strictly as the message its kind names, for the exchange the message
// names.
func FuzzCheckMessage(f *testing.F) {
	d, _ := json.Marshal(contracts.StatusDelivery{DeliveryID: "d1", CaseID: "c1", ExchangeID: "0195f3a0-0001-7001-8001-000000000001",
		SentAt: time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC), Update: contracts.StatusUpdate{State: contracts.CaseStateAccepted}})
	f.Add("status", "0195f3a0-0001-7001-8001-000000000001", d, false)
	f.Add("case", "0195f3a0-0001-7001-8001-000000000001", d, false)
	f.Add("usage_record", "", []byte(`{}`), false)
	n, _ := json.Marshal(contracts.NoticeDelivery{DeliveryID: "d2", CaseID: "c1", ExchangeID: "0195f3a0-0002-7001-8001-000000000002",
		SentAt: time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC), Notice: contracts.Notice{Type: contracts.NoticeDeadlineWarning, CaseID: "c1"}})
	f.Add("notice", "0195f3a0-0002-7001-8001-000000000002", n, false)
	f.Add("status", "0195f3a0-0002-7001-8001-000000000002", n, false)
	f.Add("status", "x", []byte(`{"delivery_id":1}`), true)
	f.Add("", "", []byte("\xff"), false)
	f.Fuzz(func(t *testing.T, kind, exchangeID string, body []byte, refuse bool) {
		c := &Client{cfg: ClientConfig{Crypto: trusting{refuse}, GatewayCaller: "gateway"}}
		m := contracts.MailboxMessage{Kind: contracts.DeliveryKind(kind), ExchangeID: exchangeID, DeliveryID: "d1", Body: body, KeyID: "gateway"}
		msg, err := c.check(m)
		if err != nil {
			if msg != nil {
				t.Fatal("a refused message came with a decoded one")
			}
			return
		}
		if refuse {
			t.Fatal("a message whose signature does not verify was accepted")
		}
		if got := msg.Kind(); got == "" || msg.ExchangeID() != exchangeID {
			t.Fatalf("accepted %s message for exchange %q, the message names %q", got, msg.ExchangeID(), exchangeID)
		}
		want := map[contracts.DeliveryKind]string{contracts.DeliveryKindCase: "case", contracts.DeliveryKindStatus: "status",
			contracts.DeliveryKindUsageRecord: string(contracts.DeliveryKindUsageRecord),
			contracts.DeliveryKindNotice:      string(contracts.DeliveryKindNotice)}[m.Kind]
		if msg.Kind() != want {
			t.Fatalf("kind %q decoded as %s", kind, msg.Kind())
		}
	})
}
