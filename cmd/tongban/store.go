package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/store/postgres"
	"github.com/tongban/tongban/gateway/store/sqlite"
	"github.com/tongban/tongban/signing"
)

func newStoreCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "store",
		Short: "Back up the gateway's store, or move it to PostgreSQL",
		Long: `Operations on the gateway's durable store.

  backup   an online, consistent copy of the embedded store (a running
           gateway keeps serving); PostgreSQL is backed up with its own
           tools (pg_dump, or base backups and WAL archiving for
           point-in-time recovery: see the README's Operations).
  copy     move an embedded store into an empty PostgreSQL schema, every
           row verbatim and the evidence log with the same head, verified.`,
		Args: cobra.NoArgs,
	}
	c.AddCommand(newStoreBackupCmd(), newStoreCopyCmd())
	return c
}

func newStoreBackupCmd() *cobra.Command {
	var cfgPath, storePath, to string
	c := &cobra.Command{
		Use:   "backup (--config FILE | --store FILE) --to FILE",
		Short: "Copy the embedded store, consistently, while the gateway serves",
		Long: `Write a consistent copy of the embedded store to a new file. The copy is
one snapshot of the database, taken while a running gateway goes on
writing (SQLite's VACUUM INTO in a read transaction): it holds every case,
delivery, exchange body, usage record, evidence record and checkpoint
committed before the snapshot, and nothing half-written. The source is
only read. --to must not exist.

Restore by stopping the gateway and putting the copy in place of the
store file (keep the old one aside); "tongban audit verify --store FILE"
checks a copy's evidence log before you rely on it.`,
		Example: `  tongban store backup --config /etc/tongban/config.yaml --to /backup/tongban-$(date +%F).db
  tongban audit verify --store /backup/tongban-2026-12-06.db --gateway-pub /etc/tongban/keys/gateway.pub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (cfgPath == "") == (storePath == "") {
				return errors.New("give exactly one of --config FILE and --store FILE")
			}
			if to == "" {
				return errors.New("--to FILE is required")
			}
			if cfgPath != "" {
				cfg, err := config.Load(cfgPath)
				if err != nil {
					return err
				}
				if cfg.Store.Driver != config.DriverSQLite {
					return fmt.Errorf("store.driver is %s: back PostgreSQL up with pg_dump or base backups (see the README's Operations)", cfg.Store.Driver)
				}
				storePath = cfg.Resolve(cfg.Store.Path)
			}
			if err := sqlite.Backup(cmd.Context(), storePath, to); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backed up %s to %s\n", storePath, to)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&cfgPath, "config", "", "the gateway's YAML configuration (reads store.path)")
	f.StringVar(&storePath, "store", "", "the store file (tongban.db)")
	f.StringVar(&to, "to", "", "the new file to write (must not exist)")
	return c
}

func newStoreCopyCmd() *cobra.Command {
	var from, to, schema string
	c := &cobra.Command{
		Use:   "copy --from FILE --to postgres://USER@HOST/DB [--schema tongban]",
		Short: "Move the embedded store into an empty PostgreSQL schema, verified",
		Long: `Copy an embedded store file into an empty schema of a PostgreSQL database:
every case, exchange (bodies, signatures and receipts byte for byte),
history entry, delivery (payload, acknowledgement, state, attempts, lease,
pull flag and seq), usage record (full holder ids included), evidence record
and signed checkpoint. Rows are copied as stored: nothing is hashed, linked
or signed again, so the PostgreSQL log holds the same records and hashes,
ends at the same head, and the gateway's checkpoints still verify. New
deliveries and evidence records continue after the copied ones.

The file is only read, in one read transaction (a snapshot); a gateway may
still be serving from it, but what it writes after the copy began is not
copied: stop the gateway first to move everything. The file's evidence log
must verify, or nothing is copied.

The schema is created if missing and migrated, then filled in one
transaction, with its tables locked: the copy is refused unless the schema
holds no data, and one that fails or is interrupted (Ctrl-C) is rolled back
whole, leaving the schema empty, so it can simply be run again.

After the commit the copy is checked: both evidence logs are walked (each
record's SM3 hash and link, each checkpoint against its record) and must
end at the same head seq and hash with as many records and checkpoints;
every table must hold as many rows as in the file, and the deliveries by
state must agree. Checkpoint signatures are copied as stored; check them
with tongban audit verify --gateway-pub. Then set store.driver: postgres,
store.dsn and store.schema in the gateway's configuration and start it.

Progress goes to standard error, the summary to standard output.

Exit status: 0 when the copy is committed and matches the file; 1 when it
was committed but the check found a difference (printed); 2 when nothing
was copied (refused, unreadable, or failed and rolled back).`,
		Example: `  tongban store copy --from /var/lib/tongban/tongban.db --to postgres://tongban@db.internal/tongban
  tongban store copy --from tongban.db --to postgres://tongban@db.internal/gateways --schema tongban_zj
  tongban audit verify --store postgres://auditor@db.internal/tongban --gateway-pub gateway.pub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			engine, err := engineFlag(cmd)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return copyStore(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(),
				copyOptions{From: from, To: to, Schema: schema, Engine: engine})
		},
	}
	f := c.Flags()
	f.StringVar(&from, "from", "", "the embedded store file to copy (tongban.db); only read")
	f.StringVar(&to, "to", "", "the PostgreSQL database, as postgres://user@host:port/db (a password in PGPASSWORD or .pgpass)")
	f.StringVar(&schema, "schema", config.DefaultStoreSchema, "the schema to copy into; it must hold no data")
	return c
}

// copyOptions is what tongban store copy does.
type copyOptions struct {
	From, To, Schema string
	Engine           *signing.Engine
	// afterTable, when set, is called once each table is copied, inside
	// the transaction; an error aborts the copy (tests inject failures).
	afterTable func(table string) error
}

// copyStore copies the store file o.From into the schema o.Schema of the
// database o.To and checks the copy (see tongban store copy --help).
func copyStore(ctx context.Context, out, errOut io.Writer, o copyOptions) error {
	switch {
	case o.From == "":
		return errors.New("--from FILE is required: the embedded store file to copy")
	case o.To == "":
		return errors.New("--to postgres://USER@HOST/DB is required")
	case !isPostgresURL(o.To):
		return errors.New("--to must name a PostgreSQL database as postgres://user@host/db (to copy the store to a file, use tongban store backup)")
	}
	if o.Engine == nil {
		o.Engine = signing.Default
	}
	src, err := sqlite.OpenExport(ctx, o.From)
	if err != nil {
		return err
	}
	defer src.Close()
	if h := src.InUse(); h != "" {
		fmt.Fprintf(errOut, "warning: a gateway is serving from %s (%s): the copy holds what was committed when it began, not what the gateway writes later; stop it first to move everything\n", o.From, h)
	}
	verifier := evidence.ChainVerifier{SM3: o.Engine.EvidenceHash}
	walk := func(what string) func(int64) {
		return func(n int64) { fmt.Fprintf(errOut, "%s: checked %d records...\n", what, n) }
	}
	verifier.Progress = walk("source")
	srcLog, err := verifier.Verify(ctx, src, 0, 0)
	if err != nil {
		return fmt.Errorf("reading the evidence log of %s: %w", o.From, err)
	}
	if !srcLog.OK {
		return fmt.Errorf("the evidence log of %s does not verify (first bad record %d: %s): nothing was copied; see tongban audit verify --store %s",
			o.From, *srcLog.FirstBadSeq, srcLog.Reason, o.From)
	}
	srcCounts, err := src.Counts(ctx)
	if err != nil {
		return err
	}
	srcStates, err := src.CountByState(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(errOut, "source %s: evidence log verifies to head seq %d\n", o.From, srcLog.HeadSeq)

	dst, err := postgres.Open(ctx, postgres.Options{DSN: o.To, Schema: o.Schema, MaxConns: 2})
	if err != nil {
		return err
	}
	defer dst.Close()
	schema := dst.Schema()
	target := fmt.Sprintf("%s, schema %s", redactDSN(o.To), schema)
	fmt.Fprintf(errOut, "copying into %s\n", target)
	res, err := dst.Import(ctx, src, postgres.ImportOptions{
		Progress: func(table string, n int64) error {
			fmt.Fprintf(errOut, "copied %-22s %d rows\n", table+":", n)
			if o.afterTable != nil {
				return o.afterTable(table)
			}
			return nil
		},
		Copying: func(table string, n int64) {
			fmt.Fprintf(errOut, "copying %s: %d rows...\n", table, n)
		},
		BeforeCommit: func(_ context.Context, r *postgres.ImportResult) error {
			if d := diffCounts(srcCounts, r.Tables); len(d) > 0 {
				return fmt.Errorf("the copy does not hold what the file does: %s", strings.Join(d, "; "))
			}
			if r.Head.Seq != srcLog.HeadSeq || r.Head.Hash != srcLog.HeadHash {
				return fmt.Errorf("the copy's evidence head is seq %d, hash %s; the file's is seq %d, hash %s",
					r.Head.Seq, r.Head.Hash, srcLog.HeadSeq, srcLog.HeadHash)
			}
			return nil
		},
	})
	var full *postgres.NotEmptyError
	switch {
	case errors.As(err, &full):
		return fmt.Errorf("target %s: copy only into an empty schema; drop it or name another with --schema", full)
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("interrupted: the copy was rolled back, schema %s holds nothing of it; run the copy again", schema)
	case err != nil:
		return fmt.Errorf("%w\nthe copy was rolled back: schema %s holds nothing of it; run the copy again once the cause is fixed", err, schema)
	}
	fmt.Fprintln(errOut, "committed; checking the copy...")

	// The check reads what was committed, through fresh connections.
	checkFailed := func(err error) error {
		return fmt.Errorf("the copy was committed, but checking it failed: %w; check it with tongban audit verify --store URL --schema %s", err, schema)
	}
	r, err := postgres.OpenReader(ctx, o.To, schema)
	if err != nil {
		return checkFailed(err)
	}
	defer r.Close()
	verifier.Progress = walk("target")
	dstLog, err := verifier.Verify(ctx, r, 0, 0)
	if err != nil {
		return checkFailed(err)
	}
	dstCounts, err := dst.RowCounts(ctx)
	if err != nil {
		return checkFailed(err)
	}
	dstStates, err := dst.CountByState(ctx)
	if err != nil {
		return checkFailed(err)
	}

	var diffs []string
	if !dstLog.OK {
		diffs = append(diffs, fmt.Sprintf("the copy's evidence log does not verify: first bad record %d: %s", *dstLog.FirstBadSeq, dstLog.Reason))
	}
	if dstLog.HeadSeq != srcLog.HeadSeq || dstLog.HeadHash != srcLog.HeadHash {
		diffs = append(diffs, fmt.Sprintf("evidence head: the file's is seq %d, hash %s; the copy's seq %d, hash %s",
			srcLog.HeadSeq, srcLog.HeadHash, dstLog.HeadSeq, dstLog.HeadHash))
	}
	if dstLog.Checked != srcLog.Checked || dstLog.CheckpointsVerified != srcLog.CheckpointsVerified {
		diffs = append(diffs, fmt.Sprintf("evidence: the file has %d records and %d checkpoints, the copy %d and %d",
			srcLog.Checked, srcLog.CheckpointsVerified, dstLog.Checked, dstLog.CheckpointsVerified))
	}
	diffs = append(diffs, diffCounts(srcCounts, dstCounts)...)
	for _, st := range transportStates(srcStates, dstStates) {
		if srcStates[st] != dstStates[st] {
			diffs = append(diffs, fmt.Sprintf("deliveries %s: %d in the file, %d in the copy", st, srcStates[st], dstStates[st]))
		}
	}

	fmt.Fprintf(out, "copied %s into %s:\n", o.From, target)
	for _, tc := range res.Tables {
		fmt.Fprintf(out, "  %-22s %d\n", tc.Table, tc.Rows)
	}
	fmt.Fprintf(out, "evidence log: head seq %d, hash %s; %d records and %d checkpoints verify in both\n",
		dstLog.HeadSeq, dstLog.HeadHash, dstLog.Checked, dstLog.CheckpointsVerified)
	var states []string
	for _, st := range transportStates(srcStates, dstStates) {
		states = append(states, fmt.Sprintf("%s %d", st, dstStates[st]))
	}
	fmt.Fprintf(out, "deliveries by state: %s\n", strings.Join(states, ", "))
	if len(diffs) > 0 {
		fmt.Fprintln(out, "MISMATCH: the copy was committed but differs from the file:")
		for _, d := range diffs {
			fmt.Fprintf(out, "  - %s\n", d)
		}
		return &exitError{code: 1, msg: fmt.Sprintf("the copy in schema %s differs from %s (%d differences, listed above)", schema, o.From, len(diffs))}
	}
	fmt.Fprintf(out, "OK: the copy holds everything the file does; point the gateway at it (store.driver: postgres, store.schema: %s)\n", schema)
	fmt.Fprintln(out, "note: checkpoint signatures were copied as stored, not checked here: tongban audit verify --gateway-pub checks them")
	return nil
}

// diffCounts lists the tables whose rows differ between the file's
// counts and the copy's.
func diffCounts(src map[string]int64, dst []postgres.TableCount) []string {
	got := map[string]int64{}
	for _, tc := range dst {
		got[tc.Table] = tc.Rows
	}
	var out []string
	for _, t := range slices.Sorted(maps.Keys(src)) {
		n, ok := got[t]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("table %s (%d rows in the file) is not in the copy", t, src[t]))
		case n != src[t]:
			out = append(out, fmt.Sprintf("table %s: %d rows in the file, %d in the copy", t, src[t], n))
		}
	}
	for _, tc := range dst {
		if _, ok := src[tc.Table]; !ok {
			out = append(out, fmt.Sprintf("table %s (%d rows in the copy) is not in the file", tc.Table, tc.Rows))
		}
	}
	return out
}

// transportStates returns the states either count names, in the order
// of the transport state machine, then any other in name order.
func transportStates(a, b map[contracts.TransportState]int) []contracts.TransportState {
	order := []contracts.TransportState{contracts.TransportStatePending, contracts.TransportStateInFlight,
		contracts.TransportStateRetryWait, contracts.TransportStateDead, contracts.TransportStateDelivered,
		contracts.TransportStateCancelled}
	var extra []contracts.TransportState
	for _, m := range []map[contracts.TransportState]int{a, b} {
		for st := range m {
			if !slices.Contains(order, st) && !slices.Contains(extra, st) {
				extra = append(extra, st)
			}
		}
	}
	slices.Sort(extra)
	return append(order, extra...)
}
