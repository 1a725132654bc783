package main

import (
	"errors"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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
