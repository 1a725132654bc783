package adaptertest

import (
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/contracts"
)

// The contract of usage records in batches (adapters.UsageBatchDeliverer)
// for every style that offers it as configured: the batch is signed once
// over its exact bytes; every record survives the round trip; the
// partner's one signed acknowledgement names the records it stored and
// verifies; a record sent again (in a later batch, or first alone) is
// stored once and acknowledged again; a partial acknowledgement is
// returned as it is, not as an error; a badly signed acknowledgement is a
// permanent ErrBadSignature (the gateway then retries the batch's records).

// batchTests are the suite's batch tests (see Run).
var batchTests = []struct {
	name string
	fn   func(t *testing.T, s Setup)
}{
	{"UsageBatch/RoundTrip", testBatchRoundTrip},
	{"UsageBatch/SignedOnce", testBatchSignedOnce},
	{"UsageBatch/RepeatIdempotent", testBatchRepeat},
	{"UsageBatch/PartialAck", testBatchPartial},
	{"UsageBatch/BadAnswerSignatureIsPermanent", testBatchBadSignature},
}

// batcher returns the rig's batch delivery, or nil (the test logged why)
// when the style, as configured, has none.
func (r *rig) batcher() adapters.UsageBatchDeliverer {
	r.t.Helper()
	b, ok := adapters.UsageBatchDelivererOf(r.adapter)
	if !ok {
		r.t.Logf("%s adapter passes no usage records in batches as configured; nothing to check", r.s.Style)
		return nil
	}
	return b
}

// batchOf returns a batch carrying ds, numbered n.
func batchOf(n int, ds ...*contracts.UsageRecordDelivery) *contracts.UsageRecordBatch {
	b := &contracts.UsageRecordBatch{BatchID: uuid(9000 + n), SentAt: t0.Add(time.Duration(n) * time.Second)}
	for _, d := range ds {
		b.Deliveries = append(b.Deliveries, *d)
	}
	return b
}

// checkBatchAck checks a batch acknowledgement as the gateway keeps it: it
// names the batch and exactly the deliveries want, signed by the
// partner's key, and its signature verifies over the exact bytes returned.
func checkBatchAck(t *testing.T, s Setup, ack *contracts.UsageBatchAck, raw, sig []byte, b *contracts.UsageRecordBatch, want ...string) {
	t.Helper()
	if ack == nil || ack.BatchID != b.BatchID || ack.KeyID != s.Partner.KeyID() || ack.AcknowledgedAt.IsZero() ||
		contracts.ValidateSM3Hex("body_sm3", ack.BodySM3) != nil {
		t.Errorf("batch acknowledgement %+v does not name batch %s signed by %s", ack, b.BatchID, s.Partner.KeyID())
	} else if got := slices.Clone(ack.DeliveryIDs); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
		t.Errorf("batch acknowledgement names %v, want %v", ack.DeliveryIDs, want)
	}
	if err := s.Gateway.VerifyBody(PartnerID, s.Partner.KeyID(), raw, sig); err != nil {
		t.Errorf("the batch acknowledgement's bytes and signature kept as evidence do not verify: %v", err)
	}
}

func testBatchRoundTrip(t *testing.T, s Setup) {
	r := newRig(t, s, s.Gateway, 0)
	bd := r.batcher()
	if bd == nil {
		return
	}
	refused := FullUsage(2)
	refused.Record.Outcome, refused.Record.ErrorCode, refused.Record.SourceRegion = "", contracts.CodeInvalidLicenseID, ""
	sparse := FullUsage(3)
	sparse.Record.WindowID, sparse.Record.OperatorID, sparse.Record.CaseID, sparse.Record.Cached = "", "", "", false
	b := batchOf(1, FullUsage(1), refused, sparse)
	ack, raw, sig, err := bd.DeliverUsageBatch(t.Context(), b)
	if err != nil {
		t.Fatalf("DeliverUsageBatch: %v", err)
	}
	checkBatchAck(t, s, ack, raw, sig, b, b.Deliveries[0].DeliveryID, b.Deliveries[1].DeliveryID, b.Deliveries[2].DeliveryID)
	got := r.sim.UsageRecords()
	if len(got) != 3 {
		t.Fatalf("the partner holds %d usage records, want 3", len(got))
	}
	for i := range got {
		Same(t, "usage record delivery in a batch", &got[i], &b.Deliveries[i])
	}
	if n := r.sim.UsageBatches(); n != 1 {
		t.Errorf("the partner took %d batches, want 1", n)
	}
}

// testBatchSignedOnce: a batch is one call, carrying one Gw-Signature that
// verifies over its exact body with the gateway's key.
func testBatchSignedOnce(t *testing.T, s Setup) {
	r := newRig(t, s, s.Gateway, 0)
	bd := r.batcher()
	if bd == nil {
		return
	}
	var (
		mu    sync.Mutex
		calls int
	)
	r.setTap(func(req *http.Request, body []byte) {
		mu.Lock()
		calls++
		mu.Unlock()
		sig, err := base64.StdEncoding.DecodeString(req.Header.Get(adapters.HeaderSignature))
		if err != nil || req.Header.Get(adapters.HeaderKeyID) != s.Gateway.KeyID() {
			t.Errorf("batch call: Gw-Signature %q, Gw-Key-Id %q", req.Header.Get(adapters.HeaderSignature), req.Header.Get(adapters.HeaderKeyID))
		} else if err := s.Partner.VerifyBody(partnersim.GatewayCaller, s.Gateway.KeyID(), body, sig); err != nil {
			t.Errorf("batch call: the gateway's signature does not verify over the exact body: %v", err)
		}
	})
	if _, _, _, err := bd.DeliverUsageBatch(t.Context(), batchOf(1, FullUsage(1), FullUsage(2), FullUsage(3), FullUsage(4))); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Errorf("four records took %d calls, want 1", calls)
	}
}

// testBatchRepeat: records the partner stored before (in an earlier batch,
// or sent alone) are acknowledged again and stored once.
func testBatchRepeat(t *testing.T, s Setup) {
	r := newRig(t, s, s.Gateway, 0)
	bd := r.batcher()
	if bd == nil {
		return
	}
	u1, u2, u3, u4 := FullUsage(1), FullUsage(2), FullUsage(3), FullUsage(4)
	if _, _, _, err := bd.DeliverUsageBatch(t.Context(), batchOf(1, u1, u2)); err != nil {
		t.Fatal(err)
	}
	ur, _ := adapters.UsageDelivererOf(r.adapter)
	if _, _, _, err := ur.DeliverUsage(t.Context(), u4); err != nil {
		t.Fatal(err)
	}
	// A later attempt of u2 (another sent_at: a new batch) and of u4.
	later2, later4 := *u2, *u4
	later2.SentAt, later4.SentAt = t0.Add(time.Hour), t0.Add(time.Hour)
	b := batchOf(2, &later2, u3, &later4)
	ack, raw, sig, err := bd.DeliverUsageBatch(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	checkBatchAck(t, s, ack, raw, sig, b, u2.DeliveryID, u3.DeliveryID, u4.DeliveryID)
	var ids []string
	for _, d := range r.sim.UsageRecords() {
		ids = append(ids, d.DeliveryID)
	}
	if want := []string{u1.DeliveryID, u2.DeliveryID, u4.DeliveryID, u3.DeliveryID}; !slices.Equal(ids, want) {
		t.Errorf("the partner holds %v, want each record once: %v", ids, want)
	}
}

// testBatchPartial: the records the partner leaves out of its
// acknowledgement are not stored, and the adapter returns the partial
// acknowledgement as it is; sent again, they are taken.
func testBatchPartial(t *testing.T, s Setup) {
	r := newRig(t, s, s.Gateway, 0)
	bd := r.batcher()
	if bd == nil {
		return
	}
	if err := r.sim.SetFaults(partnersim.Faults{LeaveOutFirst: 1}); err != nil {
		t.Fatal(err)
	}
	u1, u2 := FullUsage(1), FullUsage(2)
	b := batchOf(1, u1, u2)
	ack, raw, sig, err := bd.DeliverUsageBatch(t.Context(), b)
	if err != nil {
		t.Fatalf("partial acknowledgement: %v", err)
	}
	checkBatchAck(t, s, ack, raw, sig, b, u2.DeliveryID)
	if got := r.sim.UsageRecords(); len(got) != 1 || got[0].DeliveryID != u2.DeliveryID {
		t.Errorf("the partner holds %d records, want only %s", len(got), u2.DeliveryID)
	}
	b = batchOf(2, u1)
	ack, raw, sig, err = bd.DeliverUsageBatch(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	checkBatchAck(t, s, ack, raw, sig, b, u1.DeliveryID)
}

func testBatchBadSignature(t *testing.T, s Setup) {
	r := newRig(t, s, s.Gateway, 0)
	bd := r.batcher()
	if bd == nil {
		return
	}
	if err := r.sim.SetFaults(partnersim.Faults{BadSignature: true}); err != nil {
		t.Fatal(err)
	}
	b := batchOf(1, FullUsage(1), FullUsage(2))
	_, _, _, err := bd.DeliverUsageBatch(t.Context(), b)
	if e := classified(t, err); e == nil || !e.Permanent() || !errors.Is(err, adapters.ErrBadSignature) {
		t.Errorf("badly signed batch acknowledgement: got %v, want a permanent ErrBadSignature", err)
	}
	r.sim.SetFaults(partnersim.Faults{})
	b.BatchID = uuid(9100) // the gateway's next attempt is a new batch
	ack, raw, sig, err := bd.DeliverUsageBatch(t.Context(), b)
	if err != nil {
		t.Fatalf("after the partner recovered: %v", err)
	}
	checkBatchAck(t, s, ack, raw, sig, b, b.Deliveries[0].DeliveryID, b.Deliveries[1].DeliveryID)
	if n := len(r.sim.UsageRecords()); n != 2 {
		t.Errorf("the partner holds %d records, want 2", n)
	}
}
