package main

import (
	"errors"
	"math"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/cmd/tongban/internal/bench"
	"github.com/tongban/tongban/gateway/config"
)

func newBenchCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure the gateway on this machine (loopback only, in process)",
		Long: `Load generators that measure a gateway built exactly as "tongban serve"
builds one, running in this process on loopback with simulated districts.
Nothing leaves the machine: the bench never talks to a gateway elsewhere.`,
		Example: "  tongban bench cases --concurrency 64 --cases 20000",
		Args:    cobra.NoArgs,
	}
	c.AddCommand(newBenchCasesCmd(), newBenchLicensesCmd(), newBenchBacklogCmd(), newBenchMaterialCmd())
	return c
}

// benchFailed turns a bench run that measured but failed into exit 1.
func benchFailed(err error) error {
	var f *bench.Failure
	if errors.As(err, &f) {
		return &exitError{1, f.Error()}
	}
	return err
}

func newBenchCasesCmd() *cobra.Command {
	var o bench.CasesOptions
	c := &cobra.Command{
		Use:   "cases [--cases N] [--concurrency C] [--rate R] [--duration D]",
		Short: "Submit signed remote cases through the full path and report throughput and latency",
		Long: `Measure the remote-case path end to end. The bench starts, in this process
and on loopback only, a simulated owner district (330702, acknowledging
every case with a signed acknowledgement and reporting no status, so only
the case path is measured) and a gateway opened exactly as "tongban serve"
opens one: its own SM2 keys, the embedded store in a temporary directory
(synchronous full by default), the owner's adapter (--owner-style:
standard, mapped-json, soap, or mailbox, where the owner pulls) and the
outbox dispatcher. District 320404 then submits signed cases (SM2 over the exact
bytes, Gw-Signature and Gw-Key-Id) over real HTTP with a real bearer token,
one token reused as real callers do.

Every case is prepared and signed before the clock starts, so the client's
own signing does not count against the gateway. Two latencies are measured
per case: submit, until the signed 202 receipt of POST /v1/cases; and
delivered, until the owner district acknowledged the case the gateway
forwarded to it.

Two modes:
  closed loop (default)  --concurrency C callers, each sending its next case
                         as soon as the previous one is answered: maximum
                         throughput. Latency runs from the actual send.
  open loop (--rate R)   cases are offered at R per second whatever the
                         gateway does, by up to --concurrency callers in
                         flight. Latency runs from each case's scheduled send
                         time, so a stalled gateway is not hidden
                         (no coordinated omission).

The run ends when --cases cases are sent or --duration passes, whichever is
first (with --rate and --duration, --cases defaults to rate × duration); the
bench then waits up to --drain for the remaining deliveries. It exits 1 when
any case was refused or not delivered.`,
		Example: `  # maximum sustained throughput
  tongban bench cases --concurrency 64 --cases 20000

  # latency at 1,000 cases/s offered, for 10 seconds
  tongban bench cases --rate 1000 --duration 10s

  # two replicas on one PostgreSQL database (a schema made for the run)
  tongban bench cases --store-dsn postgres://postgres@127.0.0.1:5432/test --replicas 2

  # where the time goes
  tongban bench cases --cases 20000 --cpuprofile cpu.out && go tool pprof -top cpu.out`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("cases") {
				o.Cases = bench.DefaultCases
				if o.Rate > 0 && o.Duration > 0 {
					o.Cases = int(math.Ceil(o.Rate * o.Duration.Seconds()))
				}
			}
			if err := o.Validate(); err != nil {
				return err
			}
			o.Engine, _ = cmd.Flags().GetString("engine")
			if _, err := engineFlag(cmd); err != nil {
				return err
			}
			o.Version = buildVersion()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return benchFailed(bench.RunCases(ctx, cmd.OutOrStdout(), o))
		},
	}
	f := c.Flags()
	f.IntVar(&o.Cases, "cases", bench.DefaultCases, "cases to send (at most 1,000,000)")
	f.IntVar(&o.Concurrency, "concurrency", 64, "callers in flight at once")
	f.Float64Var(&o.Rate, "rate", 0, "open loop: cases offered per second (0: closed loop)")
	f.DurationVar(&o.Duration, "duration", 0, "stop sending after this long (0: when --cases are sent; at most 1h)")
	f.DurationVar(&o.Drain, "drain", bench.DefaultCasesDrain, "how long to wait for deliveries after the last case is sent")
	f.StringVar(&o.Synchronous, "synchronous", config.DefaultSynchronous, "store synchronous setting: full or normal")
	f.StringVar(&o.StoreDSN, "store-dsn", "", "run the gateway on this PostgreSQL database (postgres://…), in a schema made for the run and dropped after it")
	f.IntVar(&o.Replicas, "replicas", 1, "gateways serving the --store-dsn database, each on a port of its own; cases go to each in turn")
	f.StringVar(&o.LogLevel, "log-level", config.DefaultLogLevel, "gateway log level")
	f.StringVar(&o.LogFile, "log", "", "write the gateway's JSON log to this file (default: formatted, then discarded)")
	f.IntVar(&o.Workers, "workers", 0, "the gateway's delivery.workers (0: its default)")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the measured run to this file")
	f.StringVar(&o.OwnerStyle, "owner-style", standard.Name, "the owner district's adapter style: standard, mapped-json, soap or mailbox")
	return c
}

func newBenchLicensesCmd() *cobra.Command {
	var o bench.LicensesOptions
	c := &cobra.Command{
		Use:   "licenses [--verifications N] [--concurrency C] [--duration D] [--cache-ttl T]",
		Short: "Verify e-licenses through the full path and report throughput and latency",
		Long: `Measure POST /v1/licenses/verify end to end. The bench starts, in this
process and on loopback only, the simulated district 330702 (whose license
library is the demo library) and a gateway opened exactly as "tongban serve"
opens one. The window window-320404 then verifies the valid demo licenses of
330702 over real HTTP with a real bearer token: the gateway checks the
window's SM2 signature, routes to 330702's library, sends a signed lookup,
verifies the library's signed answer, writes the usage record (with its
delivery back to 330702 through the outbox) and answers with a signed
result. The usage records are passed back to 330702 during and after the
run; the bench waits up to --drain for all of them.

Closed loop: --concurrency windows in flight, each sending its next
verification as soon as the previous one is answered. Request bodies are
signed before the clock starts. The license cache is off unless --cache-ttl
is set (the default measures every verification asking the library).

It exits 1 when any verification failed or was not valid, or a usage record
did not reach the issuer within --drain.`,
		Example: `  tongban bench licenses --concurrency 32 --verifications 20000
  tongban bench licenses --duration 10s --cpuprofile cpu.out && go tool pprof -top cpu.out`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			engine, err := engineFlag(cmd)
			if err != nil {
				return err
			}
			o.Engine, o.Version = engine.Name(), buildVersion()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return benchFailed(bench.RunLicenses(ctx, cmd.OutOrStdout(), o))
		},
	}
	f := c.Flags()
	f.IntVar(&o.Verifications, "verifications", bench.DefaultVerifications, "verifications to send (at most 1,000,000)")
	f.IntVar(&o.Concurrency, "concurrency", 32, "windows in flight at once")
	f.DurationVar(&o.Duration, "duration", 0, "stop sending after this long (0: when --verifications are sent)")
	f.DurationVar(&o.CacheTTL, "cache-ttl", 0, "the gateway's license cache TTL (0: off, the default)")
	f.DurationVar(&o.Drain, "drain", bench.DefaultLicensesDrain, "how long to wait for the usage records to reach the issuer")
	f.StringVar(&o.Synchronous, "synchronous", config.DefaultSynchronous, "store synchronous setting: full or normal")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the measured run to this file")
	return c
}
