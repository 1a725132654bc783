package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters/mappedjson"
	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/adapters/soap"
	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/cmd/tongban/internal/e2etest"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// TestLicenseUsageBatchesEndToEnd: through the gateway as served, the
// usage records of one batch verification reach their issuer, in each
// pushing style, in fewer calls than records; the issuer leaves the first
// two out of its acknowledgement, and the gateway retries them until they
// are taken. Every record is stored once at the issuer and delivered at
// the gateway, with its own delivery.attempt records, each naming its batch
// and the delivered one carrying the batch acknowledgement's signature.
func TestLicenseUsageBatchesEndToEnd(t *testing.T) {
	const n = 8
	for _, style := range []string{standard.Name, mappedjson.Name, soap.Name} {
		t.Run(style, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			rig, err := devrig.Start(ctx, devrig.Options{Dir: t.TempDir(), OwnerStyle: style,
				OwnerFaults: partnersim.Faults{LeaveOutFirst: 2}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := rig.Stop(); err != nil {
					t.Errorf("stop the rig: %v", err)
				}
			})
			var valid []string
			for _, rec := range rig.Owner.Licenses() {
				if role, ok := partnersim.DemoRoleOf(rec); ok && role.Outcome() == contracts.LicenseOutcomeValid {
					valid = append(valid, rec.LicenseID)
				}
			}
			if len(valid) == 0 {
				t.Fatal("the owner's library holds no valid license")
			}
			req := contracts.BatchVerifyRequest{Purpose: "跨省通办：核验营业执照"}
			for i := range n {
				req.Items = append(req.Items, contracts.LicenseVerifyRequest{LicenseID: valid[i%len(valid)]})
			}
			body, err := json.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			win := e2etest.NewCaller(devrig.Window, devrig.RigGatewayID, rig.Keys[devrig.Window])
			ans, err := win.PostSigned(ctx, win.Token(t), rig.Base+"/v1/licenses/verify/batch", body)
			if err != nil || ans.Status != http.StatusOK {
				t.Fatalf("batch verification: %v, %d %s", err, ans.Status, ans.Body)
			}
			var res contracts.BatchVerifyResult
			if err := json.Unmarshal(ans.Body, &res); err != nil || len(res.Results) != n {
				t.Fatalf("batch verification answer %s: %v", ans.Body, err)
			}

			// Every record reaches the issuer once, the two left out too.
			deadline := time.Now().Add(30 * time.Second)
			for len(rig.Owner.UsageRecords()) < n {
				if time.Now().After(deadline) {
					t.Fatalf("the issuer holds %d of %d usage records within 30s", len(rig.Owner.UsageRecords()), n)
				}
				time.Sleep(20 * time.Millisecond)
			}
			held := rig.Owner.UsageRecords()
			seen := map[string]bool{}
			for _, d := range held {
				if seen[d.DeliveryID] {
					t.Errorf("the issuer stored delivery %s twice", d.DeliveryID)
				}
				seen[d.DeliveryID] = true
			}
			if b := rig.Owner.UsageBatches(); b < 2 || b >= n {
				t.Errorf("the issuer took %d batches for %d records and a retry, want at least 2 and fewer than %d", b, n, n)
			}

			// At the gateway: each delivered, one record per attempt, each
			// naming its batch.
			attempts := attemptRecords(t, ctx, rig.Gateway.Store())
			retried := 0
			for _, d := range held {
				var got *gateway.Delivery
				for {
					got, err = rig.Gateway.Store().GetDelivery(ctx, d.DeliveryID)
					if err == nil && got.State == contracts.TransportStateDelivered {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("delivery %s not delivered within 30s: %+v, %v", d.DeliveryID, got, err)
					}
					time.Sleep(20 * time.Millisecond)
					attempts = attemptRecords(t, ctx, rig.Gateway.Store())
				}
				recs := attempts[d.DeliveryID]
				if len(recs) != got.Attempts || len(recs) == 0 {
					t.Errorf("delivery %s: %d attempts, %d attempt records", d.DeliveryID, got.Attempts, len(recs))
					continue
				}
				if len(recs) > 1 {
					retried++
				}
				last := recs[len(recs)-1]
				for _, r := range recs {
					if r.BatchID == "" {
						t.Errorf("delivery %s: attempt record %+v names no batch", d.DeliveryID, r)
					}
				}
				if last.Outcome != "delivered" || last.AckSignature == "" || last.BatchSM3 == "" || got.Ack == nil || got.Ack.DeliveryID != d.DeliveryID {
					t.Errorf("delivery %s: last record %+v, ack %+v; want delivered with the batch acknowledgement", d.DeliveryID, last, got.Ack)
				}
				var batchAck contracts.UsageBatchAck
				if style == standard.Name {
					if err := json.Unmarshal(got.AckBody, &batchAck); err != nil || batchAck.BatchID != last.BatchID {
						t.Errorf("delivery %s keeps acknowledgement %s, want the batch %s's", d.DeliveryID, got.AckBody, last.BatchID)
					}
				}
			}
			if retried != 2 {
				t.Errorf("%d records were retried, want the 2 left out", retried)
			}
		})
	}
}

// attemptRecords returns the details of the delivery.attempt records in
// the log, by delivery id, in log order.
func attemptRecords(t *testing.T, ctx context.Context, s gateway.Store) map[string][]contracts.EvidenceDetail {
	t.Helper()
	out := map[string][]contracts.EvidenceDetail{}
	err := s.ScanEvidence(ctx, 1, 0, func(r gateway.EvidenceRow) error {
		var rec contracts.EvidenceRecord
		if err := json.Unmarshal(r.Record, &rec); err != nil {
			return err
		}
		if rec.Event != contracts.EventDeliveryAttempt {
			return nil
		}
		var d contracts.EvidenceDetail
		if err := json.Unmarshal(rec.Detail, &d); err != nil {
			return fmt.Errorf("record %d: %w", r.Seq, err)
		}
		out[rec.DeliveryID] = append(out[rec.DeliveryID], d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
