package telemetry

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/tongban/tongban/contracts"
)

// Log attribute keys the handler adds.
const (
	LogKeyRequestID = "request_id"
	LogKeyTraceID   = "trace_id"
	LogKeySpanID    = "span_id"
)

type requestIDKey struct{}

// WithRequestID returns ctx carrying the request id id; log lines written
// with ctx (InfoContext, …) through a NewLogHandler handler carry it.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id ctx carries, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// NewLogHandler wraps inner so that every record handled with a context
// carries the context's request id (request_id, see WithRequestID) and
// trace and span ids (trace_id, span_id, of the span the context carries),
// unless the record names them itself; and so that, in defense in depth,
// every string in the message and the attributes that looks like a
// citizen ID (GB 11643) or a unified social credit code (GB 32100) is
// masked with contracts.MaskID (see MaskPersonalData). Wrapping a handler
// it returned returns it unchanged. The ids are added after any group the
// logger opened with WithGroup.
func NewLogHandler(inner slog.Handler) slog.Handler {
	if h, ok := inner.(*logHandler); ok {
		return h
	}
	return &logHandler{inner: inner}
}

// WrapLogger returns l with its handler wrapped by NewLogHandler (l itself
// when it already is); nil means slog.Default().
func WrapLogger(l *slog.Logger) *slog.Logger {
	if l == nil {
		l = slog.Default()
	}
	if _, ok := l.Handler().(*logHandler); ok {
		return l
	}
	return slog.New(NewLogHandler(l.Handler()))
}

type logHandler struct {
	inner slog.Handler
	// hasRequestID and hasTraceID say that WithAttrs already gave them.
	hasRequestID, hasTraceID bool
}

func (h *logHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	msg, _ := maskString(r.Message)
	out := slog.NewRecord(r.Time, r.Level, msg, r.PC)
	hasReq, hasTrace := h.hasRequestID, h.hasTraceID
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case LogKeyRequestID:
			hasReq = true
		case LogKeyTraceID:
			hasTrace = true
		}
		return true
	})
	if ctx != nil {
		if id := RequestID(ctx); id != "" && !hasReq {
			out.AddAttrs(slog.String(LogKeyRequestID, id))
		}
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && !hasTrace {
			out.AddAttrs(slog.String(LogKeyTraceID, sc.TraceID().String()), slog.String(LogKeySpanID, sc.SpanID().String()))
		}
	}
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(maskAttr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(attrs))
	n := *h
	for i, a := range attrs {
		masked[i] = maskAttr(a)
		n.hasRequestID = n.hasRequestID || a.Key == LogKeyRequestID
		n.hasTraceID = n.hasTraceID || a.Key == LogKeyTraceID
	}
	n.inner = h.inner.WithAttrs(masked)
	return &n
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	n := *h
	n.inner = h.inner.WithGroup(name)
	return &n
}

// maskAttr masks identity numbers in a's value: strings, and the text of
// errors, Stringers, string-kinded values and JSON-marshalled composites.
func maskAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if m, ok := maskString(v.String()); ok {
			return slog.String(a.Key, m)
		}
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, x := range g {
			out[i] = maskAttr(x)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case slog.KindAny:
		if m, ok := maskAny(v.Any()); ok {
			return slog.Any(a.Key, m)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// maskAny returns a masked stand-in for x when x's text shows an identity
// number.
func maskAny(x any) (any, bool) {
	switch t := x.(type) {
	case nil:
		return nil, false
	case error:
		if m, ok := maskString(t.Error()); ok {
			return m, true
		}
		return nil, false
	case fmt.Stringer:
		if m, ok := maskString(t.String()); ok {
			return m, true
		}
		return nil, false
	case []byte:
		if m, ok := maskString(string(t)); ok {
			return m, true
		}
		return nil, false
	}
	rv := reflect.ValueOf(x)
	switch rv.Kind() {
	case reflect.String:
		if m, ok := maskString(rv.String()); ok {
			return m, true
		}
	case reflect.Struct, reflect.Map, reflect.Slice, reflect.Array, reflect.Pointer:
		b, err := json.Marshal(x)
		if err != nil {
			return nil, false
		}
		if m, ok := maskString(string(b)); ok {
			return maskedJSON(m), true
		}
	}
	return nil, false
}

// maskedJSON is a composite value, marshalled and masked: JSON handlers
// write it as the JSON it is, text handlers as text.
type maskedJSON string

func (m maskedJSON) MarshalJSON() ([]byte, error) { return []byte(m), nil }
func (m maskedJSON) MarshalText() ([]byte, error) { return []byte(m), nil }

// idLen is the length of a citizen ID and of a unified social credit code.
const idLen = 18

// MaskPersonalData returns s with every token that looks like a citizen ID
// (GB 11643: 17 digits and a digit or X) or a unified social credit code
// (GB 32100: 18 characters of its alphabet, characters 3-8 digits) masked
// with contracts.MaskID, first and last 4 characters kept. A token is a
// maximal run of ASCII letters and digits, so an id inside JSON, a URL
// query or Chinese text is found; the check character is not verified, so
// a mistyped id is masked too. A token that is one component of a dotted
// identifier (the issuer's credit code inside a GB/T 36904 license id,
// which names an authority, not a person) is left as it is.
func MaskPersonalData(s string) string {
	m, _ := maskString(s)
	return m
}

// maskString is MaskPersonalData that also says whether anything changed.
func maskString(s string) (string, bool) {
	if len(s) < idLen {
		return s, false
	}
	var b *strings.Builder
	last := 0 // s[last:] is not yet copied into b
	for i := 0; i < len(s); {
		if !alnum(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && alnum(s[j]) {
			j++
		}
		if j-i == idLen && looksLikeID(s[i:j]) && !dotted(s, i, j) {
			if b == nil {
				b = &strings.Builder{}
				b.Grow(len(s))
			}
			b.WriteString(s[last:i])
			b.WriteString(contracts.MaskID(s[i:j]))
			last = j
		}
		i = j
	}
	if b == nil {
		return s, false
	}
	b.WriteString(s[last:])
	return b.String(), true
}

func alnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// dotted reports whether s[i:j] is a component of a dotted identifier:
// a dot joins it to another letter or digit on either side.
func dotted(s string, i, j int) bool {
	return i >= 2 && s[i-1] == '.' && alnum(s[i-2]) || j+1 < len(s) && s[j] == '.' && alnum(s[j+1])
}

// looksLikeID reports whether t (18 ASCII letters and digits) has the shape
// of a citizen ID or of a unified social credit code.
func looksLikeID(t string) bool {
	digits := true
	for i := 0; i < idLen-1; i++ {
		if t[i] < '0' || t[i] > '9' {
			digits = false
			break
		}
	}
	if digits {
		c := t[idLen-1]
		if '0' <= c && c <= '9' || c == 'X' || c == 'x' {
			return true // citizen ID shape (an 18-digit number is masked either way)
		}
	}
	for i := 0; i < idLen; i++ {
		c := t[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if !strings.ContainsRune(creditAlphabet, rune(c)) {
			return false
		}
		if 2 <= i && i < 8 && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// creditAlphabet is the GB 32100 alphabet (no I, O, S, V, Z).
const creditAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
