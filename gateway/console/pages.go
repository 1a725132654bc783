package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/outbox"
)

// pageNames are the templates, each rendered inside layout.html.
var pageNames = []string{"signin", "home", "error", "search", "case", "chain", "check", "deliveries", "confirm", "districts", "keys", "numbers"}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"age": func(t time.Time, now time.Time) string {
		if t.IsZero() {
			return ""
		}
		return now.Sub(t).Round(time.Second).String()
	},
	"deref": func(b *bool) string {
		switch {
		case b == nil:
			return ""
		case *b:
			return "✓"
		}
		return "✗"
	},
}

// parse parses every page with the layout.
func (c *console) parse() error {
	c.pages = map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("console: template %s: %w", name, err)
		}
		c.pages[name] = t
	}
	return nil
}

// view is what every page gets.
type view struct {
	Session  *session
	Caller   string
	Subject  string
	Roles    []contracts.Role
	Auditor  bool
	Operator bool
	Window   bool
	CSRF     string
	Expires  time.Time
	Now      time.Time
	Data     map[string]any
	// The optional views the console has.
	HasPartners, HasKeys, HasStats bool
}

// render writes page name with status.
func (c *console) render(ec echo.Context, status int, name string, ss *session, data map[string]any) error {
	v := view{Session: ss, Now: c.Now(), Data: data, HasPartners: c.Partners != nil, HasKeys: c.Keys != nil, HasStats: c.Stats != nil}
	if ss != nil {
		p := ss.principal
		v.Caller, v.Subject, v.Roles, v.CSRF, v.Expires = p.ID(), p.Subject, p.Partner.Roles, ss.csrf, ss.expires
		v.Auditor, v.Operator, v.Window = has(p, contracts.RoleAuditor), has(p, contracts.RoleOperator), has(p, contracts.RoleWindow)
	}
	var b bytes.Buffer
	if err := c.pages[name].Execute(&b, v); err != nil {
		return err
	}
	return ec.HTMLBlob(status, b.Bytes())
}

// home is the sign-in page, or the menu of a signed-in caller.
func (c *console) home(ec echo.Context) error {
	_, ss, expired := c.current(ec)
	if ss == nil {
		msg := ""
		if expired || ec.QueryParam("expired") != "" {
			msg = "会话已过期，请重新登录 Your session has ended: sign in again"
		}
		return c.render(ec, http.StatusOK, "signin", nil, map[string]any{"Message": msg})
	}
	return c.render(ec, http.StatusOK, "home", ss, nil)
}

// maxSignInBody bounds the sign-in form (a token is a few hundred bytes).
const maxSignInBody = 64 << 10

// signin takes a pasted token.
func (c *console) signin(ec echo.Context) error {
	ec.Request().Body = http.MaxBytesReader(ec.Response(), ec.Request().Body, maxSignInBody)
	return c.start(ec, strings.TrimSpace(ec.FormValue("token")), false)
}

// signinLink takes a one-time sign-in link (`tongban console`).
func (c *console) signinLink(ec echo.Context) error {
	return c.start(ec, ec.QueryParam("token"), true)
}

// start verifies token and starts a session bound to its caller until its
// expiry; once says the token came in a one-time link.
func (c *console) start(ec echo.Context, token string, once bool) error {
	refuse := func(msg string) error {
		return c.render(ec, http.StatusUnauthorized, "signin", nil, map[string]any{"Message": msg})
	}
	if token == "" {
		return refuse("请提供令牌 A token is required")
	}
	info, err := c.Tokens.VerifyToken(token)
	if err != nil {
		return refuse("令牌无效或已过期 The token is invalid or has expired")
	}
	p := c.Directory.Get(info.Issuer)
	if p == nil {
		return refuse("调用方未配置 The token's caller is not configured")
	}
	principal := gateway.Principal{Partner: p, Subject: info.Subject, TokenID: info.ID, KeyID: info.KeyID}
	if !slices.ContainsFunc(consoleRoles, func(r contracts.Role) bool { return has(principal, r) }) {
		return c.render(ec, http.StatusForbidden, "signin", nil, map[string]any{
			"Message": "合作方系统请使用接口 Partner systems use the API, not the console: this token's caller is no auditor, operator or window"})
	}
	if once && (info.ID == "" || !c.sessions.useLink(info.ID, info.Expires)) {
		return refuse("登录链接已使用 This sign-in link was already used")
	}
	id, _, err := c.sessions.create(principal, info.Expires)
	if err != nil {
		return err
	}
	// A browser-session cookie: the console ends the session at the
	// token's expiry itself, and says so when the browser comes back.
	ec.SetCookie(&http.Cookie{Name: CookieName, Value: id, Path: Path + "/", HttpOnly: true,
		Secure: c.Secure || ec.Request().TLS != nil, SameSite: http.SameSiteStrictMode})
	c.Log.InfoContext(ec.Request().Context(), "console sign-in", "caller", p.ID, "jti", info.ID, "expires", info.Expires)
	return ec.Redirect(http.StatusSeeOther, Path+"/")
}

// signout ends the session.
func (c *console) signout(ec echo.Context, _ *session) error {
	if id, _, _ := c.current(ec); id != "" {
		c.sessions.end(id)
	}
	ec.SetCookie(&http.Cookie{Name: CookieName, Value: "", Path: Path + "/", MaxAge: -1, HttpOnly: true,
		Secure: c.Secure || ec.Request().TLS != nil, SameSite: http.SameSiteStrictMode})
	return ec.Redirect(http.StatusSeeOther, Path+"/")
}

// search is the audit search: every filter of GET /v1/audit/exchanges.
func (c *console) search(ec echo.Context, ss *session) error {
	q := ec.QueryParams()
	data := map[string]any{"Q": q, "Events": evidence.SearchableEvents, "Kinds": exchangeKinds, "States": transportStates}
	if len(q) == 0 {
		return c.render(ec, http.StatusOK, "search", ss, data)
	}
	f := evidence.ExchangeFilter{CaseID: q.Get("case_id"), ExchangeID: q.Get("exchange_id"), Partner: q.Get("partner"),
		Region: q.Get("region"), Kind: contracts.ExchangeKind(q.Get("kind")), State: contracts.TransportState(q.Get("state")),
		Event: q.Get("event"), Overdue: q.Get("overdue") == "true", Cursor: q.Get("cursor")}
	for name, t := range map[string]*time.Time{"from": &f.From, "to": &f.To, "due_before": &f.DueBefore} {
		if v := q.Get(name); v != "" {
			parsed, err := parseTime(v)
			if err != nil {
				return c.render(ec, http.StatusBadRequest, "search", ss, mergeData(data, "Message", name+": "+err.Error()))
			}
			*t = parsed
		}
	}
	page, err := c.Audit.SearchExchanges(ec.Request().Context(), ss.principal, f)
	if err != nil {
		return c.failed(ec, ss, err)
	}
	data["Page"] = page
	if page.NextCursor != "" {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("cursor", page.NextCursor)
		data["Next"] = Path + "/search?" + next.Encode()
	}
	return c.render(ec, http.StatusOK, "search", ss, data)
}

// The choices of the search form.
var (
	exchangeKinds   = []string{"case", "status", "license_verify", "usage_record", "bundle", "evaluation", "reply", "notice"}
	transportStates = []string{"pending", "in_flight", "retry_wait", "dead", "delivered", "cancelled"}
)

// parseTime reads an RFC 3339 time or the datetime-local form
// (2006-01-02T15:04, China Standard Time).
func parseTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	t, err := time.ParseInLocation("2006-01-02T15:04", v, time.FixedZone("CST", 8*3600))
	if err != nil {
		return time.Time{}, errors.New("not a time (RFC 3339, or 2006-01-02T15:04 in China Standard Time)")
	}
	return t, nil
}

func mergeData(d map[string]any, kv ...any) map[string]any {
	for i := 0; i+1 < len(kv); i += 2 {
		d[kv[i].(string)] = kv[i+1]
	}
	return d
}

// caseView is a case's whole story: its state, deadline, evaluation and
// parts, and for auditors every evidence record of it.
func (c *console) caseView(ec echo.Context, ss *session) error {
	ctx, id := ec.Request().Context(), ec.Param("case_id")
	v, err := c.Cases.GetCase(ctx, ss.principal, id)
	if err != nil {
		return c.failed(ec, ss, err)
	}
	data := map[string]any{"Case": v}
	if has(ss.principal, contracts.RoleAuditor) {
		tr, err := c.Audit.TraceCase(ctx, ss.principal, id)
		if err != nil {
			return c.failed(ec, ss, err)
		}
		data["Trace"] = tr
	}
	return c.render(ec, http.StatusOK, "case", ss, data)
}

// export downloads a case's evidence bundle.
func (c *console) export(ec echo.Context, ss *session) error {
	id := ec.Param("case_id")
	zipped, err := c.Audit.ExportCase(ec.Request().Context(), ss.principal, id)
	if err != nil {
		return c.failed(ec, ss, err)
	}
	ec.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="tongban-case-`+url.PathEscape(id)+`.zip"`)
	return ec.Blob(http.StatusOK, "application/zip", zipped)
}

// chain shows the evidence log's head and last checkpoint, and verifies
// a range when asked.
func (c *console) chain(ec echo.Context, ss *session) error {
	ctx := ec.Request().Context()
	head, err := c.Audit.Head(ctx, ss.principal)
	if err != nil {
		return c.failed(ec, ss, err)
	}
	data := map[string]any{"Head": head}
	if ec.QueryParam("verify") != "" {
		var bounds [2]int64
		for i, name := range []string{"from", "to"} {
			if v := ec.QueryParam(name); v != "" {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 1 {
					return c.render(ec, http.StatusBadRequest, "chain", ss, mergeData(data, "Message", name+": a sequence number, 1 or more"))
				}
				bounds[i] = n
			}
		}
		res, err := c.Audit.VerifyEvidence(ctx, ss.principal, bounds[0], bounds[1])
		if err != nil {
			return c.failed(ec, ss, err)
		}
		data["Result"] = res
	}
	return c.render(ec, http.StatusOK, "chain", ss, data)
}

// checkForm is the evidence bundle upload form.
func (c *console) checkForm(ec echo.Context, ss *session) error {
	if c.CheckBundle == nil || !has(ss.principal, contracts.RoleAuditor) {
		return c.refuse(ec, ss, http.StatusForbidden, "仅审计员可用 Auditors only")
	}
	return c.render(ec, http.StatusOK, "check", ss, nil)
}

// check verifies an uploaded evidence bundle against the gateway's key.
func (c *console) check(ec echo.Context, ss *session) error {
	if c.CheckBundle == nil || !has(ss.principal, contracts.RoleAuditor) {
		return c.refuse(ec, ss, http.StatusForbidden, "仅审计员可用 Auditors only")
	}
	fh, err := ec.FormFile("bundle")
	if err != nil {
		return c.render(ec, http.StatusBadRequest, "check", ss, map[string]any{"Message": "请选择证据包 Choose an evidence bundle (.zip)"})
	}
	if fh.Size > c.MaxUpload {
		return c.render(ec, http.StatusRequestEntityTooLarge, "check", ss, map[string]any{"Message": fmt.Sprintf("at most %d bytes", c.MaxUpload)})
	}
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	zipped, err := io.ReadAll(io.LimitReader(f, c.MaxUpload+1))
	if err != nil {
		return err
	}
	res := c.CheckBundle(zipped)
	return c.render(ec, http.StatusOK, "check", ss, map[string]any{"Result": res, "Name": fh.Filename})
}

// deliveries lists what waits for operators, per district.
func (c *console) deliveries(ec echo.Context, ss *session) error {
	f := outbox.DeliveryFilter{State: contracts.TransportState(ec.QueryParam("state")), Partner: ec.QueryParam("partner"),
		Cursor: ec.QueryParam("cursor")}
	page, err := c.Redelivery.ListDeliveries(ec.Request().Context(), ss.principal, f)
	if err != nil {
		return c.failed(ec, ss, err)
	}
	byPartner := map[string][]contracts.DeliverySummary{}
	var partners []string
	for _, d := range page.Items {
		if _, ok := byPartner[d.Partner]; !ok {
			partners = append(partners, d.Partner)
		}
		byPartner[d.Partner] = append(byPartner[d.Partner], d)
	}
	slices.Sort(partners)
	return c.render(ec, http.StatusOK, "deliveries", ss, map[string]any{"Partners": partners, "ByPartner": byPartner,
		"States": []string{"dead", "retry_wait", "pending", "in_flight"},
		"State":  f.State, "Partner": f.Partner, "Done": ec.QueryParam("done"), "Next": page.NextCursor})
}

// redeliver puts one dead letter back in the outbox.
func (c *console) redeliver(ec echo.Context, ss *session) error {
	res, err := c.Redelivery.Redeliver(ec.Request().Context(), ss.principal, ec.Param("delivery_id"))
	if err != nil {
		return c.failed(ec, ss, err)
	}
	return ec.Redirect(http.StatusSeeOther, Path+"/deliveries?done="+strconv.Itoa(res.Count))
}

// redeliverPartner puts every dead letter of a district back, once the
// operator confirmed it.
func (c *console) redeliverPartner(ec echo.Context, ss *session) error {
	id := ec.Param("partner_id")
	if ec.FormValue("confirm") != "yes" {
		return c.render(ec, http.StatusOK, "confirm", ss, map[string]any{"Partner": id})
	}
	res, err := c.Redelivery.RedeliverPartner(ec.Request().Context(), ss.principal, id)
	if err != nil {
		return c.failed(ec, ss, err)
	}
	return ec.Redirect(http.StatusSeeOther, Path+"/deliveries?done="+strconv.Itoa(res.Count))
}
