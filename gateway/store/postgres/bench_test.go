package postgres

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/store/storetest"
)

// Run the benchmarks with
//
//	go test -run '^$' -bench . -benchtime 20000x ./gateway/store/postgres
//
// against the server TONGBAN_TEST_POSTGRES_DSN names. They use the same
// changes as gateway/store/sqlite's, so the figures compare.

var (
	benchBody    = bytes.Repeat([]byte(`{"applicant":"张三","form":{"a":1}}`), 32) // ≈1.2 KB
	benchPayload = bytes.Repeat([]byte(`{"case_id":"x","body":"..."}`), 40)      // ≈1.1 KB
	benchSig     = bytes.Repeat([]byte{0x30}, 71)
	benchIDs     atomic.Int64
)

// benchDetail is a case.received detail of the usual size.
var benchDetail = []byte(`{"payload_sm3":"66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",` +
	`"receipt_key_id":"gateway","receipt_media_type":"application/json",` +
	`"receipt_signature":"MEUCIQDx1m2v1lH3b1mZ3d3m7zF2cM4n0kq9e0z1f2s3d4f5gQIgV7lY1n2m3b4v5c6x7z8a9s0d1f2g3h4j5k6l7z8x9c0=",` +
	`"receipt_sm3":"66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",` +
	`"signature":"MEUCIQDx1m2v1lH3b1mZ3d3m7zF2cM4n0kq9e0z1f2s3d4f5gQIgV7lY1n2m3b4v5c6x7z8a9s0d1f2g3h4j5k6l7z8x9c0=",` +
	`"size":1216,"state":"received"}`)

// benchChange is a case as the gateway stores it: case, exchange with a
// 1.2 KB body, history entry, one delivery and its case.received record.
func benchChange(now time.Time) gateway.Change {
	n := benchIDs.Add(1)
	id := fmt.Sprintf("case-%012d", n)
	exID := fmt.Sprintf("0195b3c2-7e4a-7%03x-8%03x-%012x", n>>12&0xfff, n&0xfff, n)
	c := &gateway.Case{
		ID: id, ExchangeID: exID, Sender: "320404", Owner: "330702", FromRegion: "320404", ToRegion: "330702",
		State: contracts.CaseStateReceived, LocalCaseNo: "SJ-" + id,
		ServiceItem: contracts.ServiceItem{BasicCode: "000105002000", ImplementationCode: "11330702002566031G4000105002000", Name: "个体工商户设立登记"},
		CreatedAt:   now, UpdatedAt: now,
	}
	return gateway.Change{
		Case: c,
		Exchange: &gateway.Exchange{
			Sender: c.Sender, ExchangeID: exID, Kind: gateway.ExchangeCase, CaseID: id, Body: benchBody,
			BodySM3: "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0", Signature: benchSig,
			KeyID: c.Sender, ReceivedAt: now, Receipt: benchBody[:300], ReceiptSig: benchSig,
		},
		Status: &gateway.Status{CaseID: id, State: contracts.CaseStateReceived, At: now, ExchangeID: exID, ReportedBy: c.Sender},
		Enqueue: []*gateway.Delivery{{
			ID: "d-" + id, CaseID: id, Kind: contracts.DeliveryKindCase, Partner: c.Owner, ExchangeID: exID,
			Payload: benchPayload, NextAt: now, CreatedAt: now,
		}},
		Evidence: []contracts.EvidenceRecord{{
			At: now, Actor: c.Sender, Event: contracts.EventCaseReceived, ExchangeID: exID, CaseID: id, DeliveryID: "d-" + id,
			Partner: c.Owner, Region: c.FromRegion, Kind: contracts.ExchangeKindCase, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
			KeyID: c.Sender, JTI: exID, BodySM3: "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
			Detail: benchDetail,
		}},
	}
}

// BenchmarkCreateCase measures CreateCase from 32×GOMAXPROCS concurrent
// callers on one store: with the case.received record (every write takes
// the evidence head's row lock, to commit) as the gateway writes it, and
// without (writers only share the deliveries' sequence and indexes). The
// pool has 32 connections.
func BenchmarkCreateCase(b *testing.B) {
	for _, withEvidence := range []bool{true, false} {
		b.Run(fmt.Sprintf("evidence=%v", withEvidence), func(b *testing.B) {
			s := openStore(b, freshSchema(b), Options{MaxConns: 32})
			b.Cleanup(func() { s.Close() })
			now := time.Now()
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ch := benchChange(now)
					if !withEvidence {
						ch.Evidence = nil
					}
					if err := s.CreateCase(context.Background(), ch); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
		})
	}
}

// BenchmarkFoldedCycle is the life of a delivery as the gateway drives it
// (storetest.BenchFoldedCycle): creates, and acknowledgements that claim
// the next delivery in their write.
func BenchmarkFoldedCycle(b *testing.B) {
	s := openStore(b, freshSchema(b), Options{})
	b.Cleanup(func() { s.Close() })
	storetest.BenchFoldedCycle(b, s, func() gateway.Change { return benchChange(time.Now()) })
}
