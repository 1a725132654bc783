package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tongban/tongban/cmd/tongban/internal/app"
	"github.com/tongban/tongban/gateway/config"
)

func newServeCmd() *cobra.Command {
	var path string
	c := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the gateway with a YAML configuration",
		Long: `Run the gateway: the v1 HTTP API, the outbox dispatcher that delivers every
case and status update until the partner acknowledges it, and the embedded
store. Invalid configuration fails at start with a message naming the field.
SIGINT or SIGTERM shut down gracefully: requests in flight and delivery
attempts in flight finish, then the store closes. SIGHUP reads the file
again and puts its partners and their keys in force without a restart (as
POST /v1/admin/reload does); a file that does not load, or that changes a
setting outside partners and key_ca, is refused and logged, and the
configuration in force stays.

Environment overrides: ` + fmt.Sprint(config.EnvNames()) + `.
See deploy/config.example.yaml for every setting.`,
		Example: "  tongban serve --config /etc/tongban/config.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return errors.New("--config FILE is required")
			}
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			g, err := app.Open(ctx, cfg, app.NewLogger(cmd.ErrOrStderr(), cfg.Log.Level), app.WithVersion(buildVersion()),
				app.WithConfigPath(path))
			if err != nil {
				return err
			}
			g.Telemetry().Install()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go g.ReloadOn(ctx, hup)
			return g.Serve(ctx, nil)
		},
	}
	c.Flags().StringVar(&path, "config", "", "YAML configuration file (required)")
	return c
}
