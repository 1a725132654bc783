package contracts

import (
	"encoding/hex"
	"fmt"
	"io"
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
	ms := uint64(t.UnixMilli())
	for i := 0; i < 6; i++ {
		b[i] = byte(ms >> (40 - 8*i))
	}
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
	return string(out[:]), nil
}
