package adapters_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tongban/tongban/adapters"
)

func TestPartnerText(t *testing.T) {
	tests := []struct{ in, text, code string }{
		{"id 11010519491231002X is wrong", "id *** is wrong", "id *** is wrong"},
		{"credit code 91330702MA2ABCDE1X", "credit code ***", "credit code ***"},
		{"call 139-6123-4567 or 13961234567", "call *** or ***", "call 139-6123-4567 or 13961234567"},
		{"id 110105 19491231 002X", "id ***", "id 110105 19491231 002X"},
		{"passport E12345678", "passport ***", "passport E12345678"},
		{"full-width １３９６１２３４５６７", "full-width ***", "full-width １３９６１２３４５６７"},
		{"born 1949-12-31", "born ***", "born 1949-12-31"},
		{"field 3 of 12 is missing", "field 3 of 12 is missing", "field 3 of 12 is missing"},
		{"申请人330702198506121277不存在", "申请人***不存在", "申请人***不存在"},
		{"ctl\x00\x1fchars\u2028", "ctl  chars ", "ctl  chars "},
		{"bad \xff byte", "bad \uFFFD byte", "bad \uFFFD byte"},
		{"code E5030", "code ***", "code E5030"},
	}
	for _, tt := range tests {
		if got := adapters.PartnerText(tt.in, 200); got != tt.text {
			t.Errorf("PartnerText(%q) = %q, want %q", tt.in, got, tt.text)
		}
		if got := adapters.PartnerCode(tt.in, 200); got != tt.code {
			t.Errorf("PartnerCode(%q) = %q, want %q", tt.in, got, tt.code)
		}
	}
	long := adapters.PartnerText(strings.Repeat("错", 100), 200)
	if len(long) > 203 || !utf8.ValidString(long) || !strings.HasSuffix(long, "…") {
		t.Errorf("PartnerText clips to %d bytes: %q", len(long), long)
	}
}

func FuzzPartnerText(f *testing.F) {
	f.Add("id 11010519491231002X, tel 139-6123-4567")
	f.Add("\xff\x00１２３４")
	f.Fuzz(func(t *testing.T, s string) {
		for _, got := range []string{adapters.PartnerText(s, 200), adapters.PartnerCode(s, 64)} {
			if !utf8.ValidString(got) || len(got) > 203 {
				t.Fatalf("%q: unsafe result %q", s, got)
			}
		}
		// No number of 4 digits survives: digits joined by single
		// separators count together.
		got := []rune(adapters.PartnerText(s, 1<<20))
		digits, joiners := 0, 0
		for _, r := range got {
			switch {
			case r >= '0' && r <= '9' || r >= '０' && r <= '９':
				digits, joiners = digits+1, 0
			case (r == ' ' || r == '-' || r == '.' || r == '/') && joiners == 0:
				joiners++
			default:
				digits, joiners = 0, 0
			}
			if digits >= 4 {
				t.Fatalf("%q: %q still holds a number of 4 digits", s, string(got))
			}
		}
	})
}
