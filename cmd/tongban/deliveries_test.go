package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tongban/tongban/cmd/tongban/internal/devrig"
	"github.com/tongban/tongban/contracts"
)

// listDeliveries runs tongban deliveries list through the binary with
// caller's key.
func (e *redeliverEnv) listDeliveries(t *testing.T, caller string, args ...string) result {
	t.Helper()
	return runIn(t, t.TempDir(), "", append(e.listArgs(caller), args...)...)
}

func (e *redeliverEnv) listArgs(caller string) []string {
	return []string{"deliveries", "list", "--gateway", e.rig.Base, "--key", filepath.Join(e.rig.Dir, "keys", caller+".key"),
		"--kid", caller, "--iss", caller, "--aud", devrig.RigGatewayID}
}

func decodeDeliveryPage(t *testing.T, r result) contracts.DeliveryPage {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	var p contracts.DeliveryPage
	if err := dec.Decode(&p); err != nil || p.Items == nil {
		t.Fatalf("stdout is not a page of deliveries: %q (%v)", r.stdout, err)
	}
	return p
}

func summaryIDs(p contracts.DeliveryPage) []string {
	out := []string{}
	for _, d := range p.Items {
		out = append(out, d.DeliveryID)
	}
	return out
}

// TestDeliveriesList: an operator lists the dead letters of a running
// gateway as a table and as JSON, in as many calls as it takes, up to
// --limit and on from --cursor; others are refused.
func TestDeliveriesList(t *testing.T) {
	e := newRedeliverEnv(t)
	cases := []string{e.submitCase(t), e.submitCase(t), e.submitCase(t)}
	var dead []contracts.DeliveryView
	for _, c := range cases {
		dead = append(dead, e.waitDelivery(t, c, contracts.TransportStateDead))
	}
	var wantIDs []string
	for _, d := range dead {
		wantIDs = append(wantIDs, d.DeliveryID)
	}

	p := decodeDeliveryPage(t, must(t, e.listDeliveries(t, "operator", "--json")))
	if got := summaryIDs(p); !slices.Equal(got, wantIDs) || p.NextCursor != "" {
		t.Fatalf("--json: got %v cursor %q, want %v (oldest first) and no cursor", got, p.NextCursor, wantIDs)
	}
	for i, d := range p.Items {
		if d.State != contracts.TransportStateDead || d.CaseID != cases[i] || d.Partner != devrig.Owner || d.Kind != contracts.DeliveryKindCase ||
			d.Attempts != dead[i].Attempts || d.LastError != dead[i].LastError || !strings.Contains(d.LastError, "signature") || d.CreatedAt.IsZero() {
			t.Errorf("item %d: got %+v, want the dead letter of case %s as GET /v1/cases shows it (%+v)", i, d, cases[i], dead[i])
		}
	}

	r := must(t, e.listDeliveries(t, "operator", "--state", "dead", "--partner", devrig.Owner))
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "DELIVERY") || !strings.Contains(lines[0], "LAST ERROR") {
		t.Fatalf("table: got %q, want a header and 3 rows", r.stdout)
	}
	for i, id := range wantIDs {
		if row := lines[i+1]; !strings.HasPrefix(row, id) || !strings.Contains(row, cases[i]) || !strings.Contains(row, " dead ") {
			t.Errorf("row %d: got %q, want delivery %s of case %s, dead", i, row, id, cases[i])
		}
	}
	if r.stderr != "" {
		t.Errorf("table: stderr %q, want nothing", r.stderr)
	}

	// --limit stops early and says where to go on; --cursor goes on.
	first := decodeDeliveryPage(t, must(t, e.listDeliveries(t, "operator", "--json", "--limit", "2")))
	if got := summaryIDs(first); !slices.Equal(got, wantIDs[:2]) || first.NextCursor == "" {
		t.Fatalf("--limit 2: got %v cursor %q, want %v and a cursor", got, first.NextCursor, wantIDs[:2])
	}
	rest := decodeDeliveryPage(t, must(t, e.listDeliveries(t, "operator", "--json", "--cursor", first.NextCursor)))
	if got := summaryIDs(rest); !slices.Equal(got, wantIDs[2:]) || rest.NextCursor != "" {
		t.Errorf("--cursor %s: got %v cursor %q, want %v and no cursor", first.NextCursor, got, rest.NextCursor, wantIDs[2:])
	}
	r = must(t, e.listDeliveries(t, "operator", "--limit", "1"))
	if !strings.Contains(r.stderr, "--cursor ") || strings.Count(strings.TrimSpace(r.stdout), "\n") != 1 {
		t.Errorf("table with --limit 1: stdout %q stderr %q, want one row and the cursor to go on", r.stdout, r.stderr)
	}

	// Nothing in a state: an empty list, still success.
	r = must(t, e.listDeliveries(t, "operator", "--state", "pending"))
	if r.stdout != "" || !strings.Contains(r.stderr, "no pending deliveries") {
		t.Errorf("empty table: stdout %q stderr %q", r.stdout, r.stderr)
	}
	if p := decodeDeliveryPage(t, must(t, e.listDeliveries(t, "operator", "--json", "--state", "in_flight"))); len(p.Items) != 0 {
		t.Errorf("--state in_flight: got %v, want none", summaryIDs(p))
	}

	// Only operators list; bad flags do not reach the gateway.
	if r := e.listDeliveries(t, devrig.Sender); r.code != 1 || !strings.Contains(r.stderr, "forbidden") || r.stdout != "" {
		t.Errorf("non-operator: got exit %d stdout %q stderr %q; want 1 and forbidden", r.code, r.stdout, r.stderr)
	}
	for _, args := range [][]string{{"--state", "delivered"}, {"--partner", "bad id"}, {"--limit", "0"}, {"--cursor", "x"}} {
		if r := e.listDeliveries(t, "operator", args...); r.code != 2 || !strings.Contains(r.stderr, args[0]) {
			t.Errorf("%v: got exit %d stderr %q, want 2 naming %s", args, r.code, r.stderr, args[0])
		}
	}

	// Pages smaller than --limit are followed (in process, one per call).
	t.Run("follows next_cursor", func(t *testing.T) {
		defer func(n int) { deliveriesPageMax = n }(deliveriesPageMax)
		deliveriesPageMax = 1
		for _, tt := range []struct {
			limit string
			want  []string
			more  bool
		}{{"10", wantIDs, false}, {"2", wantIDs[:2], true}} {
			root := newRootCmd()
			var out, errOut bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&errOut)
			root.SetArgs(append(e.listArgs("operator"), "--json", "--limit", tt.limit))
			if err := root.ExecuteContext(t.Context()); err != nil {
				t.Fatalf("--limit %s: %v (stderr %q)", tt.limit, err, errOut.String())
			}
			p := decodeDeliveryPage(t, result{stdout: out.String()})
			if got := summaryIDs(p); !slices.Equal(got, tt.want) || (p.NextCursor != "") != tt.more {
				t.Errorf("--limit %s over pages of 1: got %v cursor %q, want %v (more: %v)", tt.limit, got, p.NextCursor, tt.want, tt.more)
			}
		}
	})
}
