package adapters_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/signing/signingtest"
)

func TestExtractInjectTrace(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},
		{"", false},
		{"garbage", false},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.in != "" {
			h.Set("traceparent", tt.in)
		}
		ctx := adapters.ExtractTrace(context.Background(), h)
		out := http.Header{}
		adapters.InjectTrace(ctx, out)
		got := out.Get("traceparent")
		if tt.ok && got != tt.in || !tt.ok && got != "" {
			t.Errorf("traceparent %q: extracted and injected %q, want ok=%v", tt.in, got, tt.ok)
		}
	}
}

// partnerServer answers every call with a signed empty JSON object and
// records the traceparent of each request.
type partnerServer struct {
	*httptest.Server
	mu           sync.Mutex
	traceparents []string
}

func newPartnerServer(t *testing.T, partner *signingtest.Party, status int) *partnerServer {
	t.Helper()
	s := &partnerServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.traceparents = append(s.traceparents, r.Header.Get("traceparent"))
		s.mu.Unlock()
		body := []byte("{}")
		sig, _ := partner.Sign(body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(adapters.HeaderSignature, base64.StdEncoding.EncodeToString(sig))
		w.Header().Set(adapters.HeaderKeyID, partner.KeyID())
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *partnerServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.traceparents...)
}

func attr(attrs []attribute.KeyValue, key string) attribute.Value {
	for _, kv := range attrs {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// TestCallerTraces: a call under a span is a client span of the same
// trace, and the partner receives a traceparent naming that client span.
func TestCallerTraces(t *testing.T) {
	gw, partner := signingtest.New(t, "gateway"), signingtest.New(t, "330702")
	gw.Trust("330702", partner)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	for _, tt := range []struct {
		name   string
		status int
		once   bool
	}{
		{"delivery", http.StatusOK, false},
		{"lookup", http.StatusOK, true},
		{"refused", http.StatusBadRequest, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			exp.Reset()
			srv := newPartnerServer(t, partner, tt.status)
			c, err := adapters.NewCaller(adapters.Params{PartnerID: "330702", Crypto: gw}, 0)
			if err != nil {
				t.Fatal(err)
			}
			ctx, parent := tp.Tracer("test").Start(context.Background(), "dispatch")
			_, callErr := c.Do(ctx, adapters.Request{URL: srv.URL + "/cases", Body: []byte(`{}`), Once: tt.once, What: "acknowledgement"})
			parent.End()
			if (callErr != nil) != (tt.status != http.StatusOK) {
				t.Fatalf("Do: %v", callErr)
			}

			var client sdktrace.ReadOnlySpan
			for _, s := range exp.GetSpans().Snapshots() {
				if s.SpanKind() == trace.SpanKindClient {
					client = s
				}
			}
			if client == nil {
				t.Fatalf("no client span among %d spans", len(exp.GetSpans()))
			}
			want := parent.SpanContext()
			if client.SpanContext().TraceID() != want.TraceID() || client.Parent().SpanID() != want.SpanID() {
				t.Errorf("client span %s (parent %s), want a child of %s", client.SpanContext().SpanID(), client.Parent().SpanID(), want.SpanID())
			}
			if got := client.Name(); got != "POST 330702" {
				t.Errorf("span name %q, want %q", got, "POST 330702")
			}
			if got := attr(client.Attributes(), "tongban.partner").AsString(); got != "330702" {
				t.Errorf("tongban.partner = %q", got)
			}
			if got := attr(client.Attributes(), "http.response.status_code").AsInt64(); got != int64(tt.status) {
				t.Errorf("http.response.status_code = %d, want %d", got, tt.status)
			}
			if failed := client.Status().Code == codes.Error; failed != (tt.status != http.StatusOK) {
				t.Errorf("span status %v for HTTP %d", client.Status(), tt.status)
			}

			seen := srv.seen()
			if len(seen) != 1 {
				t.Fatalf("partner saw %d requests, want 1", len(seen))
			}
			h := http.Header{}
			h.Set("traceparent", seen[0])
			got := trace.SpanContextFromContext(adapters.ExtractTrace(context.Background(), h))
			if got.TraceID() != want.TraceID() || got.SpanID() != client.SpanContext().SpanID() {
				t.Errorf("partner got traceparent %q, want trace %s and parent %s (the client span)", seen[0], want.TraceID(), client.SpanContext().SpanID())
			}
		})
	}
}

// TestCallerContinuesRemoteSpanContext: the dispatcher passes the span
// context of the request a delivery stems from; the partner gets the same
// trace id.
func TestCallerContinuesRemoteSpanContext(t *testing.T) {
	gw, partner := signingtest.New(t, "gateway"), signingtest.New(t, "330702")
	gw.Trust("330702", partner)
	srv := newPartnerServer(t, partner, http.StatusOK)
	c, err := adapters.NewCaller(adapters.Params{PartnerID: "330702", Crypto: gw}, 0)
	if err != nil {
		t.Fatal(err)
	}
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true,
	}))
	if _, err := c.Do(ctx, adapters.Request{URL: srv.URL, Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(context.Background(), adapters.Request{URL: srv.URL, Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	seen := srv.seen()
	h := http.Header{}
	h.Set("traceparent", seen[0])
	if got := trace.SpanContextFromContext(adapters.ExtractTrace(context.Background(), h)); got.TraceID() != tid {
		t.Errorf("traceparent %q, want trace id %s", seen[0], tid)
	}
	// No global TracerProvider is installed in this test binary: without a
	// trace in ctx nothing is made up.
	if seen[1] != "" {
		t.Errorf("traceparent %q sent without a trace in the context", seen[1])
	}
}
