package soap

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tongban/tongban/contracts"
)

// This file is the body codec: one reflection-driven mapping between any
// contract struct and XML elements named after the struct's json tags. It
// encodes with its own writer (so that the bytes are fixed and the gateway
// can sign them) and decodes strictly from a small element tree built by
// parseDocument.

// Bounds of the decoder. Inputs are already bounded in size (answers by
// adapters.Caller, inbound calls by the gateway); these bound the shape.
const (
	// MaxDepth bounds element nesting, the envelope's own elements
	// included. The deepest contract message needs about ten.
	MaxDepth = 32
	// MaxElements bounds the number of elements in one document.
	MaxElements = 1 << 16
	// MaxAttributes bounds the attributes of one element, namespace
	// declarations included. SOAP stacks write a handful on the Envelope
	// and none on message elements.
	MaxAttributes = 64
	// envelopeDepth is how deep the message's own element sits
	// (Envelope, Body, operation).
	envelopeDepth = 3
)

var (
	timeType       = reflect.TypeFor[time.Time]()
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	bytesType      = reflect.TypeFor[[]byte]()
)

// ---------------------------------------------------------------------------
// Field tables

// field is one struct field as the codec sees it.
type field struct {
	name     string // element name: the json name
	index    []int  // reflect index path (embedded structs are flattened)
	typ      reflect.Type
	omitZero bool // omitzero: omitted when its IsZero (or reflect zero)
	omitEmp  bool // omitempty: omitted when empty in the encoding/json sense
}

// optional reports whether the element may be absent when decoding: it is
// omitted when empty, or its type (slice, pointer) has no element for the
// empty value.
func (f *field) optional() bool {
	if f.omitZero || f.omitEmp {
		return true
	}
	switch f.typ.Kind() {
	case reflect.Pointer:
		return true
	case reflect.Slice:
		return f.typ != bytesType && f.typ != rawMessageType && f.typ.Elem().Kind() != reflect.Uint8
	}
	return false
}

type structInfo struct {
	fields []field
	byName map[string]int
	err    error
}

var structCache sync.Map // reflect.Type → *structInfo

// fieldsOf returns the codec's view of struct type t: its exported fields
// that json would encode, by json name, in declaration order.
func fieldsOf(t reflect.Type) *structInfo {
	if si, ok := structCache.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{byName: map[string]int{}}
	var walk func(t reflect.Type, index []int, depth int)
	walk = func(t reflect.Type, index []int, depth int) {
		if depth > 8 {
			si.err = fmt.Errorf("type %s embeds structs too deeply", t)
			return
		}
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			idx := append(append([]int(nil), index...), i)
			if sf.Anonymous && name == "" {
				ft := sf.Type
				if ft.Kind() == reflect.Struct && ft != timeType {
					walk(ft, idx, depth+1)
					continue
				}
				if !sf.IsExported() {
					continue
				}
			}
			if !sf.IsExported() {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			if !validName(name) {
				si.err = fmt.Errorf("field %s of %s has name %q, which is not an XML element name", sf.Name, t, name)
				return
			}
			if _, dup := si.byName[name]; dup {
				si.err = fmt.Errorf("type %s has two fields named %q", t, name)
				return
			}
			f := field{name: name, index: idx, typ: sf.Type}
			for o := range strings.SplitSeq(opts, ",") {
				switch o {
				case "omitempty":
					f.omitEmp = true
				case "omitzero":
					f.omitZero = true
				}
			}
			si.byName[name] = len(si.fields)
			si.fields = append(si.fields, f)
		}
	}
	walk(t, nil, 0)
	actual, _ := structCache.LoadOrStore(t, si)
	return actual.(*structInfo)
}

// validName reports whether s is a plain XML element name (no prefix).
func validName(s string) bool {
	if s == "" || strings.HasPrefix(strings.ToLower(s), "xml") {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && (r == '-' || r == '.' || r >= '0' && r <= '9'):
		default:
			return false
		}
	}
	return true
}

// fieldByIndex returns the field of v at index, allocating nothing (the
// codec flattens only embedded struct values, never pointers).
func fieldByIndex(v reflect.Value, index []int) reflect.Value {
	for _, i := range index {
		v = v.Field(i)
	}
	return v
}

// isEmpty reports whether v is empty in the sense of encoding/json's
// omitempty.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}

type isZeroer interface{ IsZero() bool }

// isZero reports whether v is zero in the sense of encoding/json's
// omitzero: its IsZero method when it has one, else the reflect zero.
func isZero(v reflect.Value) bool {
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return true
	}
	if z, ok := v.Interface().(isZeroer); ok {
		return z.IsZero()
	}
	return v.IsZero()
}

// ---------------------------------------------------------------------------
// Encoding

// encoder writes elements for contract values. Errors name the field path
// and never quote values.
type encoder struct {
	buf   *bytes.Buffer
	depth int
}

// fields writes the elements of struct v, in declaration order.
func (e *encoder) fields(v reflect.Value, path string) error {
	si := fieldsOf(v.Type())
	if si.err != nil {
		return si.err
	}
	e.depth++
	defer func() { e.depth-- }()
	if e.depth > MaxDepth-envelopeDepth {
		return fieldErrf(path, "value nests deeper than %d elements", MaxDepth-envelopeDepth)
	}
	for i := range si.fields {
		f := &si.fields[i]
		fv := fieldByIndex(v, f.index)
		if f.omitEmp && isEmpty(fv) || f.omitZero && isZero(fv) {
			continue
		}
		if err := e.element(f.name, fv, join(path, f.name)); err != nil {
			return err
		}
	}
	return nil
}

// element writes v as one element named name, or as one sibling element
// per item when v is a list. A nil pointer writes nothing.
func (e *encoder) element(name string, v reflect.Value, path string) error {
	t := v.Type()
	switch {
	case t == rawMessageType:
		raw := v.Bytes()
		if len(raw) > 0 && !json.Valid(raw) {
			return fieldErrf(path, "not valid JSON")
		}
		return e.leaf(name, string(raw), path)
	case t == timeType:
		tm := v.Interface().(time.Time)
		if y := tm.Year(); y < 0 || y > 9999 {
			return fieldErrf(path, "year outside 0000..9999")
		}
		// Format would drop an offset's seconds (shifting the instant) or
		// write an hour the decoder refuses.
		if _, off := tm.Zone(); !rfc3339Offset(off) {
			return fieldErrf(path, "zone offset is not whole minutes under 24 hours, which RFC 3339 cannot carry")
		}
		return e.leaf(name, tm.Format(time.RFC3339Nano), path)
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		if t.Elem().Kind() == reflect.Pointer || t.Elem().Kind() == reflect.Slice && t.Elem() != rawMessageType && t.Elem().Elem().Kind() != reflect.Uint8 {
			return fieldErrf(path, "unsupported type %s", t)
		}
		return e.element(name, v.Elem(), path)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return e.leaf(name, base64.StdEncoding.EncodeToString(v.Bytes()), path)
		}
		if k := t.Elem().Kind(); k == reflect.Slice && t.Elem().Elem().Kind() != reflect.Uint8 {
			return fieldErrf(path, "unsupported type %s (a list of lists)", t)
		}
		for i := range v.Len() {
			item := v.Index(i)
			if item.Kind() == reflect.Pointer && item.IsNil() {
				return fieldErrf(fmt.Sprintf("%s[%d]", path, i), "nil item in a list")
			}
			if err := e.element(name, item, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Struct:
		e.buf.WriteString("<" + name + ">")
		if err := e.fields(v, path); err != nil {
			return err
		}
		e.buf.WriteString("</" + name + ">")
		return nil
	case reflect.String:
		return e.leaf(name, v.String(), path)
	case reflect.Bool:
		return e.leaf(name, strconv.FormatBool(v.Bool()), path)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return e.leaf(name, strconv.FormatInt(v.Int(), 10), path)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return e.leaf(name, strconv.FormatUint(v.Uint(), 10), path)
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fieldErrf(path, "not a finite number")
		}
		return e.leaf(name, strconv.FormatFloat(f, 'g', -1, t.Bits()), path)
	}
	return fieldErrf(path, "unsupported type %s", t)
}

// rfc3339Offset reports whether a zone offset in seconds east of UTC is
// one RFC 3339 can write exactly: whole minutes, under 24 hours either way.
func rfc3339Offset(off int) bool {
	return off%60 == 0 && off > -24*3600 && off < 24*3600
}

// leaf writes <name>text</name>, escaping text.
func (e *encoder) leaf(name, text, path string) error {
	e.buf.WriteString("<" + name + ">")
	if err := escapeText(e.buf, text); err != nil {
		return &fieldError{path: path, err: err}
	}
	e.buf.WriteString("</" + name + ">")
	return nil
}

// fieldError is an encoding failure at one field of the message: path
// names it by the contract's JSON names ("" for the message itself), err
// says what is wrong without quoting the value.
type fieldError struct {
	path string
	err  error
}

func (e *fieldError) Error() string { return orRoot(e.path) + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// fieldErrf returns a *fieldError at path with a formatted cause.
func fieldErrf(path, format string, args ...any) error {
	return &fieldError{path: path, err: fmt.Errorf(format, args...)}
}

// errBadChar is the cause when a string holds a character XML 1.0 cannot
// carry (most control characters, invalid UTF-8).
var errBadChar = errors.New("holds a character XML 1.0 cannot carry (control character or invalid UTF-8)")

// escapeText writes s as element text: &, < and > as entities and CR as a
// character reference, so that a parser returns exactly s. It fails when s
// holds a character XML 1.0 cannot carry.
func escapeText(b *bytes.Buffer, s string) error {
	last := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch {
		case r == utf8.RuneError && size == 1:
			return errBadChar
		case !xmlChar(r):
			return errBadChar
		case r == '&':
			esc = "&amp;"
		case r == '<':
			esc = "&lt;"
		case r == '>':
			esc = "&gt;"
		case r == '\r':
			esc = "&#xD;"
		}
		if esc != "" {
			b.WriteString(s[last:i])
			b.WriteString(esc)
			last = i + size
		}
		i += size
	}
	b.WriteString(s[last:])
	return nil
}

// escapeAttr returns s escaped for a double-quoted attribute value.
func escapeAttr(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '"':
			b.WriteString("&quot;")
		case '\t':
			b.WriteString("&#x9;")
		case '\n':
			b.WriteString("&#xA;")
		case '\r':
			b.WriteString("&#xD;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// xmlChar reports whether XML 1.0 allows r in a document.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// ---------------------------------------------------------------------------
// Parsing

// node is one element of a parsed document.
type node struct {
	name  xml.Name
	attrs []xml.Attr // namespace declarations excluded
	kids  []*node
	text  []byte // character data (CDATA included), concatenated
}

// hasText reports whether the element holds character data other than
// whitespace.
func (n *node) hasText() bool {
	return len(bytes.TrimLeft(n.text, " \t\r\n")) > 0
}

// invalid returns a *contracts.FieldError with code invalid_json: the body
// is not the XML it should be.
func invalid(path, msg string) *contracts.FieldError {
	return &contracts.FieldError{Field: path, Code: contracts.CodeInvalidJSON, Message: msg}
}

// parseDocument parses raw into an element tree: UTF-8 XML 1.0 with one
// root element, an optional byte order mark and XML declaration, comments
// and whitespace.
// DOCTYPE and every other declaration, processing instructions other than
// the XML declaration, undefined entities, nesting deeper than MaxDepth,
// more than MaxElements elements and more than MaxAttributes attributes on
// one element are errors. Errors are *contracts.FieldError values with code
// invalid_json that never quote the input.
func parseDocument(raw []byte) (*node, error) {
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark, as some stacks write
	d := xml.NewDecoder(bytes.NewReader(raw))
	d.Strict = true
	var (
		root     *node
		stack    []*node
		elements int
		sawDecl  bool
		tokens   int
	)
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			var syn *xml.SyntaxError
			if errors.As(err, &syn) {
				return nil, invalid("", fmt.Sprintf("not well-formed XML (line %d)", syn.Line))
			}
			if strings.Contains(err.Error(), "CharsetReader") {
				return nil, invalid("", "XML must be encoded in UTF-8")
			}
			return nil, invalid("", "not well-formed XML")
		}
		tokens++
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, invalid("", "more than one root element")
			}
			elements++
			if elements > MaxElements {
				return nil, invalid("", fmt.Sprintf("more than %d elements", MaxElements))
			}
			if len(stack) >= MaxDepth {
				return nil, invalid("", fmt.Sprintf("elements nest deeper than %d", MaxDepth))
			}
			if len(t.Attr) > MaxAttributes {
				return nil, invalid("", fmt.Sprintf("an element has more than %d attributes", MaxAttributes))
			}
			n := &node{name: t.Name}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
					continue
				}
				n.attrs = append(n.attrs, a)
			}
			if len(stack) == 0 {
				root = n
			} else {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimLeft(t, " \t\r\n")) > 0 {
					return nil, invalid("", "text outside the root element")
				}
				continue
			}
			p := stack[len(stack)-1]
			p.text = append(p.text, t...)
		case xml.Comment:
			// Comments carry nothing.
		case xml.ProcInst:
			if t.Target != "xml" || sawDecl || tokens != 1 {
				return nil, invalid("", "processing instructions are not allowed")
			}
			sawDecl = true
		case xml.Directive:
			return nil, invalid("", "DOCTYPE and other declarations are not allowed")
		}
	}
	if root == nil {
		return nil, invalid("", "no root element")
	}
	if len(stack) != 0 {
		return nil, invalid("", "truncated XML")
	}
	return root, nil
}

// ---------------------------------------------------------------------------
// Decoding

// decoder decodes element trees into contract values. Element names must
// be in namespace ns or in no namespace.
type decoder struct {
	ns   string
	root string // what errors call the message itself, e.g. "DeliverCase"
}

// at returns path, or the message's name when path is empty.
func (d *decoder) at(path string) string {
	if path == "" {
		return d.root
	}
	return path
}

// decodeStruct decodes the children of n into struct v strictly: every
// child must name a field, a field that is not a list may appear once,
// every field that is not optional must appear, and n may hold no text
// and no attributes. path is the field path of n ("" for the message).
func (d *decoder) decodeStruct(n *node, v reflect.Value, path string) error {
	si := fieldsOf(v.Type())
	if si.err != nil {
		return si.err
	}
	if n.hasText() {
		return invalid(d.at(path), "holds text where elements are expected")
	}
	if len(n.attrs) > 0 {
		return invalid(d.at(path), "unexpected attribute")
	}
	seen := make([]int, len(si.fields))
	for _, k := range n.kids {
		if k.name.Space != d.ns && k.name.Space != "" {
			return invalid(join(path, safeName(k.name.Local)), "element is in another namespace")
		}
		i, ok := si.byName[k.name.Local]
		if !ok {
			return invalid(d.at(path), "unknown element"+quoteName(k.name.Local))
		}
		f := &si.fields[i]
		fv := fieldByIndex(v, f.index)
		fpath := join(path, f.name)
		if isList(f.typ) {
			item := reflect.New(f.typ.Elem()).Elem()
			if err := d.decodeValue(k, item, fmt.Sprintf("%s[%d]", fpath, fv.Len())); err != nil {
				return err
			}
			fv.Set(reflect.Append(fv, item))
			seen[i]++
			continue
		}
		if seen[i] > 0 {
			return invalid(fpath, "element appears more than once")
		}
		seen[i]++
		if err := d.decodeValue(k, fv, fpath); err != nil {
			return err
		}
	}
	for i := range si.fields {
		f := &si.fields[i]
		if seen[i] == 0 && !f.optional() {
			return &contracts.FieldError{Field: join(path, f.name), Code: contracts.CodeValidationFailed, Message: "required element is missing"}
		}
	}
	return nil
}

// isList reports whether t is a list: a slice other than bytes.
func isList(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8
}

// decodeValue decodes element n into v (one item, for a list).
func (d *decoder) decodeValue(n *node, v reflect.Value, path string) error {
	t := v.Type()
	if t.Kind() == reflect.Pointer {
		p := reflect.New(t.Elem())
		if err := d.decodeValue(n, p.Elem(), path); err != nil {
			return err
		}
		v.Set(p)
		return nil
	}
	if t.Kind() == reflect.Struct && t != timeType {
		return d.decodeStruct(n, v, path)
	}
	if len(n.kids) > 0 {
		return invalid(path, "holds elements where text is expected")
	}
	if len(n.attrs) > 0 {
		return invalid(path, "unexpected attribute")
	}
	s := string(n.text)
	switch {
	case t == rawMessageType:
		if s == "" {
			v.SetBytes(nil)
			return nil
		}
		if !json.Valid(n.text) {
			return invalid(path, "not valid JSON text")
		}
		v.SetBytes(append(json.RawMessage(nil), n.text...))
		return nil
	case t == timeType:
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return invalid(path, "not an RFC 3339 date-time")
		}
		// time.Parse reads offsets of +24:00 and +23:60, which RFC 3339
		// forbids and neither this codec nor encoding/json writes back.
		if _, off := tm.Zone(); !rfc3339Offset(off) {
			return invalid(path, "not an RFC 3339 date-time (zone offset out of range)")
		}
		v.Set(reflect.ValueOf(tm))
		return nil
	}
	switch t.Kind() {
	case reflect.Slice:
		if t.Elem().Kind() != reflect.Uint8 {
			return fmt.Errorf("%s: unsupported type %s", path, t)
		}
		if s == "" {
			v.SetBytes(nil)
			return nil
		}
		b, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil {
			return invalid(path, "not standard base64")
		}
		v.SetBytes(b)
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		switch s {
		case "true", "1":
			v.SetBool(true)
		case "false", "0":
			v.SetBool(false)
		default:
			return invalid(path, "not a boolean (true or false)")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(s, 10, t.Bits())
		if err != nil || strconv.FormatInt(i, 10) != s {
			return invalid(path, "not an integer in canonical decimal form, or out of range")
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(s, 10, t.Bits())
		if err != nil || strconv.FormatUint(u, 10) != s {
			return invalid(path, "not a non-negative integer in canonical decimal form, or out of range")
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, t.Bits())
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(s, " _xXpP") {
			return invalid(path, "not a finite decimal number")
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("%s: unsupported type %s", path, t)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Paths and names in errors

// join appends name to a field path.
func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// orRoot names the message itself when path is empty.
func orRoot(path string) string {
	if path == "" {
		return "(message)"
	}
	return path
}

// safeName returns an element name from the input for use in an error
// message: as it is when it is a short name without digits and without a
// run of more than four capitals (so that it cannot be an id number or a
// credit code), else "?".
func safeName(s string) string {
	if len(s) > 64 || s == "" || strings.ContainsAny(s, "0123456789") || !validName(s) {
		return "?"
	}
	run := 0
	for _, r := range s {
		if r >= 'A' && r <= 'Z' {
			run++
			if run > 4 {
				return "?"
			}
		} else {
			run = 0
		}
	}
	return s
}

// quoteName returns " <name>" for an element name from the input, or ""
// when safeName refuses it.
func quoteName(s string) string {
	if n := safeName(s); n != "?" {
		return " <" + n + ">"
	}
	return ""
}
