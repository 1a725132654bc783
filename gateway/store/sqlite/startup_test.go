package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestStartupStatementsReadNoWholeTable: what a gateway runs at every
// start (releasing leases, setting the pull flags) reads partial indexes,
// never the whole deliveries table: a start must not cost the gateway's
// history or its backlog.
func TestStartupStatementsReadNoWholeTable(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "tongban.db"), Options{})
	defer s.Close()
	for _, tt := range []struct {
		name, sql string
		args      []any
	}{
		{"release leases", releaseLeasesSQL, []any{int64(1)}},
		{"pull flags, no pulling partner", setPullSQL, []any{`[]`}},
		{"pull flags, a pulling partner", setPullSQL, []any{`["330702"]`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plan := queryPlan(t, s.rdb, tt.sql, tt.args...)
			for _, step := range plan {
				if step == "SCAN deliveries" {
					t.Errorf("plan reads the whole deliveries table:\n%s", strings.Join(plan, "\n"))
				}
			}
		})
	}
}

// queryPlan returns the steps of EXPLAIN QUERY PLAN q.
func queryPlan(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// wholeTableSetPull is what SetPullPartners ran before it read through
// indexes: its meaning, stated over the whole table.
const wholeTableSetPull = `UPDATE deliveries SET pull = (partner IN (SELECT value FROM json_each(?1)))
	WHERE state IN ('pending', 'in_flight', 'retry_wait', 'dead')
	  AND pull <> (partner IN (SELECT value FROM json_each(?1)))`

// TestSetPullMatchesWholeTableRule: through its indexes, SetPullPartners
// sets exactly the flags the whole-table rule sets (unfinished deliveries
// get pull = their partner is listed; finished ones keep theirs), from
// every starting flag, for every list.
func TestSetPullMatchesWholeTableRule(t *testing.T) {
	states := []string{"pending", "retry_wait", "in_flight", "dead", "delivered", "cancelled"}
	partners := []string{"p1", "p2", "p3"}
	lists := []string{`[]`, `["p1"]`, `["p2","p3"]`, `["p1","p2","p3"]`, `["elsewhere"]`}
	// Each list is applied to the flags the previous one left, after
	// every delivery started with the flag of its index's parity.
	flags := func(stmt string) [][]int {
		s := openAt(t, filepath.Join(t.TempDir(), "tongban.db"), Options{})
		defer s.Close()
		var out [][]int
		err := s.submit(t.Context(), func(w *writer) error {
			now := time.Now().UnixNano()
			i := 0
			for _, st := range states {
				for _, p := range partners {
					for _, pull := range []int{0, 1} {
						var next, lease any
						switch st {
						case "pending", "retry_wait":
							next = now
						case "in_flight":
							lease = now
						}
						if _, err := w.conn.ExecContext(w.bg, `INSERT INTO deliveries (id, case_id, partner, kind, exchange_id,
							state, attempts, next_at, lease_until, created_at, last_error, pull, traceparent)
							VALUES (?, ?, ?, 'case', ?, ?, 0, ?, ?, ?, '', ?, '')`,
							fmt.Sprint("d", i), "", p, fmt.Sprint("x", i), st, next, lease, now, pull); err != nil {
							return err
						}
						i++
					}
				}
			}
			for _, l := range lists {
				if _, err := w.conn.ExecContext(w.bg, stmt, l); err != nil {
					return err
				}
				rows, err := w.conn.QueryContext(w.bg, `SELECT pull FROM deliveries ORDER BY seq`)
				if err != nil {
					return err
				}
				var got []int
				for rows.Next() {
					var v int
					if err := rows.Scan(&v); err != nil {
						rows.Close()
						return err
					}
					got = append(got, v)
				}
				rows.Close()
				out = append(out, got)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	want, got := flags(wholeTableSetPull), flags(setPullSQL)
	for i, l := range lists {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("after %s: pull flags %v, want %v", l, got[i], want[i])
		}
	}
}
