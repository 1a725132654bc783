// Command tongban is the one binary of the Tongban gateway: it runs the
// gateway and carries the tools operators, partners and auditors use with it
// (keys, signatures, caller tokens). Run `tongban --help` for the commands.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// exitError carries a process exit code and a message already meant for the
// user (no "Error:" prefix, no usage dump).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func main() {
	cmd := newRootCmd()
	if err := cmd.Execute(); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.msg != "" {
				fmt.Fprintln(os.Stderr, ee.msg)
			}
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "tongban:", err)
		os.Exit(2)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "tongban",
		Short: "Tongban (通办): gateway for cross-region government service exchange",
		Long: `Tongban carries remote cases (异地受理、远程办理) between districts, verifies
electronic licenses issued anywhere, and keeps an evidence log auditors can
verify offline. Every exchange is signed with SM2/SM3 over its exact bytes.

This binary holds the gateway and its tools.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildVersion(),
	}
	root.SetVersionTemplate(versionString() + "\n")
	root.PersistentFlags().String("engine", "", "SM2/SM3 engine: emmansun or tjfoc (default: the faster, emmansun)")
	root.AddCommand(newServeCmd(), newDemoCmd(), newAdaptersCmd(), newPartnersimCmd(), newKeygenCmd(), newDataKeysCmd(), newSignCmd(), newVerifyCmd(), newTokenCmd(), newConsoleCmd(), newRedeliverCmd(), newDeliveriesCmd(), newAuditCmd(), newStoreCmd(), newBenchCmd(), newVersionCmd())
	return root
}
