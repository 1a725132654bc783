package standard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"unicode/utf8"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// MaxLookupAnswerSize bounds the lookup answer read from a partner's
// library; a longer answer is malformed.
const MaxLookupAnswerSize = 1 << 20

// LookupLicense POSTs q to {endpoint}/licenses/lookup, once, and returns the
// library's verified answer, its exact bytes and its DER signature. The call
// is bounded by Params.Timeout and by ctx; it is never retried, whatever
// max_retries says. A library that has no such license answers with Found
// false and a nil License; a found License has passed
// contracts.LicenseRecord.Validate and is the license q names. Every
// failure is an *adapters.Error (see the package documentation for the
// classification); its Reason never quotes personal data from the answer.
func (a *Adapter) LookupLicense(ctx context.Context, q *contracts.LicenseLookupRequest) (*contracts.LicenseLookupResponse, []byte, []byte, error) {
	if q == nil {
		return nil, nil, nil, adapters.Permanent("no license lookup", nil)
	}
	if q.ExchangeID == "" {
		return nil, nil, nil, adapters.Permanent("license lookup has no exchange_id", nil)
	}
	body, err := json.Marshal(q)
	if err != nil {
		return nil, nil, nil, adapters.Permanent("encode license lookup", err)
	}
	h, err := a.signedHeaders(ctx, body, "lookup")
	if err != nil {
		return nil, nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.endpoint+"/licenses/lookup", bytes.NewReader(body))
	if err != nil {
		return nil, nil, nil, adapters.Permanent("build request", err)
	}
	req.Header = h

	// The retrying client's http.Client: one try, the shared pool, the
	// per-try timeout and the no-redirect rule.
	resp, err := a.client.HTTPClient.Do(req)
	if err != nil {
		return nil, nil, nil, adapters.Classify(nil, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		if err := adapters.Classify(resp, nil); err != nil {
			return nil, nil, nil, err
		}
		return nil, nil, nil, &adapters.Error{
			Reason: fmt.Sprintf("partner answered %d, want 200 with a signed lookup answer", resp.StatusCode),
			Status: resp.StatusCode, IsPermanent: true, Err: adapters.ErrMalformedAck,
		}
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxLookupAnswerSize+1))
	if err != nil {
		e := adapters.Classify(nil, err).(*adapters.Error)
		e.Status = resp.StatusCode
		return nil, nil, nil, e
	}
	withStatus := func(err error) error {
		var e *adapters.Error
		if errors.As(err, &e) {
			e.Status = resp.StatusCode
		}
		return err
	}
	if len(raw) > MaxLookupAnswerSize {
		return nil, nil, nil, withStatus(adapters.Permanent(
			fmt.Sprintf("lookup answer exceeds %d bytes", MaxLookupAnswerSize), adapters.ErrMalformedAck))
	}
	_, sig, err := a.checkSignature(raw, resp.Header, "lookup answer")
	if err != nil {
		return nil, nil, nil, withStatus(err)
	}
	answer, err := acceptLookup(raw, q)
	if err != nil {
		return nil, nil, nil, withStatus(err)
	}
	return answer, raw, sig, nil
}

// acceptLookup parses a lookup answer strictly (see parseLookupResponse)
// and checks that it answers q: the same exchange_id, a license exactly
// when found, a license that validates and is the one q names. Every
// failure is a permanent *adapters.Error wrapping ErrMalformedAck or
// ErrAckMismatch, with a reason that quotes no personal data.
func acceptLookup(raw []byte, q *contracts.LicenseLookupRequest) (*contracts.LicenseLookupResponse, error) {
	resp, err := parseLookupResponse(raw)
	if err != nil {
		return nil, adapters.Permanent("partner's lookup answer is malformed: "+err.Error(), adapters.ErrMalformedAck)
	}
	if resp.ExchangeID != q.ExchangeID {
		return nil, adapters.Permanent(
			fmt.Sprintf("lookup answer names exchange %s, sent %s", resp.ExchangeID, clip(q.ExchangeID, 64)), adapters.ErrAckMismatch)
	}
	switch {
	case resp.Found && resp.License == nil:
		return nil, adapters.Permanent("lookup answer says found but holds no license", adapters.ErrMalformedAck)
	case !resp.Found && resp.License != nil:
		return nil, adapters.Permanent("lookup answer says not found but holds a license", adapters.ErrMalformedAck)
	case !resp.Found:
		return resp, nil
	}
	if err := resp.License.Validate(); err != nil {
		// Validators' messages name the field and never repeat the value.
		return nil, adapters.Permanent("partner's license record is invalid: "+err.Error(), adapters.ErrMalformedAck)
	}
	if !answers(q, resp.License) {
		return nil, adapters.Permanent("lookup answer holds another license than the one asked for", adapters.ErrAckMismatch)
	}
	return resp, nil
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

// parseLookupResponse decodes a lookup answer strictly: one JSON object,
// no unknown fields, no trailing data, exchange_id a canonical UUID and
// found present. Its errors describe the problem without quoting the
// answer, which may hold personal data.
func parseLookupResponse(raw []byte) (*contracts.LicenseLookupResponse, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var resp contracts.LicenseLookupResponse
	if err := dec.Decode(&resp); err != nil {
		return nil, adapters.JSONProblem(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	var presence struct {
		Found *bool `json:"found"`
	}
	if json.Unmarshal(raw, &presence) != nil || presence.Found == nil {
		return nil, errors.New("found is missing")
	}
	if contracts.ValidateUUID(resp.ExchangeID) != nil {
		return nil, errors.New("exchange_id is not a canonical UUID")
	}
	return &resp, nil
}

// clip shortens s to at most n bytes, cutting at a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
