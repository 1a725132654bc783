package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tongban/tongban/contracts"
)

// redeliverTokenTTL is the lifetime of the operator token minted per call.
const redeliverTokenTTL = 2 * time.Minute

func newRedeliverCmd() *cobra.Command {
	var call gatewayCall
	var deliveryID, partnerID string
	c := &cobra.Command{
		Use:   "redeliver --gateway URL --key KEY --kid KID --iss ISS --aud AUD (--delivery ID | --partner ID)",
		Short: "Queue dead letters for delivery again (operators)",
		Long: `Move dead letters back to the outbox, once the reason they died is fixed
(the partner is reachable again, its key is registered, ...). --delivery ID
redelivers one dead delivery; --partner ID redelivers every dead delivery to
that partner. The delivery ids are in GET /v1/cases/{case_id} (deliveries)
and in the gateway's log ("delivery attempt failed", state dead).

The command mints a fresh operator token for the call (alg SM2, lifetime 2
minutes, a new UUIDv7 jti, --sub naming the person acting), calls
POST /v1/admin/deliveries/{id}/redeliver or
POST /v1/admin/partners/{id}/redeliver, and prints the gateway's answer:

  {"redelivered": ["<delivery id>", ...], "count": N}

Exit status: 0 when the gateway took the request (count may be 0 when the
partner had no dead letters), 1 when the gateway refused it (its error code
and message are printed: forbidden for a caller that is not an operator,
not_found, invalid_transition for a delivery that is not dead, ...), 2 when
the command could not run (bad flags, unreadable key, gateway unreachable).`,
		Example: `  # against "tongban demo --dir demo": one dead delivery, then all of 330702's
  tongban redeliver --gateway http://127.0.0.1:8080 --key demo/keys/operator.key \
    --kid operator --iss operator --aud tongban-demo --delivery 0193a5b0-...
  tongban redeliver --gateway http://127.0.0.1:8080 --key demo/keys/operator.key \
    --kid operator --iss operator --aud tongban-demo --partner 330702`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			base, err := call.base()
			if err != nil {
				return err
			}
			if (deliveryID == "") == (partnerID == "") {
				return errors.New("give exactly one of --delivery ID and --partner ID")
			}
			target := base + "/v1/admin/deliveries/" + url.PathEscape(deliveryID) + "/redeliver"
			if partnerID != "" {
				target = base + "/v1/admin/partners/" + url.PathEscape(partnerID) + "/redeliver"
			}
			tok, err := call.token(cmd)
			if err != nil {
				return err
			}
			res, err := redeliverCall(cmd, &call, target, tok)
			if err != nil {
				return err
			}
			out, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(out))
			return nil
		},
	}
	f := c.Flags()
	call.flags(f, "operator", "the gateway logs it with the redelivery", 30*time.Second)
	f.StringVar(&deliveryID, "delivery", "", "redeliver this dead delivery")
	f.StringVar(&partnerID, "partner", "", "redeliver every dead delivery to this partner")
	return c
}

// redeliverBase checks a gateway base URL and returns it without a trailing
// slash.
func redeliverBase(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("--gateway %q must be an http or https base URL such as http://127.0.0.1:8080", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// redeliverCall posts the redelivery request and returns the gateway's
// result, an exitError 1 for a refusal, or another error (exit 2) when
// there was no usable answer.
func redeliverCall(cmd *cobra.Command, call *gatewayCall, target, token string) (*contracts.RedeliverResult, error) {
	raw, err := call.do(cmd, "redeliver", http.MethodPost, target, token, 1<<20)
	if err != nil {
		return nil, err
	}
	var res contracts.RedeliverResult
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil || res.Redelivered == nil {
		return nil, fmt.Errorf("the gateway answered 200 with a body that is not a redelivery result: %.200q", raw)
	}
	return &res, nil
}
