package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"reflect"
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
	sc := scanner{b: body}
	t := reflect.TypeOf(v)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if err := sc.value(t, 0); err != nil {
		return err
	}
	if sc.ws(); sc.i != len(body) {
		return Failf(contracts.CodeInvalidJSON, "body has data after the JSON value")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeFailure(err)
	}
	if dec.More() {
		return Failf(contracts.CodeInvalidJSON, "body has data after the JSON value")
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

// scanner walks a body byte by byte, beside the Go type it will be
// decoded into (nil where the type says nothing: json.RawMessage, any,
// types with their own UnmarshalJSON other than time.Time). It reads
// JSON's grammar itself rather than through json.Decoder.Token, which
// allocates for every token; encoding/json still decodes the body after
// it, so the scan only has to be at least as strict.
type scanner struct {
	b    []byte
	i    int
	path []pathElem
}

type pathElem struct {
	key   []byte
	index int // used when key is nil
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
		case p.key == nil:
			b.WriteString("[" + strconv.Itoa(p.index) + "]")
		case i > 0:
			b.WriteString("." + string(p.key))
		default:
			b.Write(p.key)
		}
	}
	return b.String()
}

func (s *scanner) fail(format string, args ...any) error {
	return Failf(contracts.CodeInvalidJSON, "%s: "+format, append([]any{s.where()}, args...)...)
}

func (s *scanner) syntax() error {
	if s.i >= len(s.b) {
		return Failf(contracts.CodeInvalidJSON, "body is not valid JSON: it ends early")
	}
	return Failf(contracts.CodeInvalidJSON, "body is not valid JSON (at byte %d)", s.i)
}

var (
	timeType      = reflect.TypeFor[time.Time]()
	bytesType     = reflect.TypeFor[[]byte]()
	unmarshalType = reflect.TypeFor[json.Unmarshaler]()
)

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str reads a string at s.i (its opening quote): its bytes between the
// quotes, and whether they hold escapes.
func (s *scanner) str() (raw []byte, escaped bool, err error) {
	s.i++ // '"'
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			return raw, escaped, nil
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.b) {
				s.i = len(s.b)
				return nil, false, s.syntax()
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if _, ok := hex4(s.b, s.i+2); !ok {
					return nil, false, s.syntax()
				}
				s.i += 6
			default:
				return nil, false, s.syntax()
			}
		case c < 0x20:
			return nil, false, s.syntax()
		default:
			s.i++
		}
	}
	return nil, false, s.syntax()
}

// unescape returns the text of a string read by str.
func unescape(raw []byte, escaped bool) []byte {
	if !escaped {
		return raw
	}
	var v string
	quoted := make([]byte, 0, len(raw)+2)
	quoted = append(append(append(quoted, '"'), raw...), '"')
	if json.Unmarshal(quoted, &v) != nil {
		return raw // unreachable: str checked the escapes
	}
	return []byte(v)
}

// number reads a JSON number at s.i.
func (s *scanner) number() ([]byte, error) {
	start := s.i
	digits := func() int {
		n := 0
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case digits() == 0:
		return nil, s.syntax()
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return nil, s.syntax()
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return nil, s.syntax()
		}
	}
	return s.b[start:s.i], nil
}

func (s *scanner) literal(word string) error {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		return s.syntax()
	}
	s.i += len(word)
	return nil
}

// value scans one value of Go type t (nil: unconstrained) at depth.
func (s *scanner) value(t reflect.Type, depth int) error {
	s.ws()
	if s.i >= len(s.b) {
		return s.syntax()
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
	switch c := s.b[s.i]; c {
	case '{', '[':
		if depth >= MaxJSONDepth {
			return Failf(contracts.CodeInvalidJSON, "body nests deeper than %d levels", MaxJSONDepth)
		}
		s.i++
		if c == '{' {
			return s.object(t, depth+1)
		}
		return s.array(t, depth+1)
	case '"':
		raw, esc, err := s.str()
		if err != nil || t == nil {
			return err
		}
		switch {
		case t == timeType:
			if _, err := time.Parse(time.RFC3339Nano, string(unescape(raw, esc))); err != nil {
				return s.fail("expected an RFC 3339 time")
			}
		case t == bytesType:
			v := unescape(raw, esc)
			if _, err := base64.StdEncoding.Decode(make([]byte, base64.StdEncoding.DecodedLen(len(v))), v); err != nil {
				return s.fail("expected standard base64")
			}
		case t.Kind() != reflect.String:
			return s.fail("expected %s", expected(t))
		}
		return nil
	case 'n':
		return s.literal("null") // null leaves a Go value as it is
	case 't', 'f':
		word := "true"
		if c == 'f' {
			word = "false"
		}
		if err := s.literal(word); err != nil {
			return err
		}
		if t != nil && t.Kind() != reflect.Bool {
			return s.fail("expected %s", expected(t))
		}
		return nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		num, err := s.number()
		if err != nil || t == nil {
			return err
		}
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			_, err = strconv.ParseInt(string(num), 10, t.Bits())
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			_, err = strconv.ParseUint(string(num), 10, t.Bits())
		case reflect.Float32, reflect.Float64:
			_, err = strconv.ParseFloat(string(num), t.Bits())
		default:
			err = errors.New("not a number")
		}
		if err != nil {
			return s.fail("expected %s", expected(t))
		}
		return nil
	}
	return s.syntax()
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
	var few [24][]byte
	seen, many := few[:0], map[string]struct{}(nil)
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.syntax()
		}
		raw, esc, err := s.str()
		if err != nil {
			return err
		}
		key := unescape(raw, esc)
		dup := false
		if many != nil {
			_, dup = many[string(key)]
			many[string(key)] = struct{}{}
		} else {
			for _, k := range seen {
				dup = dup || bytes.Equal(k, key)
			}
			if seen = append(seen, key); len(seen) == cap(few) {
				many = make(map[string]struct{}, 2*len(seen))
				for _, k := range seen {
					many[string(k)] = struct{}{}
				}
			}
		}
		if dup {
			return s.fail("%s appears twice", keyNamed(string(key)))
		}
		ft := elem
		if fields != nil {
			var ok bool
			if ft, ok = fields[string(key)]; !ok {
				for name := range fields {
					if strings.EqualFold(name, string(key)) {
						return s.fail("%s matches %q only when letter case is ignored: keys are case-sensitive", keyNamed(string(key)), name)
					}
				}
				return s.fail("%s is not a field of this message", keyNamed(string(key)))
			}
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.syntax()
		}
		s.i++
		s.path = append(s.path, pathElem{key: key})
		if err := s.value(ft, depth); err != nil {
			return err
		}
		s.path = s.path[:len(s.path)-1]
		s.ws()
		if s.i >= len(s.b) {
			return s.syntax()
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.syntax()
		}
	}
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
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for i := 0; ; i++ {
		s.path = append(s.path, pathElem{index: i})
		if err := s.value(elem, depth); err != nil {
			return err
		}
		s.path = s.path[:len(s.path)-1]
		s.ws()
		if s.i >= len(s.b) {
			return s.syntax()
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.syntax()
		}
	}
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
