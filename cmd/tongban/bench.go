package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/signal"
	"syscall"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tongban/tongban/adapters/standard"
	"github.com/tongban/tongban/cmd/tongban/internal/bench"
	"github.com/tongban/tongban/gateway/config"
)

func newBenchCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure the gateway on this machine (loopback only)",
		Long: `Load generators that measure a gateway built exactly as "tongban serve"
builds one, with simulated districts, on loopback only: the bench never
talks to a gateway elsewhere.

  cases, licenses   the gateway in this process, against the crypto
                    ceiling and the same requests sent direct
  backlog, material the gateway as a child process ("tongban serve"), so
                    its own memory is measured: restart under a backlog,
                    large materials`,
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

// setupFlags adds the flags every load bench shares: how the gateway is
// set up and what the report adds.
func setupFlags(f *pflag.FlagSet, s *bench.Setup, evidence, direct, quiet *bool) {
	f.StringVar(&s.Synchronous, "synchronous", config.DefaultSynchronous, "embedded store synchronous setting: full or normal")
	f.StringVar(&s.StoreDSN, "store-dsn", "", "run the gateway on this PostgreSQL database (postgres://…), in a schema made for the run and dropped after it")
	f.IntVar(&s.Replicas, "replicas", 1, "gateways serving the --store-dsn database, each on a port of its own; requests go to each in turn")
	f.StringVar(&s.LogLevel, "log-level", "", "gateway log level (default: info for cases, warn for licenses)")
	f.StringVar(&s.LogFile, "log", "", "write the gateway's JSON log to this file (default: discarded)")
	f.BoolVar(evidence, "evidence", true, "keep the evidence log (--evidence=false measures what it costs; a gateway in service always keeps it)")
	f.BoolVar(direct, "direct", true, "first send the same kind of requests straight to the simulated district, for the gateway's overhead as a ratio")
	f.StringVar(&s.JSON, "json", "", "also write the report to this file as JSON")
	f.BoolVar(quiet, "quiet", false, "no progress lines on standard error")
}

// finishSetup completes s from the flags setupFlags read.
func finishSetup(cmd *cobra.Command, s *bench.Setup, evidence, direct, quiet bool) error {
	engine, err := engineFlag(cmd)
	if err != nil {
		return err
	}
	s.Engine, s.Version = engine.Name(), buildVersion()
	s.NoEvidence, s.NoDirect = !evidence, !direct
	if !quiet {
		s.Progress = cmd.ErrOrStderr()
	}
	return nil
}

// sizeValue is a byte size flag written like 1KiB, 512KiB or 10MiB.
type sizeValue struct{ n *int64 }

func (v sizeValue) String() string {
	if v.n == nil || *v.n == 0 {
		return "0"
	}
	return humanize.IBytes(uint64(*v.n))
}

func (v sizeValue) Set(s string) error {
	n, err := humanize.ParseBytes(s)
	if err != nil {
		return fmt.Errorf("a size is written like 1KiB, 512KiB or 10MiB")
	}
	if n > math.MaxInt64 {
		return fmt.Errorf("size %s is too large", s)
	}
	*v.n = int64(n)
	return nil
}

func (sizeValue) Type() string { return "size" }

func newBenchCasesCmd() *cobra.Command {
	var o bench.CasesOptions
	var evidence, direct, quiet bool
	c := &cobra.Command{
		Use:   "cases [--cases N] [--concurrency C] [--rate R] [--duration D]",
		Short: "Submit signed remote cases through the full path and report throughput, latency and the crypto ceiling",
		Long: `Measure the remote-case path end to end. The bench starts, in this process
and on loopback only, a simulated owner district (330702, acknowledging
every case with a signed acknowledgement and reporting no status, so only
the case path is measured) and a gateway opened exactly as "tongban serve"
opens one: its own SM2 keys, personal data sealed with SM4, rate limits on
(set far above the load, so they run but never refuse), the evidence log,
the embedded store in a temporary directory (synchronous full by default)
or PostgreSQL (--store-dsn, --replicas), the owner's adapter
(--owner-style: standard, mapped-json, soap, or mailbox, where the owner
pulls) and the outbox dispatcher. District 320404 then submits signed cases
(SM2 over the exact bytes, Gw-Signature and Gw-Key-Id) over real HTTP with
a real bearer token, one token reused as real callers do.

Every case is prepared and signed before the clock starts, so the client's
own signing does not count against the gateway. Two latencies are measured
per case: submit, until the signed 202 receipt of POST /v1/cases; and
delivered, until the owner district acknowledged the case the gateway
forwarded to it.

The report puts the gateway against two measures taken in the same run:
  crypto ceiling  the engine's raw SM2 sign and verify rates on every core,
                  measured just before the load, times the SM2 operations
                  one delivered case cost (counted during the run: the
                  gateway's and the simulated districts'); the report
                  gives the fraction of that ceiling achieved.
  direct          (--direct, default on, standard owner style) the same
                  number of case deliveries, built and signed as the
                  gateway builds them, sent straight to the simulated
                  owner first: the gateway's rate as a ratio of it.
It also reports the process's CPU seconds, allocations per case, peak
resident memory and the store's writes per case and commits per second.
The gateway, the simulated districts and the load generator share this
process and its cores: CPU and memory are theirs together (the gateway's
own CPU per case is estimated against the direct run).

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
bench then waits up to --drain for the remaining deliveries. A progress
line goes to standard error every second (--quiet: none); --json FILE
writes the report as JSON too. It exits 1 when any case was refused or
not delivered.`,
		Example: `  # maximum sustained throughput, against the crypto ceiling
  tongban bench cases --concurrency 64 --cases 20000

  # latency at 1,000 cases/s offered, for 10 seconds
  tongban bench cases --rate 1000 --duration 10s

  # cases carrying a 10 MiB material each
  tongban bench cases --cases 50 --concurrency 4 --material-size 10MiB

  # one PostgreSQL replica, or two on one database (a schema made for the run)
  tongban bench cases --store-dsn postgres://postgres@127.0.0.1:5432/test
  tongban bench cases --store-dsn postgres://postgres@127.0.0.1:5432/test --replicas 2

  # what the evidence log costs
  tongban bench cases --evidence=false

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
			if err := finishSetup(cmd, &o.Setup, evidence, direct, quiet); err != nil {
				return err
			}
			if o.LogLevel == "" {
				o.LogLevel = config.DefaultLogLevel
			}
			if err := o.Validate(); err != nil {
				return err
			}
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
	f.Var(sizeValue{&o.MaterialSize}, "material-size", "put one inline material of this size (1KiB to 10MiB) in every case (default: a small demo document)")
	f.IntVar(&o.Workers, "workers", 0, "the gateway's delivery.workers (0: its default)")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the run through the gateway to this file")
	f.StringVar(&o.OwnerStyle, "owner-style", standard.Name, "the owner district's adapter style: standard, mapped-json, soap or mailbox")
	setupFlags(f, &o.Setup, &evidence, &direct, &quiet)
	return c
}

func newBenchLicensesCmd() *cobra.Command {
	var o bench.LicensesOptions
	var evidence, direct, quiet bool
	c := &cobra.Command{
		Use:   "licenses [--verifications N] [--concurrency C] [--rate R] [--duration D] [--cache-ttl T]",
		Short: "Verify e-licenses through the full path and report throughput, latency and the crypto ceiling",
		Long: `Measure POST /v1/licenses/verify end to end. The bench starts, in this
process and on loopback only, the simulated district 330702 (whose license
library is the demo library) and a gateway opened exactly as "tongban serve"
opens one (sealed personal data, rate limits on far above the load, the
evidence log; the embedded store or PostgreSQL). The window window-320404
then verifies the valid demo licenses of 330702 over real HTTP with a real
bearer token: the gateway checks the window's SM2 signature, routes to
330702's library, sends a signed lookup, verifies the library's signed
answer, writes the usage record (with its delivery back to 330702 through
the outbox) and answers with a signed result. The usage records are passed
back to 330702 during and after the run; the bench waits up to --drain
for all of them, and a verification counts as complete when its usage
record is back at the issuer.

The report puts the gateway against the crypto ceiling (the engine's raw
rates measured just before the load, times the SM2 operations one
verification with its usage record cost, counted during the run) and,
with --direct (default on), against the same number of lookups signed as
the gateway signs them and sent straight to the simulated library.

Closed loop by default: --concurrency windows in flight, each sending its
next verification as soon as the previous one is answered; --rate R offers
R per second instead (open loop, latency from the scheduled send). Request
bodies are signed before the clock starts. The license cache is off unless
--cache-ttl is set (the default measures every verification asking the
library). Progress goes to standard error every second (--quiet: none).

It exits 1 when any verification failed or was not valid, or a usage record
did not reach the issuer within --drain.`,
		Example: `  tongban bench licenses --concurrency 32 --verifications 20000
  tongban bench licenses --rate 500 --duration 10s
  tongban bench licenses --duration 10s --cpuprofile cpu.out && go tool pprof -top cpu.out`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("verifications") && o.Rate > 0 && o.Duration > 0 {
				o.Verifications = int(math.Ceil(o.Rate * o.Duration.Seconds()))
			}
			if err := finishSetup(cmd, &o.Setup, evidence, direct, quiet); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return benchFailed(bench.RunLicenses(ctx, cmd.OutOrStdout(), o))
		},
	}
	f := c.Flags()
	f.IntVar(&o.Verifications, "verifications", bench.DefaultVerifications, "verifications to send (at most 1,000,000)")
	f.IntVar(&o.Concurrency, "concurrency", 32, "windows in flight at once")
	f.Float64Var(&o.Rate, "rate", 0, "open loop: verifications offered per second (0: closed loop)")
	f.DurationVar(&o.Duration, "duration", 0, "stop sending after this long (0: when --verifications are sent)")
	f.DurationVar(&o.CacheTTL, "cache-ttl", 0, "the gateway's license cache TTL (0: off, the default)")
	f.DurationVar(&o.Drain, "drain", bench.DefaultLicensesDrain, "how long to wait for the usage records to reach the issuer")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the run through the gateway to this file")
	setupFlags(f, &o.Setup, &evidence, &direct, &quiet)
	return c
}
