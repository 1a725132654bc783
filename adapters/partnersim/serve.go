package partnersim

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// Handler serves the partner's side of its style at the root: every POST
// the gateway's adapter of that style makes (for the standard style POST
// /cases, /cases/{case_id}/status, /licenses/usage, /licenses/usage/batch
// and /licenses/lookup;
// for SOAP one endpoint with a SOAPAction per operation). Mount it under a
// prefix with http.StripPrefix. A mailbox partner takes no calls: its
// handler answers 404 to everything.
//
// Answers to deliveries: a signed acknowledgement in the style's format
// (repeats of an exchange with the same bytes get the very same bytes and
// signature); to a batch of usage records, one signed acknowledgement
// naming the records stored (see serveBatch). Answers to lookups: the library's signed answer, echoing the
// exchange_id and, when the library holds the license, carrying its full
// record (see Licenses for how a license is found). Refusals, in the
// style's format: bad_signature (401) when the gateway's signature does not
// verify; invalid_json, invalid_exchange_id, validation_failed or the code
// of the identifier at fault (400); body_too_large (413);
// unsupported_media_type (415); unavailable (503) while FailFirst or
// ErrorRate strike (and for lookups while LookupFail is set).
func (s *Sim) Handler() http.Handler {
	if s.cfg.Style == "mailbox" {
		return http.NotFoundHandler()
	}
	return http.HandlerFunc(s.serve)
}

func (s *Sim) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.writeError(w, nil, http.StatusMethodNotAllowed, contracts.CodeBadRequest, "only POST")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.writeError(w, nil, http.StatusRequestEntityTooLarge, contracts.CodeBodyTooLarge, "body exceeds the limit")
		} else {
			s.writeError(w, nil, http.StatusBadRequest, contracts.CodeBadRequest, "could not read the body")
		}
		return
	}
	mt, _, perr := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if perr != nil {
		mt = ""
	}
	action := strings.Trim(strings.TrimSpace(r.Header.Get("SOAPAction")), `"`)
	m, readErr := s.side.ReadRequest(r.URL.Path, mt, action, body)

	// A call that does not read is counted as a lookup when its path or
	// action says so.
	lookup := m != nil && m.Lookup != nil || m == nil && strings.Contains(strings.ToLower(r.URL.Path+" "+action), "lookup")
	if !s.injure(w, r, lookup) {
		return
	}
	keyID := r.Header.Get(adapters.HeaderKeyID)
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get(adapters.HeaderSignature))
	if keyID == "" || len(sig) == 0 || err != nil {
		s.writeError(w, m, http.StatusUnauthorized, contracts.CodeBadSignature, "Gw-Signature or Gw-Key-Id is missing or malformed")
		return
	}
	if err := s.cfg.Crypto.VerifyBody(GatewayCaller, keyID, body, sig); err != nil {
		s.cfg.Logf("partnersim %s: rejecting %s: gateway signature does not verify: %v", s.cfg.PartnerID, r.URL.Path, err)
		s.writeError(w, m, http.StatusUnauthorized, contracts.CodeBadSignature, "Gw-Signature does not verify over the body with the key named by Gw-Key-Id")
		return
	}
	if readErr != nil {
		code := contracts.CodeInvalidJSON
		var fe *contracts.FieldError
		if errors.As(readErr, &fe) && fe.Code != "" {
			code = fe.Code
		}
		s.writeError(w, nil, contracts.StatusOf(code), code, "the call could not be read: "+readErr.Error())
		return
	}
	if m.Lookup != nil {
		s.serveLookup(w, r.Context(), m)
		return
	}
	digest := s.cfg.Crypto.SM3Hex(body)
	sc := trace.SpanContextFromContext(adapters.ExtractTrace(r.Context(), r.Header))
	if m.UsageBatch != nil {
		s.serveBatch(w, m, digest, sc)
		return
	}
	acc, ref := s.accept(m, digest, sc)
	if ref != nil {
		s.writeError(w, m, ref.status, ref.code, ref.msg)
		return
	}
	a, ok := s.storedAnswer(acc.key, digest)
	if !ok {
		raw, mediaType, err := s.side.WriteAck(m, &acc.ack)
		var sig []byte
		if err == nil {
			sig, err = s.cfg.Crypto.Sign(raw)
		}
		if err != nil {
			s.cfg.Logf("partnersim %s: making the acknowledgement: %v", s.cfg.PartnerID, err)
			s.writeError(w, m, http.StatusInternalServerError, contracts.CodeInternal, "could not make the acknowledgement")
			return
		}
		a = signedAnswer{raw: raw, sig: sig, mediaType: mediaType}
		s.storeAnswer(acc.key, digest, a)
	}
	if s.writeSigned(w, a) && s.cfg.OnAck != nil {
		s.cfg.OnAck(m.Kind(), m.ExchangeID())
	}
}

// injure applies the faults to a request, counting it as a lookup or a
// delivery. It answers the request itself (or drops it) and returns false
// when a fault strikes.
func (s *Sim) injure(w http.ResponseWriter, r *http.Request, lookup bool) bool {
	s.mu.Lock()
	if lookup {
		s.lookups++
	} else {
		s.attempts++
	}
	f := s.faults
	drop := s.dropped < f.DropFirst || s.chanceLocked(f.DropRate)
	fail := false
	if drop {
		s.dropped++
	} else if fail = s.failed < f.FailFirst || s.chanceLocked(f.ErrorRate); fail {
		s.failed++
	}
	s.mu.Unlock()

	if f.Hang {
		s.cfg.Logf("partnersim %s: fault: holding %s until the caller gives up", s.cfg.PartnerID, r.URL.Path)
		<-r.Context().Done()
		return false
	}
	if f.Delay > 0 && !sleep(r.Context(), f.Delay) {
		return false
	}
	if drop {
		s.cfg.Logf("partnersim %s: fault: dropping connection of %s", s.cfg.PartnerID, r.URL.Path)
		hijack(w)
		return false
	}
	if fail {
		s.cfg.Logf("partnersim %s: fault: refusing %s as unavailable", s.cfg.PartnerID, r.URL.Path)
		s.writeError(w, nil, http.StatusServiceUnavailable, contracts.CodeUnavailable, "simulated outage")
		return false
	}
	return true
}

// serveLookup answers a license lookup from the library. It holds the
// answer for LookupDelay and refuses as unavailable while LookupFail is
// set.
func (s *Sim) serveLookup(w http.ResponseWriter, ctx context.Context, m *adapters.Message) {
	s.mu.Lock()
	f := s.faults
	s.mu.Unlock()
	if f.LookupDelay > 0 && !sleep(ctx, f.LookupDelay) {
		return
	}
	if f.LookupFail {
		s.cfg.Logf("partnersim %s: fault: refusing a license lookup as unavailable", s.cfg.PartnerID)
		s.writeError(w, m, http.StatusServiceUnavailable, contracts.CodeUnavailable, "simulated license library outage")
		return
	}
	resp, ref := s.lookup(m.Lookup)
	if ref != nil {
		s.writeError(w, m, ref.status, ref.code, ref.msg)
		return
	}
	raw, mediaType, err := s.side.WriteLookupAnswer(m, resp)
	var sig []byte
	if err == nil {
		sig, err = s.cfg.Crypto.Sign(raw)
	}
	if err != nil {
		s.cfg.Logf("partnersim %s: making the lookup answer: %v", s.cfg.PartnerID, err)
		s.writeError(w, m, http.StatusInternalServerError, contracts.CodeInternal, "could not make the answer")
		return
	}
	s.writeSigned(w, signedAnswer{raw: raw, sig: sig, mediaType: mediaType})
}

// hijack closes the connection without an answer.
func hijack(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // HTTP/2: abort the stream
}

// writeSigned answers 200 with a's bytes and signature, or, while the
// faults say so, with a spoiled signature or a malformed body. It reports
// whether the answer went out as made.
func (s *Sim) writeSigned(w http.ResponseWriter, a signedAnswer) bool {
	s.mu.Lock()
	f := s.faults
	s.mu.Unlock()
	raw, sig := a.raw, a.sig
	if f.Malformed {
		raw = []byte("<<not the answer the gateway expects>>")
		if good, err := s.cfg.Crypto.Sign(raw); err == nil {
			sig = good
		}
		s.cfg.Logf("partnersim %s: fault: answering with a malformed body", s.cfg.PartnerID)
	}
	if f.BadSignature {
		// A well-formed signature over other bytes.
		if wrong, err := s.cfg.Crypto.Sign(append(append([]byte(nil), raw...), ' ')); err == nil {
			sig = wrong
		}
		s.cfg.Logf("partnersim %s: fault: answering with a bad signature", s.cfg.PartnerID)
	}
	h := w.Header()
	h.Set("Content-Type", a.mediaType)
	h.Set(adapters.HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	h.Set(adapters.HeaderKeyID, s.cfg.Crypto.KeyID())
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(raw)
	return err == nil && !f.Malformed && !f.BadSignature
}

// writeError answers a refusal in the style's format.
func (s *Sim) writeError(w http.ResponseWriter, m *adapters.Message, status int, code contracts.Code, msg string) {
	body, mediaType, st := s.side.WriteError(m, status, code, msg)
	w.Header().Set("Content-Type", mediaType)
	w.WriteHeader(st)
	_, _ = w.Write(body)
}

// spoilable is the partner's Crypto for its mailbox acknowledgements:
// while BadSignature is set, its signatures do not verify.
type spoilable struct{ s *Sim }

func (c spoilable) Sign(body []byte) ([]byte, error) {
	c.s.mu.Lock()
	bad := c.s.faults.BadSignature
	c.s.mu.Unlock()
	if bad {
		c.s.cfg.Logf("partnersim %s: fault: acknowledging with a bad signature", c.s.cfg.PartnerID)
		return c.s.cfg.Crypto.Sign(append(append([]byte(nil), body...), ' '))
	}
	return c.s.cfg.Crypto.Sign(body)
}
func (c spoilable) KeyID() string             { return c.s.cfg.Crypto.KeyID() }
func (c spoilable) SM3Hex(body []byte) string { return c.s.cfg.Crypto.SM3Hex(body) }
func (c spoilable) VerifyBody(caller, keyID string, body, sig []byte) error {
	return c.s.cfg.Crypto.VerifyBody(caller, keyID, body, sig)
}
