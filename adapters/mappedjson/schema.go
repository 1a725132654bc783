package mappedjson

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// kind is what a contract field holds, as far as mappings care.
type kind int

const (
	kString kind = iota // a string, or a string code (state, outcome, ...)
	kBool
	kInt
	kFloat
	kTime   // time.Time, RFC 3339 in the contract's JSON
	kBytes  // []byte, standard base64 in the contract's JSON
	kRaw    // json.RawMessage, any JSON value
	kObject // a struct
	kArray  // a slice of anything but bytes
)

func (k kind) String() string {
	switch k {
	case kString:
		return "a string"
	case kBool:
		return "a boolean"
	case kInt:
		return "an integer"
	case kFloat:
		return "a number"
	case kTime:
		return "a time"
	case kBytes:
		return "base64 bytes"
	case kRaw:
		return "a JSON value"
	case kObject:
		return "an object"
	case kArray:
		return "an array"
	}
	return "?"
}

// scalar reports whether a value of kind k is a JSON scalar.
func (k kind) scalar() bool { return k != kRaw && k != kObject && k != kArray }

// typeNode describes a contract type by its JSON field names.
type typeNode struct {
	kind     kind
	fields   map[string]*field // kObject
	order    []string          // kObject: fields in declaration order
	elem     *typeNode         // kArray
	typeName string
}

// field is one field of a contract struct.
type field struct {
	node     *typeNode
	optional bool // omitempty or omitzero: may be absent
}

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

// schemaOf describes t, a contract type. It panics on a field type the
// mapping language does not know, which only a change of package contracts
// could bring.
func schemaOf(t reflect.Type) *typeNode {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	n := &typeNode{typeName: t.String()}
	switch {
	case t == timeType:
		n.kind = kTime
	case t == rawType:
		n.kind = kRaw
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		n.kind = kBytes
	case t.Kind() == reflect.Slice:
		n.kind = kArray
		n.elem = schemaOf(t.Elem())
	case t.Kind() == reflect.Struct:
		n.kind = kObject
		n.fields = map[string]*field{}
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if name == "" {
				name = sf.Name
			}
			n.fields[name] = &field{
				node:     schemaOf(sf.Type),
				optional: strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(","+opts+",", ",omitzero,"),
			}
			n.order = append(n.order, name)
		}
	case t.Kind() == reflect.String:
		n.kind = kString
	case t.Kind() == reflect.Bool:
		n.kind = kBool
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		n.kind = kInt
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		n.kind = kFloat
	default:
		panic(fmt.Sprintf("mappedjson: contract type %s is not supported", t))
	}
	return n
}

// resolve returns the node a relative contract path (field names) leads
// to, or an error naming the first step that does not exist.
func (n *typeNode) resolve(path []string) (*typeNode, error) {
	cur := n
	for i, step := range path {
		if cur.kind != kObject {
			return nil, fmt.Errorf("%s is %s, it has no field %q", strings.Join(path[:i], "."), cur.kind, step)
		}
		f, ok := cur.fields[step]
		if !ok {
			where := strings.Join(path[:i], ".")
			if where == "" {
				where = cur.typeName
			}
			return nil, fmt.Errorf("%s has no field %q", where, step)
		}
		cur = f.node
	}
	return cur, nil
}

// requiredPaths lists the fields of n that its JSON always carries (not
// omitempty), descending into present objects and into optional ones only
// when touched reports that the mapping reaches into them. Array elements
// are written as "path[]".
func (n *typeNode) requiredPaths(prefix string, touched func(string) bool) []string {
	var out []string
	switch n.kind {
	case kObject:
		for _, name := range n.order {
			f := n.fields[name]
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			if !f.optional {
				if f.node.kind != kObject {
					out = append(out, p)
				}
				out = append(out, f.node.requiredPaths(p, touched)...)
			} else if touched(p) {
				out = append(out, f.node.requiredPaths(p, touched)...)
			}
		}
	case kArray:
		if n.elem.kind == kObject && touched(prefix) {
			out = append(out, n.elem.requiredPaths(prefix+"[]", touched)...)
		}
	}
	return out
}
