package gateway

import (
	"testing"

	"github.com/tongban/tongban/contracts"
)

// TestAuthorizeOperations: the operator views are deny by default: only
// operators read the partners' state, add or revoke keys and reload; the
// keys in force are also for auditors; a caller with several roles gets
// what any of them allows.
func TestAuthorizeOperations(t *testing.T) {
	partner := &Partner{ID: "320404", Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{"320404"}, Cases: nopAdapter{}}
	win := &Partner{ID: "window-320404", Roles: []contracts.Role{contracts.RoleWindow}, Regions: []string{"320404"}}
	aud := &Partner{ID: "auditor", Roles: []contracts.Role{contracts.RoleAuditor}}
	op := &Partner{ID: "operator", Roles: []contracts.Role{contracts.RoleOperator}}
	both := &Partner{ID: "ops-audit", Roles: []contracts.Role{contracts.RoleAuditor, contracts.RoleOperator}}
	none := &Partner{ID: "nobody"}
	ok, forbidden := contracts.Code(""), contracts.CodeForbidden
	want := map[Action]map[*Partner]contracts.Code{
		ActReadPartners:             {partner: forbidden, win: forbidden, aud: forbidden, op: ok, both: ok, none: forbidden},
		ActReadKeys:                 {partner: forbidden, win: forbidden, aud: ok, op: ok, both: ok, none: forbidden},
		ActManageKeys:               {partner: forbidden, win: forbidden, aud: forbidden, op: ok, both: ok, none: forbidden},
		ActReload:                   {partner: forbidden, win: forbidden, aud: forbidden, op: ok, both: ok, none: forbidden},
		Action("reload_everything"): {partner: forbidden, win: forbidden, aud: forbidden, op: forbidden, both: forbidden, none: forbidden},
	}
	for act, byWho := range want {
		for who, code := range byWho {
			got := ok
			if err := Authorize(Principal{Partner: who}, act, nil, ""); err != nil {
				got = CodeOf(err)
			}
			if got != code {
				t.Errorf("%s as %s: got %q, want %q (\"\" = allowed)", act, who.ID, got, code)
			}
		}
	}
}
