package main

import (
	"errors"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tongban/tongban/cmd/tongban/internal/demo"
	"github.com/tongban/tongban/gateway/config"
)

func newDemoCmd() *cobra.Command {
	var dir, addr string
	var step time.Duration
	var traceStdout bool
	c := &cobra.Command{
		Use:   "demo --dir D [--addr 127.0.0.1:8080]",
		Short: "Run a self-contained gateway with dev keys and simulated partner districts",
		Long: `Dev mode: one command, no set-up, a working gateway. It writes D/config.yaml
(gateway id tongban-demo), SM2 dev keys D/keys/<caller>.key (PKCS#8) and .pub
(SPKI) for the gateway and every caller, and example requests under
D/examples/. Callers: each demo district's system is caller <region code>
with key id <region code> (320404 320402 330702 371523 310116 610102);
window-320404 is a window of Zhonglou; auditor and operator.

Simulated district systems run on loopback, one of each adapter style:
320402 standard (the gateway's own JSON), 330702 mapped-json (its own
pinyin field names, code tables and envelope), 371523 soap (SOAP 1.1) and
610102 mailbox (behind a one-way boundary: it pulls its deliveries);
320404 and 310116 are standard too. Each moves every case it owns through
the whole lifecycle (accepted, in_progress, concluded, dispatched,
delivered) within seconds, reporting in its own format. At start the demo
sends one sample case from 320404 to each of 320402, 330702, 371523 and
610102, logs every step, then prints ready-to-paste commands.

Each pushing district is also its region's license library. A simulated
national library (caller "national", 全国一体化政务服务平台) is the
fallback library: a license of a region no district declares is asked
there, and gets an outcome (not_found for one it does not hold) instead of
no_route.

Every log line written while handling a request carries its request_id and
trace_id; each sample case is one trace, from the submission through the
owner's reports back to 320404. --trace-stdout also prints every span as JSON
on standard output. Metrics: GET /metrics; readiness: GET /readyz.

Keys and the store persist in D across runs; config.yaml is rewritten at
each start (the simulators' ports change). The keys are for development only.

The demo speaks plain HTTP, gateway and simulators alike: it is a
development tool on one host, with dev keys and nothing to protect in
transit, and plain HTTP keeps curl and the printed commands free of
certificates. A deployed gateway terminates TLS 1.3 itself (tls: in its
configuration, client certificates optional) or sits behind a TLS proxy.`,
		Example: "  tongban demo --dir demo --addr 127.0.0.1:8080",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("--dir D is required")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return demo.Run(ctx, demo.Options{Out: cmd.OutOrStdout(), Log: cmd.ErrOrStderr(), Dir: dir, Addr: addr, Step: step,
				TraceStdout: traceStdout, Version: buildVersion()})
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "directory for config, keys, store and examples (required)")
	c.Flags().StringVar(&addr, "addr", config.DefaultListen, "gateway listen address (loopback)")
	c.Flags().DurationVar(&step, "step", demo.DefaultStep, "delay between a simulated district's status reports")
	c.Flags().BoolVar(&traceStdout, "trace-stdout", false, "print every span as JSON on standard output (telemetry exporter stdout)")
	return c
}
