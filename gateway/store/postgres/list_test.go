package postgres

import (
	"strings"
	"testing"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// TestListDeliveriesUsesIndexes checks that ListDeliveries can read an
// index of unfinished deliveries rather than the deliveries table (mostly
// history): with sequential scans priced out, its plan has none.
func TestListDeliveriesUsesIndexes(t *testing.T) {
	s := openClosed(t, freshSchema(t))
	conn, err := s.pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(t.Context(), `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(t.Context(), `RESET enable_seqscan`) //nolint:errcheck // the connection is released next
	dead, retry := contracts.TransportStateDead, contracts.TransportStateRetryWait
	for name, q := range map[string]gateway.DeliveryQuery{
		"dead and retry_wait":  {States: []contracts.TransportState{dead, retry}, Limit: 100},
		"dead of a partner":    {States: []contracts.TransportState{dead}, Partner: "330702", After: 7, Limit: 100},
		"pending of a partner": {States: []contracts.TransportState{contracts.TransportStatePending}, Partner: "330702", Limit: 1},
	} {
		text, args, err := deliveryListQuery(q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rows, err := conn.Query(t.Context(), "EXPLAIN "+text, args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, strings.TrimSpace(line))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		text = strings.Join(plan, "; ")
		if strings.Contains(text, "Seq Scan on deliveries") {
			t.Errorf("%s walks the table: %s", name, text)
		}
		t.Logf("%s: %s", name, text)
	}
}

// TestListDeliveriesRefuses: a query the contract does not allow is an
// error, not a guess.
func TestListDeliveriesRefuses(t *testing.T) {
	for name, q := range map[string]gateway.DeliveryQuery{
		"no limit":  {States: []contracts.TransportState{contracts.TransportStateDead}},
		"no state":  {Limit: 1},
		"cancelled": {States: []contracts.TransportState{contracts.TransportStateCancelled}, Limit: 1},
	} {
		if _, _, err := deliveryListQuery(q); err == nil {
			t.Errorf("%s: got no error", name)
		}
	}
}
