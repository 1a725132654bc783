package app

import (
	"io"
	"log/slog"
	"runtime/debug"

	"github.com/tongban/tongban/gateway/telemetry"
)

// NewLogger returns the JSON logger at level: lines logged with a
// request's context carry its request_id and trace_id, and identity
// numbers are masked (telemetry.NewLogHandler). An unknown level is info.
func NewLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})))
}

// BuildVersion is the version alone: what /healthz reports and the
// service.version of the telemetry. linked is the version the binary was
// linked with (-ldflags "-X main.version=v1.2.3"), if any; otherwise it
// comes from the module's build information, else "(devel)".
func BuildVersion(linked string) string {
	v := linked
	info, ok := debug.ReadBuildInfo()
	if v == "" && ok {
		v = info.Main.Version
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return v
}
