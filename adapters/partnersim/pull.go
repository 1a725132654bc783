package partnersim

import (
	"context"

	"go.opentelemetry.io/otel/trace"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// pullLoop is a mailbox partner's receiving side: it long-polls its
// mailbox, takes every message whose gateway signature verifies (as
// accept does for a push), and acknowledges the batch with one signed
// MailboxAck. Under the faults a message may be left unacknowledged (the
// gateway offers it again after the visibility timeout) or acknowledged
// badly. It stops when ctx is done.
func (s *Sim) pullLoop(ctx context.Context) {
	cursor := ""
	backoff := reportBackoffMin
	for ctx.Err() == nil {
		batch, err := s.pull.Poll(ctx, cursor, pollWait, 50)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.cfg.Logf("partnersim %s: mailbox poll failed: %v", s.cfg.PartnerID, err)
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, reportBackoffMax)
			continue
		}
		backoff = reportBackoffMin
		cursor = batch.NextCursor
		s.mu.Lock()
		f := s.faults
		s.mu.Unlock()
		if len(batch.Messages) > 0 && f.Delay > 0 && !sleep(ctx, f.Delay) {
			return
		}
		var (
			acks  []contracts.Ack
			taken []*adapters.Message
		)
		for _, r := range batch.Messages {
			if !s.takePulled() {
				continue
			}
			if r.Err != nil {
				s.cfg.Logf("partnersim %s: mailbox message refused: %v", s.cfg.PartnerID, r.Err)
				continue
			}
			// A mailbox message carries no trace context.
			acc, ref := s.accept(r.Message, s.cfg.Crypto.SM3Hex(r.Body), trace.SpanContext{})
			if ref != nil {
				s.cfg.Logf("partnersim %s: mailbox message %s refused: %s", s.cfg.PartnerID, r.DeliveryID, ref.msg)
				continue
			}
			ack := acc.ack
			if f.Malformed {
				ack.BodySM3 = s.cfg.Crypto.SM3Hex(append(append([]byte(nil), r.Body...), ' '))
				s.cfg.Logf("partnersim %s: fault: acknowledging %s with the digest of other bytes", s.cfg.PartnerID, r.DeliveryID)
			}
			acks = append(acks, ack)
			taken = append(taken, r.Message)
		}
		if len(acks) == 0 {
			continue
		}
		res, err := s.pull.Ack(ctx, acks)
		if err != nil {
			s.cfg.Logf("partnersim %s: mailbox acknowledgement failed: %v", s.cfg.PartnerID, err)
			continue
		}
		s.cfg.Logf("partnersim %s: acknowledged %d mailbox messages (%d unknown)", s.cfg.PartnerID, res.Acknowledged, len(res.Unknown))
		if s.cfg.OnAck != nil {
			for _, m := range taken {
				s.cfg.OnAck(m.Kind(), m.ExchangeID())
			}
		}
	}
}

// takePulled counts one pulled message and decides, under the faults,
// whether the partner takes it (a failed or dropped one is left
// unacknowledged).
func (s *Sim) takePulled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	f := s.faults
	switch {
	case s.dropped < f.DropFirst || s.chanceLocked(f.DropRate):
		s.dropped++
		s.cfg.Logf("partnersim %s: fault: dropping a mailbox message unacknowledged", s.cfg.PartnerID)
		return false
	case s.failed < f.FailFirst || s.chanceLocked(f.ErrorRate):
		s.failed++
		s.cfg.Logf("partnersim %s: fault: failing a mailbox message unacknowledged", s.cfg.PartnerID)
		return false
	}
	return true
}
