package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/outbox"
)

func newDeliveriesCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "deliveries",
		Short: "Look at the gateway's outbox (operators)",
		Long: `Tools for operators on a running gateway's outbox:

  tongban deliveries list   the deliveries waiting for an operator (dead letters, retries)

Redeliver dead letters with tongban redeliver.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	c.AddCommand(newDeliveriesListCmd())
	return c
}

// deliveriesPageMax is the most deliveries one call asks the gateway for
// (its largest page); a variable so that tests can make pages small.
var deliveriesPageMax = outbox.MaxDeliveryPage

func newDeliveriesListCmd() *cobra.Command {
	var (
		call           gatewayCall
		state, partner string
		cursor         string
		limit          int
		asJSON         bool
	)
	c := &cobra.Command{
		Use:   "list --gateway URL --key KEY --kid KID --iss ISS --aud AUD [--state STATE] [--partner ID] [--limit N] [--json]",
		Short: "List the deliveries waiting for an operator",
		Long: `List the gateway's unfinished deliveries, oldest first, with what an operator
needs to act on them: the delivery id (what tongban redeliver takes), its
state, attempts, partner, kind, case, next attempt, when it was queued and
the last error. Without --state: the dead letters and the deliveries
waiting to be retried (dead, retry_wait); --state names one of dead,
retry_wait, pending or in_flight. --partner keeps one partner's.

The command mints a fresh operator token (alg SM2, lifetime 2 minutes, a
new UUIDv7 jti, --sub naming the person acting), calls
GET /v1/admin/deliveries and follows its next_cursor until --limit
deliveries are listed. It prints a table, or with --json the gateway's page
shape with every item collected:

  {"items": [{"delivery_id": "...", "kind": "case", "case_id": "...",
    "partner": "330702", "exchange_id": "...", "state": "dead",
    "attempts": 8, "last_error": "...", "created_at": "..."}],
   "next_cursor": "..."}

next_cursor is there when more deliveries follow than --limit allowed:
pass it as --cursor to go on (the table prints it on stderr).

Exit status: 0 when the gateway answered (the list may be empty), 1 when
it refused (its error code and message are printed: forbidden for a caller
that is not an operator, ...), 2 when the command could not run (bad flags,
unreadable key, gateway unreachable).`,
		Example: `  # against "tongban demo --dir demo": what waits, then 330702's dead letters as JSON
  tongban deliveries list --gateway http://127.0.0.1:8080 --key demo/keys/operator.key \
    --kid operator --iss operator --aud tongban-demo
  tongban deliveries list --gateway http://127.0.0.1:8080 --key demo/keys/operator.key \
    --kid operator --iss operator --aud tongban-demo --state dead --partner 330702 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			base, err := call.base()
			if err != nil {
				return err
			}
			if state != "" && !gateway.Unfinished(contracts.TransportState(state)) {
				return fmt.Errorf("--state %q must be dead, retry_wait, pending or in_flight", state)
			}
			if partner != "" {
				if err := contracts.ValidateOpaqueID("partner", partner); err != nil {
					return fmt.Errorf("--partner: %w", err)
				}
			}
			if cursor != "" {
				if _, err := strconv.ParseUint(cursor, 10, 63); err != nil || cursor == "0" {
					return fmt.Errorf("--cursor %q is not a next_cursor this command printed", cursor)
				}
			}
			if limit < 1 {
				return errors.New("--limit must be 1 or more")
			}
			page, err := listDeliveries(cmd, &call, base, state, partner, cursor, limit)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(page)
			}
			return printDeliveries(cmd, page, state)
		},
	}
	f := c.Flags()
	call.flags(f, "operator", "the gateway logs it with the request", 30*time.Second)
	f.StringVar(&state, "state", "", "only deliveries in this state: dead, retry_wait, pending or in_flight (default dead and retry_wait)")
	f.StringVar(&partner, "partner", "", "only deliveries to this partner id")
	f.IntVar(&limit, "limit", 1000, "list at most this many deliveries")
	f.StringVar(&cursor, "cursor", "", "start after this next_cursor of an earlier listing")
	f.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return c
}

// listDeliveries calls GET /v1/admin/deliveries page after page until
// limit deliveries are collected or the last page is read, and returns
// them as one page: its NextCursor is set when more follow. A token lives
// redeliverTokenTTL, so a new one is minted once half of that has passed.
func listDeliveries(cmd *cobra.Command, call *gatewayCall, base, state, partner, cursor string, limit int) (*contracts.DeliveryPage, error) {
	all := &contracts.DeliveryPage{Items: []contracts.DeliverySummary{}}
	var (
		tok    string
		minted time.Time
	)
	for {
		if tok == "" || time.Since(minted) > redeliverTokenTTL/2 {
			var err error
			if tok, err = call.token(cmd); err != nil {
				return nil, err
			}
			minted = time.Now()
		}
		q := url.Values{}
		if state != "" {
			q.Set("state", state)
		}
		if partner != "" {
			q.Set("partner", partner)
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		want := min(limit-len(all.Items), deliveriesPageMax)
		q.Set("limit", strconv.Itoa(want))
		raw, err := call.do(cmd, "listing", http.MethodGet, base+"/v1/admin/deliveries?"+q.Encode(), tok, 16<<20)
		if err != nil {
			return nil, err
		}
		var page contracts.DeliveryPage
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&page); err != nil || page.Items == nil || len(page.Items) > want {
			return nil, fmt.Errorf("the gateway answered 200 with a body that is not a page of deliveries: %.200q", raw)
		}
		all.Items = append(all.Items, page.Items...)
		all.NextCursor = page.NextCursor
		if page.NextCursor == "" || len(all.Items) >= limit {
			return all, nil
		}
		if page.NextCursor == cursor || len(page.Items) == 0 {
			return nil, fmt.Errorf("the gateway answered the same cursor %q again", cursor)
		}
		cursor = page.NextCursor
	}
}

// printDeliveries prints page as a table on stdout; what is not a row (no
// deliveries, more to list) goes to stderr.
func printDeliveries(cmd *cobra.Command, page *contracts.DeliveryPage, state string) error {
	what := state
	if what == "" {
		what = "dead or retry_wait"
	}
	if len(page.Items) == 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "no %s deliveries\n", what)
		return nil
	}
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "DELIVERY\tSTATE\tATTEMPTS\tPARTNER\tKIND\tCASE\tNEXT ATTEMPT\tCREATED\tLAST ERROR")
	for _, d := range page.Items {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", d.DeliveryID, d.State, d.Attempts, d.Partner, d.Kind,
			dash(d.CaseID), dash(stamp(d.NextAttemptAt)), stamp(d.CreatedAt), dash(oneLine(d.LastError)))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if page.NextCursor != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "%d deliveries listed; more follow: pass --cursor %s (or a larger --limit)\n", len(page.Items), page.NextCursor)
	}
	return nil
}

// stamp formats t to the second in UTC; "" for the zero time.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a partner's error text on its row: control characters
// (a newline, a tab the table would align on) become spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
