package adapters

import "context"

type traceparentKey struct{}

// WithTraceparent returns a context that carries a W3C traceparent header
// value; HTTP adapters send it to the partner. A value that is not a
// well-formed traceparent (version-traceid-parentid-flags, lowercase hex) is
// ignored and ctx is returned unchanged. OpenTelemetry propagation will set
// it; until then the gateway passes on what the caller sent.
func WithTraceparent(ctx context.Context, value string) context.Context {
	if !validTraceparent(value) {
		return ctx
	}
	return context.WithValue(ctx, traceparentKey{}, value)
}

// Traceparent returns the traceparent value ctx carries, or "".
func Traceparent(ctx context.Context) string {
	v, _ := ctx.Value(traceparentKey{}).(string)
	return v
}

// validTraceparent checks the W3C Trace Context layout: version 00 is
// exactly 55 characters; a later version may append "-..." fields.
func validTraceparent(v string) bool {
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return false
	}
	version, trace, parent, flags := v[0:2], v[3:35], v[36:52], v[53:55]
	if !lowerHex(version) || version == "ff" || !lowerHex(trace) || !lowerHex(parent) || !lowerHex(flags) {
		return false
	}
	if allZero(trace) || allZero(parent) {
		return false
	}
	if version == "00" {
		return len(v) == 55
	}
	return len(v) == 55 || v[55] == '-'
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}
