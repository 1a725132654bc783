package gateway

import (
	"testing"

	"github.com/tongban/tongban/contracts"
)

func TestCanReport(t *testing.T) {
	const (
		rcv = contracts.CaseStateReceived
		fwd = contracts.CaseStateForwarded
		acc = contracts.CaseStateAccepted
		rej = contracts.CaseStateRejected
		cor = contracts.CaseStateCorrectionRequired
		inp = contracts.CaseStateInProgress
		con = contracts.CaseStateConcluded
		dis = contracts.CaseStateDispatched
		del = contracts.CaseStateDelivered
	)
	all := []contracts.CaseState{rcv, fwd, acc, rej, cor, inp, con, dis, del}
	allowed := map[[2]contracts.CaseState]bool{
		{rcv, acc}: true, {rcv, rej}: true, {rcv, cor}: true,
		{fwd, acc}: true, {fwd, rej}: true, {fwd, cor}: true,
		{acc, inp}: true, {acc, con}: true, {acc, cor}: true,
		{inp, inp}: true, {inp, con}: true, {inp, cor}: true,
		{cor, rej}: true,
		{con, dis}: true, {con, del}: true,
		{dis, del}: true,
	}
	// Every pair of states, so a new edge cannot slip in unnoticed.
	for _, from := range all {
		for _, to := range all {
			if got, want := CanReport(from, to), allowed[[2]contracts.CaseState{from, to}]; got != want {
				t.Errorf("CanReport(%s, %s): got %v, want %v", from, to, got, want)
			}
		}
	}
}
