package partnersim

import (
	"regexp"
	"strconv"
	"testing"
)

func TestS10Check(t *testing.T) {
	// Weights 8 6 4 2 3 5 9 7; check = 11 - sum mod 11, 10 → 0, 11 → 5.
	tests := []struct {
		serial string
		want   int
	}{
		{"12345678", 5}, // sum 204, 204 mod 11 = 6
		{"47312482", 9}, // sum 200, 200 mod 11 = 2
		{"00000010", 2}, // sum 9
		{"00000000", 5}, // sum 0: 11 → 5
		{"02000000", 0}, // sum 12, 12 mod 11 = 1: 10 → 0
	}
	for _, tt := range tests {
		if got := s10Check(tt.serial); got != tt.want {
			t.Errorf("s10Check(%s) = %d, want %d", tt.serial, got, tt.want)
		}
	}
}

func TestTrackingNumber(t *testing.T) {
	re := regexp.MustCompile(`^EA(\d{8})(\d)CN$`)
	seen := map[string]bool{}
	for i := range 50 {
		n := trackingNumber("330702-2026-"+strconv.Itoa(100000+i), 3)
		m := re.FindStringSubmatch(n)
		if m == nil {
			t.Fatalf("tracking number %q is not EA + 9 digits + CN", n)
		}
		if c, _ := strconv.Atoi(m[2]); c != s10Check(m[1]) {
			t.Errorf("tracking number %q has a wrong check digit", n)
		}
		seen[n] = true
	}
	if len(seen) < 45 {
		t.Errorf("only %d distinct tracking numbers for 50 cases", len(seen))
	}
	if trackingNumber("x", 3) != trackingNumber("x", 3) {
		t.Error("tracking number is not stable for a case")
	}
}
