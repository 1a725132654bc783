package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tongban/tongban/cmd/tongban/internal/app"
	"github.com/tongban/tongban/signing"
)

// callerFlags are the flags naming a caller and the key it signs with,
// shared by the commands that mint its tokens (token, console).
type callerFlags struct {
	keyPath, passwordFile, kid, iss, aud, sub string
}

// register adds the flags to f; iss describes the caller expected.
func (c *callerFlags) register(f *pflag.FlagSet, iss string) {
	f.StringVar(&c.keyPath, "key", "", "the caller's PEM private key (required)")
	f.StringVar(&c.passwordFile, "password-file", "", "file holding the password of an encrypted key")
	f.StringVar(&c.kid, "kid", "", "key id registered with the gateway (required)")
	f.StringVar(&c.iss, "iss", "", iss+" (required)")
	f.StringVar(&c.aud, "aud", "", "gateway id, e.g. tongban-demo (required)")
	f.StringVar(&c.sub, "sub", "", "the window clerk or operator acting, kept as evidence")
}

// check refuses missing required flags.
func (c *callerFlags) check() error {
	if c.keyPath == "" || c.kid == "" || c.iss == "" || c.aud == "" {
		return errors.New("--key, --kid, --iss and --aud are required")
	}
	return nil
}

// mint signs a token of the caller with ttl.
func (c *callerFlags) mint(cmd *cobra.Command, ttl time.Duration) (string, error) {
	return mintToken(cmd, c.keyPath, c.passwordFile, signing.TokenRequest{KeyID: c.kid, Issuer: c.iss, Subject: c.sub, Audience: c.aud, TTL: ttl})
}

func newTokenCmd() *cobra.Command {
	var cf callerFlags
	var ttl time.Duration
	c := &cobra.Command{
		Use:   "token --key KEY --kid KID --iss ISS --aud AUD [--sub SUB] [--ttl 5m]",
		Short: "Print a caller JWT (alg SM2) for the Authorization: Bearer header",
		Long: `Mint a caller token: a JWS with alg SM2 (SM2 with SM3, default ID, signature
as 64 bytes r‖s), header kid = KID (the key id registered with the gateway),
claims iss (caller id), sub (the window or operator acting, optional), aud
(the gateway id), iat, exp = iat + TTL, and a fresh UUIDv7 jti. The gateway
refuses tokens that live longer than its configured maximum (default 10m).`,
		Example: `  tongban token --key keys/320404.key --kid 320404 --iss 320404 --aud tongban-demo
  curl -H "Authorization: Bearer $(tongban token ...)" http://127.0.0.1:8080/v1/...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cf.check(); err != nil {
				return err
			}
			if ttl <= 0 {
				return errors.New("--ttl must be positive")
			}
			tok, err := cf.mint(cmd, ttl)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	f := c.Flags()
	cf.register(f, "caller id, e.g. 320404")
	f.DurationVar(&ttl, "ttl", 5*time.Minute, "token lifetime")
	return c
}

// mintToken loads the caller's key and signs req with a fresh UUIDv7 jti,
// using the engine chosen with --engine.
func mintToken(cmd *cobra.Command, keyPath, passwordFile string, req signing.TokenRequest) (string, error) {
	e, err := engineFlag(cmd)
	if err != nil {
		return "", err
	}
	key, err := app.LoadPrivateKey(keyPath, passwordFile)
	if err != nil {
		return "", err
	}
	jti, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	req.ID = jti.String()
	return signing.IssueToken(signing.NewSigner(key, e), req)
}
