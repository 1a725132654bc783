package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tongban/tongban/cmd/tongban/internal/app"
	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/bundle"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/evidence"
	"github.com/tongban/tongban/gateway/keyring"
	"github.com/tongban/tongban/gateway/store/postgres"
	"github.com/tongban/tongban/gateway/store/sqlite"
	"github.com/tongban/tongban/signing"
)

func newAuditCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "audit",
		Short: "Check the evidence log and evidence bundles offline (auditors)",
		Long: `Tools for auditors that need no running gateway:

  tongban audit verify         walk a store's whole evidence log, report the first bad record
  tongban audit verify-bundle  check a case's evidence bundle (zip) offline
  tongban audit export         fetch a case's evidence bundle from a gateway`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	c.AddCommand(newAuditVerifyCmd(), newAuditVerifyBundleCmd(), newAuditExportCmd())
	return c
}

// loadGatewayPub reads a gateway public key (PEM, SPKI or certificate).
func loadGatewayPub(path string) (*signing.PublicKey, error) {
	pub, err := keyring.LoadPublicKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("--gateway-pub: %w", err)
	}
	return pub, nil
}

// gatewayKeys are the gateway keys a chain check knows: by key id, and
// keys given without one (tried for any id).
type gatewayKeys struct {
	byID map[string]*signing.PublicKey
	any  []*signing.PublicKey
}

// add reads a --gateway-pub value: KEY_ID=FILE or FILE.
func (k *gatewayKeys) add(v string) error {
	id, path, named := strings.Cut(v, "=")
	if !named {
		id, path = "", v
	}
	pub, err := loadGatewayPub(path)
	if err != nil {
		return err
	}
	if id == "" {
		k.any = append(k.any, pub)
	} else {
		k.byID[id] = pub
	}
	return nil
}

func (k *gatewayKeys) empty() bool { return len(k.byID) == 0 && len(k.any) == 0 }

// verify checks a checkpoint's signature with the key of its id, else
// with the keys given without an id; an error wraps gateway.ErrUnknownKey
// when no key was given for it.
func (k *gatewayKeys) verify(e *signing.Engine, cp contracts.Checkpoint) error {
	if pub := k.byID[cp.KeyID]; pub != nil {
		return e.Verify(pub, cp.Canonical(), cp.Signature)
	}
	if len(k.any) == 0 {
		return fmt.Errorf("%w: no key %q given", gateway.ErrUnknownKey, cp.KeyID)
	}
	var err error
	for _, pub := range k.any {
		if err = e.Verify(pub, cp.Canonical(), cp.Signature); err == nil {
			return nil
		}
	}
	return err
}

func newAuditVerifyCmd() *cobra.Command {
	var cfgPath, storePath, schema string
	var pubPaths []string
	var from, to int64
	var asJSON bool
	c := &cobra.Command{
		Use:   "verify (--config FILE | --store PATH|URL) [--gateway-pub [KEY_ID=]FILE ...]",
		Short: "Walk the evidence log and report the first bad record",
		Long: `Walk a store's evidence log record by record, without the gateway running
and without writing to the file (it may be the live file or a copy):

  - every record must hash (SM3) to its stored hash, hold its own sequence
    number, and link to the record before it (prev_hash);
  - every signed checkpoint must name the hash its record has, and carry a
    valid signature of the gateway's key.

An edited record fails its hash; a deleted one leaves a gap; an inserted,
swapped or moved one breaks a link or its sequence number; a stretch
rewritten with recomputed hashes fails at the next checkpoint. The first bad
sequence number is reported with the reason.

--config FILE reads the store path and the gateway's keys from the
gateway's configuration: the public half of signing_key and the earlier
keys of signing_key.previous. --store names the store directly: the
embedded file, or a PostgreSQL database as postgres://user@host/db (with
--schema when the gateway's tables are not in schema tongban; it connects
read-only and writes nothing); then pass the gateway's public keys with --gateway-pub KEY_ID=FILE (repeat it
for earlier keys; a FILE without KEY_ID is tried for any checkpoint).
Without keys, checkpoints are matched against the chain but their
signatures are not checked, and the output says so.

Progress goes to standard error every 100000 records.

Exit status: 0 when the log is intact, 1 when a record or checkpoint is bad,
2 when the log could not be read.`,
		Example: `  tongban audit verify --config demo/config.yaml
  tongban audit verify --store /var/lib/tongban/tongban.db --gateway-pub gateway.pub
  tongban audit verify --store postgres://auditor@db.internal/tongban --gateway-pub gateway.pub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (cfgPath == "") == (storePath == "") {
				return errors.New("give exactly one of --config FILE and --store PATH")
			}
			if from < 0 || to < 0 || (to > 0 && from > to) {
				return errors.New("--from and --to must be sequence numbers with --from <= --to")
			}
			engine, err := engineFlag(cmd)
			if err != nil {
				return err
			}
			keys := &gatewayKeys{byID: map[string]*signing.PublicKey{}}
			for _, p := range pubPaths {
				if err := keys.add(p); err != nil {
					return err
				}
			}
			if cfgPath != "" {
				cfg, err := config.Load(cfgPath)
				if err != nil {
					return err
				}
				storePath = cfg.Resolve(cfg.Store.Path)
				if cfg.Store.Driver == config.DriverPostgres {
					storePath = cfg.Store.DSN
					if !cmd.Flags().Changed("schema") {
						schema = cfg.Store.Schema
					}
				}
				if e, err := signing.EngineByName(cfg.Engine); err == nil && !cmd.Flags().Changed("engine") {
					engine = e
				}
				if keys.empty() {
					key, err := app.LoadPrivateKey(cfg.Resolve(cfg.SigningKey.Path), cfg.Resolve(cfg.SigningKey.PasswordFile))
					if err != nil {
						return fmt.Errorf("signing_key (pass --gateway-pub to check with the public keys instead): %w", err)
					}
					keys.byID[cfg.SigningKey.KeyID] = key.Public()
					previous, err := app.PreviousKeys(cfg)
					if err != nil {
						return err
					}
					maps.Copy(keys.byID, previous)
				}
			}
			r, err := openEvidence(cmd.Context(), storePath, schema)
			if err != nil {
				return err
			}
			defer r.Close()
			v := evidence.ChainVerifier{
				SM3:      engine.EvidenceHash,
				Progress: func(n int64) { fmt.Fprintf(cmd.ErrOrStderr(), "checked %d records...\n", n) },
			}
			if !keys.empty() {
				v.VerifyCheckpoint = func(cp contracts.Checkpoint) error { return keys.verify(engine, cp) }
			}
			res, err := v.Verify(cmd.Context(), r, from, to)
			if err != nil {
				return fmt.Errorf("reading the evidence log: %w", err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				b, _ := json.MarshalIndent(res, "", "  ")
				fmt.Fprintln(out, string(b))
			} else {
				printChainResult(out, redactDSN(storePath), res, !keys.empty())
			}
			if !res.OK {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&cfgPath, "config", "", "the gateway's YAML configuration")
	f.StringVar(&storePath, "store", "", "the store: a file (tongban.db), live or a copy, or a postgres:// URL")
	f.StringVar(&schema, "schema", config.DefaultStoreSchema, "with a postgres:// store, the schema the gateway's tables live in")
	f.StringArrayVar(&pubPaths, "gateway-pub", nil, "a gateway public key (PEM) as KEY_ID=FILE or FILE, to check checkpoint signatures; repeatable")
	f.Int64Var(&from, "from", 0, "first sequence number to check (default 1)")
	f.Int64Var(&to, "to", 0, "last sequence number to check (default the head)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON (the body of GET /v1/audit/verify)")
	return c
}

// printChainResult writes a chain check's result for people.
func printChainResult(w io.Writer, path string, res *contracts.ChainVerifyResult, signatures bool) {
	fmt.Fprintf(w, "evidence log %s: head seq %d, hash %s\n", path, res.HeadSeq, res.HeadHash)
	fmt.Fprintf(w, "checked records %d to %d: %d records, %d checkpoints\n", res.From, res.To, res.Checked, res.CheckpointsVerified)
	if !signatures {
		fmt.Fprintln(w, "note: checkpoint signatures were not checked (no gateway key: pass --gateway-pub or --config)")
	}
	switch {
	case res.OK && res.Checked > 0 && res.CheckpointsVerified == 0:
		fmt.Fprintln(w, "OK: every record hashes and links, but no signed checkpoint lies in this range:")
		fmt.Fprintln(w, "    a rewrite that recomputed every hash here would not show (the gateway signs")
		fmt.Fprintln(w, "    checkpoints while it runs and when it stops; check a range that reaches one)")
		return
	case res.OK:
		fmt.Fprintln(w, "OK: every record and checkpoint verifies")
		return
	}
	fmt.Fprintf(w, "BAD: first bad record %d: %s\n", *res.FirstBadSeq, res.Reason)
}

func newAuditVerifyBundleCmd() *cobra.Command {
	var pubPath string
	var asJSON bool
	c := &cobra.Command{
		Use:   "verify-bundle FILE [--gateway-pub FILE]",
		Short: "Verify a case's evidence bundle offline",
		Long: `Verify an evidence bundle (the zip GET /v1/audit/cases/{case_id}/export
returns, or tongban audit export writes) with no gateway and no database:

  - the archive reads, and holds exactly the files its manifest lists, each
    with the listed size and SM3;
  - manifest.sig is the gateway's signature over manifest.json;
  - the case's evidence records hash to their hashes and link to each other;
  - chain.jsonl links the case's last record to a checkpoint the gateway
    signed;
  - every submission and status update body has the SM3 its record holds
    and a valid signature of its sender; every receipt is the gateway's;
    every delivered payload has its recorded SM3; every acknowledgement has
    its recorded SM3 and a valid signature of the partner.

Pass --gateway-pub with the gateway's public key as you know it (from the
operator, not from the bundle). Without it the bundle's own copy of the key
is used, and the output says the bundle vouches for itself.

Every failure is printed with the file and record concerned.

Exit status: 0 when everything verifies, 1 when something fails, 2 when
FILE cannot be read.`,
		Example: `  tongban audit verify-bundle tongban-case-0195f3a0-....zip --gateway-pub demo/keys/gateway.pub`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			engine, err := engineFlag(cmd)
			if err != nil {
				return err
			}
			o := bundle.Options{Engine: engine}
			if pubPath != "" {
				if o.GatewayKey, err = loadGatewayPub(pubPath); err != nil {
					return err
				}
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return err
			}
			rep := bundle.Verify(f, st.Size(), o)
			out := cmd.OutOrStdout()
			if asJSON {
				b, _ := json.MarshalIndent(bundleJSON(rep), "", "  ")
				fmt.Fprintln(out, string(b))
			} else {
				printBundleReport(out, args[0], rep)
			}
			if !rep.OK() {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	c.Flags().StringVar(&pubPath, "gateway-pub", "", "the gateway's public key (PEM), as you know it")
	c.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return c
}

// bundleJSON is the --json form of a bundle report.
func bundleJSON(r *bundle.Report) any {
	problems := make([]string, 0, len(r.Problems))
	for _, p := range r.Problems {
		problems = append(problems, p.String())
	}
	return struct {
		OK           bool                  `json:"ok"`
		CaseID       string                `json:"case_id"`
		GatewayID    string                `json:"gateway_id"`
		KeyID        string                `json:"key_id"`
		TrustedKey   bool                  `json:"trusted_key"`
		Records      int                   `json:"records"`
		ChainRecords int                   `json:"chain_records"`
		Checkpoint   *contracts.Checkpoint `json:"checkpoint"`
		Signatures   int                   `json:"signatures_verified"`
		Files        int                   `json:"files_verified"`
		Problems     []string              `json:"problems"`
	}{r.OK(), r.Manifest.CaseID, r.Manifest.GatewayID, r.Manifest.KeyID, r.TrustedKey, r.Records, r.ChainRecords,
		r.Checkpoint, r.Signatures, r.Files, problems}
}

// printBundleReport writes a bundle report for people.
func printBundleReport(w io.Writer, path string, r *bundle.Report) {
	m := r.Manifest
	fmt.Fprintf(w, "bundle %s\n", path)
	if m.CaseID != "" {
		// Quoted: the manifest is printed before it is known to be genuine.
		fmt.Fprintf(w, "case %q, gateway %q, made %s, signed by key %q\n", m.CaseID, m.GatewayID, m.GeneratedAt.Format(time.RFC3339), m.KeyID)
	}
	if r.TrustedKey {
		fmt.Fprintln(w, "gateway key: the one given with --gateway-pub")
	} else {
		fmt.Fprintln(w, "gateway key: the bundle's own copy (the bundle vouches for itself; pass --gateway-pub to check it against the key you trust)")
	}
	fmt.Fprintf(w, "%d case records, chain of %d records", r.Records, r.ChainRecords)
	if r.Checkpoint != nil {
		fmt.Fprintf(w, " to checkpoint %d (%s)", r.Checkpoint.Seq, r.Checkpoint.At.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "\n%d files match the manifest, %d signatures verify\n", r.Files, r.Signatures)
	if r.OK() {
		fmt.Fprintln(w, "OK: the bundle verifies")
		return
	}
	fmt.Fprintf(w, "FAILED: %d problem(s):\n", len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
}

// maxBundleDownload bounds the bundle tongban audit export accepts.
const maxBundleDownload = 1 << 30

func newAuditExportCmd() *cobra.Command {
	var call gatewayCall
	var caseID, outPath string
	c := &cobra.Command{
		Use:   "export --gateway URL --key KEY --kid KID --iss ISS --aud AUD --case ID [--out FILE]",
		Short: "Fetch a case's evidence bundle from a gateway (auditors)",
		Long: `Fetch the evidence bundle of one case (GET /v1/audit/cases/{case_id}/export)
with a fresh auditor token (alg SM2, lifetime 2 minutes, --sub naming the
person acting), write it to --out (default tongban-case-<case id>.zip in
the current directory; an existing file is not overwritten), and print its
path. Check it with tongban audit verify-bundle.

Exit status: 0 when the bundle was written, 1 when the gateway refused
(its error code and message are printed), 2 when the command could not run.`,
		Example: `  tongban audit export --gateway http://127.0.0.1:8080 --key demo/keys/auditor.key \
    --kid auditor --iss auditor --aud tongban-demo --case 0195f3a0-...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			base, err := call.base()
			if err != nil {
				return err
			}
			if err := contracts.ValidateOpaqueID("case", caseID); err != nil {
				return fmt.Errorf("--case: %w", err)
			}
			if outPath == "" {
				outPath = "tongban-case-" + caseID + ".zip"
			}
			tok, err := call.token(cmd)
			if err != nil {
				return err
			}
			data, err := fetchBundle(cmd, &call, base+"/v1/audit/cases/"+url.PathEscape(caseID)+"/export", tok)
			if err != nil {
				return err
			}
			if err := writeNew(outPath, data, 0o644); err != nil {
				if os.IsExist(err) {
					return fmt.Errorf("%s exists; pass another --out", outPath)
				}
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), outPath)
			return nil
		},
	}
	f := c.Flags()
	call.flags(f, "auditor", "recorded with the token's jti", 2*time.Minute)
	f.StringVar(&caseID, "case", "", "the case to export (required)")
	f.StringVar(&outPath, "out", "", "where to write the zip (default tongban-case-<case>.zip)")
	return c
}

// fetchBundle downloads a bundle, or returns exitError 1 with the
// gateway's refusal.
func fetchBundle(cmd *cobra.Command, call *gatewayCall, target, token string) ([]byte, error) {
	data, err := call.do(cmd, "export", http.MethodGet, target, token, maxBundleDownload)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(data, []byte("PK")) {
		return nil, fmt.Errorf("the gateway answered 200 with something that is not a zip: %.100q", data)
	}
	return data, nil
}

// evidenceReader is an evidence log opened for reading only.
type evidenceReader interface {
	gateway.EvidenceSource
	Close() error
}

// openEvidence opens the evidence log of store for reading: a PostgreSQL
// database when store is a postgres:// or postgresql:// URL (its tables
// in schema), else an embedded store file.
func openEvidence(ctx context.Context, store, schema string) (evidenceReader, error) {
	if isPostgresURL(store) {
		return postgres.OpenReader(ctx, store, schema)
	}
	return sqlite.OpenReader(ctx, store)
}

// isPostgresURL reports whether s names a PostgreSQL database.
func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// redactDSN returns s with the password of a postgres:// URL replaced,
// so that output never shows it.
func redactDSN(s string) string {
	if !isPostgresURL(s) {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "postgres://…"
	}
	return u.Redacted()
}
