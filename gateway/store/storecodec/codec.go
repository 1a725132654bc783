// Package storecodec holds what every store implementation encodes the
// same way: times as Unix nanoseconds, acknowledgements and other values
// as JSON text, and the numbered migration files each store embeds. It
// holds no domain rule and no SQL dialect.
package storecodec

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// Held is the encoding of gateway.HeldUntil (year 9999), which Unix
// nanoseconds cannot hold (an int64 of them ends in April 2262): the
// largest int64, which sorts after every other time, so a held delivery
// is never due and its NextAt reads back as HeldUntil exactly.
const Held int64 = math.MaxInt64

// HeldSQL is Held as an SQL literal.
const HeldSQL = "9223372036854775807"

// The range of times an int64 of Unix nanoseconds holds. math.MinInt64 is
// left out: the schemas use it for "due at once" and the zero instant;
// math.MaxInt64 too: it is Held.
var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64-1)
)

// An Encoder turns domain values into column values and remembers the
// first value it could not encode, so a statement's arguments read as one
// list and are checked once, with Err.
type Encoder struct{ err error }

// Err returns the first value the encoder could not encode, or nil.
func (e *Encoder) Err() error { return e.err }

func (e *Encoder) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

// Time encodes t as Unix nanoseconds, or nil (NULL) for the zero time,
// or Held for gateway.HeldUntil. Any other time outside what an int64 of
// nanoseconds holds (before 1677, after 2262) is an error.
func (e *Encoder) Time(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	if t.Equal(gateway.HeldUntil) {
		return Held
	}
	if t.Before(minTime) || t.After(maxTime) {
		e.fail(fmt.Errorf("time %s is outside the storable range", t.Format(time.RFC3339Nano)))
		return nil
	}
	return t.UnixNano()
}

// Instant encodes t as Unix nanoseconds like Time, except that the zero
// time is math.MinInt64 rather than NULL, so that it compares before
// every other time, as time.Time{} does. DecInstant reverses it.
func (e *Encoder) Instant(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	n, _ := e.Time(t).(int64)
	return n
}

// JSON encodes v as JSON text.
func (e *Encoder) JSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		e.fail(err)
		return nil
	}
	return string(b)
}

// Ack encodes an acknowledgement as JSON text, or nil (NULL) for none.
func (e *Encoder) Ack(a *contracts.Ack) any {
	if a == nil {
		return nil
	}
	return e.JSON(a)
}

// DecNanos decodes Unix nanoseconds as a UTC time; Held decodes as
// gateway.HeldUntil.
func DecNanos(n int64) time.Time {
	if n == Held {
		return gateway.HeldUntil
	}
	return time.Unix(0, n).UTC()
}

// DecInstant decodes what Encoder.Instant encoded: math.MinInt64 is the
// zero time.
func DecInstant(n int64) time.Time {
	if n == math.MinInt64 {
		return time.Time{}
	}
	return DecNanos(n)
}

// Admin encodes a case's administration (gateway.Case.Admin) as JSON
// text, or nil (NULL) for none. The store keeps it as it keeps any text
// and never interprets it.
func (e *Encoder) Admin(a *gateway.CaseAdmin) any {
	if a == nil {
		return nil
	}
	return e.JSON(a)
}

// DecAdmin decodes what Encoder.Admin encoded: NULL (nil) or "" is no
// administration.
func DecAdmin(text *string) (*gateway.CaseAdmin, error) {
	if text == nil || *text == "" {
		return nil, nil
	}
	a := new(gateway.CaseAdmin)
	if err := json.Unmarshal([]byte(*text), a); err != nil {
		return nil, fmt.Errorf("decode case administration: %w", err)
	}
	return a, nil
}
