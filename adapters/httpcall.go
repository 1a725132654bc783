package adapters

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Header names of the wire convention.
const (
	HeaderSignature   = "Gw-Signature"
	HeaderKeyID       = "Gw-Key-Id"
	HeaderTraceparent = "Traceparent"
)

// Limits and defaults of a Caller.
const (
	// DefaultMaxRetries is the number of quick retries inside one delivery
	// attempt when a style's config does not say.
	DefaultMaxRetries = 2
	// MaxMaxRetries bounds in-attempt retries: longer outages are the
	// gateway's retry policy's business, not one attempt's.
	MaxMaxRetries = 10
	// MaxAnswerSize bounds a partner's answer body; a longer one is
	// malformed.
	MaxAnswerSize = 1 << 20
	// RetryWaitMin and RetryWaitMax bound the pause between in-attempt
	// retries (exponential between them).
	RetryWaitMin = 50 * time.Millisecond
	RetryWaitMax = 500 * time.Millisecond
	// faultBodyLimit bounds how much of a non-2xx answer is read to
	// classify it: as much as an answer, so that a SOAP fault carrying a
	// long stack trace still parses.
	faultBodyLimit = MaxAnswerSize
)

// Caller makes the gateway's signed HTTP calls to one partner, the part
// every HTTP style shares: it signs the exact body with the gateway's key
// (Gw-Signature, Gw-Key-Id), records each call as an OpenTelemetry client
// span (a child of the span ctx carries) and passes it on as a W3C
// traceparent (with the global propagator), and, when the
// Crypto is a TokenIssuer, a bearer token for the partner; it rides out
// short outages with a few quick retries inside the attempt; it classifies
// failures with the shared rules (Classify) or a style's own (Request.Fault);
// and it accepts a 2xx answer only when the partner signed its exact bytes
// with a key registered for it. Redirects are never followed. It is safe
// for concurrent use.
type Caller struct {
	partner string
	crypto  Crypto
	client  *retryablehttp.Client
	// httpsOnly refuses plain http URLs: the partner's TLS is configured.
	httpsOnly bool
}

// NewCaller returns a Caller for the partner p describes, with maxRetries
// quick retries inside one call (0..MaxMaxRetries) and p.Timeout bounding
// each try. Its https calls use p.TLS (a copy), or TLS 1.2 or later with
// the system roots when p.TLS is nil; with p.TLS set it refuses plain http
// URLs (a permanent error: the configuration contradicts itself).
func NewCaller(p Params, maxRetries int) (*Caller, error) {
	p, err := p.WithDefaults()
	if err != nil {
		return nil, err
	}
	if maxRetries < 0 || maxRetries > MaxMaxRetries {
		return nil, fmt.Errorf("max_retries %d is out of range 0..%d", maxRetries, MaxMaxRetries)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64 // at least the dispatcher's workers, so connections are reused under load
	transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if p.TLS != nil {
		transport.TLSClientConfig = p.TLS.Clone()
		if transport.TLSClientConfig.MinVersion < tls.VersionTLS12 {
			transport.TLSClientConfig.MinVersion = tls.VersionTLS12
		}
	}
	c := &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport: transport,
			Timeout:   p.Timeout, // per try: retryablehttp calls Do once per try
			// A signed body must not be replayed to wherever a redirect
			// points; a 3xx is a permanent configuration error.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Logger: nil, // silenced: the gateway logs the classified outcome
		RequestLogHook: func(_ retryablehttp.Logger, req *http.Request, try int) {
			if try > 0 {
				trace.SpanFromContext(req.Context()).AddEvent("retry", trace.WithAttributes(attribute.Int("http.request.resend_count", try)))
			}
		},
		RetryWaitMin: RetryWaitMin,
		RetryWaitMax: RetryWaitMax,
		RetryMax:     maxRetries,
		CheckRetry:   checkRetry,
		Backoff: func(lo, hi time.Duration, n int, _ *http.Response) time.Duration {
			// nil response: never sleep for a Retry-After inside an attempt.
			return retryablehttp.DefaultBackoff(lo, hi, n, nil)
		},
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	return &Caller{partner: p.PartnerID, crypto: p.Crypto, client: c, httpsOnly: p.TLS != nil}, nil
}

// Close releases idle connections. The Caller stays usable.
func (c *Caller) Close() error {
	c.client.HTTPClient.CloseIdleConnections()
	return nil
}

// Request is one signed call.
type Request struct {
	// URL is the absolute URL to POST to.
	URL string
	// Body is the exact body; the gateway signs it.
	Body []byte
	// MediaType is the Content-Type; "" means application/json.
	MediaType string
	// Header holds extra headers (a SOAPAction, say).
	Header http.Header
	// Once makes exactly one try (a license lookup: a window is waiting).
	Once bool
	// What names the expected answer in errors ("acknowledgement",
	// "lookup answer").
	What string
	// Statuses are the 2xx statuses that carry the expected answer; nil
	// means 200 and 201. Another 2xx is a permanent ErrMalformedAck.
	Statuses []int
	// Fault, when set, classifies a non-2xx answer from its status, header
	// and body (at most MaxAnswerSize of it) before the shared rules do: a
	// non-nil *Error it returns wins (a SOAP fault, say). It also decides
	// whether such an answer is retried inside the call: only a retryable
	// one without Retry-After is.
	Fault func(status int, h http.Header, body []byte) *Error
}

// Answer is a partner's 2xx answer whose signature verified.
type Answer struct {
	Status    int
	MediaType string // of the Content-Type, "" when absent or unparsable
	Header    http.Header
	Body      []byte // exact bytes
	KeyID     string // Gw-Key-Id, registered for the partner
	Sig       []byte // DER SM2 signature over Body
}

type faultKey struct{}

// Do makes the call r describes and returns the partner's signed answer.
// Every failure is an *Error: transport errors and non-2xx answers are
// classified (Request.Fault first, then ClassifyAnswer); a 2xx answer
// larger than MaxAnswerSize, unsigned, or whose signature does not verify
// with a key registered for the partner is permanent (ErrMalformedAck,
// ErrBadSignature). Errors carry the partner's HTTP status when there was
// one.
//
// The call is one client span named "POST <partner id>" (in-attempt
// retries are events of it), a child of the span ctx carries (or of the
// remote span context it carries: the request a delivery stems from), and
// its traceparent goes to the partner.
func (c *Caller) Do(ctx context.Context, r Request) (ans *Answer, err error) {
	if r.What == "" {
		r.What = "answer"
	}
	ctx, span := tracer(ctx).Start(ctx, "POST "+c.partner, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(callAttributes(c.partner, r)...))
	defer func() { endCall(span, ans, err) }()
	return c.do(ctx, r)
}

// callAttributes describe a call on its span: never the body, the query or
// credentials.
func callAttributes(partner string, r Request) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		attribute.String("tongban.partner", partner),
		attribute.String("tongban.answer", r.What),
		attribute.String("http.request.method", http.MethodPost),
	}
	if u, err := url.Parse(r.URL); err == nil {
		host, port := u.Hostname(), u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		attrs = append(attrs, attribute.String("server.address", host), attribute.String("url.path", u.EscapedPath()))
		if n, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, attribute.Int("server.port", n))
		}
	}
	return attrs
}

// endCall records a call's outcome on its span and ends it.
func endCall(span trace.Span, ans *Answer, err error) {
	defer span.End()
	if ans != nil {
		span.SetAttributes(attribute.Int("http.response.status_code", ans.Status))
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		span.SetStatus(codes.Error, "call failed")
		return
	}
	if e.Status != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", e.Status))
	}
	kind := "retryable"
	if e.IsPermanent {
		kind = "permanent"
	}
	span.SetAttributes(attribute.String("error.type", kind))
	// PublicReason carries no URL nor dial detail, and no free text of the
	// partner's (it may name people): nothing personal reaches the trace.
	span.SetStatus(codes.Error, e.PublicReason())
}

func (c *Caller) do(ctx context.Context, r Request) (*Answer, error) {
	if u, err := url.Parse(r.URL); c.httpsOnly && (err != nil || u.Scheme != "https") {
		return nil, Permanent("partner "+c.partner+" has tls configured, its endpoint must be https", nil)
	}
	mediaType := r.MediaType
	if mediaType == "" {
		mediaType = "application/json"
	}
	sig, err := c.crypto.Sign(r.Body)
	if err != nil {
		return nil, Retryable("sign the call", err)
	}
	h := http.Header{}
	for k, v := range r.Header {
		h[k] = v
	}
	h.Set("Content-Type", mediaType)
	h.Set("User-Agent", "tongban-gateway")
	h.Set(HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	h.Set(HeaderKeyID, c.crypto.KeyID())
	InjectTrace(ctx, h)
	if ti, ok := c.crypto.(TokenIssuer); ok {
		tok, err := ti.IssueToken(c.partner)
		if err != nil {
			return nil, Retryable("issue bearer token", err)
		}
		h.Set("Authorization", "Bearer "+tok)
	}

	var resp *http.Response
	if r.Once {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
		if err != nil {
			return nil, Permanent("build request", err)
		}
		req.Header = h
		// The retrying client's http.Client: one try, the shared pool, the
		// per-try timeout and the no-redirect rule.
		resp, err = c.client.HTTPClient.Do(req)
		if err != nil {
			return nil, Classify(nil, err)
		}
	} else {
		if r.Fault != nil {
			ctx = context.WithValue(ctx, faultKey{}, r.Fault)
		}
		req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, r.URL, r.Body)
		if err != nil {
			return nil, Permanent("build request", err)
		}
		req.Header = h
		resp, err = c.client.Do(req)
		if err != nil {
			if resp != nil {
				resp.Body.Close()
			}
			return nil, Classify(nil, err)
		}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	return c.answer(resp, r)
}

// answer reads and checks the answer to r.
func (c *Caller) answer(resp *http.Response, r Request) (*Answer, error) {
	withStatus := func(e *Error) *Error { e.Status = resp.StatusCode; return e }
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, faultBodyLimit))
		return nil, classifyFault(resp.StatusCode, resp.Header, body, r.Fault)
	}
	ok := r.Statuses
	if ok == nil {
		ok = []int{http.StatusOK, http.StatusCreated}
	}
	if !slices.Contains(ok, resp.StatusCode) {
		return nil, withStatus(Permanent(fmt.Sprintf("partner answered %d, want %d with a signed %s", resp.StatusCode, ok[0], r.What), ErrMalformedAck))
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerSize+1))
	if err != nil {
		e := Classify(nil, err).(*Error)
		return nil, withStatus(e)
	}
	if len(raw) > MaxAnswerSize {
		return nil, withStatus(Permanent(fmt.Sprintf("%s exceeds %d bytes", r.What, MaxAnswerSize), ErrMalformedAck))
	}
	keyID, sig, err := c.CheckSignature(raw, resp.Header, r.What)
	if err != nil {
		return nil, withStatus(err.(*Error))
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		mt = ""
	}
	return &Answer{Status: resp.StatusCode, MediaType: mt, Header: resp.Header, Body: raw, KeyID: keyID, Sig: sig}, nil
}

// classifyFault classifies a non-2xx answer: fault first, then the shared
// rules.
func classifyFault(status int, h http.Header, body []byte, fault func(int, http.Header, []byte) *Error) *Error {
	if fault != nil {
		if e := fault(status, h, body); e != nil {
			if e.Status == 0 {
				e.Status = status
			}
			return e
		}
	}
	return ClassifyAnswer(status, h, body).(*Error)
}

// CheckSignature verifies the partner's Gw-Signature over raw with the
// key Gw-Key-Id names, which must be registered for the partner, and
// returns the key id and the DER signature. what names the answer in
// errors. Every failure is a permanent *Error wrapping ErrBadSignature.
func (c *Caller) CheckSignature(raw []byte, h http.Header, what string) (keyID string, sig []byte, err error) {
	keyID = h.Get(HeaderKeyID)
	sigB64 := h.Get(HeaderSignature)
	if keyID == "" || sigB64 == "" {
		return "", nil, Permanent("partner's "+what+" has no Gw-Signature or Gw-Key-Id", ErrBadSignature)
	}
	sig, err = base64.StdEncoding.Strict().DecodeString(sigB64)
	if err != nil {
		return "", nil, Permanent("partner's Gw-Signature is not standard base64", ErrBadSignature)
	}
	if err := c.crypto.VerifyBody(c.partner, keyID, raw, sig); err != nil {
		return "", nil, Permanent(
			fmt.Sprintf("partner's %s signature does not verify with key %q of partner %s", what, clip(keyID, 64), c.partner),
			fmt.Errorf("%w: %w", ErrBadSignature, err))
	}
	return keyID, sig, nil
}

// checkRetry retries a try inside one call when the failure is retryable
// and the partner did not ask for a pause.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, nil // the transport error carries the context's
	}
	if err != nil {
		var e *Error
		if errors.As(Classify(nil, err), &e) && e.IsPermanent {
			return false, nil
		}
		return true, nil
	}
	c := resp.StatusCode
	if c >= 200 && c <= 399 {
		return false, nil
	}
	if fault, ok := ctx.Value(faultKey{}).(func(int, http.Header, []byte) *Error); ok {
		// Read the answer to classify it, then put it back for the caller.
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, faultBodyLimit))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if rerr != nil {
			return true, nil
		}
		e := classifyFault(c, resp.Header, body, fault)
		return !e.IsPermanent && e.After == 0 && c != http.StatusTooManyRequests, nil
	}
	switch {
	case c == http.StatusTooManyRequests:
		return false, nil
	case c >= 500 || c == http.StatusRequestTimeout:
		return resp.Header.Get("Retry-After") == "", nil
	}
	return false, nil
}
