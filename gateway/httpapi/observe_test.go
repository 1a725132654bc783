package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/httpapi"
	"github.com/tongban/tongban/gateway/telemetry"
)

const (
	callerTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerTraceparent = "00-" + callerTraceID + "-00f067aa0ba902b7-01"
)

// withTelemetry gives the env a telemetry whose spans go to exp.
func withTelemetry(t *testing.T, exp *tracetest.InMemoryExporter) func(*httpapi.Options) {
	t.Helper()
	tel, err := telemetry.New(t.Context(), telemetry.Config{SamplingRatio: 1}, telemetry.WithSpanExporter(exp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return func(o *httpapi.Options) { o.Telemetry = tel }
}

// postWith is e.post with extra headers.
func (e *env) postWith(caller, path string, body []byte, extra map[string]string) response {
	e.t.Helper()
	h := map[string]string{
		"Authorization":         "Bearer " + e.tokenFor(caller),
		"Content-Type":          "application/json",
		httpapi.HeaderSignature: e.sign(caller, body),
		httpapi.HeaderKeyID:     caller,
	}
	for k, v := range extra {
		h[k] = v
	}
	return e.do(http.MethodPost, path, bytes.NewReader(body), h)
}

// serverSpans are the server spans exp holds (the core may add spans of
// its own under them).
func serverSpans(exp *tracetest.InMemoryExporter) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range exp.GetSpans() {
		if s.SpanKind == trace.SpanKindServer {
			out = append(out, s)
		}
	}
	return out
}

func spanAttr(attrs []attribute.KeyValue, key string) attribute.Value {
	for _, kv := range attrs {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// exchangeOf decodes the exchange id of a submission.
func exchangeOf(t *testing.T, body []byte) string {
	t.Helper()
	var sub contracts.CaseSubmission
	if err := json.Unmarshal(body, &sub); err != nil {
		t.Fatal(err)
	}
	return sub.ExchangeID
}

// TestServerSpanContinuesCallerTrace: a request with a caller's
// traceparent is a server span of the caller's trace, named by its route,
// and the trace id is what the core stores with the exchange.
func TestServerSpanContinuesCallerTrace(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	e := newEnv(t, withTelemetry(t, exp))

	body := submission(t)
	r := e.postWith(zhonglou, "/v1/cases", body, map[string]string{"traceparent": callerTraceparent})
	if r.status != http.StatusAccepted {
		t.Fatalf("submit: %d %s", r.status, r.body)
	}
	spans := serverSpans(exp)
	if len(spans) != 1 {
		t.Fatalf("got %d server spans, want 1", len(spans))
	}
	s := spans[0]
	if s.SpanKind != trace.SpanKindServer || s.Name != "POST /v1/cases" {
		t.Errorf("span %q kind %v, want server span %q", s.Name, s.SpanKind, "POST /v1/cases")
	}
	if got := s.SpanContext.TraceID().String(); got != callerTraceID {
		t.Errorf("span trace id %s, want the caller's %s", got, callerTraceID)
	}
	if got := s.Parent.SpanID().String(); got != "00f067aa0ba902b7" || !s.Parent.IsRemote() {
		t.Errorf("span parent %s (remote %v), want the caller's span 00f067aa0ba902b7", got, s.Parent.IsRemote())
	}
	for key, want := range map[string]any{
		"http.route": "/v1/cases", "http.request.method": "POST", "http.response.status_code": int64(202),
		"tongban.caller": zhonglou, "tongban.request_id": r.header.Get("X-Request-Id"),
	} {
		if got := spanAttr(s.Attributes, key).AsInterface(); got != want {
			t.Errorf("attribute %s = %v, want %v", key, got, want)
		}
	}
	for _, kv := range s.Attributes {
		if v := kv.Value.Emit(); strings.Contains(v, "11010519491231002X") || strings.Contains(v, "王秀英") {
			t.Errorf("attribute %s carries personal data: %s", kv.Key, v)
		}
	}

	x, err := e.store.GetExchange(t.Context(), zhonglou, exchangeOf(t, body))
	if err != nil {
		t.Fatal(err)
	}
	if x.TraceID != callerTraceID {
		t.Errorf("Inbound.TraceID stored %q, want the span's trace id %s", x.TraceID, callerTraceID)
	}

	// Without a traceparent the span starts a trace, and that trace id is
	// the exchange's.
	exp.Reset()
	body = submission(t)
	if r := e.post(zhonglou, "/v1/cases", body); r.status != http.StatusAccepted {
		t.Fatalf("submit: %d %s", r.status, r.body)
	}
	spans = serverSpans(exp)
	if len(spans) != 1 || spans[0].Parent.IsValid() {
		t.Fatalf("got %d server spans, want one root server span", len(spans))
	}
	x, err = e.store.GetExchange(t.Context(), zhonglou, exchangeOf(t, body))
	if err != nil {
		t.Fatal(err)
	}
	if want := spans[0].SpanContext.TraceID().String(); x.TraceID != want || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(x.TraceID) {
		t.Errorf("Inbound.TraceID stored %q, want the new trace's %s", x.TraceID, want)
	}
}

// TestSpansOfRefusalsAndProbes: a refused request's span carries the
// error code; an unknown route is named "unmatched" (never its path);
// probes are not traced.
func TestSpansOfRefusalsAndProbes(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	e := newEnv(t, withTelemetry(t, exp))

	r := e.do(http.MethodGet, "/v1/cases/some-case", nil, nil) // no token
	wantError(t, r, http.StatusUnauthorized, contracts.CodeUnauthenticated)
	e.do(http.MethodGet, "/no/such/route?holder_id=11010519491231002X", nil, nil)
	e.do(http.MethodGet, "/healthz", nil, nil)
	e.do(http.MethodGet, "/readyz", nil, nil)
	e.do(http.MethodGet, "/metrics", nil, nil)

	spans := serverSpans(exp)
	if len(spans) != 2 {
		t.Fatalf("got %d server spans %v, want 2 (probes are not traced)", len(spans), spans.Snapshots())
	}
	if s := spans[0]; s.Name != "GET /v1/cases/:case_id" || spanAttr(s.Attributes, "tongban.error_code").AsString() != "unauthenticated" {
		t.Errorf("refused request: span %q, error code %q", s.Name, spanAttr(s.Attributes, "tongban.error_code").AsString())
	}
	if s := spans[1]; s.Name != "GET unmatched" || spanAttr(s.Attributes, "http.route").AsString() != "unmatched" {
		t.Errorf("unknown route: span %q route %q, want %q", s.Name, spanAttr(s.Attributes, "http.route").AsString(), "GET unmatched")
	}
}

// TestMetricsCountRequests: after a request, /metrics counts it by route,
// method, status and caller, with its latency.
func TestMetricsCountRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := e.newCase()
	e.get(zhonglou, "/v1/cases/"+rc.CaseID)
	e.get(zhonglou, "/v1/cases/"+rc.CaseID)
	e.do(http.MethodGet, "/v1/cases/"+rc.CaseID, nil, nil) // unauthenticated

	r := e.do(http.MethodGet, "/metrics", nil, nil)
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", r.status, r.header.Get("Content-Type"))
	}
	for _, want := range []string{
		`tongban_http_requests_total{http_request_method="POST",http_response_status_code="202",http_route="/v1/cases",tongban_caller="320404"} 1`,
		`tongban_http_requests_total{http_request_method="GET",http_response_status_code="200",http_route="/v1/cases/:case_id",tongban_caller="320404"} 2`,
		`tongban_http_requests_total{http_request_method="GET",http_response_status_code="401",http_route="/v1/cases/:case_id",tongban_caller="none"} 1`,
		`tongban_http_request_duration_seconds_count{http_request_method="POST",http_response_status_code="202",http_route="/v1/cases",tongban_caller="320404"} 1`,
		`tongban_http_request_duration_seconds_bucket{http_request_method="POST",http_response_status_code="202",http_route="/v1/cases",tongban_caller="320404",le="30"} 1`,
	} {
		if !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("/metrics lacks\n  %s\nin:\n%s", want, metricLines(r.body, "tongban_http_requests_total"))
		}
	}
}

func metricLines(body []byte, prefix string) string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			out = append(out, sc.Text())
		}
	}
	return strings.Join(out, "\n")
}

func readHealth(t *testing.T, r response) contracts.Health {
	t.Helper()
	var h contracts.Health
	if err := json.Unmarshal(r.body, &h); err != nil {
		t.Fatalf("health body %s: %v", r.body, err)
	}
	return h
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *httpapi.Options) { o.Version = "v1.2.3" })
	r := e.do(http.MethodGet, "/healthz", nil, nil)
	if h := readHealth(t, r); r.status != http.StatusOK || h.Status != contracts.HealthStatusOK || h.Version != "v1.2.3" {
		t.Errorf("/healthz: %d %s, want 200 ok with the version", r.status, r.body)
	}
}

// errBox holds an error a check returns; tests change it.
type errBox struct {
	mu  sync.Mutex
	err error
}

func (b *errBox) Store(err error) { b.mu.Lock(); b.err = err; b.mu.Unlock() }
func (b *errBox) Load() error     { b.mu.Lock(); defer b.mu.Unlock(); return b.err }

// TestReadyzChecks: 503 naming the failing check, 200 when every check is
// ok or degraded; results carry status, detail, time and duration.
func TestReadyzChecks(t *testing.T) {
	t.Parallel()
	var keysErr, evidence errBox
	keysErr.Store(errors.New("signer: hsm slot 3 unavailable: secret detail"))
	evidence.Store(httpapi.Degraded("2 dead letters to 330702"))
	e := newEnv(t, func(o *httpapi.Options) {
		o.Version = "v1.2.3"
		o.CheckCache = -1 // every probe runs the checks
		o.Checks = []httpapi.Check{
			{Name: "store", Run: func(context.Context) error { return nil }},
			{Name: "keys", Run: func(context.Context) error { return keysErr.Load() }},
			{Name: "evidence", Run: func(context.Context) error { return evidence.Load() }},
		}
	})

	r := e.do(http.MethodGet, "/readyz", nil, nil)
	h := readHealth(t, r)
	if r.status != http.StatusServiceUnavailable || h.Status != contracts.HealthStatusFail || h.Version != "v1.2.3" {
		t.Fatalf("/readyz with a failing check: %d %s, want 503 fail", r.status, r.body)
	}
	if c := h.Checks["keys"]; c.Status != contracts.HealthStatusFail || c.Detail == "" || c.CheckedAt.IsZero() || c.DurationMS < 0 {
		t.Errorf("keys: %+v, want fail with a detail and a time", c)
	}
	if bytes.Contains(r.body, []byte("secret detail")) {
		t.Errorf("/readyz leaks the check's error: %s", r.body)
	}
	if c := h.Checks["store"]; c.Status != contracts.HealthStatusOK {
		t.Errorf("store: %+v, want ok", c)
	}
	if c := h.Checks["evidence"]; c.Status != contracts.HealthStatusDegraded || c.Detail != "2 dead letters to 330702" {
		t.Errorf("evidence: %+v, want degraded with its detail", c)
	}

	keysErr.Store(httpapi.Failed("signing key not loaded", errors.New("inner")))
	if c := readHealth(t, e.do(http.MethodGet, "/readyz", nil, nil)).Checks["keys"]; c.Detail != "signing key not loaded" {
		t.Errorf("keys with Failed: %+v, want its detail", c)
	}

	keysErr.Store(nil)
	r = e.do(http.MethodGet, "/readyz", nil, nil)
	if h := readHealth(t, r); r.status != http.StatusOK || h.Status != contracts.HealthStatusDegraded {
		t.Errorf("/readyz with ok and degraded checks: %d %s, want 200 degraded", r.status, r.body)
	}
	evidence.Store(nil)
	r = e.do(http.MethodGet, "/readyz", nil, nil)
	if h := readHealth(t, r); r.status != http.StatusOK || h.Status != contracts.HealthStatusOK || len(h.Checks) != 3 {
		t.Errorf("/readyz with ok checks: %d %s, want 200 ok with 3 checks", r.status, r.body)
	}
}

// TestReadyzCaches: within the cache window a check runs once however
// many probes come.
func TestReadyzCaches(t *testing.T) {
	t.Parallel()
	var runs atomic.Int64
	var now atomic.Int64
	now.Store(time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC).UnixNano())
	e := newEnv(t, func(o *httpapi.Options) {
		o.CheckCache = 5 * time.Second
		o.Now = func() time.Time { return time.Unix(0, now.Load()) }
		o.Checks = []httpapi.Check{{Name: "store", Run: func(context.Context) error { runs.Add(1); return nil }}}
	})
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.do(http.MethodGet, "/readyz", nil, nil)
		}()
	}
	wg.Wait()
	if got := runs.Load(); got != 1 {
		t.Errorf("20 probes within the cache window ran the check %d times, want 1", got)
	}
	now.Add(int64(4 * time.Second))
	e.do(http.MethodGet, "/readyz", nil, nil)
	if got := runs.Load(); got != 1 {
		t.Errorf("a probe 4s later ran the check again (%d runs)", got)
	}
	now.Add(int64(2 * time.Second))
	e.do(http.MethodGet, "/readyz", nil, nil)
	if got := runs.Load(); got != 2 {
		t.Errorf("a probe past the cache window: %d runs, want 2", got)
	}
}

// TestReadyzBoundsAHangingCheck: a check that never returns is reported as
// timed out, and is not started again while it hangs.
func TestReadyzBoundsAHangingCheck(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var runs atomic.Int64
	e := newEnv(t, func(o *httpapi.Options) {
		o.CheckTimeout = 50 * time.Millisecond
		o.CheckCache = -1
		o.Checks = []httpapi.Check{
			{Name: "store", Run: func(context.Context) error { return nil }, Timeout: time.Minute},
			{Name: "partner:330702", Run: func(context.Context) error { runs.Add(1); <-release; return nil }}, // ignores its ctx
		}
	})
	for i := range 2 {
		r := e.do(http.MethodGet, "/readyz", nil, nil)
		h := readHealth(t, r)
		c := h.Checks["partner:330702"]
		if r.status != http.StatusServiceUnavailable || c.Status != contracts.HealthStatusFail || !strings.Contains(c.Detail, "timed out") {
			t.Errorf("probe %d: %d %s, want 503 with partner:330702 timed out", i, r.status, r.body)
		}
		if h.Checks["store"].Status != contracts.HealthStatusOK {
			t.Errorf("probe %d: store %+v, want ok", i, h.Checks["store"])
		}
	}
	if got := runs.Load(); got != 1 {
		t.Errorf("the hanging check was started %d times, want once", got)
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a server.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(s.b.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// TestLogsCarryRequestAndTraceIDs: the core's log line while handling a
// request carries the request's request_id and trace_id; the HTTP layer
// wraps a plain logger itself and masks identity numbers.
func TestLogsCarryRequestAndTraceIDs(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	exp := tracetest.NewInMemoryExporter()
	e := newEnv(t, withTelemetry(t, exp), func(o *httpapi.Options) {
		o.Log = telemetry.WrapLogger(slog.New(slog.NewJSONHandler(&buf, nil))) // as cmd builds it
	})
	r := e.postWith(zhonglou, "/v1/cases", submission(t), map[string]string{"traceparent": callerTraceparent})
	if r.status != http.StatusAccepted {
		t.Fatalf("submit: %d %s", r.status, r.body)
	}
	var found bool
	for _, l := range buf.lines(t) {
		if l["msg"] != "case received" {
			continue
		}
		found = true
		if l["request_id"] != r.header.Get("X-Request-Id") || l["trace_id"] != callerTraceID {
			t.Errorf("core line %v: want request_id %s and trace_id %s", l, r.header.Get("X-Request-Id"), callerTraceID)
		}
		if tid, _ := l["trace_id"].(string); len(serverSpans(exp)) != 1 || tid != serverSpans(exp)[0].SpanContext.TraceID().String() {
			t.Errorf("core line trace_id %v, want the server span's", l["trace_id"])
		}
	}
	if !found {
		t.Fatalf("no \"case received\" line in %v", buf.lines(t))
	}

	var plain syncBuffer
	e2 := newEnv(t, func(o *httpapi.Options) {
		o.Log = slog.New(slog.NewJSONHandler(&plain, nil))
		o.Checks = []httpapi.Check{{Name: "store", Run: func(context.Context) error {
			return errors.New("no row for holder 11010519491231002X")
		}}}
	})
	r = e2.do(http.MethodGet, "/readyz", nil, nil)
	var warned bool
	for _, l := range plain.lines(t) {
		if l["msg"] != "readiness check not ok" {
			continue
		}
		warned = true
		if l["err"] != "no row for holder 1101**********002X" {
			t.Errorf("err attribute %q, want the id masked", l["err"])
		}
		if l["request_id"] != r.header.Get("X-Request-Id") {
			t.Errorf("request_id %v, want %s", l["request_id"], r.header.Get("X-Request-Id"))
		}
	}
	if !warned {
		t.Errorf("no readiness warning in %v", plain.lines(t))
	}
}
