package partnersim

import (
	"fmt"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// refusal is a request the partner refuses: the HTTP status it means, the
// error code and a message that quotes no value.
type refusal struct {
	status int
	code   contracts.Code
	msg    string
}

func refuse(status int, code contracts.Code, msg string) *refusal {
	return &refusal{status: status, code: code, msg: msg}
}

// accepted is what the partner makes of a delivery it took: the exchange
// it belongs to (for its stored answers) and the acknowledgement to give.
type accepted struct {
	key string // kind + "/" + delivery_id
	ack contracts.Ack
}

// accept takes a delivery m (a case, status update, notice or usage
// record) whose gateway signature verified; digest is the SM3 of the exact
// bytes the gateway signed, sc the span context its traceparent named
// (invalid when none). A new exchange is stored (a case gets a case number
// and its lifecycle is queued for the reporter, continuing sc; a negative
// evaluation of a case it owns is queued for the replier under AutoReply);
// a repeat is
// recognised by its delivery_id, the one key the gateway makes unique
// across all senders (an exchange_id is unique per sender only: two
// districts may send the same one). It returns the acknowledgement to give,
// with AcknowledgedAt, KeyID and (for a case) PartnerCaseNo set, or the
// reason to refuse.
func (s *Sim) accept(m *adapters.Message, digest string, sc trace.SpanContext) (*accepted, *refusal) {
	switch m.Kind() {
	case "case":
		d := m.Case
		if r := checkDelivery(d.ExchangeID, d.DeliveryID, d.CaseID); r != nil {
			return nil, r
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		key := "case/" + d.DeliveryID
		ex, fresh := s.takeLocked(key, sc)
		if fresh {
			caseNo, known := s.caseNos[d.CaseID]
			if !known {
				s.seq++
				caseNo = fmt.Sprintf("%s-%04d-%06d", s.cfg.PartnerID, s.cfg.Now().Year(), s.seq)
				s.caseNos[d.CaseID] = caseNo
			}
			ex.caseNo = caseNo
			s.cases = append(s.cases, *d)
			if _, known := s.caseTrace[d.CaseID]; !known && sc.IsValid() {
				s.caseTrace[d.CaseID] = sc
			}
			s.queue = append(s.queue, job{caseID: d.CaseID, caseNo: caseNo, delivery: *d, trace: s.caseTrace[d.CaseID]})
			part := ""
			if d.Bundle != nil {
				part = fmt.Sprintf(", part %s of bundle %s", d.Bundle.Part, d.Bundle.BundleID)
			}
			s.cfg.Logf("partnersim %s: case %s received as %s (exchange %s%s)", s.cfg.PartnerID, d.CaseID, caseNo, d.ExchangeID, part)
			defer s.wake()
		}
		return &accepted{key: key, ack: s.ackOf(ex, d.ExchangeID, d.DeliveryID, digest, ex.caseNo)}, nil
	case "status":
		d := m.Status
		if r := checkDelivery(d.ExchangeID, d.DeliveryID, d.CaseID); r != nil {
			return nil, r
		}
		return s.acceptOnce("status/"+d.DeliveryID, d.ExchangeID, d.DeliveryID, digest, sc, func() {
			s.statuses = append(s.statuses, *d)
			if _, known := s.caseTrace[d.CaseID]; !known && sc.IsValid() {
				s.caseTrace[d.CaseID] = sc // a sending district's first delivery of the case
			}
			s.cfg.Logf("partnersim %s: case %s is now %s (exchange %s)", s.cfg.PartnerID, d.CaseID, d.Update.State, d.ExchangeID)
		}), nil
	case string(contracts.DeliveryKindNotice):
		d := m.Notice
		if r := checkNotice(d); r != nil {
			return nil, r
		}
		return s.acceptOnce("notice/"+d.DeliveryID, d.ExchangeID, d.DeliveryID, digest, sc, func() {
			s.notices = append(s.notices, *d)
			s.cfg.Logf("partnersim %s: notice %s of case %s received (delivery %s)", s.cfg.PartnerID, d.Notice.Type, d.CaseID, d.DeliveryID)
			s.queueReplyLocked(d)
		}), nil
	case string(contracts.DeliveryKindUsageRecord):
		d := m.Usage
		if contracts.ValidateUUID(d.ExchangeID) != nil {
			return nil, refuse(http.StatusBadRequest, contracts.CodeInvalidExchangeID, "exchange_id is not a canonical UUID")
		}
		if d.DeliveryID == "" || d.Record.UsageRecordID == "" || strings.TrimSpace(d.Record.Purpose) == "" {
			return nil, refuse(http.StatusBadRequest, contracts.CodeValidationFailed, "delivery_id, record.usage_record_id and record.purpose are required")
		}
		return s.acceptOnce("usage/"+d.DeliveryID, d.ExchangeID, d.DeliveryID, digest, sc, func() {
			s.usages = append(s.usages, *d)
			s.cfg.Logf("partnersim %s: usage record %s received (exchange %s, outcome %q)",
				s.cfg.PartnerID, d.Record.UsageRecordID, d.ExchangeID, d.Record.Outcome)
		}), nil
	}
	return nil, refuse(http.StatusNotFound, contracts.CodeNotFound, "not a delivery this partner takes")
}

// acceptOnce takes a delivery that carries no case number (a status
// update, a notice, a usage record) under its exchange key: the first
// time, store runs with s.mu held to keep it; a repeat (the same
// delivery_id) only gets the acknowledgement again, with the first
// one's time.
func (s *Sim) acceptOnce(key, exchangeID, deliveryID, digest string, sc trace.SpanContext, store func()) *accepted {
	s.mu.Lock()
	defer s.mu.Unlock()
	ex, fresh := s.takeLocked(key, sc)
	if fresh {
		store()
	}
	return &accepted{key: key, ack: s.ackOf(ex, exchangeID, deliveryID, digest, "")}
}

// takeLocked returns the exchange of delivery key, making it (acknowledged
// now, its trace recorded) when the delivery is new; fresh says so. s.mu
// must be held.
func (s *Sim) takeLocked(key string, sc trace.SpanContext) (ex *exchange, fresh bool) {
	if ex, seen := s.exchanges[key]; seen {
		return ex, false
	}
	ex = &exchange{ackedAt: s.cfg.Now(), acks: map[string]signedAnswer{}}
	s.exchanges[key] = ex
	s.recordTraceLocked(sc)
	return ex, true
}

// recordTraceLocked notes the trace of a new delivery. s.mu must be held.
func (s *Sim) recordTraceLocked(sc trace.SpanContext) {
	if sc.IsValid() {
		s.traceIDs = append(s.traceIDs, sc.TraceID().String())
	}
}

// ackOf is the acknowledgement of one delivery in exchange ex: the time
// and case number are the exchange's, so every repeat gets the same ones.
func (s *Sim) ackOf(ex *exchange, exchangeID, deliveryID, digest, caseNo string) contracts.Ack {
	return contracts.Ack{
		ExchangeID: exchangeID, DeliveryID: deliveryID, PartnerCaseNo: caseNo,
		AcknowledgedAt: ex.ackedAt, BodySM3: digest, KeyID: s.cfg.Crypto.KeyID(),
	}
}

// checkNotice checks a notice delivery: the ids every delivery carries,
// a notice type, and the notice about the delivery's case.
func checkNotice(d *contracts.NoticeDelivery) *refusal {
	if r := checkDelivery(d.ExchangeID, d.DeliveryID, d.CaseID); r != nil {
		return r
	}
	switch {
	case !d.Notice.Type.Valid():
		return refuse(http.StatusBadRequest, contracts.CodeValidationFailed, "notice.type is not a notice type")
	case d.Notice.CaseID != d.CaseID:
		return refuse(http.StatusBadRequest, contracts.CodeValidationFailed, "notice.case_id differs from case_id")
	}
	return nil
}

// checkDelivery checks the ids every case, status and notice delivery
// carries.
func checkDelivery(exchangeID, deliveryID, caseID string) *refusal {
	if contracts.ValidateUUID(exchangeID) != nil {
		return refuse(http.StatusBadRequest, contracts.CodeInvalidExchangeID, "exchange_id is not a canonical UUID")
	}
	if deliveryID == "" || caseID == "" {
		return refuse(http.StatusBadRequest, contracts.CodeValidationFailed, "delivery_id and case_id are required")
	}
	return nil
}

// storedAnswer returns the answer given before to the same bytes of the
// exchange key, if any.
func (s *Sim) storedAnswer(key, digest string) (signedAnswer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ex := s.exchanges[key]
	if ex == nil {
		return signedAnswer{}, false
	}
	a, ok := ex.acks[digest]
	return a, ok
}

// storeAnswer remembers the answer given to the bytes digest of exchange
// key, so that a repeat gets the very same bytes and signature.
func (s *Sim) storeAnswer(key, digest string, a signedAnswer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ex := s.exchanges[key]; ex != nil {
		ex.acks[digest] = a
	}
}
