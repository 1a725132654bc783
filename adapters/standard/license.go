package standard

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

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
	ans, err := a.caller.Do(ctx, adapters.Request{
		URL: a.endpoint + "/licenses/lookup", Body: body, Once: true, What: "lookup answer",
		Statuses: []int{http.StatusOK},
	})
	if err != nil {
		return nil, nil, nil, err
	}
	answer, err := acceptLookup(ans.Body, q)
	if err != nil {
		return nil, nil, nil, withStatus(err, ans.Status)
	}
	return answer, ans.Body, ans.Sig, nil
}

// acceptLookup parses a lookup answer strictly (see parseLookupResponse)
// and checks that it answers q (adapters.CheckLookupAnswer). Every failure
// is a permanent *adapters.Error wrapping ErrMalformedAck or ErrAckMismatch,
// with a reason that quotes no personal data.
func acceptLookup(raw []byte, q *contracts.LicenseLookupRequest) (*contracts.LicenseLookupResponse, error) {
	resp, err := parseLookupResponse(raw)
	if err != nil {
		return nil, adapters.Permanent("partner's lookup answer is malformed: "+err.Error(), adapters.ErrMalformedAck)
	}
	if err := adapters.CheckLookupAnswer(q, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// parseLookupResponse decodes a lookup answer strictly: one JSON object,
// no unknown fields, no trailing data, found present. Its errors describe
// the problem without quoting the answer, which may hold personal data.
func parseLookupResponse(raw []byte) (*contracts.LicenseLookupResponse, error) {
	var resp contracts.LicenseLookupResponse
	if err := adapters.DecodeJSON(raw, &resp); err != nil {
		return nil, err
	}
	var presence struct {
		Found *bool `json:"found"`
	}
	if json.Unmarshal(raw, &presence) != nil || presence.Found == nil {
		return nil, errors.New("found is missing")
	}
	return &resp, nil
}
