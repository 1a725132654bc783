package sqlite

import (
	"database/sql"
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

// blob encodes b; nil stays NULL.
func blob(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// driverBytes scans a BLOB column into the very slice the driver
// returned, without the copy database/sql makes for a *[]byte. The
// driver (modernc.org/sqlite) copies each BLOB out of SQLite into a slice
// of its own for every row it reads, which nothing else holds or reuses
// (TestScannedPayloadsAreTheirOwn pins that); for a payload of megabytes
// (a case with its materials inline) it spares one copy of the payload
// per delivery read.
type driverBytes []byte

// Scan keeps src: nil (NULL) or the driver's []byte; a TEXT value is
// copied.
func (b *driverBytes) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*b = nil
	case []byte:
		*b = v
	case string:
		*b = []byte(v)
	default:
		return fmt.Errorf("scan %T into bytes", src)
	}
	return nil
}

// decTime decodes a time column (storecodec.DecNanos; NULL is the zero
// time).
func decTime(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return storecodec.DecNanos(n.Int64)
}

// decDue decodes a due_at value, where math.MinInt64 means "at once"
// (a zero NextAt or LeaseUntil).
func decDue(n int64) time.Time { return decInstant(n) }

// decInstant decodes what encoder.Instant encoded.
func decInstant(n int64) time.Time { return storecodec.DecInstant(n) }

type scanner interface{ Scan(dest ...any) error }

// caseCols are a case's columns: id, then those caseArgs encodes up to
// updated_at, version, then those caseArgs encodes after it.
const caseCols = `id, exchange_id, sender, owner, from_region, to_region, state, outcome,
	owner_case_no, local_case_no, service_item, created_at, updated_at, version,
	bundle_id, deadline, alarm_at, overdue, admin`

// caseArgs returns c's values for caseCols but id and version: the 12
// columns between them, then the 5 after version.
func (e *encoder) caseArgs(c *gateway.Case) []any {
	return []any{c.ExchangeID, c.Sender, c.Owner, c.FromRegion, c.ToRegion, string(c.State),
		string(c.Outcome), c.OwnerCaseNo, c.LocalCaseNo, e.JSON(c.ServiceItem), e.Time(c.CreatedAt),
		e.Time(c.UpdatedAt),
		c.BundleID, e.Time(c.Deadline), e.Time(c.AlarmAt), c.Overdue, e.Admin(c.Admin)}
}

func scanCase(sc scanner) (*gateway.Case, error) {
	var (
		c                                       gateway.Case
		item                                    string
		admin                                   sql.NullString
		createdAt, updatedAt, deadline, alarmAt sql.NullInt64
	)
	if err := sc.Scan(&c.ID, &c.ExchangeID, &c.Sender, &c.Owner, &c.FromRegion, &c.ToRegion,
		&c.State, &c.Outcome, &c.OwnerCaseNo, &c.LocalCaseNo, &item, &createdAt, &updatedAt,
		&c.Version, &c.BundleID, &deadline, &alarmAt, &c.Overdue, &admin); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(item), &c.ServiceItem); err != nil {
		return nil, fmt.Errorf("case %q: decode service item: %w", c.ID, err)
	}
	if admin.Valid {
		a, err := storecodec.DecAdmin(&admin.String)
		if err != nil {
			return nil, fmt.Errorf("case %q: %w", c.ID, err)
		}
		c.Admin = a
	}
	c.CreatedAt, c.UpdatedAt = decTime(createdAt), decTime(updatedAt)
	c.Deadline, c.AlarmAt = decTime(deadline), decTime(alarmAt)
	return &c, nil
}

const exchangeCols = `sender, exchange_id, kind, case_id, body_sm3, key_id, trace_id, received_at,
	body, signature, receipt, receipt_sig, receipt_type, body_key`

func scanExchange(sc scanner) (*gateway.Exchange, error) {
	var (
		x          gateway.Exchange
		receivedAt sql.NullInt64
	)
	if err := sc.Scan(&x.Sender, &x.ExchangeID, &x.Kind, &x.CaseID, &x.BodySM3, &x.KeyID,
		&x.TraceID, &receivedAt, &x.Body, &x.Signature, &x.Receipt, &x.ReceiptSig, &x.ReceiptType, &x.BodyKey); err != nil {
		return nil, err
	}
	x.ReceivedAt = decTime(receivedAt)
	return &x, nil
}

const statusCols = `case_id, state, outcome, at, exchange_id, reported_by, reason, note`

func scanStatus(sc scanner) (gateway.Status, error) {
	var (
		st gateway.Status
		at sql.NullInt64
	)
	err := sc.Scan(&st.CaseID, &st.State, &st.Outcome, &at, &st.ExchangeID, &st.ReportedBy,
		&st.Reason, &st.Note)
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

// deliveryReturning is the RETURNING list of an UPDATE of deliveries that
// scanDelivery reads. It has no ack: deliveries it returns are not
// delivered.
const deliveryReturning = `seq, id, case_id, partner, kind, exchange_id, state, attempts, next_at,
	lease_until, created_at, delivered_at, last_error, coalesce(since_at, created_at), traceparent, pull,
	NULL, (SELECT payload FROM delivery_payloads AS p WHERE p.seq = deliveries.seq), NULL, NULL,
	coalesce((SELECT payload_key FROM delivery_payloads AS p WHERE p.seq = deliveries.seq), '')`

// scanDelivery reads a delivery in the columns of deliverySelect (or
// deliveryReturning, claimedSelect), then the columns extra scans into.
func scanDelivery(sc scanner, extra ...any) (*gateway.Delivery, error) {
	var (
		d                                                 gateway.Delivery
		nextAt, leaseUntil, createdAt, deliveredAt, since sql.NullInt64
		ack                                               sql.NullString
	)
	dest := []any{&d.Seq, &d.ID, &d.CaseID, &d.Partner, &d.Kind, &d.ExchangeID, &d.State,
		&d.Attempts, &nextAt, &leaseUntil, &createdAt, &deliveredAt, &d.LastError, &since, &d.TraceParent, &d.Pull, &ack,
		(*driverBytes)(&d.Payload), &d.AckBody, &d.AckSig, &d.PayloadKey}
	if err := sc.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	d.NextAt, d.LeaseUntil = decTime(nextAt), decTime(leaseUntil)
	d.CreatedAt, d.DeliveredAt = decTime(createdAt), decTime(deliveredAt)
	d.Since = decTime(since)
	if ack.Valid {
		d.Ack = new(contracts.Ack)
		if err := json.Unmarshal([]byte(ack.String), d.Ack); err != nil {
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
		u         gateway.UsageEntry
		r         = &u.Record
		checkedAt int64
	)
	err := sc.Scan(&r.UsageRecordID, &r.Caller, &r.WindowID, &r.OperatorID, &r.Purpose, &r.CaseID,
		&r.LicenseID, &r.LicenseTypeCode, &r.HolderIDMasked, &r.Outcome, &r.ErrorCode, &r.SourceRegion,
		&checkedAt, &r.Cached, &u.HolderType, &u.HolderID, &u.Library, &u.Subject, &u.SealKey)
	r.CheckedAt = decInstant(checkedAt)
	return u, err
}
