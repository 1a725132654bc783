package gateway

import (
	"context"
	"testing"

	"github.com/tongban/tongban/contracts"
)

// nopAdapter is a case deliverer the authorization tests never call.
type nopAdapter struct{}

func (nopAdapter) DeliverCase(context.Context, *contracts.CaseDelivery) (*contracts.Ack, []byte, []byte, error) {
	panic("not called")
}

func TestAuthorize(t *testing.T) {
	zl := &Partner{ID: "320404", Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{"320404"}, Cases: nopAdapter{}}
	wc := &Partner{ID: "330702", Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{"330702"}, Cases: nopAdapter{}}
	city := &Partner{ID: "changzhou", Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{"320400"}, Cases: nopAdapter{}}
	other := &Partner{ID: "371523", Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{"371523"}, Cases: nopAdapter{}}
	win := &Partner{ID: "window-320404", Roles: []contracts.Role{contracts.RoleWindow}, Regions: []string{"320404"}}
	winFar := &Partner{ID: "window-610102", Roles: []contracts.Role{contracts.RoleWindow}, Regions: []string{"610102"}}
	aud := &Partner{ID: "auditor", Roles: []contracts.Role{contracts.RoleAuditor}}
	op := &Partner{ID: "operator", Roles: []contracts.Role{contracts.RoleOperator}}
	c := &Case{ID: "c1", Sender: "320404", Owner: "330702", FromRegion: "320404", ToRegion: "330702"}

	ok, forbidden, notFound := contracts.Code(""), contracts.CodeForbidden, contracts.CodeNotFound
	tests := []struct {
		who    *Partner
		act    Action
		c      *Case
		region string
		want   contracts.Code
	}{
		// submit: role × own/foreign region
		{zl, ActSubmitCase, nil, "320404", ok},
		{zl, ActSubmitCase, nil, "320402", forbidden},
		{city, ActSubmitCase, nil, "320404", ok}, // a city partner serves its districts
		{city, ActSubmitCase, nil, "330702", forbidden},
		{win, ActSubmitCase, nil, "320404", forbidden},
		{aud, ActSubmitCase, nil, "320404", forbidden},
		{op, ActSubmitCase, nil, "320404", forbidden},
		// read
		{zl, ActReadCase, c, "", ok},
		{wc, ActReadCase, c, "", ok},
		{other, ActReadCase, c, "", notFound},
		{win, ActReadCase, c, "", ok},
		{winFar, ActReadCase, c, "", notFound},
		{aud, ActReadCase, c, "", ok},
		{op, ActReadCase, c, "", ok},
		{zl, ActReadCase, nil, "", notFound},
		// status: only the owner
		{wc, ActReportStatus, c, "", ok},
		{zl, ActReportStatus, c, "", forbidden},
		{other, ActReportStatus, c, "", notFound},
		{win, ActReportStatus, c, "", notFound},
		{aud, ActReportStatus, c, "", notFound},
		// redeliver
		{op, ActRedeliver, nil, "", ok},
		{aud, ActRedeliver, nil, "", forbidden},
		{zl, ActRedeliver, nil, "", forbidden},
		// list deliveries: operators
		{op, ActListDeliveries, nil, "", ok},
		{aud, ActListDeliveries, nil, "", forbidden},
		{zl, ActListDeliveries, nil, "", forbidden},
		{win, ActListDeliveries, nil, "", forbidden},
		// verify licenses: windows and partner systems that serve a region
		{win, ActVerify, nil, "", ok},
		{zl, ActVerify, nil, "", ok},
		{&Partner{ID: "lib-national", Roles: []contracts.Role{contracts.RolePartner}}, ActVerify, nil, "", forbidden},
		{aud, ActVerify, nil, "", forbidden},
		{op, ActVerify, nil, "", forbidden},
		// usage records
		{aud, ActListUsage, nil, "", ok},
		{win, ActListUsage, nil, "", ok},
		{zl, ActListUsage, nil, "", ok},
		{op, ActListUsage, nil, "", forbidden},
		// audit: auditors; chain verification: auditors and operators
		{aud, ActAudit, nil, "", ok},
		{op, ActAudit, nil, "", forbidden},
		{zl, ActAudit, nil, "", forbidden},
		{win, ActAudit, nil, "", forbidden},
		{aud, ActVerifyChain, nil, "", ok},
		{op, ActVerifyChain, nil, "", ok},
		{zl, ActVerifyChain, nil, "", forbidden},
		{win, ActVerifyChain, nil, "", forbidden},
		// statistics: operators and auditors
		{op, ActReadStats, nil, "", ok},
		{aud, ActReadStats, nil, "", ok},
		{zl, ActReadStats, nil, "", forbidden},
		{win, ActReadStats, nil, "", forbidden},
		// unknown action: denied
		{op, Action("drop_tables"), nil, "", forbidden},
	}
	for _, tt := range tests {
		err := Authorize(Principal{Partner: tt.who}, tt.act, tt.c, tt.region)
		got := contracts.Code("")
		if err != nil {
			got = CodeOf(err)
		}
		if got != tt.want {
			t.Errorf("%s %s (region %q): got %q, want %q (%v)", tt.who.ID, tt.act, tt.region, got, tt.want, err)
		}
	}
}

func TestDirectoryRouteFallsBack(t *testing.T) {
	district := &Partner{ID: "320404", Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{"320404"}, Cases: nopAdapter{}}
	city := &Partner{ID: "jinhua", Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{"330700"}, Cases: nopAdapter{}}
	prov := &Partner{ID: "shandong", Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{"370000"}, Cases: nopAdapter{}}
	d, err := NewDirectory([]*Partner{district, city, prov})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ region, want string }{
		{"320404", "320404"}, {"330702", "jinhua"}, {"330700", "jinhua"}, {"371523", "shandong"}, {"610102", ""}, {"320402", ""},
	}
	for _, tt := range tests {
		p, err := d.Route(tt.region)
		got := ""
		if err == nil {
			got = p.ID
		} else if CodeOf(err) != contracts.CodeNoRoute {
			t.Errorf("Route(%s): got %v, want no_route", tt.region, err)
		}
		if got != tt.want {
			t.Errorf("Route(%s): got %q, want %q", tt.region, got, tt.want)
		}
	}
}

func TestNewDirectoryRejects(t *testing.T) {
	p := func(id string, regions ...string) *Partner {
		return &Partner{ID: id, Roles: []contracts.Role{contracts.RolePartner}, Regions: regions, Cases: nopAdapter{}}
	}
	tests := []struct {
		name string
		ps   []*Partner
	}{
		{"duplicate id", []*Partner{p("a", "320404"), p("a", "320402")}},
		{"shared region", []*Partner{p("a", "320404"), p("b", "320404")}},
		{"bad region", []*Partner{p("a", "999999")}},
		{"no id", []*Partner{p("", "320404")}},
		{"no roles", []*Partner{{ID: "x"}}},
		{"unknown role", []*Partner{{ID: "x", Roles: []contracts.Role{"root"}}}},
		{"partner without adapter", []*Partner{{ID: "x", Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{"320404"}}}},
	}
	for _, tt := range tests {
		if _, err := NewDirectory(tt.ps); err == nil {
			t.Errorf("%s: got no error", tt.name)
		}
	}
}
