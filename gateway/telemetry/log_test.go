package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/tongban/tongban/gateway/telemetry"
)

const (
	citizenID  = "11010519491231002X"
	maskedID   = "1101**********002X"
	creditCode = "91350100M000100Y43"
	maskedCode = "9135**********0Y43"
)

func TestMaskPersonalData(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"citizen id alone", citizenID, maskedID},
		{"lower-case x", "11010519491231002x", "1101**********002x"},
		{"mistyped check character", "110105194912310021", "1101**********0021"},
		{"credit code alone", creditCode, maskedCode},
		{"in a sentence", "applicant " + citizenID + ", window 320404", "applicant " + maskedID + ", window 320404"},
		{"in JSON", `{"id_number":"` + citizenID + `"}`, `{"id_number":"` + maskedID + `"}`},
		{"in a query", "/v1/licenses/usage?holder_id=" + creditCode + "&limit=5", "/v1/licenses/usage?holder_id=" + maskedCode + "&limit=5"},
		{"in Chinese text", "身份证号" + citizenID + "不符", "身份证号" + maskedID + "不符"},
		{"two of them", citizenID + " " + creditCode, maskedID + " " + maskedCode},
		{"end of a sentence", "holder " + citizenID + ".", "holder " + maskedID + "."},
		{"license id keeps its issuer", "1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.320404202400001.001.5",
			"1.2.156.3005.2.11100000000000000E001.91350100M000100Y43.320404202400001.001.5"},
		{"trace id", "4bf92f3577b34da6a3ce929d0e0e4736", "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"uuid", "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10", "01959245-f1f9-7a3c-8d2e-5b4f6a7c9e10"},
		{"17 digits", "11010519491231002", "11010519491231002"},
		{"19 digits", "1101051949123100211", "1101051949123100211"},
		{"letters where a credit code has its region", "91ABCDEFM000100Y43", "91ABCDEFM000100Y43"},
		{"letter outside the alphabet", "91350100M000100Z43", "91350100M000100Z43"},
		{"case number", "330702-2026-000001", "330702-2026-000001"},
		{"short", "hello", "hello"},
	}
	for _, tt := range tests {
		if got := telemetry.MaskPersonalData(tt.in); got != tt.want {
			t.Errorf("%s: MaskPersonalData(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

// logLine logs once through a telemetry handler over a JSON handler and
// returns the decoded line and its raw text.
func logLine(t *testing.T, ctx context.Context, log func(*slog.Logger, context.Context)) (map[string]any, string) {
	t.Helper()
	var buf bytes.Buffer
	l := slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	log(l, ctx)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("log line %q is not one JSON object: %v", buf.String(), err)
	}
	return m, buf.String()
}

type holder struct {
	Name     string `json:"name"`
	IDNumber string `json:"id_number"`
}

type idStringer struct{}

func (idStringer) String() string { return "holder " + citizenID }

type idState string

func TestLogHandlerMasksAttributes(t *testing.T) {
	m, raw := logLine(t, context.Background(), func(l *slog.Logger, ctx context.Context) {
		l.With("bound", citizenID).InfoContext(ctx, "verifying "+citizenID,
			"holder_id", citizenID,
			"credit", creditCode,
			"err", errors.New("no license for holder "+citizenID),
			"stringer", idStringer{},
			"named", idState(citizenID),
			"holder", holder{Name: "王秀英", IDNumber: citizenID},
			slog.Group("applicant", "id_number", citizenID),
			"bytes", []byte(citizenID),
			"count", 3,
		)
	})
	if strings.Contains(raw, citizenID) || strings.Contains(raw, creditCode) {
		t.Fatalf("log line shows an id in clear: %s", raw)
	}
	for key, want := range map[string]any{
		"msg": "verifying " + maskedID, "holder_id": maskedID, "credit": maskedCode, "bound": maskedID,
		"err": "no license for holder " + maskedID, "stringer": "holder " + maskedID, "named": maskedID,
		"bytes": maskedID, "count": float64(3),
	} {
		if m[key] != want {
			t.Errorf("%s: got %v, want %v", key, m[key], want)
		}
	}
	if h, _ := m["holder"].(map[string]any); h["id_number"] != maskedID || h["name"] != "王秀英" {
		t.Errorf("holder: got %v, want the id masked and the name kept", m["holder"])
	}
	if g, _ := m["applicant"].(map[string]any); g["id_number"] != maskedID {
		t.Errorf("applicant group: got %v", m["applicant"])
	}
}

func TestLogHandlerAddsRequestAndTraceIDs(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	ctx = telemetry.WithRequestID(ctx, "0195a000-0000-7000-8000-000000000001")

	m, _ := logLine(t, ctx, func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "case received") })
	if m["request_id"] != "0195a000-0000-7000-8000-000000000001" || m["trace_id"] != tid.String() || m["span_id"] != sid.String() {
		t.Errorf("got request_id %v trace_id %v span_id %v, want the context's", m["request_id"], m["trace_id"], m["span_id"])
	}

	// A record that names its own request id keeps it, once.
	_, raw := logLine(t, ctx, func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "x", "request_id", "own") })
	if strings.Count(raw, `"request_id"`) != 1 || !strings.Contains(raw, `"request_id":"own"`) {
		t.Errorf("line %s: want exactly the record's own request_id", raw)
	}
	_, raw = logLine(t, ctx, func(l *slog.Logger, ctx context.Context) { l.With("trace_id", "own").InfoContext(ctx, "x") })
	if strings.Count(raw, `"trace_id"`) != 1 {
		t.Errorf("line %s: want exactly one trace_id", raw)
	}

	// Without a context there is nothing to add.
	m, _ = logLine(t, context.Background(), func(l *slog.Logger, _ context.Context) { l.Info("no request") })
	if _, ok := m["request_id"]; ok {
		t.Errorf("request_id %v on a line logged outside a request", m["request_id"])
	}
	if _, ok := m["trace_id"]; ok {
		t.Errorf("trace_id %v on a line logged outside a span", m["trace_id"])
	}
}

func TestWrapLoggerIsIdempotent(t *testing.T) {
	l := telemetry.WrapLogger(slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)))
	if telemetry.WrapLogger(l) != l {
		t.Error("WrapLogger wrapped a wrapped logger again")
	}
	h := l.Handler()
	if telemetry.NewLogHandler(h) != h {
		t.Error("NewLogHandler wrapped its own handler again")
	}
}
