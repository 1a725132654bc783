package adapters_test

import (
	"context"
	"testing"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

func TestMessageKindAndExchange(t *testing.T) {
	tests := []struct {
		name     string
		m        *adapters.Message
		kind     string
		exchange string
	}{
		{"nil", nil, "", ""},
		{"empty", &adapters.Message{}, "", ""},
		{"case", &adapters.Message{Case: &contracts.CaseDelivery{ExchangeID: "x1"}}, "case", "x1"},
		{"status", &adapters.Message{Status: &contracts.StatusDelivery{ExchangeID: "x2"}}, "status", "x2"},
		{"usage", &adapters.Message{Usage: &contracts.UsageRecordDelivery{ExchangeID: "x3"}}, "usage_record", "x3"},
		{"lookup", &adapters.Message{Lookup: &contracts.LicenseLookupRequest{ExchangeID: "x4"}}, adapters.KindLookup, "x4"},
		{"batch", &adapters.Message{UsageBatch: &contracts.UsageRecordBatch{BatchID: "b"}}, adapters.KindUsageBatch, ""},
		{"notice", &adapters.Message{Notice: &contracts.NoticeDelivery{ExchangeID: "x5", DeliveryID: "d5"}},
			string(contracts.DeliveryKindNotice), "x5"},
	}
	for _, tt := range tests {
		if got := tt.m.Kind(); got != tt.kind {
			t.Errorf("%s: Kind() = %q, want %q", tt.name, got, tt.kind)
		}
		if got := tt.m.ExchangeID(); got != tt.exchange {
			t.Errorf("%s: ExchangeID() = %q, want %q", tt.name, got, tt.exchange)
		}
	}
}

// noticeAdapter pushes cases, status updates and notices; off declines
// notices through NoticeSwitch when switchable.
type noticeAdapter struct {
	nopAdapter
}

func (noticeAdapter) DeliverNotice(context.Context, *contracts.NoticeDelivery) (*contracts.Ack, []byte, []byte, error) {
	return nil, nil, nil, nil
}

type switchedNotices struct {
	noticeAdapter
	on bool
}

func (a switchedNotices) DeliversNotices() bool { return a.on }

// pullingNotices pulls, and has a DeliverNotice method all the same.
type pullingNotices struct {
	pullAdapter
}

func (pullingNotices) DeliverNotice(context.Context, *contracts.NoticeDelivery) (*contracts.Ack, []byte, []byte, error) {
	return nil, nil, nil, nil
}

func TestNoticeDelivererOf(t *testing.T) {
	tests := []struct {
		name string
		a    adapters.Adapter
		want bool
	}{
		{"nil", nil, false},
		{"pushes no notices", nopAdapter{style: "x"}, false},
		{"pushes notices", noticeAdapter{nopAdapter{style: "x"}}, true},
		{"switched on", switchedNotices{noticeAdapter{nopAdapter{style: "x"}}, true}, true},
		{"switched off", switchedNotices{noticeAdapter{nopAdapter{style: "x"}}, false}, false},
		{"pulls", pullingNotices{}, false},
	}
	for _, tt := range tests {
		n, ok := adapters.NoticeDelivererOf(tt.a)
		if ok != tt.want || (n != nil) != tt.want {
			t.Errorf("%s: NoticeDelivererOf = %v, %v; want ok %v", tt.name, n, ok, tt.want)
		}
	}
	// Notices are no capability of their own: an adapter that pushes them
	// lists only what it declares.
	if got := adapters.Capabilities(noticeAdapter{nopAdapter{style: "x"}}); len(got) != 2 {
		t.Errorf("Capabilities = %v, want case and status delivery only", got)
	}
}
