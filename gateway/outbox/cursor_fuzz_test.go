package outbox

import (
	"errors"
	"strconv"
	"testing"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// FuzzParseCursor feeds arbitrary strings to the two cursor parsers of the
// outbox: the mailbox's "after" (ParseCursor, bad_request) and the
// delivery listing's "cursor" (ParseDeliveryCursor, validation_failed).
// Each refuses with its own code, accepts only what it could have handed
// out (a mailbox cursor of 0 or more, a listing cursor of 1 or more), and
// reads the decimal form of what it accepted back to the same number.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"", "0", "1", "42", "007", "+5", "-1", "9223372036854775807", "9223372036854775808",
		"00000000000000000001", "1e3", " 1", "١"} {
		f.Add(s)
	}
	check := func(t *testing.T, s string, parse func(string) (int64, error), code contracts.Code, least int64) {
		n, err := parse(s)
		if err != nil {
			var e *gateway.Error
			if !errors.As(err, &e) || e.Code != code {
				t.Fatalf("refusal of %q is %v, want %s", s, err, code)
			}
			return
		}
		if n < least {
			t.Fatalf("%q accepted as %d", s, n)
		}
		if s != "" {
			if back, err := parse(strconv.FormatInt(n, 10)); err != nil || back != n {
				t.Fatalf("%q read as %d, whose decimal form reads as %d (%v)", s, n, back, err)
			}
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		check(t, s, ParseCursor, contracts.CodeBadRequest, 0)
		check(t, s, ParseDeliveryCursor, contracts.CodeValidationFailed, 1)
	})
}
