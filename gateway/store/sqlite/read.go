package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/store/storecodec"
)

// anyDueQuery says whether ClaimDue at ?1 (now) would claim anything:
// one candidate (dueWhere names now ?2) is enough.
var anyDueQuery = `SELECT 1 FROM deliveries AS d WHERE ` + strings.ReplaceAll(dueWhere, "?2", "?1") + ` LIMIT 1`

// anyVisibleQuery says whether ClaimMailbox at ?1 (now) would hand out a
// message of partner ?2's mailbox (mailboxCandidates names them ?2, ?3).
var anyVisibleQuery = `SELECT 1 FROM (` + strings.NewReplacer("?2", "?1", "?3", "?2").Replace(mailboxCandidates) + ` LIMIT 1)`

// nextDueQuery answers NextDue from deliveries_due. A held delivery
// (due_at storecodec.Held) never becomes due.
const nextDueQuery = `SELECT due_at FROM deliveries WHERE due_at IS NOT NULL AND pull = 0 AND due_at < ` +
	storecodec.HeldSQL + ` ORDER BY due_at LIMIT 1`

// alarmsDueQuery answers AlarmsDue (?1 now, ?2 the limit) from
// cases_alarm, in its order.
const alarmsDueQuery = `SELECT ` + caseCols + ` FROM cases WHERE alarm_at IS NOT NULL AND alarm_at <= ?1
	ORDER BY alarm_at, id LIMIT ?2`

// bundlePartsQuery answers BundleParts (?1 the bundle) from
// cases_bundle, in its order.
const bundlePartsQuery = `SELECT ` + caseCols + ` FROM cases WHERE bundle_id = ?1 AND bundle_id <> '' AND id <> ?1
	ORDER BY id`

// readStmts are the reads, prepared once on the read-only pool.
type readStmts struct {
	getCase, ownerCase, getExchange, history, deliveries, getDelivery, nextDue, counts *sql.Stmt
	anyDue, anyVisible, alarmsDue, bundleParts                                         *sql.Stmt

	// usage holds ListUsage's statements, prepared on db on first use: one
	// per combination of filters, keyed by its text.
	db      *sql.DB
	usageMu sync.Mutex
	usage   map[string]*sql.Stmt
}

func (r *readStmts) prepare(ctx context.Context, db *sql.DB) error {
	r.db = db
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&r.getCase, `SELECT ` + caseCols + ` FROM cases WHERE id = ?`},
		{&r.ownerCase, `SELECT ` + caseCols + ` FROM cases WHERE owner = ? AND owner_case_no = ? AND owner_case_no <> ''
			ORDER BY id LIMIT 1`},
		{&r.getExchange, `SELECT ` + exchangeCols + ` FROM exchanges WHERE sender = ? AND exchange_id = ?`},
		{&r.history, `SELECT ` + statusCols + ` FROM statuses WHERE case_id = ? ORDER BY id`},
		{&r.deliveries, deliverySelect + ` WHERE d.case_id = ? ORDER BY d.seq`},
		{&r.getDelivery, deliverySelect + ` WHERE d.id = ?`},
		{&r.nextDue, nextDueQuery},
		{&r.counts, `SELECT state, n FROM delivery_counts`},
		{&r.anyDue, anyDueQuery},
		{&r.anyVisible, anyVisibleQuery},
		{&r.alarmsDue, alarmsDueQuery},
		{&r.bundleParts, bundlePartsQuery},
	} {
		st, err := db.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.stmt = st
	}
	return nil
}

func (r *readStmts) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{r.getCase, r.ownerCase, r.getExchange, r.history, r.deliveries, r.getDelivery, r.nextDue, r.counts, r.anyDue, r.anyVisible, r.alarmsDue, r.bundleParts} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	r.usageMu.Lock()
	defer r.usageMu.Unlock()
	for _, st := range r.usage {
		errs = append(errs, st.Close())
	}
	r.usage = nil
	return errors.Join(errs...)
}

// usageStmt returns the prepared statement of text, a ListUsage query,
// preparing it on first use.
func (r *readStmts) usageStmt(ctx context.Context, text string) (*sql.Stmt, error) {
	r.usageMu.Lock()
	defer r.usageMu.Unlock()
	if st, ok := r.usage[text]; ok {
		return st, nil
	}
	st, err := r.db.PrepareContext(ctx, text)
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", text, err)
	}
	if r.usage == nil {
		r.usage = make(map[string]*sql.Stmt)
	}
	r.usage[text] = st
	return st, nil
}

// GetExchange returns the exchange sender sent under exchangeID, with its
// body, signature and receipt byte for byte, or ErrNotFound.
func (s *Store) GetExchange(ctx context.Context, sender, exchangeID string) (*gateway.Exchange, error) {
	x, err := scanExchange(s.r.getExchange.QueryRowContext(ctx, sender, exchangeID))
	if err != nil {
		return nil, readErr(err, "get exchange %q from %q", exchangeID, sender)
	}
	return x, nil
}

// GetCase returns the case with id, or ErrNotFound.
func (s *Store) GetCase(ctx context.Context, id string) (*gateway.Case, error) {
	c, err := scanCase(s.r.getCase.QueryRowContext(ctx, id))
	if err != nil {
		return nil, readErr(err, "get case %q", id)
	}
	return c, nil
}

// CaseByOwnerCaseNo returns the case of owner holding ownerCaseNo, the
// lowest id among several, or ErrNotFound (see gateway.CaseStore).
func (s *Store) CaseByOwnerCaseNo(ctx context.Context, owner, ownerCaseNo string) (*gateway.Case, error) {
	c, err := scanCase(s.r.ownerCase.QueryRowContext(ctx, owner, ownerCaseNo))
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
		return nil, fmt.Errorf("sqlite: alarms due: %w", e.Err())
	}
	if nowArg == nil { // the zero time: before every alarm
		return nil, nil
	}
	return s.cases(ctx, s.r.alarmsDue, "alarms due", nowArg, limit)
}

// BundleParts returns the parts of bundle bundleID, the cases whose
// BundleID is bundleID but the bundle's own, in ID order (see
// gateway.CaseStore); none for bundleID "", which names no bundle.
func (s *Store) BundleParts(ctx context.Context, bundleID string) ([]*gateway.Case, error) {
	if bundleID == "" {
		return nil, nil
	}
	return s.cases(ctx, s.r.bundleParts, fmt.Sprintf("parts of bundle %q", bundleID), bundleID)
}

// cases reads the cases st (of caseCols) returns for args.
func (s *Store) cases(ctx context.Context, st *sql.Stmt, what string, args ...any) ([]*gateway.Case, error) {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, readErr(err, "%s", what)
	}
	defer rows.Close()
	var out []*gateway.Case
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return nil, readErr(err, "%s", what)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, readErr(err, "%s", what)
	}
	return out, nil
}

// History returns the case's history entries in the order they were
// appended. It returns an empty list for an unknown case.
func (s *Store) History(ctx context.Context, caseID string) ([]gateway.Status, error) {
	rows, err := s.r.history.QueryContext(ctx, caseID)
	if err != nil {
		return nil, readErr(err, "history of case %q", caseID)
	}
	defer rows.Close()
	var out []gateway.Status
	for rows.Next() {
		st, err := scanStatus(rows)
		if err != nil {
			return nil, readErr(err, "history of case %q", caseID)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
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
	rows, err := s.r.deliveries.QueryContext(ctx, caseID)
	if err != nil {
		return nil, readErr(err, "deliveries of case %q", caseID)
	}
	defer rows.Close()
	var out []*gateway.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, readErr(err, "deliveries of case %q", caseID)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, readErr(err, "deliveries of case %q", caseID)
	}
	return out, nil
}

// GetDelivery returns the delivery with id, or ErrNotFound.
func (s *Store) GetDelivery(ctx context.Context, id string) (*gateway.Delivery, error) {
	d, err := scanDelivery(s.r.getDelivery.QueryRowContext(ctx, id))
	if err != nil {
		return nil, readErr(err, "get delivery %q", id)
	}
	return d, nil
}

// NextDue returns the earliest time a pending, retry_wait or in_flight
// delivery that is pushed (not a mailbox's) becomes due; ok is false when
// there is none. A zero NextAt or LeaseUntil is returned as the zero time
// (due at once). A held delivery (NextAt gateway.HeldUntil) never becomes
// due: it is not counted.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var due int64
	err := s.r.nextDue.QueryRowContext(ctx).Scan(&due)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("sqlite: next due: %w", err)
	}
	return decDue(due), true, nil
}

// CountByState returns how many deliveries are in each transport state;
// every state is present, with 0 where there are none.
func (s *Store) CountByState(ctx context.Context) (map[contracts.TransportState]int, error) {
	rows, err := s.r.counts.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: count by state: %w", err)
	}
	defer rows.Close()
	out := make(map[contracts.TransportState]int, 6)
	for rows.Next() {
		var (
			st contracts.TransportState
			n  int
		)
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("sqlite: count by state: %w", err)
		}
		out[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: count by state: %w", err)
	}
	return out, nil
}

// readErr wraps a read error, turning sql.ErrNoRows into ErrNotFound.
func readErr(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", what, gateway.ErrNotFound)
	}
	return fmt.Errorf("sqlite: %s: %w", what, err)
}
