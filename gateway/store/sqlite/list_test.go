package sqlite

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// TestListDeliveriesUsesIndexes checks that ListDeliveries reads the
// partial indexes of unfinished deliveries, never the whole deliveries
// table (mostly history), whatever states and filters it is asked for.
func TestListDeliveriesUsesIndexes(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "plan.db"), Options{})
	defer s.Close()
	dead, retry := contracts.TransportStateDead, contracts.TransportStateRetryWait
	pending, inFlight := contracts.TransportStatePending, contracts.TransportStateInFlight
	queries := map[string]gateway.DeliveryQuery{
		"dead":                 {States: []contracts.TransportState{dead}, Limit: 10},
		"dead of a partner":    {States: []contracts.TransportState{dead}, Partner: "330702", After: 5, Limit: 10},
		"retry_wait":           {States: []contracts.TransportState{retry}, Limit: 10},
		"dead and retry_wait":  {States: []contracts.TransportState{dead, retry}, After: 5, Limit: 10},
		"every unfinished":     {States: []contracts.TransportState{pending, inFlight, retry, dead}, Partner: "330702", Limit: 10},
		"pending of a partner": {States: []contracts.TransportState{pending}, Partner: "330702", Limit: 10},
	}
	for name, q := range queries {
		text, args, err := deliveryListQuery(q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rows, err := s.rdb.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+text, args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		text = strings.Join(plan, "; ")
		for _, step := range plan {
			if strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, "INDEX") ||
				strings.Contains(step, "(rowid>?)") {
				t.Errorf("%s walks the table: %s", name, text)
			}
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
		"delivered": {States: []contracts.TransportState{contracts.TransportStateDelivered}, Limit: 1},
		"unknown":   {States: []contracts.TransportState{"dead' OR 1=1 --"}, Limit: 1},
	} {
		if _, _, err := deliveryListQuery(q); err == nil {
			t.Errorf("%s: got no error", name)
		}
	}
}
