package mappedjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/buger/jsonparser"
	"github.com/tongban/tongban/adapters"
)

// Bounds on what the adapter reads, so that hostile input cannot blow it up.
const (
	// MaxDepth bounds the nesting of objects and arrays in any JSON the
	// adapter reads from a partner: a call or answer, and a value carried
	// as a JSON string. (Mappings are bounded by MaxMappingDepth.)
	MaxDepth = 32
	// MaxArrayItems bounds the length of any JSON array the adapter reads
	// from a partner.
	MaxArrayItems = 1000
	// maxRenderDepth bounds the nesting of contract values the adapter
	// renders (a form received from another partner, say).
	maxRenderDepth = 256
)

// object is a JSON object that keeps its keys in order: the order of the
// configuration for the partner's JSON the adapter writes, the order of the
// input for what it reads.
type object struct {
	keys []string
	vals map[string]any
}

func newObject() *object { return &object{vals: map[string]any{}} }

func (o *object) get(k string) (any, bool) {
	v, ok := o.vals[k]
	return v, ok
}

func (o *object) set(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *object) del(k string) {
	if _, ok := o.vals[k]; !ok {
		return
	}
	delete(o.vals, k)
	for i, kk := range o.keys {
		if kk == k {
			o.keys = append(o.keys[:i:i], o.keys[i+1:]...)
			break
		}
	}
}

func (o *object) len() int { return len(o.keys) }

// dupKeyError reports a key that appears twice in one JSON object. Its
// Error never quotes the key (input keys may be personal data); config
// errors, which may, read Key.
type dupKeyError struct{ Key string }

func (e *dupKeyError) Error() string { return "an object has a duplicate key" }

// parseJSON reads one JSON value strictly: objects as *object (duplicate
// keys are an error), arrays as []any, numbers as json.Number, and nothing
// nested deeper than maxDepth or arrays longer than MaxArrayItems. Errors
// describe the problem without quoting the input.
func parseJSON(data []byte, maxDepth int) (any, error) {
	return parseJSONItems(data, maxDepth, MaxArrayItems)
}

// parseJSONItems is parseJSON with arrays bounded by maxItems instead.
func parseJSONItems(data []byte, maxDepth, maxItems int) (any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty body")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := readValue(dec, maxDepth, maxItems)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

func readValue(dec *json.Decoder, depth, maxItems int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, tokenProblem(err)
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth <= 0 {
			return nil, errors.New("JSON is nested too deeply")
		}
		switch t {
		case '{':
			o := newObject()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, tokenProblem(err)
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("not valid JSON (object key)")
				}
				if _, dup := o.vals[k]; dup {
					return nil, &dupKeyError{Key: k}
				}
				v, err := readValue(dec, depth-1, maxItems)
				if err != nil {
					return nil, err
				}
				o.set(k, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, tokenProblem(err)
			}
			return o, nil
		case '[':
			a := []any{}
			for dec.More() {
				if len(a) >= maxItems {
					return nil, fmt.Errorf("an array has more than %d items", maxItems)
				}
				v, err := readValue(dec, depth-1, maxItems)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, tokenProblem(err)
			}
			return a, nil
		}
		return nil, errors.New("not valid JSON")
	case string, json.Number, bool, nil:
		return t, nil
	}
	return nil, errors.New("not valid JSON")
}

// tokenProblem describes a tokenizer error without quoting the input; the
// input is known not to be empty, so an early end is a truncation.
func tokenProblem(err error) error {
	if errors.Is(err, io.EOF) {
		return errors.New("truncated JSON")
	}
	return adapters.JSONProblem(err)
}

// marshalJSON renders v compactly, objects in key order, without HTML
// escaping.
func marshalJSON(v any) ([]byte, error) { return marshalJSONSize(v, 0) }

// marshalJSONSize is marshalJSON into a buffer of size bytes to begin with.
func marshalJSONSize(v any, size int) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(size)
	if err := appendJSON(&b, v, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func appendJSON(b *bytes.Buffer, v any, depth int) error {
	if depth > maxRenderDepth {
		return errors.New("value is nested too deeply")
	}
	switch t := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case json.Number:
		if !isJSONNumber(string(t)) {
			return errors.New("a number is not a JSON number")
		}
		b.WriteString(string(t))
	case string:
		appendString(b, t)
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := appendJSON(b, e, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case *object:
		b.WriteByte('{')
		for i, k := range t.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			appendString(b, k)
			b.WriteByte(':')
			if err := appendJSON(b, t.vals[k], depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("cannot render a %T as JSON", v)
	}
	return nil
}

// appendString writes s as a JSON string the way encoding/json does, but
// without escaping <, > and &.
func appendString(b *bytes.Buffer, s string) {
	if plainString(s) { // most strings: as they are, between quotes
		b.Grow(len(s) + 2)
		b.WriteByte('"')
		b.WriteString(s)
		b.WriteByte('"')
		return
	}
	var tmp bytes.Buffer
	enc := json.NewEncoder(&tmp)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	b.Write(bytes.TrimSuffix(tmp.Bytes(), []byte("\n")))
}

// plainString reports whether encoding/json, not escaping HTML, writes s
// unchanged between quotes: valid UTF-8 without control characters, '"',
// backslash, U+2028 or U+2029.
func plainString(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			return false
		}
		i += size
	}
	return true
}

// isJSONNumber reports whether s is a number in JSON syntax.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	return i == len(s)
}

// scalarText returns the text of a JSON scalar: a string as it is, a number
// as written, a bool as true or false.
func scalarText(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case json.Number:
		return string(t), true
	case bool:
		return strconv.FormatBool(t), true
	}
	return "", false
}

// scalarKey returns a key that identifies a JSON scalar by type and value,
// numbers compared by exact value.
func scalarKey(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return "s:" + t, true
	case json.Number:
		return "n:" + numberKey(string(t)), true
	case bool:
		return "b:" + strconv.FormatBool(t), true
	}
	return "", false
}

// numberKey returns a text that two JSON numbers share exactly when their
// values are equal (1, 1.0, 10e-1; 0 and -0): the significant digits and
// the power of ten. It never goes through float64, which would merge
// integers beyond 2^53, nor expands the exponent, which a hostile 1e999999999
// would make costly. A text that is not a JSON number, or whose exponent
// is out of range, is its own key.
func numberKey(s string) string {
	if !isJSONNumber(s) {
		return s
	}
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	mant, exp := s, int64(0)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.ParseInt(s[i+1:], 10, 64)
		if err != nil || e > 1<<60 || e < -(1<<60) {
			return sign + s
		}
		mant, exp = s[:i], e
	}
	whole, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(whole+frac, "0")
	if digits == "" {
		return "0"
	}
	exp -= int64(len(frac))
	trimmed := strings.TrimRight(digits, "0")
	exp += int64(len(digits) - len(trimmed))
	return sign + trimmed + "e" + strconv.FormatInt(exp, 10)
}

// describeScalar renders a configured scalar (a constant or table value)
// for configuration errors and documentation.
func describeScalar(v any) string {
	b, err := marshalJSON(v)
	if err != nil {
		return "?"
	}
	return string(b)
}

// splitPath splits a dotted key path; "" gives nil.
func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, ".")
}

// getPath follows path (keys) from v; it reports false when a step is
// missing or not an object.
func getPath(v any, path []string) (any, bool) {
	for _, k := range path {
		o, ok := v.(*object)
		if !ok {
			return nil, false
		}
		if v, ok = o.get(k); !ok {
			return nil, false
		}
	}
	return v, true
}

// setPath sets v at path under o, creating objects on the way. It fails
// when a step is taken by a value that is not an object.
func setPath(o *object, path []string, v any) error {
	for i, k := range path {
		if i == len(path)-1 {
			if _, taken := o.get(k); taken {
				return errors.New("a field is set twice")
			}
			o.set(k, v)
			return nil
		}
		next, ok := o.get(k)
		if !ok {
			n := newObject()
			o.set(k, n)
			o = n
			continue
		}
		if o, ok = next.(*object); !ok {
			return errors.New("a field is set twice")
		}
	}
	return nil
}

// takePath removes and returns the value at path under o, then removes the
// objects on the way that it left empty.
func takePath(o *object, path []string) (any, bool) {
	if len(path) == 0 {
		return nil, false
	}
	if len(path) == 1 {
		v, ok := o.get(path[0])
		o.del(path[0])
		return v, ok
	}
	child, ok := o.get(path[0])
	if !ok {
		return nil, false
	}
	co, isObj := child.(*object)
	if !isObj {
		return nil, false
	}
	v, ok := takePath(co, path[1:])
	if ok && co.len() == 0 {
		o.del(path[0])
	}
	return v, ok
}

// parseTrusted reads JSON that encoding/json wrote from the gateway's own
// contract value, into the values parseJSON makes (objects as *object in
// their order, arrays as []any, numbers as json.Number), nested at most
// depth deep. It skips what only hostile input needs (duplicate keys,
// array lengths) and is several times faster than parseJSON on bodies
// with large inline materials, whose base64 strings it copies once
// instead of tokenizing them.
func parseTrusted(data []byte, depth int) (any, error) {
	if len(data) > 0 && data[0] == '{' { // a struct: no need to find its end first
		return trustedValue(data, jsonparser.Object, depth)
	}
	v, typ, _, err := jsonparser.Get(data)
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	return trustedValue(v, typ, depth)
}

func trustedValue(v []byte, typ jsonparser.ValueType, depth int) (any, error) {
	switch typ {
	case jsonparser.Object:
		if depth <= 0 {
			return nil, errors.New("JSON is nested too deeply")
		}
		o := newObject()
		err := jsonparser.ObjectEach(v, func(key, val []byte, t jsonparser.ValueType, _ int) error {
			// ObjectEach hands over keys already unescaped: unescaping
			// them again misread keys holding a backslash.
			k := unescapedString(key)
			x, err := trustedValue(val, t, depth-1)
			if err != nil {
				return err
			}
			o.set(k, x)
			return nil
		})
		return o, err
	case jsonparser.Array:
		if depth <= 0 {
			return nil, errors.New("JSON is nested too deeply")
		}
		a := []any{}
		var ierr error
		_, err := jsonparser.ArrayEach(v, func(val []byte, t jsonparser.ValueType, _ int, err error) {
			if ierr != nil {
				return
			}
			if err != nil {
				ierr = err
				return
			}
			x, err := trustedValue(val, t, depth-1)
			if err != nil {
				ierr = err
				return
			}
			a = append(a, x)
		})
		if ierr != nil {
			return nil, ierr
		}
		return a, err
	case jsonparser.String:
		return trustedString(v)
	case jsonparser.Number:
		return json.Number(v), nil
	case jsonparser.Boolean:
		return jsonparser.ParseBoolean(v)
	case jsonparser.Null:
		return nil, nil
	}
	return nil, errors.New("not valid JSON")
}

// unescapedString is an already unescaped JSON string as encoding/json
// reads it: valid UTF-8 as it is, each byte of invalid UTF-8 as U+FFFD.
func unescapedString(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		sb.WriteRune(r) // utf8.RuneError for an invalid byte
		b = b[n:]
	}
	return sb.String()
}

// trustedString unquotes the inside of a JSON string as encoding/json
// does: a string of valid UTF-8 without escapes as it is (the base64 of an
// inline material, most text), any other through encoding/json, whose
// handling of escapes and invalid bytes (each read as U+FFFD) is the
// reference.
func trustedString(v []byte) (string, error) {
	if bytes.IndexByte(v, '\\') < 0 && utf8.Valid(v) {
		return string(v), nil
	}
	var s string
	q := make([]byte, 0, len(v)+2)
	q = append(append(append(q, '"'), v...), '"')
	if err := json.Unmarshal(q, &s); err != nil {
		return "", errors.New("not valid JSON (string)")
	}
	return s, nil
}
