package gateway

import (
	"slices"

	"github.com/tongban/tongban/contracts"
)

// Principal is an authenticated caller: who it is (from the verified
// token), what it may do (from its partner entry), and who acts (sub).
type Principal struct {
	Partner *Partner
	Subject string // the window or operator acting, may be empty
	TokenID string // jti, recorded as evidence
	KeyID   string
}

// ID returns the caller id.
func (p Principal) ID() string { return p.Partner.ID }

// Action is something a caller asks the gateway to do.
type Action string

// The actions the authorization table knows. Anything else is denied.
const (
	ActSubmitCase     Action = "submit_case"
	ActReadCase       Action = "read_case"
	ActReportStatus   Action = "report_status"
	ActRedeliver      Action = "redeliver"
	ActListDeliveries Action = "list_deliveries"
	ActVerify         Action = "verify_license"
	ActListUsage      Action = "list_usage"
	ActPullMailbox    Action = "pull_mailbox"
	ActCallNative     Action = "call_native"
	ActAudit          Action = "audit"
	ActVerifyChain    Action = "verify_chain"
	ActReadCatalogue  Action = "read_catalogue"
	ActSubmitBundle   Action = "submit_bundle"
	ActEvaluate       Action = "evaluate"
	ActReplyFollowUp  Action = "reply_follow_up"
	ActReadStats      Action = "read_stats"
)

// Authorize decides, deny by default, whether p may do act. For case
// actions c is the case (nil for a submission) and region the region the
// request names (from_region for submissions).
//
//   - submit_case: role partner, and the caller serves region;
//   - read_case: the case's sender or owner; a window serving the case's
//     from or to region; any auditor or operator;
//   - report_status: the case's owner (role partner);
//   - redeliver: role operator;
//   - list_deliveries (the unfinished deliveries of every partner): role
//     operator;
//   - verify_license: role window or partner, serving at least one region
//     (the first is sent to libraries as requester_region);
//   - list_usage: role auditor (every record), partner or window (the
//     records it may see, see licenses.Service.ListUsage);
//   - pull_mailbox: role partner with a mailbox (a partner whose adapter
//     pulls);
//   - call_native: role partner whose adapter translates its own format;
//   - audit (search, trace, export evidence): role auditor;
//   - verify_chain: role auditor or operator;
//   - read_catalogue: role partner or window;
//   - submit_bundle: as submit_case;
//   - evaluate: the case's sender (role partner), on the applicant's
//     behalf;
//   - reply_follow_up: the case's owner (role partner);
//   - read_partners, manage_keys, reload: role operator; read_keys: role
//     operator or auditor (authz_ops.go).
//   - read_stats (the gateway's recent numbers: deliveries per partner,
//     queue depth, evidence growth, requests): role operator or auditor.
//
// A caller with no business with a case gets not_found rather than
// forbidden, so it cannot learn which case ids exist; when the case does
// exist the error's cause is a ForeignCase, so that the probe is recorded.
func Authorize(p Principal, act Action, c *Case, region string) error {
	has := func(r contracts.Role) bool { return slices.Contains(p.Partner.Roles, r) }
	involved := c != nil && (c.Sender == p.ID() || c.Owner == p.ID())
	switch act {
	case ActSubmitCase, ActSubmitBundle:
		if !has(contracts.RolePartner) {
			return Failf(contracts.CodeForbidden, "only partner systems submit cases")
		}
		if !p.Partner.Serves(region) {
			return Failf(contracts.CodeForbidden, "caller %s does not serve region %s", p.ID(), region)
		}
		return nil
	case ActReadCase:
		switch {
		case c == nil:
		case has(contracts.RoleAuditor), has(contracts.RoleOperator):
			return nil
		case has(contracts.RolePartner) && involved:
			return nil
		case has(contracts.RoleWindow) && (p.Partner.Serves(c.FromRegion) || p.Partner.Serves(c.ToRegion)):
			return nil
		default:
			return NotYourCase(c.ID, "no such case")
		}
		return Failf(contracts.CodeNotFound, "no such case")
	case ActReportStatus:
		switch {
		case c == nil:
		case has(contracts.RolePartner) && c.Owner == p.ID():
			return nil
		case involved:
			return Failf(contracts.CodeForbidden, "only the owning district reports status")
		default:
			return NotYourCase(c.ID, "no such case")
		}
		return Failf(contracts.CodeNotFound, "no such case")
	case ActEvaluate, ActReplyFollowUp:
		mine, who := c != nil && c.Sender == p.ID(), "only the district that accepted the case evaluates it"
		if act == ActReplyFollowUp {
			mine, who = c != nil && c.Owner == p.ID(), "only the owning district replies to an evaluation"
		}
		switch {
		case c == nil:
		case has(contracts.RolePartner) && mine:
			return nil
		case involved:
			return Failf(contracts.CodeForbidden, "%s", who)
		default:
			return NotYourCase(c.ID, "no such case")
		}
		return Failf(contracts.CodeNotFound, "no such case")
	case ActReadCatalogue:
		if has(contracts.RolePartner) || has(contracts.RoleWindow) {
			return nil
		}
		return Failf(contracts.CodeForbidden, "only partner systems and windows read the service catalogue")
	case ActRedeliver:
		if has(contracts.RoleOperator) {
			return nil
		}
		return Failf(contracts.CodeForbidden, "only operators redeliver")
	case ActListDeliveries:
		if has(contracts.RoleOperator) {
			return nil
		}
		return Failf(contracts.CodeForbidden, "only operators list deliveries")
	case ActVerify:
		if !has(contracts.RoleWindow) && !has(contracts.RolePartner) {
			return Failf(contracts.CodeForbidden, "only windows and partner systems verify licenses")
		}
		if len(p.Partner.Regions) == 0 {
			return Failf(contracts.CodeForbidden, "caller %s serves no region; a verification names the region asking", p.ID())
		}
		return nil
	case ActListUsage:
		if has(contracts.RoleAuditor) || has(contracts.RoleWindow) || has(contracts.RolePartner) {
			return nil
		}
		return Failf(contracts.CodeForbidden, "only auditors, partner systems and windows read usage records")
	case ActPullMailbox:
		if has(contracts.RolePartner) && p.Partner.Mailbox != nil {
			return nil
		}
		return Failf(contracts.CodeForbidden, "caller %s has no mailbox; only partners whose adapter is mailbox pull", p.ID())
	case ActCallNative:
		if has(contracts.RolePartner) && p.Partner.Translator != nil {
			return nil
		}
		return Failf(contracts.CodeForbidden, "caller %s calls in the standard contract (POST /v1/cases, /v1/cases/{case_id}/status)", p.ID())
	case ActAudit:
		if has(contracts.RoleAuditor) {
			return nil
		}
		return Failf(contracts.CodeForbidden, "only auditors read the evidence log")
	case ActVerifyChain:
		if has(contracts.RoleAuditor) || has(contracts.RoleOperator) {
			return nil
		}
		return Failf(contracts.CodeForbidden, "only auditors and operators verify the evidence log")
	case ActReadStats:
		if has(contracts.RoleOperator) || has(contracts.RoleAuditor) {
			return nil
		}
		return Failf(contracts.CodeForbidden, "only operators and auditors read the gateway's statistics")
	}
	if decided, err := authorizeOperations(p, act); decided {
		return err
	}
	return Failf(contracts.CodeForbidden, "action not allowed")
}
