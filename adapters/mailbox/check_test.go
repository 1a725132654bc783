package mailbox

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
)

// TestCheckNotice: a notice pulled from the mailbox decodes strictly into
// Message.Notice, every field intact, for the exchange its message names;
// a notice under another kind, another exchange or a bad signature is
// refused.
func TestCheckNotice(t *testing.T) {
	at := time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
	n := contracts.NoticeDelivery{DeliveryID: "d2", CaseID: "c1", ExchangeID: "0195f3a0-0002-7001-8001-000000000002", SentAt: at,
		Notice: contracts.Notice{Type: contracts.NoticeDeadlineWarning, CaseID: "c1", OwnerCaseNo: "330702-2026-000042",
			ImplementationCode: "113307020025937411400015501400001", At: at,
			Deadline: &contracts.Deadline{Limit: contracts.TimeLimit{Days: 5, Unit: contracts.LimitWorkingDays}, Running: true,
				StartedAt: at.Add(-96 * time.Hour), Deadline: at.Add(24 * time.Hour), DaysUsed: 4, DaysLeft: 1}}}
	body, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		kind     contracts.DeliveryKind
		exchange string
		refuse   bool
		ok       bool
	}{
		{"notice", contracts.DeliveryKindNotice, n.ExchangeID, false, true},
		{"under another kind", contracts.DeliveryKindStatus, n.ExchangeID, false, false},
		{"for another exchange", contracts.DeliveryKindNotice, "0195f3a0-0003-7001-8001-000000000003", false, false},
		{"badly signed", contracts.DeliveryKindNotice, n.ExchangeID, true, false},
	}
	for _, tt := range tests {
		c := &Client{cfg: ClientConfig{Crypto: trusting{tt.refuse}, GatewayCaller: "gateway"}}
		msg, err := c.check(contracts.MailboxMessage{Kind: tt.kind, DeliveryID: n.DeliveryID, ExchangeID: tt.exchange, Body: body, KeyID: "gateway"})
		if !tt.ok {
			if err == nil {
				t.Errorf("%s: accepted as %+v", tt.name, msg)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if msg.Kind() != "notice" || msg.Notice == nil || !reflect.DeepEqual(*msg.Notice, n) {
			t.Errorf("%s: decoded as %+v, want %+v", tt.name, msg.Notice, n)
		}
	}
}
