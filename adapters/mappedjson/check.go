package mappedjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

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

// bundlePath is the contract path of what a part of a 一件事 bundle
// carries about its bundle.
const bundlePath = "bundle"

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
//     form carried as an object nests inside the request's own objects);
//   - it is a part of a bundle and the mapping leaves out a value its
//     bundle holds (the bundle's id, the part, a prerequisite's result
//     document, ...): the district would take the part without knowing it
//     is one, or without the results it waited for. The field named is
//     the first value left out (bundle.prerequisites[0].documents[1].content).
//
// A partner without a case_delivery operation takes nothing to check
// (its deliveries fail permanently, as they always did).
func (a *Adapter) CheckCase(d *contracts.CaseDelivery) error {
	op := a.spec.caseOp
	if d == nil || op == nil {
		return nil
	}
	if err := carriesBundle(op.request, d.Bundle); err != nil {
		return err
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

// carriesBundle returns nil when m carries every value b holds (nil
// carries nothing), else the refusal naming the first value m leaves out.
func carriesBundle(m *message, b *contracts.BundleRef) error {
	if b == nil {
		return nil
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return &contracts.FieldError{Field: bundlePath, Code: contracts.CodeValidationFailed, Message: "cannot be encoded"}
	}
	tree, err := parseTrusted(raw, maxRenderDepth)
	if err != nil {
		return &contracts.FieldError{Field: bundlePath, Code: contracts.CodeValidationFailed, Message: "cannot be encoded"}
	}
	if at := uncovered(m, tree, bundlePath, bundlePath); at != "" {
		return &contracts.FieldError{Field: at, Code: contracts.CodeValidationFailed,
			Message: "is not carried by the district's case_delivery mapping: the district would take the part of a bundle without it"}
	}
	return nil
}

// uncovered returns the path (with indices) of the first value of v, the
// contract JSON at generic (array elements as "[]"), that holds something
// and that m does not map; "" when m maps every one.
func uncovered(m *message, v any, generic, concrete string) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		if t == "" {
			return ""
		}
	case *object:
		for _, k := range t.keys {
			if at := uncovered(m, t.vals[k], generic+"."+k, concrete+"."+k); at != "" {
				return at
			}
		}
		return ""
	case []any:
		for i, el := range t {
			at := concrete + "[" + strconv.Itoa(i) + "]"
			if _, isObject := el.(*object); isObject {
				if at := uncovered(m, el, generic+"[]", at); at != "" {
					return at
				}
				continue
			}
			if el != nil && !m.covers(generic) {
				return at
			}
		}
		return ""
	}
	if !m.covers(generic) {
		return concrete
	}
	return ""
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
