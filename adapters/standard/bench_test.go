package standard_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/contracts"
)

// BenchmarkUsageRecords passes usage records to a simulated issuer on
// loopback with real SM2 on both sides, one call per record (the
// single-record webhook) against one call per batch: the cost per record
// is reported as ns/record. A single record costs four SM2 operations (the
// gateway signs, the issuer verifies, signs its acknowledgement, the
// gateway verifies it); a batch costs four for all its records.
func BenchmarkUsageRecords(b *testing.B) {
	gw, partner := newPair(b)
	for _, size := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			_, srv := newSim(b, partner, partnersim.Faults{})
			a := newAdapter(b, gw, srv.URL, "", 0)
			ctx := context.Background()
			n := 0
			next := func() *contracts.UsageRecordDelivery {
				n++
				d := *sampleUsage()
				d.DeliveryID = fmt.Sprintf("dlv-%09d", n)
				d.Record.UsageRecordID = fmt.Sprintf("ur-%09d", n)
				return &d
			}
			records := 0
			for b.Loop() {
				if size == 1 {
					if _, _, _, err := a.DeliverUsage(ctx, next()); err != nil {
						b.Fatal(err)
					}
					records++
					continue
				}
				batch := &contracts.UsageRecordBatch{BatchID: fmt.Sprintf("01959252-0000-7000-8000-%012d", n), SentAt: fixedNow}
				for range size {
					batch.Deliveries = append(batch.Deliveries, *next())
				}
				if _, _, _, err := a.DeliverUsageBatch(ctx, batch); err != nil {
					b.Fatal(err)
				}
				records += size
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
		})
	}
}
