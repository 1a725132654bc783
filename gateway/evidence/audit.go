package evidence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// Audit search page sizes.
const (
	DefaultAuditPage = 100
	MaxAuditPage     = 500
)

// ExchangeFilter is an audit search as a caller asks it (GET
// /v1/audit/exchanges); Cursor is the next_cursor of the page before.
type ExchangeFilter struct {
	CaseID, ExchangeID, Partner, Region string
	Kind                                contracts.ExchangeKind
	State                               contracts.TransportState
	// Event lists the records of one event: an exchange's starting event
	// or access.denied (refused requests; see SearchableEvents).
	Event    string
	From, To time.Time
	// Overdue keeps exchanges of cases marked overdue (a deadline or a
	// follow-up passed unanswered); DueBefore those of cases whose
	// running deadline falls before it.
	Overdue   bool
	DueBefore time.Time
	Cursor    string
	Limit     int // 0: DefaultAuditPage
}

// SearchableEvents are the events an audit search lists by the filter
// event: the records that start exchanges, and access.denied.
var SearchableEvents = []string{contracts.EventCaseReceived, contracts.EventStatusApplied,
	contracts.EventLicenseVerified, contracts.EventUsageRecorded, contracts.EventAccessDenied,
	contracts.EventBundleReceived, contracts.EventEvaluationReceived, contracts.EventReplyReceived, contracts.EventNoticeQueued}

// SearchExchanges returns a page of the exchanges f selects, newest first
// (auditors only); with f.Event access.denied, the refused requests. Every filter is validated; a bad one is refused with
// validation_failed (or invalid_region) naming it.
func (s *Auditor) SearchExchanges(ctx context.Context, p gateway.Principal, f ExchangeFilter) (*contracts.ExchangePage, error) {
	if err := gateway.Authorize(p, gateway.ActAudit, nil, ""); err != nil {
		return nil, err
	}
	q := gateway.ExchangeQuery{CaseID: f.CaseID, ExchangeID: f.ExchangeID, Partner: f.Partner, Region: f.Region,
		Kind: f.Kind, State: f.State, Event: f.Event, From: f.From, To: f.To, Limit: f.Limit,
		Overdue: f.Overdue, DueBefore: f.DueBefore}
	// Each filter given must be well formed; the first that is not is named.
	if q.CaseID != "" {
		if err := contracts.ValidateOpaqueID("case_id", q.CaseID); err != nil {
			return nil, gateway.FromField(err)
		}
	}
	if q.Partner != "" {
		if err := contracts.ValidateOpaqueID("partner", q.Partner); err != nil {
			return nil, gateway.FromField(err)
		}
	}
	if q.Region != "" {
		if err := contracts.ValidateRegion(q.Region); err != nil {
			return nil, gateway.FromField(err)
		}
	}
	if q.ExchangeID != "" {
		if err := contracts.ValidateUUID(q.ExchangeID); err != nil {
			return nil, gateway.Failf(contracts.CodeValidationFailed, "exchange_id: %v", err)
		}
	}
	switch {
	case q.Kind != "" && !q.Kind.Valid():
		return nil, gateway.Failf(contracts.CodeValidationFailed, "kind: %q is not an exchange kind", q.Kind)
	case q.State != "" && !q.State.Valid():
		return nil, gateway.Failf(contracts.CodeValidationFailed, "state: %q is not a transport state", q.State)
	case q.Event != "" && !slices.Contains(SearchableEvents, q.Event):
		return nil, gateway.Failf(contracts.CodeValidationFailed, "event: %q is not one of %s", q.Event, strings.Join(SearchableEvents, ", "))
	case !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To):
		return nil, gateway.Failf(contracts.CodeValidationFailed, "from must be before to")
	case q.Limit < 0 || q.Limit > MaxAuditPage:
		return nil, gateway.Failf(contracts.CodeValidationFailed, "limit: must be from 1 to %d", MaxAuditPage)
	}
	if q.Limit == 0 {
		q.Limit = DefaultAuditPage
	}
	if f.Cursor != "" {
		n, err := strconv.ParseInt(f.Cursor, 10, 64)
		if err != nil || n <= 0 {
			return nil, gateway.Failf(contracts.CodeValidationFailed, "cursor: not a cursor this search returned")
		}
		q.Before = n
	}
	found, next, err := s.store.SearchExchanges(ctx, q)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	page := &contracts.ExchangePage{Items: found}
	if page.Items == nil {
		page.Items = []contracts.ExchangeSummary{}
	}
	if next > 0 {
		page.NextCursor = strconv.FormatInt(next, 10)
	}
	return page, nil
}

// parseEvidence decodes a stored record and its detail.
func parseEvidence(row gateway.EvidenceRow) (contracts.EvidenceRecord, contracts.EvidenceDetail, error) {
	var (
		r contracts.EvidenceRecord
		d contracts.EvidenceDetail
	)
	if err := json.Unmarshal(row.Record, &r); err != nil {
		return r, d, fmt.Errorf("evidence record %d: %w", row.Seq, err)
	}
	if len(r.Detail) > 0 {
		if err := json.Unmarshal(r.Detail, &d); err != nil {
			return r, d, fmt.Errorf("evidence record %d: detail: %w", row.Seq, err)
		}
	}
	r.Hash = row.Hash
	return r, d, nil
}

// TraceCase returns every evidence-log step of a case, oldest first
// (auditors only): submissions and status updates with their receipts,
// every delivery attempt with its outcome and latency, acknowledgements,
// license verifications and usage records that name the case. Each signed
// body and acknowledgement is verified again now, against the signer's
// key as registered now and the digest the log recorded, and the result
// given as signature_valid. A case with no record and no row is
// not_found.
func (s *Auditor) TraceCase(ctx context.Context, p gateway.Principal, caseID string) (*contracts.CaseTrace, error) {
	if err := gateway.Authorize(p, gateway.ActAudit, nil, ""); err != nil {
		return nil, err
	}
	if err := contracts.ValidateOpaqueID("case_id", caseID); err != nil {
		return nil, gateway.FromField(err)
	}
	rows, err := s.store.CaseEvidence(ctx, caseID)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	out := &contracts.CaseTrace{CaseID: caseID, Timeline: make([]contracts.TraceEntry, 0, len(rows))}
	c, err := s.store.GetCase(ctx, caseID)
	switch {
	case errors.Is(err, gateway.ErrNotFound):
		if len(rows) == 0 {
			return nil, gateway.Failf(contracts.CodeNotFound, "no such case")
		}
	case err != nil:
		return nil, gateway.Internal(err)
	default:
		out.State = c.State
	}
	for _, row := range rows {
		r, d, err := parseEvidence(row)
		if err != nil {
			return nil, gateway.Internal(err)
		}
		e := contracts.TraceEntry{Seq: r.Seq, At: r.At, Event: r.Event, Actor: r.Actor, ExchangeID: r.ExchangeID,
			DeliveryID: r.DeliveryID, KeyID: r.KeyID, TraceID: r.TraceID, Detail: r.Detail}
		switch r.Event {
		case contracts.EventCaseReceived, contracts.EventStatusApplied, contracts.EventBundleReceived,
			contracts.EventEvaluationReceived, contracts.EventReplyReceived:
			e.Outcome = string(d.State) // the state the exchange left the case in
			valid, err := s.exchangeSignatureValid(ctx, r)
			if err != nil {
				return nil, gateway.Internal(err)
			}
			e.SignatureValid = valid
		case contracts.EventDeliveryAttempt:
			e.Attempt, e.Outcome, e.LatencyMS = d.Attempt, d.Outcome, d.LatencyMS
			if d.AckSignature != "" {
				e.KeyID = d.AckKeyID
				valid, err := s.ackSignatureValid(ctx, r, d)
				if err != nil {
					return nil, gateway.Internal(err)
				}
				e.SignatureValid = &valid
			}
		case contracts.EventLicenseVerified, contracts.EventUsageRecorded, contracts.EventBundleConcluded:
			e.Outcome = d.Outcome
		case contracts.EventNoticeQueued:
			e.Outcome = d.Notice
		case contracts.EventClockStarted, contracts.EventClockStopped, contracts.EventClockResumed:
			e.Outcome = d.Deadline
		case contracts.EventPartReleased, contracts.EventPartCancelled:
			e.Outcome = d.Part
		}
		out.Timeline = append(out.Timeline, e)
	}
	return out, nil
}

// exchangeSignatureValid reports whether the stored body of r's exchange
// still has the digest r recorded and its signature verifies with the
// sender's key; nil when the body was shredded (nothing left to check).
func (s *Auditor) exchangeSignatureValid(ctx context.Context, r contracts.EvidenceRecord) (*bool, error) {
	ex, err := s.store.GetExchange(ctx, r.Actor, r.ExchangeID)
	if errors.Is(err, gateway.ErrNotFound) {
		return new(false), nil
	}
	if err != nil {
		return nil, err
	}
	if ex.Shredded {
		return nil, nil
	}
	if s.crypto.SM3Hex(ex.Body) != r.BodySM3 {
		return new(false), nil
	}
	return new(s.crypto.VerifyBody(r.Actor, ex.KeyID, ex.Body, ex.Signature) == nil), nil
}

// ackSignatureValid reports whether the stored acknowledgement of r's
// delivery still has the digest r recorded and its signature verifies
// with the partner's key.
func (s *Auditor) ackSignatureValid(ctx context.Context, r contracts.EvidenceRecord, d contracts.EvidenceDetail) (bool, error) {
	del, err := s.store.GetDelivery(ctx, r.DeliveryID)
	if errors.Is(err, gateway.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if len(del.AckBody) == 0 || s.crypto.SM3Hex(del.AckBody) != d.AckSM3 {
		return false, nil
	}
	return s.crypto.VerifyBody(del.Partner, d.AckKeyID, del.AckBody, del.AckSig) == nil, nil
}

// MaxVerifyRange is the most records one VerifyEvidence call walks (about
// six seconds on two cores); a longer range stops there, and the result's
// To says where to continue.
const MaxVerifyRange = 1_000_000

// VerifyEvidence checks the evidence log from seq from to seq to (0: the
// head) with its signed checkpoints (auditors and operators), at most
// MaxVerifyRange records. A broken chain is a result with OK false, not
// an error.
func (s *Auditor) VerifyEvidence(ctx context.Context, p gateway.Principal, from, to int64) (*contracts.ChainVerifyResult, error) {
	if err := gateway.Authorize(p, gateway.ActVerifyChain, nil, ""); err != nil {
		return nil, err
	}
	switch {
	case from < 0:
		return nil, gateway.Failf(contracts.CodeValidationFailed, "from: must be at least 1")
	case to < 0:
		return nil, gateway.Failf(contracts.CodeValidationFailed, "to: must be at least 1")
	case from > 0 && to > 0 && from > to:
		return nil, gateway.Failf(contracts.CodeValidationFailed, "from must not be after to")
	}
	start, limit := max(from, 1), s.verifyRange
	if to == 0 || to-start+1 > limit {
		head, _, err := s.store.EvidenceHead(ctx)
		if err != nil {
			return nil, gateway.Internal(err)
		}
		if to == 0 || to > head {
			to = head
		}
		if to-start+1 > limit {
			to = start + limit - 1
		}
	}
	v := ChainVerifier{SM3: s.crypto.SM3Hex}
	if kd, ok := s.crypto.(gateway.KeyDirectory); ok {
		v.VerifyCheckpoint = func(cp contracts.Checkpoint) error { return kd.VerifyGateway(cp.KeyID, cp.Canonical(), cp.Signature) }
	}
	res, err := v.Verify(ctx, s.store, from, to)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	return res, nil
}

// RecordStart writes the gateway.started record: the version running and
// the SM3 of the configuration it started with, so that the log shows
// which configuration was in force from when.
func (s *Auditor) RecordStart(ctx context.Context, version, configSM3 string) error {
	if s.off {
		return nil
	}
	rec := contracts.EvidenceRecord{At: s.clock.Now().UTC(), Actor: gateway.GatewayActor, Event: contracts.EventGatewayStarted,
		KeyID: s.crypto.KeyID(), Detail: (&contracts.EvidenceDetail{Version: version, ConfigSM3: configSM3, GatewayID: s.gatewayID}).JSON()}
	if err := s.store.AppendEvidence(ctx, rec); err != nil {
		return fmt.Errorf("record start in the evidence log: %w", err)
	}
	return nil
}

// RecordCatalogue appends catalogue.loaded to the evidence log: the SM3
// of the service catalogue file and of the calendar file ("" for none)
// the gateway started with, and how many items the catalogue holds.
func (s *Auditor) RecordCatalogue(ctx context.Context, catalogueSM3, calendarSM3 string, items int) error {
	if s.off {
		return nil
	}
	rec := contracts.EvidenceRecord{At: s.clock.Now().UTC(), Actor: gateway.GatewayActor, Event: contracts.EventCatalogueLoaded,
		KeyID: s.crypto.KeyID(), Detail: (&contracts.EvidenceDetail{CatalogueSM3: catalogueSM3, CalendarSM3: calendarSM3, Items: items}).JSON()}
	if err := s.store.AppendEvidence(ctx, rec); err != nil {
		return fmt.Errorf("record the catalogue in the evidence log: %w", err)
	}
	return nil
}

// mediaExt is the file extension of a body: .xml when it starts with
// '<', else .json.
func mediaExt(body []byte) string {
	if b := bytes.TrimLeft(body, " \t\r\n\xef\xbb\xbf"); len(b) > 0 && b[0] == '<' {
		return ".xml"
	}
	return ".json"
}
