package gateway

import (
	"errors"
	"fmt"

	"github.com/tongban/tongban/contracts"
)

// Error is a failure the caller should see: a stable contract code and a
// message written for the caller. Internal causes stay in Err, which is
// logged but never sent.
type Error struct {
	Code    contracts.Code
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Failf returns a caller-facing error with code and a formatted message.
func Failf(code contracts.Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Internal wraps an unexpected error: the caller sees only "internal".
func Internal(err error) *Error {
	return &Error{Code: contracts.CodeInternal, Message: "internal error", Err: err}
}

// FromField turns a contracts.FieldError into the caller-facing error.
func FromField(err error) *Error {
	var fe *contracts.FieldError
	if errors.As(err, &fe) {
		return &Error{Code: fe.Code, Message: fe.Error()}
	}
	return &Error{Code: contracts.CodeValidationFailed, Message: err.Error()}
}

// CodeOf returns the contract code of err: the code of a *Error, else internal.
func CodeOf(err error) contracts.Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return contracts.CodeInternal
}
