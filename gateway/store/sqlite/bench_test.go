package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/store/storetest"
	"github.com/tongban/tongban/signing"
)

// Run the benchmarks with
//
//	go test -run '^$' -bench . -benchtime 20000x ./gateway/store/sqlite
//
// They report cases/s (or claims/s) and the mean group-commit batch.

var (
	benchBody    = bytes.Repeat([]byte(`{"applicant":"张三","form":{"a":1}}`), 32) // ≈1.2 KB
	benchPayload = bytes.Repeat([]byte(`{"case_id":"x","body":"..."}`), 40)      // ≈1.1 KB
	benchSig     = bytes.Repeat([]byte{0x30}, 71)
	benchIDs     atomic.Int64
)

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
		// The case.received record the gateway writes with every case.
		Evidence: []contracts.EvidenceRecord{{
			At: now, Actor: c.Sender, Event: contracts.EventCaseReceived, ExchangeID: exID, CaseID: id, DeliveryID: "d-" + id,
			Partner: c.Owner, Region: c.FromRegion, Kind: contracts.ExchangeKindCase, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
			KeyID: c.Sender, JTI: exID, BodySM3: "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
			Detail: benchDetail,
		}},
	}
}

// benchDetail is a case.received detail of the usual size.
var benchDetail = []byte(`{"payload_sm3":"66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",` +
	`"receipt_key_id":"gateway","receipt_media_type":"application/json",` +
	`"receipt_signature":"MEUCIQDx1m2v1lH3b1mZ3d3m7zF2cM4n0kq9e0z1f2s3d4f5gQIgV7lY1n2m3b4v5c6x7z8a9s0d1f2g3h4j5k6l7z8x9c0=",` +
	`"receipt_sm3":"66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",` +
	`"signature":"MEUCIQDx1m2v1lH3b1mZ3d3m7zF2cM4n0kq9e0z1f2s3d4f5gQIgV7lY1n2m3b4v5c6x7z8a9s0d1f2g3h4j5k6l7z8x9c0=",` +
	`"size":1216,"state":"received"}`)

// BenchmarkVerifyChain walks a log of 20000 records as tongban audit verify
// does (hash, link and seq of each), and reports records per second.
//
//	go test -run '^$' -bench VerifyChain -benchtime 5x ./gateway/store/sqlite
func BenchmarkVerifyChain(b *testing.B) {
	s := openBench(b, "NORMAL")
	ctx := context.Background()
	now := time.Now()
	const n = 20000
	for i := 0; i < n; i += 500 {
		recs := make([]contracts.EvidenceRecord, 500)
		for j := range recs {
			ch := benchChange(now)
			recs[j] = ch.Evidence[0]
		}
		if err := s.AppendEvidence(ctx, recs...); err != nil {
			b.Fatal(err)
		}
	}
	v := evidence.ChainVerifier{SM3: signing.EvidenceHash}
	b.ResetTimer()
	for b.Loop() {
		res, err := v.Verify(ctx, s, 0, 0)
		if err != nil || !res.OK || res.Checked != n {
			b.Fatalf("Verify: %+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func openBench(b *testing.B, mode string) *Store {
	b.Helper()
	s, err := Open(context.Background(), Options{Path: filepath.Join(b.TempDir(), "bench.db"), Synchronous: mode, Linker: evidence.Linker{SM3: signing.EvidenceHash}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func reportBatch(b *testing.B, s *Store, before Stats) {
	after := s.Stats()
	if c := after.Commits - before.Commits; c > 0 {
		b.ReportMetric(float64(after.Writes-before.Writes)/float64(c), "writes/commit")
	}
}

// BenchmarkCreateCase measures CreateCase (case, exchange with a 1.2 KB
// body, history entry, one delivery) from 64 concurrent callers.
func BenchmarkCreateCase(b *testing.B) {
	for _, mode := range []string{"FULL", "NORMAL"} {
		b.Run("sync="+mode, func(b *testing.B) {
			s := openBench(b, mode)
			now := time.Now()
			before := s.Stats()
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.CreateCase(context.Background(), benchChange(now)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
			reportBatch(b, s, before)
		})
	}
}

// benchUsage returns one usage record of a verification at now and the
// delivery passing it to the issuer, as a license verification stores
// them.
func benchUsage(now time.Time) ([]gateway.UsageEntry, []*gateway.Delivery) {
	n := benchIDs.Add(1)
	id := fmt.Sprintf("0195b3c2-7e4a-7%03x-8%03x-%012x", n>>12&0xfff, n&0xfff, n)
	u := gateway.UsageEntry{
		Record: contracts.UsageRecord{
			UsageRecordID: id, Caller: "320404", WindowID: "window-320404", OperatorID: "clerk-07",
			Purpose: "个体工商户设立登记：核验营业执照", CaseID: fmt.Sprintf("case-%012d", n),
			LicenseID:       "1.2.156.3005.2.11100000000000127001.11330702002566031G.320260302001.001.K",
			LicenseTypeCode: "11100000000000127001", HolderIDMasked: "110105********002X",
			Outcome: contracts.LicenseOutcomeValid, SourceRegion: "330702", CheckedAt: now,
		},
		HolderType: "111", HolderID: "11010519491231002X", Library: "330702", Subject: "clerk-07",
	}
	d := &gateway.Delivery{
		ID: "d-" + id, Kind: contracts.DeliveryKindUsageRecord, Partner: "330702", ExchangeID: "x-" + id,
		Payload: benchPayload[:600], NextAt: now, CreatedAt: now,
	}
	return []gateway.UsageEntry{u}, []*gateway.Delivery{d}
}

// BenchmarkAddUsage measures AddUsage of one usage record and its
// delivery from 64 concurrent callers, as concurrent license
// verifications store them.
func BenchmarkAddUsage(b *testing.B) {
	for _, mode := range []string{"FULL", "NORMAL"} {
		b.Run("sync="+mode, func(b *testing.B) {
			s := openBench(b, mode)
			now := time.Now()
			before := s.Stats()
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					entries, ds := benchUsage(now)
					if err := s.AddUsage(context.Background(), entries, ds); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			reportBatch(b, s, before)
		})
	}
}

// BenchmarkDeliveryCycle measures the whole life of a delivery as the
// gateway drives it: 64 submitters create cases; one dispatcher claims due
// deliveries (up to 256 at a time); 64 workers read each case and mark its
// delivery delivered with the partner's ack in one UpdateCase. It reports
// completed cycles per second.
func BenchmarkDeliveryCycle(b *testing.B) {
	for _, mode := range []string{"FULL", "NORMAL"} {
		b.Run("sync="+mode, func(b *testing.B) { benchCycle(b, mode) })
	}
}

func benchCycle(b *testing.B, mode string) {
	const submitters, workers, batch = 64, 64, 256
	s := openBench(b, mode)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Now()
	before := s.Stats()
	b.ResetTimer()

	created := make(chan struct{}, 1) // a nudge for the dispatcher
	work := make(chan *gateway.Delivery, batch)
	var delivered atomic.Int64
	finished := make(chan struct{})
	fail := func(err error) {
		b.Error(err)
		cancel()
	}

	var remaining atomic.Int64
	remaining.Store(int64(b.N))
	var wg sync.WaitGroup
	for range submitters {
		wg.Go(func() {
			for remaining.Add(-1) >= 0 && ctx.Err() == nil {
				if err := s.CreateCase(ctx, benchChange(now)); err != nil {
					fail(err)
					return
				}
				select {
				case created <- struct{}{}:
				default:
				}
			}
		})
	}
	for range workers {
		wg.Go(func() {
			for d := range work {
				c, err := s.GetCase(ctx, d.CaseID)
				if err != nil {
					fail(err)
					return
				}
				c.State, c.OwnerCaseNo, c.UpdatedAt = contracts.CaseStateForwarded, "WC-"+c.ID, now
				done := *d
				done.Attempts, done.DeliveredAt = 1, now
				done.Ack = &contracts.Ack{ExchangeID: d.ExchangeID, DeliveryID: d.ID, PartnerCaseNo: "WC-" + c.ID, AcknowledgedAt: now, KeyID: d.Partner}
				done.AckBody, done.AckSig = benchPayload[:200], benchSig
				err = s.UpdateCase(ctx, gateway.Change{
					Case:      c,
					Status:    &gateway.Status{CaseID: c.ID, State: c.State, At: now, ReportedBy: d.Partner},
					Delivered: &done,
				})
				if err != nil {
					fail(err)
					return
				}
				if delivered.Add(1) == int64(b.N) {
					close(finished)
				}
			}
		})
	}
	// The dispatcher.
	go func() {
		defer close(work)
		for ctx.Err() == nil {
			ds, err := s.ClaimDue(ctx, now, time.Hour, batch)
			if err != nil {
				fail(err)
				return
			}
			for _, d := range ds {
				work <- d
			}
			if len(ds) == 0 {
				select {
				case <-created:
				case <-finished:
					return
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	select {
	case <-finished:
	case <-ctx.Done():
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	b.ReportMetric(float64(delivered.Load())/b.Elapsed().Seconds(), "cycles/s")
	reportBatch(b, s, before)
}

// BenchmarkClaimBacklog measures ClaimDue of 100 with 50,000 due
// deliveries waiting.
func BenchmarkClaimBacklog(b *testing.B) {
	const backlog = 50000
	s := openBench(b, "NORMAL")
	now := time.Now()
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range backlog / 64 {
				if err := s.CreateCase(context.Background(), benchChange(now.Add(-time.Hour))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ResetTimer()
	for i := range b.N {
		// A zero lease makes claimed deliveries due again at once, behind
		// the backlog, so every claim finds 100.
		ds, err := s.ClaimDue(context.Background(), now.Add(time.Duration(i)), 0, 100)
		if err != nil || len(ds) != 100 {
			b.Fatalf("ClaimDue: got %d, %v", len(ds), err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
}

// BenchmarkClaimMailbox measures ClaimMailbox of 50 from a mailbox of
// 20,000 waiting messages, next to 20,000 due pushed deliveries that it
// must not walk.
func BenchmarkClaimMailbox(b *testing.B) {
	const backlog = 20000
	s := openBench(b, "NORMAL")
	ctx := context.Background()
	if err := s.SetPullPartners(ctx, []string{"610102"}); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Go(func() {
			for i := range 2 * backlog / 64 {
				ch := benchChange(now.Add(-time.Hour))
				if (w+i)%2 == 0 {
					ch.Case.Owner, ch.Enqueue[0].Partner = "610102", "610102"
				}
				if err := s.CreateCase(ctx, ch); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ResetTimer()
	for i := range b.N {
		// A zero visibility makes claimed messages visible again at once,
		// so every claim finds 50.
		ds, err := s.ClaimMailbox(ctx, gateway.MailboxClaim{Partner: "610102", Now: now.Add(time.Duration(i)),
			After: int64(i * 50 % (2 * backlog)), Limit: 50, Reoffer: "again"})
		if err != nil || len(ds) != 50 {
			b.Fatalf("ClaimMailbox: got %d, %v", len(ds), err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
}

// BenchmarkFoldedCycle is BenchmarkDeliveryCycle as the dispatcher runs
// it now (storetest.BenchFoldedCycle): 16 workers each mark their
// delivery delivered and claim their next one in the same UpdateCase
// (gateway.NextClaim) while 64 submitters create cases.
func BenchmarkFoldedCycle(b *testing.B) {
	s := openBench(b, "FULL")
	storetest.BenchFoldedCycle(b, s, func() gateway.Change { return benchChange(time.Now()) })
}
