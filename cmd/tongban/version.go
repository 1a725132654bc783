package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/tongban/tongban/cmd/tongban/internal/app"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise it comes from the module's build information.
var version = ""

func versionString() string {
	return fmt.Sprintf("tongban %s %s %s/%s", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// buildVersion is the version alone: what /healthz reports and the
// service.version of the telemetry (app.BuildVersion of version).
func buildVersion() string { return app.BuildVersion(version) }

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of tongban",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), versionString())
		},
	}
}
