package gateway

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/tongban/tongban/contracts"
)

// MaxJSONDepth bounds how deeply a request body may nest objects and
// arrays. The deepest contract value (a form inside a submission) needs
// far less; the bound keeps a hostile body from costing stack.
const MaxJSONDepth = 64

// strictOptions are the decoder's settings. Most of the strictness is
// the default of github.com/go-json-experiment/json (json v2): duplicate
// names at any depth (raw forms included), invalid UTF-8 and unpaired
// surrogate escapes are syntax errors, and names match fields
// case-sensitively. The options add the refusal of unknown members, and
// read times as encoding/json does (RFC 3339 by time.Time.UnmarshalJSON):
// v2 also refuses times RFC 3339's grammar admits but time.Time cannot
// write back (a zone offset of 24 hours), which contracts.Validate refuses
// with validation_failed and its own message.
var strictOptions = json.JoinOptions(
	json.RejectUnknownMembers(true),
	json.WithUnmarshalers(json.UnmarshalFunc(func(b []byte, t *time.Time) error { return t.UnmarshalJSON(b) })),
	json.MatchCaseInsensitiveNames(false),
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
)

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
// materials[1].size) and never quote a value or name a Go type.
func DecodeStrict(body []byte, v any) error {
	if tooDeep(body) {
		return Failf(contracts.CodeInvalidJSON, "body nests deeper than %d levels", MaxJSONDepth)
	}
	if err := json.Unmarshal(body, v, strictOptions); err != nil {
		return decodeFailure(body, err)
	}
	return nil
}

// tooDeep reports whether body nests objects and arrays deeper than
// MaxJSONDepth. json v2 has a fixed bound of its own (10000), far above
// what a request needs. Brackets inside strings do not count; a body that
// is not JSON may be misjudged, and is refused by the decoder anyway.
func tooDeep(body []byte) bool {
	depth := 0
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '"':
			for i++; i < len(body) && body[i] != '"'; i++ {
				if body[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			if depth++; depth > MaxJSONDepth {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}

// decodeFailure words an error of json v2 for the caller: where (the
// field path, from the error's JSON Pointer) and what was expected,
// without quoting the value.
func decodeFailure(body []byte, err error) error {
	var se *json.SemanticError
	var sy *jsontext.SyntacticError
	switch {
	case errors.As(err, &se):
		if errors.Is(se.Err, json.ErrUnknownName) {
			key := se.JSONPointer.LastToken()
			where := fieldPath(body, se.JSONPointer.Parent())
			if name, ok := foldedField(se.GoType, key); ok {
				return Failf(contracts.CodeInvalidJSON, "%s: %s matches %q only when letter case is ignored: keys are case-sensitive", where, keyNamed(key), name)
			}
			return Failf(contracts.CodeInvalidJSON, "%s: %s is not a field of this message", where, keyNamed(key))
		}
		if errors.As(se.Err, &sy) { // from a method such as json.RawMessage's
			break
		}
		if errors.Is(se.Err, io.ErrUnexpectedEOF) {
			return Failf(contracts.CodeInvalidJSON, "body is not valid JSON: it ends early")
		}
		return Failf(contracts.CodeInvalidJSON, "%s: expected %s", fieldPath(body, se.JSONPointer), expected(se.GoType))
	case errors.As(err, &sy):
	default:
		return Failf(contracts.CodeInvalidJSON, "body does not match the contract")
	}
	switch off := sy.ByteOffset; {
	case errors.Is(sy.Err, jsontext.ErrDuplicateName):
		return Failf(contracts.CodeInvalidJSON, "%s: %s appears twice", fieldPath(body, sy.JSONPointer.Parent()), keyNamed(sy.JSONPointer.LastToken()))
	case !utf8.Valid(body):
		return Failf(contracts.CodeInvalidJSON, "body is not valid UTF-8")
	case lonelySurrogate(body, off):
		return Failf(contracts.CodeInvalidJSON, "body has a \\u escape that is half of a UTF-16 surrogate pair")
	case errors.Is(sy.Err, io.ErrUnexpectedEOF):
		return Failf(contracts.CodeInvalidJSON, "body is not valid JSON: it ends early")
	case off > 0 && off <= int64(len(body)) && jsontext.Value(body[:off]).IsValid():
		return Failf(contracts.CodeInvalidJSON, "body has data after the JSON value")
	default:
		return Failf(contracts.CodeInvalidJSON, "body is not valid JSON (at byte %d)", off)
	}
}

// lonelySurrogate reports whether the \u escape at body[off:] encodes
// half of a UTF-16 surrogate pair (json v2 reports an unpaired one as
// an invalid escape at its offset).
func lonelySurrogate(body []byte, off int64) bool {
	if off < 0 || off+6 > int64(len(body)) || body[off] != '\\' || body[off+1] != 'u' {
		return false
	}
	r, err := strconv.ParseUint(string(body[off+2:off+6]), 16, 16)
	return err == nil && r >= 0xD800 && r <= 0xDFFF
}

// fieldPath names the value at ptr in the caller's terms: "body" for the
// whole, else "field materials[0].size". JSON Pointers do not tell an
// array index from an object key made of digits, so the body is walked
// along the pointer to learn which each token is.
func fieldPath(body []byte, ptr jsontext.Pointer) string {
	if ptr == "" {
		return "body"
	}
	var b strings.Builder
	b.WriteString("field ")
	dec := jsontext.NewDecoder(bytes.NewReader(body), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	lost := false // the walk failed: guess from the token's shape
	first := true
	for tok := range ptr.Tokens() {
		isIndex := false
		if !lost {
			var ok bool
			isIndex, ok = descend(dec, tok)
			lost = !ok
		}
		if lost {
			_, err := strconv.Atoi(tok)
			isIndex = err == nil && len(tok) < 10
		}
		switch {
		case isIndex:
			b.WriteString("[" + tok + "]")
		case !first:
			b.WriteString("." + segment(tok))
		default:
			b.WriteString(segment(tok))
		}
		first = false
	}
	return b.String()
}

// descend moves dec from the start of a value to the start of its member
// or element tok, and says whether that value was an array.
func descend(dec *jsontext.Decoder, tok string) (isIndex, ok bool) {
	switch dec.PeekKind() {
	case '[':
		n, err := strconv.Atoi(tok)
		if err != nil || skipToken(dec) != nil {
			return false, false
		}
		for ; n > 0; n-- {
			if dec.SkipValue() != nil {
				return true, false
			}
		}
		return true, true
	case '{':
		if skipToken(dec) != nil {
			return false, false
		}
		for {
			name, err := dec.ReadToken()
			if err != nil || name.Kind() != '"' {
				return false, false
			}
			if name.String() == tok {
				return false, true
			}
			if dec.SkipValue() != nil {
				return false, false
			}
		}
	}
	return false, false
}

// segment is a key on a field path: itself when it looks like a field
// name, else a placeholder, so that a path never repeats a value such as
// an ID number sent as a key.
func segment(k string) string {
	if fieldLike(k) {
		return k
	}
	return "(a key)"
}

// keyNamed names a caller's key for a message: quoted when it looks like
// a field name, else only "a key".
func keyNamed(k string) string {
	if fieldLike(k) {
		return "key " + strconv.Quote(k)
	}
	return "a key"
}

// fieldLike: ASCII letters, '_', '-', '.', 1 to 64 of them.
func fieldLike(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// foldedField returns the JSON name of a field of struct type t that key
// matches only when letter case is ignored (as encoding/json would match
// it). Names follow the tag, else the Go name; fields of embedded structs
// without a tag name are promoted.
func foldedField(t reflect.Type, key string) (string, bool) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return "", false
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			if n, ok := foldedField(f.Type, key); ok {
				return n, true
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if strings.EqualFold(name, key) {
			return name, true
		}
	}
	return "", false
}

var (
	timeType  = reflect.TypeFor[time.Time]()
	bytesType = reflect.TypeFor[[]byte]()
)

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

func skipToken(dec *jsontext.Decoder) error {
	_, err := dec.ReadToken()
	return err
}
