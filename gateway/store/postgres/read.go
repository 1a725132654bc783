package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/store/storecodec"
)

// GetExchange returns the exchange sender sent under exchangeID, with its
// body, signature and receipt byte for byte, or ErrNotFound.
func (s *Store) GetExchange(ctx context.Context, sender, exchangeID string) (*gateway.Exchange, error) {
	x, err := scanExchange(s.pool.QueryRow(ctx, `SELECT `+exchangeCols+` FROM exchanges
		WHERE sender = $1 AND exchange_id = $2`, sender, exchangeID))
	if err != nil {
		return nil, readErr(err, "get exchange %q from %q", exchangeID, sender)
	}
	return x, nil
}

// GetCase returns the case with id, or ErrNotFound.
func (s *Store) GetCase(ctx context.Context, id string) (*gateway.Case, error) {
	c, err := scanCase(s.pool.QueryRow(ctx, `SELECT `+caseCols+` FROM cases WHERE id = $1`, id))
	if err != nil {
		return nil, readErr(err, "get case %q", id)
	}
	return c, nil
}

// CaseByOwnerCaseNo returns the case of owner holding ownerCaseNo, the
// lowest id among several, or ErrNotFound (see gateway.CaseStore).
func (s *Store) CaseByOwnerCaseNo(ctx context.Context, owner, ownerCaseNo string) (*gateway.Case, error) {
	c, err := scanCase(s.pool.QueryRow(ctx, `SELECT `+caseCols+` FROM cases
		WHERE owner = $1 AND owner_case_no = $2 AND owner_case_no <> '' ORDER BY id LIMIT 1`, owner, ownerCaseNo))
	if err != nil {
		return nil, readErr(err, "case of %q numbered %q", owner, ownerCaseNo)
	}
	return c, nil
}

// AlarmsDue returns up to limit cases whose AlarmAt is set and not after
// now, earliest AlarmAt first, lowest ID among equals (see
// gateway.CaseStore); none for a limit of 0 or less. It walks
// cases_alarm and stops at the limit.
func (s *Store) AlarmsDue(ctx context.Context, now time.Time, limit int) ([]*gateway.Case, error) {
	if limit <= 0 {
		return nil, nil
	}
	var e encoder
	nowArg := e.Time(now)
	if e.Err() != nil {
		return nil, fmt.Errorf("postgres: alarms due: %w", e.Err())
	}
	if nowArg == nil { // the zero time: before every alarm
		return nil, nil
	}
	return s.cases(ctx, "alarms due", alarmsDueQuery, nowArg, limit)
}

// alarmsDueQuery answers AlarmsDue ($1 now, $2 the limit) from
// cases_alarm, in its order.
const alarmsDueQuery = `SELECT ` + caseCols + ` FROM cases
	WHERE alarm_at IS NOT NULL AND alarm_at <= $1 ORDER BY alarm_at, id LIMIT $2`

// bundlePartsQuery answers BundleParts ($1 the bundle) from
// cases_bundle, in its order.
const bundlePartsQuery = `SELECT ` + caseCols + ` FROM cases
	WHERE bundle_id = $1 AND bundle_id <> '' AND id <> $1 ORDER BY id`

// BundleParts returns the parts of bundle bundleID, the cases whose
// BundleID is bundleID but the bundle's own, in ID order (see
// gateway.CaseStore); none for bundleID "", which names no bundle.
func (s *Store) BundleParts(ctx context.Context, bundleID string) ([]*gateway.Case, error) {
	if bundleID == "" {
		return nil, nil
	}
	return s.cases(ctx, fmt.Sprintf("parts of bundle %q", bundleID), bundlePartsQuery, bundleID)
}

// cases reads the cases sql (of caseCols) returns for args.
func (s *Store) cases(ctx context.Context, what, sql string, args ...any) ([]*gateway.Case, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, readErr(err, "%s", what)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*gateway.Case, error) { return scanCase(r) })
	if err != nil {
		return nil, readErr(err, "%s", what)
	}
	return out, nil
}

// History returns the case's history entries in the order they were
// appended. It returns an empty list for an unknown case.
func (s *Store) History(ctx context.Context, caseID string) ([]gateway.Status, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+statusCols+` FROM statuses WHERE case_id = $1 ORDER BY id`, caseID)
	if err != nil {
		return nil, readErr(err, "history of case %q", caseID)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gateway.Status, error) { return scanStatus(r) })
	if err != nil {
		return nil, readErr(err, "history of case %q", caseID)
	}
	return out, nil
}

// Deliveries returns the case's deliveries in Seq order. It returns an
// empty list for an unknown case, and for caseID "": the deliveries of no
// case (usage records) belong to no case to list them by.
func (s *Store) Deliveries(ctx context.Context, caseID string) ([]*gateway.Delivery, error) {
	if caseID == "" {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, deliverySelect+` WHERE d.case_id = $1 ORDER BY d.seq`, caseID)
	if err != nil {
		return nil, readErr(err, "deliveries of case %q", caseID)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*gateway.Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, readErr(err, "deliveries of case %q", caseID)
	}
	return out, nil
}

// GetDelivery returns the delivery with id, or ErrNotFound.
func (s *Store) GetDelivery(ctx context.Context, id string) (*gateway.Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, deliverySelect+` WHERE d.id = $1`, id))
	if err != nil {
		return nil, readErr(err, "get delivery %q", id)
	}
	return d, nil
}

// NextDue returns the earliest time a pending, retry_wait or in_flight
// delivery that is pushed (not a mailbox's) becomes due; ok is false when
// there is none. A zero NextAt or LeaseUntil is returned as the zero time
// (due at once). It ignores the per-case order rule. A held delivery
// (NextAt gateway.HeldUntil) never becomes due: it is not counted.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var due int64
	err := s.pool.QueryRow(ctx, `SELECT due_at FROM deliveries WHERE due_at IS NOT NULL AND NOT pull
		AND due_at < `+storecodec.HeldSQL+` ORDER BY due_at LIMIT 1`).Scan(&due)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("postgres: next due: %w", err)
	}
	return decInstant(due), true, nil
}

// compactAfter is how many committed writes, or delta rows seen by
// CountByState, make the store fold delivery_count_deltas into
// delivery_counts.
const compactAfter = 1000

// CountByState returns how many deliveries are in each transport state;
// every state is present, with 0 where there are none. It reads the
// counters and the deltas not yet folded into them in one statement, so
// the counts are those of one committed state of the database.
func (s *Store) CountByState(ctx context.Context) (map[contracts.TransportState]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT state, sum(n)::bigint, sum(delta)::bigint FROM (
			SELECT state, n, 0 AS delta FROM delivery_counts
			UNION ALL
			SELECT state, n, 1 FROM delivery_count_deltas) AS c
		GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("postgres: count by state: %w", err)
	}
	defer rows.Close()
	out := make(map[contracts.TransportState]int, 6)
	var deltas int64
	for rows.Next() {
		var (
			st   string
			n, d int64
		)
		if err := rows.Scan(&st, &n, &d); err != nil {
			return nil, fmt.Errorf("postgres: count by state: %w", err)
		}
		out[contracts.TransportState(st)] = int(n)
		deltas += d
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: count by state: %w", err)
	}
	if deltas >= compactAfter {
		s.startCompact()
	}
	return out, nil
}

// wrote counts a committed write and starts a fold of the count deltas
// every compactAfter of them.
func (s *Store) wrote() {
	if s.sinceCompact.Add(1) >= compactAfter {
		s.startCompact()
	}
}

// startCompact folds the count deltas into the counters in the
// background, unless a fold is already running or the store is closing.
func (s *Store) startCompact() {
	if !s.compacting.CompareAndSwap(false, true) {
		return
	}
	leave, err := s.enter()
	if err != nil {
		s.compacting.Store(false)
		return
	}
	s.sinceCompact.Store(0)
	go func() {
		defer leave()
		defer s.compacting.Store(false)
		s.compactCounts(context.Background()) // best effort: the deltas stay until the next one
	}()
}

// compactCounts folds the committed rows of delivery_count_deltas into
// delivery_counts in one transaction. Only one process folds at a time
// (a transaction-scoped advisory lock, tried, not waited for); writers
// only ever insert deltas, so they never wait for it.
func (s *Store) compactCounts(ctx context.Context) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var locked bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1, hashtext($2))`, compactLockKey, s.schema).Scan(&locked); err != nil {
		return err
	}
	if !locked {
		return nil
	}
	if _, err := tx.Exec(ctx, `WITH folded AS (DELETE FROM delivery_count_deltas RETURNING state, n),
			sums AS (SELECT state, sum(n) AS n FROM folded GROUP BY state)
		UPDATE delivery_counts AS c SET n = c.n + sums.n FROM sums WHERE c.state = sums.state`); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// compactLockKey is the first key of the advisory lock of compactCounts.
const compactLockKey int32 = 0x636f756e // "coun"

// readErr wraps a read error, turning pgx.ErrNoRows into ErrNotFound.
func readErr(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", what, gateway.ErrNotFound)
	}
	return unavailable(fmt.Errorf("postgres: %s: %w", what, err))
}
