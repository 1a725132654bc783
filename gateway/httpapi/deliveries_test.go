package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
)

// TestListDeliveriesHTTP: GET /v1/admin/deliveries lists an operator's
// waiting deliveries from the real store (dead and retry_wait unless a
// state is named), in pages; a bad parameter is a 400 naming it, and only
// operators may list.
func TestListDeliveriesHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var cases []string
	for range 3 {
		cases = append(cases, e.newCase().CaseID)
	}
	// No dispatcher runs here: claim the three deliveries to 330702 and
	// record failed attempts as one would.
	now := time.Now().UTC().Truncate(time.Millisecond)
	ds, err := e.store.ClaimDue(t.Context(), now.Add(time.Hour), time.Hour, 10)
	if err != nil || len(ds) != 3 {
		t.Fatalf("ClaimDue: got %d deliveries, %v; want 3", len(ds), err)
	}
	dead, retry, inFlight := ds[0], ds[1], ds[2]
	dead.State, dead.Attempts, dead.LastError = contracts.TransportStateDead, 8, "HTTP 503"
	retry.State, retry.Attempts, retry.NextAt, retry.LastError = contracts.TransportStateRetryWait, 2, now.Add(time.Hour), "connection refused"
	if err := e.store.SaveAttempt(t.Context(), dead); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SaveAttempt(t.Context(), retry); err != nil {
		t.Fatal(err)
	}

	list := func(query string) contracts.DeliveryPage {
		t.Helper()
		r := e.get(operator, "/v1/admin/deliveries"+query)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: got %d %s, want 200", query, r.status, r.body)
		}
		if !bytes.Contains(r.body, []byte(`"items":[`)) {
			t.Errorf("GET %s: body %s, want items as an array", query, r.body)
		}
		dec := json.NewDecoder(bytes.NewReader(r.body))
		dec.DisallowUnknownFields()
		var p contracts.DeliveryPage
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("GET %s: body %s: %v", query, r.body, err)
		}
		return p
	}
	ids := func(p contracts.DeliveryPage) []string {
		out := []string{}
		for _, it := range p.Items {
			out = append(out, it.DeliveryID)
		}
		return out
	}

	p := list("")
	if got, want := ids(p), []string{dead.ID, retry.ID}; !slices.Equal(got, want) || p.NextCursor != "" {
		t.Fatalf("default listing: got %v cursor %q, want %v (dead and retry_wait, oldest first) and no cursor", got, p.NextCursor, want)
	}
	want := contracts.DeliverySummary{DeliveryID: dead.ID, Kind: contracts.DeliveryKindCase, CaseID: cases[0], Partner: wucheng,
		ExchangeID: dead.ExchangeID, State: contracts.TransportStateDead, Attempts: 8, LastError: "HTTP 503", CreatedAt: dead.CreatedAt.UTC()}
	if got := p.Items[0]; got != want {
		t.Errorf("dead letter:\ngot  %+v\nwant %+v", got, want)
	}
	if got := p.Items[1]; got.State != contracts.TransportStateRetryWait || got.CaseID != cases[1] || got.Attempts != 2 ||
		got.LastError != "connection refused" || !got.NextAttemptAt.Equal(now.Add(time.Hour)) {
		t.Errorf("retry_wait delivery: got %+v, want its attempts, error and next attempt at %s", got, now.Add(time.Hour))
	}
	if got := ids(list("?state=in_flight")); !slices.Equal(got, []string{inFlight.ID}) {
		t.Errorf("state=in_flight: got %v, want %v", got, []string{inFlight.ID})
	}
	if got := ids(list("?state=pending&partner=" + wucheng)); len(got) != 0 {
		t.Errorf("state=pending: got %v, want none", got)
	}
	if got := ids(list("?partner=" + zhonglou)); len(got) != 0 {
		t.Errorf("partner=%s: got %v, want none", zhonglou, got)
	}

	first := list("?partner=" + wucheng + "&limit=1")
	if got := ids(first); !slices.Equal(got, []string{dead.ID}) || first.NextCursor == "" {
		t.Fatalf("first page: got %v cursor %q, want [%s] and a cursor", got, first.NextCursor, dead.ID)
	}
	second := list("?partner=" + wucheng + "&limit=1&cursor=" + first.NextCursor)
	if got := ids(second); !slices.Equal(got, []string{retry.ID}) || second.NextCursor != "" {
		t.Errorf("second page: got %v cursor %q, want [%s] and no cursor (the last page)", got, second.NextCursor, retry.ID)
	}

	for _, q := range []string{"state=delivered", "state=cancelled", "state=stuck", "partner=bad%20id", "limit=0", "limit=501",
		"limit=ten", "cursor=x", "cursor=0", "cursor=-1", "color=red", "state=dead&state=retry_wait"} {
		t.Run(q, func(t *testing.T) {
			r := e.get(operator, "/v1/admin/deliveries?"+q)
			wantError(t, r, http.StatusBadRequest, contracts.CodeBadRequest)
			name, _, _ := strings.Cut(q, "=")
			if !bytes.Contains(r.body, []byte("query parameter "+name)) {
				t.Errorf("body %s does not name the parameter %s", r.body, name)
			}
		})
	}
	for _, caller := range []string{zhonglou, window, auditor} {
		wantError(t, e.get(caller, "/v1/admin/deliveries"), http.StatusForbidden, contracts.CodeForbidden)
	}
	wantError(t, e.do(http.MethodGet, "/v1/admin/deliveries", nil, nil), http.StatusUnauthorized, contracts.CodeUnauthenticated)
}
