package evidence

import (
	"context"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// Recorder builds the evidence records of the core's steps
// (gateway.Recorder) with the gateway's crypto: SM3 digests of bodies and
// the gateway's key id. With Off set it builds none: only a benchmark
// measuring what the log costs turns it off; a gateway in service always
// keeps its log, and its configuration has no such switch.
type Recorder struct {
	Crypto gateway.Crypto
	Off    bool
}

var _ gateway.Recorder = Recorder{}

// Exchange returns the record of an accepted exchange (see
// gateway.Recorder).
func (r Recorder) Exchange(ctx context.Context, in gateway.Inbound, ex *gateway.Exchange, c *gateway.Case, event string, del *gateway.Delivery, region string, extra func(*contracts.EvidenceDetail)) []contracts.EvidenceRecord {
	if r.Off {
		return nil
	}
	traceID, _ := gateway.TraceOf(ctx, in.TraceID)
	d := contracts.EvidenceDetail{
		State: c.State, Size: len(ex.Body), Signature: gateway.B64(ex.Signature),
		ReceiptSM3: r.Crypto.SM3Hex(ex.Receipt), ReceiptSignature: gateway.B64(ex.ReceiptSig),
		ReceiptKeyID: r.Crypto.KeyID(), ReceiptMediaType: ex.ReceiptType,
	}
	rec := contracts.EvidenceRecord{
		At: ex.ReceivedAt, Actor: in.Caller.ID(), Event: event, ExchangeID: ex.ExchangeID, CaseID: c.ID,
		Region: region, TraceID: traceID, KeyID: ex.KeyID, JTI: in.Caller.TokenID, BodySM3: ex.BodySM3,
	}
	if del != nil {
		d.PayloadSM3 = r.Crypto.SM3Hex(del.Payload)
		rec.DeliveryID, rec.Partner = del.ID, del.Partner
	}
	if extra != nil {
		extra(&d)
	}
	kind := contracts.ExchangeKindCase
	switch ex.Kind {
	case gateway.ExchangeStatus:
		kind = contracts.ExchangeKindStatus
	case gateway.ExchangeBundle:
		kind = contracts.ExchangeKindBundle
	case gateway.ExchangeEvaluation:
		kind = contracts.ExchangeKindEvaluation
	case gateway.ExchangeReply:
		kind = contracts.ExchangeKindReply
	}
	rec.Kind, rec.Detail = kind, d.JSON()
	return []contracts.EvidenceRecord{rec}
}

// Attempt returns the record of one delivery attempt or mailbox offer
// (see gateway.Recorder); the acknowledgement's exact bytes are kept by
// their SM3.
func (r Recorder) Attempt(del *gateway.Delivery, at time.Time, outcome string, latency time.Duration, caseState contracts.CaseState) []contracts.EvidenceRecord {
	return r.attempt(del, at, outcome, latency, caseState, nil)
}

// BatchAttempt returns the record of one delivery's attempt made in a
// batch (see gateway.Recorder): Attempt's record, with the batch's id and
// the SM3 of the batch body in its detail.
func (r Recorder) BatchAttempt(del *gateway.Delivery, at time.Time, outcome string, latency time.Duration, batchID, batchSM3 string) []contracts.EvidenceRecord {
	return r.attempt(del, at, outcome, latency, "", func(d *contracts.EvidenceDetail) { d.BatchID, d.BatchSM3 = batchID, batchSM3 })
}

// attempt builds an attempt's record; extra, when set, adds to its
// detail.
func (r Recorder) attempt(del *gateway.Delivery, at time.Time, outcome string, latency time.Duration, caseState contracts.CaseState, extra func(*contracts.EvidenceDetail)) []contracts.EvidenceRecord {
	if r.Off {
		return nil
	}
	traceID := ""
	if len(del.TraceParent) == 55 {
		traceID = del.TraceParent[3:35]
	}
	d := contracts.EvidenceDetail{Attempt: del.Attempts, Outcome: outcome, Reason: del.LastError, CaseState: caseState,
		LatencyMS: latency.Milliseconds()}
	if del.State == contracts.TransportStateRetryWait {
		d.NextAt = del.NextAt.UTC().Format(time.RFC3339Nano)
	}
	if del.State == contracts.TransportStateDelivered {
		d.Reason = ""
		if del.Ack != nil {
			d.AckKeyID, d.PartnerCaseNo = del.Ack.KeyID, del.Ack.PartnerCaseNo
			d.AckAcknowledgedAt = del.Ack.AcknowledgedAt.UTC().Format(time.RFC3339Nano)
		}
		if len(del.AckBody) > 0 {
			d.AckSM3 = r.Crypto.SM3Hex(del.AckBody)
		}
		d.AckSignature = gateway.B64(del.AckSig)
	}
	if extra != nil {
		extra(&d)
	}
	return []contracts.EvidenceRecord{{
		At: at, Actor: gateway.GatewayActor, Event: contracts.EventDeliveryAttempt, ExchangeID: del.ExchangeID, CaseID: del.CaseID,
		DeliveryID: del.ID, Partner: del.Partner, Kind: kindOf(del.Kind), TraceID: traceID, Detail: d.JSON(),
	}}
}

// Verification returns the license.verified record of e and, when del is
// not nil, the usage.recorded record of its delivery (see
// gateway.Recorder). The request body is kept by its SM3, the purpose too
// (it may name people).
func (r Recorder) Verification(ctx context.Context, in gateway.Inbound, e gateway.UsageEntry, del *gateway.Delivery, caseID, caseRef string) []contracts.EvidenceRecord {
	if r.Off {
		return nil
	}
	traceID, _ := gateway.TraceOf(ctx, in.TraceID)
	requester := ""
	if p := in.Caller.Partner; p != nil && len(p.Regions) > 0 {
		requester = p.Regions[0]
	}
	bodySM3 := ""
	if len(in.Body) > 0 {
		bodySM3 = r.Crypto.SM3Hex(in.Body)
	}
	u := e.Record
	out := []contracts.EvidenceRecord{{
		At: u.CheckedAt, Actor: u.Caller, Event: contracts.EventLicenseVerified, ExchangeID: u.UsageRecordID, CaseID: caseID,
		Partner: e.Library, Region: u.SourceRegion, Kind: contracts.ExchangeKindLicenseVerify, TraceID: traceID,
		KeyID: in.KeyID, JTI: in.Caller.TokenID, BodySM3: bodySM3,
		Detail: (&contracts.EvidenceDetail{
			UsageRecordID: u.UsageRecordID, LicenseID: u.LicenseID, LicenseTypeCode: u.LicenseTypeCode,
			Outcome: string(u.Outcome), ErrorCode: u.ErrorCode, Cached: &u.Cached,
			WindowID: u.WindowID, PurposeSM3: r.Crypto.SM3Hex([]byte(u.Purpose)),
			RequesterRegion: requester, Signature: gateway.B64(in.Signature), CaseRef: caseRef,
		}).JSON(),
	}}
	if del != nil {
		out = append(out, contracts.EvidenceRecord{
			At: u.CheckedAt, Actor: gateway.GatewayActor, Event: contracts.EventUsageRecorded, ExchangeID: del.ExchangeID,
			DeliveryID: del.ID, CaseID: caseID, Partner: del.Partner, Region: u.SourceRegion,
			Kind: contracts.ExchangeKindUsageRecord, TraceID: traceID,
			Detail: (&contracts.EvidenceDetail{
				UsageRecordID: u.UsageRecordID, PayloadSM3: r.Crypto.SM3Hex(del.Payload), RequesterRegion: requester,
			}).JSON(),
		})
	}
	return out
}

// Redelivery returns the record of an operator's redelivery (see
// gateway.Recorder): of one delivery, or of a partner's dead letters
// (the store adds their ids to the detail).
func (r Recorder) Redelivery(ctx context.Context, p gateway.Principal, at time.Time, deliveryID, partner string) []contracts.EvidenceRecord {
	if r.Off {
		return nil
	}
	traceID, _ := gateway.TraceOf(ctx, "")
	rec := contracts.EvidenceRecord{At: at, Actor: p.ID(), Event: contracts.EventAdminRedeliver, DeliveryID: deliveryID, Partner: partner,
		TraceID: traceID, JTI: p.TokenID, KeyID: p.KeyID}
	d := contracts.EvidenceDetail{Subject: p.Subject}
	if deliveryID != "" {
		d.Deliveries = []string{deliveryID}
	}
	rec.Detail = d.JSON()
	return []contracts.EvidenceRecord{rec}
}

// Administration returns the record of a step the gateway took on a case
// on its own (see gateway.Recorder): actor gateway, the case, and the
// delivery it queued with the SM3 of its payload.
func (r Recorder) Administration(ctx context.Context, c *gateway.Case, at time.Time, event string, del *gateway.Delivery, detail func(*contracts.EvidenceDetail)) []contracts.EvidenceRecord {
	if r.Off {
		return nil
	}
	traceID, _ := gateway.TraceOf(ctx, "")
	d := contracts.EvidenceDetail{State: c.State}
	rec := contracts.EvidenceRecord{At: at, Actor: gateway.GatewayActor, Event: event, CaseID: c.ID, TraceID: traceID, KeyID: r.Crypto.KeyID()}
	if del != nil {
		rec.DeliveryID, rec.Partner, rec.ExchangeID, rec.Kind = del.ID, del.Partner, del.ExchangeID, kindOf(del.Kind)
		d.PayloadSM3 = r.Crypto.SM3Hex(del.Payload)
	}
	if detail != nil {
		detail(&d)
	}
	rec.Detail = d.JSON()
	return []contracts.EvidenceRecord{rec}
}

// kindOf maps a delivery kind to the exchange kind audit search knows.
func kindOf(k contracts.DeliveryKind) contracts.ExchangeKind {
	switch k {
	case contracts.DeliveryKindCase:
		return contracts.ExchangeKindCase
	case contracts.DeliveryKindStatus:
		return contracts.ExchangeKindStatus
	case contracts.DeliveryKindNotice:
		return contracts.ExchangeKindNotice
	}
	return contracts.ExchangeKindUsageRecord
}
