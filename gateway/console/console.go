// Package console is the gateway's web console for auditors, operators
// and windows (控制台), served at /console/ from assets embedded in the
// binary: server-rendered HTML and one stylesheet, no script and no CDN,
// so it works offline and under a strict Content-Security-Policy.
//
// Decisions:
//   - No new credential. A person signs in with the caller's SM2 JWT
//     (minted by `tongban token` or the district's own tooling), pasted
//     into the sign-in form, or with a one-time sign-in link `tongban
//     console` prints (a short-lived token, accepted once). The session
//     is bound to that token's caller, role and expiry: it ends when the
//     token would have. Partner systems use the API, not the console:
//     their tokens are refused.
//   - The session cookie is HttpOnly, SameSite=Strict, Secure when the
//     request came over TLS (or Options.Secure), scoped to /console/.
//     Sessions live in the process that made them (several replicas need
//     sticky sessions).
//   - Every action is a POST carrying the session's CSRF token, from the
//     console's own origin (Origin and Sec-Fetch-Site are checked when
//     sent); without it the action is refused with 403 and nothing done.
//   - Every page and action calls the same core methods as the API, with
//     the session's caller as the principal: the same authorization
//     decides, and the same evidence records name the operator.
package console

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/outbox"
)

// The core the console calls: the same services and methods as the API.
type (
	// Cases shows cases (cases.Service).
	Cases interface {
		GetCase(ctx context.Context, p gateway.Principal, id string) (*contracts.CaseView, error)
	}
	// Audit answers auditors (evidence.Auditor).
	Audit interface {
		SearchExchanges(ctx context.Context, p gateway.Principal, f evidence.ExchangeFilter) (*contracts.ExchangePage, error)
		TraceCase(ctx context.Context, p gateway.Principal, caseID string) (*contracts.CaseTrace, error)
		VerifyEvidence(ctx context.Context, p gateway.Principal, from, to int64) (*contracts.ChainVerifyResult, error)
		ExportCase(ctx context.Context, p gateway.Principal, caseID string) ([]byte, error)
		Head(ctx context.Context, p gateway.Principal) (*evidence.ChainHead, error)
	}
	// Redelivery lists and redelivers dead letters (outbox.Redelivery).
	Redelivery interface {
		ListDeliveries(ctx context.Context, p gateway.Principal, f outbox.DeliveryFilter) (*contracts.DeliveryPage, error)
		Redeliver(ctx context.Context, p gateway.Principal, deliveryID string) (*contracts.RedeliverResult, error)
		RedeliverPartner(ctx context.Context, p gateway.Principal, partnerID string) (*contracts.RedeliverResult, error)
	}
	// Tokens verifies bearer tokens (the gateway's keyring).
	Tokens interface {
		VerifyToken(token string) (gateway.TokenInfo, error)
	}
)

// BundleCheck is the outcome of checking an evidence bundle offline
// against the gateway's key.
type BundleCheck struct {
	OK         bool
	CaseID     string
	Records    int
	Signatures int
	Problems   []string
}

// Options wire the console. Cases, Audit, Redelivery, Tokens and
// Directory are required.
type Options struct {
	Cases      Cases
	Audit      Audit
	Redelivery Redelivery
	Tokens     Tokens
	Directory  *gateway.Directory
	// CheckBundle verifies an uploaded evidence bundle against the
	// gateway's key; nil hides the check.
	CheckBundle func(zipped []byte) BundleCheck
	// Partners, Keys, Reloader and Stats are the optional views; nil
	// hides one.
	Partners Partners
	Keys     Keys
	Reloader Reloader
	Stats    Stats
	// Secure marks the cookie Secure even on a plain request (a TLS
	// proxy in front); a request over TLS always gets it.
	Secure bool
	// MaxUpload bounds an uploaded evidence bundle; 0: 64 MiB.
	MaxUpload int64
	Log       *slog.Logger
	// Now is the clock of sessions; nil: time.Now.
	Now func() time.Time
}

// CookieName is the session cookie.
const CookieName = "tongban_console"

// Path is where the console is served.
const Path = "/console"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// SecurityHeaders are set on every console answer.
var SecurityHeaders = map[string]string{
	"Content-Security-Policy":      "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	"X-Content-Type-Options":       "nosniff",
	"Referrer-Policy":              "no-referrer",
	"Cache-Control":                "no-store",
	"X-Frame-Options":              "DENY",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
}

type console struct {
	Options
	sessions *sessions
	pages    map[string]*template.Template
}

// Mount serves the console on e under Path.
func Mount(e *echo.Echo, o Options) error {
	if o.Cases == nil || o.Audit == nil || o.Redelivery == nil || o.Tokens == nil || o.Directory == nil {
		return errors.New("console: cases, audit, redelivery, tokens and a directory are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.MaxUpload <= 0 {
		o.MaxUpload = 64 << 20
	}
	c := &console{Options: o, sessions: newSessions(o.Now)}
	if err := c.parse(); err != nil {
		return err
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return err
	}
	g := e.Group(Path, c.headers)
	g.GET("", func(ec echo.Context) error { return ec.Redirect(http.StatusSeeOther, Path+"/") })
	g.GET("/static/*", echo.WrapHandler(http.StripPrefix(Path+"/static/", http.FileServer(http.FS(static)))))
	g.GET("/", c.home)
	g.GET("/signin", c.signinLink)
	g.POST("/signin", c.signin)
	g.POST("/signout", c.action(c.signout))
	g.GET("/search", c.page(c.search))
	g.GET("/case", c.page(func(ec echo.Context, _ *session) error {
		return ec.Redirect(http.StatusSeeOther, Path+"/cases/"+url.PathEscape(ec.QueryParam("id")))
	}))
	g.GET("/cases/:case_id", c.page(c.caseView))
	g.GET("/cases/:case_id/export", c.page(c.export))
	g.GET("/chain", c.page(c.chain))
	g.GET("/check", c.page(c.checkForm))
	g.POST("/check", c.action(c.check))
	g.GET("/deliveries", c.page(c.deliveries))
	g.POST("/deliveries/:delivery_id/redeliver", c.action(c.redeliver))
	g.POST("/partners/:partner_id/redeliver", c.action(c.redeliverPartner))
	c.mountOps(g)
	return nil
}

// headers sets the security headers on every answer.
func (c *console) headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		h := ec.Response().Header()
		for k, v := range SecurityHeaders {
			h.Set(k, v)
		}
		return next(ec)
	}
}

// roles the console signs in; partner systems use the API.
var consoleRoles = []contracts.Role{contracts.RoleAuditor, contracts.RoleOperator, contracts.RoleWindow}

// has reports whether p has role r.
func has(p gateway.Principal, r contracts.Role) bool {
	for _, x := range p.Partner.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// current returns the request's live session and its id; expired says
// the cookie named one that ended.
func (c *console) current(ec echo.Context) (id string, ss *session, expired bool) {
	ck, err := ec.Cookie(CookieName)
	if err != nil || ck.Value == "" {
		return "", nil, false
	}
	ss, expired = c.sessions.get(ck.Value)
	return ck.Value, ss, expired
}

// handler is a page or action with its session.
type handler func(ec echo.Context, ss *session) error

// page serves GET h to a signed-in caller; without a live session it
// sends the browser to sign in.
func (c *console) page(h handler) echo.HandlerFunc {
	return func(ec echo.Context) error {
		_, ss, expired := c.current(ec)
		if ss == nil {
			return c.toSignIn(ec, expired)
		}
		return h(ec, ss)
	}
}

// action serves POST h to a signed-in caller whose request carries the
// session's CSRF token and comes from the console's own origin.
func (c *console) action(h handler) echo.HandlerFunc {
	return func(ec echo.Context) error {
		_, ss, expired := c.current(ec)
		if ss == nil {
			return c.toSignIn(ec, expired)
		}
		r := ec.Request()
		// Bound the body before anything reads the form: an uploaded
		// bundle at most MaxUpload, with room for the form's fields.
		r.Body = http.MaxBytesReader(ec.Response(), r.Body, c.MaxUpload+64<<10)
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
			return c.refuse(ec, ss, http.StatusForbidden, "跨站请求被拒绝 Cross-site request refused")
		}
		if o := r.Header.Get("Origin"); o != "" && o != "null" && !sameOrigin(o, r) {
			return c.refuse(ec, ss, http.StatusForbidden, "来源不符 Request from another origin refused")
		}
		if !ss.csrfOK(ec.FormValue("csrf")) {
			return c.refuse(ec, ss, http.StatusForbidden, "CSRF 令牌缺失或错误 CSRF token missing or wrong: nothing was done")
		}
		return h(ec, ss)
	}
}

// sameOrigin reports whether origin names the host r was sent to.
func sameOrigin(origin string, r *http.Request) bool {
	_, host, ok := strings.Cut(origin, "://")
	return ok && strings.EqualFold(host, r.Host)
}

// toSignIn sends the browser to the sign-in page, saying why.
func (c *console) toSignIn(ec echo.Context, expired bool) error {
	to := Path + "/"
	if expired {
		to += "?expired=1"
	}
	return ec.Redirect(http.StatusSeeOther, to)
}

// refuse renders an error page with status.
func (c *console) refuse(ec echo.Context, ss *session, status int, msg string) error {
	return c.render(ec, status, "error", ss, map[string]any{"Message": msg})
}

// failed renders a core error as the API would answer it: its code,
// status and message.
func (c *console) failed(ec echo.Context, ss *session, err error) error {
	code := gateway.CodeOf(err)
	msg := err.Error()
	var ge *gateway.Error
	if errors.As(err, &ge) {
		msg = ge.Message
	}
	if code == contracts.CodeInternal {
		c.Log.ErrorContext(ec.Request().Context(), "console", "err", err)
		msg = "internal error"
	}
	return c.render(ec, contracts.StatusOf(code), "error", ss, map[string]any{"Code": code, "Message": msg})
}
