package httpapi_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing"
)

// The authorization matrix: every route of the v1 contract, every role,
// in its own and a foreign scope, with the answer the gateway gives. One
// table drives TestAuthorizationMatrix over the live server and renders
// docs/permissions.md (TestPermissionsDoc keeps the file equal to it;
// go test ./gateway/httpapi -run TestPermissionsDoc -update-permissions
// rewrites it).

var updatePermissions = flag.Bool("update-permissions", false, "rewrite docs/permissions.md from the authorization matrix")

// outcome is what a caller gets from a route.
type outcome int

const (
	allow  outcome = iota // past authorization (2xx, or a refusal of the request's content)
	deny                  // 403 forbidden
	hide                  // 404 not_found: the caller may not learn the resource exists
	unauth                // 401 unauthenticated
)

func (o outcome) String() string {
	return [...]string{"allow", "deny (403)", "deny (404)", "deny (401)"}[o]
}

// outcomeOf classifies an answer's status.
func outcomeOf(status int) outcome {
	switch status {
	case http.StatusUnauthorized:
		return unauth
	case http.StatusForbidden:
		return deny
	case http.StatusNotFound:
		return hide
	}
	return allow
}

// The roles of the matrix; anonymous is a request with no token.
const (
	roleWindow   = "window"
	rolePartner  = "partner"
	roleAuditor  = "auditor"
	roleOperator = "operator"
)

var matrixRoles = []string{roleWindow, rolePartner, roleAuditor, roleOperator}

// cells holds a route's outcomes by role, own scope first, then foreign.
type cells map[string][2]outcome

// authzRoute is one route of the matrix.
type authzRoute struct {
	method, pattern string
	action          string // gateway.Action the route asks for
	// scope says what own and foreign mean for the route.
	scope string
	// partners are the partner callers in the own and foreign scope.
	partners [2]string
	want     cells
	// req builds the request of caller in scope (0 own, 1 foreign) on the
	// matrix's fixture.
	req func(f *matrixFixture, caller string, scope int) *http.Request
}

// matrixFixture is the live gateway with its two cases: A from zhonglou
// (320404) to wucheng (330702), which the window serving 320404 sees, and
// B from chiping (371523) to xincheng (610102), which neither zhonglou,
// wucheng nor the window has a part in.
type matrixFixture struct {
	e          *env
	cases      [2]string
	deliveries [2]string
}

func (f *matrixFixture) post(caller, path string, body []byte) *http.Request {
	return signedReq(f.e, caller, path, body)
}

func (f *matrixFixture) get(caller, path string) *http.Request { return getReq(f.e, caller, path) }

// delete is an authenticated DELETE of path.
func (f *matrixFixture) delete(caller, path string) *http.Request {
	req := getReq(f.e, caller, path)
	req.Method = http.MethodDelete
	return req
}

// matrixKeyPEM is one SM2 public key (SPKI PEM), the same for every call
// of a test.
func matrixKeyPEM(t *testing.T) string {
	matrixKeyOnce.Do(func() {
		k, err := signing.GenerateKey(rand.Reader)
		if err == nil {
			var b []byte
			b, err = signing.MarshalPublicKeyPEM(k.Public())
			matrixKey = string(b)
		}
		matrixKeyErr = err
	})
	if matrixKeyErr != nil {
		t.Fatal(matrixKeyErr)
	}
	return matrixKey
}

var (
	matrixKeyOnce sync.Once
	matrixKey     string
	matrixKeyErr  error
)

const (
	scopeCase     = "own: a case the caller sends or owns (a window: serving its from or to region); foreign: a case it has no part in"
	scopeNone     = "none: the route names no region (own = foreign)"
	scopeSubmit   = "own: from_region the caller serves; foreign: one it does not serve"
	scopeReport   = "own: a case the caller owns (its sender gets deny (403)); foreign: a case it has no part in"
	scopeMailbox  = "own: a partner whose adapter pulls (it has a mailbox); foreign: a partner that is pushed to"
	scopeInbound  = "own: the caller's own partner_id in the path; foreign: another partner's"
	scopeTraceAll = "own: a case the caller has a part in; foreign: one it has none in (an auditor sees every case)"
	scopeEvaluate = "own: a case the caller sent (its owner gets deny (403)); foreign: a case it has no part in"
)

var both = func(o outcome) [2]outcome { return [2]outcome{o, o} }

func authzRoutes(t *testing.T) []authzRoute {
	fromRegion := func(scope int) []byte {
		b := submission(t)
		if scope == 1 {
			b = bytes.Replace(b, []byte(`"from_region": "320404"`), []byte(`"from_region": "371523"`), 1)
		}
		return b
	}
	verify := func(f *matrixFixture) []byte {
		return mustMarshal(t, contracts.LicenseVerifyRequest{LicenseID: f.e.lib.rec.LicenseID, Purpose: "核验"})
	}
	return []authzRoute{
		{method: "POST", pattern: "/v1/cases", action: "submit_case", scope: scopeSubmit, partners: [2]string{zhonglou, zhonglou},
			want: cells{roleWindow: both(deny), rolePartner: {allow, deny}, roleAuditor: both(deny), roleOperator: both(deny)},
			req:  func(f *matrixFixture, c string, s int) *http.Request { return f.post(c, "/v1/cases", fromRegion(s)) }},
		{method: "GET", pattern: "/v1/cases/{case_id}", action: "read_case", scope: scopeCase, partners: [2]string{zhonglou, zhonglou},
			want: cells{roleWindow: {allow, hide}, rolePartner: {allow, hide}, roleAuditor: both(allow), roleOperator: both(allow)},
			req:  func(f *matrixFixture, c string, s int) *http.Request { return f.get(c, "/v1/cases/"+f.cases[s]) }},
		{method: "POST", pattern: "/v1/cases/{case_id}/status", action: "report_status", scope: scopeReport, partners: [2]string{wucheng, wucheng},
			want: cells{roleWindow: both(hide), rolePartner: {allow, hide}, roleAuditor: both(hide), roleOperator: both(hide)},
			req: func(f *matrixFixture, c string, s int) *http.Request {
				return f.post(c, "/v1/cases/"+f.cases[s]+"/status", statusUpdate(t, f.cases[s], contracts.CaseStateAccepted))
			}},
		{method: "POST", pattern: "/v1/cases/{case_id}/evaluation", action: "evaluate", scope: scopeEvaluate, partners: [2]string{zhonglou, zhonglou},
			want: cells{roleWindow: both(hide), rolePartner: {allow, hide}, roleAuditor: both(hide), roleOperator: both(hide)},
			req: func(f *matrixFixture, c string, s int) *http.Request {
				return f.post(c, "/v1/cases/"+f.cases[s]+"/evaluation", evaluation(t, f.cases[s]))
			}},
		{method: "POST", pattern: "/v1/cases/{case_id}/evaluation/reply", action: "reply_follow_up", scope: scopeReport, partners: [2]string{wucheng, wucheng},
			want: cells{roleWindow: both(hide), rolePartner: {allow, hide}, roleAuditor: both(hide), roleOperator: both(hide)},
			req: func(f *matrixFixture, c string, s int) *http.Request {
				return f.post(c, "/v1/cases/"+f.cases[s]+"/evaluation/reply", followUpReply(t, f.cases[s]))
			}},
		{method: "POST", pattern: "/v1/bundles", action: "submit_bundle", scope: scopeSubmit, partners: [2]string{zhonglou, zhonglou},
			want: cells{roleWindow: both(deny), rolePartner: {allow, deny}, roleAuditor: both(deny), roleOperator: both(deny)},
			req: func(f *matrixFixture, c string, s int) *http.Request {
				return f.post(c, "/v1/bundles", bundleOf(t, fromRegion(s)))
			}},
		{method: "GET", pattern: "/v1/catalogue", action: "read_catalogue", scope: scopeNone, partners: [2]string{zhonglou, zhonglou},
			want: cells{roleWindow: both(allow), rolePartner: both(allow), roleAuditor: both(deny), roleOperator: both(deny)},
			req:  func(f *matrixFixture, c string, _ int) *http.Request { return f.get(c, "/v1/catalogue") }},
		{method: "GET", pattern: "/v1/admin/deliveries", action: "list_deliveries", scope: scopeNone, partners: [2]string{zhonglou, zhonglou},
			want: cells{roleWindow: both(deny), rolePartner: both(deny), roleAuditor: both(deny), roleOperator: both(allow)},
			req:  func(f *matrixFixture, c string, _ int) *http.Request { return f.get(c, "/v1/admin/deliveries") }},
		{method: "POST", pattern: "/v1/admin/deliveries/{delivery_id}/redeliver", action: "redeliver", scope: scopeNone, partners: [2]string{zhonglou, zhonglou},
			want: cells{roleWindow: both(deny), rolePartner: both(deny), roleAuditor: both(deny), roleOperator: both(allow)},
			req: func(f *matrixFixture, c string, s int) *http.Request {
				return f.post(c, "/v1/admin/deliveries/"+f.deliveries[s]+"/redeliver", nil)
			}},
		{method: "POST", pattern: "/v1/admin/partners/{partner_id}/redeliver", action: "redeliver", scope: scopeNone, partners: [2]string{zhonglou, zhonglou},
			want: cells{roleWindow: both(deny), rolePartner: both(deny), roleAuditor: both(deny), roleOperator: both(allow)},
			req: func(f *matrixFixture, c string, _ int) *http.Request {
				return f.post(c, "/v1/admin/partners/"+wucheng+"/redeliver", nil)
			}},
		{method: "GET", pattern: "/v1/admin/partners", action: "read_partners", scope: scopeNone, partners: [2]string{zhonglou, zhonglou},
			want: cells{roleWindow: both(deny), rolePartner: both(deny), roleAuditor: both(deny), roleOperator: both(allow)},
			req:  func(f *matrixFixture, c string, _ int) *http.Request { return f.get(c, "/v1/admin/partners") }},
		{method: "GET", pattern: "/v1/admin/keys", action: "read_keys", scope: scopeNone, partners: [2]string{zhonglou, zhonglou},
			want: cells{roleWindow: both(deny), rolePartner: both(deny), roleAuditor: both(allow), roleOperator: both(allow)},
			req:  func(f *matrixFixture, c string, _ int) *http.Request { return f.get(c, "/v1/admin/keys") }},
		{method: "POST", pattern: "/v1/admin/keys", action: "manage_keys", scope: scopeNone, partners: [2]string{zhonglou, zhonglou},
			want: cells{roleWindow: both(deny), rolePartner: both(deny), roleAuditor: both(deny), roleOperator: both(allow)},
			req: func(f *matrixFixture, c string, _ int) *http.Request {
				// The same new key each time: the operator's second request
				// is refused for its content (registered already).
				return f.post(c, "/v1/admin/keys", mustMarshal(t, contracts.KeyAddRequest{Caller: stranger, KeyID: "stranger-2", PublicKeyPEM: matrixKeyPEM(t)}))
			}},
		{method: "DELETE", pattern: "/v1/admin/keys/{caller}/{key_id}", action: "manage_keys", scope: scopeNone, partners: [2]string{zhonglou, zhonglou},
			want: cells{roleWindow: both(deny), rolePartner: both(deny), roleAuditor: both(deny), roleOperator: both(allow)},
			req: func(f *matrixFixture, c string, _ int) *http.Request {
				// chiping's only key: the operator is refused for the
				// request's content (a caller keeps its last key).
				return f.delete(c, "/v1/admin/keys/"+chiping+"/"+chiping)
			}},
		{method: "POST", pattern: "/v1/admin/reload", action: "reload", scope: scopeNone, partners: [2]string{zhonglou, zhonglou},
			want: cells{roleWindow: both(deny), rolePartner: both(deny), roleAuditor: both(deny), roleOperator: both(allow)},
			req:  func(f *matrixFixture, c string, _ int) *http.Request { return f.post(c, "/v1/admin/reload", nil) }},
		{method: "GET", pattern: "/v1/admin/stats", action: "read_stats", scope: scopeNone, partners: [2]string{zhonglou, zhonglou},
			want: cells{roleWindow: both(deny), rolePartner: both(deny), roleAuditor: both(allow), roleOperator: both(allow)},
			req:  func(f *matrixFixture, c string, _ int) *http.Request { return f.get(c, "/v1/admin/stats") }},
		{method: "POST", pattern: "/v1/licenses/verify", action: "verify_license", scope: scopeNone, partners: [2]string{zhonglou, zhonglou},
			want: cells{roleWindow: both(allow), rolePartner: both(allow), roleAuditor: both(deny), roleOperator: both(deny)},
			req: func(f *matrixFixture, c string, _ int) *http.Request {
				return f.post(c, "/v1/licenses/verify", verify(f))
			}},
		{method: "POST", pattern: "/v1/licenses/verify/batch", action: "verify_license", scope: scopeNone, partners: [2]string{zhonglou, zhonglou},
			want: cells{roleWindow: both(allow), rolePartner: both(allow), roleAuditor: both(deny), roleOperator: both(deny)},
			req: func(f *matrixFixture, c string, _ int) *http.Request {
				b := contracts.BatchVerifyRequest{Purpose: "核验", Items: []contracts.LicenseVerifyRequest{{LicenseID: f.e.lib.rec.LicenseID}}}
				return f.post(c, "/v1/licenses/verify/batch", mustMarshal(t, b))
			}},
		{method: "GET", pattern: "/v1/licenses/usage", action: "list_usage", scope: scopeNone, partners: [2]string{zhonglou, zhonglou},
			want: cells{roleWindow: both(allow), rolePartner: both(allow), roleAuditor: both(allow), roleOperator: both(deny)},
			req:  func(f *matrixFixture, c string, _ int) *http.Request { return f.get(c, "/v1/licenses/usage") }},
		{method: "GET", pattern: "/v1/mailbox", action: "pull_mailbox", scope: scopeMailbox, partners: [2]string{xincheng, zhonglou},
			want: cells{roleWindow: both(deny), rolePartner: {allow, deny}, roleAuditor: both(deny), roleOperator: both(deny)},
			req:  func(f *matrixFixture, c string, _ int) *http.Request { return f.get(c, "/v1/mailbox?wait=0") }},
		{method: "POST", pattern: "/v1/mailbox/ack", action: "pull_mailbox", scope: scopeMailbox, partners: [2]string{xincheng, zhonglou},
			want: cells{roleWindow: both(deny), rolePartner: {allow, deny}, roleAuditor: both(deny), roleOperator: both(deny)},
			req: func(f *matrixFixture, c string, _ int) *http.Request {
				return f.post(c, "/v1/mailbox/ack", []byte(`{"acks":[]}`))
			}},
		{method: "POST", pattern: "/v1/inbound/{partner_id}", action: "call_native", scope: scopeInbound, partners: [2]string{chiping, chiping},
			want: cells{roleWindow: both(deny), rolePartner: {allow, deny}, roleAuditor: both(deny), roleOperator: both(deny)},
			req: func(f *matrixFixture, c string, s int) *http.Request {
				return f.native(c, s, "/v1/inbound/%s")
			}},
		{method: "POST", pattern: "/v1/inbound/{partner_id}/{operation}", action: "call_native", scope: scopeInbound, partners: [2]string{chiping, chiping},
			want: cells{roleWindow: both(deny), rolePartner: {allow, deny}, roleAuditor: both(deny), roleOperator: both(deny)},
			req: func(f *matrixFixture, c string, s int) *http.Request {
				return f.native(c, s, "/v1/inbound/%s/case")
			}},
		{method: "GET", pattern: "/v1/audit/exchanges", action: "audit", scope: scopeNone, partners: [2]string{zhonglou, zhonglou},
			want: cells{roleWindow: both(deny), rolePartner: both(deny), roleAuditor: both(allow), roleOperator: both(deny)},
			req:  func(f *matrixFixture, c string, _ int) *http.Request { return f.get(c, "/v1/audit/exchanges") }},
		{method: "GET", pattern: "/v1/audit/cases/{case_id}/trace", action: "audit", scope: scopeTraceAll, partners: [2]string{zhonglou, zhonglou},
			want: cells{roleWindow: both(deny), rolePartner: both(deny), roleAuditor: both(allow), roleOperator: both(deny)},
			req: func(f *matrixFixture, c string, s int) *http.Request {
				return f.get(c, "/v1/audit/cases/"+f.cases[s]+"/trace")
			}},
		{method: "GET", pattern: "/v1/audit/verify", action: "verify_chain", scope: scopeNone, partners: [2]string{zhonglou, zhonglou},
			want: cells{roleWindow: both(deny), rolePartner: both(deny), roleAuditor: both(allow), roleOperator: both(allow)},
			req:  func(f *matrixFixture, c string, _ int) *http.Request { return f.get(c, "/v1/audit/verify") }},
		{method: "GET", pattern: "/v1/audit/cases/{case_id}/export", action: "audit", scope: scopeTraceAll, partners: [2]string{zhonglou, zhonglou},
			want: cells{roleWindow: both(deny), rolePartner: both(deny), roleAuditor: both(allow), roleOperator: both(deny)},
			req: func(f *matrixFixture, c string, s int) *http.Request {
				return f.get(c, "/v1/audit/cases/"+f.cases[s]+"/export")
			}},
	}
}

// native is a call on the inbound route of the caller itself (own) or of
// zhonglou (foreign; for zhonglou itself, of chiping).
func (f *matrixFixture) native(caller string, scope int, pattern string) *http.Request {
	id := caller
	if scope == 1 {
		id = zhonglou
		if caller == zhonglou {
			id = chiping
		}
	}
	body := tb1Call(chipingSubmission(f.e.t))
	if !strings.HasSuffix(pattern, "/case") {
		// The TB1 translator knows no call without an operation (it
		// would answer not_found for the operation); a body it cannot
		// read shows the request got past authorization to it.
		body = []byte("not a TB1 call")
	}
	req := signedReq(f.e, caller, fmt.Sprintf(pattern, id), body)
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	return req
}

// callerOf is who acts for role in scope on route r.
func callerOf(r authzRoute, role string, scope int) string {
	switch role {
	case roleWindow:
		return window
	case rolePartner:
		return r.partners[scope]
	case roleAuditor:
		return auditor
	}
	return operator
}

func newMatrixFixture(t *testing.T) *matrixFixture {
	e := newEnv(t, withStats(t))
	f := &matrixFixture{e: e}
	f.cases[0] = e.newCase().CaseID
	b := bytes.Replace(chipingSubmission(t), []byte(`"to_region": "330702"`), []byte(`"to_region": "610102"`), 1)
	r := e.post(chiping, "/v1/cases", b)
	if r.status != http.StatusAccepted {
		t.Fatalf("case B: %d %s", r.status, r.body)
	}
	f.cases[1] = e.verifyReceipt(r).CaseID
	for i, id := range f.cases {
		ds, err := e.store.Deliveries(t.Context(), id)
		if err != nil || len(ds) == 0 {
			t.Fatalf("deliveries of case %s: %v %v", id, ds, err)
		}
		f.deliveries[i] = ds[0].ID
	}
	return f
}

// TestAuthorizationMatrix asks every route as every role in its own and a
// foreign scope, and without a token, over the live server, and checks
// the answer against the matrix.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	f := newMatrixFixture(t)
	routes := authzRoutes(t)
	n := 0
	for _, r := range routes {
		for _, role := range matrixRoles {
			for scope, want := range r.want[role] {
				caller := callerOf(r, role, scope)
				res := f.e.send(r.req(f, caller, scope))
				n++
				if got := outcomeOf(res.status); got != want {
					t.Errorf("%s %s as %s (%s, %s): got %s (%d %s), want %s", r.method, r.pattern, role, caller,
						[]string{"own", "foreign"}[scope], got, res.status, res.body, want)
				}
			}
		}
		req := r.req(f, zhonglou, 0)
		req.Header.Del("Authorization")
		n++
		if res := f.e.send(req); outcomeOf(res.status) != unauth {
			t.Errorf("%s %s without a token: got %d %s, want 401", r.method, r.pattern, res.status, res.body)
		}
	}
	t.Logf("authorization matrix: %d routes, %d requests", len(routes), n)
}

// permissionsMarkdown renders the matrix as docs/permissions.md.
func permissionsMarkdown(routes []authzRoute) string {
	var b strings.Builder
	b.WriteString("# Who may call what\n\n")
	b.WriteString("Generated from the authorization matrix in `gateway/httpapi/authz_matrix_test.go`, which\n")
	b.WriteString("`TestAuthorizationMatrix` checks request by request against a live gateway and\n")
	b.WriteString("`TestPermissionsDoc` keeps equal to this file (regenerate with\n")
	b.WriteString("`go test ./gateway/httpapi -run TestPermissionsDoc -update-permissions`). The rules are\n")
	b.WriteString("`gateway.Authorize` (`gateway/authz.go`).\n\n")
	b.WriteString("- **allow**: the request passes authorization (it may still be refused for its content).\n")
	b.WriteString("- **deny (403)**: `forbidden`. **deny (404)**: `not_found`, so that a caller with no part in a case\n")
	b.WriteString("  cannot learn that it exists. **deny (401)**: every route without a valid bearer token.\n")
	b.WriteString("- Roles: a *window* (a service window's system, serving regions), a *partner* (a district's\n")
	b.WriteString("  system), an *auditor*, an *operator*. A caller may hold several roles; each grants what its\n")
	b.WriteString("  column says. Auditors and operators serve no region: their own and foreign cells agree.\n")
	b.WriteString("- Every route answers `deny (401)` to a request without a valid token; denials (401, 403 and\n")
	b.WriteString("  bad body signatures) are written to the evidence log as `access.denied`.\n\n")
	b.WriteString("| route | action | window own | window foreign | partner own | partner foreign | auditor | operator |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range routes {
		cell := func(role string) string {
			w := r.want[role]
			if w[0] == w[1] {
				return w[0].String()
			}
			return ""
		}
		fmt.Fprintf(&b, "| `%s %s` | `%s` | %s | %s | %s | %s | %s | %s |\n", r.method, r.pattern, r.action,
			r.want[roleWindow][0], r.want[roleWindow][1], r.want[rolePartner][0], r.want[rolePartner][1],
			cell(roleAuditor), cell(roleOperator))
	}
	b.WriteString("\nWhat own and foreign mean, route by route:\n\n")
	seen := map[string]bool{}
	for _, r := range routes {
		if seen[r.scope] {
			continue
		}
		seen[r.scope] = true
		var used []string
		for _, o := range routes {
			if o.scope == r.scope {
				used = append(used, "`"+o.method+" "+o.pattern+"`")
			}
		}
		fmt.Fprintf(&b, "- %s: %s.\n", strings.Join(used, ", "), r.scope)
	}
	return b.String()
}

// TestPermissionsDoc keeps docs/permissions.md equal to the matrix.
func TestPermissionsDoc(t *testing.T) {
	routes := authzRoutes(t)
	for _, r := range routes {
		for _, role := range []string{roleAuditor, roleOperator} {
			if w := r.want[role]; w[0] != w[1] {
				t.Fatalf("%s %s: %s own and foreign differ; the document shows one cell", r.method, r.pattern, role)
			}
		}
	}
	want := permissionsMarkdown(routes)
	path := filepath.Join("..", "..", "docs", "permissions.md")
	if *updatePermissions {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with -update-permissions)", err)
	}
	if string(got) != want {
		t.Errorf("docs/permissions.md differs from the authorization matrix; regenerate it with -update-permissions.\ngot:\n%s\nwant:\n%s", got, want)
	}
}

// evaluation is a valid evaluation of caseID.
func evaluation(t *testing.T, caseID string) []byte {
	return mustMarshal(t, contracts.EvaluationSubmission{ExchangeID: newUUID(t), CaseID: caseID, Level: contracts.LevelSatisfied,
		Channel: contracts.ChannelWindow, EvaluatedAt: time.Now().UTC(), Applicant: contracts.EvaluationApplicant{HolderType: "111", IDNumber: "11010519491231002X"}})
}

// followUpReply is a valid follow-up reply about caseID.
func followUpReply(t *testing.T, caseID string) []byte {
	return mustMarshal(t, contracts.EvaluationReply{ExchangeID: newUUID(t), CaseID: caseID, RepliedAt: time.Now().UTC(), Measures: "回访申请人"})
}

// bundleOf is a valid two-part bundle made of submission sub (JSON): its
// common fields, and its item twice, both to its to_region.
func bundleOf(t *testing.T, sub []byte) []byte {
	var s contracts.CaseSubmission
	if err := json.Unmarshal(sub, &s); err != nil {
		t.Fatal(err)
	}
	part := func(name string) contracts.BundlePart {
		return contracts.BundlePart{Part: name, ToRegion: s.ToRegion, ServiceItem: s.ServiceItem, Form: s.Form, Materials: s.Materials}
	}
	return mustMarshal(t, contracts.BundleSubmission{ExchangeID: newUUID(t), FromRegion: s.FromRegion, SubmittedAt: s.SubmittedAt,
		Name: "开办餐饮店", Applicant: s.Applicant, Window: s.Window, ReceivedAt: s.ReceivedAt, ResultDelivery: s.ResultDelivery,
		Parts: []contracts.BundlePart{part("a"), part("b")}})
}
