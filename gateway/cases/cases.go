// Package cases accepts remote cases and their status updates: a
// submission from the receiving district, a resubmission after
// correction, an owner's status report, each in the standard contract or
// translated from a partner's own format, all through one
// accept-exchange pipeline (verify, validate, authorize, apply the
// lifecycle, store atomically with the signed receipt, the delivery that
// carries it on and its evidence). It also shows a case to those who may
// read it, and provides the hook (AckEffect) through which an owner's
// acknowledgement moves a case to forwarded.
package cases

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/workdays"
)

// Store is what the cases package reads and writes.
type Store = gateway.CaseStore

// Service accepts cases and status updates and shows cases. It is safe
// for concurrent use.
type Service struct {
	store      Store
	crypto     gateway.Crypto
	dir        *gateway.Directory
	env        gateway.Env
	validation contracts.ValidationOptions
	admin      Administration
	metrics    *adminMetrics
}

// Options wire a Service: Store, Crypto and Directory are required; Env
// takes its defaults (gateway.Env.WithDefaults).
type Options struct {
	Store     Store
	Crypto    gateway.Crypto
	Directory *gateway.Directory
	gateway.Env
	// Validation is what the deployment decides about submissions (http
	// material URLs); the zero value is the strictest.
	Validation contracts.ValidationOptions
	// Administration is the catalogue, calendar and evaluation settings;
	// the zero value administers nothing (see Administration).
	Administration Administration
}

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Crypto == nil || o.Directory == nil {
		return nil, errors.New("cases: a store, crypto and a directory are required")
	}
	a := o.Administration
	if a.ReplyLimit.Days == 0 {
		a.ReplyLimit = DefaultReplyLimit
	}
	if err := a.ReplyLimit.Validate(); err != nil {
		return nil, fmt.Errorf("cases: evaluation reply limit: %w", err)
	}
	if a.ReplyLimit.Unit == workdays.WorkingDays && a.Calendar == nil {
		return nil, errors.New("cases: an evaluation reply limit in working days needs a calendar")
	}
	if a.EvaluationPartner != "" && o.Directory.Get(a.EvaluationPartner) == nil {
		return nil, fmt.Errorf("cases: evaluation partner %s is not configured", a.EvaluationPartner)
	}
	env := o.Env.WithDefaults()
	return &Service{store: o.Store, crypto: o.Crypto, dir: o.Directory, env: env, validation: o.Validation,
		admin: a, metrics: newAdminMetrics(env.Telemetry.Meter())}, nil
}

// newID returns a fresh UUIDv7; the ids of one source strictly increase,
// so records listed by id are in the order they were made.
func (s *Service) newID() (string, error) { return s.env.IDs.Next(s.env.Clock.Now()) }

// SubmitCase accepts a remote case: it verifies the caller's signature over
// the exact bytes, validates the submission, authorizes the caller for
// from_region, routes to_region to its owner, and stores the case, the
// exchange, the signed receipt and the delivery to the owner in one atomic
// write. Only then does it answer with the signed receipt. The same
// exchange_id with the same bytes gets the original receipt back; with other
// bytes, exchange_conflict.
func (s *Service) SubmitCase(ctx context.Context, in gateway.Inbound) (*gateway.Signed, error) {
	if err := gateway.VerifyInbound(ctx, s.env.Telemetry, s.crypto, in); err != nil {
		return nil, err
	}
	var sub contracts.CaseSubmission
	if err := gateway.DecodeStrict(in.Body, &sub); err != nil {
		return nil, err
	}
	return s.submit(ctx, in, &sub, nil)
}

// ReportStatus applies an owner's status update to a case: signature,
// contract validation, idempotency, authorization (only the owner), and the
// lifecycle state machine (invalid or out-of-order transitions are refused
// with invalid_transition). The new state, the history entry, the exchange
// with its signed receipt and the delivery of the update to the sending
// district are stored atomically before the receipt is returned.
func (s *Service) ReportStatus(ctx context.Context, caseID string, in gateway.Inbound) (*gateway.Signed, error) {
	if err := gateway.VerifyInbound(ctx, s.env.Telemetry, s.crypto, in); err != nil {
		return nil, err
	}
	var u contracts.StatusUpdate
	if err := gateway.DecodeStrict(in.Body, &u); err != nil {
		return nil, err
	}
	if u.CaseID != caseID {
		return nil, gateway.Failf(contracts.CodeValidationFailed, "case_id: does not match the case in the path")
	}
	return s.report(ctx, in, &u, nil)
}

// ReceiveNative takes a partner's call made in its own format (mapped
// JSON, SOAP) at POST /v1/inbound/{partner_id}: it checks that the caller's
// adapter translates calls, verifies the caller's signature over the exact
// native bytes, has the adapter decode the call, and then acts exactly as
// SubmitCase or ReportStatus would on the same content. The exchange keeps
// the native bytes and signature as evidence; idempotency is by the
// decoded exchange_id and the SM3 of the native bytes. The receipt is
// rendered in the partner's format and signed over those bytes.
//
// It also returns the decoded call (nil when decoding failed or was never
// reached), so that a refusal can be rendered in the partner's format with
// the translator's EncodeError.
func (s *Service) ReceiveNative(ctx context.Context, in gateway.Inbound, call contracts.NativeCall) (*gateway.Signed, *contracts.InboundCall, error) {
	if err := gateway.Authorize(in.Caller, gateway.ActCallNative, nil, ""); err != nil {
		return nil, nil, err
	}
	if err := gateway.VerifyInbound(ctx, s.env.Telemetry, s.crypto, in); err != nil {
		return nil, nil, err
	}
	if !utf8.Valid(in.Body) {
		// Every partner format is UTF-8 text; a decoder would turn
		// invalid bytes into U+FFFD and the gateway would sign what the
		// partner never sent.
		return nil, nil, gateway.Failf(contracts.CodeInvalidJSON, "the call is not valid UTF-8")
	}
	tr := in.Caller.Partner.Translator
	call.Body = in.Body
	ic, err := tr.DecodeCall(&call)
	if err != nil {
		var fe *contracts.FieldError
		if errors.As(err, &fe) {
			return nil, nil, gateway.FromField(fe)
		}
		return nil, nil, gateway.Failf(contracts.CodeInvalidJSON, "the call could not be read: %v", err)
	}
	enc := func(r *contracts.Receipt) ([]byte, string, error) { return tr.EncodeReceipt(ic, r) }
	var ans *gateway.Signed
	switch {
	case ic == nil:
		return nil, nil, gateway.Internal(errors.New("translator decoded no call"))
	case ic.Kind == contracts.InboundCase && ic.Submission != nil:
		ans, err = s.submit(ctx, in, ic.Submission, enc)
	case ic.Kind == contracts.InboundStatus && ic.Update != nil:
		ans, err = s.report(ctx, in, ic.Update, enc)
	case ic.Kind == contracts.InboundEvaluation && ic.Evaluation != nil:
		ans, err = s.evaluate(ctx, in, ic.Evaluation, enc)
	case ic.Kind == contracts.InboundReply && ic.Reply != nil:
		ans, err = s.reply(ctx, in, ic.Reply, enc)
	case ic.Kind == contracts.InboundBundle && ic.Bundle != nil:
		ans, err = s.bundle(ctx, in, ic.Bundle, enc)
	default:
		return nil, ic, gateway.Internal(errors.New("translator decoded a call of kind " + string(ic.Kind) + " without its message"))
	}
	return ans, ic, err
}

// GetCase returns a case as the caller may see it: state, history and each
// delivery's transport state and attempts.
func (s *Service) GetCase(ctx context.Context, p gateway.Principal, id string) (*contracts.CaseView, error) {
	c, err := s.store.GetCase(ctx, id)
	if errors.Is(err, gateway.ErrNotFound) {
		return nil, gateway.Failf(contracts.CodeNotFound, "no such case")
	}
	if err != nil {
		return nil, gateway.Internal(err)
	}
	if err := gateway.Authorize(p, gateway.ActReadCase, c, ""); err != nil {
		return nil, err
	}
	hist, err := s.store.History(ctx, id)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	ds, err := s.store.Deliveries(ctx, id)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	v := &contracts.CaseView{
		CaseID: c.ID, ExchangeID: c.ExchangeID, FromRegion: c.FromRegion, ToRegion: c.ToRegion,
		Sender: c.Sender, Owner: c.Owner, State: c.State, Outcome: c.Outcome, OwnerCaseNo: c.OwnerCaseNo,
		LocalCaseNo: c.LocalCaseNo, ServiceItem: c.ServiceItem, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		History: make([]contracts.StatusEntry, 0, len(hist)), Deliveries: make([]contracts.DeliveryView, 0, len(ds)),
	}
	now := s.env.Clock.Now()
	v.Deadline = s.deadline(c, now)
	if a := c.Admin; a != nil && a.Evaluation != nil {
		v.Evaluation = &contracts.EvaluationView{Evaluation: *a.Evaluation, FollowUp: a.FollowUp}
	}
	switch {
	case c.BundleID != "" && c.BundleID == c.ID:
		if v.Bundle, err = s.bundleView(ctx, c, now); err != nil {
			return nil, err
		}
	case c.BundleID != "":
		v.PartOf = &contracts.PartOf{BundleID: c.BundleID, Part: partName(c)}
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

// AckEffect is the case side of an owner's acknowledgement
// (gateway.AckEffect): a case acknowledgement records the owner's case
// number and moves the case from received to forwarded. Any other
// acknowledgement leaves the case's state alone.
func AckEffect(c *gateway.Case, del *gateway.Delivery, ack *contracts.Ack, now time.Time) (*gateway.Status, contracts.CaseState) {
	if del.Kind != contracts.DeliveryKindCase || ack == nil {
		return nil, ""
	}
	if ack.PartnerCaseNo != "" {
		c.OwnerCaseNo = ack.PartnerCaseNo
	}
	if c.State != contracts.CaseStateReceived {
		return nil, ""
	}
	c.State = contracts.CaseStateForwarded
	return &gateway.Status{CaseID: c.ID, State: c.State, At: now, ExchangeID: del.ExchangeID, ReportedBy: del.Partner,
		Note: "acknowledged by owner as " + ack.PartnerCaseNo}, contracts.CaseStateForwarded
}

var _ gateway.AckEffect = AckEffect

// checkContent verifies the SM3 digest of an inline material.
func (s *Service) checkContent(field string, content []byte, sm3 string) error {
	if content != nil && s.crypto.SM3Hex(content) != sm3 {
		return gateway.Failf(contracts.CodeValidationFailed, "%s.sm3: does not match the inline content", field)
	}
	return nil
}

// errTooFast is the answer when a case kept changing under every retry.
func errTooFast(caseID string) error {
	return gateway.Failf(contracts.CodeUnavailable, "case %s is changing too fast; retry", caseID)
}
