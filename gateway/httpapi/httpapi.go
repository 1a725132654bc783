// Package httpapi is the gateway's HTTP edge: echo routes for the v1
// contract, caller authentication (bearer JWT, alg SM2), rate limits per
// caller and per client address (see RateLimits), bounded bodies, and
// one table from core errors to HTTP statuses. Handlers are thin: bind,
// one call into the core, answer.
//
// Every request gets a request id, a server span continuing the caller's
// traceparent, and its count and latency in the metrics (see observe);
// GET /healthz, /readyz (named, bounded, cached checks: see Check) and
// /metrics need no authentication.
package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/licenses"
	"github.com/tongban/tongban/gateway/outbox"
	"github.com/tongban/tongban/gateway/port"
	"github.com/tongban/tongban/gateway/telemetry"
)

// Header names of the wire contract.
const (
	HeaderSignature = "Gw-Signature"
	HeaderKeyID     = "Gw-Key-Id"
)

// DefaultMaxBody bounds request bodies unless Options.MaxBody says otherwise.
const DefaultMaxBody = 8 << 20

// Options wires the HTTP layer.
type Options struct {
	// The core, one interface per sub-domain (see services.go). A
	// gateway sets them all; a test may leave out those whose routes it
	// does not call. Audit nil records no denials.
	Cases      Cases
	Licenses   Licenses
	Mailbox    Mailbox
	Redelivery Redelivery
	Audit      Audit
	Crypto     gateway.Crypto
	Directory  *gateway.Directory
	MaxBody    int64 // bytes; default DefaultMaxBody
	// Log receives the layer's lines; nil means slog.Default(). Its handler
	// is wrapped with telemetry.NewLogHandler (request_id, trace_id,
	// masking) unless it already is.
	Log *slog.Logger
	// Telemetry makes the server spans and HTTP metrics and serves
	// GET /metrics; nil means a private one that exports no span (trace
	// ids still flow) and serves only this layer's metrics.
	Telemetry *telemetry.Telemetry
	// Version is the build version /healthz and /readyz report.
	Version string
	// Checks are the readiness checks GET /readyz runs (see Check); none
	// means always ready.
	Checks []Check
	// CheckTimeout bounds each check; default DefaultCheckTimeout.
	CheckTimeout time.Duration
	// CheckCache is how long a check's result is reused; default
	// DefaultCheckCache, negative turns the cache off.
	CheckCache time.Duration
	// Now is the readiness cache's clock; nil means time.Now.
	Now func() time.Time
	// PeerCheck, when set, runs after the token is verified: it decides
	// whether the token's caller may call over the request's connection
	// (its TLS state, nil over plain HTTP), the client certificate
	// binding (tlsconf.Binder.Check). Its *gateway.Error is the answer.
	PeerCheck func(caller string, state *tls.ConnectionState) error
	// RateLimits bound how fast each caller is served (see RateLimits);
	// the zero value limits nothing.
	RateLimits RateLimits
	// Partners, Keys and Reloader serve the operator views (admin.go);
	// a view left nil answers not_found.
	Partners Partners
	Keys     Keys
	Reloader Reloader
	// Stats is the history GET /v1/admin/stats answers; nil answers
	// unavailable.
	Stats StatsSource
}

type api struct {
	Options
	tracer    trace.Tracer
	metrics   instruments
	readiness *readiness
	limiter   *rateLimiter
}

// New returns the echo instance serving the v1 contract, the probes and
// the metrics.
func New(o Options) *echo.Echo {
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	o.Log = telemetry.WrapLogger(o.Log)
	if o.Telemetry == nil {
		t, err := telemetry.New(context.Background(), telemetry.Config{SamplingRatio: telemetry.DefaultSamplingRatio})
		if err != nil {
			panic(err) // no exporter, a fresh registry: cannot fail
		}
		o.Telemetry = t
	}
	a := &api{
		Options:   o,
		tracer:    o.Telemetry.Tracer(telemetry.ScopeHTTP),
		metrics:   newInstruments(o.Telemetry.Meter(telemetry.ScopeHTTP)),
		readiness: newReadiness(o.Checks, o.CheckTimeout, o.CheckCache, o.Now, o.Log),
		limiter:   newRateLimiter(o.RateLimits, o.Telemetry.Meter(telemetry.ScopeHTTP)),
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = a.errorHandler
	e.Use(requestIDs, a.observe)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
		o.Log.ErrorContext(c.Request().Context(), "panic in handler", "err", err, "stack", string(stack))
		return err
	}}))

	e.GET("/healthz", a.healthz)
	e.GET("/readyz", a.readyz)
	e.GET("/metrics", echo.WrapHandler(o.Telemetry.MetricsHandler()))
	e.GET("/v1/openapi.yaml", func(c echo.Context) error { return c.Blob(http.StatusOK, "application/yaml", contracts.OpenAPI) })

	v1 := e.Group("/v1", a.limiter.limitAnonymous, a.authenticate, a.limiter.limitCallers)
	v1.POST("/cases", a.submitCase)
	v1.GET("/cases/:case_id", a.getCase)
	v1.POST("/cases/:case_id/status", a.reportStatus)
	v1.POST("/cases/:case_id/evaluation", a.signedCaseCall(a.Cases.Evaluate))
	v1.POST("/cases/:case_id/evaluation/reply", a.signedCaseCall(a.Cases.ReplyFollowUp))
	v1.POST("/bundles", a.submitBundle)
	v1.GET("/catalogue", a.catalogue)
	v1.GET("/admin/deliveries", a.listDeliveries)
	v1.POST("/admin/deliveries/:delivery_id/redeliver", a.redeliver)
	v1.POST("/admin/partners/:partner_id/redeliver", a.redeliverPartner)
	v1.GET("/admin/partners", a.listPartners)
	v1.GET("/admin/keys", a.listKeys)
	v1.POST("/admin/keys", a.addKey)
	v1.DELETE("/admin/keys/:caller/:key_id", a.revokeKey)
	v1.POST("/admin/reload", a.reload)
	v1.GET("/admin/stats", a.stats)
	v1.POST("/licenses/verify", a.verifyLicense)
	v1.POST("/licenses/verify/batch", a.verifyLicenseBatch)
	v1.GET("/licenses/usage", a.listUsage)
	v1.GET("/mailbox", a.pollMailbox)
	v1.POST("/mailbox/ack", a.ackMailbox)
	v1.POST("/inbound/:partner_id", a.native)
	v1.POST("/inbound/:partner_id/:operation", a.native)
	v1.GET("/audit/exchanges", a.searchExchanges)
	v1.GET("/audit/cases/:case_id/trace", a.traceCase)
	v1.GET("/audit/verify", a.verifyEvidence)
	v1.GET("/audit/cases/:case_id/export", a.exportCase)
	return e
}

// requestIDs gives every request a fresh id (X-Request-Id on the response,
// request_id in errors and logs). An id sent by the client is ignored: ids
// must be unique and safe to log.
func requestIDs(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := contracts.NewUUIDv7(time.Now(), rand.Reader)
		if err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

const principalKey = "tongban.principal"

func principal(c echo.Context) gateway.Principal { return c.Get(principalKey).(gateway.Principal) }

func requestID(c echo.Context) string { return c.Response().Header().Get(echo.HeaderXRequestID) }

// authenticate verifies the bearer token and resolves the caller.
func (a *api) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return &gateway.Error{Code: contracts.CodeUnauthenticated, Message: "Authorization: Bearer <JWT> is required"}
		}
		info, err := a.Crypto.VerifyToken(tok)
		if err != nil {
			code := contracts.CodeUnauthenticated
			switch {
			case errors.Is(err, gateway.ErrTokenExpired):
				code = contracts.CodeTokenExpired
			case errors.Is(err, gateway.ErrUnknownKey):
				code = contracts.CodeUnknownKey
			}
			return &gateway.Error{Code: code, Message: "bearer token refused", Err: err}
		}
		p := a.Directory.Get(info.Issuer)
		if p == nil {
			return &gateway.Error{Code: contracts.CodeUnauthenticated, Message: "caller " + info.Issuer + " is not configured"}
		}
		c.Set(principalKey, gateway.Principal{Partner: p, Subject: info.Subject, TokenID: info.ID, KeyID: info.KeyID})
		trace.SpanFromContext(c.Request().Context()).SetAttributes(attribute.String(attrCaller, p.ID))
		if a.PeerCheck != nil {
			if err := a.PeerCheck(p.ID, c.Request().TLS); err != nil {
				return err
			}
		}
		return next(c)
	}
}

// inbound reads a signed JSON body: content type (application/json, a
// charset parameter only utf-8), size bound, headers.
func (a *api) inbound(c echo.Context) (gateway.Inbound, error) {
	mt, params, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEApplicationJSON {
		return gateway.Inbound{}, &gateway.Error{Code: contracts.CodeUnsupportedMedia, Message: "Content-Type must be application/json"}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return gateway.Inbound{}, &gateway.Error{Code: contracts.CodeUnsupportedMedia, Message: "Content-Type charset must be utf-8"}
	}
	return a.signedBody(c)
}

// signedBody reads a signed body of any media type: no content coding,
// size bound, headers. A compressed body is refused, not inflated: the
// signature covers the bytes as sent, and inflating would let a small
// request cost large memory.
func (a *api) signedBody(c echo.Context) (gateway.Inbound, error) {
	req := c.Request()
	for _, ce := range req.Header.Values(echo.HeaderContentEncoding) {
		if !strings.EqualFold(strings.TrimSpace(ce), "identity") {
			return gateway.Inbound{}, &gateway.Error{Code: contracts.CodeUnsupportedMedia, Message: "Content-Encoding is not supported: send the body uncompressed"}
		}
	}
	if req.ContentLength > a.MaxBody {
		return gateway.Inbound{}, tooLarge(a.MaxBody)
	}
	body, err := readBody(http.MaxBytesReader(c.Response(), req.Body, a.MaxBody), req.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return gateway.Inbound{}, tooLarge(a.MaxBody)
		}
		return gateway.Inbound{}, &gateway.Error{Code: contracts.CodeBadRequest, Message: "could not read the body", Err: err}
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(req.Header.Get(HeaderSignature))
	if err != nil {
		return gateway.Inbound{}, &gateway.Error{Code: contracts.CodeBadSignature, Message: "Gw-Signature is not standard base64"}
	}
	return gateway.Inbound{
		Caller: principal(c), Body: body, Signature: sig, KeyID: req.Header.Get(HeaderKeyID),
		TraceID: traceID(req),
	}, nil
}

// readBody reads a request body of declared length n (its Content-Length;
// -1 when unknown) from r, which bounds it. A body of known length is read
// into one buffer of exactly that size, so a large body is held once: read
// to its end, io.ReadAll grows its buffer by copying, and on the way holds
// the old and the new buffer, up to twice or three times the body at once.
// A body of unknown length (chunked) is read to its end, as r bounds it.
func readBody(r io.Reader, n int64) ([]byte, error) {
	if n < 0 {
		return io.ReadAll(r)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	// The server ends the body at its Content-Length; anything past it
	// is an error all the same.
	var one [1]byte
	if m, err := r.Read(one[:]); m > 0 || (err != nil && err != io.EOF) {
		if err == nil {
			err = errors.New("body longer than its Content-Length")
		}
		return nil, err
	}
	return body, nil
}

func tooLarge(limit int64) error {
	return &gateway.Error{Code: contracts.CodeBodyTooLarge, Message: "body exceeds " + humanBytes(limit)}
}

// traceID is the trace id (32 lowercase hex) of the request's server
// span; without a valid span, that of a well-formed traceparent header;
// else "".
func traceID(req *http.Request) string {
	if id := telemetry.TraceID(req.Context()); id != "" {
		return id
	}
	return telemetry.TraceID(propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(req.Header)))
}

// signed writes a signed receipt verbatim: 202 when new, 200 for a replay.
func signed(c echo.Context, s *gateway.Signed) error {
	status := http.StatusAccepted
	if s.Replay {
		status = http.StatusOK
	}
	return writeSigned(c, status, s)
}

// signedOK writes a signed answer (a verification result) with 200 OK.
func signedOK(c echo.Context, s *gateway.Signed) error { return writeSigned(c, http.StatusOK, s) }

// writeSigned writes s.Body verbatim with its Gw-Signature and Gw-Key-Id.
func writeSigned(c echo.Context, status int, s *gateway.Signed) error {
	h := c.Response().Header()
	h.Set(HeaderSignature, base64.StdEncoding.EncodeToString(s.Signature))
	h.Set(HeaderKeyID, s.KeyID)
	mt := s.MediaType
	if mt == "" {
		mt = echo.MIMEApplicationJSON
	}
	return c.Blob(status, mt, s.Body)
}

func (a *api) submitCase(c echo.Context) error {
	in, err := a.inbound(c)
	if err != nil {
		return err
	}
	ans, err := a.Cases.SubmitCase(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return signed(c, ans)
}

func (a *api) reportStatus(c echo.Context) error { return a.signedCaseCall(a.Cases.ReportStatus)(c) }

// signedCaseCall serves a signed JSON exchange about the case in the
// path (a status update, an evaluation, a reply) with op, answering its
// signed receipt.
func (a *api) signedCaseCall(op func(ctx context.Context, caseID string, in gateway.Inbound) (*gateway.Signed, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		in, err := a.inbound(c)
		if err != nil {
			return err
		}
		ans, err := op(c.Request().Context(), c.Param("case_id"), in)
		if err != nil {
			return err
		}
		return signed(c, ans)
	}
}

func (a *api) submitBundle(c echo.Context) error {
	in, err := a.inbound(c)
	if err != nil {
		return err
	}
	ans, err := a.Cases.SubmitBundle(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return signed(c, ans)
}

func (a *api) catalogue(c echo.Context) error {
	if err := onlyParams(c); err != nil {
		return err
	}
	v, err := a.Cases.Catalogue(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (a *api) verifyLicense(c echo.Context) error {
	in, err := a.inbound(c)
	if err != nil {
		return err
	}
	ans, err := a.Licenses.VerifyLicense(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return signedOK(c, ans)
}

func (a *api) verifyLicenseBatch(c echo.Context) error {
	in, err := a.inbound(c)
	if err != nil {
		return err
	}
	ans, err := a.Licenses.VerifyLicenseBatch(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return signedOK(c, ans)
}

// usageFilter reads and validates the query of GET /v1/licenses/usage.
func usageFilter(c echo.Context) (licenses.UsageFilter, error) {
	var f licenses.UsageFilter
	if err := onlyParams(c, "holder_id", "license_id", "caller", "from", "to", "cursor", "limit"); err != nil {
		return f, err
	}
	q := c.QueryParams()
	if v := q.Get("holder_id"); v != "" {
		if contracts.ValidateCitizenID(v) != nil && contracts.ValidateCreditCode(v) != nil {
			return f, badQuery("holder_id", "is neither a valid citizen ID nor a valid unified social credit code")
		}
		f.HolderID = v
	}
	if v := q.Get("license_id"); v != "" {
		if _, err := contracts.ParseLicenseID(v); err != nil {
			return f, &gateway.Error{Code: contracts.CodeInvalidLicenseID, Message: "license_id: " + err.Error()}
		}
		f.LicenseID = v
	}
	if v := q.Get("caller"); v != "" {
		if err := contracts.ValidateOpaqueID("caller", v); err != nil {
			return f, badQuery("caller", "is not a caller id")
		}
		f.Caller = v
	}
	if err := queryTimes(q, &f.From, &f.To); err != nil {
		return f, err
	}
	if v := q.Get("cursor"); v != "" {
		if contracts.ValidateUUID(v) != nil {
			return f, badQuery("cursor", "is not a cursor this endpoint returned")
		}
		f.Cursor = v
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > licenses.MaxUsagePage {
			return f, badQuery("limit", "must be an integer from 1 to "+strconv.Itoa(licenses.MaxUsagePage))
		}
		f.Limit = n
	}
	return f, nil
}

// queryTimes reads the RFC 3339 times of query parameters from and to,
// when given.
func queryTimes(q url.Values, from, to *time.Time) error {
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"from", from}, {"to", to}} {
		if v := q.Get(t.name); v != "" {
			tm, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return badQuery(t.name, "must be an RFC 3339 time")
			}
			*t.dst = tm
		}
	}
	return nil
}

func badQuery(name, msg string) error {
	return &gateway.Error{Code: contracts.CodeBadRequest, Message: "query parameter " + name + " " + msg}
}

func (a *api) listUsage(c echo.Context) error {
	f, err := usageFilter(c)
	if err != nil {
		return err
	}
	page, err := a.Licenses.ListUsage(c.Request().Context(), principal(c), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

// pollMailbox serves GET /v1/mailbox: after, wait (seconds) and limit.
func (a *api) pollMailbox(c echo.Context) error {
	q := c.QueryParams()
	var mq outbox.Query
	for name, vs := range q {
		switch name {
		case "after", "wait", "limit":
			if len(vs) > 1 {
				return badQuery(name, "must be given once")
			}
		default:
			return badQuery(name, "is not a parameter of this endpoint")
		}
	}
	mq.After = q.Get("after")
	if len(mq.After) > 200 {
		return badQuery("after", "is not a cursor this endpoint returned")
	}
	if v := q.Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || time.Duration(n)*time.Second > outbox.MaxMailboxWait {
			return badQuery("wait", "must be an integer number of seconds from 0 to "+strconv.Itoa(int(outbox.MaxMailboxWait/time.Second)))
		}
		mq.Wait = time.Duration(n) * time.Second
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > outbox.MaxMailboxBatch {
			return badQuery("limit", "must be an integer from 1 to "+strconv.Itoa(outbox.MaxMailboxBatch))
		}
		mq.Limit = n
	}
	batch, err := a.Mailbox.Poll(c.Request().Context(), principal(c), mq)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, batch)
}

// ackMailbox serves POST /v1/mailbox/ack.
func (a *api) ackMailbox(c echo.Context) error {
	in, err := a.inbound(c)
	if err != nil {
		return err
	}
	res, err := a.Mailbox.Ack(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

// nativeKey marks a request on the native route, for the error handler.
const nativeKey = "tongban.native"

// native serves POST /v1/inbound/{partner_id}[/{operation}]: a partner's
// call in its own format, answered in that format: the receipt with 200,
// as SOAP and REST clients that put the outcome in the body expect (a
// replay gets the byte-identical receipt), refusals as its translator
// renders them.
func (a *api) native(c echo.Context) error {
	p := principal(c)
	if p.ID() != c.Param("partner_id") {
		return &gateway.Error{Code: contracts.CodeForbidden, Message: "a partner calls only its own inbound route"}
	}
	in, err := a.signedBody(c)
	if err != nil {
		return err
	}
	req := c.Request()
	mt, _, perr := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if perr != nil {
		mt = ""
	}
	call := contracts.NativeCall{
		Operation: c.Param("operation"),
		MediaType: strings.ToLower(mt),
		Action:    strings.Trim(strings.TrimSpace(req.Header.Get("SOAPAction")), `"`),
	}
	ans, ic, err := a.Cases.ReceiveNative(req.Context(), in, call)
	if err != nil {
		c.Set(nativeKey, ic)
		return err
	}
	return writeSigned(c, http.StatusOK, ans)
}

func (a *api) getCase(c echo.Context) error {
	v, err := a.Cases.GetCase(c.Request().Context(), principal(c), c.Param("case_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (a *api) redeliver(c echo.Context) error {
	r, err := a.Redelivery.Redeliver(c.Request().Context(), principal(c), c.Param("delivery_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

func (a *api) redeliverPartner(c echo.Context) error {
	r, err := a.Redelivery.RedeliverPartner(c.Request().Context(), principal(c), c.Param("partner_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// errorHandler is the one table from errors to HTTP answers. Internal
// details are logged, never sent.
func (a *api) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	ctx := c.Request().Context() // request_id and trace_id for the log lines
	body := contracts.Error{RequestID: requestID(c)}
	var ge *gateway.Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ge):
		body.Code, body.Message = ge.Code, ge.Message
		switch {
		case ge.Code == contracts.CodeInternal:
			a.Log.ErrorContext(ctx, "internal error", "err", err, "path", c.Path())
		case errors.Is(ge.Err, gateway.ErrStoreUnavailable):
			a.Log.ErrorContext(ctx, "store unavailable", "err", ge.Err, "path", c.Path())
		case ge.Err != nil:
			a.Log.InfoContext(ctx, "request refused", "code", ge.Code, "err", ge.Err)
		}
	case errors.As(err, &he):
		switch he.Code {
		case http.StatusNotFound:
			body.Code, body.Message = contracts.CodeNotFound, "no such route"
		case http.StatusMethodNotAllowed:
			// Inside /v1 echo cannot tell a wrong method from a wrong path
			// (the group's middleware runs first); answer both the same way.
			body.Code, body.Message = contracts.CodeNotFound, "no such route"
		case http.StatusRequestEntityTooLarge:
			body.Code, body.Message = contracts.CodeBodyTooLarge, "body too large"
		default:
			body.Code, body.Message = contracts.CodeBadRequest, http.StatusText(he.Code)
		}
	case errors.Is(err, gateway.ErrStoreUnavailable):
		ge := gateway.Internal(err)
		a.Log.ErrorContext(ctx, "store unavailable", "err", err, "path", c.Path())
		body.Code, body.Message = ge.Code, ge.Message
	default:
		a.Log.ErrorContext(ctx, "unhandled error", "err", err, "path", c.Path())
		body.Code, body.Message = contracts.CodeInternal, "internal error"
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.String(attrErrorCode, string(body.Code)))
	if a.Audit != nil {
		a.recordDenial(c, body.Code, err)
	}
	status := contracts.StatusOf(body.Code)
	if tr := a.nativeTranslator(c); tr != nil {
		ic, _ := c.Get(nativeKey).(*contracts.InboundCall)
		b, mt, st := tr.EncodeError(ic, &body, status)
		if err := c.Blob(st, mt, b); err != nil {
			a.Log.ErrorContext(ctx, "writing error response", "err", err)
		}
		return
	}
	if err := c.JSON(status, body); err != nil {
		a.Log.ErrorContext(ctx, "writing error response", "err", err)
	}
}

// nativeTranslator returns the translator of the partner a request on the
// native route names, so that its refusals (authentication included) are
// rendered in the partner's format; nil for any other request.
func (a *api) nativeTranslator(c echo.Context) port.Translator {
	if !strings.HasPrefix(c.Path(), "/v1/inbound/") {
		return nil
	}
	p := a.Directory.Get(c.Param("partner_id"))
	if p == nil {
		return nil
	}
	return p.Translator
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
