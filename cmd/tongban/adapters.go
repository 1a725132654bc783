package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tongban/tongban/adapters"
	_ "github.com/tongban/tongban/adapters/mailbox"    // registers "mailbox"
	_ "github.com/tongban/tongban/adapters/mappedjson" // registers "mapped-json"
	_ "github.com/tongban/tongban/adapters/soap"       // registers "soap"
	_ "github.com/tongban/tongban/adapters/standard"   // registers "standard"
)

func newAdaptersCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "adapters",
		Short: "List the partner adapter styles this binary knows and what each can do",
		Long: `List the registered adapter styles: the names a partner entry's adapter field
may take, with what adapters of each style can do:

  case_delivery    push cases to the district that owns them
  status_delivery  push status updates back to the district that submitted
  inbound          read the district's calls made in its own format
                   (POST /v1/inbound/{partner_id}[/{operation}])
  license_lookup   look licenses up in the district's license library
  usage_records    pass usage records (用证记录) to the issuing district
  pull             the district pulls its deliveries from its mailbox
                   (GET /v1/mailbox, POST /v1/mailbox/ack)

A style's configuration may leave some of its capabilities off (a
mapped-json district without a lookup mapping, say). Onboarding a district
is described in the README ("Onboarding a district").`,
		Example: "  tongban adapters\n  tongban adapters --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			styles := adapters.Styles()
			if asJSON {
				type style struct {
					Name         string                `json:"name"`
					Summary      string                `json:"summary"`
					Capabilities []adapters.Capability `json:"capabilities"`
				}
				out := make([]style, 0, len(styles))
				for _, s := range styles {
					out = append(out, style{s.Name, s.Summary, s.Capabilities})
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "STYLE\tCAPABILITIES\tSUMMARY")
			for _, s := range styles {
				caps := make([]string, len(s.Capabilities))
				for i, c := range s.Capabilities {
					caps[i] = string(c)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\n", s.Name, strings.Join(caps, ","), s.Summary)
			}
			return w.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return c
}
