package mappedjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// Bounds on a configured mapping.
const (
	// MaxMappingDepth bounds the nesting of one mapping (objects and
	// arrays of the partner's JSON).
	MaxMappingDepth = 16
	// MaxMappingEntries bounds the number of partner keys in one config.
	MaxMappingEntries = 2000
	// maxKeyLen bounds one partner key.
	maxKeyLen = 128
)

// entryKind says what a mapping entry declares.
type entryKind int

const (
	eExpr     entryKind = iota // a contract field, possibly filtered
	eObject                    // the partner's nesting
	eEach                      // an array
	eConst                     // a constant
	eTemplate                  // a one-way template
)

// mapping is one object of the partner's JSON: its keys in order and what
// each holds.
type mapping struct {
	entries []*entry
	index   map[string]*entry
}

type entry struct {
	key   string
	kind  entryKind
	expr  *expr
	obj   *mapping
	each  *eachSpec
	konst any // string, json.Number or bool
	tmpl  *template
}

// expr is a contract field path relative to the current scope ("" is the
// scope itself), with at most one filter.
type expr struct {
	src    string   // as configured, for errors
	path   []string // nil for "."
	node   *typeNode
	filter filter
}

// eachSpec maps a contract array to a partner array, element by element.
type eachSpec struct {
	path []string
	node *typeNode // the array
	item *entry    // eObject or eExpr, relative to the element
}

// template is a one-way string: literal text and {{expressions}}.
type template struct {
	parts []tmplPart
}

type tmplPart struct {
	lit  string
	expr *expr // nil for literal text
}

// compiler compiles a config's mappings.
type compiler struct {
	tables  map[string]*table
	zone    *time.Location
	entries int
}

// message is one compiled mapping of a contract message: the partner's
// JSON for one contract type, serving both directions.
type message struct {
	root    *mapping
	node    *typeNode
	targets []string // contract paths decoding sets, array elements as "path[]"
	arrays  []string // contract arrays mapped element by element ($each)
}

// compileMessage compiles the mapping raw (cfgPath names it in errors) of
// the contract type typ.
func (c *compiler) compileMessage(cfgPath string, raw json.RawMessage, typ reflect.Type) (*message, error) {
	if len(strings.TrimSpace(string(raw))) == 0 || string(raw) == "null" {
		return nil, fmt.Errorf("%s is required", cfgPath)
	}
	v, err := parseJSON(raw, 2*MaxMappingDepth+4) // deeper mappings fail below, named
	if err != nil {
		var dup *dupKeyError
		if errors.As(err, &dup) {
			return nil, fmt.Errorf("%s: key %q appears twice", cfgPath, dup.Key)
		}
		return nil, fmt.Errorf("%s: %w", cfgPath, err)
	}
	m := &message{node: schemaOf(typ)}
	sc := &scope{all: &m.targets, arrays: &m.arrays}
	if m.root, err = c.compileMapping(cfgPath, v, m.node, "", 0, sc); err != nil {
		return nil, err
	}
	if err := sc.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", cfgPath, err)
	}
	return m, nil
}

// scope collects what decoding sets within one contract scope (the message,
// or one array element), to refuse two keys that set the same field.
type scope struct {
	prefix  string // absolute contract path of the scope, "" for the message
	targets []target
	all     *[]string // every target of the message, absolute
	arrays  *[]string // every $each array of the message, absolute
}

type target struct {
	path   string // relative to the scope, "" for the scope itself
	cfgKey string
}

func (s *scope) add(path, cfgKey string) {
	s.targets = append(s.targets, target{path, cfgKey})
	*s.all = append(*s.all, s.abs(path))
}

// addArray records a $each array: it conflicts like a target, but only
// its elements' mappings set fields.
func (s *scope) addArray(path, cfgKey string) {
	s.targets = append(s.targets, target{path, cfgKey})
	*s.arrays = append(*s.arrays, s.abs(path))
}

func (s *scope) abs(path string) string {
	switch {
	case path == "":
		return s.prefix
	case s.prefix == "":
		return path
	}
	return s.prefix + "." + path
}

func (s *scope) child(prefix string) *scope {
	return &scope{prefix: prefix, all: s.all, arrays: s.arrays}
}

// check refuses two decoding targets of which one contains the other.
func (s *scope) check() error {
	for i, a := range s.targets {
		for _, b := range s.targets[i+1:] {
			if overlaps(a.path, b.path) {
				what := "the same contract field"
				if a.path != b.path {
					what = "overlapping contract fields"
				}
				return fmt.Errorf("%s and %s read back into %s (%s, %s); map a field once, or use a one-way template for copies",
					a.cfgKey, b.cfgKey, what, orDot(a.path), orDot(b.path))
			}
		}
	}
	return nil
}

func orDot(p string) string {
	if p == "" {
		return "."
	}
	return p
}

func overlaps(a, b string) bool {
	return a == "" || b == "" || a == b || strings.HasPrefix(a, b+".") || strings.HasPrefix(b, a+".")
}

// compileMapping compiles a mapping object v for contract scope node.
func (c *compiler) compileMapping(cfgPath string, v any, node *typeNode, scopePath string, depth int, sc *scope) (*mapping, error) {
	if depth >= MaxMappingDepth {
		return nil, fmt.Errorf("%s: mapping is nested deeper than %d levels", cfgPath, MaxMappingDepth)
	}
	o, ok := v.(*object)
	if !ok {
		return nil, fmt.Errorf("%s must be an object of partner field → contract field", cfgPath)
	}
	m := &mapping{index: map[string]*entry{}}
	for _, key := range o.keys {
		kp := cfgPath + "." + key
		if err := checkKey(key); err != nil {
			return nil, fmt.Errorf("%s: %w", kp, err)
		}
		c.entries++
		if c.entries > MaxMappingEntries {
			return nil, fmt.Errorf("%s: the config maps more than %d partner fields", kp, MaxMappingEntries)
		}
		e, err := c.compileEntry(kp, key, o.vals[key], node, scopePath, depth, sc)
		if err != nil {
			return nil, err
		}
		m.entries = append(m.entries, e)
		m.index[key] = e
	}
	return m, nil
}

func checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("partner field name is empty")
	case strings.HasPrefix(key, "$"):
		return fmt.Errorf("partner field name %q starts with $, which is reserved ($each, $item)", key)
	case len(key) > maxKeyLen:
		return fmt.Errorf("partner field name is longer than %d bytes", maxKeyLen)
	case !utf8.ValidString(key) || strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errors.New("partner field name holds control characters or invalid UTF-8")
	}
	return nil
}

// compileEntry compiles what one partner key holds.
func (c *compiler) compileEntry(cfgPath, key string, v any, node *typeNode, scopePath string, depth int, sc *scope) (*entry, error) {
	e := &entry{key: key}
	switch t := v.(type) {
	case string:
		switch {
		case strings.HasPrefix(t, "="):
			e.kind, e.konst = eConst, t[1:]
		case strings.Contains(t, "{{"):
			tm, err := c.compileTemplate(t, node)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", cfgPath, err)
			}
			e.kind, e.tmpl = eTemplate, tm
		default:
			x, err := c.compileExpr(t, node)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", cfgPath, err)
			}
			e.kind, e.expr = eExpr, x
			sc.add(strings.Join(x.path, "."), cfgPath)
		}
	case json.Number, bool:
		e.kind, e.konst = eConst, t
	case *object:
		if _, isEach := t.get("$each"); isEach {
			each, err := c.compileEach(cfgPath, t, node, scopePath, depth, sc)
			if err != nil {
				return nil, err
			}
			e.kind, e.each = eEach, each
			break
		}
		if _, stray := t.get("$item"); stray {
			return nil, fmt.Errorf("%s: $item without $each", cfgPath)
		}
		sub, err := c.compileMapping(cfgPath, t, node, scopePath, depth+1, sc)
		if err != nil {
			return nil, err
		}
		e.kind, e.obj = eObject, sub
	default:
		return nil, fmt.Errorf("%s must be a contract field path, a \"=constant\", a {{template}}, a number or boolean constant, a nested object or a {\"$each\", \"$item\"} array", cfgPath)
	}
	return e, nil
}

// compileEach compiles {"$each": "path", "$item": ...}.
func (c *compiler) compileEach(cfgPath string, o *object, node *typeNode, scopePath string, depth int, sc *scope) (*eachSpec, error) {
	if depth+1 >= MaxMappingDepth {
		return nil, fmt.Errorf("%s: mapping is nested deeper than %d levels", cfgPath, MaxMappingDepth)
	}
	for _, k := range o.keys {
		if k != "$each" && k != "$item" {
			return nil, fmt.Errorf("%s: an array mapping holds only $each and $item, not %q", cfgPath, k)
		}
	}
	src, ok := o.vals["$each"].(string)
	if !ok || strings.TrimSpace(src) == "" {
		return nil, fmt.Errorf("%s.$each must be the path of a contract array", cfgPath)
	}
	src = strings.TrimSpace(src)
	if strings.Contains(src, "|") {
		return nil, fmt.Errorf("%s.$each takes no filter; put filters in $item", cfgPath)
	}
	path, err := parsePath(src)
	if err != nil {
		return nil, fmt.Errorf("%s.$each: %w", cfgPath, err)
	}
	arr, err := node.resolve(path)
	if err != nil {
		return nil, fmt.Errorf("%s.$each: %w", cfgPath, err)
	}
	if arr.kind != kArray {
		return nil, fmt.Errorf("%s.$each: %s is %s, not an array", cfgPath, src, arr.kind)
	}
	itemV, ok := o.get("$item")
	if !ok {
		return nil, fmt.Errorf("%s.$item is required", cfgPath)
	}
	elemScope := scopePath
	if elemScope != "" {
		elemScope += "."
	}
	elemScope += src + "[]"
	sc.addArray(src, cfgPath)
	isc := sc.child(elemScope)
	item := &entry{}
	switch t := itemV.(type) {
	case string:
		if strings.HasPrefix(t, "=") || strings.Contains(t, "{{") {
			return nil, fmt.Errorf("%s.$item must be a contract field path or an object, not a constant or template", cfgPath)
		}
		x, err := c.compileExpr(t, arr.elem)
		if err != nil {
			return nil, fmt.Errorf("%s.$item: %w", cfgPath, err)
		}
		item.kind, item.expr = eExpr, x
		isc.add(strings.Join(x.path, "."), cfgPath+".$item")
	case *object:
		if _, nested := t.get("$each"); nested {
			return nil, fmt.Errorf("%s.$item: an array of arrays is not supported", cfgPath)
		}
		sub, err := c.compileMapping(cfgPath+".$item", t, arr.elem, elemScope, depth+1, isc)
		if err != nil {
			return nil, err
		}
		item.kind, item.obj = eObject, sub
	default:
		return nil, fmt.Errorf("%s.$item must be a contract field path or an object", cfgPath)
	}
	if err := isc.check(); err != nil {
		return nil, fmt.Errorf("%s.$item: %w", cfgPath, err)
	}
	return &eachSpec{path: path, node: arr, item: item}, nil
}

// parsePath reads a dotted contract path; "." is the scope itself.
func parsePath(s string) ([]string, error) {
	if s == "." {
		return nil, nil
	}
	if s == "" {
		return nil, errors.New("empty contract field path")
	}
	parts := strings.Split(s, ".")
	for _, p := range parts {
		if p == "" || strings.ContainsAny(p, " \t{}[]|=") {
			return nil, fmt.Errorf("%q is not a contract field path (dotted JSON field names, or . for the element itself)", s)
		}
	}
	return parts, nil
}

// compileExpr compiles "path" or "path | filter" against scope node.
func (c *compiler) compileExpr(s string, node *typeNode) (*expr, error) {
	src := strings.TrimSpace(s)
	pathPart, rest, hasFilter := strings.Cut(src, "|")
	pathPart = strings.TrimSpace(pathPart)
	path, err := parsePath(pathPart)
	if err != nil {
		return nil, err
	}
	target, err := node.resolve(path)
	if err != nil {
		return nil, err
	}
	x := &expr{src: src, path: path, node: target}
	if hasFilter {
		if strings.Contains(rest, "|") {
			return nil, fmt.Errorf("%q has more than one filter; one is allowed", src)
		}
		if x.filter, err = compileFilter(strings.TrimSpace(rest), target, c); err != nil {
			return nil, fmt.Errorf("%s: %w", pathPart, err)
		}
	}
	return x, nil
}

// compileTemplate compiles a one-way template "text {{path | filter}} text".
func (c *compiler) compileTemplate(s string, node *typeNode) (*template, error) {
	t := &template{}
	rest := s
	for n := 0; rest != ""; n++ {
		if n > 64 {
			return nil, errors.New("template has too many parts")
		}
		open := strings.Index(rest, "{{")
		if open < 0 {
			if strings.Contains(rest, "}}") {
				return nil, errors.New("template has }} without {{")
			}
			t.parts = append(t.parts, tmplPart{lit: rest})
			break
		}
		if open > 0 {
			lit := rest[:open]
			if strings.Contains(lit, "}}") {
				return nil, errors.New("template has }} without {{")
			}
			t.parts = append(t.parts, tmplPart{lit: lit})
		}
		end := strings.Index(rest[open+2:], "}}")
		if end < 0 {
			return nil, errors.New("template has {{ without }}")
		}
		inner := rest[open+2 : open+2+end]
		if strings.Contains(inner, "{{") {
			return nil, errors.New("template placeholders cannot nest")
		}
		x, err := c.compileExpr(inner, node)
		if err != nil {
			return nil, fmt.Errorf("template: %w", err)
		}
		if !x.node.kind.scalar() && x.filter == nil {
			return nil, fmt.Errorf("template: %s is %s; a template needs text", x.src, x.node.kind)
		}
		t.parts = append(t.parts, tmplPart{expr: x})
		rest = rest[open+2+end+2:]
	}
	return t, nil
}

// ---- encoding: contract → partner ----

// encode renders contract value v (a contract type) as the partner's JSON
// object. Its errors name the contract field and never quote values.
func (m *message) encode(v any) (*object, error) {
	o, _, err := m.encodeSized(v)
	return o, err
}

// encodeSized is encode that also returns the length of v's contract
// JSON, a good guess of the partner JSON's.
func (m *message) encodeSized(v any) (*object, int, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot encode the %s: %w", m.node.typeName, err)
	}
	// The gateway's own value, not a partner's: the contract bounds its
	// arrays and the gateway its size; MaxArrayItems is for what partners
	// send (a form may well list more than that).
	tree, err := parseTrusted(raw, maxRenderDepth)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot encode the %s: %w", m.node.typeName, err)
	}
	o, err := m.root.encode(tree, "")
	return o, len(raw), err
}

// encodeBytes renders v as the partner's JSON bytes.
func (m *message) encodeBytes(v any) ([]byte, error) {
	o, size, err := m.encodeSized(v)
	if err != nil {
		return nil, err
	}
	return marshalJSONSize(o, size)
}

func joinPath(scope string, path []string) string {
	p := strings.Join(path, ".")
	switch {
	case scope == "":
		return orDot(p)
	case p == "":
		return scope
	}
	return scope + "." + p
}

// encodeError is a contract value a mapping cannot encode: path names
// the field by its JSON path in the contract message, err says why
// without quoting the value.
type encodeError struct {
	path string
	err  error
}

func (e *encodeError) Error() string { return e.path + " " + e.err.Error() }
func (e *encodeError) Unwrap() error { return e.err }

func (m *mapping) encode(scope any, scopePath string) (*object, error) {
	out := newObject()
	for _, e := range m.entries {
		switch e.kind {
		case eConst:
			out.set(e.key, e.konst)
		case eExpr:
			v, ok, err := e.expr.encode(scope)
			if err != nil {
				return nil, &encodeError{path: joinPath(scopePath, e.expr.path), err: err}
			}
			if ok {
				out.set(e.key, v)
			}
		case eTemplate:
			s, ok, err := e.tmpl.render(scope)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.key, err)
			}
			if ok {
				out.set(e.key, s)
			}
		case eObject:
			sub, err := e.obj.encode(scope, scopePath)
			if err != nil {
				return nil, err
			}
			if sub.len() > 0 {
				out.set(e.key, sub)
			}
		case eEach:
			arrPath := joinPath(scopePath, e.each.path)
			av, found := getPath(scope, e.each.path)
			if !found || av == nil {
				continue
			}
			arr, ok := av.([]any)
			if !ok {
				return nil, fmt.Errorf("%s is not an array", arrPath)
			}
			if len(arr) == 0 {
				continue
			}
			items := make([]any, 0, len(arr))
			for i, el := range arr {
				elPath := arrPath + "[" + strconv.Itoa(i) + "]"
				if e.each.item.kind == eObject {
					sub, err := e.each.item.obj.encode(el, elPath)
					if err != nil {
						return nil, err
					}
					items = append(items, sub)
					continue
				}
				v, ok, err := e.each.item.expr.encode(el)
				if err != nil {
					return nil, &encodeError{path: joinPath(elPath, e.each.item.expr.path), err: err}
				}
				if !ok {
					v = nil
				}
				items = append(items, v)
			}
			out.set(e.key, items)
		}
	}
	return out, nil
}

// encode returns the partner's value of x in scope, false when the contract
// field is absent or empty (null, "", [], the zero time).
func (x *expr) encode(scope any) (any, bool, error) {
	v, found := getPath(scope, x.path)
	if !found || isEmpty(v, x.node) {
		return nil, false, nil
	}
	if x.filter == nil {
		return v, true, nil
	}
	pv, err := x.filter.encode(v)
	if err != nil {
		return nil, false, err
	}
	return pv, true, nil
}

func isEmpty(v any, node *typeNode) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		if t == "" {
			return true
		}
		if node.kind == kTime {
			tm, err := time.Parse(time.RFC3339Nano, t)
			return err == nil && tm.IsZero()
		}
	case []any:
		return len(t) == 0
	}
	return false
}

// render fills the template from scope; false when a field it needs is
// absent.
func (t *template) render(scope any) (string, bool, error) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.expr == nil {
			b.WriteString(p.lit)
			continue
		}
		v, ok, err := p.expr.encode(scope)
		if err != nil {
			return "", false, fmt.Errorf("%s %w", p.expr.src, err)
		}
		if !ok {
			return "", false, nil
		}
		s, ok := scalarText(v)
		if !ok {
			return "", false, fmt.Errorf("%s is not text", p.expr.src)
		}
		b.WriteString(s)
	}
	return b.String(), true, nil
}

// ---- decoding: partner → contract ----

// decodeInto reads the partner's JSON value pv (already parsed, found at
// partner path at, "" for the body) into out, a pointer to the contract
// type. Every failure is a *contracts.FieldError whose Field is the
// partner's field path and whose Message never quotes a value.
func (m *message) decodeInto(pv any, at string, out any) error {
	h := &holder{}
	if err := m.root.decode(pv, at, h); err != nil {
		return err
	}
	if h.root == nil {
		h.root = newObject()
	}
	raw, err := marshalJSON(h.root)
	if err != nil {
		return &contracts.FieldError{Code: contracts.CodeInvalidJSON, Message: err.Error()}
	}
	if err := adapters.DecodeJSON(raw, out); err != nil {
		return &contracts.FieldError{Code: contracts.CodeInvalidJSON, Message: "the mapped message is not a valid " + m.node.typeName + ": " + err.Error()}
	}
	return nil
}

// holder builds the contract's JSON while decoding.
type holder struct{ root any }

func (h *holder) set(path []string, v any) error {
	if len(path) == 0 {
		if h.root != nil {
			return errors.New("a field is set twice")
		}
		h.root = v
		return nil
	}
	if h.root == nil {
		h.root = newObject()
	}
	o, ok := h.root.(*object)
	if !ok {
		return errors.New("a field is set twice")
	}
	return setPath(o, path, v)
}

func fieldPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func invalidJSON(field, msg string) *contracts.FieldError {
	return &contracts.FieldError{Field: field, Code: contracts.CodeInvalidJSON, Message: msg}
}

func invalidValue(field, msg string) *contracts.FieldError {
	return &contracts.FieldError{Field: field, Code: contracts.CodeValidationFailed, Message: msg}
}

func (m *mapping) decode(pv any, ppath string, h *holder) error {
	o, ok := pv.(*object)
	if !ok {
		if ppath == "" {
			return invalidJSON("", "body must be a JSON object")
		}
		return invalidJSON(ppath, "must be a JSON object")
	}
	for _, k := range o.keys {
		if _, known := m.index[k]; !known {
			if ppath == "" {
				return invalidJSON("", "the body has a field the mapping does not declare")
			}
			return invalidJSON(ppath, "has a field the mapping does not declare")
		}
	}
	for _, e := range m.entries {
		v, present := o.get(e.key)
		if !present || blank(v) {
			continue // absent, null, "" and [] read back as absent
		}
		fp := fieldPath(ppath, e.key)
		switch e.kind {
		case eConst:
			want, _ := scalarKey(e.konst)
			got, ok := scalarKey(v)
			if !ok || got != want {
				return invalidValue(fp, "must be "+describeScalar(e.konst))
			}
		case eTemplate:
			// One-way: written on encode, ignored on decode.
		case eExpr:
			cv, ok, err := e.expr.decode(v)
			if err != nil {
				return invalidValueOrType(fp, err)
			}
			if ok {
				if err := h.set(e.expr.path, cv); err != nil {
					return invalidValue(fp, err.Error())
				}
			}
		case eObject:
			if err := e.obj.decode(v, fp, h); err != nil {
				return err
			}
		case eEach:
			arr, ok := v.([]any)
			if !ok {
				return invalidJSON(fp, "must be a JSON array")
			}
			if len(arr) == 0 {
				continue
			}
			if len(arr) > MaxArrayItems {
				return invalidValue(fp, fmt.Sprintf("has more than %d items", MaxArrayItems))
			}
			items := make([]any, 0, len(arr))
			for i, el := range arr {
				ep := fp + "[" + strconv.Itoa(i) + "]"
				ih := &holder{}
				if e.each.item.kind == eObject {
					if err := e.each.item.obj.decode(el, ep, ih); err != nil {
						return err
					}
					if ih.root == nil && e.each.node.elem.kind == kObject {
						ih.root = newObject()
					}
				} else if el != nil {
					cv, ok, err := e.each.item.expr.decode(el)
					if err != nil {
						return invalidValueOrType(ep, err)
					}
					if ok {
						if err := ih.set(e.each.item.expr.path, cv); err != nil {
							return invalidValue(ep, err.Error())
						}
					}
				}
				items = append(items, ih.root)
			}
			if err := h.set(e.each.path, items); err != nil {
				return invalidValue(fp, err.Error())
			}
		}
	}
	return nil
}

// blank reports whether a partner's value reads back as absent: null, ""
// or an empty array (what many systems write for an empty object).
func blank(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case []any:
		return len(t) == 0
	}
	return false
}

// typeError marks a decoding failure that is about the JSON type rather
// than the value.
type typeError struct{ msg string }

func (e *typeError) Error() string { return e.msg }

func invalidValueOrType(field string, err error) *contracts.FieldError {
	var te *typeError
	if errors.As(err, &te) {
		return invalidJSON(field, te.msg)
	}
	return invalidValue(field, err.Error())
}

// decode returns the contract value of the partner's v; false when v is
// empty ("" or []), which reads back as absent.
func (x *expr) decode(v any) (any, bool, error) {
	switch t := v.(type) {
	case nil:
		return nil, false, nil
	case string:
		if t == "" {
			return nil, false, nil
		}
	case []any:
		if len(t) == 0 && x.filter == nil {
			return nil, false, nil
		}
	}
	if x.filter != nil {
		cv, err := x.filter.decode(v)
		if err != nil {
			return nil, false, err
		}
		return cv, true, nil
	}
	if err := checkKind(v, x.node); err != nil {
		if strings.HasPrefix(err.Error(), "has the wrong type") {
			return nil, false, &typeError{err.Error()}
		}
		return nil, false, err
	}
	return v, true, nil
}
