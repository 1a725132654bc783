package main

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// maxLinkTTL bounds a sign-in link's life: the console accepts it once,
// and a link in a terminal's scrollback should not stay useful long.
const maxLinkTTL = 10 * time.Minute

func newConsoleCmd() *cobra.Command {
	var cf callerFlags
	var gw string
	var ttl time.Duration
	c := &cobra.Command{
		Use:   "console --key KEY --kid KID --iss ISS --aud AUD [--gateway URL] [--sub SUB] [--ttl 2m]",
		Short: "Print a one-time sign-in link to the web console",
		Long: `Print a link that signs an auditor, operator or window into the gateway's web
console (served at /console/ when console.enabled is set; on in the demo).
The link carries a caller token (alg SM2, like "tongban token" mints) signed
with the caller's own key, which never leaves this machine: the console
accepts the link once, before TTL runs out, and the session it opens ends
when the token would have. Partner systems' tokens are refused.`,
		Example: `  tongban console --key demo/keys/auditor.key --kid auditor --iss auditor --aud tongban-demo \
    --gateway http://127.0.0.1:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cf.check(); err != nil {
				return err
			}
			if ttl <= 0 || ttl > maxLinkTTL {
				return fmt.Errorf("--ttl must be positive and at most %s", maxLinkTTL)
			}
			base, err := url.Parse(strings.TrimRight(gw, "/"))
			if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
				return fmt.Errorf("--gateway %q: want the gateway's base URL, e.g. http://127.0.0.1:8080", gw)
			}
			tok, err := cf.mint(cmd, ttl)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/console/signin?token=%s\n", base.String(), url.QueryEscape(tok))
			fmt.Fprintf(cmd.ErrOrStderr(), "one-time link for %s, valid %s\n", cf.iss, ttl)
			return nil
		},
	}
	f := c.Flags()
	cf.register(f, "caller id: an auditor, operator or window")
	f.StringVar(&gw, "gateway", "http://127.0.0.1:8080", "the gateway's base URL")
	f.DurationVar(&ttl, "ttl", 2*time.Minute, "how long the link stays valid (at most 10m)")
	return c
}
