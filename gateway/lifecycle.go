package gateway

import "github.com/tongban/tongban/contracts"

// transitions lists, for each case state, the states an owner may report
// next. The gateway itself moves received → forwarded when the owner
// acknowledges the case, and correction_required → received when the
// sending window resubmits (see SubmitCase).
//
// An owner may answer (accepted, rejected, correction_required) from
// received as well as forwarded: its acknowledgement and its first status
// report can race, and the report must not be refused for that.
// in_progress may repeat (progress notes); a correction may be asked for
// while the case is being worked on; a case picked up at the window goes
// from concluded straight to delivered.
var transitions = map[contracts.CaseState][]contracts.CaseState{
	contracts.CaseStateReceived:           {contracts.CaseStateAccepted, contracts.CaseStateRejected, contracts.CaseStateCorrectionRequired},
	contracts.CaseStateForwarded:          {contracts.CaseStateAccepted, contracts.CaseStateRejected, contracts.CaseStateCorrectionRequired},
	contracts.CaseStateAccepted:           {contracts.CaseStateInProgress, contracts.CaseStateConcluded, contracts.CaseStateCorrectionRequired},
	contracts.CaseStateInProgress:         {contracts.CaseStateInProgress, contracts.CaseStateConcluded, contracts.CaseStateCorrectionRequired},
	contracts.CaseStateCorrectionRequired: {contracts.CaseStateRejected},
	contracts.CaseStateConcluded:          {contracts.CaseStateDispatched, contracts.CaseStateDelivered},
	contracts.CaseStateDispatched:         {contracts.CaseStateDelivered},
	contracts.CaseStateRejected:           nil,
	contracts.CaseStateDelivered:          nil,
}

// CanReport reports whether the owner may move a case from one state to
// the next with a status update.
func CanReport(from, to contracts.CaseState) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}
