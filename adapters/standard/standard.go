// Package standard is the adapter for partners that speak the gateway's own
// contract (the partnerCase, partnerStatus, partnerLicenseLookup and
// partnerUsageRecord webhooks of contracts/openapi.yaml). It registers
// itself as "standard".
//
// Every call is one signed POST of a JSON body to a path under the
// partner's endpoint:
//
//	POST {endpoint}/cases                    CaseDelivery         → Ack
//	POST {endpoint}/cases/{case_id}/status   StatusDelivery       → Ack
//	POST {endpoint}/notices                  NoticeDelivery       → Ack
//	POST {endpoint}/licenses/usage           UsageRecordDelivery  → Ack
//	POST {endpoint}/licenses/usage/batch     UsageRecordBatch     → UsageBatchAck
//	POST {endpoint}/licenses/lookup          LicenseLookupRequest → LicenseLookupResponse
//
// with Content-Type application/json, Gw-Signature (standard base64 of the
// gateway's DER SM2 signature over the exact body), Gw-Key-Id, traceparent
// when the context carries a trace (see adapters.Caller), and
// Authorization: Bearer when the Crypto is an adapters.TokenIssuer.
//
// # Deliveries
//
// Cases, status updates, notices and usage records (用证记录) are
// deliveries. The
// partner answers 200 (or 201) with a JSON Ack signed over its exact bytes
// (Gw-Signature, Gw-Key-Id). The adapter accepts the answer only if the
// signature verifies with a key registered for the partner, the Ack names
// the same exchange_id (and delivery_id, when it names one) and key id, and
// its body_sm3 is the SM3 of the exact bytes sent; otherwise the attempt
// fails permanently.
//
// # Usage records in batches
//
// The adapter passes usage records one by one (/licenses/usage) or, for an
// issuer whose license_library.usage_batch is above 1 (the default for
// this style), several in one call (/licenses/usage/batch,
// DeliverUsageBatch): a UsageRecordBatch carrying each record's very
// UsageRecordDelivery, signed once over the exact body. The issuer answers
// 200 with one UsageBatchAck signed over its exact bytes; the adapter
// accepts it only if the signature verifies with a key registered for the
// partner, it parses strictly, and it names the same batch_id, the SM3 of
// the exact bytes sent and the key id, and only deliveries of the batch,
// each once (adapters.CheckBatchAck). The deliveries it leaves out are
// not taken: the gateway retries them. Failures are classified as for
// single deliveries.
//
// # Notices
//
// A notice (DeliverNotice) tells a case's district about its
// administration: a deadline warning (预警) or overdue notice (超期), the
// applicant's evaluation (好差评) with, for a negative one, the follow-up
// the owner must answer, the owner's follow-up reply, an overdue
// follow-up, a cancelled part of a bundle. It is delivered and
// acknowledged exactly like a status update: the partner answers with an
// Ack naming the notice's exchange_id and delivery_id, the SM3 of the
// exact bytes sent and its key id, and recognises a repeat by
// delivery_id. The adapter implements adapters.NoticeDeliverer.
//
// Short outages are ridden out inside one attempt: connection errors, 408
// and 5xx without Retry-After are retried max_retries times (50–500 ms
// apart, each try bounded by Params.Timeout, so one call lasts at most about
// (max_retries+1) × Timeout plus one second). 429 and answers carrying
// Retry-After are returned at once so the gateway can honour the pause.
//
// # Repeats
//
// Delivery is at least once: an attempt whose answer was lost is made
// again, and an operator may redeliver a dead letter. Partners recognise
// a repeat by delivery_id alone: the gateway makes it unique across all
// senders and keeps it through every attempt and redelivery of the
// delivery. exchange_id is unique per sender only (two districts may send
// the same one), so a partner that dedups on it takes one district's case
// for another's. case_id names the case (a resubmission after correction
// is a new delivery of the same case). An acknowledgement that gives, as
// partner_case_no, the number of another case of the same partner is
// refused by the gateway: the delivery counts as not delivered.
//
// # License lookups
//
// A lookup (证照库查询) is synchronous: a window is waiting. It is tried
// exactly once, bounded by Params.Timeout and by the caller's context, on
// the same connection pool as deliveries. The library answers 200 with a
// LicenseLookupResponse signed over its exact bytes. The adapter accepts it
// only if the signature verifies with a key registered for the partner, it
// parses strictly (no unknown fields, no trailing data, at most
// MaxLookupAnswerSize bytes), it echoes the lookup's exchange_id, and either
// found is true and the license is present, passes
// contracts.LicenseRecord.Validate and is the one asked for, or found is
// false and no license is present. Every failure is an *adapters.Error
// classified with the delivery rules (transport errors, 5xx, 408 and 429
// are retryable; other statuses, bad signatures and malformed answers are
// permanent), wrapping adapters.ErrBadSignature, adapters.ErrMalformedAck or
// adapters.ErrAckMismatch where the answer itself is at fault. Reasons never
// quote the answer's personal data.
//
// Config block:
//
//	{"endpoint": "https://partner.example/tongban", "max_retries": 2}
package standard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// Name is the name the adapter is registered under.
const Name = "standard"

// Limits and defaults, shared by every HTTP style (see adapters.Caller).
const (
	DefaultMaxRetries = adapters.DefaultMaxRetries
	MaxMaxRetries     = adapters.MaxMaxRetries
	// MaxAckSize bounds the acknowledgement body read from a partner.
	MaxAckSize = adapters.MaxAnswerSize
)

// Header names of the wire convention.
const (
	HeaderSignature   = adapters.HeaderSignature
	HeaderKeyID       = adapters.HeaderKeyID
	HeaderTraceparent = adapters.HeaderTraceparent
)

func init() {
	adapters.Register(adapters.Style{
		Name:    Name,
		Summary: "the gateway's own JSON contract: signed POSTs of cases, status updates, notices, usage records and license lookups",
		Capabilities: []adapters.Capability{
			adapters.CapCaseDelivery, adapters.CapStatusDelivery, adapters.CapLicenseLookup, adapters.CapUsageRecords,
		},
		Factory: adapters.FactoryOf(New),
	})
}

// Config is the partner's adapter block.
type Config struct {
	// Endpoint is the partner's base URL, absolute http or https; the
	// adapter appends /cases, /cases/{case_id}/status, /notices,
	// /licenses/usage, /licenses/usage/batch and /licenses/lookup.
	Endpoint string `json:"endpoint"`
	// MaxRetries is the number of quick retries inside one delivery
	// attempt, 0 to MaxMaxRetries; nil means DefaultMaxRetries. License
	// lookups are never retried.
	MaxRetries *int `json:"max_retries,omitempty"`
}

// ParseConfig decodes and validates a config block strictly: unknown
// fields are rejected, the endpoint must be an absolute http(s) URL without
// query or fragment, and max_retries must be in range.
func ParseConfig(raw json.RawMessage) (Config, error) {
	var c Config
	if err := adapters.DecodeConfig(raw, &c); err != nil {
		return Config{}, err
	}
	ep, err := adapters.ParseEndpoint(c.Endpoint)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	c.Endpoint = ep
	if c.MaxRetries == nil {
		n := DefaultMaxRetries
		c.MaxRetries = &n
	} else if *c.MaxRetries < 0 || *c.MaxRetries > MaxMaxRetries {
		return Config{}, fmt.Errorf("config: max_retries %d is out of range 0..%d", *c.MaxRetries, MaxMaxRetries)
	}
	return c, nil
}

// Adapter delivers to one partner that speaks the standard contract. It is
// safe for concurrent use.
type Adapter struct {
	partner  string
	endpoint string
	crypto   adapters.Crypto
	caller   *adapters.Caller
}

// Compile-time guards: the port, and the optional capabilities.
var (
	_ adapters.Adapter             = (*Adapter)(nil)
	_ adapters.CaseDeliverer       = (*Adapter)(nil)
	_ adapters.StatusDeliverer     = (*Adapter)(nil)
	_ adapters.NoticeDeliverer     = (*Adapter)(nil)
	_ adapters.LicenseSource       = (*Adapter)(nil)
	_ adapters.UsageDeliverer      = (*Adapter)(nil)
	_ adapters.UsageBatchDeliverer = (*Adapter)(nil)
	_ io.Closer                    = (*Adapter)(nil)
)

// New builds the adapter for the partner p describes, decoding p.Config.
func New(p adapters.Params) (*Adapter, error) {
	p, err := p.WithDefaults()
	if err != nil {
		return nil, err
	}
	cfg, err := ParseConfig(p.Config)
	if err != nil {
		return nil, err
	}
	c, err := adapters.NewCaller(p, *cfg.MaxRetries)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return &Adapter{partner: p.PartnerID, endpoint: cfg.Endpoint, crypto: p.Crypto, caller: c}, nil
}

// Style returns "standard".
func (a *Adapter) Style() string { return Name }

// Endpoint returns the partner's base URL as configured (no trailing slash).
func (a *Adapter) Endpoint() string { return a.endpoint }

// Close releases idle connections. The adapter stays usable.
func (a *Adapter) Close() error { return a.caller.Close() }

// DeliverCase POSTs d to {endpoint}/cases and returns the partner's
// verified acknowledgement, its exact bytes and its DER signature.
func (a *Adapter) DeliverCase(ctx context.Context, d *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
	if d == nil {
		return nil, nil, nil, adapters.Permanent("no case delivery", nil)
	}
	body, err := contracts.MarshalCaseDelivery(d) // json.Marshal's bytes, in one buffer
	if err != nil {
		return nil, nil, nil, adapters.Permanent("encode case delivery", err)
	}
	return a.deliver(ctx, a.endpoint+"/cases", body, adapters.AckExpectation{
		ExchangeID: d.ExchangeID, DeliveryID: d.DeliveryID, Case: true,
	})
}

// DeliverStatus POSTs d to {endpoint}/cases/{case_id}/status and returns
// the partner's verified acknowledgement, its exact bytes and its DER
// signature.
func (a *Adapter) DeliverStatus(ctx context.Context, d *contracts.StatusDelivery) (*contracts.Ack, []byte, []byte, error) {
	if d == nil {
		return nil, nil, nil, adapters.Permanent("no status delivery", nil)
	}
	if d.CaseID == "" {
		return nil, nil, nil, adapters.Permanent("status delivery has no case_id", nil)
	}
	return a.deliverJSON(ctx, "/cases/"+url.PathEscape(d.CaseID)+"/status", "status delivery", d, d.ExchangeID, d.DeliveryID)
}

// DeliverNotice POSTs d to {endpoint}/notices and returns the partner's
// verified acknowledgement, its exact bytes and its DER signature, as
// DeliverStatus does.
func (a *Adapter) DeliverNotice(ctx context.Context, d *contracts.NoticeDelivery) (*contracts.Ack, []byte, []byte, error) {
	if d == nil {
		return nil, nil, nil, adapters.Permanent("no notice delivery", nil)
	}
	if d.DeliveryID == "" || d.CaseID == "" {
		return nil, nil, nil, adapters.Permanent("notice delivery has no delivery_id or case_id", nil)
	}
	return a.deliverJSON(ctx, "/notices", "notice delivery", d, d.ExchangeID, d.DeliveryID)
}

// DeliverUsage POSTs d to {endpoint}/licenses/usage (用证记录回传) and
// returns the partner's verified acknowledgement, its exact bytes and its
// DER signature. Attempts are retried inside the call like the other
// deliveries.
func (a *Adapter) DeliverUsage(ctx context.Context, d *contracts.UsageRecordDelivery) (*contracts.Ack, []byte, []byte, error) {
	if d == nil {
		return nil, nil, nil, adapters.Permanent("no usage record delivery", nil)
	}
	return a.deliverJSON(ctx, "/licenses/usage", "usage record delivery", d, d.ExchangeID, d.DeliveryID)
}

// DeliverUsageBatch POSTs b to {endpoint}/licenses/usage/batch and returns
// the partner's verified batch acknowledgement, its exact bytes and its
// DER signature. Attempts are retried inside the call like the
// deliveries'.
func (a *Adapter) DeliverUsageBatch(ctx context.Context, b *contracts.UsageRecordBatch) (*contracts.UsageBatchAck, []byte, []byte, error) {
	if err := adapters.CheckBatch(b); err != nil {
		return nil, nil, nil, err
	}
	body, err := json.Marshal(b)
	if err != nil {
		return nil, nil, nil, adapters.Permanent("encode usage record batch", err)
	}
	ans, err := a.caller.Do(ctx, adapters.Request{URL: a.endpoint + "/licenses/usage/batch", Body: body, What: "batch acknowledgement"})
	if err != nil {
		return nil, nil, nil, err
	}
	want := adapters.BatchExpectation(b)
	want.BodySM3, want.KeyID = a.crypto.SM3Hex(body), ans.KeyID
	var ack contracts.UsageBatchAck
	if err := adapters.DecodeJSON(ans.Body, &ack); err != nil {
		return nil, nil, nil, withStatus(adapters.Permanent("partner's batch acknowledgement is malformed",
			fmt.Errorf("%w: %w", adapters.ErrMalformedAck, err)), ans.Status)
	}
	if err := adapters.CheckBatchAck(&ack, want); err != nil {
		return nil, nil, nil, withStatus(err, ans.Status)
	}
	return &ack, ans.Body, ans.Sig, nil
}

// deliverJSON POSTs v, JSON, to path under the endpoint and returns the
// verified acknowledgement of the delivery (exchangeID, deliveryID); what
// names v in errors.
func (a *Adapter) deliverJSON(ctx context.Context, path, what string, v any, exchangeID, deliveryID string) (*contracts.Ack, []byte, []byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, nil, nil, adapters.Permanent("encode "+what, err)
	}
	return a.deliver(ctx, a.endpoint+path, body, adapters.AckExpectation{ExchangeID: exchangeID, DeliveryID: deliveryID})
}

func (a *Adapter) deliver(ctx context.Context, target string, body []byte, want adapters.AckExpectation) (*contracts.Ack, []byte, []byte, error) {
	ans, err := a.caller.Do(ctx, adapters.Request{URL: target, Body: body, What: "acknowledgement"})
	if err != nil {
		return nil, nil, nil, err
	}
	want.BodySM3 = a.crypto.SM3Hex(body)
	want.KeyID = ans.KeyID
	ack, err := acceptAck(ans.Body, want)
	if err != nil {
		return nil, nil, nil, withStatus(err, ans.Status)
	}
	return ack, ans.Body, ans.Sig, nil
}

// acceptAck parses an acknowledgement strictly (one JSON object, no
// unknown fields, no trailing data) and checks that it acknowledges the
// delivery want describes (adapters.CheckAck). Every failure is a
// permanent *adapters.Error wrapping ErrMalformedAck or ErrAckMismatch.
func acceptAck(raw []byte, want adapters.AckExpectation) (*contracts.Ack, error) {
	var ack contracts.Ack
	if err := adapters.DecodeJSON(raw, &ack); err != nil {
		return nil, adapters.Permanent("partner's acknowledgement is malformed", fmt.Errorf("%w: %w", adapters.ErrMalformedAck, err))
	}
	if err := adapters.CheckAck(&ack, want); err != nil {
		return nil, err
	}
	return &ack, nil
}

// withStatus sets the partner's HTTP status on an *adapters.Error.
func withStatus(err error, status int) error {
	var e *adapters.Error
	if errors.As(err, &e) {
		e.Status = status
	}
	return err
}
