package partnersim_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/adapters/partnersim"
)

func spanContextOf(traceparent string) trace.SpanContext {
	h := http.Header{}
	h.Set("Traceparent", traceparent)
	return trace.SpanContextFromContext(adapters.ExtractTrace(context.Background(), h))
}

// TestTraceRoundTrip: the simulator records the trace id of a case's
// delivery and reports the case's status updates in that trace, each with
// a span id of its own; a delivery without traceparent is reported without
// one.
func TestTraceRoundTrip(t *testing.T) {
	gw, partner := newPair(t)
	g := newFakeGateway(t, gw, nil)
	sim, srv := newSim(t, partnersim.Config{
		Crypto: partner, GatewayURL: g.URL, Step: time.Millisecond,
		Token:    func() (string, error) { return token, nil },
		Progress: partnersim.DefaultProgress[:2],
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim.Start(ctx)

	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	traced, untraced := caseDelivery(1), caseDelivery(2)
	postWith(t, srv.URL+"/cases", gw, mustJSON(t, traced), http.Header{"Traceparent": {tp}}).ack(t, gw)
	posts := g.collect(t, 2)
	postWith(t, srv.URL+"/cases", gw, mustJSON(t, untraced), nil).ack(t, gw)
	posts = append(posts, g.collect(t, 2)...)

	if got := sim.TraceID(traced.CaseID); got != traceID {
		t.Errorf("TraceID(%s) = %q, want %q", traced.CaseID, got, traceID)
	}
	if got := sim.TraceID(untraced.CaseID); got != "" {
		t.Errorf("TraceID(%s) = %q for a delivery without traceparent", untraced.CaseID, got)
	}
	if got := sim.TraceIDs(); !slices.Equal(got, []string{traceID}) {
		t.Errorf("TraceIDs() = %v, want [%s]", got, traceID)
	}

	spans := map[trace.SpanID]bool{}
	for _, p := range posts {
		switch p.update.CaseID {
		case traced.CaseID:
			sc := spanContextOf(p.traceparent)
			if sc.TraceID().String() != traceID || !sc.IsSampled() {
				t.Errorf("report %s: traceparent %q, want trace %s, sampled", p.update.State, p.traceparent, traceID)
			}
			if sc.SpanID().String() == "00f067aa0ba902b7" || spans[sc.SpanID()] {
				t.Errorf("report %s: span id %s is the delivery's or another report's", p.update.State, sc.SpanID())
			}
			spans[sc.SpanID()] = true
		case untraced.CaseID:
			if p.traceparent != "" {
				t.Errorf("report %s of an untraced case: traceparent %q", p.update.State, p.traceparent)
			}
		}
	}
	cancel()
	waitDone(t, sim)
}
