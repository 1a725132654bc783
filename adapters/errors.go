package adapters

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/port"
)

// Causes an *Error may wrap; test for them with errors.Is.
var (
	// ErrBadSignature means the partner's answer is unsigned, or its
	// Gw-Signature does not verify with the key named by Gw-Key-Id that is
	// registered for the partner.
	ErrBadSignature = errors.New("acknowledgement signature missing or invalid")
	// ErrMalformedAck means the partner's answer is not a well-formed
	// acknowledgement (not JSON, unknown or missing fields, too large).
	ErrMalformedAck = errors.New("malformed acknowledgement")
	// ErrAckMismatch means a well-formed, signed acknowledgement does not
	// acknowledge what was sent (another exchange_id or delivery_id, another
	// body digest, another key id).
	ErrAckMismatch = errors.New("acknowledgement does not match the delivery")
)

// Error is a failed delivery attempt, classified for the gateway's retry
// policy. It implements port.DeliveryError (Permanent, RetryAfter,
// ReasonText, PublicReason).
type Error struct {
	// Reason says what failed, lower-case, without secrets; it is shown to
	// operators as the delivery's last error.
	Reason string
	// Status is the partner's HTTP status code, 0 when there was no answer.
	Status int
	// IsPermanent is true when retrying cannot help: the delivery goes to
	// dead letter at once. (The field cannot be named Permanent: that is
	// the method the port looks for.)
	IsPermanent bool
	// After is the pause the partner asked for (Retry-After), zero if none.
	After time.Duration
	// PartnerMessage is the free text the partner sent with its refusal
	// (PartnerText: numbers masked, clipped), if any. It goes into the
	// delivery's last error for operators (ReasonText) but never into the
	// evidence log or spans (PublicReason): it may name people.
	PartnerMessage string
	// Err is the underlying cause, if any; it may be a *contracts.Error
	// decoded from the partner's answer, or one of ErrBadSignature,
	// ErrMalformedAck, ErrAckMismatch.
	Err error
}

// Error returns "adapters: <reason>: <cause>".
func (e *Error) Error() string {
	s := "adapters: " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

var _ port.DeliveryError = (*Error)(nil)

// Permanent reports whether retrying the delivery cannot help.
func (e *Error) Permanent() bool { return e.IsPermanent }

// RetryAfter is the pause the partner asked for, zero if none.
func (e *Error) RetryAfter() time.Duration { return e.After }

// ReasonText is the summary the gateway records as a delivery's last
// error, for operators: Reason, the partner's HTTP status when there was
// one, and the partner's own message when it sent one. Unlike Error() it
// never carries URLs or dial details.
func (e *Error) ReasonText() string {
	if e.PartnerMessage == "" {
		return e.PublicReason()
	}
	return e.PublicReason() + ": " + e.PartnerMessage
}

// PublicReason is ReasonText without the partner's free text: what the
// evidence log and traces keep.
func (e *Error) PublicReason() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s (HTTP %d)", e.Reason, e.Status)
	}
	return e.Reason
}

// Permanent returns a permanent *Error with reason and cause err (may be nil).
func Permanent(reason string, err error) *Error {
	return &Error{Reason: reason, IsPermanent: true, Err: err}
}

// Retryable returns a retryable *Error with reason and cause err (may be nil).
func Retryable(reason string, err error) *Error {
	return &Error{Reason: reason, Err: err}
}

// MaxRetryAfter caps the pause a partner may ask for with Retry-After.
const MaxRetryAfter = 24 * time.Hour

// errorBodyLimit bounds how much of an error answer Classify reads.
const errorBodyLimit = 4 << 10

// Classify turns the outcome of one HTTP call into a classified *Error, or
// nil for a 2xx answer (whose body the caller goes on to check). The rules
// every adapter shares:
//
//   - transport errors: timeouts, refused or dropped connections and a
//     cancelled context are retryable; a rejected TLS certificate is
//     permanent;
//   - 5xx, 408 and 429 are retryable, honouring Retry-After (seconds or
//     HTTP-date, capped at MaxRetryAfter);
//   - 3xx (redirects are not followed) and every other 4xx are permanent.
//
// err, when not nil, wins over resp; an *Error is returned unchanged. For a
// non-2xx answer Classify reads up to 4 KiB of the body to include a JSON
// error {"code", "message"} as the cause (a *contracts.Error); the caller
// still closes the body.
func Classify(resp *http.Response, err error) error {
	if err != nil {
		return classifyErr(err)
	}
	if resp == nil {
		return Retryable("no answer from partner", nil)
	}
	if code := resp.StatusCode; code >= 200 && code <= 299 {
		return nil
	}
	var body []byte
	if resp.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(resp.Body, errorBodyLimit))
	}
	return ClassifyAnswer(resp.StatusCode, resp.Header, body)
}

// ClassifyAnswer classifies a non-2xx answer whose status, header and
// (possibly truncated) body were read, with the rules of Classify. A JSON
// error {"code", "message"} in body becomes the cause. It returns nil for
// a 2xx status.
func ClassifyAnswer(code int, h http.Header, body []byte) error {
	if code >= 200 && code <= 299 {
		return nil
	}
	e := &Error{Status: code, Reason: "partner answered " + statusText(code)}
	if ce := errorBody(body); ce != nil {
		e.Err = ce
	}
	switch {
	case code >= 500, code == http.StatusTooManyRequests, code == http.StatusRequestTimeout:
		if d, ok := ParseRetryAfter(h.Get("Retry-After"), time.Now()); ok {
			e.After = d
		}
	case code >= 300 && code <= 399:
		e.Reason += " (redirects are not followed; check the endpoint)"
		e.IsPermanent = true
	default: // other 4xx, 1xx, anything odd
		e.IsPermanent = true
	}
	return e
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}

// errorBody decodes a JSON error answer, nil if there is none.
func errorBody(b []byte) *contracts.Error {
	if len(b) > errorBodyLimit {
		b = b[:errorBodyLimit]
	}
	var ce contracts.Error
	if len(b) == 0 || json.Unmarshal(b, &ce) != nil || ce.Code == "" {
		return nil
	}
	ce.Message = PartnerText(ce.Message, 200)
	ce.Code = contracts.Code(PartnerCode(string(ce.Code), 64))
	return &ce
}

func classifyErr(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var (
		certErr  *tls.CertificateVerificationError
		authErr  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalErr x509.CertificateInvalidError
		opErr    *net.OpError
		netErr   net.Error
	)
	switch {
	case errors.Is(err, context.Canceled):
		return Retryable("attempt cancelled", err)
	case errors.As(err, &certErr), errors.As(err, &authErr), errors.As(err, &hostErr), errors.As(err, &invalErr):
		return Permanent("partner's tls certificate rejected", err)
	case errors.As(err, &opErr) && opErr.Op == "remote error": // a TLS alert from the partner
		// The partner ended the handshake: most often it does not take the
		// gateway's client certificate (none, expired, another CA). An
		// operator can fix that without losing the delivery.
		return Retryable("partner refused the tls handshake ("+opErr.Err.Error()+")", err)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return Retryable("timeout waiting for partner", err)
	default:
		return Retryable("connection to partner failed", err)
	}
}

// ParseRetryAfter reads a Retry-After header value: delay-seconds or an
// HTTP-date (taken relative to now). It returns false for an empty or
// malformed value. The result is never negative and at most MaxRetryAfter.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) && strings.Trim(v, "0123456789") == "" {
				return MaxRetryAfter, true
			}
			return 0, false
		}
		if n > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	switch {
	case d < 0:
		d = 0
	case d > MaxRetryAfter:
		d = MaxRetryAfter
	}
	return d, true
}
