package partnersim

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// serveBatch answers a batch of usage records m whose gateway signature
// verified (once, over the whole body; digest is the SM3 of those bytes):
// each record is stored once by its delivery_id, whether it comes for the
// first time or again (alone or in an earlier batch), and one signed
// UsageBatchAck names every record stored now or before. A record that is
// not well formed, or one the LeaveOutFirst fault strikes, is left out of
// the acknowledgement and not stored. A batch that is not one (no batch
// id, no records or too many) is refused as a whole. The same bytes again
// (an in-attempt retry) get the very same acknowledgement.
func (s *Sim) serveBatch(w http.ResponseWriter, m *adapters.Message, digest string, sc trace.SpanContext) {
	b := m.UsageBatch
	if b.BatchID == "" || len(b.Deliveries) == 0 || len(b.Deliveries) > contracts.MaxUsageBatch {
		s.writeError(w, m, http.StatusBadRequest, contracts.CodeValidationFailed, "batch_id and 1 to 100 deliveries are required")
		return
	}
	key := "batch/" + b.BatchID
	a, ok := s.storedAnswer(key, digest)
	var taken []string // exchange ids of the records acknowledged
	if !ok {
		ack := s.acceptBatch(key, b, digest, sc)
		raw, mediaType, err := s.side.WriteBatchAck(m, ack)
		var sig []byte
		if err == nil {
			sig, err = s.cfg.Crypto.Sign(raw)
		}
		if err != nil {
			s.cfg.Logf("partnersim %s: making the batch acknowledgement: %v", s.cfg.PartnerID, err)
			s.writeError(w, m, http.StatusInternalServerError, contracts.CodeInternal, "could not make the acknowledgement")
			return
		}
		a = signedAnswer{raw: raw, sig: sig, mediaType: mediaType}
		s.storeAnswer(key, digest, a)
		named := map[string]bool{}
		for _, id := range ack.DeliveryIDs {
			named[id] = true
		}
		for _, d := range b.Deliveries {
			if named[d.DeliveryID] {
				taken = append(taken, d.ExchangeID)
			}
		}
	}
	if s.writeSigned(w, a) && s.cfg.OnAck != nil {
		for _, x := range taken {
			s.cfg.OnAck(string(contracts.DeliveryKindUsageRecord), x)
		}
	}
}

// acceptBatch takes the records of batch b (see serveBatch) and returns
// the acknowledgement to give, made once per batch (key) so that a repeat
// of its bytes gets the same time.
func (s *Sim) acceptBatch(key string, b *contracts.UsageRecordBatch, digest string, sc trace.SpanContext) *contracts.UsageBatchAck {
	s.mu.Lock()
	defer s.mu.Unlock()
	ex, seen := s.exchanges[key]
	if !seen {
		ex = &exchange{ackedAt: s.cfg.Now(), acks: map[string]signedAnswer{}}
		s.exchanges[key] = ex
	}
	ack := &contracts.UsageBatchAck{BatchID: b.BatchID, DeliveryIDs: []string{}, AcknowledgedAt: ex.ackedAt, BodySM3: digest, KeyID: s.cfg.Crypto.KeyID()}
	named := map[string]bool{}
	for i := range b.Deliveries {
		d := &b.Deliveries[i]
		if contracts.ValidateUUID(d.ExchangeID) != nil || d.DeliveryID == "" || d.Record.UsageRecordID == "" ||
			strings.TrimSpace(d.Record.Purpose) == "" || named[d.DeliveryID] {
			s.cfg.Logf("partnersim %s: batch %s: leaving out a malformed or repeated usage record", s.cfg.PartnerID, b.BatchID)
			continue
		}
		rkey := "usage/" + d.DeliveryID
		if _, stored := s.exchanges[rkey]; !stored {
			if s.leftOut < s.faults.LeaveOutFirst {
				s.leftOut++
				s.cfg.Logf("partnersim %s: fault: leaving usage record %s out of batch %s", s.cfg.PartnerID, d.DeliveryID, b.BatchID)
				continue
			}
			s.exchanges[rkey] = &exchange{ackedAt: ex.ackedAt, acks: map[string]signedAnswer{}}
			s.usages = append(s.usages, *d)
			s.recordTraceLocked(sc)
			s.cfg.Logf("partnersim %s: usage record %s received in batch %s (exchange %s, outcome %q)",
				s.cfg.PartnerID, d.Record.UsageRecordID, b.BatchID, d.ExchangeID, d.Record.Outcome)
		}
		named[d.DeliveryID] = true
		ack.DeliveryIDs = append(ack.DeliveryIDs, d.DeliveryID)
	}
	if !seen {
		s.batches++
	}
	return ack
}

// UsageBatches returns how many batches of usage records the partner took
// (each distinct batch once).
func (s *Sim) UsageBatches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batches
}
