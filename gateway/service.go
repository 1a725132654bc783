package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/tongban/tongban/contracts"
)

// Service is the gateway's use-case layer: every inbound call goes through
// one of its methods. It is safe for concurrent use.
type Service struct {
	store  Store
	crypto Crypto
	dir    *Directory
	clock  Clock
	rand   io.Reader
	log    *slog.Logger
	notify func() // wakes the dispatcher after new deliveries are stored

	licenses LicenseOptions
	ids      *contracts.UUIDv7Source
	mailbox  signal // wakes waiting mailbox polls

	gatewayID   string
	noEvidence  bool
	denials     denialGate
	checkpoints *Checkpointer
	verifyRange int64 // MaxVerifyRange; tests lower it
}

// ServiceOptions wires a Service.
type ServiceOptions struct {
	Store     Store
	Crypto    Crypto
	Directory *Directory
	Clock     Clock        // nil: SystemClock
	Rand      io.Reader    // ids; nil: crypto/rand
	Log       *slog.Logger // nil: slog.Default()
	Notify    func()       // optional
	Licenses  LicenseOptions
	// GatewayID names the gateway in evidence bundles and its start
	// records.
	GatewayID string
	// Checkpoints tune the evidence log's signed checkpoints.
	Checkpoints CheckpointOptions
	// NoEvidence turns the evidence log off. It exists to measure what
	// the log costs (BenchmarkCaseSubmit/evidence_off); a gateway in
	// service always keeps it, and its configuration has no such switch.
	NoEvidence bool
}

// NewService returns a Service.
func NewService(o ServiceOptions) (*Service, error) {
	if o.Store == nil || o.Crypto == nil || o.Directory == nil {
		return nil, errors.New("gateway: service needs a store, crypto and a directory")
	}
	s := &Service{store: o.Store, crypto: o.Crypto, dir: o.Directory, clock: o.Clock, rand: o.Rand, log: o.Log, notify: o.Notify,
		licenses: o.Licenses, gatewayID: o.GatewayID, noEvidence: o.NoEvidence, verifyRange: MaxVerifyRange}
	if s.clock == nil {
		s.clock = SystemClock{}
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	s.ids = contracts.NewUUIDv7Source(s.rand)
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.notify == nil {
		s.notify = func() {}
	}
	s.checkpoints = NewCheckpointer(s.store, s.crypto, s.clock, s.log, o.Checkpoints)
	return s, nil
}

// attempts makes the evidence records of the delivery attempts the
// service makes itself (mailbox offers and acknowledgements).
func (s *Service) attempts() attemptLog { return attemptLog{sm3: s.crypto.SM3Hex, off: s.noEvidence} }

// Checkpointer returns the service's evidence checkpointer; run it
// (Checkpointer.Run) for as long as the service serves.
func (s *Service) Checkpointer() *Checkpointer { return s.checkpoints }

// Inbound is one signed request body as it arrived.
type Inbound struct {
	Caller    Principal
	Body      []byte // exact bytes
	Signature []byte // DER, decoded from Gw-Signature
	KeyID     string // Gw-Key-Id
	TraceID   string
}

// Signed is a signed response: Body is sent verbatim with Gw-Signature
// (Signature) and Gw-Key-Id (KeyID).
type Signed struct {
	Body      []byte
	Signature []byte
	KeyID     string
	// MediaType is Body's media type; "" means application/json.
	MediaType string
	// Replay is true when Body is the stored answer to an earlier identical request.
	Replay bool
}

// receiptEncoder renders a receipt in a partner's own format: the body and
// its media type. nil means the standard contract's JSON.
type receiptEncoder func(r *contracts.Receipt) ([]byte, string, error)

// newID returns a fresh UUIDv7; the ids of one service strictly increase,
// so records listed by id are in the order they were made.
func (s *Service) newID() (string, error) { return s.ids.Next(s.clock.Now()) }

// write applies ch with op (the store's CreateCase or UpdateCase) inside a
// span of its own.
func (s *Service) write(ctx context.Context, op func(context.Context, Change) error, ch Change) error {
	ctx, span := startSpan(ctx, "store write")
	err := op(ctx, ch)
	endSpan(span, err)
	return err
}

// verify checks the request signature with a key registered for the
// caller, inside a span.
func (s *Service) verify(ctx context.Context, in Inbound) (err error) {
	_, span := startSpan(ctx, "verify signature")
	defer func() { endSpan(span, err) }()
	if len(in.Signature) == 0 || in.KeyID == "" {
		return failf(contracts.CodeBadSignature, "Gw-Signature and Gw-Key-Id are required")
	}
	if err := s.crypto.VerifyBody(in.Caller.ID(), in.KeyID, in.Body, in.Signature); err != nil {
		if errors.Is(err, ErrUnknownKey) {
			return &Error{Code: contracts.CodeUnknownKey, Message: "Gw-Key-Id " + in.KeyID + " is not registered for caller " + in.Caller.ID(), Err: err}
		}
		return &Error{Code: contracts.CodeBadSignature, Message: "Gw-Signature does not verify over the body with key " + in.KeyID + " of caller " + in.Caller.ID(), Err: err}
	}
	return nil
}

// decodeStrict decodes one JSON value, refusing unknown fields and trailing data.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return failf(contracts.CodeInvalidJSON, "body is not a valid JSON %T: %v", v, err)
	}
	if dec.More() {
		return failf(contracts.CodeInvalidJSON, "body has data after the JSON value")
	}
	return nil
}

// replay answers a request whose exchange id the caller already used: the
// stored receipt when the bytes are the same, exchange_conflict otherwise.
func (s *Service) replay(ex *Exchange, bodySM3 string) (*Signed, error) {
	if ex.BodySM3 != bodySM3 {
		return nil, failf(contracts.CodeExchangeConflict, "exchange_id %s was already used with different bytes", ex.ExchangeID)
	}
	return &Signed{Body: ex.Receipt, Signature: ex.ReceiptSig, KeyID: s.crypto.KeyID(), MediaType: ex.ReceiptType, Replay: true}, nil
}

// lookupReplay returns the stored answer if (caller, exchangeID) was seen.
func (s *Service) lookupReplay(ctx context.Context, caller, exchangeID, bodySM3 string) (*Signed, error) {
	ex, err := s.store.GetExchange(ctx, caller, exchangeID)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, internal(err)
	}
	return s.replay(ex, bodySM3)
}

// receipt builds and signs the receipt of an accepted exchange, in the
// partner's format when enc is not nil, inside a span.
func (s *Service) receipt(ctx context.Context, ex *Exchange, state contracts.CaseState, enc receiptEncoder) (err error) {
	_, span := startSpan(ctx, "sign receipt")
	defer func() { endSpan(span, err) }()
	r := contracts.Receipt{ExchangeID: ex.ExchangeID, CaseID: ex.CaseID, ReceivedAt: ex.ReceivedAt, BodySM3: ex.BodySM3, State: state}
	if enc == nil {
		signed, err := s.signJSON(r)
		if err != nil {
			return err
		}
		ex.Receipt, ex.ReceiptSig = signed.Body, signed.Signature
		return nil
	}
	body, mediaType, err := enc(&r)
	if err != nil {
		return internal(fmt.Errorf("encode receipt in the partner's format: %w", err))
	}
	sig, err := s.crypto.Sign(body)
	if err != nil {
		return internal(fmt.Errorf("sign receipt: %w", err))
	}
	ex.Receipt, ex.ReceiptSig, ex.ReceiptType = body, sig, mediaType
	return nil
}

// answer is the signed answer to an accepted exchange.
func (s *Service) answer(ex *Exchange) *Signed {
	return &Signed{Body: ex.Receipt, Signature: ex.ReceiptSig, KeyID: s.crypto.KeyID(), MediaType: ex.ReceiptType}
}

// checkContent verifies the SM3 digest of every inline material.
func (s *Service) checkContent(field string, content []byte, sm3 string) error {
	if content != nil && s.crypto.SM3Hex(content) != sm3 {
		return failf(contracts.CodeValidationFailed, "%s.sm3: does not match the inline content", field)
	}
	return nil
}

// SubmitCase accepts a remote case: it verifies the caller's signature over
// the exact bytes, validates the submission, authorizes the caller for
// from_region, routes to_region to its owner, and stores the case, the
// exchange, the signed receipt and the delivery to the owner in one atomic
// write. Only then does it answer with the signed receipt. The same
// exchange_id with the same bytes gets the original receipt back; with other
// bytes, exchange_conflict.
func (s *Service) SubmitCase(ctx context.Context, in Inbound) (*Signed, error) {
	if err := s.verify(ctx, in); err != nil {
		return nil, err
	}
	var sub contracts.CaseSubmission
	if err := decodeStrict(in.Body, &sub); err != nil {
		return nil, err
	}
	return s.submit(ctx, in, &sub, nil)
}

// submit accepts a submission whose signature over in.Body was verified;
// sub is what in.Body says (decoded from the standard contract or
// translated from the partner's format), enc renders the receipt.
func (s *Service) submit(ctx context.Context, in Inbound, sub *contracts.CaseSubmission, enc receiptEncoder) (*Signed, error) {
	if err := sub.Validate(); err != nil {
		return nil, fromField(err)
	}
	bodySM3 := s.crypto.SM3Hex(in.Body)
	// A new case needs no read first: CreateCase refuses a used exchange_id
	// and the replay is answered then. A resubmission is checked up front,
	// because its replay would otherwise meet the case in its new state.
	if sub.ResubmitsCaseID != "" {
		if ans, err := s.lookupReplay(ctx, in.Caller.ID(), sub.ExchangeID, bodySM3); ans != nil || err != nil {
			return ans, err
		}
	}
	for i, m := range sub.Materials {
		if err := s.checkContent(fmt.Sprintf("materials[%d]", i), m.Content, m.SM3); err != nil {
			return nil, err
		}
	}
	if err := Authorize(in.Caller, ActSubmitCase, nil, sub.FromRegion); err != nil {
		return nil, err
	}
	owner, err := s.dir.Route(sub.ToRegion)
	if err != nil {
		return nil, err
	}
	if owner.ID == in.Caller.ID() {
		return nil, failf(contracts.CodeValidationFailed, "to_region: routes back to the sender %s", owner.ID)
	}
	now := s.clock.Now().UTC()
	ex := &Exchange{
		Sender: in.Caller.ID(), ExchangeID: sub.ExchangeID, Kind: ExchangeCase,
		Body: in.Body, BodySM3: bodySM3, Signature: in.Signature, KeyID: in.KeyID,
		TraceID: in.TraceID, ReceivedAt: now,
	}
	if sub.ResubmitsCaseID != "" {
		return s.resubmit(ctx, in, sub, ex, owner, enc)
	}
	caseID, err := s.newID()
	if err != nil {
		return nil, internal(err)
	}
	ex.CaseID = caseID
	c := &Case{
		ID: caseID, ExchangeID: sub.ExchangeID, Sender: in.Caller.ID(), Owner: owner.ID,
		FromRegion: sub.FromRegion, ToRegion: sub.ToRegion, State: contracts.CaseStateReceived,
		LocalCaseNo: sub.LocalCaseNo, ServiceItem: sub.ServiceItem, CreatedAt: now, UpdatedAt: now,
	}
	d, err := s.caseDelivery(c, sub, now)
	if err != nil {
		return nil, err
	}
	if err := s.receipt(ctx, ex, c.State, enc); err != nil {
		return nil, err
	}
	_, d.TraceParent = traceOf(ctx, "")
	st := &Status{CaseID: caseID, State: c.State, At: now, ExchangeID: sub.ExchangeID, ReportedBy: in.Caller.ID()}
	ev := s.exchangeEvidence(ctx, in, ex, c, contracts.EventCaseReceived, d, c.FromRegion, nil)
	err = s.write(ctx, s.store.CreateCase, Change{Case: c, Exchange: ex, Status: st, Enqueue: []*Delivery{d}, Evidence: ev})
	if errors.Is(err, ErrDuplicateExchange) {
		return s.lookupReplay(ctx, in.Caller.ID(), sub.ExchangeID, bodySM3)
	}
	if err != nil {
		return nil, internal(err)
	}
	s.wake()
	s.log.InfoContext(ctx, "case received", "case_id", caseID, "exchange_id", sub.ExchangeID,
		"sender", c.Sender, "owner", c.Owner, "to_region", c.ToRegion)
	return s.answer(ex), nil
}

// caseDelivery builds the outbox message that carries a submission to its owner.
func (s *Service) caseDelivery(c *Case, sub *contracts.CaseSubmission, now time.Time) (*Delivery, error) {
	id, err := s.newID()
	if err != nil {
		return nil, internal(err)
	}
	payload, err := json.Marshal(contracts.CaseDelivery{
		DeliveryID: id, CaseID: c.ID, ExchangeID: sub.ExchangeID, SenderRegion: c.FromRegion, SentAt: now, Submission: *sub,
	})
	if err != nil {
		return nil, internal(err)
	}
	return &Delivery{
		ID: id, CaseID: c.ID, Kind: contracts.DeliveryKindCase, Partner: c.Owner, ExchangeID: sub.ExchangeID,
		Payload: payload, State: contracts.TransportStatePending, NextAt: now, CreatedAt: now,
	}, nil
}

// resubmit handles a window's resubmission after correction_required: the
// case goes back to received and is delivered to its owner again.
func (s *Service) resubmit(ctx context.Context, in Inbound, sub *contracts.CaseSubmission, ex *Exchange, owner *Partner, enc receiptEncoder) (*Signed, error) {
	for range maxStaleRetries {
		c, err := s.store.GetCase(ctx, sub.ResubmitsCaseID)
		if errors.Is(err, ErrNotFound) {
			return nil, failf(contracts.CodeNotFound, "resubmits_case_id: no such case")
		}
		if err != nil {
			return nil, internal(err)
		}
		if c.Sender != in.Caller.ID() {
			return nil, failf(contracts.CodeNotFound, "resubmits_case_id: no such case")
		}
		if c.State != contracts.CaseStateCorrectionRequired {
			return nil, failf(contracts.CodeInvalidTransition, "case %s is %s; only a case in correction_required can be resubmitted", c.ID, c.State)
		}
		if c.Owner != owner.ID || c.ToRegion != sub.ToRegion || c.FromRegion != sub.FromRegion {
			return nil, failf(contracts.CodeValidationFailed, "a resubmission keeps the case's from_region and to_region")
		}
		now := ex.ReceivedAt
		ex.CaseID = c.ID
		c.State, c.UpdatedAt = contracts.CaseStateReceived, now
		d, err := s.caseDelivery(c, sub, now)
		if err != nil {
			return nil, err
		}
		if err := s.receipt(ctx, ex, c.State, enc); err != nil {
			return nil, err
		}
		_, d.TraceParent = traceOf(ctx, "")
		st := &Status{CaseID: c.ID, State: c.State, At: now, ExchangeID: sub.ExchangeID, ReportedBy: in.Caller.ID(), Note: "resubmitted after correction"}
		ev := s.exchangeEvidence(ctx, in, ex, c, contracts.EventCaseReceived, d, c.FromRegion,
			func(x *contracts.EvidenceDetail) { x.Resubmits = c.ID })
		err = s.write(ctx, s.store.UpdateCase, Change{Case: c, Exchange: ex, Status: st, Enqueue: []*Delivery{d}, Evidence: ev})
		switch {
		case errors.Is(err, ErrStale):
			continue
		case errors.Is(err, ErrDuplicateExchange):
			return s.lookupReplay(ctx, in.Caller.ID(), sub.ExchangeID, ex.BodySM3)
		case err != nil:
			return nil, internal(err)
		}
		s.wake()
		return s.answer(ex), nil
	}
	return nil, failf(contracts.CodeUnavailable, "case %s is changing too fast; retry", sub.ResubmitsCaseID)
}

// maxStaleRetries bounds optimistic-concurrency retries of one request.
const maxStaleRetries = 8

// ReportStatus applies an owner's status update to a case: signature,
// contract validation, idempotency, authorization (only the owner), and the
// lifecycle state machine (invalid or out-of-order transitions are refused
// with invalid_transition). The new state, the history entry, the exchange
// with its signed receipt and the delivery of the update to the sending
// district are stored atomically before the receipt is returned.
func (s *Service) ReportStatus(ctx context.Context, caseID string, in Inbound) (*Signed, error) {
	if err := s.verify(ctx, in); err != nil {
		return nil, err
	}
	var u contracts.StatusUpdate
	if err := decodeStrict(in.Body, &u); err != nil {
		return nil, err
	}
	if u.CaseID != caseID {
		return nil, failf(contracts.CodeValidationFailed, "case_id: does not match the case in the path")
	}
	return s.report(ctx, in, &u, nil)
}

// report applies a status update whose signature over in.Body was
// verified; u is what in.Body says, enc renders the receipt.
func (s *Service) report(ctx context.Context, in Inbound, u *contracts.StatusUpdate, enc receiptEncoder) (*Signed, error) {
	if err := u.Validate(); err != nil {
		return nil, fromField(err)
	}
	caseID := u.CaseID
	bodySM3 := s.crypto.SM3Hex(in.Body)
	if ans, err := s.lookupReplay(ctx, in.Caller.ID(), u.ExchangeID, bodySM3); ans != nil || err != nil {
		return ans, err
	}
	for i, d := range u.Documents {
		if err := s.checkContent(fmt.Sprintf("documents[%d]", i), d.Content, d.SM3); err != nil {
			return nil, err
		}
	}
	for range maxStaleRetries {
		c, err := s.store.GetCase(ctx, caseID)
		if errors.Is(err, ErrNotFound) {
			return nil, failf(contracts.CodeNotFound, "no such case")
		}
		if err != nil {
			return nil, internal(err)
		}
		if err := Authorize(in.Caller, ActReportStatus, c, ""); err != nil {
			return nil, err
		}
		if !CanReport(c.State, u.State) {
			return nil, failf(contracts.CodeInvalidTransition, "case %s is %s; %s cannot follow", c.ID, c.State, u.State)
		}
		now := s.clock.Now().UTC()
		ex := &Exchange{
			Sender: in.Caller.ID(), ExchangeID: u.ExchangeID, Kind: ExchangeStatus, CaseID: c.ID,
			Body: in.Body, BodySM3: bodySM3, Signature: in.Signature, KeyID: in.KeyID, TraceID: in.TraceID, ReceivedAt: now,
		}
		c.State, c.UpdatedAt = u.State, now
		if u.Outcome != "" {
			c.Outcome = u.Outcome
		}
		if u.OwnerCaseNo != "" {
			c.OwnerCaseNo = u.OwnerCaseNo
		}
		id, err := s.newID()
		if err != nil {
			return nil, internal(err)
		}
		payload, err := json.Marshal(contracts.StatusDelivery{DeliveryID: id, CaseID: c.ID, ExchangeID: u.ExchangeID, LocalCaseNo: c.LocalCaseNo, SentAt: now, Update: *u})
		if err != nil {
			return nil, internal(err)
		}
		d := &Delivery{ID: id, CaseID: c.ID, Kind: contracts.DeliveryKindStatus, Partner: c.Sender, ExchangeID: u.ExchangeID,
			Payload: payload, State: contracts.TransportStatePending, NextAt: now, CreatedAt: now}
		_, d.TraceParent = traceOf(ctx, "")
		if err := s.receipt(ctx, ex, c.State, enc); err != nil {
			return nil, err
		}
		st := &Status{CaseID: c.ID, State: u.State, Outcome: u.Outcome, At: now, ExchangeID: u.ExchangeID, ReportedBy: in.Caller.ID(), Reason: u.Reason, Note: u.Note}
		ev := s.exchangeEvidence(ctx, in, ex, c, contracts.EventStatusApplied, d, c.ToRegion,
			func(x *contracts.EvidenceDetail) { x.Outcome = string(u.Outcome) })
		err = s.write(ctx, s.store.UpdateCase, Change{Case: c, Exchange: ex, Status: st, Enqueue: []*Delivery{d}, Evidence: ev})
		switch {
		case errors.Is(err, ErrStale):
			continue
		case errors.Is(err, ErrDuplicateExchange):
			return s.lookupReplay(ctx, in.Caller.ID(), u.ExchangeID, bodySM3)
		case err != nil:
			return nil, internal(err)
		}
		s.wake()
		s.log.InfoContext(ctx, "status reported", "case_id", c.ID, "state", u.State, "owner", c.Owner, "exchange_id", u.ExchangeID)
		return s.answer(ex), nil
	}
	return nil, failf(contracts.CodeUnavailable, "case %s is changing too fast; retry", caseID)
}

// GetCase returns a case as the caller may see it: state, history and each
// delivery's transport state and attempts.
func (s *Service) GetCase(ctx context.Context, p Principal, id string) (*contracts.CaseView, error) {
	c, err := s.store.GetCase(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, failf(contracts.CodeNotFound, "no such case")
	}
	if err != nil {
		return nil, internal(err)
	}
	if err := Authorize(p, ActReadCase, c, ""); err != nil {
		return nil, err
	}
	hist, err := s.store.History(ctx, id)
	if err != nil {
		return nil, internal(err)
	}
	ds, err := s.store.Deliveries(ctx, id)
	if err != nil {
		return nil, internal(err)
	}
	v := &contracts.CaseView{
		CaseID: c.ID, ExchangeID: c.ExchangeID, FromRegion: c.FromRegion, ToRegion: c.ToRegion,
		Sender: c.Sender, Owner: c.Owner, State: c.State, Outcome: c.Outcome, OwnerCaseNo: c.OwnerCaseNo,
		LocalCaseNo: c.LocalCaseNo, ServiceItem: c.ServiceItem, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		History: make([]contracts.StatusEntry, 0, len(hist)), Deliveries: make([]contracts.DeliveryView, 0, len(ds)),
	}
	for _, h := range hist {
		v.History = append(v.History, contracts.StatusEntry{State: h.State, Outcome: h.Outcome, At: h.At, ExchangeID: h.ExchangeID, ReportedBy: h.ReportedBy, Reason: h.Reason, Note: h.Note})
	}
	for _, d := range ds {
		next := time.Time{}
		if d.State == contracts.TransportStatePending || d.State == contracts.TransportStateRetryWait {
			next = d.NextAt
		}
		v.Deliveries = append(v.Deliveries, contracts.DeliveryView{
			DeliveryID: d.ID, Kind: d.Kind, ExchangeID: d.ExchangeID, Partner: d.Partner, State: d.State,
			Attempts: d.Attempts, NextAttemptAt: next, LastError: d.LastError, CreatedAt: d.CreatedAt,
			DeliveredAt: d.DeliveredAt, Ack: d.Ack,
		})
	}
	return v, nil
}

// Redeliver moves one dead delivery back to the outbox (operators only).
func (s *Service) Redeliver(ctx context.Context, p Principal, deliveryID string) (*contracts.RedeliverResult, error) {
	if err := Authorize(p, ActRedeliver, nil, ""); err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	traceID, _ := traceOf(ctx, "")
	ev := contracts.EvidenceRecord{At: now, Actor: p.ID(), Event: contracts.EventAdminRedeliver, DeliveryID: deliveryID,
		TraceID: traceID, JTI: p.TokenID, KeyID: p.KeyID, Detail: (&contracts.EvidenceDetail{Deliveries: []string{deliveryID}, Subject: p.Subject}).JSON()}
	var evs []contracts.EvidenceRecord
	if !s.noEvidence {
		evs = append(evs, ev)
	}
	err := s.store.Redeliver(ctx, deliveryID, now, evs...)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, failf(contracts.CodeNotFound, "no such delivery")
	case errors.Is(err, ErrNotDead):
		return nil, failf(contracts.CodeInvalidTransition, "delivery %s is not dead; only dead letters are redelivered", deliveryID)
	case err != nil:
		return nil, internal(err)
	}
	s.wake()
	s.log.InfoContext(ctx, "redelivery", "delivery_id", deliveryID, "operator", p.ID(), "subject", p.Subject)
	return &contracts.RedeliverResult{Redelivered: []string{deliveryID}, Count: 1}, nil
}

// RedeliverPartner moves every dead delivery to a partner back to the
// outbox (operators only).
func (s *Service) RedeliverPartner(ctx context.Context, p Principal, partnerID string) (*contracts.RedeliverResult, error) {
	if err := Authorize(p, ActRedeliver, nil, ""); err != nil {
		return nil, err
	}
	if s.dir.Get(partnerID) == nil {
		return nil, failf(contracts.CodeNotFound, "no such partner")
	}
	now := s.clock.Now().UTC()
	traceID, _ := traceOf(ctx, "")
	ev := contracts.EvidenceRecord{At: now, Actor: p.ID(), Event: contracts.EventAdminRedeliver, Partner: partnerID,
		TraceID: traceID, JTI: p.TokenID, KeyID: p.KeyID, Detail: (&contracts.EvidenceDetail{Subject: p.Subject}).JSON()}
	evp := &ev
	if s.noEvidence {
		evp = nil
	}
	ids, err := s.store.RedeliverDead(ctx, partnerID, now, evp)
	if err != nil {
		return nil, internal(err)
	}
	if ids == nil {
		ids = []string{}
	}
	s.wake()
	s.log.InfoContext(ctx, "redelivery", "partner", partnerID, "count", len(ids), "operator", p.ID(), "subject", p.Subject)
	return &contracts.RedeliverResult{Redelivered: ids, Count: len(ids)}, nil
}
