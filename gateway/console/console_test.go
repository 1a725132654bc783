package console_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/console"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/outbox"
)

// fakeCore answers the console's calls and keeps the redeliveries asked.
type fakeCore struct {
	mu          sync.Mutex
	redelivered []string
}

func (f *fakeCore) GetCase(_ context.Context, p gateway.Principal, id string) (*contracts.CaseView, error) {
	return &contracts.CaseView{CaseID: id, State: contracts.CaseStateForwarded, Sender: "320404", Owner: "330702",
		History: []contracts.StatusEntry{}, Deliveries: []contracts.DeliveryView{}}, nil
}

func (f *fakeCore) SearchExchanges(_ context.Context, p gateway.Principal, _ evidence.ExchangeFilter) (*contracts.ExchangePage, error) {
	if err := gateway.Authorize(p, gateway.ActAudit, nil, ""); err != nil {
		return nil, err
	}
	return &contracts.ExchangePage{Items: []contracts.ExchangeSummary{{Event: contracts.EventCaseReceived, CaseID: "c-1", At: time.Now()}}}, nil
}

func (f *fakeCore) TraceCase(_ context.Context, p gateway.Principal, id string) (*contracts.CaseTrace, error) {
	return &contracts.CaseTrace{CaseID: id, Timeline: []contracts.TraceEntry{{Seq: 1, Event: contracts.EventCaseReceived}}}, nil
}

func (f *fakeCore) VerifyEvidence(context.Context, gateway.Principal, int64, int64) (*contracts.ChainVerifyResult, error) {
	return &contracts.ChainVerifyResult{OK: true, From: 1, To: 3, Checked: 3}, nil
}

func (f *fakeCore) ExportCase(context.Context, gateway.Principal, string) ([]byte, error) {
	return []byte("PK"), nil
}

func (f *fakeCore) Head(context.Context, gateway.Principal) (*evidence.ChainHead, error) {
	return &evidence.ChainHead{Seq: 3, Hash: strings.Repeat("a", 64)}, nil
}

func (f *fakeCore) ListDeliveries(_ context.Context, p gateway.Principal, _ outbox.DeliveryFilter) (*contracts.DeliveryPage, error) {
	return &contracts.DeliveryPage{Items: []contracts.DeliverySummary{{DeliveryID: "d-1", Partner: "330702", State: contracts.TransportStateDead}}}, nil
}

func (f *fakeCore) Redeliver(_ context.Context, p gateway.Principal, id string) (*contracts.RedeliverResult, error) {
	if err := gateway.Authorize(p, gateway.ActRedeliver, nil, ""); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.redelivered = append(f.redelivered, id)
	return &contracts.RedeliverResult{Redelivered: []string{id}, Count: 1}, nil
}

func (f *fakeCore) RedeliverPartner(_ context.Context, p gateway.Principal, id string) (*contracts.RedeliverResult, error) {
	return f.Redeliver(context.Background(), p, "all:"+id)
}

func (f *fakeCore) ListPartners(_ context.Context, p gateway.Principal) (*contracts.PartnerList, error) {
	if err := gateway.Authorize(p, gateway.ActReadPartners, nil, ""); err != nil {
		return nil, err
	}
	return &contracts.PartnerList{Partners: []contracts.PartnerStatus{{ID: "330702", Degraded: true, Circuit: contracts.CircuitState("open"),
		Queue: contracts.QueueDepth{Dead: 2}}}}, nil
}

func (f *fakeCore) ListKeys(context.Context, gateway.Principal) (*contracts.KeyList, error) {
	return &contracts.KeyList{Callers: []contracts.KeyInfo{{Caller: "320404", KeyID: "320404", Fingerprint: "fp-1"}}}, nil
}

func (f *fakeCore) Add(_ context.Context, p gateway.Principal, req contracts.KeyAddRequest) (*contracts.KeyInfo, error) {
	if err := gateway.Authorize(p, gateway.ActManageKeys, nil, ""); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.redelivered = append(f.redelivered, "key:"+req.Caller+"/"+req.KeyID)
	return &contracts.KeyInfo{Caller: req.Caller, KeyID: req.KeyID}, nil
}

func (f *fakeCore) RevokeKey(_ context.Context, p gateway.Principal, caller, keyID string) (*contracts.KeyInfo, error) {
	return &contracts.KeyInfo{Caller: caller, KeyID: keyID}, nil
}

func (f *fakeCore) Reload(context.Context, gateway.Principal) (*contracts.ReloadResult, error) {
	return &contracts.ReloadResult{ConfigSM3: "abc", Partners: 3}, nil
}

func (f *fakeCore) Stats() contracts.Stats {
	p95 := 12.5
	return contracts.Stats{IntervalSeconds: 60, Points: []contracts.StatsPoint{
		{HTTPRequests: 3, Partners: []contracts.PartnerStats{{Partner: "330702", Delivered: 5, P95Ms: &p95}}},
		{HTTPRequests: 7, Partners: []contracts.PartnerStats{{Partner: "330702", Delivered: 9, P95Ms: &p95}}}}}
}

func (f *fakeCore) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.redelivered...)
}

// fakeTokens accepts "tok-<caller>[-<seconds>]" as a token of caller that
// expires in seconds (default 300), with jti the token itself.
type fakeTokens struct{ now func() time.Time }

func (f fakeTokens) VerifyToken(tok string) (gateway.TokenInfo, error) {
	rest, ok := strings.CutPrefix(tok, "tok-")
	if !ok {
		return gateway.TokenInfo{}, errors.New("bad token")
	}
	caller, secs, _ := strings.Cut(rest, "-")
	ttl := 300 * time.Second
	if secs != "" {
		d, err := time.ParseDuration(secs + "s")
		if err != nil {
			return gateway.TokenInfo{}, err
		}
		ttl = d
	}
	return gateway.TokenInfo{Issuer: caller, KeyID: caller, ID: tok, Expires: f.now().Add(ttl)}, nil
}

type env struct {
	t    *testing.T
	srv  *httptest.Server
	core *fakeCore
	now  time.Time
	mu   sync.Mutex
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, core: &fakeCore{}, now: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
	dir, err := gateway.NewDirectory([]*gateway.Partner{
		{ID: "320404", Roles: []contracts.Role{contracts.RolePartner}, Regions: []string{"320404"}, Mailbox: &gateway.MailboxPolicy{Visibility: time.Minute}},
		{ID: "auditor", Roles: []contracts.Role{contracts.RoleAuditor}},
		{ID: "operator", Roles: []contracts.Role{contracts.RoleOperator}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ec := echo.New()
	if err := console.Mount(ec, console.Options{Cases: e.core, Audit: e.core, Redelivery: e.core, Tokens: fakeTokens{now: e.clock},
		Partners: e.core, Keys: e.core, Reloader: e.core, Stats: e.core,
		Directory: dir, Now: e.clock, CheckBundle: func([]byte) console.BundleCheck { return console.BundleCheck{OK: true} }}); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(ec)
	t.Cleanup(e.srv.Close)
	return e
}

// client is a browser stand-in: it keeps cookies and follows no redirect.
func (e *env) client() *http.Client {
	jar := &jarOf{cookies: map[string]*http.Cookie{}}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type jarOf struct {
	mu      sync.Mutex
	cookies map[string]*http.Cookie
}

func (j *jarOf) SetCookies(_ *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, c := range cs {
		j.cookies[c.Name] = c
	}
}

func (j *jarOf) Cookies(*url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*http.Cookie
	for _, c := range j.cookies {
		if c.MaxAge >= 0 {
			out = append(out, c)
		}
	}
	return out
}

// signIn signs c in with token and returns the sign-in answer.
func (e *env) signIn(c *http.Client, token string) *http.Response {
	e.t.Helper()
	resp, err := c.PostForm(e.srv.URL+"/console/signin", url.Values{"token": {token}})
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func (e *env) get(c *http.Client, path string) (*http.Response, string) {
	e.t.Helper()
	resp, err := c.Get(e.srv.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp, b.String()
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token a page of c's session carries.
func (e *env) csrf(c *http.Client) string {
	e.t.Helper()
	_, body := e.get(c, "/console/deliveries")
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		e.t.Fatalf("no CSRF field in the page:\n%s", body)
	}
	return m[1]
}

func TestSignIn(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, token string
		status      int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"bad token", "nope", http.StatusUnauthorized},
		{"unknown caller", "tok-nobody", http.StatusUnauthorized},
		{"a partner system", "tok-320404", http.StatusForbidden},
		{"an auditor", "tok-auditor", http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.signIn(e.client(), tc.token)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			var ck *http.Cookie
			for _, c := range resp.Cookies() {
				if c.Name == console.CookieName {
					ck = c
				}
			}
			if (ck != nil) != (tc.status == http.StatusSeeOther) {
				t.Fatalf("session cookie set: %v", ck != nil)
			}
			if ck != nil && (!ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console/" || ck.Secure) {
				t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, path /console/, not Secure on plain HTTP", ck)
			}
		})
	}
}

func TestSecureCookieOverTLS(t *testing.T) {
	e := newEnv(t)
	ts := httptest.NewUnstartedServer(e.srv.Config.Handler)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	c := ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	resp, err := c.PostForm(ts.URL+"/console/signin", url.Values{"token": {"tok-auditor"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == console.CookieName && !ck.Secure {
			t.Fatal("the session cookie is not Secure over TLS")
		}
	}
}

func TestEveryPageRendersWithItsHeaders(t *testing.T) {
	e := newEnv(t)
	aud, op := e.client(), e.client()
	e.signIn(aud, "tok-auditor")
	e.signIn(op, "tok-operator")
	for _, tc := range []struct {
		c    *http.Client
		path string
		want string
	}{
		{e.client(), "/console/", "Sign in"},
		{aud, "/console/", "Welcome, auditor"},
		{aud, "/console/search?case_id=c-1", "case.received"},
		{aud, "/console/cases/c-1", "Evidence timeline"},
		{aud, "/console/chain?verify=1", "Every record and checkpoint verifies"},
		{aud, "/console/check", "Check an evidence bundle"},
		{op, "/console/deliveries", "d-1"},
		{op, "/console/search?case_id=c-1", "forbidden"},
		{op, "/console/districts", "degraded"},
		{aud, "/console/districts", "forbidden"},
		{op, "/console/keys", "fp-1"},
		{op, "/console/numbers", "330702 p95 ms"},
		{aud, "/console/numbers", "<polyline"},
	} {
		resp, body := e.get(tc.c, tc.path)
		if !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %d, lacks %q", tc.path, resp.StatusCode, tc.want)
		}
		for k, v := range console.SecurityHeaders {
			if resp.Header.Get(k) != v {
				t.Errorf("GET %s: %s = %q, want %q", tc.path, k, resp.Header.Get(k), v)
			}
		}
	}
}

func TestActionsNeedTheCSRFTokenAndTheOwnOrigin(t *testing.T) {
	e := newEnv(t)
	op := e.client()
	e.signIn(op, "tok-operator")
	token := e.csrf(op)
	post := func(form url.Values, header map[string]string) int {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/console/deliveries/d-1/redeliver", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := op.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		header map[string]string
		status int
	}{
		{"no token", url.Values{}, nil, http.StatusForbidden},
		{"a wrong token", url.Values{"csrf": {token + "x"}}, nil, http.StatusForbidden},
		{"cross-site", url.Values{"csrf": {token}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"another origin", url.Values{"csrf": {token}}, map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
	} {
		if got := post(tc.form, tc.header); got != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.status)
		}
	}
	if got := e.core.asked(); len(got) != 0 {
		t.Fatalf("refused actions redelivered %v", got)
	}
	if got := post(url.Values{"csrf": {token}}, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": e.srv.URL}); got != http.StatusSeeOther {
		t.Fatalf("with the token: %d, want 303", got)
	}
	if got := e.core.asked(); len(got) != 1 || got[0] != "d-1" {
		t.Fatalf("redelivered %v, want [d-1]", got)
	}
	// Redeliver all asks for a confirmation first.
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/console/partners/330702/redeliver", strings.NewReader(url.Values{"csrf": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := op.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(e.core.asked()) != 1 {
		t.Fatalf("redeliver all without confirm: %d, asked %v", resp.StatusCode, e.core.asked())
	}
}

func TestSessionsEndWithTheTokenAndLinksWorkOnce(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	e.signIn(c, "tok-auditor-60")
	if resp, _ := e.get(c, "/console/search"); resp.StatusCode != http.StatusOK {
		t.Fatalf("search in a live session: %d", resp.StatusCode)
	}
	e.advance(61 * time.Second)
	resp, _ := e.get(c, "/console/search")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/?expired=1" {
		t.Fatalf("after the token's expiry: %d %s, want 303 to /console/?expired=1", resp.StatusCode, resp.Header.Get("Location"))
	}
	link := "/console/signin?token=tok-operator-120"
	if resp, _ := e.get(e.client(), link); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a one-time link: %d", resp.StatusCode)
	}
	if resp, body := e.get(e.client(), link); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "already used") {
		t.Fatalf("the link again: %d", resp.StatusCode)
	}
}

func TestKeyActionsNeedTheCSRFToken(t *testing.T) {
	e := newEnv(t)
	op := e.client()
	e.signIn(op, "tok-operator")
	form := url.Values{"caller": {"320404"}, "key_id": {"320404-2"}, "public_key_pem": {"-----BEGIN PUBLIC KEY-----"}}
	resp, err := op.PostForm(e.srv.URL+"/console/keys", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || len(e.core.asked()) != 0 {
		t.Fatalf("a key added without the CSRF token: %d, asked %v", resp.StatusCode, e.core.asked())
	}
	form.Set("csrf", e.csrf(op))
	resp, err = op.PostForm(e.srv.URL+"/console/keys", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(e.core.asked()) != 1 || e.core.asked()[0] != "key:320404/320404-2" {
		t.Fatalf("with the token: %d, asked %v", resp.StatusCode, e.core.asked())
	}
}

func TestBodiesAreBounded(t *testing.T) {
	e := newEnv(t)
	big := strings.Repeat("x", 128<<10)
	resp, err := e.client().PostForm(e.srv.URL+"/console/signin", url.Values{"pad": {big}, "token": {"tok-auditor"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusSeeOther {
		t.Fatal("a sign-in form of 128 KiB was read whole")
	}
}
