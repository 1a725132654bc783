package contracts_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi/datamodel"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"gopkg.in/yaml.v3"

	"github.com/tongban/tongban/contracts"
)

// These tests keep contracts/openapi.yaml and the Go wire types of package
// contracts from drifting apart:
//
//   - the embedded document parses as OpenAPI 3.1 with libopenapi;
//   - the v1 surface (paths, methods, webhooks) is all there;
//   - every exported struct type with json tags has a schema of the same
//     name whose properties, required list and property types match the
//     struct's fields (json name, omitempty/omitzero, Go type);
//   - every enumeration type has a schema of the same name with exactly its
//     constants as enum values. An enumeration type is an exported named
//     string type that has a Valid() bool method and at least one constant
//     (so validated scalars such as an id type without constants are not
//     enumerations), plus the types in extraEnums (Code, whose schema is
//     ErrorCode);
//   - ErrorCode lists exactly contracts.Codes, each documented with its
//     status;
//   - every request and response body references a schema that exists.

// extraEnums maps Go enumeration types that have no Valid method to the
// name of their schema.
var extraEnums = map[string]string{
	"Code": "ErrorCode", "LimitUnit": "LimitUnit", "CatalogueScope": "CatalogueScope",
	"FollowUpState": "FollowUpState", "BundleState": "BundleState",
}

// schemaName returns the schema name of a Go type.
func schemaName(goType string) string {
	if s, ok := extraEnums[goType]; ok {
		return s
	}
	return goType
}

var (
	modelOnce sync.Once
	model     *v3.Document
	modelErr  error
	specInfo  *datamodel.SpecInfo
)

// loadModel builds the libopenapi v3 model of the embedded spec once.
func loadModel(t *testing.T) *v3.Document {
	t.Helper()
	modelOnce.Do(func() {
		doc, err := libopenapi.NewDocument(contracts.OpenAPI)
		if err != nil {
			modelErr = fmt.Errorf("new document: %w", err)
			return
		}
		specInfo = doc.GetSpecInfo()
		m, err := doc.BuildV3Model()
		if err != nil {
			modelErr = fmt.Errorf("build v3 model: %w", err)
			return
		}
		if m == nil {
			modelErr = fmt.Errorf("build v3 model: no model")
			return
		}
		model = &m.Model
	})
	if modelErr != nil {
		t.Fatal(modelErr)
	}
	return model
}

func TestSpecParsesAsOpenAPI31(t *testing.T) {
	m := loadModel(t)
	if got := m.Version; !strings.HasPrefix(got, "3.1.") {
		t.Errorf("openapi version: got %q, want 3.1.x", got)
	}
	if got, want := specInfo.SpecFormat, datamodel.OAS31; got != want {
		t.Errorf("spec format: got %q, want %q", got, want)
	}
	if m.Info == nil || m.Info.Title == "" || m.Info.Version == "" {
		t.Errorf("info: got %+v, want a title and a version", m.Info)
	}
	if m.Components == nil || m.Components.SecuritySchemes == nil {
		t.Fatal("components.securitySchemes: missing")
	}
	bearer, ok := m.Components.SecuritySchemes.Get("bearerAuth")
	if !ok {
		t.Fatal("securitySchemes.bearerAuth: missing")
	}
	if got, want := bearer.Scheme, "bearer"; got != want {
		t.Errorf("bearerAuth scheme: got %q, want %q", got, want)
	}
	for _, word := range []string{"SM2", "kid", "iss", "sub", "aud", "exp", "iat", "jti"} {
		if !strings.Contains(bearer.Description, "`"+word+"`") {
			t.Errorf("bearerAuth description: does not document %s", word)
		}
	}
}

// TestSpecRefsResolve walks the raw YAML: every local $ref must name an
// existing component.
func TestSpecRefsResolve(t *testing.T) {
	var root map[string]any
	if err := yaml.Unmarshal(contracts.OpenAPI, &root); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if k == "$ref" {
					ref, _ := c.(string)
					if !resolves(root, ref) {
						t.Errorf("%s: $ref %q does not resolve", path, ref)
					}
					continue
				}
				walk(path+"/"+k, c)
			}
		case []any:
			for i, c := range v {
				walk(path+"/"+strconv.Itoa(i), c)
			}
		}
	}
	walk("#", root)
}

func resolves(root map[string]any, ref string) bool {
	if !strings.HasPrefix(ref, "#/") {
		return false
	}
	var cur any = root
	for _, p := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[p]; !ok {
			return false
		}
	}
	return true
}

func TestSpecPaths(t *testing.T) {
	m := loadModel(t)
	tests := []struct {
		path    string
		methods []string
	}{
		{"/v1/cases", []string{"post"}},
		{"/v1/bundles", []string{"post"}},
		{"/v1/cases/{case_id}", []string{"get"}},
		{"/v1/cases/{case_id}/status", []string{"post"}},
		{"/v1/cases/{case_id}/evaluation", []string{"post"}},
		{"/v1/cases/{case_id}/evaluation/reply", []string{"post"}},
		{"/v1/catalogue", []string{"get"}},
		{"/v1/licenses/verify", []string{"post"}},
		{"/v1/licenses/verify/batch", []string{"post"}},
		{"/v1/licenses/usage", []string{"get"}},
		{"/v1/audit/exchanges", []string{"get"}},
		{"/v1/audit/cases/{case_id}/trace", []string{"get"}},
		{"/v1/audit/verify", []string{"get"}},
		{"/v1/audit/cases/{case_id}/export", []string{"get"}},
		{"/v1/admin/deliveries", []string{"get"}},
		{"/v1/admin/deliveries/{delivery_id}/redeliver", []string{"post"}},
		{"/v1/admin/partners/{partner_id}/redeliver", []string{"post"}},
		{"/v1/admin/partners", []string{"get"}},
		{"/v1/admin/keys", []string{"get", "post"}},
		{"/v1/admin/keys/{caller}/{key_id}", []string{"delete"}},
		{"/v1/admin/reload", []string{"post"}},
		{"/v1/admin/stats", []string{"get"}},
		{"/v1/inbound/{partner_id}", []string{"post"}},
		{"/v1/inbound/{partner_id}/{operation}", []string{"post"}},
		{"/v1/mailbox", []string{"get"}},
		{"/v1/mailbox/ack", []string{"post"}},
		{"/v1/openapi.yaml", []string{"get"}},
		{"/healthz", []string{"get"}},
		{"/readyz", []string{"get"}},
		{"/metrics", []string{"get"}},
	}
	if m.Paths == nil {
		t.Fatal("paths: missing")
	}
	want := map[string]bool{}
	for _, tt := range tests {
		want[tt.path] = true
		t.Run(tt.path, func(t *testing.T) {
			item, ok := m.Paths.PathItems.Get(tt.path)
			if !ok {
				t.Fatalf("path %s: missing", tt.path)
			}
			if got := methods(item); !slices.Equal(got, tt.methods) {
				t.Errorf("methods of %s: got %v, want %v", tt.path, got, tt.methods)
			}
		})
	}
	for p := range m.Paths.PathItems.KeysFromOldest() {
		if !want[p] {
			t.Errorf("path %s: in the spec but not in this table; add it", p)
		}
	}
}

func TestSpecWebhooks(t *testing.T) {
	m := loadModel(t)
	tests := []struct {
		name      string
		request   string
		response  string
		urlSuffix string
	}{
		{"partnerCase", "CaseDelivery", "Ack", "{endpoint}/cases)"},
		{"partnerStatus", "StatusDelivery", "Ack", "{endpoint}/cases/{case_id}/status)"},
		{"partnerNotice", "NoticeDelivery", "Ack", "{endpoint}/notices)"},
		{"partnerLicenseLookup", "LicenseLookupRequest", "LicenseLookupResponse", "{endpoint}/licenses/lookup)"},
		{"partnerUsageRecord", "UsageRecordDelivery", "Ack", "{endpoint}/licenses/usage)"},
		{"partnerUsageRecordBatch", "UsageRecordBatch", "UsageBatchAck", "{endpoint}/licenses/usage/batch)"},
	}
	if m.Webhooks == nil {
		t.Fatal("webhooks: missing")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			item, ok := m.Webhooks.Get(tt.name)
			if !ok {
				t.Fatalf("webhook %s: missing", tt.name)
			}
			if got, want := methods(item), []string{"post"}; !slices.Equal(got, want) {
				t.Fatalf("methods: got %v, want %v", got, want)
			}
			op := item.Post
			if !strings.HasSuffix(op.Summary, tt.urlSuffix) {
				t.Errorf("summary: got %q, want it to name %s", op.Summary, tt.urlSuffix)
			}
			if got := refName(op.RequestBody.Content.GetOrZero("application/json").Schema); got != tt.request {
				t.Errorf("request schema: got %q, want %q", got, tt.request)
			}
			ok200, _ := op.Responses.Codes.Get("200")
			if ok200 == nil {
				t.Fatal("response 200: missing")
			}
			if got := refName(ok200.Content.GetOrZero("application/json").Schema); got != tt.response {
				t.Errorf("response schema: got %q, want %q", got, tt.response)
			}
			for _, h := range []string{"Gw-Signature", "Gw-Key-Id"} {
				if _, ok := ok200.Headers.Get(h); !ok {
					t.Errorf("response 200: header %s not documented", h)
				}
			}
		})
	}
}

func methods(item *v3.PathItem) []string {
	var got []string
	for k := range item.GetOperations().KeysFromOldest() {
		got = append(got, strings.ToLower(k))
	}
	sort.Strings(got)
	return got
}

// operation is one operation of the spec, under paths or webhooks.
type operation struct {
	name   string // "POST /v1/cases" or "webhook partnerCase"
	public bool   // under paths and security: []
	hook   bool
	op     *v3.Operation
}

func operations(t *testing.T) []operation {
	m := loadModel(t)
	var ops []operation
	for p, item := range m.Paths.PathItems.FromOldest() {
		for meth, op := range item.GetOperations().FromOldest() {
			ops = append(ops, operation{
				name:   strings.ToUpper(meth) + " " + p,
				public: op.Security != nil && len(op.Security) == 0,
				op:     op,
			})
		}
	}
	for name, item := range m.Webhooks.FromOldest() {
		for _, op := range item.GetOperations().FromOldest() {
			ops = append(ops, operation{name: "webhook " + name, hook: true, op: op})
		}
	}
	return ops
}

// TestSpecBodiesReferenceSchemas checks that every request and response
// body of every operation names a component schema that exists: responses
// by a plain $ref, requests by a $ref or an allOf that starts with one.
func TestSpecBodiesReferenceSchemas(t *testing.T) {
	m := loadModel(t)
	for _, o := range operations(t) {
		t.Run(o.name, func(t *testing.T) {
			if o.op.OperationId == "" {
				t.Error("operationId: missing")
			}
			if rb := o.op.RequestBody; rb != nil {
				for mt, media := range rb.Content.FromOldest() {
					name := refName(media.Schema)
					if name == "" {
						t.Errorf("request %s: schema is not a component $ref", mt)
					} else if _, ok := m.Components.Schemas.Get(name); !ok {
						t.Errorf("request %s: schema %q does not exist", mt, name)
					}
				}
			}
			if o.op.Responses == nil || o.op.Responses.Codes == nil || o.op.Responses.Codes.Len() == 0 {
				t.Fatal("responses: none")
			}
			check := func(code string, r *v3.Response) {
				if r.Content == nil || r.Content.Len() == 0 {
					t.Errorf("response %s: no body", code)
					return
				}
				for mt, media := range r.Content.FromOldest() {
					if media.Schema == nil || !media.Schema.IsReference() {
						t.Errorf("response %s %s: schema is not a $ref", code, mt)
						continue
					}
					name := refName(media.Schema)
					if _, ok := m.Components.Schemas.Get(name); !ok {
						t.Errorf("response %s %s: schema %q does not exist", code, mt, name)
					}
					// A partner's native calls are refused in its own
					// format (NativeBody); every other refusal is an Error.
					native := strings.HasPrefix(o.op.OperationId, "callNative")
					if strings.HasPrefix(code, "4") || strings.HasPrefix(code, "5") || code == "default" && native {
						if name != "Error" && name != "Health" && !(native && name == "NativeBody") {
							t.Errorf("response %s: got schema %q, want Error", code, name)
						}
					}
				}
			}
			for code, r := range o.op.Responses.Codes.FromOldest() {
				check(code, r)
			}
			if o.op.Responses.Default != nil {
				check("default", o.op.Responses.Default)
			}
		})
	}
}

// TestSpecRolesAndSignatures checks that every operation lists its roles
// (x-roles, a subset of Role), that only public operations have none, and
// that every request with a body requires Gw-Signature and Gw-Key-Id.
func TestSpecRolesAndSignatures(t *testing.T) {
	for _, o := range operations(t) {
		t.Run(o.name, func(t *testing.T) {
			if !o.hook {
				node, ok := o.op.Extensions.Get("x-roles")
				if !ok {
					t.Fatal("x-roles: missing")
				}
				var roles []string
				if err := node.Decode(&roles); err != nil {
					t.Fatalf("x-roles: %v", err)
				}
				for _, r := range roles {
					if !contracts.Role(r).Valid() {
						t.Errorf("x-roles: %q is not a Role", r)
					}
				}
				if got, want := len(roles) == 0, o.public; got != want {
					t.Errorf("x-roles %v with security [] = %v: want roles exactly when not public", roles, o.public)
				}
			}
			if o.op.RequestBody == nil {
				return
			}
			have := map[string]bool{}
			for _, p := range o.op.Parameters {
				if p.In == "header" && p.Required != nil && *p.Required {
					have[p.Name] = true
				}
			}
			for _, h := range []string{"Gw-Signature", "Gw-Key-Id"} {
				if !have[h] {
					t.Errorf("request with a body: required header %s missing", h)
				}
			}
		})
	}
}

func TestSpecConstraints(t *testing.T) {
	m := loadModel(t)
	schema := func(name string) *base.Schema {
		t.Helper()
		p, ok := m.Components.Schemas.Get(name)
		if !ok {
			t.Fatalf("schema %s: missing", name)
		}
		return p.Schema()
	}
	prop := func(schemaName, prop string) *base.Schema {
		t.Helper()
		p, ok := schema(schemaName).Properties.Get(prop)
		if !ok {
			t.Fatalf("%s.%s: missing", schemaName, prop)
		}
		return resolved(p)
	}
	i64 := func(p *int64) string {
		if p == nil {
			return "none"
		}
		return strconv.FormatInt(*p, 10)
	}
	tests := []struct {
		what      string
		got, want string
	}{
		{"Region pattern", schema("Region").Pattern, `^[0-9]{6}$`},
		{"CaseSubmission.from_region pattern", prop("CaseSubmission", "from_region").Pattern, `^[0-9]{6}$`},
		{"SM3 pattern", schema("SM3").Pattern, `^[0-9a-f]{64}$`},
		{"Receipt.body_sm3 pattern", prop("Receipt", "body_sm3").Pattern, `^[0-9a-f]{64}$`},
		{"UUID format", schema("UUID").Format, "uuid"},
		{"CaseSubmission.exchange_id format", prop("CaseSubmission", "exchange_id").Format, "uuid"},
		{"Purpose maxLength", i64(schema("Purpose").MaxLength), "200"},
		{"LicenseVerifyRequest.purpose maxLength", i64(prop("LicenseVerifyRequest", "purpose").MaxLength), "200"},
		{"BatchVerifyRequest.purpose maxLength", i64(prop("BatchVerifyRequest", "purpose").MaxLength), "200"},
		{"BatchVerifyRequest.items maxItems", i64(prop("BatchVerifyRequest", "items").MaxItems), "100"},
		{"BatchVerifyRequest.items minItems", i64(prop("BatchVerifyRequest", "items").MinItems), "1"},
		{"HolderType enum", fmt.Sprint(enumValues(schema("HolderType"))), fmt.Sprint([]string{"111", "001"})},
		{"ChainVerifyResult.first_bad_seq type", fmt.Sprint(prop("ChainVerifyResult", "first_bad_seq").Type), "[integer null]"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.what, tt.got, tt.want)
		}
	}
}

// TestErrorCodeSchema checks that ErrorCode enumerates exactly
// contracts.Codes, in order, and documents each with its status and
// meaning.
func TestErrorCodeSchema(t *testing.T) {
	m := loadModel(t)
	p, ok := m.Components.Schemas.Get("ErrorCode")
	if !ok {
		t.Fatal("schema ErrorCode: missing")
	}
	s := p.Schema()
	var want []string
	for _, ci := range contracts.Codes {
		want = append(want, string(ci.Code))
	}
	if got := enumValues(s); !slices.Equal(got, want) {
		t.Errorf("ErrorCode enum:\n got %v\nwant %v", got, want)
	}
	for _, ci := range contracts.Codes {
		line := fmt.Sprintf("- `%s` (%d): %s", ci.Code, ci.Status, ci.Description)
		if !strings.Contains(s.Description, line) {
			t.Errorf("ErrorCode description: missing line %q", line)
		}
	}
}

func enumValues(s *base.Schema) []string {
	var vs []string
	for _, n := range s.Enum {
		vs = append(vs, n.Value)
	}
	return vs
}

// resolved returns the schema a property means: for an OpenAPI 3.1 $ref
// with sibling keywords (such as a description), libopenapi's Schema()
// shows only the siblings, so follow the $ref to the component instead.
func resolved(p *base.SchemaProxy) *base.Schema {
	if p == nil {
		return nil
	}
	if p.IsTransformedRefWithSiblings() {
		name := strings.TrimPrefix(p.GetReference(), "#/components/schemas/")
		if target, ok := model.Components.Schemas.Get(name); ok {
			return resolved(target)
		}
	}
	return p.Schema()
}

// refName returns the component schema a proxy refers to, directly or as
// the first member of an allOf; "" if neither.
func refName(p *base.SchemaProxy) string {
	if p == nil {
		return ""
	}
	if p.IsReference() {
		return strings.TrimPrefix(p.GetReference(), "#/components/schemas/")
	}
	if s := p.Schema(); s != nil && len(s.AllOf) > 0 && s.AllOf[0].IsReference() {
		return strings.TrimPrefix(s.AllOf[0].GetReference(), "#/components/schemas/")
	}
	return ""
}

// goPackage is what the spec test reads from the package's source.
type goPackage struct {
	structs map[string]*ast.StructType
	strings map[string]bool     // exported named string types
	consts  map[string][]string // type name → constant values, in order
	valid   map[string]bool     // types with a Valid() bool method
}

// enums returns the enumeration types, see the comment at the top.
func (p *goPackage) enums() []string {
	var out []string
	for name := range p.strings {
		_, extra := extraEnums[name]
		if (p.valid[name] && len(p.consts[name]) > 0) || extra {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func parsePackage(t *testing.T) *goPackage {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	p := &goPackage{
		structs: map[string]*ast.StructType{},
		strings: map[string]bool{},
		consts:  map[string][]string{},
		valid:   map[string]bool{},
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		if f.Name.Name != "contracts" {
			continue
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.GenDecl:
				p.addGenDecl(d)
			case *ast.FuncDecl:
				if d.Recv == nil || d.Name.Name != "Valid" || d.Type.Params.NumFields() != 0 ||
					d.Type.Results.NumFields() != 1 || !isIdent(d.Type.Results.List[0].Type, "bool") {
					continue
				}
				recv := d.Recv.List[0].Type
				if star, ok := recv.(*ast.StarExpr); ok {
					recv = star.X
				}
				if id, ok := recv.(*ast.Ident); ok {
					p.valid[id.Name] = true
				}
			}
		}
	}
	if len(p.structs) == 0 {
		t.Fatal("no struct types found; is the test running in the package directory?")
	}
	return p
}

func (p *goPackage) addGenDecl(d *ast.GenDecl) {
	switch d.Tok {
	case token.TYPE:
		for _, spec := range d.Specs {
			ts := spec.(*ast.TypeSpec)
			if !ts.Name.IsExported() || ts.TypeParams != nil {
				continue
			}
			switch typ := ts.Type.(type) {
			case *ast.StructType:
				p.structs[ts.Name.Name] = typ
			case *ast.Ident:
				if typ.Name == "string" {
					p.strings[ts.Name.Name] = true
				}
			}
		}
	case token.CONST:
		for _, spec := range d.Specs {
			vs := spec.(*ast.ValueSpec)
			typ, ok := vs.Type.(*ast.Ident)
			if !ok {
				continue
			}
			for _, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				s, err := strconv.Unquote(lit.Value)
				if err == nil {
					p.consts[typ.Name] = append(p.consts[typ.Name], s)
				}
			}
		}
	}
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// jsonField is one JSON member of a Go struct.
type jsonField struct {
	name     string
	optional bool // omitempty or omitzero
	typ      ast.Expr
}

// jsonFields lists the JSON members of a struct the way encoding/json
// does for the cases this package uses: tagged and untagged exported
// fields, embedded structs of the package flattened. ok is false when the
// struct has no json tag at all (not a wire type).
func (p *goPackage) jsonFields(st *ast.StructType) (fields []jsonField, ok bool) {
	for _, f := range st.Fields.List {
		tag := ""
		if f.Tag != nil {
			raw, _ := strconv.Unquote(f.Tag.Value)
			tag, ok = reflect.StructTag(raw).Lookup("json")
			if ok && tag == "-" {
				continue
			}
		}
		name, opts, _ := strings.Cut(tag, ",")
		optional := slices.Contains(strings.Split(opts, ","), "omitempty") ||
			slices.Contains(strings.Split(opts, ","), "omitzero")
		if len(f.Names) == 0 { // embedded
			id, isID := f.Type.(*ast.Ident)
			if inner, isStruct := p.structs[nameOf(id, isID)]; isStruct && name == "" {
				sub, subOK := p.jsonFields(inner)
				fields = append(fields, sub...)
				ok = ok || subOK
				continue
			}
			if isID && name == "" {
				name = id.Name
			}
			fields = append(fields, jsonField{name, optional, f.Type})
			continue
		}
		for _, n := range f.Names {
			if !n.IsExported() {
				continue
			}
			jn := name
			if jn == "" {
				jn = n.Name
			}
			fields = append(fields, jsonField{jn, optional, f.Type})
		}
	}
	return fields, ok
}

func nameOf(id *ast.Ident, ok bool) string {
	if !ok {
		return ""
	}
	return id.Name
}

// TestSchemasMatchGoTypes is the drift check between Go and the spec.
func TestSchemasMatchGoTypes(t *testing.T) {
	m := loadModel(t)
	pkg := parsePackage(t)
	schemas := m.Components.Schemas

	var wire []string
	for name, st := range pkg.structs {
		if _, ok := pkg.jsonFields(st); ok {
			wire = append(wire, name)
		}
	}
	sort.Strings(wire)
	if len(wire) < 40 {
		t.Fatalf("found only %d wire struct types: %v", len(wire), wire)
	}
	enums := pkg.enums()

	t.Run("structs", func(t *testing.T) {
		for _, name := range wire {
			t.Run(name, func(t *testing.T) {
				proxy, ok := schemas.Get(name)
				if !ok {
					t.Fatalf("schema %s: missing", name)
				}
				s := proxy.Schema()
				if s == nil {
					t.Fatalf("schema %s: %v", name, proxy.GetBuildError())
				}
				if !slices.Contains(s.Type, "object") {
					t.Errorf("type: got %v, want object", s.Type)
				}
				if s.AdditionalProperties == nil || s.AdditionalProperties.IsA() || s.AdditionalProperties.B {
					t.Errorf("additionalProperties: want false (callers decode with unknown fields rejected)")
				}
				fields, _ := pkg.jsonFields(pkg.structs[name])
				var goNames, wantRequired []string
				for _, f := range fields {
					goNames = append(goNames, f.name)
					if !f.optional {
						wantRequired = append(wantRequired, f.name)
					}
				}
				var specNames []string
				if s.Properties != nil {
					for k := range s.Properties.KeysFromOldest() {
						specNames = append(specNames, k)
					}
				}
				if missing := minus(goNames, specNames); len(missing) > 0 {
					t.Errorf("properties missing from the spec: %v", missing)
				}
				if extra := minus(specNames, goNames); len(extra) > 0 {
					t.Errorf("properties in the spec but not in Go: %v", extra)
				}
				got, want := sorted(s.Required), sorted(wantRequired)
				if !slices.Equal(got, want) {
					t.Errorf("required: got %v, want %v (the json fields without omitempty/omitzero)", got, want)
				}
				for _, f := range fields {
					if ps, ok := s.Properties.Get(f.name); ok {
						checkType(t, pkg, name+"."+f.name, f.typ, ps, enums)
					}
				}
			})
		}
	})

	t.Run("objects", func(t *testing.T) {
		for name, proxy := range schemas.FromOldest() {
			s := proxy.Schema()
			if s != nil && s.Properties != nil && s.Properties.Len() > 0 && !slices.Contains(wire, name) {
				t.Errorf("schema %s has properties but no Go struct type of that name", name)
			}
		}
	})

	t.Run("enums", func(t *testing.T) {
		for _, name := range []string{"CaseState", "Outcome", "TransportState", "DeliveryKind",
			"ResultDeliveryMethod", "LicenseOutcome", "LicenseStatus", "Role", "Code"} {
			if !slices.Contains(enums, name) {
				t.Errorf("enumeration %s: not found in the package source", name)
			}
		}
		for _, name := range enums {
			t.Run(name, func(t *testing.T) {
				proxy, ok := schemas.Get(schemaName(name))
				if !ok {
					t.Fatalf("schema %s: missing", schemaName(name))
				}
				s := proxy.Schema()
				if got, want := enumValues(s), pkg.consts[name]; !slices.Equal(got, want) {
					t.Errorf("enum of %s:\n got %v\nwant %v (the Go constants, in order)", schemaName(name), got, want)
				}
			})
		}
	})
}

// checkType checks that a property's schema fits the Go type of its field.
func checkType(t *testing.T, pkg *goPackage, where string, expr ast.Expr, p *base.SchemaProxy, enums []string) {
	t.Helper()
	s := resolved(p)
	if s == nil {
		t.Errorf("%s: schema does not build: %v", where, p.GetBuildError())
		return
	}
	wantType := func(typ, format string) {
		t.Helper()
		if !slices.Contains(s.Type, typ) {
			t.Errorf("%s: type got %v, want %s", where, s.Type, typ)
		}
		if format != "" && s.Format != format {
			t.Errorf("%s: format got %q, want %q", where, s.Format, format)
		}
	}
	switch e := expr.(type) {
	case *ast.StarExpr:
		checkType(t, pkg, where, e.X, p, enums)
	case *ast.Ident:
		switch {
		case e.Name == "string":
			wantType("string", "")
		case e.Name == "bool":
			wantType("boolean", "")
		case e.Name == "int" || e.Name == "int32" || e.Name == "int64":
			wantType("integer", "")
		case e.Name == "float64":
			wantType("number", "")
		case slices.Contains(enums, e.Name):
			if got := refName(p); got != "" {
				if got != schemaName(e.Name) {
					t.Errorf("%s: $ref got %s, want %s", where, got, schemaName(e.Name))
				}
				return
			}
			// An inline enum must be a subset of the Go type's values.
			wantType("string", "")
			values := enumValues(s)
			if len(values) == 0 {
				t.Errorf("%s: want $ref %s or an inline enum", where, schemaName(e.Name))
			}
			if extra := minus(values, pkg.consts[e.Name]); len(extra) > 0 {
				t.Errorf("%s: inline enum values %v are not %s constants", where, extra, e.Name)
			}
		case pkg.structs[e.Name] != nil:
			if got := refName(p); got != e.Name {
				t.Errorf("%s: $ref got %q, want %s", where, got, e.Name)
			}
		case pkg.strings[e.Name]:
			wantType("string", "")
		default:
			t.Errorf("%s: Go type %s not understood by the spec test; extend checkType", where, e.Name)
		}
	case *ast.SelectorExpr:
		switch pkgName := fmt.Sprint(e.X) + "." + e.Sel.Name; pkgName {
		case "time.Time":
			wantType("string", "date-time")
		case "json.RawMessage":
			// Free-form JSON: any schema.
		default:
			t.Errorf("%s: Go type %s not understood by the spec test; extend checkType", where, pkgName)
		}
	case *ast.ArrayType:
		if isIdent(e.Elt, "byte") {
			wantType("string", "")
			if s.ContentEncoding != "base64" {
				t.Errorf("%s: contentEncoding got %q, want base64", where, s.ContentEncoding)
			}
			return
		}
		wantType("array", "")
		if s.Items == nil || !s.Items.IsA() {
			t.Errorf("%s: items: missing", where)
			return
		}
		checkType(t, pkg, where+"[]", e.Elt, s.Items.A, enums)
	case *ast.MapType:
		wantType("object", "")
		if s.AdditionalProperties == nil || !s.AdditionalProperties.IsA() {
			t.Errorf("%s: additionalProperties schema: missing", where)
			return
		}
		checkType(t, pkg, where+"{}", e.Value, s.AdditionalProperties.A, enums)
	default:
		t.Errorf("%s: Go type %T not understood by the spec test; extend checkType", where, expr)
	}
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	sort.Strings(c)
	return c
}
