package console

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// The operators' and auditors' views beyond the API's own services, each
// optional: a console without one hides its page.
type (
	// Partners shows every district's state (outbox.Outbox).
	Partners interface {
		ListPartners(ctx context.Context, p gateway.Principal) (*contracts.PartnerList, error)
	}
	// Keys lists and changes the keys in force (keyring.Admin).
	Keys interface {
		ListKeys(ctx context.Context, p gateway.Principal) (*contracts.KeyList, error)
		Add(ctx context.Context, p gateway.Principal, req contracts.KeyAddRequest) (*contracts.KeyInfo, error)
		RevokeKey(ctx context.Context, p gateway.Principal, caller, keyID string) (*contracts.KeyInfo, error)
	}
	// Reloader puts the configuration file in force again (the application).
	Reloader interface {
		Reload(ctx context.Context, p gateway.Principal) (*contracts.ReloadResult, error)
	}
	// Stats is the history of the gateway's own numbers (telemetry.History).
	Stats interface {
		Stats() contracts.Stats
	}
)

// mountOps adds the pages of the optional views o has.
func (c *console) mountOps(g *echo.Group) {
	if c.Partners != nil {
		g.GET("/districts", c.page(c.districts))
	}
	if c.Keys != nil {
		g.GET("/keys", c.page(c.keys))
		g.POST("/keys", c.action(c.addKey))
		g.POST("/keys/:caller/:key_id/revoke", c.action(c.revokeKey))
	}
	if c.Reloader != nil {
		g.POST("/reload", c.action(c.reload))
	}
	if c.Stats != nil {
		g.GET("/numbers", c.page(c.numbers))
	}
}

// districts shows each district's state: degraded, circuit, queue depth,
// oldest waiting delivery.
func (c *console) districts(ec echo.Context, ss *session) error {
	list, err := c.Partners.ListPartners(ec.Request().Context(), ss.principal)
	if err != nil {
		return c.failed(ec, ss, err)
	}
	return c.render(ec, http.StatusOK, "districts", ss, map[string]any{"List": list})
}

// keys lists the keys in force, with the forms to add, revoke and reload.
func (c *console) keys(ec echo.Context, ss *session) error {
	return c.keysPage(ec, ss, http.StatusOK, "")
}

func (c *console) keysPage(ec echo.Context, ss *session, status int, msg string) error {
	list, err := c.Keys.ListKeys(ec.Request().Context(), ss.principal)
	if err != nil {
		return c.failed(ec, ss, err)
	}
	return c.render(ec, status, "keys", ss, map[string]any{"List": list, "Message": msg, "Done": ec.QueryParam("done"),
		"Reload": c.Reloader != nil})
}

// addKey adds a caller's key from the form.
func (c *console) addKey(ec echo.Context, ss *session) error {
	req := contracts.KeyAddRequest{Caller: strings.TrimSpace(ec.FormValue("caller")), KeyID: strings.TrimSpace(ec.FormValue("key_id")),
		PublicKeyPEM: ec.FormValue("public_key_pem")}
	k, err := c.Keys.Add(ec.Request().Context(), ss.principal, req)
	if err != nil {
		if code := gateway.CodeOf(err); code == contracts.CodeForbidden || code == contracts.CodeInternal {
			return c.failed(ec, ss, err)
		}
		return c.keysPage(ec, ss, contracts.StatusOf(gateway.CodeOf(err)), err.Error())
	}
	return ec.Redirect(http.StatusSeeOther, Path+"/keys?done="+template.URLQueryEscaper("added "+k.Caller+"/"+k.KeyID))
}

// revokeKey revokes one key.
func (c *console) revokeKey(ec echo.Context, ss *session) error {
	k, err := c.Keys.RevokeKey(ec.Request().Context(), ss.principal, ec.Param("caller"), ec.Param("key_id"))
	if err != nil {
		return c.failed(ec, ss, err)
	}
	return ec.Redirect(http.StatusSeeOther, Path+"/keys?done="+template.URLQueryEscaper("revoked "+k.Caller+"/"+k.KeyID))
}

// reload puts the configuration file in force again.
func (c *console) reload(ec echo.Context, ss *session) error {
	res, err := c.Reloader.Reload(ec.Request().Context(), ss.principal)
	if err != nil {
		return c.failed(ec, ss, err)
	}
	return ec.Redirect(http.StatusSeeOther, Path+"/keys?done="+template.URLQueryEscaper(
		fmt.Sprintf("reloaded: configuration SM3 %s, %d partners", res.ConfigSM3, res.Partners)))
}

// numbers draws the last hour of the gateway's own metrics.
func (c *console) numbers(ec echo.Context, ss *session) error {
	if err := gateway.Authorize(ss.principal, gateway.ActReadStats, nil, ""); err != nil {
		return c.failed(ec, ss, err)
	}
	st := c.Stats.Stats()
	return c.render(ec, http.StatusOK, "numbers", ss, map[string]any{"Stats": st, "Charts": charts(st)})
}

// chart is one series drawn as a sparkline.
type chart struct {
	Title string
	Last  string
	SVG   template.HTML
}

// charts makes the numbers page's sparklines: evidence growth, requests
// and errors, dead letters and waiting deliveries, and each partner's
// deliveries and p95 latency.
func charts(st contracts.Stats) []chart {
	n := len(st.Points)
	series := func(f func(contracts.StatsPoint) (float64, bool)) []float64 {
		out := make([]float64, 0, n)
		for _, p := range st.Points {
			if v, ok := f(p); ok {
				out = append(out, v)
			} else {
				out = append(out, 0)
			}
		}
		return out
	}
	out := []chart{
		mk("证据增长 Evidence records per interval", series(func(p contracts.StatsPoint) (float64, bool) {
			if p.EvidenceGrowth == nil {
				return 0, false
			}
			return float64(*p.EvidenceGrowth), true
		})),
		mk("请求 API requests", series(func(p contracts.StatsPoint) (float64, bool) { return float64(p.HTTPRequests), true })),
		mk("错误 API errors (5xx)", series(func(p contracts.StatsPoint) (float64, bool) { return float64(p.HTTPErrors), true })),
	}
	for _, s := range []contracts.TransportState{contracts.TransportStateDead, contracts.TransportStateRetryWait, contracts.TransportStatePending} {
		out = append(out, mk("投递 Deliveries "+string(s), series(func(p contracts.StatsPoint) (float64, bool) {
			v, ok := p.DeliveriesByState[s]
			return float64(v), ok
		})))
	}
	var partners []string
	for _, p := range st.Points {
		for _, ps := range p.Partners {
			if !slices.Contains(partners, ps.Partner) {
				partners = append(partners, ps.Partner)
			}
		}
	}
	slices.Sort(partners)
	for _, id := range partners {
		of := func(f func(contracts.PartnerStats) (float64, bool)) []float64 {
			return series(func(p contracts.StatsPoint) (float64, bool) {
				for _, ps := range p.Partners {
					if ps.Partner == id {
						return f(ps)
					}
				}
				return 0, false
			})
		}
		out = append(out,
			mk(id+" 送达 delivered", of(func(ps contracts.PartnerStats) (float64, bool) { return float64(ps.Delivered), true })),
			mk(id+" p95 ms", of(func(ps contracts.PartnerStats) (float64, bool) {
				if ps.P95Ms == nil {
					return 0, false
				}
				return *ps.P95Ms, true
			})))
	}
	return out
}

// mk draws values as an SVG sparkline (numbers only: nothing from a
// caller reaches the markup).
func mk(title string, values []float64) chart {
	const w, h = 240.0, 48.0
	top := 0.0
	for _, v := range values {
		top = max(top, v)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="spark" width="%d" height="%d" viewBox="0 0 %d %d" role="img">`, int(w), int(h), int(w), int(h))
	if len(values) > 1 && top > 0 {
		b.WriteString(`<polyline fill="none" stroke="#8c1c13" stroke-width="1.5" points="`)
		for i, v := range values {
			x := float64(i) * w / float64(len(values)-1)
			y := h - 2 - v/top*(h-4)
			fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
		}
		b.WriteString(`"/>`)
	} else {
		fmt.Fprintf(&b, `<line x1="0" y1="%d" x2="%d" y2="%d" stroke="#ccc"/>`, int(h-2), int(w), int(h-2))
	}
	b.WriteString(`</svg>`)
	last := ""
	if len(values) > 0 {
		last = fmt.Sprintf("%g", values[len(values)-1])
	}
	return chart{Title: title, Last: last, SVG: template.HTML(b.String())}
}
