package gateway

import "github.com/tongban/tongban/contracts"

// The actions of the operator views (GET /v1/admin/partners, the keys in
// force, the reload of the configuration). Authorize decides them with
// authorizeOperations.
const (
	// ActReadPartners reads every partner's state: delivery health,
	// circuit, queue depth (role operator).
	ActReadPartners Action = "read_partners"
	// ActReadKeys reads the keys in force: every caller's and the
	// gateway's own (roles operator and auditor: an auditor checks
	// signatures and evidence against them).
	ActReadKeys Action = "read_keys"
	// ActManageKeys adds or revokes a caller's key at runtime (role
	// operator).
	ActManageKeys Action = "manage_keys"
	// ActReload reloads the configuration file (role operator).
	ActReload Action = "reload"
)

// authorizeOperations decides the operator views' actions, deny by
// default; decided is false for an action that is not one of them.
func authorizeOperations(p Principal, act Action) (decided bool, err error) {
	switch act {
	case ActReadPartners:
		if p.Partner.Has(contracts.RoleOperator) {
			return true, nil
		}
		return true, Failf(contracts.CodeForbidden, "only operators read the partners' state")
	case ActReadKeys:
		if p.Partner.Has(contracts.RoleOperator) || p.Partner.Has(contracts.RoleAuditor) {
			return true, nil
		}
		return true, Failf(contracts.CodeForbidden, "only operators and auditors read the keys in force")
	case ActManageKeys:
		if p.Partner.Has(contracts.RoleOperator) {
			return true, nil
		}
		return true, Failf(contracts.CodeForbidden, "only operators add and revoke keys")
	case ActReload:
		if p.Partner.Has(contracts.RoleOperator) {
			return true, nil
		}
		return true, Failf(contracts.CodeForbidden, "only operators reload the configuration")
	}
	return false, nil
}
