package postgres

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/store/storecodec"
)

// encoder is the shared column encoder (storecodec.Encoder); the store's
// own encodings are methods of this type.
type encoder struct{ storecodec.Encoder }

// decTime decodes a nullable time column (storecodec.DecNanos; NULL is
// the zero time).
func decTime(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return storecodec.DecNanos(*n)
}

// decInstant decodes what encoder.Instant encoded.
func decInstant(n int64) time.Time { return storecodec.DecInstant(n) }

type scanner interface{ Scan(dest ...any) error }

// caseCols are a case's columns: id, then those caseArgs encodes up to
// updated_at, version, then those caseArgs encodes after it.
const caseCols = `id, exchange_id, sender, owner, from_region, to_region, state, outcome,
	owner_case_no, local_case_no, service_item, created_at, updated_at, version,
	bundle_id, deadline, alarm_at, overdue, admin`

// caseArgs returns c's values for caseCols but id and version: the 12
// columns between them ($1 to $12 of the writes), then the 5 after
// version ($13 to $17).
func (e *encoder) caseArgs(c *gateway.Case) []any {
	return []any{c.ExchangeID, c.Sender, c.Owner, c.FromRegion, c.ToRegion, string(c.State),
		string(c.Outcome), c.OwnerCaseNo, c.LocalCaseNo, e.JSON(c.ServiceItem), e.Time(c.CreatedAt),
		e.Time(c.UpdatedAt),
		c.BundleID, e.Time(c.Deadline), e.Time(c.AlarmAt), c.Overdue, e.Admin(c.Admin)}
}

func scanCase(sc scanner) (*gateway.Case, error) {
	var c claimedCase
	if err := sc.Scan(c.dest()...); err != nil {
		return nil, err
	}
	return c.get()
}

const exchangeCols = `sender, exchange_id, kind, case_id, body_sm3, key_id, trace_id, received_at,
	body, signature, receipt, receipt_sig, receipt_type, body_key`

func scanExchange(sc scanner) (*gateway.Exchange, error) {
	var (
		x          gateway.Exchange
		kind       string
		receivedAt *int64
	)
	if err := sc.Scan(&x.Sender, &x.ExchangeID, &kind, &x.CaseID, &x.BodySM3, &x.KeyID,
		&x.TraceID, &receivedAt, &x.Body, &x.Signature, &x.Receipt, &x.ReceiptSig, &x.ReceiptType, &x.BodyKey); err != nil {
		return nil, err
	}
	x.Kind = gateway.ExchangeKind(kind)
	x.ReceivedAt = decTime(receivedAt)
	return &x, nil
}

const statusCols = `case_id, state, outcome, at, exchange_id, reported_by, reason, note`

func scanStatus(sc scanner) (gateway.Status, error) {
	var (
		st             gateway.Status
		state, outcome string
		at             *int64
	)
	err := sc.Scan(&st.CaseID, &state, &outcome, &at, &st.ExchangeID, &st.ReportedBy, &st.Reason, &st.Note)
	st.State, st.Outcome = contracts.CaseState(state), contracts.Outcome(outcome)
	st.At = decTime(at)
	return st, err
}

// deliverySelect reads whole deliveries; append a WHERE clause.
const deliverySelect = `SELECT d.seq, d.id, d.case_id, d.partner, d.kind, d.exchange_id, d.state,
	d.attempts, d.next_at, d.lease_until, d.created_at, d.delivered_at, d.last_error,
	coalesce(d.since_at, d.created_at), d.traceparent, d.pull, a.ack, p.payload, a.ack_body, a.ack_sig,
	coalesce(p.payload_key, '')
	FROM deliveries AS d
	LEFT JOIN delivery_payloads AS p ON p.seq = d.seq
	LEFT JOIN delivery_acks AS a ON a.seq = d.seq`

// claimedSelect reads the deliveries that claimed, an UPDATE of
// deliveries RETURNING claimedReturning, returned, with their payloads, in
// seq order. It has no ack: deliveries it returns are not delivered.
const claimedSelect = `SELECT d.seq, d.id, d.case_id, d.partner, d.kind, d.exchange_id, d.state,
	d.attempts, d.next_at, d.lease_until, d.created_at, d.delivered_at, d.last_error,
	coalesce(d.since_at, d.created_at), d.traceparent, d.pull, NULL::text, p.payload, NULL::bytea, NULL::bytea,
	coalesce(p.payload_key, '')
	FROM claimed AS d
	LEFT JOIN delivery_payloads AS p ON p.seq = d.seq
	ORDER BY d.seq`

// claimedTakenOverSelect is claimedSelect of an UPDATE that also
// returned taken_over, read after the columns scanDelivery reads, and
// then the delivery's case (caseCols, all NULL for a delivery of no
// case: see scanClaimedCase).
const claimedTakenOverSelect = `SELECT d.seq, d.id, d.case_id, d.partner, d.kind, d.exchange_id, d.state,
	d.attempts, d.next_at, d.lease_until, d.created_at, d.delivered_at, d.last_error,
	coalesce(d.since_at, d.created_at), d.traceparent, d.pull, NULL::text, p.payload, NULL::bytea, NULL::bytea,
	coalesce(p.payload_key, ''), d.taken_over,
	c.id, c.exchange_id, c.sender, c.owner, c.from_region, c.to_region, c.state, c.outcome,
	c.owner_case_no, c.local_case_no, c.service_item, c.created_at, c.updated_at, c.version,
	c.bundle_id, c.deadline, c.alarm_at, c.overdue, c.admin
	FROM claimed AS d
	LEFT JOIN delivery_payloads AS p ON p.seq = d.seq
	LEFT JOIN cases AS c ON c.id = d.case_id AND d.case_id <> ''
	ORDER BY d.seq`

// claimedCase scans the columns of a case (caseCols), which are all NULL
// for the case of a claimed delivery of no case (claimedTakenOverSelect).
type claimedCase struct {
	id, exchangeID, sender, owner, fromRegion, toRegion, state, outcome *string
	ownerCaseNo, localCaseNo, item, bundleID, admin                     *string
	createdAt, updatedAt, version, deadline, alarmAt                    *int64
	overdue                                                             *bool
}

// dest returns the scan destinations, in the order of the columns.
func (c *claimedCase) dest() []any {
	return []any{&c.id, &c.exchangeID, &c.sender, &c.owner, &c.fromRegion, &c.toRegion, &c.state, &c.outcome,
		&c.ownerCaseNo, &c.localCaseNo, &c.item, &c.createdAt, &c.updatedAt, &c.version,
		&c.bundleID, &c.deadline, &c.alarmAt, &c.overdue, &c.admin}
}

// get returns the case scanned, nil when there is none.
func (c *claimedCase) get() (*gateway.Case, error) {
	if c.id == nil || c.version == nil {
		return nil, nil
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	out := &gateway.Case{ID: *c.id, ExchangeID: str(c.exchangeID), Sender: str(c.sender), Owner: str(c.owner),
		FromRegion: str(c.fromRegion), ToRegion: str(c.toRegion), State: contracts.CaseState(str(c.state)),
		Outcome: contracts.Outcome(str(c.outcome)), OwnerCaseNo: str(c.ownerCaseNo), LocalCaseNo: str(c.localCaseNo),
		CreatedAt: decTime(c.createdAt), UpdatedAt: decTime(c.updatedAt), Version: *c.version,
		BundleID: str(c.bundleID), Deadline: decTime(c.deadline), AlarmAt: decTime(c.alarmAt),
		Overdue: c.overdue != nil && *c.overdue}
	if err := json.Unmarshal([]byte(str(c.item)), &out.ServiceItem); err != nil {
		return nil, fmt.Errorf("case %q: decode service item: %w", out.ID, err)
	}
	a, err := storecodec.DecAdmin(c.admin)
	if err != nil {
		return nil, fmt.Errorf("case %q: %w", out.ID, err)
	}
	out.Admin = a
	return out, nil
}

// claimedReturning is the RETURNING list of an UPDATE of deliveries that
// claimedSelect reads.
const claimedReturning = `seq, id, case_id, partner, kind, exchange_id, state, attempts, next_at,
	lease_until, created_at, delivered_at, last_error, since_at, traceparent, pull`

// scanDelivery reads a delivery in the columns of deliverySelect (or
// deliveryReturning, claimedSelect), then the columns extra scans into.
func scanDelivery(sc scanner, extra ...any) (*gateway.Delivery, error) {
	var (
		d                                                 gateway.Delivery
		kind, state                                       string
		nextAt, leaseUntil, createdAt, deliveredAt, since *int64
		ack                                               *string
	)
	dest := []any{&d.Seq, &d.ID, &d.CaseID, &d.Partner, &kind, &d.ExchangeID, &state,
		&d.Attempts, &nextAt, &leaseUntil, &createdAt, &deliveredAt, &d.LastError, &since, &d.TraceParent, &d.Pull, &ack,
		&d.Payload, &d.AckBody, &d.AckSig, &d.PayloadKey}
	if err := sc.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	d.Kind, d.State = contracts.DeliveryKind(kind), contracts.TransportState(state)
	d.NextAt, d.LeaseUntil = decTime(nextAt), decTime(leaseUntil)
	d.CreatedAt, d.DeliveredAt = decTime(createdAt), decTime(deliveredAt)
	d.Since = decTime(since)
	if ack != nil {
		d.Ack = new(contracts.Ack)
		if err := json.Unmarshal([]byte(*ack), d.Ack); err != nil {
			return nil, fmt.Errorf("delivery %q: decode ack: %w", d.ID, err)
		}
	}
	return &d, nil
}

const usageCols = `usage_record_id, caller, window_id, operator_id, purpose, case_id, license_id,
	license_type_code, holder_id_masked, outcome, error_code, source_region, checked_at, cached,
	holder_type, holder_id, library, subject, seal_key`

// usageArgs returns u's values for usageCols.
func (e *encoder) usageArgs(u *gateway.UsageEntry) []any {
	r := &u.Record
	return []any{r.UsageRecordID, r.Caller, r.WindowID, r.OperatorID, r.Purpose, r.CaseID, r.LicenseID,
		r.LicenseTypeCode, r.HolderIDMasked, string(r.Outcome), string(r.ErrorCode), r.SourceRegion,
		e.Instant(r.CheckedAt), r.Cached, u.HolderType, u.HolderID, u.Library, u.Subject, u.SealKey}
}

func scanUsage(sc scanner) (gateway.UsageEntry, error) {
	var (
		u                  gateway.UsageEntry
		r                  = &u.Record
		outcome, errorCode string
		checkedAt          int64
	)
	err := sc.Scan(&r.UsageRecordID, &r.Caller, &r.WindowID, &r.OperatorID, &r.Purpose, &r.CaseID,
		&r.LicenseID, &r.LicenseTypeCode, &r.HolderIDMasked, &outcome, &errorCode, &r.SourceRegion,
		&checkedAt, &r.Cached, &u.HolderType, &u.HolderID, &u.Library, &u.Subject, &u.SealKey)
	r.Outcome, r.ErrorCode = contracts.LicenseOutcome(outcome), contracts.Code(errorCode)
	r.CheckedAt = decInstant(checkedAt)
	return u, err
}
