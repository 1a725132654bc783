package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// scanPage is how many records ScanEvidence reads per query.
var scanPage = 1000

// querier is what the evidence reads need: the store's pool or a
// Reader's.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// appendEvidence appends recs to the log in the transaction, each linked
// after the head by the store's linker (with the hash of the case's last
// record); recs is updated in place. The head row is locked (SELECT ...
// FOR UPDATE) by the batch, before its first write, when one of its
// writes declared evidence, else by the first append; the lock is held
// until commit: a transaction of another process that appends waits for
// it, and then links after what it committed.
//
// The cases' last hashes are read by a statement of their own, after the
// lock: under READ COMMITTED it takes a new snapshot, which holds every
// record of the transactions that held the head before this one. (A
// subquery of the locking SELECT would read the snapshot taken before the
// lock was granted, and could miss a case's last record.) While the head
// is held nobody else appends, so the transaction keeps what it read and
// what it linked since (w.casePrev): the batch reads the cases of every
// record its writes declared once, with the lock, and an append of a case
// it knows sends nothing before linking. The records are then queued, to
// be sent with the write's last statements; the head row is moved to the
// last of them once, before the transaction's COMMIT (moveHead).
func (w *txn) appendEvidence(recs []contracts.EvidenceRecord) error {
	if len(recs) == 0 {
		return nil
	}
	if w.s.linker == nil {
		return errors.New("evidence log: the store has no chain linker (Options.Linker)")
	}
	if w.head == nil {
		w.lockHead()
	}
	var cases []string
	for _, r := range recs {
		if _, ok := w.casePrev[r.CaseID]; r.CaseID != "" && !ok && !slices.Contains(cases, r.CaseID) {
			cases = append(cases, r.CaseID)
		}
	}
	w.readCasePrev(cases)
	if !w.head.read || len(cases) > 0 {
		if err := w.flush(); err != nil {
			return err
		}
	}
	var e encoder
	for i := range recs {
		r := &recs[i]
		canon, err := w.s.linker.Link(r, w.head.ChainHead, w.casePrev[r.CaseID])
		if err != nil {
			return err
		}
		at := e.Instant(r.At)
		if e.Err() != nil {
			return fmt.Errorf("evidence record %d: %w", r.Seq, e.Err())
		}
		w.later(wrap("append evidence record %d", r.Seq), `INSERT INTO evidence (seq, at, event, actor,
				case_id, exchange_id, delivery_id, partner, region, kind, trace_id, hash, record)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			r.Seq, at, r.Event, r.Actor, r.CaseID, r.ExchangeID, r.DeliveryID, r.Partner, r.Region,
			string(r.Kind), r.TraceID, r.Hash, canon)
		w.head = &chainHead{ChainHead: gateway.ChainHead{Seq: r.Seq, Hash: r.Hash}, read: true}
		w.appended = true
		if r.CaseID != "" {
			old, had := w.casePrev[r.CaseID]
			w.undo = append(w.undo, casePrevUndo{r.CaseID, old, had})
			w.casePrev[r.CaseID] = r.Hash
		}
	}
	// Only the inserts are queued now: they fail only with PostgreSQL's
	// errors.
	w.tail = true
	return nil
}

// moveHead queues the move of the head row to the last record the
// transaction appended, if it appended any: once per transaction, before
// its COMMIT, rather than once per record. The row is locked from the
// first append (or the batch's start) to the COMMIT, so nobody reads or
// appends in between; a write rolled back to its savepoint takes its
// records out of w.head and w.appended.
func (w *txn) moveHead() {
	if !w.appended {
		return
	}
	w.later(wrap("move the evidence head to record %d", w.head.Seq),
		`UPDATE evidence_head SET seq = $1, hash = $2 WHERE id = 1`, w.head.Seq, w.head.Hash)
	w.appended = false
}

// chainHead is the head as a transaction has locked and moved it; read is
// set once the lock's answer has filled it in.
type chainHead struct {
	gateway.ChainHead
	read bool
}

// casePrevUndo is what an append changed in txn.casePrev: the case's hash
// before (had false: none), restored when its write is rolled back.
type casePrevUndo struct {
	caseID, hash string
	had          bool
}

// lockHead queues the lock of the head row (SELECT ... FOR UPDATE), held
// to the commit, and the read of the head, which w.head holds once the
// statement is answered.
func (w *txn) lockHead() {
	h := new(chainHead)
	w.laterRow(func(row pgx.Row) error {
		if err := row.Scan(&h.Seq, &h.Hash); err != nil {
			return fmt.Errorf("evidence log: lock the head: %w", err)
		}
		h.read = true
		return nil
	}, `SELECT seq, hash FROM evidence_head WHERE id = 1 FOR UPDATE`)
	w.head = h
	w.casePrev = map[string]string{}
}

// readCasePrev queues, after the head's lock, the read of the hash of the
// last record of each of cases, into w.casePrev ("" for a case with no
// record).
func (w *txn) readCasePrev(cases []string) {
	if len(cases) == 0 {
		return
	}
	casePrev := w.casePrev
	w.b.Queue(`SELECT c.id, coalesce((SELECT e.hash FROM evidence AS e WHERE e.case_id = c.id AND e.case_id <> ''
			ORDER BY e.seq DESC LIMIT 1), '')
		FROM unnest($1::text[]) AS c (id)`, cases).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id, hash string
			if err := rows.Scan(&id, &hash); err != nil {
				return err
			}
			casePrev[id] = hash
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("evidence: the cases' last records: %w", err)
		}
		return nil
	})
}

// AppendEvidence appends recs to the evidence log in one transaction,
// linked after the head as every process sees it (see gateway.Store).
// recs is updated in place with what the linker assigned.
func (s *Store) AppendEvidence(ctx context.Context, recs ...contracts.EvidenceRecord) error {
	if len(recs) == 0 {
		return nil
	}
	err := s.submit(ctx, true, recs, func(w *txn) error { return w.appendEvidence(recs) })
	if err != nil {
		return fmt.Errorf("postgres: append evidence: %w", err)
	}
	return nil
}

// EvidenceHead returns the committed head of the log: its last record's
// seq and hash, (0, ZeroHash) for an empty log.
func (s *Store) EvidenceHead(ctx context.Context) (int64, string, error) {
	return evidenceHead(ctx, s.pool)
}

// ScanEvidence calls fn with the records from from to to (0: the head
// when the scan starts) in seq order, as stored. It reads them a page at a
// time, by seq, so it holds neither the whole range in memory nor a
// connection while fn runs. It stops at fn's first error and returns it.
func (s *Store) ScanEvidence(ctx context.Context, from, to int64, fn func(gateway.EvidenceRow) error) error {
	return scanEvidence(ctx, s.pool, from, to, fn)
}

// Checkpoints returns the checkpoints with seq from from to to (0: no
// bound), in seq order.
func (s *Store) Checkpoints(ctx context.Context, from, to int64) ([]contracts.Checkpoint, error) {
	return checkpoints(ctx, s.pool, from, to)
}

func evidenceHead(ctx context.Context, q querier) (int64, string, error) {
	var h gateway.ChainHead
	if err := q.QueryRow(ctx, `SELECT seq, hash FROM evidence_head WHERE id = 1`).Scan(&h.Seq, &h.Hash); err != nil {
		return 0, "", fmt.Errorf("postgres: evidence head: %w", err)
	}
	return h.Seq, h.Hash, nil
}

// scanEvidence reads pages of scanPage records by seq. The records up to
// the head never change and have no gaps (a record is linked only after
// the one before it committed), so the pages together are the range as it
// stood when the scan started.
func scanEvidence(ctx context.Context, q querier, from, to int64, fn func(gateway.EvidenceRow) error) error {
	if to <= 0 {
		head, _, err := evidenceHead(ctx, q)
		if err != nil {
			return fmt.Errorf("postgres: scan evidence: %w", err)
		}
		to = head
	}
	from = max(from, 1)
	page := make([]gateway.EvidenceRow, 0, scanPage)
	for from <= to {
		rows, err := q.Query(ctx, `SELECT seq, hash, record FROM evidence WHERE seq >= $1 AND seq <= $2
			ORDER BY seq LIMIT $3`, from, to, scanPage)
		if err != nil {
			return fmt.Errorf("postgres: scan evidence: %w", err)
		}
		page = page[:0]
		for rows.Next() {
			var r gateway.EvidenceRow
			if err := rows.Scan(&r.Seq, &r.Hash, &r.Record); err != nil {
				rows.Close()
				return fmt.Errorf("postgres: scan evidence: %w", err)
			}
			page = append(page, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("postgres: scan evidence: %w", err)
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(page) < scanPage || page[len(page)-1].Seq == math.MaxInt64 {
			return nil
		}
		from = page[len(page)-1].Seq + 1
	}
	return nil
}

// CaseEvidence returns the records of caseID in seq order.
func (s *Store) CaseEvidence(ctx context.Context, caseID string) ([]gateway.EvidenceRow, error) {
	if caseID == "" {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, hash, record FROM evidence WHERE case_id = $1 AND case_id <> ''
		ORDER BY seq`, caseID)
	if err != nil {
		return nil, fmt.Errorf("postgres: case evidence: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row gateway.EvidenceRow, err error) {
		err = r.Scan(&row.Seq, &row.Hash, &row.Record)
		return row, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: case evidence: %w", err)
	}
	return out, nil
}

// SaveCheckpoint stores cp unless one for its seq is stored: the first
// one for a seq is kept, whoever saves another.
func (s *Store) SaveCheckpoint(ctx context.Context, cp contracts.Checkpoint) error {
	var e encoder
	at := e.Instant(cp.At)
	if e.Err() != nil {
		return fmt.Errorf("postgres: save checkpoint: %w", e.Err())
	}
	err := s.write(ctx, func(w *txn) error {
		w.later(nil, `INSERT INTO evidence_checkpoints (seq, head_hash, at, key_id, signature)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING`, cp.Seq, cp.HeadHash, at, cp.KeyID, cp.Signature)
		w.tail = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: save checkpoint %d: %w", cp.Seq, err)
	}
	return nil
}

func checkpoints(ctx context.Context, q querier, from, to int64) ([]contracts.Checkpoint, error) {
	if to <= 0 {
		to = math.MaxInt64
	}
	rows, err := q.Query(ctx, `SELECT seq, head_hash, at, key_id, signature FROM evidence_checkpoints
		WHERE seq >= $1 AND seq <= $2 ORDER BY seq`, from, to)
	if err != nil {
		return nil, fmt.Errorf("postgres: checkpoints: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (cp contracts.Checkpoint, err error) {
		var at int64
		err = r.Scan(&cp.Seq, &cp.HeadHash, &at, &cp.KeyID, &cp.Signature)
		cp.At = decInstant(at)
		return cp, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: checkpoints: %w", err)
	}
	return out, nil
}

// Reader reads the evidence log of a store's schema without migrating or
// writing it: what the offline audit tools (tongban audit verify --store
// postgres://...) open. Its connections are read-only
// (default_transaction_read_only). It implements gateway.EvidenceSource.
type Reader struct {
	pool   *pgxpool.Pool
	schema string
}

// OpenReader connects to the database dsn names for reading the evidence
// log in schema ("" for DefaultSchema). It creates nothing: it fails with
// a message saying so when the database has no such schema, or the schema
// holds no tongban evidence log.
func OpenReader(ctx context.Context, dsn, schema string) (*Reader, error) {
	schema, err := schemaOrDefault(schema)
	if err != nil {
		return nil, err
	}
	cfg, err := poolConfig(dsn, schema)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open reader of schema %s: %w", schema, err)
	}
	var hasSchema bool
	var tables int
	err = pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1),
		(SELECT count(*) FROM pg_tables WHERE schemaname = $1
			AND tablename IN ('schema_migrations', 'evidence', 'evidence_head', 'evidence_checkpoints'))`,
		schema).Scan(&hasSchema, &tables)
	switch {
	case err != nil:
		err = fmt.Errorf("postgres: open reader of schema %s: %w", schema, err)
	case !hasSchema:
		err = fmt.Errorf("postgres: open reader: the database has no schema %q, so no tongban store (name the schema the gateway uses)", schema)
	case tables != 4:
		err = fmt.Errorf("postgres: open reader: schema %q holds no tongban evidence log (not a tongban store)", schema)
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &Reader{pool: pool, schema: schema}, nil
}

// EvidenceHead returns the log's last seq and hash.
func (r *Reader) EvidenceHead(ctx context.Context) (int64, string, error) {
	return evidenceHead(ctx, r.pool)
}

// ScanEvidence streams the records from from to to (0: the head when the
// scan starts), a page at a time, like Store.ScanEvidence.
func (r *Reader) ScanEvidence(ctx context.Context, from, to int64, fn func(gateway.EvidenceRow) error) error {
	return scanEvidence(ctx, r.pool, from, to, fn)
}

// Checkpoints returns the checkpoints from from to to (0: no bound).
func (r *Reader) Checkpoints(ctx context.Context, from, to int64) ([]contracts.Checkpoint, error) {
	return checkpoints(ctx, r.pool, from, to)
}

// Close closes the reader's connections.
func (r *Reader) Close() error {
	r.pool.Close()
	return nil
}

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
