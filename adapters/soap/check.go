package soap

import (
	"errors"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/port"
)

var (
	_ port.CaseChecker   = (*Adapter)(nil)
	_ port.StatusChecker = (*Adapter)(nil)
)

// CheckCase reports whether d can be sent as DeliverCase at all
// (port.CaseChecker): it encodes the envelope as DeliverCase would and
// sends nothing. What XML 1.0 cannot hold (most control characters,
// invalid UTF-8) or the codec cannot write (a time outside 0000..9999,
// nesting past MaxDepth) fails with a *contracts.FieldError
// (validation_failed) naming the field by its JSON path in d, such as
// submission.remark, without quoting the value.
func (a *Adapter) CheckCase(d *contracts.CaseDelivery) error {
	if d == nil {
		return nil
	}
	return a.check(OpDeliverCase, d)
}

// CheckStatus is CheckCase for a status update sent as DeliverStatus
// (port.StatusChecker), the field named by its path in d (update.note).
func (a *Adapter) CheckStatus(d *contracts.StatusDelivery) error {
	if d == nil {
		return nil
	}
	return a.check(OpDeliverStatus, d)
}

// check encodes msg as operation op and says what cannot be written.
func (a *Adapter) check(op string, msg any) error {
	_, err := a.proto.marshal(op, msg)
	if err == nil {
		return nil
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		return &contracts.FieldError{Field: fe.path, Code: contracts.CodeValidationFailed, Message: fe.err.Error()}
	}
	return &contracts.FieldError{Code: contracts.CodeValidationFailed, Message: "cannot be written as a SOAP envelope"}
}
