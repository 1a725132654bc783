package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/store/storecodec"
)

// BenchFoldedCycle measures the life of a delivery on s as the gateway
// drives it: 64 submitters store the cases newCase makes (each with one
// due delivery); 16 workers each read the case of their delivery and
// mark it delivered, with the attempt's evidence record, claiming their
// next delivery in the same UpdateCase (gateway.NextClaim), and call
// ClaimDue only when they hold none. It reports cycles/s and, when s
// counts its writes (storecodec.Counter), writes per cycle and per
// commit.
func BenchFoldedCycle(b *testing.B, s gateway.Store, newCase func() gateway.Change) {
	const submitters, workers = 64, 16
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	counter, _ := s.(storecodec.Counter)
	var before storecodec.Stats
	if counter != nil {
		before = counter.Stats()
	}
	b.ResetTimer()

	var delivered, remaining atomic.Int64
	remaining.Store(int64(b.N))
	created := make(chan struct{}, 1)
	fail := func(err error) {
		b.Error(err)
		cancel()
	}
	var wg sync.WaitGroup
	for range submitters {
		wg.Go(func() {
			for remaining.Add(-1) >= 0 && ctx.Err() == nil {
				if err := s.CreateCase(ctx, newCase()); err != nil {
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
			var d *gateway.Delivery
			for delivered.Load() < int64(b.N) && ctx.Err() == nil {
				now := time.Now()
				if d == nil {
					ds, err := s.ClaimDue(ctx, now, time.Hour, 1)
					if err != nil {
						fail(err)
						return
					}
					if len(ds) == 0 {
						select {
						case <-created:
						case <-time.After(time.Millisecond):
						}
						continue
					}
					d = ds[0]
				}
				c, err := s.GetCase(ctx, d.CaseID)
				if err != nil {
					fail(err)
					return
				}
				c.State, c.OwnerCaseNo, c.UpdatedAt = contracts.CaseStateForwarded, "WC-"+c.ID, now
				done := *d
				done.State, done.Attempts, done.DeliveredAt = contracts.TransportStateDelivered, 1, now
				done.Ack = &contracts.Ack{ExchangeID: d.ExchangeID, DeliveryID: d.ID, PartnerCaseNo: "WC-" + c.ID, AcknowledgedAt: now, KeyID: d.Partner}
				done.AckBody, done.AckSig = []byte(`{"partner_case_no":"WC-`+c.ID+`"}`), []byte{0x30, 0x45, 0x02, 0x20}
				next := &gateway.NextClaim{Now: now, Lease: time.Hour, Limit: 1}
				err = s.UpdateCase(ctx, gateway.Change{
					Case:      c,
					Status:    &gateway.Status{CaseID: c.ID, State: c.State, At: now, ReportedBy: d.Partner},
					Delivered: &done,
					Evidence: []contracts.EvidenceRecord{{At: now, Actor: gateway.GatewayActor, Event: contracts.EventDeliveryAttempt,
						CaseID: c.ID, DeliveryID: d.ID, Partner: d.Partner, Detail: []byte(`{"attempt":1,"outcome":"delivered"}`)}},
					Claim: next,
				})
				if err != nil {
					fail(err)
					return
				}
				delivered.Add(1)
				d = nil
				if len(next.Claimed) > 0 {
					d = next.Claimed[0]
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(delivered.Load())/b.Elapsed().Seconds(), "cycles/s")
	if counter != nil {
		after := counter.Stats()
		b.ReportMetric(float64(after.Writes-before.Writes)/float64(max(delivered.Load(), 1)), "writes/cycle")
		b.ReportMetric(float64(after.Writes-before.Writes)/float64(max(after.Commits-before.Commits, 1)), "writes/commit")
	}
}
