package adapters

import (
	"fmt"
	"strings"

	"github.com/tongban/tongban/contracts"
)

// AckExpectation is what an acknowledgement must say to acknowledge one
// delivery.
type AckExpectation struct {
	ExchangeID string // the exchange delivered
	DeliveryID string // the delivery; an ack that names another one is refused
	BodySM3    string // SM3 of the exact bytes sent
	KeyID      string // the key id that signed the ack (Gw-Key-Id)
	Case       bool   // a case delivery: partner_case_no is required
}

// CheckAck checks that ack, read from a partner's answer whose signature
// verified, acknowledges the delivery want describes: the same exchange_id
// (and delivery_id, when it names one), body_sm3 and key_id, a well-formed
// acknowledged_at, and for a case a partner_case_no of at most 64
// printable bytes. Every failure is a permanent *Error wrapping
// ErrAckMismatch or ErrMalformedAck.
func CheckAck(ack *contracts.Ack, want AckExpectation) error {
	malformed := func(why string) error {
		return Permanent("partner's acknowledgement is malformed", fmt.Errorf("%w: %s", ErrMalformedAck, why))
	}
	switch {
	case ack == nil:
		return malformed("no acknowledgement")
	case contracts.ValidateUUID(ack.ExchangeID) != nil:
		return malformed("exchange_id is not a canonical UUID")
	case ack.AcknowledgedAt.IsZero():
		return malformed("acknowledged_at is missing")
	case contracts.ValidateSM3Hex("body_sm3", ack.BodySM3) != nil:
		return malformed("body_sm3 is not 64 lowercase hex digits")
	case ack.KeyID == "":
		return malformed("key_id is missing")
	case len(ack.PartnerCaseNo) > 64:
		return malformed("partner_case_no is longer than 64 bytes")
	case strings.ContainsFunc(ack.PartnerCaseNo, isControl), strings.ContainsFunc(ack.KeyID, isControl),
		strings.ContainsFunc(ack.DeliveryID, isControl):
		return malformed("partner_case_no, delivery_id or key_id holds control characters")
	}
	mismatch := func(format string, args ...any) error {
		return Permanent(fmt.Sprintf(format, args...), ErrAckMismatch)
	}
	// Reasons quote only what was sent (and validated UUIDs and digests),
	// never free text from the partner, which could carry personal data.
	switch {
	case ack.ExchangeID != want.ExchangeID:
		return mismatch("acknowledgement names exchange %s, sent %s", ack.ExchangeID, want.ExchangeID)
	case ack.DeliveryID != "" && ack.DeliveryID != want.DeliveryID:
		return mismatch("acknowledgement names another delivery than %s", want.DeliveryID)
	case ack.BodySM3 != want.BodySM3:
		return mismatch("acknowledgement body_sm3 %s is not the SM3 of the body sent (%s)", ack.BodySM3, want.BodySM3)
	case ack.KeyID != want.KeyID:
		return mismatch("acknowledgement key_id differs from Gw-Key-Id %q", clip(want.KeyID, 64))
	case want.Case && ack.PartnerCaseNo == "":
		return Permanent("acknowledgement of a case has no partner_case_no", ErrMalformedAck)
	}
	return nil
}

// BatchAckExpectation is what a UsageBatchAck must say to acknowledge a
// batch of usage records.
type BatchAckExpectation struct {
	BatchID     string   // the batch sent
	DeliveryIDs []string // the deliveries it carried
	BodySM3     string   // SM3 of the exact bytes sent
	KeyID       string   // the key id that signed the ack (Gw-Key-Id)
}

// BatchExpectation returns the expectation of an acknowledgement of b
// (BodySM3 and KeyID left to the caller).
func BatchExpectation(b *contracts.UsageRecordBatch) BatchAckExpectation {
	want := BatchAckExpectation{BatchID: b.BatchID, DeliveryIDs: make([]string, len(b.Deliveries))}
	for i, d := range b.Deliveries {
		want.DeliveryIDs[i] = d.DeliveryID
	}
	return want
}

// CheckBatch checks a batch of usage records before it is sent: a batch
// id, 1 to contracts.MaxUsageBatch deliveries, each with a delivery id,
// none twice. Failures are permanent *Error values.
func CheckBatch(b *contracts.UsageRecordBatch) error {
	switch {
	case b == nil:
		return Permanent("no usage record batch", nil)
	case b.BatchID == "":
		return Permanent("usage record batch has no batch_id", nil)
	case len(b.Deliveries) == 0 || len(b.Deliveries) > contracts.MaxUsageBatch:
		return Permanent(fmt.Sprintf("usage record batch holds %d deliveries, not 1 to %d", len(b.Deliveries), contracts.MaxUsageBatch), nil)
	}
	seen := make(map[string]bool, len(b.Deliveries))
	for _, d := range b.Deliveries {
		if d.DeliveryID == "" || seen[d.DeliveryID] {
			return Permanent("usage record batch holds a delivery without a delivery_id, or one twice", nil)
		}
		seen[d.DeliveryID] = true
	}
	return nil
}

// CheckBatchAck checks that ack, read from a partner's answer whose
// signature verified, acknowledges the batch want describes: the same
// batch_id, body_sm3 and key_id, a well-formed acknowledged_at, and
// delivery_ids that are deliveries of the batch, each at most once (any
// subset: the deliveries left out are not taken). Every failure is a
// permanent *Error wrapping ErrMalformedAck or ErrAckMismatch, whose
// reason quotes only what was sent, never the partner's text.
func CheckBatchAck(ack *contracts.UsageBatchAck, want BatchAckExpectation) error {
	malformed := func(why string) error {
		return Permanent("partner's batch acknowledgement is malformed", fmt.Errorf("%w: %s", ErrMalformedAck, why))
	}
	mismatch := func(format string, args ...any) error {
		return Permanent(fmt.Sprintf(format, args...), ErrAckMismatch)
	}
	switch {
	case ack == nil:
		return malformed("no acknowledgement")
	case ack.AcknowledgedAt.IsZero():
		return malformed("acknowledged_at is missing")
	case contracts.ValidateSM3Hex("body_sm3", ack.BodySM3) != nil:
		return malformed("body_sm3 is not 64 lowercase hex digits")
	case ack.KeyID == "" || strings.ContainsFunc(ack.KeyID, isControl):
		return malformed("key_id is missing or holds control characters")
	case len(ack.DeliveryIDs) > len(want.DeliveryIDs):
		return mismatch("batch acknowledgement names %d deliveries, the batch %s carried %d", len(ack.DeliveryIDs), want.BatchID, len(want.DeliveryIDs))
	case ack.BatchID != want.BatchID:
		return mismatch("batch acknowledgement names another batch than %s", want.BatchID)
	case ack.BodySM3 != want.BodySM3:
		return mismatch("batch acknowledgement body_sm3 is not the SM3 of the body sent (%s)", want.BodySM3)
	case ack.KeyID != want.KeyID:
		return mismatch("batch acknowledgement key_id differs from Gw-Key-Id %q", clip(want.KeyID, 64))
	}
	sent := make(map[string]bool, len(want.DeliveryIDs))
	for _, id := range want.DeliveryIDs {
		sent[id] = true
	}
	named := make(map[string]bool, len(ack.DeliveryIDs))
	for _, id := range ack.DeliveryIDs {
		switch {
		case !sent[id]:
			return mismatch("batch acknowledgement names a delivery batch %s did not carry", want.BatchID)
		case named[id]:
			return mismatch("batch acknowledgement names delivery %s twice", id)
		}
		named[id] = true
	}
	return nil
}

// CheckLookupAnswer checks that resp, read from a library's answer whose
// signature verified, answers q: the same exchange_id, a license exactly
// when found, and a found license that passes
// contracts.LicenseRecord.Validate and is the one q names (the same
// identifier, or the same holder and type, and number when q gives one).
// Every failure is a permanent *Error wrapping ErrMalformedAck or
// ErrAckMismatch, whose reason quotes no personal data.
func CheckLookupAnswer(q *contracts.LicenseLookupRequest, resp *contracts.LicenseLookupResponse) error {
	if resp == nil {
		return Permanent("partner's lookup answer is empty", ErrMalformedAck)
	}
	if contracts.ValidateUUID(resp.ExchangeID) != nil {
		return Permanent("partner's lookup answer is malformed: exchange_id is not a canonical UUID", ErrMalformedAck)
	}
	if resp.ExchangeID != q.ExchangeID {
		return Permanent(fmt.Sprintf("lookup answer names exchange %s, sent %s", resp.ExchangeID, clip(q.ExchangeID, 64)), ErrAckMismatch)
	}
	switch {
	case resp.Found && resp.License == nil:
		return Permanent("lookup answer says found but holds no license", ErrMalformedAck)
	case !resp.Found && resp.License != nil:
		return Permanent("lookup answer says not found but holds a license", ErrMalformedAck)
	case !resp.Found:
		return nil
	}
	if err := resp.License.Validate(); err != nil {
		// Validators' messages name the field and never repeat the value.
		return Permanent("partner's license record is invalid: "+err.Error(), ErrMalformedAck)
	}
	if !answers(q, resp.License) {
		return Permanent("lookup answer holds another license than the one asked for", ErrAckMismatch)
	}
	return nil
}

// answers reports whether rec is the license q names: the same identifier,
// or the same holder and type (and number, when q gives one).
func answers(q *contracts.LicenseLookupRequest, rec *contracts.LicenseRecord) bool {
	if q.LicenseID != "" {
		return rec.LicenseID == q.LicenseID
	}
	if q.Holder == nil {
		return false
	}
	return rec.Holder.HolderType == q.Holder.HolderType && rec.Holder.IDNumber == q.Holder.IDNumber &&
		rec.TypeCode == q.LicenseTypeCode && (q.LicenseNumber == "" || rec.Number == q.LicenseNumber)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
