package cases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/port"
)

// maxStaleRetries bounds optimistic-concurrency retries of one request.
const maxStaleRetries = 8

// receiptEncoder renders a receipt in a partner's own format: the body and
// its media type. nil means the standard contract's JSON.
type receiptEncoder func(r *contracts.Receipt) ([]byte, string, error)

// step is what one kind of exchange does to its case; accept runs it.
type step struct {
	exchangeID string
	caseID     string // of an existing case, for messages
	kind       gateway.ExchangeKind
	event      string
	// load returns the case the exchange applies to, checked (authorized,
	// and the transition allowed): a new one (create true) or as stored.
	load func(ctx context.Context) (c *gateway.Case, create bool, err error)
	// apply moves c to its new state at now and says what else the write
	// carries (see effect).
	apply func(ctx context.Context, c *gateway.Case, now time.Time) (*effect, error)
}

// effect is what applying an exchange to its case writes besides the
// case, the exchange and its receipt.
type effect struct {
	// deliveries carry the exchange on; the first is the one its
	// evidence record names (none for a bundle: its parts carry it).
	deliveries []*gateway.Delivery
	status     *gateway.Status
	region     string // the caller's side, for the evidence record
	extra      func(*contracts.EvidenceDetail)
	// evidence are further records of the case (its clock, notices),
	// appended after the exchange's record.
	evidence []contracts.EvidenceRecord
	// cancel are deliveries of the case to cancel; also changes to other
	// cases (a bundle, its parts) made in the same write.
	cancel []string
	also   []gateway.Change
	// parts name a bundle's parts in its receipt.
	parts []contracts.ReceiptPart
	// late, when set, runs once the exchange's receipt is signed (the
	// records of a bundle's parts name it).
	late func(ex *gateway.Exchange)
}

// accept is the one pipeline every exchange that changes a case goes
// through, once its signature is verified and its content checked: load
// the case, apply the step, sign the receipt, and store the case, the
// exchange with its receipt, the history entry, the delivery and the
// evidence record in one write. A case that changed under the write is
// read again (at most maxStaleRetries times); an exchange id the caller
// already used is answered with the stored receipt, or
// exchange_conflict for other bytes.
func (s *Service) accept(ctx context.Context, in gateway.Inbound, bodySM3 string, st step, enc receiptEncoder) (*gateway.Signed, error) {
	for range maxStaleRetries {
		c, create, err := st.load(ctx)
		if err != nil {
			return nil, err
		}
		now := s.env.Clock.Now().UTC()
		ex := &gateway.Exchange{
			Sender: in.Caller.ID(), ExchangeID: st.exchangeID, Kind: st.kind, CaseID: c.ID,
			Body: in.Body, BodySM3: bodySM3, Signature: in.Signature, KeyID: in.KeyID,
			TraceID: in.TraceID, ReceivedAt: now,
		}
		eff, err := st.apply(ctx, c, now)
		if err != nil {
			return nil, err
		}
		if err := s.receipt(ctx, ex, c.State, eff.parts, enc); err != nil {
			return nil, err
		}
		_, tp := gateway.TraceOf(ctx, "")
		for _, d := range eff.deliveries {
			d.TraceParent = tp
		}
		for i := range eff.also {
			for _, d := range eff.also[i].Enqueue {
				d.TraceParent = tp
			}
		}
		if eff.late != nil {
			eff.late(ex)
		}
		var first *gateway.Delivery
		if len(eff.deliveries) > 0 {
			first = eff.deliveries[0]
		}
		ev := s.env.Recorder.Exchange(ctx, in, ex, c, st.event, first, eff.region, eff.extra)
		ev = append(ev, eff.evidence...)
		op := s.store.UpdateCase
		if create {
			op = s.store.CreateCase
		}
		err = s.write(ctx, op, gateway.Change{Case: c, Exchange: ex, Status: eff.status, Enqueue: eff.deliveries,
			Evidence: ev, Cancel: eff.cancel, Also: eff.also})
		switch {
		case errors.Is(err, gateway.ErrStale) && !create:
			continue
		case errors.Is(err, gateway.ErrDuplicateExchange):
			return s.lookupReplay(ctx, in.Caller.ID(), st.exchangeID, bodySM3)
		case err != nil:
			return nil, gateway.Internal(err)
		}
		s.env.Wake()
		switch st.kind {
		case gateway.ExchangeStatus:
			s.env.Log.InfoContext(ctx, "status reported", "case_id", c.ID, "state", c.State, "owner", c.Owner, "exchange_id", st.exchangeID)
		case gateway.ExchangeBundle:
			s.env.Log.InfoContext(ctx, "bundle received", "case_id", c.ID, "exchange_id", st.exchangeID, "sender", c.Sender, "parts", len(eff.parts))
		case gateway.ExchangeEvaluation, gateway.ExchangeReply:
			s.env.Log.InfoContext(ctx, string(st.kind)+" received", "case_id", c.ID, "exchange_id", st.exchangeID, "sender", c.Sender, "owner", c.Owner)
		default:
			s.env.Log.InfoContext(ctx, "case received", "case_id", c.ID, "exchange_id", st.exchangeID,
				"sender", c.Sender, "owner", c.Owner, "to_region", c.ToRegion)
		}
		return &gateway.Signed{Body: ex.Receipt, Signature: ex.ReceiptSig, KeyID: s.crypto.KeyID(), MediaType: ex.ReceiptType}, nil
	}
	return nil, errTooFast(st.caseID)
}

// submit accepts a submission whose signature over in.Body was verified;
// sub is what in.Body says (decoded from the standard contract or
// translated from the partner's format), enc renders the receipt. A
// submission naming resubmits_case_id resubmits that case after
// correction: it goes back to received and to its owner again.
func (s *Service) submit(ctx context.Context, in gateway.Inbound, sub *contracts.CaseSubmission, enc receiptEncoder) (*gateway.Signed, error) {
	if err := sub.ValidateWith(s.validation); err != nil {
		return nil, gateway.FromField(err)
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
	if err := gateway.Authorize(in.Caller, gateway.ActSubmitCase, nil, sub.FromRegion); err != nil {
		return nil, err
	}
	owner, err := s.routeItem(in.Caller.ID(), sub.FromRegion, &sub.ToRegion, sub.ServiceItem.ImplementationCode, "")
	if err != nil {
		return nil, err
	}
	st := step{exchangeID: sub.ExchangeID, caseID: sub.ResubmitsCaseID, kind: gateway.ExchangeCase, event: contracts.EventCaseReceived}
	note := ""
	if sub.ResubmitsCaseID == "" {
		st.load = func(context.Context) (*gateway.Case, bool, error) {
			caseID, err := s.newID()
			if err != nil {
				return nil, false, gateway.Internal(err)
			}
			return &gateway.Case{
				ID: caseID, ExchangeID: sub.ExchangeID, Sender: in.Caller.ID(), Owner: owner.ID,
				FromRegion: sub.FromRegion, ToRegion: sub.ToRegion, LocalCaseNo: sub.LocalCaseNo, ServiceItem: sub.ServiceItem,
			}, true, nil
		}
	} else {
		note = "resubmitted after correction"
		st.load = func(ctx context.Context) (*gateway.Case, bool, error) {
			c, err := s.store.GetCase(ctx, sub.ResubmitsCaseID)
			switch {
			case errors.Is(err, gateway.ErrNotFound):
				return nil, false, gateway.Failf(contracts.CodeNotFound, "resubmits_case_id: no such case")
			case err != nil:
				return nil, false, gateway.Internal(err)
			case c.Sender != in.Caller.ID():
				return nil, false, gateway.NotYourCase(c.ID, "resubmits_case_id: no such case")
			case c.State != contracts.CaseStateCorrectionRequired:
				return nil, false, gateway.Failf(contracts.CodeInvalidTransition, "case %s is %s; only a case in correction_required can be resubmitted", c.ID, c.State)
			case c.Owner != owner.ID || c.ToRegion != sub.ToRegion || c.FromRegion != sub.FromRegion:
				return nil, false, gateway.Failf(contracts.CodeValidationFailed, "a resubmission keeps the case's from_region and to_region")
			}
			return c, false, nil
		}
	}
	st.apply = func(ctx context.Context, c *gateway.Case, now time.Time) (*effect, error) {
		if c.CreatedAt.IsZero() {
			c.CreatedAt = now
		}
		c.State, c.UpdatedAt = contracts.CaseStateReceived, now
		d, err := s.caseDelivery(c, sub, s.bundleRef(c), now)
		if err != nil {
			return nil, err
		}
		eff := &effect{deliveries: []*gateway.Delivery{d}, region: c.FromRegion,
			status: &gateway.Status{CaseID: c.ID, State: c.State, At: now, ExchangeID: sub.ExchangeID, ReportedBy: in.Caller.ID(), Note: note}}
		if sub.ResubmitsCaseID != "" {
			eff.extra = func(x *contracts.EvidenceDetail) { x.Resubmits = c.ID }
			eff.evidence = s.resumeClock(ctx, c, now)
		}
		return eff, nil
	}
	return s.accept(ctx, in, bodySM3, st, enc)
}

// caseDelivery builds the outbox message that carries a submission to its owner.
func (s *Service) caseDelivery(c *gateway.Case, sub *contracts.CaseSubmission, bundle *contracts.BundleRef, now time.Time) (*gateway.Delivery, error) {
	id, err := s.newID()
	if err != nil {
		return nil, gateway.Internal(err)
	}
	cd := contracts.CaseDelivery{
		DeliveryID: id, CaseID: c.ID, ExchangeID: sub.ExchangeID, SenderRegion: c.FromRegion, SentAt: now, Submission: *sub,
		Bundle: bundle,
	}
	if err := s.checkDeliverable(c.Owner, &cd); err != nil {
		return nil, err
	}
	payload, err := contracts.MarshalCaseDelivery(&cd) // json.Marshal's bytes, in one buffer
	if err != nil {
		return nil, gateway.Internal(err)
	}
	return &gateway.Delivery{
		ID: id, CaseID: c.ID, Kind: contracts.DeliveryKindCase, Partner: c.Owner, ExchangeID: sub.ExchangeID,
		Payload: payload, State: contracts.TransportStatePending, NextAt: now, CreatedAt: now, Pull: s.dir.Pulls(c.Owner),
	}, nil
}

// checkDeliverable refuses, with validation_failed naming the field in
// the submitter's terms, a case the adapter of its owner says it can
// never carry (port.CaseChecker); an owner whose adapter does not check,
// or that pulls from its mailbox, takes every valid case.
func (s *Service) checkDeliverable(owner string, d *contracts.CaseDelivery) error {
	p := s.dir.Get(owner)
	if p == nil || p.Cases == nil {
		return nil
	}
	cc, ok := p.Cases.(port.CaseChecker)
	if !ok {
		return nil
	}
	return undeliverable(cc.CheckCase(d), "submission", "the owning district "+owner, "this case")
}

// checkStatusDeliverable is checkDeliverable for a status update going
// back to sender, the district that submitted the case
// (port.StatusChecker).
func (s *Service) checkStatusDeliverable(sender string, d *contracts.StatusDelivery) error {
	p := s.dir.Get(sender)
	if p == nil || p.Statuses == nil {
		return nil
	}
	sc, ok := p.Statuses.(port.StatusChecker)
	if !ok {
		return nil
	}
	return undeliverable(sc.CheckStatus(d), "update", "the submitting district "+sender, "this update")
}

// undeliverable turns a checker's refusal err (nil: none) into the
// caller's validation_failed: the field named in the caller's terms (the
// path in the delivery without its message's prefix), who cannot take
// it and why.
func undeliverable(err error, prefix, who, what string) error {
	if err == nil {
		return nil
	}
	msg, field := err.Error(), ""
	var fe *contracts.FieldError
	if errors.As(err, &fe) {
		msg, field = fe.Message, fe.Field
	}
	if f, ok := strings.CutPrefix(field, prefix+"."); ok {
		field = f
	} else if field == prefix {
		field = ""
	}
	if field == "" {
		return gateway.Failf(contracts.CodeValidationFailed, "%s cannot take %s: %s", who, what, msg)
	}
	return gateway.Failf(contracts.CodeValidationFailed, "%s: %s cannot take it: %s", field, who, msg)
}

// report applies a status update whose signature over in.Body was
// verified; u is what in.Body says, enc renders the receipt.
func (s *Service) report(ctx context.Context, in gateway.Inbound, u *contracts.StatusUpdate, enc receiptEncoder) (*gateway.Signed, error) {
	if err := u.Validate(); err != nil {
		return nil, gateway.FromField(err)
	}
	bodySM3 := s.crypto.SM3Hex(in.Body)
	if ans, err := s.lookupReplay(ctx, in.Caller.ID(), u.ExchangeID, bodySM3); ans != nil || err != nil {
		return ans, err
	}
	for i, d := range u.Documents {
		if err := s.checkContent(fmt.Sprintf("documents[%d]", i), d.Content, d.SM3); err != nil {
			return nil, err
		}
	}
	st := step{exchangeID: u.ExchangeID, caseID: u.CaseID, kind: gateway.ExchangeStatus, event: contracts.EventStatusApplied}
	st.load = func(ctx context.Context) (*gateway.Case, bool, error) {
		c, err := s.store.GetCase(ctx, u.CaseID)
		if errors.Is(err, gateway.ErrNotFound) {
			return nil, false, gateway.Failf(contracts.CodeNotFound, "no such case")
		}
		if err != nil {
			return nil, false, gateway.Internal(err)
		}
		if err := gateway.Authorize(in.Caller, gateway.ActReportStatus, c, ""); err != nil {
			return nil, false, err
		}
		if !gateway.CanReport(c.State, u.State) {
			return nil, false, gateway.Failf(contracts.CodeInvalidTransition, "case %s is %s; %s cannot follow", c.ID, c.State, u.State)
		}
		return c, false, nil
	}
	st.apply = func(ctx context.Context, c *gateway.Case, now time.Time) (*effect, error) {
		prev := c.State
		c.State, c.UpdatedAt = u.State, now
		if u.Outcome != "" {
			c.Outcome = u.Outcome
		}
		if u.OwnerCaseNo != "" {
			c.OwnerCaseNo = u.OwnerCaseNo
		}
		id, err := s.newID()
		if err != nil {
			return nil, gateway.Internal(err)
		}
		sd := contracts.StatusDelivery{DeliveryID: id, CaseID: c.ID, ExchangeID: u.ExchangeID, LocalCaseNo: c.LocalCaseNo, SentAt: now, Update: *u}
		if err := s.checkStatusDeliverable(c.Sender, &sd); err != nil {
			return nil, err
		}
		payload, err := json.Marshal(sd)
		if err != nil {
			return nil, gateway.Internal(err)
		}
		d := &gateway.Delivery{ID: id, CaseID: c.ID, Kind: contracts.DeliveryKindStatus, Partner: c.Sender, ExchangeID: u.ExchangeID,
			Payload: payload, State: contracts.TransportStatePending, NextAt: now, CreatedAt: now, Pull: s.dir.Pulls(c.Sender)}
		eff := &effect{deliveries: []*gateway.Delivery{d}, region: c.ToRegion,
			status: &gateway.Status{CaseID: c.ID, State: u.State, Outcome: u.Outcome, At: now, ExchangeID: u.ExchangeID, ReportedBy: in.Caller.ID(), Reason: u.Reason, Note: u.Note},
			extra:  func(x *contracts.EvidenceDetail) { x.Outcome = string(u.Outcome) }}
		eff.evidence = s.clockOnReport(ctx, c, prev, now)
		if c.BundleID != "" && c.BundleID != c.ID {
			if err := s.partReported(ctx, c, u, now, eff); err != nil {
				return nil, err
			}
		}
		return eff, nil
	}
	return s.accept(ctx, in, bodySM3, st, enc)
}

// write applies ch with op (the store's CreateCase or UpdateCase) inside a
// span of its own.
func (s *Service) write(ctx context.Context, op func(context.Context, gateway.Change) error, ch gateway.Change) error {
	ctx, span := s.env.Telemetry.StartSpan(ctx, "store write")
	err := op(ctx, ch)
	gateway.EndSpan(span, err)
	return err
}

// lookupReplay returns the stored answer if (caller, exchangeID) was
// seen: the stored receipt when the bytes are the same,
// exchange_conflict otherwise; nil, nil when it was not.
func (s *Service) lookupReplay(ctx context.Context, caller, exchangeID, bodySM3 string) (*gateway.Signed, error) {
	ex, err := s.store.GetExchange(ctx, caller, exchangeID)
	switch {
	case errors.Is(err, gateway.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, gateway.Internal(err)
	}
	if ex.BodySM3 != bodySM3 {
		return nil, gateway.Failf(contracts.CodeExchangeConflict, "exchange_id %s was already used with different bytes", ex.ExchangeID)
	}
	return &gateway.Signed{Body: ex.Receipt, Signature: ex.ReceiptSig, KeyID: s.crypto.KeyID(), MediaType: ex.ReceiptType, Replay: true}, nil
}

// receipt builds and signs the receipt of an accepted exchange, in the
// partner's format when enc is not nil, inside a span.
func (s *Service) receipt(ctx context.Context, ex *gateway.Exchange, state contracts.CaseState, parts []contracts.ReceiptPart, enc receiptEncoder) (err error) {
	_, span := s.env.Telemetry.StartSpan(ctx, "sign receipt")
	defer func() { gateway.EndSpan(span, err) }()
	r := contracts.Receipt{ExchangeID: ex.ExchangeID, CaseID: ex.CaseID, ReceivedAt: ex.ReceivedAt, BodySM3: ex.BodySM3, State: state, Parts: parts}
	if enc == nil {
		signed, err := gateway.SignJSON(s.crypto, r)
		if err != nil {
			return err
		}
		ex.Receipt, ex.ReceiptSig = signed.Body, signed.Signature
		return nil
	}
	body, mediaType, err := enc(&r)
	if err != nil {
		return gateway.Internal(fmt.Errorf("encode receipt in the partner's format: %w", err))
	}
	sig, err := s.crypto.Sign(body)
	if err != nil {
		return gateway.Internal(fmt.Errorf("sign receipt: %w", err))
	}
	ex.Receipt, ex.ReceiptSig, ex.ReceiptType = body, sig, mediaType
	return nil
}
