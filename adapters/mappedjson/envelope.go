package mappedjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tongban/tongban/contracts"
)

// Envelope is the partner's result envelope, in which it answers every
// call and in which the gateway answers the partner's calls, for example
// {"code": "0", "msg": "成功", "data": {...}}.
type Envelope struct {
	// Code is the path (dotted partner field names) of the result code.
	// Required.
	Code string `json:"code"`
	// Message is the path of the result message, if the partner has one.
	Message string `json:"message,omitempty"`
	// Data is the path of the object the operation's answer mapping
	// describes; empty means the mapped fields sit at the top level beside
	// the code and message.
	Data string `json:"data,omitempty"`
	// RequestID is the path where the gateway puts the request_id of its
	// error answers, if the partner has such a field; the adapter ignores
	// it in the partner's answers.
	RequestID string `json:"request_id,omitempty"`
	// Success lists the result codes that mean success; the first is the
	// one the gateway writes. Required.
	Success []string `json:"success"`
	// Retryable lists the result codes that mean "try again later"; any
	// code neither successful nor retryable is a permanent refusal.
	Retryable []string `json:"retryable,omitempty"`
	// SuccessMessage is the message written with successful answers
	// (receipts), if any.
	SuccessMessage string `json:"success_message,omitempty"`
	// ErrorCodes names the table (under tables) that maps the gateway's error
	// codes (validation_failed, rate_limited, ...) to the partner's result
	// codes; its "*" entry is the default. Without it the gateway writes
	// its own error code.
	ErrorCodes string `json:"error_codes,omitempty"`
	// NumericCode writes result codes as JSON numbers instead of strings.
	// Either is accepted when reading.
	NumericCode bool `json:"numeric_code,omitempty"`
}

// envelope is a compiled Envelope.
type envelope struct {
	code, message, data, requestID []string
	success, retryable             []string
	successMessage                 string
	errorCodes                     *table
	numeric                        bool
	permanentCode                  string // a code that is neither success nor retryable
}

// maxCodeLen bounds a configured result code.
const maxCodeLen = 64

func compileEnvelope(cfgPath string, e *Envelope, tables map[string]*table) (*envelope, error) {
	if e == nil {
		return nil, fmt.Errorf("%s is required", cfgPath)
	}
	env := &envelope{successMessage: e.SuccessMessage, numeric: e.NumericCode}
	paths := []struct {
		name, src string
		dst       *[]string
	}{
		{"code", e.Code, &env.code}, {"message", e.Message, &env.message},
		{"data", e.Data, &env.data}, {"request_id", e.RequestID, &env.requestID},
	}
	var seen []string
	var seenName []string
	for _, p := range paths {
		if p.src == "" {
			if p.name == "code" {
				return nil, fmt.Errorf("%s.code is required: the partner field holding the result code", cfgPath)
			}
			continue
		}
		parts := splitPath(p.src)
		for _, k := range parts {
			if err := checkKey(k); err != nil {
				return nil, fmt.Errorf("%s.%s: %w", cfgPath, p.name, err)
			}
		}
		for i, s := range seen {
			if overlaps(s, p.src) {
				return nil, fmt.Errorf("%s.%s %q overlaps %s %q", cfgPath, p.name, p.src, seenName[i], s)
			}
		}
		seen, seenName = append(seen, p.src), append(seenName, p.name)
		*p.dst = parts
	}
	if len(e.Success) == 0 {
		return nil, fmt.Errorf("%s.success must list at least one result code", cfgPath)
	}
	check := func(field string, codes []string) error {
		for _, c := range codes {
			if err := env.checkCode(c); err != nil {
				return fmt.Errorf("%s.%s: %w", cfgPath, field, err)
			}
		}
		return nil
	}
	if err := check("success", e.Success); err != nil {
		return nil, err
	}
	if err := check("retryable", e.Retryable); err != nil {
		return nil, err
	}
	env.success, env.retryable = e.Success, e.Retryable
	for _, r := range e.Retryable {
		if env.isSuccess(r) {
			return nil, fmt.Errorf("%s.retryable: code %q is also a success code", cfgPath, r)
		}
	}
	if e.ErrorCodes != "" {
		t, ok := tables[e.ErrorCodes]
		if !ok {
			return nil, fmt.Errorf("%s.error_codes: table %q is not defined in tables", cfgPath, e.ErrorCodes)
		}
		all := append([]any{}, t.def)
		for _, k := range t.keys {
			if !knownCode(contracts.Code(k)) {
				return nil, fmt.Errorf("%s.error_codes: table %s maps %q, which is not an error code of the contract", cfgPath, t.name, k)
			}
			all = append(all, t.fwd[k])
		}
		for _, v := range all {
			if v == nil {
				continue
			}
			text, ok := scalarText(v)
			if _, isBool := v.(bool); !ok || isBool {
				return nil, fmt.Errorf("%s.error_codes: table %s must map to string or number codes", cfgPath, t.name)
			}
			if err := env.checkCode(text); err != nil {
				return nil, fmt.Errorf("%s.error_codes: table %s: %w", cfgPath, t.name, err)
			}
			if env.isSuccess(text) {
				return nil, fmt.Errorf("%s.error_codes: table %s maps an error to the success code %q", cfgPath, t.name, text)
			}
		}
		env.errorCodes = t
	}
	candidates := []string{"error", "9999", "-1", "99999", "-99"}
	if env.errorCodes != nil && env.errorCodes.def != nil {
		d, _ := scalarText(env.errorCodes.def)
		candidates = append([]string{d}, candidates...)
	}
	for _, c := range candidates {
		if env.checkCode(c) == nil && !env.isSuccess(c) && !env.isRetryable(c) {
			env.permanentCode = c
			break
		}
	}
	return env, nil
}

func (e *envelope) checkCode(c string) error {
	switch {
	case c == "":
		return errors.New("a result code is empty")
	case len(c) > maxCodeLen:
		return fmt.Errorf("a result code is longer than %d bytes", maxCodeLen)
	case e.numeric:
		if _, err := strconv.ParseInt(c, 10, 64); err != nil || !isJSONNumber(c) {
			return fmt.Errorf("result code %q is not an integer (numeric_code is on)", c)
		}
	}
	return nil
}

func (e *envelope) isSuccess(code string) bool   { return containsCode(e.success, code) }
func (e *envelope) isRetryable(code string) bool { return containsCode(e.retryable, code) }

// containsCode compares codes as text, and codes that are both JSON
// numbers by value: "00", "+0" and "05030" are other codes than "0" and
// "5030".
func containsCode(list []string, code string) bool {
	for _, c := range list {
		if c == code || isJSONNumber(c) && isJSONNumber(code) && numberKey(c) == numberKey(code) {
			return true
		}
	}
	return false
}

// checkBeside refuses an answer mapping m (cfgPath names it) whose
// top-level keys the envelope also uses, when the envelope has no data
// path and the mapped fields sit beside its own: reading would take the
// field for the envelope's, and writing would fail.
func (e *envelope) checkBeside(cfgPath string, m *message) error {
	if e.data != nil {
		return nil
	}
	for _, p := range []struct {
		name string
		path []string
	}{{"code", e.code}, {"message", e.message}, {"request_id", e.requestID}} {
		if p.path == nil {
			continue
		}
		if _, taken := m.root.index[p.path[0]]; taken {
			return fmt.Errorf("%s.%s: the envelope's %s is there; with no envelope data path, mapped fields sit beside the envelope's and need other names",
				cfgPath, p.path[0], p.name)
		}
	}
	return nil
}

// errorCode returns the partner's code for a contract error code.
func (e *envelope) errorCode(c contracts.Code) string {
	if e.errorCodes != nil {
		if v, ok := e.errorCodes.lookup(string(c)); ok {
			if s, ok := scalarText(v); ok {
				return s
			}
		}
	}
	if e.checkCode(string(c)) == nil && !e.isSuccess(string(c)) {
		return string(c)
	}
	return e.permanentCode
}

func (e *envelope) codeValue(code string) any {
	if e.numeric {
		return json.Number(code)
	}
	return code
}

// render writes the envelope with code, message, request id and data (an
// answer mapping's object, nil for none).
func (e *envelope) render(code, msg, requestID string, data *object) ([]byte, error) {
	out := newObject()
	if err := setPath(out, e.code, e.codeValue(code)); err != nil {
		return nil, err
	}
	if e.message != nil && msg != "" {
		if err := setPath(out, e.message, msg); err != nil {
			return nil, err
		}
	}
	if e.requestID != nil && requestID != "" {
		if err := setPath(out, e.requestID, requestID); err != nil {
			return nil, err
		}
	}
	if data != nil {
		if e.data != nil {
			if err := setPath(out, e.data, data); err != nil {
				return nil, err
			}
		} else {
			for _, k := range data.keys {
				if _, taken := out.get(k); taken {
					return nil, errors.New("a mapped field collides with the envelope")
				}
				out.set(k, data.vals[k])
			}
		}
	}
	return marshalJSON(out)
}

// answer is a partner's answer with its envelope read.
type answer struct {
	code    string
	message string
	rest    *object // what is left once the envelope's fields are taken out
	data    any     // the value at the data path, when the envelope has one
	hasData bool
}

// read parses an answer and takes its envelope apart. Errors describe the
// problem without quoting the answer.
func (e *envelope) read(body []byte) (*answer, error) {
	v, err := parseJSON(body, MaxDepth)
	if err != nil {
		return nil, err
	}
	o, ok := v.(*object)
	if !ok {
		return nil, errors.New("answer is not a JSON object")
	}
	a := &answer{rest: o}
	cv, ok := takePath(o, e.code)
	if !ok || cv == nil {
		return nil, fmt.Errorf("the result code (%s) is missing", strings.Join(e.code, "."))
	}
	switch t := cv.(type) {
	case string:
		a.code = t
	case json.Number:
		a.code = string(t)
	default:
		return nil, fmt.Errorf("the result code (%s) is not a string or number", strings.Join(e.code, "."))
	}
	if e.message != nil {
		if mv, ok := takePath(o, e.message); ok {
			a.message, _ = mv.(string)
		}
	}
	if e.requestID != nil {
		takePath(o, e.requestID)
	}
	if e.data != nil {
		a.data, a.hasData = takePath(o, e.data)
	}
	return a, nil
}

// dataPath is the partner path of the answer's data, "" for the top level.
func (e *envelope) dataPath() string { return strings.Join(e.data, ".") }

// payload returns what a successful answer's mapping reads: the data
// object, or the rest of the answer when the mapped fields sit at the top
// level. Fields outside both are an error (strict).
func (e *envelope) payload(a *answer) (any, error) {
	if e.data == nil {
		return a.rest, nil
	}
	if a.rest.len() != 0 {
		return nil, errors.New("the answer has a field the envelope does not declare")
	}
	if !a.hasData || a.data == nil {
		return nil, fmt.Errorf("%s is missing", strings.Join(e.data, "."))
	}
	return a.data, nil
}

// knownCode reports whether c is an error code of the contract.
func knownCode(c contracts.Code) bool {
	for _, ci := range contracts.Codes {
		if ci.Code == c {
			return true
		}
	}
	return false
}
