package outbox

import (
	"context"
	"errors"
	"testing"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// TestRunnerFollowsReloadedPartners: a running dispatcher makes room for
// the pushing partners of the directory in force: a partner a reload
// added counts with its attempts under way, one it removed no longer
// does.
func TestRunnerFollowsReloadedPartners(t *testing.T) {
	never := caseFunc(func(context.Context, *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
		return nil, nil, nil, errors.New("not called")
	})
	opt := DispatcherOptions{Seed: 42, Workers: 8, PerPartner: 2, Batch: 100}
	e := newEnvWith(t, opt, true, pushing(owner, never, nil, gateway.RetryPolicy{}))
	d := e.ob.Dispatcher()
	r := newRunner(d, e.ctx)
	room := func() int {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.room(0, false)
	}
	// Every partner without a mailbox counts as pushed to (the operator
	// too): two idle partners, 2 slots each.
	if n := room(); n != 4 {
		t.Fatalf("room with two idle partners: %d, want their 4 slots", n)
	}
	next, err := gateway.NewDirectory([]*gateway.Partner{pushing(sender, never, nil, gateway.RetryPolicy{}),
		{ID: operator, Roles: []contracts.Role{contracts.RoleOperator}}})
	if err != nil {
		t.Fatal(err)
	}
	e.dir.Replace(next)
	d.gateMu.Lock()
	d.busy[sender] = 1
	d.gateMu.Unlock()
	// The added partner is at work with 1 of its 2 slots: 1 more attempt,
	// and the 8 places to wait.
	if n := room(); n != 1+opt.Workers {
		t.Errorf("room after the reload: %d, want %d", n, 1+opt.Workers)
	}
	if r.pushing[owner] || !r.pushing[sender] {
		t.Errorf("pushing partners after the reload: %v, want %s in and %s out", r.pushing, sender, owner)
	}
}
