package adapters_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// TestCheckBatchAck: a batch acknowledgement is accepted only when it
// names the batch sent, its body and key, and deliveries of the batch,
// each once; any subset of them, the empty one included, is a valid
// (partial) acknowledgement.
func TestCheckBatchAck(t *testing.T) {
	sm3 := strings.Repeat("a1", 32)
	want := adapters.BatchAckExpectation{BatchID: "0195f3a0-0000-7000-8000-000000000001",
		DeliveryIDs: []string{"d1", "d2", "d3"}, BodySM3: sm3, KeyID: "330702"}
	good := func() *contracts.UsageBatchAck {
		return &contracts.UsageBatchAck{BatchID: want.BatchID, DeliveryIDs: []string{"d3", "d1"},
			AcknowledgedAt: time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC), BodySM3: sm3, KeyID: "330702"}
	}
	tests := []struct {
		name   string
		change func(a *contracts.UsageBatchAck)
		want   error // nil: accepted
	}{
		{"some of the deliveries", func(*contracts.UsageBatchAck) {}, nil},
		{"all of them", func(a *contracts.UsageBatchAck) { a.DeliveryIDs = []string{"d1", "d2", "d3"} }, nil},
		{"none of them", func(a *contracts.UsageBatchAck) { a.DeliveryIDs = nil }, nil},
		{"another batch", func(a *contracts.UsageBatchAck) { a.BatchID = "0195f3a0-0000-7000-8000-000000000002" }, adapters.ErrAckMismatch},
		{"a delivery the batch did not carry", func(a *contracts.UsageBatchAck) { a.DeliveryIDs = []string{"d1", "d9"} }, adapters.ErrAckMismatch},
		{"a delivery twice", func(a *contracts.UsageBatchAck) { a.DeliveryIDs = []string{"d1", "d1"} }, adapters.ErrAckMismatch},
		{"more deliveries than sent", func(a *contracts.UsageBatchAck) { a.DeliveryIDs = []string{"d1", "d2", "d3", "d1"} }, adapters.ErrAckMismatch},
		{"another body", func(a *contracts.UsageBatchAck) { a.BodySM3 = strings.Repeat("b2", 32) }, adapters.ErrAckMismatch},
		{"another key", func(a *contracts.UsageBatchAck) { a.KeyID = "rogue-key" }, adapters.ErrAckMismatch},
		{"no time", func(a *contracts.UsageBatchAck) { a.AcknowledgedAt = time.Time{} }, adapters.ErrMalformedAck},
		{"a malformed digest", func(a *contracts.UsageBatchAck) { a.BodySM3 = "ABC" }, adapters.ErrMalformedAck},
		{"a key id with control characters", func(a *contracts.UsageBatchAck) { a.KeyID = "330702\n" }, adapters.ErrMalformedAck},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := good()
			tt.change(a)
			err := adapters.CheckBatchAck(a, want)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var e *adapters.Error
			if !errors.Is(err, tt.want) || !errors.As(err, &e) || !e.Permanent() {
				t.Fatalf("got %v, want a permanent %v", err, tt.want)
			}
			if strings.Contains(err.Error(), "d9") || strings.Contains(err.Error(), "rogue-key") {
				t.Errorf("the reason quotes the partner's text: %v", err)
			}
		})
	}
	if err := adapters.CheckBatchAck(nil, want); !errors.Is(err, adapters.ErrMalformedAck) {
		t.Errorf("no acknowledgement: got %v", err)
	}
}

// TestCheckBatch: a batch goes out only with an id and 1 to
// MaxUsageBatch deliveries, each with its own delivery id.
func TestCheckBatch(t *testing.T) {
	d := func(id string) contracts.UsageRecordDelivery { return contracts.UsageRecordDelivery{DeliveryID: id} }
	many := make([]contracts.UsageRecordDelivery, contracts.MaxUsageBatch+1)
	for i := range many {
		many[i] = d(strings.Repeat("x", i+1))
	}
	tests := []struct {
		name string
		b    *contracts.UsageRecordBatch
		ok   bool
	}{
		{"one", &contracts.UsageRecordBatch{BatchID: "b", Deliveries: []contracts.UsageRecordDelivery{d("1")}}, true},
		{"the most", &contracts.UsageRecordBatch{BatchID: "b", Deliveries: many[:contracts.MaxUsageBatch]}, true},
		{"none", &contracts.UsageRecordBatch{BatchID: "b"}, false},
		{"too many", &contracts.UsageRecordBatch{BatchID: "b", Deliveries: many}, false},
		{"no id", &contracts.UsageRecordBatch{Deliveries: []contracts.UsageRecordDelivery{d("1")}}, false},
		{"a delivery twice", &contracts.UsageRecordBatch{BatchID: "b", Deliveries: []contracts.UsageRecordDelivery{d("1"), d("1")}}, false},
		{"a delivery without id", &contracts.UsageRecordBatch{BatchID: "b", Deliveries: []contracts.UsageRecordDelivery{d("")}}, false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if err := adapters.CheckBatch(tt.b); (err == nil) != tt.ok {
			t.Errorf("%s: got %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
