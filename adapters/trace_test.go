package adapters_test

import (
	"context"
	"testing"

	"github.com/tongban/tongban/adapters"
)

func TestTraceparent(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", true},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nX: y", false},
		{"", false},
		{"garbage", false},
	}
	for _, tt := range tests {
		ctx := adapters.WithTraceparent(context.Background(), tt.in)
		got := adapters.Traceparent(ctx)
		if tt.ok && got != tt.in || !tt.ok && got != "" {
			t.Errorf("WithTraceparent(%q): Traceparent = %q, want ok=%v", tt.in, got, tt.ok)
		}
	}
	if got := adapters.Traceparent(context.Background()); got != "" {
		t.Errorf("empty context carries %q", got)
	}
}
