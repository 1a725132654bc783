package telemetry

import (
	"math"
	"testing"
)

func TestQuantile(t *testing.T) {
	bounds := []float64{1, 2, 4}
	tests := []struct {
		name   string
		q      float64
		counts []uint64
		lo, hi float64
		want   float64
		ok     bool
	}{
		{"no observations", 0.5, []uint64{0, 0, 0, 0}, 0, 4, 0, false},
		{"buckets and bounds disagree", 0.5, []uint64{1, 1}, 0, 4, 0, false},
		{"one bucket, spread from 0", 0.5, []uint64{4, 0, 0, 0}, 0, 1, 0.5, true},
		{"one observation: min and max pin it", 0.5, []uint64{0, 1, 0, 0}, 1.5, 1.5, 1.5, true},
		{"rank in the second bucket", 0.75, []uint64{2, 2, 0, 0}, 0, 4, 1.5, true},
		{"rank on a bucket's edge", 0.5, []uint64{2, 2, 0, 0}, 0, 4, 1, true},
		{"empty buckets skipped", 0.5, []uint64{0, 0, 2, 0}, 0, 4, 3, true},
		{"above the last bound: up to the largest", 0.5, []uint64{0, 0, 0, 2}, 0, 8, 6, true},
		{"above the last bound, largest unknown", 0.99, []uint64{0, 0, 0, 2}, 0, 4, 4, true},
		{"smallest inside the first bucket", 0.5, []uint64{2, 0, 0, 0}, 0.5, 1, 0.75, true},
	}
	for _, tt := range tests {
		got, ok := quantile(tt.q, bounds, tt.counts, tt.lo, tt.hi)
		if ok != tt.ok || math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: got %v %v, want %v %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}
