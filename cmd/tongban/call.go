package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/signing"
)

// gatewayCall is what a command needs to call the gateway as one caller
// with a fresh token: the flags --gateway, --key, --password-file, --kid,
// --iss, --aud, --sub and --timeout.
type gatewayCall struct {
	url, keyPath, passwordFile, kid, iss, aud, sub string
	timeout                                        time.Duration
}

// flags registers the flags for a caller of role (operator, auditor);
// subject says what --sub is recorded as.
func (g *gatewayCall) flags(f *pflag.FlagSet, role, subject string, timeout time.Duration) {
	f.StringVar(&g.url, "gateway", "", "gateway base URL, e.g. http://127.0.0.1:8080 (required)")
	f.StringVar(&g.keyPath, "key", "", role+"'s PEM private key (required)")
	f.StringVar(&g.passwordFile, "password-file", "", "file holding the password of an encrypted key")
	f.StringVar(&g.kid, "kid", "", "key id registered with the gateway (required)")
	f.StringVar(&g.iss, "iss", "", "caller id of the "+role+", e.g. "+role+" (required)")
	f.StringVar(&g.aud, "aud", "", "gateway id, e.g. tongban-demo (required)")
	f.StringVar(&g.sub, "sub", "", "the person acting ("+subject+")")
	f.DurationVar(&g.timeout, "timeout", timeout, "give up on the gateway after this long")
}

// base checks the flags and returns the gateway's base URL.
func (g *gatewayCall) base() (string, error) {
	if g.url == "" || g.keyPath == "" || g.kid == "" || g.iss == "" || g.aud == "" {
		return "", errors.New("--gateway, --key, --kid, --iss and --aud are required")
	}
	if g.timeout <= 0 {
		return "", errors.New("--timeout must be positive")
	}
	return redeliverBase(g.url)
}

// token mints the call's token (lifetime redeliverTokenTTL, a fresh jti).
func (g *gatewayCall) token(cmd *cobra.Command) (string, error) {
	return mintToken(cmd, g.keyPath, g.passwordFile, signing.TokenRequest{
		KeyID: g.kid, Issuer: g.iss, Subject: g.sub, Audience: g.aud, TTL: redeliverTokenTTL,
	})
}

// client is the call's HTTP client: bounded by --timeout, and the bearer
// token never follows a redirect anywhere.
func (g *gatewayCall) client() *http.Client {
	return &http.Client{Timeout: g.timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// do sends method target with the bearer token and returns the answer's
// body (at most limit bytes) when its status is 200. Any other answer is
// an exitError 1 naming what (the command's action) was refused, with the
// gateway's error code, message and request id; no answer is an error
// (exit 2).
func (g *gatewayCall) do(cmd *cobra.Command, what, method, target, token string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(cmd.Context(), method, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := g.client().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the message already
		}
		return nil, fmt.Errorf("calling the gateway at %s: %w", target, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading the gateway's answer: %w", err)
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("the gateway's answer is larger than %d bytes", limit)
	}
	if resp.StatusCode == http.StatusOK {
		return raw, nil
	}
	var ge contracts.Error
	if json.Unmarshal(raw, &ge) == nil && ge.Code != "" {
		msg := fmt.Sprintf("%s refused: %s: %s (HTTP %d", what, ge.Code, ge.Message, resp.StatusCode)
		if ge.RequestID != "" {
			msg += ", request_id " + ge.RequestID
		}
		return nil, &exitError{1, msg + ")"}
	}
	if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode/100 == 3 {
		return nil, &exitError{1, fmt.Sprintf("%s refused: the gateway redirects (HTTP %d) to %s; pass that as --gateway if you trust it", what, resp.StatusCode, loc)}
	}
	return nil, &exitError{1, fmt.Sprintf("%s refused: HTTP %d without an error body: %.200q", what, resp.StatusCode, raw)}
}
