package mappedjson

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway/port"
)

var (
	_ port.CaseChecker   = (*Adapter)(nil)
	_ port.StatusChecker = (*Adapter)(nil)
)

// formPath is the contract path of the one free-form value of a case:
// the application form, any JSON object the sender chose.
const formPath = "submission.form"

// CheckCase reports whether d can be sent with the case_delivery mapping
// at all (port.CaseChecker); it sends nothing. d fails, with a
// *contracts.FieldError (validation_failed) naming the contract field by
// its JSON path in d and quoting no value, when
//
//   - the form, mapped, nests deeper than MaxDepth or holds an array of
//     more than MaxArrayItems items: what a district reads is bounded so
//     (a form carried as a JSON string is read on its own);
//   - the mapping cannot encode it (a value its table does not list and
//     no default, a time its layout cannot write, nesting past what the
//     adapter renders);
//   - the request it encodes would not read back within those bounds (a
//     form carried as an object nests inside the request's own objects).
//
// A partner without a case_delivery operation takes nothing to check
// (its deliveries fail permanently, as they always did).
func (a *Adapter) CheckCase(d *contracts.CaseDelivery) error {
	op := a.spec.caseOp
	if d == nil || op == nil {
		return nil
	}
	mapsForm := op.request.touches(formPath)
	if mapsForm && len(d.Submission.Form) > 0 {
		if _, err := parseJSON(d.Submission.Form, MaxDepth); err != nil {
			return &contracts.FieldError{Field: formPath, Code: contracts.CodeValidationFailed,
				Message: fmt.Sprintf("is more than the district's system reads: %v (at most %d levels, arrays of %d items)", err, MaxDepth, MaxArrayItems)}
		}
	}
	err := readable(op, d)
	if err == nil {
		return nil
	}
	// The form is the one value of unbounded shape: if the case passes
	// without it, the form is at fault.
	if mapsForm {
		plain := *d
		plain.Submission.Form = json.RawMessage(`{}`)
		if readable(op, &plain) == nil {
			return &contracts.FieldError{Field: formPath, Code: contracts.CodeValidationFailed,
				Message: fmt.Sprintf("nests deeper in the district's request than its system reads (%d levels)", MaxDepth)}
		}
	}
	return fieldErrorOf(err)
}

// CheckStatus is CheckCase for a status update sent with the
// status_delivery mapping (port.StatusChecker): it fails when the mapping
// cannot encode d (a state or outcome its table lacks, say) or the
// request would not read back within MaxDepth and MaxArrayItems, naming
// the field by its path in d (update.state).
func (a *Adapter) CheckStatus(d *contracts.StatusDelivery) error {
	op := a.spec.statusOp
	if d == nil || op == nil {
		return nil
	}
	if err := readable(op, d); err != nil {
		return fieldErrorOf(err)
	}
	return nil
}

// fieldErrorOf is the refusal of a message the district could not read
// for the reason err.
func fieldErrorOf(err error) error {
	var ee *encodeError
	if errors.As(err, &ee) {
		return &contracts.FieldError{Field: ee.path, Code: contracts.CodeValidationFailed,
			Message: "cannot be written in the district's format: " + ee.err.Error()}
	}
	return &contracts.FieldError{Code: contracts.CodeValidationFailed, Message: "cannot be written in the district's format: " + err.Error()}
}

// readable encodes d with op's request mapping and reads the request back
// within the bounds a district's reader has.
func readable(op *outOp, d any) error {
	body, err := op.request.encodeBytes(d)
	if err != nil {
		return err
	}
	_, err = parseJSON(body, MaxDepth)
	return err
}
