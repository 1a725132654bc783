package bench

import (
	"strings"
	"testing"

	"github.com/tongban/tongban/contracts"
)

func TestParseProcStatus(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    procMemory
		wantErr bool
	}{
		{"linux", "Name:\ttongban\nVmPeak:\t 2000000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t9\n",
			procMemory{rss: 100 << 20, hwm: 200 << 20}, false},
		{"no VmHWM", "VmRSS:\t  102400 kB\n", procMemory{}, true},
		{"other unit", "VmHWM:\t  2 MB\nVmRSS:\t  1 MB\n", procMemory{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStatus([]byte(tt.status))
			if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
				t.Fatalf("got %+v, %v; want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseDeliveryGauge(t *testing.T) {
	text := `# HELP tongban_outbox_deliveries Deliveries in the outbox by transport state (dead: dead letters).
# TYPE tongban_outbox_deliveries gauge
tongban_outbox_deliveries{otel_scope_name="tongban",transport_state="delivered"} 12
tongban_outbox_deliveries{otel_scope_name="tongban",transport_state="pending"} 1e+05
tongban_outbox_deliveries{otel_scope_name="tongban",transport_state="retry_wait"} 3
tongban_outbox_deliveries_other{transport_state="pending"} 99
`
	got, err := parseDeliveryGauge(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if got[contracts.TransportStateDelivered] != 12 || got[contracts.TransportStatePending] != 100000 || unfinished(got) != 100003 {
		t.Errorf("got %v, want delivered 12, pending 100000, 100003 unfinished", got)
	}
	if _, err := parseDeliveryGauge(strings.NewReader("go_goroutines 12\n")); err == nil {
		t.Error("metrics without the gauge: no error")
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"10MiB", 10 << 20, true},
		{"512KiB", 512 << 10, true},
		{"1048576", 1 << 20, true},
		{"1.5MiB", 0, false},
		{"10MB", 0, false},
		{"-1KiB", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestMaterialMaxBody: the limit set for a material holds the case's body
// (its base64 content and the rest), and is never below the default.
func TestMaterialMaxBody(t *testing.T) {
	for _, tt := range []struct {
		size, want int64
	}{
		{1 << 10, 8 << 20},
		{6 << 20, 9 << 20},
		{10 << 20, 14 << 20},
	} {
		if got := MaterialMaxBody(tt.size); got != tt.want {
			t.Errorf("MaterialMaxBody(%d) = %d, want %d", tt.size, got, tt.want)
		}
	}
}
