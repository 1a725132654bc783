package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	sqlitedrv "modernc.org/sqlite"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// headQuery reads the log's last record.
const headQuery = `SELECT seq, hash FROM evidence ORDER BY seq DESC LIMIT 1`

// loadHead scans the log's head from row, a result of headQuery.
func loadHead(row *sql.Row) (gateway.ChainHead, error) {
	h := gateway.ChainHead{Hash: contracts.ZeroHash}
	err := row.Scan(&h.Seq, &h.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return gateway.ChainHead{Hash: contracts.ZeroHash}, nil
	}
	return h, err
}

// appendEvidence appends recs to the log inside the caller's savepoint,
// each linked after the head by the store's linker (with the case's last
// hash); recs is updated in place. On failure the caller's savepoint
// rolls the rows back and run restores the head.
func (w *writer) appendEvidence(recs []contracts.EvidenceRecord) error {
	if len(recs) == 0 {
		return nil
	}
	if w.linker == nil {
		return errors.New("evidence log: the store has no chain linker (Options.Linker)")
	}
	var e encoder
	for i := range recs {
		r := &recs[i]
		casePrev := ""
		if r.CaseID != "" {
			err := w.caseHead.QueryRowContext(w.bg, r.CaseID).Scan(&casePrev)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return fmt.Errorf("evidence: case %q: %w", r.CaseID, err)
			}
		}
		canon, err := w.linker.Link(r, w.head, casePrev)
		if err != nil {
			return err
		}
		at := e.Instant(r.At)
		if e.Err() != nil {
			return fmt.Errorf("evidence record %d: %w", r.Seq, e.Err())
		}
		if _, err := w.insEvidence.ExecContext(w.bg, r.Seq, at, r.Event, r.Actor, r.CaseID, r.ExchangeID,
			r.DeliveryID, r.Partner, r.Region, string(r.Kind), r.TraceID, r.Hash, canon); err != nil {
			return fmt.Errorf("append evidence record %d: %w", r.Seq, err)
		}
		w.head = gateway.ChainHead{Seq: r.Seq, Hash: r.Hash}
	}
	return nil
}

// AppendEvidence appends recs to the evidence log in one write (see
// gateway.Store). recs is updated in place with what the store assigned.
func (s *Store) AppendEvidence(ctx context.Context, recs ...contracts.EvidenceRecord) error {
	if len(recs) == 0 {
		return nil
	}
	err := s.submit(ctx, func(w *writer) error { return w.appendEvidence(recs) })
	if err != nil {
		return fmt.Errorf("sqlite: append evidence: %w", err)
	}
	return nil
}

// EvidenceHead returns the committed head of the log.
func (s *Store) EvidenceHead(ctx context.Context) (int64, string, error) {
	return evidenceHead(ctx, s.rdb)
}

// ScanEvidence streams the records from from to to (0: the head) in seq
// order.
func (s *Store) ScanEvidence(ctx context.Context, from, to int64, fn func(gateway.EvidenceRow) error) error {
	return scanEvidence(ctx, s.rdb, from, to, fn)
}

func evidenceHead(ctx context.Context, db *sql.DB) (int64, string, error) {
	h, err := loadHead(db.QueryRowContext(ctx, headQuery))
	if err != nil {
		return 0, "", fmt.Errorf("sqlite: evidence head: %w", err)
	}
	return h.Seq, h.Hash, nil
}

func scanEvidence(ctx context.Context, db *sql.DB, from, to int64, fn func(gateway.EvidenceRow) error) error {
	if to <= 0 {
		to = 1<<63 - 1
	}
	rows, err := db.QueryContext(ctx, `SELECT seq, hash, record FROM evidence WHERE seq >= ? AND seq <= ? ORDER BY seq`, from, to)
	if err != nil {
		return fmt.Errorf("sqlite: scan evidence: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r gateway.EvidenceRow
		if err := rows.Scan(&r.Seq, &r.Hash, &r.Record); err != nil {
			return fmt.Errorf("sqlite: scan evidence: %w", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: scan evidence: %w", err)
	}
	return nil
}

// CaseEvidence returns the records of caseID in seq order.
func (s *Store) CaseEvidence(ctx context.Context, caseID string) ([]gateway.EvidenceRow, error) {
	if caseID == "" {
		return nil, nil
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT seq, hash, record FROM evidence WHERE case_id = ? AND case_id <> '' ORDER BY seq`, caseID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: case evidence: %w", err)
	}
	defer rows.Close()
	var out []gateway.EvidenceRow
	for rows.Next() {
		var r gateway.EvidenceRow
		if err := rows.Scan(&r.Seq, &r.Hash, &r.Record); err != nil {
			return nil, fmt.Errorf("sqlite: case evidence: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: case evidence: %w", err)
	}
	return out, nil
}

// SaveCheckpoint stores cp unless one for its seq exists.
func (s *Store) SaveCheckpoint(ctx context.Context, cp contracts.Checkpoint) error {
	var e encoder
	at := e.Instant(cp.At)
	if e.Err() != nil {
		return fmt.Errorf("sqlite: save checkpoint: %w", e.Err())
	}
	err := s.submit(ctx, func(w *writer) error {
		_, err := w.insCheckpoint.ExecContext(w.bg, cp.Seq, cp.HeadHash, at, cp.KeyID, cp.Signature)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: save checkpoint %d: %w", cp.Seq, err)
	}
	return nil
}

// Checkpoints returns the checkpoints with seq from from to to (0: no
// bound), in seq order.
func (s *Store) Checkpoints(ctx context.Context, from, to int64) ([]contracts.Checkpoint, error) {
	return checkpoints(ctx, s.rdb, from, to)
}

func checkpoints(ctx context.Context, db *sql.DB, from, to int64) ([]contracts.Checkpoint, error) {
	if to <= 0 {
		to = 1<<63 - 1
	}
	rows, err := db.QueryContext(ctx, `SELECT seq, head_hash, at, key_id, signature FROM evidence_checkpoints
		WHERE seq >= ? AND seq <= ? ORDER BY seq`, from, to)
	if err != nil {
		return nil, fmt.Errorf("sqlite: checkpoints: %w", err)
	}
	defer rows.Close()
	var out []contracts.Checkpoint
	for rows.Next() {
		var (
			cp contracts.Checkpoint
			at int64
		)
		if err := rows.Scan(&cp.Seq, &cp.HeadHash, &at, &cp.KeyID, &cp.Signature); err != nil {
			return nil, fmt.Errorf("sqlite: checkpoints: %w", err)
		}
		cp.At = decInstant(at)
		out = append(out, cp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: checkpoints: %w", err)
	}
	return out, nil
}

// Reader reads the evidence log of a store file without migrating or
// writing it: what the offline audit tools (tongban audit verify) open,
// on the live file or a copy. It implements gateway.EvidenceSource.
type Reader struct{ db *sql.DB }

// OpenReader opens the store file at path for reading its evidence log.
// The file must exist and hold the evidence log (schema 5 or later).
func OpenReader(ctx context.Context, path string) (*Reader, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	o, err := Options{Path: path}.withDefaults()
	if err != nil {
		return nil, err
	}
	c, err := sqlitedrv.NewConnector(o.dsn("query_only(1)"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db := sql.OpenDB(c)
	var n int
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('evidence', 'evidence_checkpoints')`).Scan(&n)
	switch {
	case err != nil:
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	case n != 2:
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: no evidence log in this file (not a tongban store, or one older than schema 5)", path)
	}
	return &Reader{db: db}, nil
}

// EvidenceHead returns the log's last seq and hash.
func (r *Reader) EvidenceHead(ctx context.Context) (int64, string, error) {
	return evidenceHead(ctx, r.db)
}

// ScanEvidence streams the records from from to to (0: the head).
func (r *Reader) ScanEvidence(ctx context.Context, from, to int64, fn func(gateway.EvidenceRow) error) error {
	return scanEvidence(ctx, r.db, from, to, fn)
}

// Checkpoints returns the checkpoints from from to to (0: no bound).
func (r *Reader) Checkpoints(ctx context.Context, from, to int64) ([]contracts.Checkpoint, error) {
	return checkpoints(ctx, r.db, from, to)
}

// Close closes the file.
func (r *Reader) Close() error { return r.db.Close() }

var _ gateway.EvidenceSource = (*Reader)(nil)

// withDeliveries returns ev with ids as the deliveries of its Detail.
func withDeliveries(ev contracts.EvidenceRecord, ids []string) (contracts.EvidenceRecord, error) {
	var d contracts.EvidenceDetail
	if len(ev.Detail) > 0 {
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			return ev, fmt.Errorf("evidence detail: %w", err)
		}
	}
	d.Deliveries = ids
	ev.Detail = d.JSON()
	return ev, nil
}

// Probe proves the store takes writes: it rewrites the one row of table
// probe through the writer, in a transaction committed and synced like
// every other write. Readiness checks call it.
func (s *Store) Probe(ctx context.Context) error {
	at := time.Now().UnixNano()
	err := s.submit(ctx, func(w *writer) error {
		_, err := w.conn.ExecContext(w.bg, `INSERT INTO probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at`, at)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: probe write: %w", err)
	}
	return nil
}
