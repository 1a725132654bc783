package adapters

import (
	"strings"
	"unicode/utf8"
)

// Clip shortens s to at most n bytes, cutting at a rune boundary and
// marking the cut with "…" (which may add up to 3 bytes).
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// clip is Clip, for this package's own messages.
func clip(s string, n int) string { return Clip(s, n) }

// minIdentifier is the length from which a run of ASCII letters and
// digits is taken for an identifier (a citizen id has 18 characters, a
// credit code 18, a passport number 9 but with letters) and masked.
const minIdentifier = 15

// minNumber is the count of digits from which a number in a partner's free
// text is masked (telephone numbers, ids written with spaces or dashes,
// dates of birth).
const minNumber = 4

// PartnerCode makes a short token a partner sent (a result code, a fault
// code, a request id) safe to keep in a delivery's reason and in logs:
// valid UTF-8, control characters turned into spaces, any run of at least
// 15 ASCII letters and digits (an id number, a credit code) replaced by
// "***", and at most n bytes.
func PartnerCode(s string, n int) string {
	return Clip(maskRuns(sanitize(s), false), n)
}

// PartnerText makes free text a partner sent (an error message, a fault
// string) safe to keep in a delivery's reason and in logs: as PartnerCode,
// and every number of 4 digits or more, ASCII or full-width, counted
// across single spaces, hyphens, dots and slashes between its digits (a
// telephone number 139-6123-4567, an id written in groups, a date of
// birth), and every run of letters and digits holding 4 digits or more (a
// passport number E12345678), replaced by "***". Words and short numbers
// stay readable; the partner's result code is kept apart (PartnerCode).
func PartnerText(s string, n int) string {
	return Clip(maskRuns(sanitize(s), true), n)
}

// sanitize returns s as valid UTF-8 with control and line-separator
// characters as spaces.
func sanitize(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' || r >= '０' && r <= '９' }

func isASCIIAlnum(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

func isJoiner(r rune) bool { return r == ' ' || r == '-' || r == '.' || r == '/' }

// maskRuns replaces identifier-like runs of ASCII letters and digits and,
// when numbers is set, numbers of minNumber digits or more (with the
// letters glued to them), by "***".
func maskRuns(s string, numbers bool) string {
	rs := []rune(s)
	mask := make([]bool, len(rs))
	// markSpan marks [i, j) and the ASCII letters and digits glued to it.
	markSpan := func(i, j int) {
		for i > 0 && isASCIIAlnum(rs[i-1]) {
			i--
		}
		for j < len(rs) && isASCIIAlnum(rs[j]) {
			j++
		}
		for k := i; k < j; k++ {
			mask[k] = true
		}
	}
	for i := 0; i < len(rs); {
		switch {
		case numbers && isDigit(rs[i]):
			// A number: digits, joined by single separators between digits.
			j, digits := i, 0
			for j < len(rs) {
				if isDigit(rs[j]) {
					digits++
					j++
				} else if isJoiner(rs[j]) && j+1 < len(rs) && isDigit(rs[j+1]) {
					j++
				} else {
					break
				}
			}
			if digits >= minNumber {
				markSpan(i, j)
			}
			i = j
		default:
			i++
		}
	}
	for i := 0; i < len(rs); {
		if !isASCIIAlnum(rs[i]) {
			i++
			continue
		}
		j, digits := i, 0
		for j < len(rs) && isASCIIAlnum(rs[j]) {
			if isDigit(rs[j]) {
				digits++
			}
			j++
		}
		if j-i >= minIdentifier || numbers && digits >= minNumber {
			markSpan(i, j)
		}
		i = j
	}
	var b strings.Builder
	for i := 0; i < len(rs); i++ {
		if !mask[i] {
			b.WriteRune(rs[i])
			continue
		}
		for i+1 < len(rs) && mask[i+1] {
			i++
		}
		b.WriteString("***")
	}
	return b.String()
}
