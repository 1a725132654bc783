package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/tongban/tongban/cmd/tongban/internal/app"
	"github.com/tongban/tongban/signing"
)

func newTokenCmd() *cobra.Command {
	var keyPath, passwordFile, kid, iss, aud, sub string
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
			if keyPath == "" || kid == "" || iss == "" || aud == "" {
				return errors.New("--key, --kid, --iss and --aud are required")
			}
			if ttl <= 0 {
				return errors.New("--ttl must be positive")
			}
			tok, err := mintToken(cmd, keyPath, passwordFile, signing.TokenRequest{
				KeyID: kid, Issuer: iss, Subject: sub, Audience: aud, TTL: ttl,
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&keyPath, "key", "", "caller's PEM private key (required)")
	f.StringVar(&passwordFile, "password-file", "", "file holding the password of an encrypted key")
	f.StringVar(&kid, "kid", "", "key id registered with the gateway (required)")
	f.StringVar(&iss, "iss", "", "caller id, e.g. 320404 (required)")
	f.StringVar(&aud, "aud", "", "gateway id, e.g. tongban-demo (required)")
	f.StringVar(&sub, "sub", "", "window or operator acting, e.g. window-320404")
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
