package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tongban/tongban/contracts"
)

// MaxJSONDepth bounds how deeply a request body may nest objects and
// arrays. The deepest contract value (a form inside a submission) needs
// far less; the bound keeps a hostile body from costing stack.
const MaxJSONDepth = 64

// DecodeStrict decodes body, one JSON value, into v (a pointer to a
// contract type), refusing with invalid_json anything a reader could take
// two ways:
//
//   - bytes that are not UTF-8, and \u escapes that are unpaired UTF-16
//     surrogates (encoding/json would turn both into U+FFFD);
//   - a key given twice in one object, at any depth (forms included);
//   - a key that names a field of v only when letter case is ignored
//     (encoding/json would match it case-insensitively);
//   - unknown keys, a value of the wrong JSON type, a time that is not
//     RFC 3339, binary content that is not standard base64;
//   - nesting deeper than MaxJSONDepth, and data after the value.
//
// Messages name the field in the caller's terms (service_item.name,
// materials[1].size) and never quote a value.
func DecodeStrict(body []byte, v any) error {
	if !utf8.Valid(body) {
		return Failf(contracts.CodeInvalidJSON, "body is not valid UTF-8")
	}
	if err := checkSurrogates(body); err != nil {
		return err
	}
	sc := scanner{dec: json.NewDecoder(bytes.NewReader(body))}
	sc.dec.UseNumber()
	t := reflect.TypeOf(v)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if err := sc.value(t, 0); err != nil {
		return err
	}
	if _, err := sc.dec.Token(); err != io.EOF {
		return Failf(contracts.CodeInvalidJSON, "body has data after the JSON value")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeFailure(err)
	}
	return nil
}

// decodeFailure words an error of encoding/json that the scan did not
// catch first (a number out of its field's range, say).
func decodeFailure(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field == "" {
			return Failf(contracts.CodeInvalidJSON, "body: expected %s", expected(te.Type))
		}
		return Failf(contracts.CodeInvalidJSON, "field %s: expected %s", te.Field, expected(te.Type))
	case errors.As(err, &se):
		return Failf(contracts.CodeInvalidJSON, "body is not valid JSON (at byte %d)", se.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return Failf(contracts.CodeInvalidJSON, "body is not valid JSON: it ends early")
	}
	return Failf(contracts.CodeInvalidJSON, "body does not match the contract")
}

// checkSurrogates refuses \u escapes that encode half of a UTF-16
// surrogate pair without the other half. In valid JSON a backslash only
// occurs inside strings, so the bytes need no tokenizing; invalid JSON is
// refused by the scan anyway.
func checkSurrogates(body []byte) error {
	i := bytes.IndexByte(body, '\\')
	for i >= 0 && i < len(body) {
		if body[i] != '\\' {
			j := bytes.IndexByte(body[i:], '\\')
			if j < 0 {
				return nil
			}
			i += j
			continue
		}
		if i+1 >= len(body) || body[i+1] != 'u' {
			i += 2
			continue
		}
		r, ok := hex4(body, i+2)
		switch {
		case !ok:
			return nil // a syntax error, reported by the scan
		case r >= 0xD800 && r < 0xDC00:
			lo, ok := rune(0), false
			if i+7 < len(body) && body[i+6] == '\\' && body[i+7] == 'u' {
				lo, ok = hex4(body, i+8)
			}
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return Failf(contracts.CodeInvalidJSON, "body has a \\u escape that is half of a UTF-16 surrogate pair")
			}
			i += 12
		case r >= 0xDC00 && r <= 0xDFFF:
			return Failf(contracts.CodeInvalidJSON, "body has a \\u escape that is half of a UTF-16 surrogate pair")
		default:
			i += 6
		}
	}
	return nil
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[at:at+4]), 16, 16)
	return rune(n), err == nil
}

// scanner walks a body token by token, beside the Go type it will be
// decoded into (nil where the type says nothing: json.RawMessage, any,
// types with their own UnmarshalJSON other than time.Time).
type scanner struct {
	dec  *json.Decoder
	path []pathElem
}

type pathElem struct {
	key   string
	index int // used when key is ""
}

// where is the dotted path of the value being scanned, for messages.
func (s *scanner) where() string {
	if len(s.path) == 0 {
		return "body"
	}
	var b strings.Builder
	b.WriteString("field ")
	for i, p := range s.path {
		switch {
		case p.key == "":
			b.WriteString("[" + strconv.Itoa(p.index) + "]")
		case i > 0:
			b.WriteString("." + p.key)
		default:
			b.WriteString(p.key)
		}
	}
	return b.String()
}

func (s *scanner) fail(format string, args ...any) error {
	return Failf(contracts.CodeInvalidJSON, "%s: "+format, append([]any{s.where()}, args...)...)
}

var (
	timeType      = reflect.TypeFor[time.Time]()
	bytesType     = reflect.TypeFor[[]byte]()
	unmarshalType = reflect.TypeFor[json.Unmarshaler]()
)

// value scans one value of Go type t (nil: unconstrained) at depth.
func (s *scanner) value(t reflect.Type, depth int) error {
	tok, err := s.dec.Token()
	if err != nil {
		return s.syntax(err)
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && t != timeType && (t.Implements(unmarshalType) || reflect.PointerTo(t).Implements(unmarshalType)) {
		t = nil
	}
	if t != nil && t.Kind() == reflect.Interface {
		t = nil
	}
	if tok == nil { // null leaves a Go value as it is
		return nil
	}
	if d, ok := tok.(json.Delim); ok {
		if depth >= MaxJSONDepth {
			return Failf(contracts.CodeInvalidJSON, "body nests deeper than %d levels", MaxJSONDepth)
		}
		if d == '{' {
			return s.object(t, depth+1)
		}
		return s.array(t, depth+1)
	}
	if t == nil {
		return nil
	}
	switch v := tok.(type) {
	case string:
		switch {
		case t == timeType:
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				return s.fail("expected an RFC 3339 time")
			}
		case t == bytesType:
			if _, err := base64.StdEncoding.DecodeString(v); err != nil {
				return s.fail("expected standard base64")
			}
		case t.Kind() != reflect.String:
			return s.fail("expected %s", expected(t))
		}
	case json.Number:
		var err error
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			_, err = strconv.ParseInt(string(v), 10, t.Bits())
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			_, err = strconv.ParseUint(string(v), 10, t.Bits())
		case reflect.Float32, reflect.Float64:
			_, err = strconv.ParseFloat(string(v), t.Bits())
		default:
			err = errors.New("not a number")
		}
		if err != nil {
			return s.fail("expected %s", expected(t))
		}
	case bool:
		if t.Kind() != reflect.Bool {
			return s.fail("expected %s", expected(t))
		}
	}
	return nil
}

func (s *scanner) object(t reflect.Type, depth int) error {
	var fields map[string]reflect.Type
	var elem reflect.Type
	switch {
	case t == nil:
	case t.Kind() == reflect.Struct && t != timeType:
		fields = fieldsOf(t)
	case t.Kind() == reflect.Map:
		elem = t.Elem()
	default:
		return s.fail("expected %s", expected(t))
	}
	// Keys seen so far: a short list scanned linearly (contract objects
	// have a few dozen keys at most), a map once the object is larger.
	var few [24]string
	seen, many := few[:0], map[string]struct{}(nil)
	for s.dec.More() {
		tok, err := s.dec.Token()
		if err != nil {
			return s.syntax(err)
		}
		key, _ := tok.(string)
		dup := false
		if many != nil {
			_, dup = many[key]
			many[key] = struct{}{}
		} else {
			dup = slices.Contains(seen, key)
			if seen = append(seen, key); len(seen) == cap(few) {
				many = make(map[string]struct{}, 2*len(seen))
				for _, k := range seen {
					many[k] = struct{}{}
				}
			}
		}
		if dup {
			return s.fail("%s appears twice", keyNamed(key))
		}
		ft := elem
		if fields != nil {
			var ok bool
			if ft, ok = fields[key]; !ok {
				for name := range fields {
					if strings.EqualFold(name, key) {
						return s.fail("%s matches %q only when letter case is ignored: keys are case-sensitive", keyNamed(key), name)
					}
				}
				return s.fail("%s is not a field of this message", keyNamed(key))
			}
		}
		s.path = append(s.path, pathElem{key: key})
		if err := s.value(ft, depth); err != nil {
			return err
		}
		s.path = s.path[:len(s.path)-1]
	}
	_, err := s.dec.Token() // '}'
	return s.syntax(err)
}

func (s *scanner) array(t reflect.Type, depth int) error {
	var elem reflect.Type
	if t != nil {
		switch t.Kind() {
		case reflect.Slice, reflect.Array:
			if t == bytesType {
				return s.fail("expected standard base64")
			}
			elem = t.Elem()
		default:
			return s.fail("expected %s", expected(t))
		}
	}
	for i := 0; s.dec.More(); i++ {
		s.path = append(s.path, pathElem{index: i})
		if err := s.value(elem, depth); err != nil {
			return err
		}
		s.path = s.path[:len(s.path)-1]
	}
	_, err := s.dec.Token() // ']'
	return s.syntax(err)
}

func (s *scanner) syntax(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return Failf(contracts.CodeInvalidJSON, "body is not valid JSON: it ends early")
	}
	return Failf(contracts.CodeInvalidJSON, "body is not valid JSON (at byte %d)", s.dec.InputOffset())
}

// keyNamed names a caller's key for a message: quoted when it looks like
// a field name (ASCII letters, '_', '-', '.', at most 64), else only "a
// key", so that a message never repeats a value such as an ID number
// sent as a key.
func keyNamed(k string) string {
	if k == "" || len(k) > 64 {
		return "a key"
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-' || c == '.') {
			return "a key"
		}
	}
	return "key " + strconv.Quote(k)
}

// expected names, in JSON's terms, what a value of Go type t is written as.
func expected(t reflect.Type) string {
	if t == nil {
		return "a JSON value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return "an RFC 3339 time"
	case t == bytesType:
		return "standard base64"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a JSON value"
}

var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// fieldsOf returns the JSON keys of struct type t as encoding/json names
// them (tag name, else the Go name; promoted fields of embedded structs
// included; "-" and unexported fields left out), each with its type.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	addFields(t, m, 0)
	fieldCache.Store(t, m)
	return m
}

func addFields(t reflect.Type, m map[string]reflect.Type, depth int) {
	if depth > 8 {
		return
	}
	var embedded []reflect.Type
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				embedded = append(embedded, et)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, taken := m[name]; !taken {
			m[name] = f.Type
		}
	}
	for _, et := range embedded { // promoted fields: the shallower field wins
		addFields(et, m, depth+1)
	}
}
