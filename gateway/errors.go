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

// Internal wraps an unexpected error: the caller sees only "internal",
// except for a store that is unavailable (err wraps ErrStoreUnavailable),
// which the caller sees as "unavailable" (503, retry later).
func Internal(err error) *Error {
	if errors.Is(err, ErrStoreUnavailable) {
		return &Error{Code: contracts.CodeUnavailable, Message: storeUnavailableMessage, Err: err}
	}
	return &Error{Code: contracts.CodeInternal, Message: "internal error", Err: err}
}

// storeUnavailableMessage is what a caller is told when the store is
// unavailable; the cause is logged only.
const storeUnavailableMessage = "the gateway's store is unavailable; retry later"

// FromField turns a contracts.FieldError into the caller-facing error.
func FromField(err error) *Error {
	var fe *contracts.FieldError
	if errors.As(err, &fe) {
		return &Error{Code: fe.Code, Message: fe.Error()}
	}
	return &Error{Code: contracts.CodeValidationFailed, Message: err.Error()}
}

// CodeOf returns the contract code of err: the code of a *Error,
// unavailable for an error that wraps ErrStoreUnavailable, else internal.
func CodeOf(err error) contracts.Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, ErrStoreUnavailable) {
		return contracts.CodeUnavailable
	}
	return contracts.CodeInternal
}

// ForeignCase is the cause of a not_found answer to a caller that named
// a case that exists but is none of its business: the caller learns
// nothing, and the HTTP layer records the probe (an access.denied record
// naming the case as case_ref).
type ForeignCase struct{ CaseID string }

func (e *ForeignCase) Error() string { return "case " + e.CaseID + " is not the caller's" }

// NotYourCase returns the not_found error (with message msg) answering a
// caller that named case id, which exists but is not its business.
func NotYourCase(id, msg string) *Error {
	return &Error{Code: contracts.CodeNotFound, Message: msg, Err: &ForeignCase{CaseID: id}}
}

// ForeignCaseOf returns the case id err says a caller probed (see
// ForeignCase), or "".
func ForeignCaseOf(err error) string {
	var fc *ForeignCase
	if errors.As(err, &fc) {
		return fc.CaseID
	}
	return ""
}

// OwnerCaseNoTaken refuses a change whose Change.FreeOwnerCaseNo another
// case of the same owner holds already: OtherCase, the lowest id among
// them (as CaseByOwnerCaseNo answers). Nothing of the change was written.
type OwnerCaseNoTaken struct {
	Owner, CaseNo, OtherCase string
}

// Error names the owner, the number and the case holding it; no
// personal data.
func (e *OwnerCaseNoTaken) Error() string {
	return fmt.Sprintf("gateway: case number %s of owner %s belongs to case %s already", e.CaseNo, e.Owner, e.OtherCase)
}
