package gateway

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tongban/tongban/contracts"
)

// TestDirectoryReplace: Replace puts another directory's partners in
// force at once (Get, Route, Pulls, Partners and PullPartners all answer
// with them) and counts the replacements; a directory that fails its
// checks is never built, so the one in force stays.
func TestDirectoryReplace(t *testing.T) {
	push := func(id, region string) *Partner {
		return &Partner{ID: id, Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{region}, Cases: nopAdapter{}}
	}
	d, err := NewDirectory([]*Partner{push("320404", "320404"), push("330702", "330702")})
	if err != nil {
		t.Fatal(err)
	}
	if g := d.Generation(); g != 0 {
		t.Fatalf("new directory: generation %d, want 0", g)
	}
	// A file that fails its checks is refused before anything changes.
	if _, err := NewDirectory([]*Partner{push("320404", "330702"), push("330702", "330702")}); err == nil {
		t.Fatal("two partners for one region: built")
	}
	next, err := NewDirectory([]*Partner{push("320404", "320404"),
		{ID: "330702", Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{"330702"}, Mailbox: &MailboxPolicy{}},
		push("371523", "371523")})
	if err != nil {
		t.Fatal(err)
	}
	old := d.Get("330702")
	d.Replace(next)
	if g := d.Generation(); g != 1 {
		t.Errorf("after Replace: generation %d, want 1", g)
	}
	if p, err := d.Route("371523"); err != nil || p.ID != "371523" {
		t.Errorf("Route(371523) after Replace: %v %v, want the added partner", p, err)
	}
	if !d.Pulls("330702") || d.Get("330702") == old || old.Mailbox != nil {
		t.Error("330702 after Replace: want the new partner (pulling), the old one unchanged")
	}
	if ids := d.PullPartners(); len(ids) != 1 || ids[0] != "330702" {
		t.Errorf("PullPartners after Replace: %v", ids)
	}
	if n := len(d.Partners()); n != 3 {
		t.Errorf("Partners after Replace: %d, want 3", n)
	}
	// Replacing back removes 371523 again.
	back, err := NewDirectory([]*Partner{push("320404", "320404")})
	if err != nil {
		t.Fatal(err)
	}
	d.Replace(back)
	if _, err := d.Route("371523"); CodeOf(err) != contracts.CodeNoRoute {
		t.Errorf("Route(371523) after the partner was removed: %v, want no_route", err)
	}
	if g := d.Generation(); g != 2 {
		t.Errorf("generation %d, want 2", g)
	}
}

// TestDirectoryReplaceConsistent: readers racing replacements get, from
// each call, an answer of one set of partners, never a mix: a region
// routes to a partner that serves it, Partners lists one set (run with
// -race, which also catches an unsynchronized swap).
func TestDirectoryReplaceConsistent(t *testing.T) {
	set := func(region string) *Directory {
		d, err := NewDirectory([]*Partner{{ID: "owner", Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{region}, Cases: nopAdapter{}}})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b := set("320404"), set("330702")
	d := set("320404")
	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				for _, region := range []string{"320404", "330702"} {
					if p, err := d.Route(region); err == nil && p.Regions[0] != region {
						bad.Add(1)
					}
				}
				if ps := d.Partners(); len(ps) != 1 || d.Get("owner") == nil {
					bad.Add(1)
				}
			}
		}()
	}
	for i := range 2000 {
		if i%2 == 0 {
			d.Replace(b)
		} else {
			d.Replace(a)
		}
	}
	stop.Store(true)
	wg.Wait()
	if n := bad.Load(); n != 0 {
		t.Errorf("%d inconsistent reads", n)
	}
	if g := d.Generation(); g != 2000 {
		t.Errorf("generation %d, want 2000", g)
	}
}
