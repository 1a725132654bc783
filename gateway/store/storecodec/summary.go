package storecodec

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tongban/tongban/contracts"
)

// SQL lists of the events the audit search reads, for an IN clause:
// ExchangeEventsSQL are the events that start an exchange (listed unless
// the search asks for one event), SearchedEventsSQL those and
// access.denied.
const (
	ExchangeEventsSQL = `('` + contracts.EventCaseReceived + `', '` + contracts.EventStatusApplied + `', '` +
		contracts.EventLicenseVerified + `', '` + contracts.EventUsageRecorded + `', '` + contracts.EventBundleReceived + `', '` +
		contracts.EventEvaluationReceived + `', '` + contracts.EventReplyReceived + `', '` + contracts.EventNoticeQueued + `')`
	SearchedEventsSQL = `('` + contracts.EventCaseReceived + `', '` + contracts.EventStatusApplied + `', '` +
		contracts.EventLicenseVerified + `', '` + contracts.EventUsageRecorded + `', '` + contracts.EventBundleReceived + `', '` +
		contracts.EventEvaluationReceived + `', '` + contracts.EventReplyReceived + `', '` + contracts.EventNoticeQueued + `', '` +
		contracts.EventAccessDenied + `')`
)

// SummaryFromRecord fills x's fields that the evidence record (its stored
// JSON) names: the exchange, event, time, sender, partner, case, body
// SM3 and trace; the case state of a case or status exchange, the
// outcome of a license verification, and the refusal of an access.denied
// record. seq names the record in the error when record does not decode.
// The fields a store joins from elsewhere (regions, delivery, update
// time) are left as they are.
func SummaryFromRecord(seq int64, record []byte, x *contracts.ExchangeSummary) error {
	var r struct {
		contracts.EvidenceRecord
		Detail contracts.EvidenceDetail `json:"detail"`
	}
	if err := json.Unmarshal(record, &r); err != nil {
		return fmt.Errorf("evidence record %d: %w", seq, err)
	}
	x.ExchangeID, x.Kind, x.Event, x.At, x.Sender, x.Partner = r.ExchangeID, r.Kind, r.Event, r.At, r.Actor, r.Partner
	x.CaseID, x.BodySM3, x.TraceID = r.CaseID, r.BodySM3, r.TraceID
	switch r.Event {
	case contracts.EventCaseReceived, contracts.EventStatusApplied:
		x.CaseState = r.Detail.State
	case contracts.EventLicenseVerified:
		x.LicenseOutcome = contracts.LicenseOutcome(r.Detail.Outcome)
	case contracts.EventAccessDenied:
		d := r.Detail
		x.Denial = &contracts.DeniedRequest{Code: d.Code, Method: d.Method, Route: d.Route, CaseRef: d.CaseRef, SuppressedBefore: d.SuppressedBefore}
	}
	return nil
}

// LikeEscape escapes LIKE's wildcards (and the escape character, \) in s,
// for a pattern written with ESCAPE '\'.
func LikeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
