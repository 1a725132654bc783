package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/tongban/tongban/adapters/partnersim"
	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/cmd/tongban/internal/e2etest"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/console"
	"github.com/tongban/tongban/signing"
)

// chromiumPath is Debian's Chromium (apt-get install chromium; .ci/run
// installs it). Without it the browser tests skip, and fail when CI is
// set.
func chromiumPath(t *testing.T) string {
	for _, p := range []string{os.Getenv("TONGBAN_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("Chromium is not installed (apt-get install chromium); the console's browser tests need it")
	}
	t.Skip("Chromium is not installed (apt-get install chromium)")
	return ""
}

// artifactDir is where the browser tests save their screenshots:
// TONGBAN_ARTIFACTS, else a directory under the system's temp dir.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("TONGBAN_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "tongban-console-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser starts headless Chromium with the flags the CI machines need
// and returns a fresh browser context (its own cookies) and its cancel.
func browser(t *testing.T, exe string) (context.Context, context.CancelFunc) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.WindowSize(1400, 1000))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	return ctx, func() { cancelTimeout(); cancelCtx(); cancelAlloc() }
}

// shot saves a full-page screenshot as name.png in the artifact dir.
func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// tokenFor mints caller's token with ttl, as `tongban token` does.
func tokenFor(t *testing.T, r *devrig.Rig, caller string, ttl time.Duration) string {
	t.Helper()
	tok, err := signing.IssueToken(signing.NewSigner(r.Keys[caller], r.Engine), signing.TokenRequest{
		KeyID: caller, Issuer: caller, Subject: caller + "-clerk", Audience: devrig.RigGatewayID, TTL: ttl, ID: e2etest.MustUUID(t)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// do runs browser steps and fails the test on an error.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// textOf returns the text of the element sel (CSS) names.
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// signIn signs into the console by pasting token and returns the page's
// text once it has loaded.
func signIn(t *testing.T, ctx context.Context, base, token string) string {
	t.Helper()
	do(t, ctx,
		chromedp.Navigate(base+"/console/"),
		chromedp.WaitVisible(chromedp.CSS(`#token`)),
		chromedp.SetValue(chromedp.CSS(`#token`), token),
		chromedp.Submit(chromedp.CSS(`#signin`)),
		chromedp.WaitReady(chromedp.CSS(`main`)),
	)
	return textOf(t, ctx, `main`)
}

// sessionClient is an HTTP client carrying the browser's console cookie.
func sessionClient(t *testing.T, ctx context.Context, base string) *http.Client {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/console/"}})
	if err != nil {
		t.Fatal(err)
	}
	cookies := res.Cookies
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(base + "/console/")
	for _, c := range cookies {
		if c.Name == console.CookieName {
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
				t.Errorf("session cookie: HttpOnly %v, SameSite %s; want HttpOnly and Strict", c.HTTPOnly, c.SameSite)
			}
			jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/console/"}})
		}
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestConsoleInABrowser drives the web console in Debian's Chromium: an
// auditor signs in, finds a case, opens its timeline, exports its
// evidence bundle and checks it; an operator, signed in with a one-time
// link, sees a dead letter and redelivers it, and sees it delivered; a
// partner's token is refused, a used link is refused, an expired session
// is sent back to sign in, and an action without the CSRF token is
// refused. The operator also sees the districts' state (the owner's dead
// letter and last error) and the keys in force. Screenshots of the main
// views are saved (artifactDir).
func TestConsoleInABrowser(t *testing.T) {
	exe := chromiumPath(t)
	shots := artifactDir(t)
	ctx := t.Context()
	var logs e2etest.LockedBuffer
	r, err := devrig.Start(ctx, devrig.Options{Dir: t.TempDir(), Log: &logs, Console: true,
		OwnerFaults: partnersim.Faults{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	zl := e2etest.NewCaller(devrig.Sender, devrig.RigGatewayID, r.Keys[devrig.Sender])
	submit := func() string {
		t.Helper()
		cs, err := r.Cases(1)
		if err != nil {
			t.Fatal(err)
		}
		ans, err := zl.PostSigned(ctx, zl.Token(t), r.Base+"/v1/cases", cs[0].Body)
		if err != nil || ans.Status != http.StatusAccepted {
			t.Fatalf("submit: %v %+v", err, ans)
		}
		var rc contracts.Receipt
		if err := json.Unmarshal(ans.Body, &rc); err != nil {
			t.Fatal(err)
		}
		return rc.CaseID
	}
	// waitDelivery waits until the case's delivery to the owner is in state.
	waitDelivery := func(caseID string, state contracts.TransportState) {
		t.Helper()
		for range 200 {
			v, err := zl.GetCase(ctx, zl.Token(t), r.Base, caseID)
			if err == nil && len(v.Deliveries) > 0 && v.Deliveries[0].State == state {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("case %s: its delivery did not become %s within 10s\n%s", caseID, state, logs.String())
	}
	good := submit()
	waitDelivery(good, contracts.TransportStateDelivered)
	// The owner signs its answers badly: the next case's delivery is a
	// dead letter at once.
	if err := r.Owner.SetFaults(partnersim.Faults{BadSignature: true}); err != nil {
		t.Fatal(err)
	}
	dead := submit()
	waitDelivery(dead, contracts.TransportStateDead)

	t.Run("auditor", func(t *testing.T) {
		bctx, cancel := browser(t, exe)
		defer cancel()
		if text := signIn(t, bctx, r.Base, tokenFor(t, r, devrig.Auditor, 5*time.Minute)); !strings.Contains(text, "欢迎 Welcome, auditor") {
			t.Fatalf("after sign-in: %q", text)
		}
		do(t, bctx,
			chromedp.Navigate(r.Base+"/console/search"),
			chromedp.WaitVisible(chromedp.CSS(`#search`)),
			chromedp.SetValue(chromedp.CSS(`input[name=case_id]`), good),
			chromedp.Submit(chromedp.CSS(`#search`)),
			chromedp.WaitVisible(chromedp.CSS(`#results`)),
		)
		if results := textOf(t, bctx, `#results`); !strings.Contains(results, contracts.EventCaseReceived) || !strings.Contains(results, good) {
			t.Fatalf("search results: %q", results)
		}
		shot(t, bctx, shots, "console-search")
		do(t, bctx, chromedp.Click(chromedp.CSS(`a.case-link`)), chromedp.WaitVisible(chromedp.CSS(`#timeline`)))
		timeline := textOf(t, bctx, `#timeline`)
		for _, step := range []string{contracts.EventCaseReceived, contracts.EventDeliveryAttempt, "delivered", "✓"} {
			if !strings.Contains(timeline, step) {
				t.Errorf("the case's timeline lacks %q:\n%s", step, timeline)
			}
		}
		shot(t, bctx, shots, "console-case-timeline")

		// Export the bundle with the session (the link the page shows),
		// then check it in the browser against the gateway's key.
		hc := sessionClient(t, bctx, r.Base)
		resp, err := hc.Get(r.Base + "/console/cases/" + good + "/export")
		if err != nil {
			t.Fatal(err)
		}
		zipped, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/zip" {
			t.Fatalf("export: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		zipPath := filepath.Join(t.TempDir(), "tongban-case-"+good+".zip")
		if err := os.WriteFile(zipPath, zipped, 0o644); err != nil {
			t.Fatal(err)
		}
		do(t, bctx,
			chromedp.Navigate(r.Base+"/console/check"),
			chromedp.WaitVisible(chromedp.CSS(`#check`)),
			chromedp.SetUploadFiles(chromedp.CSS(`input[name=bundle]`), []string{zipPath}),
			chromedp.Submit(chromedp.CSS(`#check`)),
			chromedp.WaitVisible(chromedp.CSS(`#check-result`)),
		)
		if verdict := textOf(t, bctx, `#check-result`); !strings.Contains(verdict, "The bundle verifies") || !strings.Contains(verdict, good) {
			t.Fatalf("bundle check: %q", verdict)
		}
		do(t, bctx, chromedp.Navigate(r.Base+"/console/chain?verify=1"), chromedp.WaitVisible(chromedp.CSS(`#verify-result`)))
		if chain := textOf(t, bctx, `#verify-result`); !strings.Contains(chain, "Every record and checkpoint verifies") {
			t.Fatalf("chain: %q", chain)
		}

		// An action without the CSRF token is refused, and does nothing.
		resp, err = hc.PostForm(r.Base+"/console/partners/"+devrig.Owner+"/redeliver", url.Values{"confirm": {"yes"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("an action without the CSRF token: %d, want 403", resp.StatusCode)
		}
	})

	t.Run("operator", func(t *testing.T) {
		bctx, cancel := browser(t, exe)
		defer cancel()
		link := strings.TrimSpace(must(t, runIn(t, r.Dir, "", "console", "--key", filepath.Join(r.Dir, "keys", devrig.Operator+".key"),
			"--kid", devrig.Operator, "--iss", devrig.Operator, "--aud", devrig.RigGatewayID, "--gateway", r.Base)).stdout)
		do(t, bctx, chromedp.Navigate(link), chromedp.WaitReady(chromedp.CSS(`main`)))
		if text := textOf(t, bctx, `main`); !strings.Contains(text, "欢迎 Welcome, operator") {
			t.Fatalf("one-time link: %q", text)
		}
		do(t, bctx, chromedp.Navigate(r.Base+"/console/deliveries"), chromedp.WaitVisible(chromedp.CSS(`#district-`+devrig.Owner)))
		if rows := textOf(t, bctx, `#district-`+devrig.Owner); !strings.Contains(rows, "dead") || !strings.Contains(rows, dead) {
			t.Fatalf("the dead letter is not listed: %q", rows)
		}
		shot(t, bctx, shots, "console-deliveries")
		do(t, bctx, chromedp.Navigate(r.Base+"/console/districts"), chromedp.WaitVisible(chromedp.CSS(`#districts`)))
		if rows := textOf(t, bctx, `#districts`); !strings.Contains(rows, "0 / 0 / 0 / 1") || !strings.Contains(rows, "does not verify") {
			t.Fatalf("the districts view does not show %s's dead letter and last error: %q", devrig.Owner, rows)
		}
		shot(t, bctx, shots, "console-districts")
		do(t, bctx, chromedp.Navigate(r.Base+"/console/keys"), chromedp.WaitVisible(chromedp.CSS(`#keys`)))
		if keys := textOf(t, bctx, `#keys`); !strings.Contains(keys, devrig.Sender) || !strings.Contains(keys, devrig.Owner) {
			t.Fatalf("the keys view: %q", keys)
		}
		if err := r.Owner.SetFaults(partnersim.Faults{}); err != nil {
			t.Fatal(err)
		}
		do(t, bctx, chromedp.Navigate(r.Base+"/console/deliveries"), chromedp.WaitVisible(chromedp.CSS(`#district-`+devrig.Owner)),
			chromedp.Submit(chromedp.CSS(`#district-`+devrig.Owner+` form.redeliver`)), chromedp.WaitVisible(chromedp.CSS(`#done`)))
		if done := textOf(t, bctx, `#done`); !strings.Contains(done, "1") {
			t.Fatalf("after redelivery: %q", done)
		}
		waitDelivery(dead, contracts.TransportStateDelivered)
		do(t, bctx, chromedp.Navigate(r.Base+"/console/cases/"+dead), chromedp.WaitVisible(chromedp.CSS(`#deliveries`)))
		if state := textOf(t, bctx, `#deliveries`); !strings.Contains(state, "delivered") {
			t.Fatalf("the redelivered case's deliveries: %q", state)
		}
		// The link was used once: a second use is refused.
		bctx2, cancel2 := browser(t, exe)
		defer cancel2()
		do(t, bctx2, chromedp.Navigate(link), chromedp.WaitReady(chromedp.CSS(`main`)))
		if text := textOf(t, bctx2, `main`); !strings.Contains(text, "already used") {
			t.Fatalf("a used link: %q", text)
		}
	})

	t.Run("partner token refused", func(t *testing.T) {
		bctx, cancel := browser(t, exe)
		defer cancel()
		if text := signIn(t, bctx, r.Base, tokenFor(t, r, devrig.Sender, 5*time.Minute)); !strings.Contains(text, "Partner systems use the API") {
			t.Fatalf("a partner's token: %q", text)
		}
	})

	t.Run("expired session", func(t *testing.T) {
		bctx, cancel := browser(t, exe)
		defer cancel()
		// The session ends with the token: one of two seconds.
		signIn(t, bctx, r.Base, tokenFor(t, r, devrig.Auditor, 2*time.Second))
		time.Sleep(2500 * time.Millisecond)
		do(t, bctx, chromedp.Navigate(r.Base+"/console/search"), chromedp.WaitVisible(chromedp.CSS(`#signin`)))
		loc, err := chromedp.Run(bctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		if text := textOf(t, bctx, `main`); !strings.Contains(text, "sign in again") || !strings.Contains(loc, "expired=1") {
			t.Fatalf("after the session ended: %s %q", loc, text)
		}
	})
}
