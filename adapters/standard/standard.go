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
//	POST {endpoint}/licenses/usage           UsageRecordDelivery  → Ack
//	POST {endpoint}/licenses/lookup          LicenseLookupRequest → LicenseLookupResponse
//
// with Content-Type application/json, Gw-Signature (standard base64 of the
// gateway's DER SM2 signature over the exact body), Gw-Key-Id, traceparent
// when the context carries one (adapters.WithTraceparent), and
// Authorization: Bearer when the Crypto is an adapters.TokenIssuer.
//
// # Deliveries
//
// Cases, status updates and usage records (用证记录) are deliveries. The
// partner answers 200 (or 201) with a JSON Ack signed over its exact bytes
// (Gw-Signature, Gw-Key-Id). The adapter accepts the answer only if the
// signature verifies with a key registered for the partner, the Ack names
// the same exchange_id (and delivery_id, when it names one) and key id, and
// its body_sm3 is the SM3 of the exact bytes sent; otherwise the attempt
// fails permanently.
//
// Short outages are ridden out inside one attempt: connection errors, 408
// and 5xx without Retry-After are retried max_retries times (50–500 ms
// apart, each try bounded by Params.Timeout, so one call lasts at most about
// (max_retries+1) × Timeout plus one second). 429 and answers carrying
// Retry-After are returned at once so the gateway can honour the pause.
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
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// Name is the name the adapter is registered under.
const Name = "standard"

// Limits and defaults.
const (
	// DefaultMaxRetries is the number of in-attempt retries when the
	// config does not say.
	DefaultMaxRetries = 2
	// MaxMaxRetries bounds max_retries: longer outages are the gateway's
	// retry policy's business, not one attempt's.
	MaxMaxRetries = 10
	// MaxAckSize bounds the acknowledgement body read from a partner.
	MaxAckSize = 1 << 20
	// RetryWaitMin and RetryWaitMax bound the pause between in-attempt
	// retries (exponential between them).
	RetryWaitMin = 50 * time.Millisecond
	RetryWaitMax = 500 * time.Millisecond
)

// Header names of the wire convention.
const (
	HeaderSignature   = "Gw-Signature"
	HeaderKeyID       = "Gw-Key-Id"
	HeaderTraceparent = "Traceparent"
)

func init() {
	adapters.Register(adapters.Style{
		Name:    Name,
		Summary: "the gateway's own JSON contract: signed POSTs of cases, status updates, usage records and license lookups",
		Capabilities: []adapters.Capability{
			adapters.CapCaseDelivery, adapters.CapStatusDelivery, adapters.CapLicenseLookup, adapters.CapUsageRecords,
		},
		Factory: func(p adapters.Params) (adapters.Adapter, error) {
			a, err := New(p)
			if err != nil {
				return nil, err
			}
			return a, nil
		},
	})
}

// Config is the partner's adapter block.
type Config struct {
	// Endpoint is the partner's base URL, absolute http or https; the
	// adapter appends /cases, /cases/{case_id}/status, /licenses/usage and
	// /licenses/lookup.
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
	client   *retryablehttp.Client
}

// Compile-time guards: the port, and the optional capabilities.
var (
	_ adapters.Adapter         = (*Adapter)(nil)
	_ adapters.CaseDeliverer   = (*Adapter)(nil)
	_ adapters.StatusDeliverer = (*Adapter)(nil)
	_ adapters.LicenseSource   = (*Adapter)(nil)
	_ adapters.UsageReceiver   = (*Adapter)(nil)
	_ io.Closer                = (*Adapter)(nil)
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
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64 // at least the dispatcher's workers, so connections are reused under load
	c := &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport: transport,
			Timeout:   p.Timeout, // per try: retryablehttp calls Do once per try
			// A signed body must not be replayed to wherever a redirect
			// points; a 3xx is a permanent configuration error.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Logger:       nil, // silenced: the gateway logs the classified outcome
		RetryWaitMin: RetryWaitMin,
		RetryWaitMax: RetryWaitMax,
		RetryMax:     *cfg.MaxRetries,
		CheckRetry:   checkRetry,
		Backoff: func(lo, hi time.Duration, n int, _ *http.Response) time.Duration {
			// nil response: never sleep for a Retry-After inside an attempt.
			return retryablehttp.DefaultBackoff(lo, hi, n, nil)
		},
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	return &Adapter{partner: p.PartnerID, endpoint: cfg.Endpoint, crypto: p.Crypto, client: c}, nil
}

// Style returns "standard".
func (a *Adapter) Style() string { return Name }

// Endpoint returns the partner's base URL as configured (no trailing slash).
func (a *Adapter) Endpoint() string { return a.endpoint }

// Close releases idle connections. The adapter stays usable.
func (a *Adapter) Close() error {
	a.client.HTTPClient.CloseIdleConnections()
	return nil
}

// checkRetry retries a try inside one attempt when the failure is
// retryable and the partner did not ask for a pause.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, nil // the transport error carries the context's
	}
	if err != nil {
		var e *adapters.Error
		if errors.As(adapters.Classify(nil, err), &e) && e.IsPermanent {
			return false, nil
		}
		return true, nil
	}
	switch c := resp.StatusCode; {
	case c == http.StatusTooManyRequests:
		return false, nil
	case c >= 500 || c == http.StatusRequestTimeout:
		return resp.Header.Get("Retry-After") == "", nil
	}
	return false, nil
}

// expect is what an acknowledgement must say to acknowledge one delivery.
type expect struct {
	exchangeID string
	deliveryID string
	bodySM3    string
	caseNo     bool // a case delivery: partner_case_no is required
}

// DeliverCase POSTs d to {endpoint}/cases and returns the partner's
// verified acknowledgement, its exact bytes and its DER signature.
func (a *Adapter) DeliverCase(ctx context.Context, d *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
	if d == nil {
		return nil, nil, nil, adapters.Permanent("no case delivery", nil)
	}
	body, err := json.Marshal(d)
	if err != nil {
		return nil, nil, nil, adapters.Permanent("encode case delivery", err)
	}
	return a.deliver(ctx, a.endpoint+"/cases", body, expect{
		exchangeID: d.ExchangeID, deliveryID: d.DeliveryID, caseNo: true,
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
	body, err := json.Marshal(d)
	if err != nil {
		return nil, nil, nil, adapters.Permanent("encode status delivery", err)
	}
	return a.deliver(ctx, a.endpoint+"/cases/"+url.PathEscape(d.CaseID)+"/status", body, expect{
		exchangeID: d.ExchangeID, deliveryID: d.DeliveryID,
	})
}

// DeliverUsage POSTs d to {endpoint}/licenses/usage (用证记录回传) and
// returns the partner's verified acknowledgement, its exact bytes and its
// DER signature. Attempts are retried inside the call like the other
// deliveries.
func (a *Adapter) DeliverUsage(ctx context.Context, d *contracts.UsageRecordDelivery) (*contracts.Ack, []byte, []byte, error) {
	if d == nil {
		return nil, nil, nil, adapters.Permanent("no usage record delivery", nil)
	}
	body, err := json.Marshal(d)
	if err != nil {
		return nil, nil, nil, adapters.Permanent("encode usage record delivery", err)
	}
	return a.deliver(ctx, a.endpoint+"/licenses/usage", body, expect{
		exchangeID: d.ExchangeID, deliveryID: d.DeliveryID,
	})
}

// signedHeaders returns the headers of a call carrying body: content type,
// the gateway's signature and key id, the trace context of ctx and, when
// the Crypto can mint one, a bearer token for the partner. what names the
// call in errors ("delivery", "lookup").
func (a *Adapter) signedHeaders(ctx context.Context, body []byte, what string) (http.Header, error) {
	sig, err := a.crypto.Sign(body)
	if err != nil {
		return nil, adapters.Retryable("sign "+what, err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	h.Set("User-Agent", "tongban-gateway")
	h.Set(HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	h.Set(HeaderKeyID, a.crypto.KeyID())
	if tp := adapters.Traceparent(ctx); tp != "" {
		h.Set(HeaderTraceparent, tp)
	}
	if ti, ok := a.crypto.(adapters.TokenIssuer); ok {
		tok, err := ti.IssueToken(a.partner)
		if err != nil {
			return nil, adapters.Retryable("issue bearer token", err)
		}
		h.Set("Authorization", "Bearer "+tok)
	}
	return h, nil
}

func (a *Adapter) deliver(ctx context.Context, target string, body []byte, want expect) (*contracts.Ack, []byte, []byte, error) {
	h, err := a.signedHeaders(ctx, body, "delivery")
	if err != nil {
		return nil, nil, nil, err
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, target, body)
	if err != nil {
		return nil, nil, nil, adapters.Permanent("build request", err)
	}
	for k, v := range h {
		req.Header[k] = v
	}

	resp, err := a.client.Do(req)
	if resp != nil {
		defer func() {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}()
	}
	if err != nil {
		return nil, nil, nil, adapters.Classify(nil, err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		if err := adapters.Classify(resp, nil); err != nil {
			return nil, nil, nil, err
		}
		return nil, nil, nil, &adapters.Error{
			Reason: fmt.Sprintf("partner answered %d, want 200 with a signed acknowledgement", resp.StatusCode),
			Status: resp.StatusCode, IsPermanent: true, Err: adapters.ErrMalformedAck,
		}
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxAckSize+1))
	if err != nil {
		e := adapters.Classify(nil, err).(*adapters.Error)
		e.Status = resp.StatusCode
		return nil, nil, nil, e
	}
	if len(raw) > MaxAckSize {
		return nil, nil, nil, &adapters.Error{
			Reason: fmt.Sprintf("acknowledgement exceeds %d bytes", MaxAckSize),
			Status: resp.StatusCode, IsPermanent: true, Err: adapters.ErrMalformedAck,
		}
	}
	want.bodySM3 = a.crypto.SM3Hex(body)
	ack, ackSig, err := a.verify(raw, resp.Header, want)
	if err != nil {
		var e *adapters.Error
		if errors.As(err, &e) {
			e.Status = resp.StatusCode
		}
		return nil, nil, nil, err
	}
	return ack, raw, ackSig, nil
}

// verify checks the partner's signature over raw, then the Ack it holds.
func (a *Adapter) verify(raw []byte, h http.Header, want expect) (*contracts.Ack, []byte, error) {
	keyID, sig, err := a.checkSignature(raw, h, "acknowledgement")
	if err != nil {
		return nil, nil, err
	}
	ack, err := want.accept(raw, keyID)
	if err != nil {
		return nil, nil, err
	}
	return ack, sig, nil
}

// checkSignature verifies the partner's Gw-Signature over raw with the key
// Gw-Key-Id names, which must be registered for the partner, and returns
// the key id and the DER signature. what names the answer in errors. Every
// failure is a permanent *adapters.Error wrapping ErrBadSignature.
func (a *Adapter) checkSignature(raw []byte, h http.Header, what string) (keyID string, sig []byte, err error) {
	keyID = h.Get(HeaderKeyID)
	sigB64 := h.Get(HeaderSignature)
	if keyID == "" || sigB64 == "" {
		return "", nil, adapters.Permanent("partner's "+what+" has no Gw-Signature or Gw-Key-Id", adapters.ErrBadSignature)
	}
	sig, err = base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		return "", nil, adapters.Permanent("partner's Gw-Signature is not standard base64", adapters.ErrBadSignature)
	}
	if err := a.crypto.VerifyBody(a.partner, keyID, raw, sig); err != nil {
		return "", nil, adapters.Permanent(
			fmt.Sprintf("partner's %s signature does not verify with key %q of partner %s", what, clip(keyID, 64), a.partner),
			fmt.Errorf("%w: %w", adapters.ErrBadSignature, err))
	}
	return keyID, sig, nil
}

// accept parses an acknowledgement body strictly and checks that it
// acknowledges the delivery want describes, signed under keyID. Every
// failure is a permanent *adapters.Error wrapping ErrMalformedAck or
// ErrAckMismatch.
func (want expect) accept(raw []byte, keyID string) (*contracts.Ack, error) {
	ack, err := parseAck(raw)
	if err != nil {
		return nil, adapters.Permanent("partner's acknowledgement is malformed", fmt.Errorf("%w: %w", adapters.ErrMalformedAck, err))
	}
	mismatch := func(format string, args ...any) error {
		return adapters.Permanent(fmt.Sprintf(format, args...), adapters.ErrAckMismatch)
	}
	switch {
	case ack.ExchangeID != want.exchangeID:
		return nil, mismatch("acknowledgement names exchange %q, sent %q", ack.ExchangeID, want.exchangeID)
	case ack.DeliveryID != "" && ack.DeliveryID != want.deliveryID:
		return nil, mismatch("acknowledgement names delivery %q, sent %q", ack.DeliveryID, want.deliveryID)
	case ack.BodySM3 != want.bodySM3:
		return nil, mismatch("acknowledgement body_sm3 %s is not the SM3 of the body sent (%s)", ack.BodySM3, want.bodySM3)
	case ack.KeyID != keyID:
		return nil, mismatch("acknowledgement key_id %q differs from Gw-Key-Id %q", ack.KeyID, keyID)
	case want.caseNo && ack.PartnerCaseNo == "":
		return nil, adapters.Permanent("acknowledgement of a case has no partner_case_no", adapters.ErrMalformedAck)
	}
	return ack, nil
}

// parseAck decodes an Ack strictly: one JSON object, no unknown fields, the
// required fields present and well formed.
func parseAck(raw []byte) (*contracts.Ack, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var ack contracts.Ack
	if err := dec.Decode(&ack); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	switch {
	case contracts.ValidateUUID(ack.ExchangeID) != nil:
		return nil, errors.New("exchange_id is not a canonical UUID")
	case ack.AcknowledgedAt.IsZero():
		return nil, errors.New("acknowledged_at is missing")
	case contracts.ValidateSM3Hex("body_sm3", ack.BodySM3) != nil:
		return nil, errors.New("body_sm3 is not 64 lowercase hex digits")
	case ack.KeyID == "":
		return nil, errors.New("key_id is missing")
	case len(ack.PartnerCaseNo) > 64:
		return nil, errors.New("partner_case_no is longer than 64 bytes")
	case strings.ContainsFunc(ack.PartnerCaseNo, isControl), strings.ContainsFunc(ack.KeyID, isControl):
		return nil, errors.New("partner_case_no or key_id holds control characters")
	}
	return &ack, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
