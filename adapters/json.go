package adapters

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// DecodeJSON decodes raw into v strictly: one JSON value, no unknown
// fields, no trailing data. Its errors describe the problem without
// quoting the input (encoding/json quotes numbers, time strings and
// unknown keys, which may be ID numbers), so they are safe to log and to
// return to a partner.
func DecodeJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return JSONProblem(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// JSONProblem describes an encoding/json decoding error without the
// offending value or key.
func JSONProblem(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("not valid JSON (offset %d)", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return errors.New("not a JSON object of the expected shape")
		}
		// Field is a path of the Go type's own JSON field names.
		return fmt.Errorf("field %s has the wrong type", clip(typ.Field, 100))
	case errors.Is(err, io.EOF):
		return errors.New("empty body")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errors.New("unknown field")
	}
	return errors.New("malformed field value")
}
