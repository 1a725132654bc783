package contracts

import (
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"time"
)

var errExchangeID = &FieldError{Code: CodeInvalidExchangeID, Message: "must be an RFC 9562 UUID in canonical text form (8-4-4-4-12 hex digits)"}

// ValidateUUID reports whether s is an RFC 9562 UUID in canonical text form:
// 36 characters, hex digits (either case) in groups 8-4-4-4-12 separated by
// hyphens, the RFC 9562 variant (10xx) and a version from 1 to 8. The nil and
// max UUIDs are refused: they cannot be sender-unique. Errors carry
// CodeInvalidExchangeID.
func ValidateUUID(s string) error {
	if len(s) != 36 {
		return errExchangeID
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return errExchangeID
			}
		default:
			if !isHex(c) {
				return errExchangeID
			}
		}
	}
	if v := s[14]; v < '1' || v > '8' {
		return errExchangeID
	}
	switch s[19] {
	case '8', '9', 'a', 'b', 'A', 'B':
	default:
		return errExchangeID
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// NewUUIDv7 returns a version 7 UUID (RFC 9562 §5.7) for time t, with 74
// random bits read from r, in lowercase canonical text form. UUIDv7 values
// sort by creation time, which keeps ids of one sender in order.
func NewUUIDv7(t time.Time, r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[6:]); err != nil {
		return "", fmt.Errorf("contracts: uuid random bits: %w", err)
	}
	putMillis(&b, uint64(t.UnixMilli()))
	return formatUUIDv7(&b), nil
}

func putMillis(b *[16]byte, ms uint64) {
	for i := 0; i < 6; i++ {
		b[i] = byte(ms >> (40 - 8*i))
	}
}

// formatUUIDv7 sets the version and variant bits of b and returns its
// lowercase canonical text form.
func formatUUIDv7(b *[16]byte) string {
	b[6] = 0x70 | b[6]&0x0f
	b[8] = 0x80 | b[8]&0x3f
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// UUIDv7Source makes version 7 UUIDs that strictly increase, in text order
// as in byte order, even when many are made in one millisecond or the clock
// steps back (RFC 9562 §6.2, method 2: within a millisecond the 74 random
// bits of the previous id are incremented by a random amount). Ids a
// source makes therefore sort in the order it made them. It is safe for
// concurrent use.
type UUIDv7Source struct {
	r    io.Reader
	mu   sync.Mutex
	last [16]byte // version and variant bits cleared
	ms   uint64
}

// NewUUIDv7Source returns a source reading its random bits from r.
func NewUUIDv7Source(r io.Reader) *UUIDv7Source { return &UUIDv7Source{r: r} }

// Next returns the next id for time t: later than every id the source made
// before.
func (s *UUIDv7Source) Next(t time.Time) (string, error) {
	var fresh [16]byte
	if _, err := io.ReadFull(s.r, fresh[6:]); err != nil {
		return "", fmt.Errorf("contracts: uuid random bits: %w", err)
	}
	fresh[6] &= 0x0f
	fresh[8] &= 0x3f
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := uint64(max(t.UnixMilli(), 0))
	if ms > s.ms {
		s.ms, s.last = ms, fresh
		putMillis(&s.last, ms)
	} else if !incrementRandBits(&s.last, uint32(fresh[15])+1) {
		// 74 bits ran out within one millisecond: borrow the next one.
		s.ms++
		s.last = fresh
		putMillis(&s.last, s.ms)
	}
	b := s.last
	return formatUUIDv7(&b), nil
}

// incrementRandBits adds n to the 74-bit field of b (the low 4 bits of
// byte 6, byte 7, the low 6 bits of byte 8 and bytes 9–15) and reports
// false when it overflows.
func incrementRandBits(b *[16]byte, n uint32) bool {
	carry := n
	for i := 15; i >= 6 && carry > 0; i-- {
		limit := uint32(0x100)
		switch i {
		case 8:
			limit = 0x40
		case 6:
			limit = 0x10
		}
		v := uint32(b[i]) + carry
		b[i], carry = byte(v%limit), v/limit
	}
	return carry == 0
}
