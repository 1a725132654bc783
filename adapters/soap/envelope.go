package soap

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// Namespaces and media types of SOAP 1.1.
const (
	// EnvelopeNamespace is the SOAP 1.1 envelope namespace. Every message
	// of the style is a SOAP 1.1 envelope; SOAP 1.2 is not spoken.
	EnvelopeNamespace = "http://schemas.xmlsoap.org/soap/envelope/"
	// MediaType is the media type of every message (SOAP 1.1).
	MediaType = "text/xml"
	// ContentType is the Content-Type the style sends and returns.
	ContentType = "text/xml; charset=utf-8"
	// soap12Namespace is the SOAP 1.2 envelope namespace, refused with a
	// clear message.
	soap12Namespace = "http://www.w3.org/2003/05/soap-envelope"
)

// Fault codes the style writes (SOAP 1.1 faultcode values).
const (
	// FaultClient blames the call: resending it unchanged fails again.
	FaultClient = "soap:Client"
	// FaultServer blames the receiver: the call may succeed later.
	FaultServer = "soap:Server"
)

// FaultDetailElement is the local name of the detail entry of the style's
// faults, in the configured namespace.
const FaultDetailElement = "ExchangeFault"

const xmlDecl = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// protocol is what both ends of the style share: the namespace of the
// operation elements and the SOAPAction prefix.
type protocol struct {
	ns     string
	prefix string
}

func (p protocol) action(op string) string { return p.prefix + op }

// marshal returns the envelope whose Body holds the operation element op,
// in the protocol's namespace, with v's fields as its children.
func (p protocol) marshal(op string, v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return nil, fmt.Errorf("%s: no message", op)
	}
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil, fmt.Errorf("%s: no message", op)
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct || rv.Type() == timeType {
		return nil, fmt.Errorf("%s: message of type %s is not a struct", op, rv.Type())
	}
	var b bytes.Buffer
	b.Grow(2048)
	b.WriteString(xmlDecl)
	b.WriteString(`<soap:Envelope xmlns:soap="` + EnvelopeNamespace + `"><soap:Body>`)
	b.WriteString(`<` + op + ` xmlns="` + escapeAttr(p.ns) + `">`)
	enc := encoder{buf: &b}
	if err := enc.fields(rv, ""); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	b.WriteString(`</` + op + `></soap:Body></soap:Envelope>`)
	return b.Bytes(), nil
}

// faultDetail is the detail entry of the style's faults
// (<ExchangeFault xmlns="{namespace}">).
type faultDetail struct {
	// Code is the contract error code (contracts.Code).
	Code contracts.Code `json:"code,omitempty"`
	// Status is the HTTP status the refusal means in the standard
	// contract (the fault itself travels with HTTP 500).
	Status int `json:"status,omitempty"`
	// RequestID lets operators find the refusal in the logs.
	RequestID string `json:"request_id,omitempty"`
	// Retryable says whether resending the call later may succeed; when
	// present it overrides what the faultcode says.
	Retryable *bool `json:"retryable,omitempty"`
}

// retryableStatus reports whether an HTTP status means "try again later":
// 5xx, 408 and 429, the shared classification rules.
func retryableStatus(status int) bool {
	return status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
}

// marshalFault returns a SOAP 1.1 Fault envelope for a refusal that means
// HTTP status in the standard contract: faultcode soap:Server when the
// status is retryable (5xx, 408, 429), else soap:Client; faultstring msg;
// detail the contract code, status, request id and retryable flag. It
// never fails: characters XML cannot carry are replaced.
func (p protocol) marshalFault(status int, code contracts.Code, msg, requestID string) []byte {
	retry := retryableStatus(status)
	faultcode := FaultClient
	if retry {
		faultcode = FaultServer
	}
	det := faultDetail{Code: contracts.Code(xmlSafe(string(code))), RequestID: xmlSafe(requestID), Retryable: &retry}
	if status >= 100 && status <= 999 {
		det.Status = status
	}
	var b bytes.Buffer
	b.WriteString(xmlDecl)
	b.WriteString(`<soap:Envelope xmlns:soap="` + EnvelopeNamespace + `"><soap:Body><soap:Fault>`)
	b.WriteString(`<faultcode>` + faultcode + `</faultcode><faultstring>`)
	_ = escapeText(&b, xmlSafe(msg))
	b.WriteString(`</faultstring><detail><` + FaultDetailElement + ` xmlns="` + escapeAttr(p.ns) + `">`)
	enc := encoder{buf: &b}
	_ = enc.fields(reflect.ValueOf(det), "")
	b.WriteString(`</` + FaultDetailElement + `></detail></soap:Fault></soap:Body></soap:Envelope>`)
	return b.Bytes()
}

// xmlSafe replaces every character XML 1.0 cannot carry with U+FFFD.
func xmlSafe(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !xmlChar(r) }) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if !xmlChar(r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, string(utf8.RuneError)))
}

// ---------------------------------------------------------------------------
// Reading envelopes

// envelope is a parsed SOAP 1.1 envelope.
type envelope struct {
	header *node // nil when absent
	body   *node // the one element in Body
}

// isFault reports whether the body element is a SOAP 1.1 Fault.
func (e *envelope) isFault() bool {
	return e.body.name.Space == EnvelopeNamespace && e.body.name.Local == "Fault"
}

// parseEnvelope parses a SOAP 1.1 envelope: any namespace prefix, an
// optional XML declaration, comments and whitespace are fine; the root
// must be Envelope in the SOAP 1.1 namespace holding an optional Header
// and a Body with exactly one element. A header entry marked
// mustUnderstand is refused, since the style understands none. Errors are
// *contracts.FieldError values (invalid_json, or bad_request for
// mustUnderstand) that never quote the input.
func parseEnvelope(raw []byte) (*envelope, error) {
	root, err := parseDocument(raw)
	if err != nil {
		return nil, err
	}
	switch {
	case root.name.Local == "Envelope" && root.name.Space == soap12Namespace:
		return nil, invalid("Envelope", "SOAP 1.2 envelopes are not supported; send a SOAP 1.1 envelope ("+EnvelopeNamespace+")")
	case root.name.Local != "Envelope" || root.name.Space != EnvelopeNamespace:
		return nil, invalid("Envelope", "root element is not a SOAP 1.1 Envelope ("+EnvelopeNamespace+")")
	case root.hasText():
		return nil, invalid("Envelope", "holds text where elements are expected")
	}
	env := &envelope{}
	var body *node
	for i, k := range root.kids {
		switch {
		case k.name.Space == EnvelopeNamespace && k.name.Local == "Header" && i == 0:
			env.header = k
		case k.name.Space == EnvelopeNamespace && k.name.Local == "Body" && body == nil:
			body = k
		default:
			return nil, invalid("Envelope", "holds an element other than one optional Header followed by one Body")
		}
	}
	if body == nil {
		return nil, invalid("Body", "envelope has no Body")
	}
	if body.hasText() {
		return nil, invalid("Body", "holds text where an element is expected")
	}
	if len(body.kids) != 1 {
		return nil, invalid("Body", fmt.Sprintf("holds %d elements, want exactly one", len(body.kids)))
	}
	env.body = body.kids[0]
	if env.header != nil {
		for _, h := range env.header.kids {
			for _, a := range h.attrs {
				if a.Name.Space == EnvelopeNamespace && a.Name.Local == "mustUnderstand" && (a.Value == "1" || a.Value == "true") {
					return nil, &contracts.FieldError{Field: "Header", Code: contracts.CodeBadRequest,
						Message: "a header entry is marked mustUnderstand, and this service understands no header entries"}
				}
			}
		}
	}
	return env, nil
}

// checkMediaType accepts text/xml with no charset or charset utf-8. Its
// error is a *contracts.FieldError with code unsupported_media_type.
func checkMediaType(mediaType string) error {
	unsupported := func(msg string) error {
		return &contracts.FieldError{Field: "Content-Type", Code: contracts.CodeUnsupportedMedia, Message: msg}
	}
	mt, params, err := mime.ParseMediaType(mediaType)
	switch {
	case err == nil && mt == "application/soap+xml":
		return unsupported("SOAP 1.2 (application/soap+xml) is not supported; send a SOAP 1.1 envelope as text/xml")
	case err != nil || mt != MediaType:
		return unsupported("body must be text/xml (a SOAP 1.1 envelope)")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return unsupported("charset must be utf-8")
	}
	return nil
}

// unquoteAction removes the double quotes a SOAPAction header value has on
// the wire, if they are still there.
func unquoteAction(a string) string {
	a = strings.TrimSpace(a)
	if len(a) >= 2 && a[0] == '"' && a[len(a)-1] == '"' {
		return a[1 : len(a)-1]
	}
	return a
}

// actionNames reports whether a SOAPAction (unquoted) names operation op:
// it is the configured prefix followed by op, op itself, or ends in op
// after a '/', '#' or ':'.
func (p protocol) actionNames(action, op string) bool {
	return action == p.prefix+op || action == op ||
		strings.HasSuffix(action, "/"+op) || strings.HasSuffix(action, "#"+op) || strings.HasSuffix(action, ":"+op)
}

// readCall reads a request envelope whose operation must be one of ops:
// the media type must be text/xml, the operation element must be in the
// protocol's namespace, and a non-empty SOAPAction must name the same
// operation. It returns the operation's name and element. Errors are
// *contracts.FieldError values that never quote the input.
func (p protocol) readCall(mediaType, action string, body []byte, ops ...string) (string, *node, error) {
	if err := checkMediaType(mediaType); err != nil {
		return "", nil, err
	}
	env, err := parseEnvelope(body)
	if err != nil {
		return "", nil, err
	}
	bad := func(field, msg string) error {
		return &contracts.FieldError{Field: field, Code: contracts.CodeBadRequest, Message: msg}
	}
	n := env.body
	if env.isFault() {
		return "", nil, bad("Body", "holds a Fault where a request is expected")
	}
	if n.name.Space != p.ns {
		return "", nil, bad("Body", "operation element is not in namespace "+p.ns)
	}
	op := ""
	for _, o := range ops {
		if n.name.Local == o {
			op = o
		}
	}
	if op == "" {
		return "", nil, bad("Body", "unknown operation"+quoteName(n.name.Local)+"; want one of "+strings.Join(ops, ", "))
	}
	if a := unquoteAction(action); a != "" && !p.actionNames(a, op) {
		return "", nil, bad("SOAPAction", "SOAPAction does not name the body's operation "+op+" (want "+p.action(op)+")")
	}
	return op, n, nil
}

// decode decodes the children of operation element n into v (a pointer to
// a contract struct) strictly; op names the message in errors.
func (p protocol) decode(op string, n *node, v any) error {
	d := decoder{ns: p.ns, root: op}
	return d.decodeStruct(n, reflect.ValueOf(v).Elem(), "")
}

// readAnswer reads an answer envelope that should hold the element want
// (an operation's response) and returns it, or the fault the envelope
// holds instead. Errors never quote the input.
func (p protocol) readAnswer(body []byte, want string) (*node, *fault, error) {
	env, err := parseEnvelope(body)
	if err != nil {
		return nil, nil, err
	}
	if env.isFault() {
		return nil, p.parseFault(env.body), nil
	}
	if env.body.name.Space != p.ns || env.body.name.Local != want {
		return nil, nil, invalid("Body", "holds"+quoteName(env.body.name.Local)+" where "+want+" in namespace "+p.ns+" is expected")
	}
	return env.body, nil, nil
}

// ---------------------------------------------------------------------------
// Faults

// fault is a SOAP 1.1 Fault as read from a partner or the gateway.
type fault struct {
	code   string // faultcode as written, e.g. "soap:Client.Auth"
	text   string // faultstring
	detail *faultDetail
}

// parseFault reads a Fault element leniently: faultcode, faultstring and
// detail may be unqualified or in the envelope namespace, unknown children
// and foreign detail entries are ignored, and a detail entry of the style
// that does not decode is ignored too.
func (p protocol) parseFault(n *node) *fault {
	f := &fault{}
	for _, k := range n.kids {
		if k.name.Space != "" && k.name.Space != EnvelopeNamespace {
			continue
		}
		switch k.name.Local {
		case "faultcode":
			f.code = strings.TrimSpace(string(k.text))
		case "faultstring":
			f.text = string(k.text)
		case "detail":
			for _, e := range k.kids {
				if e.name.Space != p.ns || e.name.Local != FaultDetailElement {
					continue
				}
				var det faultDetail
				d := decoder{ns: p.ns, root: FaultDetailElement}
				if d.decodeStruct(e, reflect.ValueOf(&det).Elem(), "") == nil {
					f.detail = &det
				}
				break
			}
		}
	}
	return f
}

// class returns the fault's class: the local part of the faultcode
// (after any prefix) up to the first '.', e.g. "Client" for
// "SOAP-ENV:Client.Authentication".
func (f *fault) class() string {
	c := f.code
	if i := strings.LastIndexByte(c, ':'); i >= 0 {
		c = c[i+1:]
	}
	c, _, _ = strings.Cut(c, ".")
	return c
}

// retryable decides whether the fault means "try again later". The
// detail decides when it can: its retryable flag, else its contract code
// when it is a published one (by the code's HTTP status: 5xx, 408 and 429
// are retryable). Else the faultcode: Server faults are retryable,
// Client, VersionMismatch and MustUnderstand faults are not, and other
// fault codes follow the HTTP status of the answer.
func (f *fault) retryable(status int) bool {
	if f.detail != nil {
		if f.detail.Retryable != nil {
			return *f.detail.Retryable
		}
		for _, ci := range contracts.Codes {
			if ci.Code == f.detail.Code {
				return retryableStatus(ci.Status)
			}
		}
	}
	switch f.class() {
	case "Server":
		return true
	case "Client", "VersionMismatch", "MustUnderstand":
		return false
	}
	return retryableStatus(status)
}

// asError classifies a partner's fault, answered with HTTP status and
// header h, as an *adapters.Error: permanent unless retryable, with the
// pause Retry-After asks for when retryable. Its reason carries the
// faultcode and the faultstring clipped to 200 bytes, with id-number-like
// runs redacted; the detail's contract code becomes a *contracts.Error
// cause.
func (f *fault) asError(status int, h http.Header, now time.Time) *adapters.Error {
	retry := f.retryable(status)
	code := adapters.PartnerCode(f.code, 64)
	if code == "" {
		code = "(no faultcode)"
	}
	reason := "partner answered SOAP fault " + code
	e := &adapters.Error{Reason: reason, Status: status, IsPermanent: !retry, PartnerMessage: adapters.PartnerText(f.text, 200)}
	if retry {
		if d, ok := adapters.ParseRetryAfter(h.Get("Retry-After"), now); ok {
			e.After = d
		}
	}
	if f.detail != nil && f.detail.Code != "" {
		e.Err = &contracts.Error{
			Code:      contracts.Code(adapters.PartnerCode(string(f.detail.Code), 64)),
			Message:   adapters.PartnerText(f.text, 200),
			RequestID: adapters.PartnerCode(f.detail.RequestID, 64),
		}
	}
	return e
}
