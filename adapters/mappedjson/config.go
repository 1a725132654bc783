package mappedjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/tongban/tongban/adapters"
	"github.com/tongban/tongban/contracts"
)

// Config is a partner's mapped-json block: where the partner is, its
// result envelope, its code tables, and one mapping per operation. Every
// operation is optional; the adapter has exactly the capabilities whose
// operations are configured. See the package documentation for the format.
type Config struct {
	// Endpoint is the partner's base URL (absolute http or https); the
	// outbound operations' paths are appended to it. Required when an
	// outbound operation is configured.
	Endpoint string `json:"endpoint,omitempty"`
	// MaxRetries is the number of quick retries inside one delivery
	// attempt, 0 to adapters.MaxMaxRetries; absent means
	// adapters.DefaultMaxRetries. License lookups are never retried.
	MaxRetries *int `json:"max_retries,omitempty"`
	// Timezone is the fixed UTC offset times are rendered in, "+08:00"
	// (China Standard Time) when absent.
	Timezone string `json:"timezone,omitempty"`
	// Envelope is the partner's result envelope. Required.
	Envelope *Envelope `json:"envelope"`
	// Tables are code tables by name: contract value → partner value, with
	// an optional "*" default used when encoding.
	Tables json.RawMessage `json:"tables,omitempty"`
	// CaseDelivery pushes cases addressed to the partner (CaseDelivery →
	// Ack).
	CaseDelivery *Delivery `json:"case_delivery,omitempty"`
	// StatusDelivery pushes status updates of cases the partner submitted
	// (StatusDelivery → Ack).
	StatusDelivery *Delivery `json:"status_delivery,omitempty"`
	// NoticeDelivery pushes notices about the partner's cases: deadline
	// warnings and overdue notices, evaluations, follow-up replies and
	// overdue follow-ups, cancelled parts of bundles (NoticeDelivery →
	// Ack).
	NoticeDelivery *Delivery `json:"notice_delivery,omitempty"`
	// UsageDelivery passes usage records of licenses the partner issued
	// (UsageRecordDelivery → Ack).
	UsageDelivery *Delivery `json:"usage_delivery,omitempty"`
	// UsageBatchDelivery passes several usage records in one call
	// (UsageRecordBatch → UsageBatchAck), for a partner whose
	// license_library.usage_batch is above 1. It needs UsageDelivery too
	// (usage_batch 1 sends records one by one).
	UsageBatchDelivery *Delivery `json:"usage_batch_delivery,omitempty"`
	// LicenseLookup looks licenses up in the partner's library
	// (LicenseLookupRequest → LicenseLookupResponse).
	LicenseLookup *Lookup `json:"license_lookup,omitempty"`
	// Inbound reads the partner's calls to the gateway (case submissions,
	// status updates, evaluations, follow-up replies, bundles) and shapes
	// the gateway's receipts.
	Inbound *Inbound `json:"inbound,omitempty"`

	spec *spec
}

// Delivery configures one outbound delivery operation.
type Delivery struct {
	// Path is appended to the endpoint; it starts with "/". Paths of the
	// outbound operations differ.
	Path string `json:"path"`
	// Request maps the contract delivery to the partner's request body.
	Request json.RawMessage `json:"request"`
	// Ack maps the partner's acknowledgement (the envelope's data) to the
	// contract Ack.
	Ack json.RawMessage `json:"ack"`
	// Envelope overrides the config's envelope for this operation's answer.
	Envelope *Envelope `json:"envelope,omitempty"`
}

// Lookup configures the license lookup.
type Lookup struct {
	// Path is appended to the endpoint; it starts with "/".
	Path string `json:"path"`
	// Request maps the contract LicenseLookupRequest to the partner's body.
	Request json.RawMessage `json:"request"`
	// Answer maps the partner's answer (the envelope's data) to the
	// contract LicenseLookupResponse.
	Answer json.RawMessage `json:"answer"`
	// Envelope overrides the config's envelope for this operation's answer.
	Envelope *Envelope `json:"envelope,omitempty"`
}

// Inbound configures the partner's calls to the gateway.
type Inbound struct {
	// CaseSubmission reads the partner's case submissions.
	CaseSubmission *InboundOperation `json:"case_submission,omitempty"`
	// StatusUpdate reads the partner's status updates.
	StatusUpdate *InboundOperation `json:"status_update,omitempty"`
	// EvaluationSubmission reads the applicants' evaluations (好差评) the
	// partner passes on (contracts.EvaluationSubmission).
	EvaluationSubmission *InboundOperation `json:"evaluation_submission,omitempty"`
	// EvaluationReply reads the partner's replies to negative evaluations
	// (整改反馈, contracts.EvaluationReply).
	EvaluationReply *InboundOperation `json:"evaluation_reply,omitempty"`
	// BundleSubmission reads the partner's 一件事 bundles
	// (contracts.BundleSubmission); the receipt must then map the parts'
	// cases (parts[].part, parts[].case_id).
	BundleSubmission *InboundOperation `json:"bundle_submission,omitempty"`
	// Receipt maps the gateway's contract Receipt to the partner's JSON
	// (the envelope's data). Required.
	Receipt json.RawMessage `json:"receipt"`
}

// InboundOperation configures one kind of inbound call.
type InboundOperation struct {
	// Operation is the last path segment of the call:
	// POST /v1/inbound/{partner_id}/{operation}.
	Operation string `json:"operation"`
	// Request maps the partner's body to the contract message.
	Request json.RawMessage `json:"request"`
}

// spec is a compiled config.
type spec struct {
	endpoint   string
	maxRetries int
	env        *envelope
	caseOp     *outOp
	statusOp   *outOp
	noticeOp   *outOp
	usageOp    *outOp
	batchOp    *outOp // usage_batch_delivery
	lookupOp   *outOp
	inbound    *inbound
	byPath     map[string]*outOp
}

// outOp is a compiled outbound operation.
type outOp struct {
	kind        string // adapters.Message kind: case, status, notice, usage, usage_batch, lookup
	name        string // config key
	path        string
	request     *message
	answer      *message // the Ack or LicenseLookupResponse mapping
	env         *envelope
	mapsBodySM3 bool
	mapsFound   bool
}

// inbound is the compiled inbound configuration.
type inbound struct {
	caseOp   *inOp
	statusOp *inOp
	evalOp   *inOp // evaluation_submission
	replyOp  *inOp // evaluation_reply
	bundleOp *inOp // bundle_submission
	receipt  *message
	env      *envelope
}

// ops returns the configured inbound operations.
func (ib *inbound) ops() []*inOp {
	var out []*inOp
	for _, o := range []*inOp{ib.caseOp, ib.statusOp, ib.evalOp, ib.replyOp, ib.bundleOp} {
		if o != nil {
			out = append(out, o)
		}
	}
	return out
}

// opOf returns the configured operation of calls of kind k, nil if none.
func (ib *inbound) opOf(k contracts.InboundKind) *inOp {
	for _, o := range ib.ops() {
		if o.kind == k {
			return o
		}
	}
	return nil
}

type inOp struct {
	name    string
	kind    contracts.InboundKind
	request *message
}

// ParseConfig decodes and validates a mapped-json block strictly: unknown
// keys anywhere are rejected, every mapping is checked against the
// contract types (every path exists, every filter fits its field and every
// table it names exists, no partner key appears twice, no two keys read
// back into the same field, the fields the gateway needs are mapped), and
// the endpoint, paths, operations and envelope are well formed. Errors name
// the offending config field.
func ParseConfig(raw json.RawMessage) (*Config, error) {
	var c Config
	if err := adapters.DecodeConfig(raw, &c); err != nil {
		return nil, err
	}
	s, err := c.compile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c.spec = s
	return &c, nil
}

var operationName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func (c *Config) compile() (*spec, error) {
	s := &spec{maxRetries: adapters.DefaultMaxRetries, byPath: map[string]*outOp{}}
	if c.MaxRetries != nil {
		if *c.MaxRetries < 0 || *c.MaxRetries > adapters.MaxMaxRetries {
			return nil, fmt.Errorf("max_retries %d is out of range 0..%d", *c.MaxRetries, adapters.MaxMaxRetries)
		}
		s.maxRetries = *c.MaxRetries
	}
	zone, err := parseZone(c.Timezone)
	if err != nil {
		return nil, err
	}
	cp := &compiler{zone: zone, tables: map[string]*table{}}
	if len(c.Tables) > 0 && string(c.Tables) != "null" {
		tv, err := parseJSON(c.Tables, 4)
		if err != nil {
			var dup *dupKeyError
			if errors.As(err, &dup) {
				return nil, fmt.Errorf("tables: key %q appears twice", dup.Key)
			}
			return nil, fmt.Errorf("tables: %w", err)
		}
		to, ok := tv.(*object)
		if !ok {
			return nil, errors.New("tables must be an object of table name → table")
		}
		if to.len() > 256 {
			return nil, errors.New("tables: more than 256 tables")
		}
		for _, name := range to.keys {
			t, err := compileTable(name, to.vals[name])
			if err != nil {
				return nil, err
			}
			cp.tables[name] = t
		}
	}
	if s.env, err = compileEnvelope("envelope", c.Envelope, cp.tables); err != nil {
		return nil, err
	}

	deliveries := []struct {
		name string
		kind string
		cfg  *Delivery
		typ  reflect.Type
		dst  **outOp
	}{
		{"case_delivery", "case", c.CaseDelivery, reflect.TypeFor[contracts.CaseDelivery](), &s.caseOp},
		{"status_delivery", "status", c.StatusDelivery, reflect.TypeFor[contracts.StatusDelivery](), &s.statusOp},
		{"notice_delivery", "notice", c.NoticeDelivery, reflect.TypeFor[contracts.NoticeDelivery](), &s.noticeOp},
		{"usage_delivery", "usage", c.UsageDelivery, reflect.TypeFor[contracts.UsageRecordDelivery](), &s.usageOp},
	}
	for _, d := range deliveries {
		if d.cfg == nil {
			continue
		}
		op, err := s.compileOut(cp, d.name, d.kind, d.cfg.Path, d.cfg.Envelope, d.cfg.Request, d.typ)
		if err != nil {
			return nil, err
		}
		if op.answer, err = cp.compileMessage(d.name+".ack", d.cfg.Ack, reflect.TypeFor[contracts.Ack]()); err != nil {
			return nil, err
		}
		if err := op.env.checkBeside(d.name+".ack", op.answer); err != nil {
			return nil, err
		}
		if op.answer.covers("key_id") {
			return nil, fmt.Errorf("%s.ack maps key_id, which always comes from the Gw-Key-Id header", d.name)
		}
		op.mapsBodySM3 = op.answer.covers("body_sm3")
		if err := op.answer.requireAll(d.name+".ack", "body_sm3", "key_id"); err != nil {
			return nil, err
		}
		if d.kind == "case" {
			if err := op.answer.require(d.name+".ack", "partner_case_no"); err != nil {
				return nil, err
			}
			if err := op.request.require(d.name+".request", "case_id"); err != nil {
				return nil, err
			}
		}
		if d.kind == "status" && !op.request.covers("case_id") && !op.request.covers("update.case_id") {
			return nil, fmt.Errorf("%s.request must map case_id or update.case_id: the partner files the update by it", d.name)
		}
		if d.kind == "notice" {
			if !op.request.covers("case_id") && !op.request.covers("notice.case_id") {
				return nil, fmt.Errorf("%s.request must map case_id or notice.case_id: the partner files the notice by it", d.name)
			}
			if err := op.request.require(d.name+".request", "notice.type"); err != nil {
				return nil, err
			}
		}
		*d.dst = op
	}
	if c.UsageBatchDelivery != nil {
		if s.batchOp, err = s.compileBatch(cp, c.UsageBatchDelivery); err != nil {
			return nil, err
		}
	}
	if c.LicenseLookup != nil {
		l := c.LicenseLookup
		op, err := s.compileOut(cp, "license_lookup", "lookup", l.Path, l.Envelope, l.Request, reflect.TypeFor[contracts.LicenseLookupRequest]())
		if err != nil {
			return nil, err
		}
		if op.answer, err = cp.compileMessage("license_lookup.answer", l.Answer, reflect.TypeFor[contracts.LicenseLookupResponse]()); err != nil {
			return nil, err
		}
		if err := op.env.checkBeside("license_lookup.answer", op.answer); err != nil {
			return nil, err
		}
		op.mapsFound = op.answer.covers("found")
		if err := op.answer.requireAll("license_lookup.answer", "found"); err != nil {
			return nil, err
		}
		if !op.answer.touches("license") {
			return nil, errors.New("license_lookup.answer must map the license record (license.license_id, ...)")
		}
		s.lookupOp = op
	}
	if c.Inbound != nil {
		if s.inbound, err = s.compileInbound(cp, c.Inbound); err != nil {
			return nil, err
		}
	}
	outbound := s.caseOp != nil || s.statusOp != nil || s.noticeOp != nil || s.usageOp != nil || s.lookupOp != nil
	if !outbound && s.inbound == nil {
		return nil, errors.New("no operation is configured (case_delivery, status_delivery, notice_delivery, usage_delivery, license_lookup, inbound)")
	}
	if outbound || c.Endpoint != "" {
		ep, err := adapters.ParseEndpoint(c.Endpoint)
		if err != nil {
			return nil, err
		}
		s.endpoint = ep
	}
	return s, nil
}

// compileBatch compiles usage_batch_delivery: a delivery operation whose
// request maps a UsageRecordBatch (batch_id and every delivery's
// delivery_id must be mapped: the district's dedup key is each record's
// delivery_id) and whose ack maps a UsageBatchAck (batch_id, delivery_ids
// and acknowledged_at; body_sm3 optional, key_id never). It needs
// usage_delivery.
func (s *spec) compileBatch(cp *compiler, d *Delivery) (*outOp, error) {
	const name = "usage_batch_delivery"
	if s.usageOp == nil {
		return nil, errors.New(name + " needs usage_delivery too: a partner with usage_batch 1 gets its usage records one by one")
	}
	op, err := s.compileOut(cp, name, "usage_batch", d.Path, d.Envelope, d.Request, reflect.TypeFor[contracts.UsageRecordBatch]())
	if err != nil {
		return nil, err
	}
	if op.answer, err = cp.compileMessage(name+".ack", d.Ack, reflect.TypeFor[contracts.UsageBatchAck]()); err != nil {
		return nil, err
	}
	if err := op.env.checkBeside(name+".ack", op.answer); err != nil {
		return nil, err
	}
	if op.answer.covers("key_id") {
		return nil, fmt.Errorf("%s.ack maps key_id, which always comes from the Gw-Key-Id header", name)
	}
	op.mapsBodySM3 = op.answer.covers("body_sm3")
	if err := op.answer.requireAll(name+".ack", "body_sm3", "key_id"); err != nil {
		return nil, err
	}
	return op, nil
}

// compileOut compiles an outbound operation's path, envelope and request.
func (s *spec) compileOut(cp *compiler, name, kind, path string, env *Envelope, request json.RawMessage, typ reflect.Type) (*outOp, error) {
	if err := checkOpPath(path); err != nil {
		return nil, fmt.Errorf("%s.path: %w", name, err)
	}
	if other, dup := s.byPath[path]; dup {
		return nil, fmt.Errorf("%s.path %q is also the path of %s; each operation needs its own", name, path, other.name)
	}
	op := &outOp{kind: kind, name: name, path: path, env: s.env}
	if env != nil {
		e, err := compileEnvelope(name+".envelope", env, cp.tables)
		if err != nil {
			return nil, err
		}
		op.env = e
	}
	var err error
	if op.request, err = cp.compileMessage(name+".request", request, typ); err != nil {
		return nil, err
	}
	// A delivery's delivery_id is the district's dedup key: the one id
	// unique across all senders and kept by every attempt.
	switch kind {
	case "usage_batch":
		if err := op.request.require(name+".request", "batch_id", "deliveries[].delivery_id"); err != nil {
			return nil, err
		}
	case "lookup":
		if err := op.request.require(name+".request", "exchange_id"); err != nil {
			return nil, err
		}
	default:
		if err := op.request.require(name+".request", "exchange_id", "delivery_id"); err != nil {
			return nil, err
		}
	}
	s.byPath[path] = op
	return op, nil
}

func checkOpPath(p string) error {
	switch {
	case p == "":
		return errors.New("is required")
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("%q must start with /", p)
	case len(p) > 256:
		return errors.New("is longer than 256 bytes")
	case strings.ContainsAny(p, "?# \t\r\n%\\"):
		return fmt.Errorf("%q must be a plain path without query, fragment, spaces or escapes", p)
	}
	return nil
}

func (s *spec) compileInbound(cp *compiler, in *Inbound) (*inbound, error) {
	ib := &inbound{env: s.env}
	ops := []struct {
		name string
		kind contracts.InboundKind
		cfg  *InboundOperation
		typ  reflect.Type
		dst  **inOp
	}{
		{"inbound.case_submission", contracts.InboundCase, in.CaseSubmission, reflect.TypeFor[contracts.CaseSubmission](), &ib.caseOp},
		{"inbound.status_update", contracts.InboundStatus, in.StatusUpdate, reflect.TypeFor[contracts.StatusUpdate](), &ib.statusOp},
		{"inbound.evaluation_submission", contracts.InboundEvaluation, in.EvaluationSubmission, reflect.TypeFor[contracts.EvaluationSubmission](), &ib.evalOp},
		{"inbound.evaluation_reply", contracts.InboundReply, in.EvaluationReply, reflect.TypeFor[contracts.EvaluationReply](), &ib.replyOp},
		{"inbound.bundle_submission", contracts.InboundBundle, in.BundleSubmission, reflect.TypeFor[contracts.BundleSubmission](), &ib.bundleOp},
	}
	byName := map[string]string{}
	for _, o := range ops {
		if o.cfg == nil {
			continue
		}
		if !operationName.MatchString(o.cfg.Operation) {
			return nil, fmt.Errorf("%s.operation %q must be a path segment of letters, digits, '.', '_' and '-'", o.name, o.cfg.Operation)
		}
		if other, dup := byName[o.cfg.Operation]; dup {
			return nil, fmt.Errorf("%s.operation %q is also the operation of %s; each needs its own", o.name, o.cfg.Operation, other)
		}
		byName[o.cfg.Operation] = o.name
		m, err := cp.compileMessage(o.name+".request", o.cfg.Request, o.typ)
		if err != nil {
			return nil, err
		}
		if err := m.requireAll(o.name + ".request"); err != nil {
			return nil, err
		}
		*o.dst = &inOp{name: o.cfg.Operation, kind: o.kind, request: m}
	}
	if len(ib.ops()) == 0 {
		return nil, errors.New("inbound needs at least one of case_submission, status_update, evaluation_submission, evaluation_reply and bundle_submission")
	}
	var err error
	if ib.receipt, err = cp.compileMessage("inbound.receipt", in.Receipt, reflect.TypeFor[contracts.Receipt]()); err != nil {
		return nil, err
	}
	if err := ib.env.checkBeside("inbound.receipt", ib.receipt); err != nil {
		return nil, err
	}
	if err := ib.receipt.require("inbound.receipt", "exchange_id", "case_id"); err != nil {
		return nil, err
	}
	// A bundle's receipt is how the district learns each part's case.
	if ib.bundleOp != nil {
		if err := ib.receipt.require("inbound.receipt", "parts[].part", "parts[].case_id"); err != nil {
			return nil, fmt.Errorf("%w: a bundle's receipt names each part's case", err)
		}
	}
	return ib, nil
}

// ---- what a message maps ----

// covers reports whether decoding sets contract field p (or a field that
// contains it).
func (m *message) covers(p string) bool {
	for _, t := range m.targets {
		if t == p || t == p+"[]" || strings.HasPrefix(p, t+".") || strings.HasPrefix(p, t+"[]") {
			return true
		}
	}
	for _, t := range m.arrays {
		if t == p {
			return true
		}
	}
	return false
}

// touches reports whether the mapping reaches into contract field p.
func (m *message) touches(p string) bool {
	if m.covers(p) {
		return true
	}
	for _, list := range [][]string{m.targets, m.arrays} {
		for _, t := range list {
			if strings.HasPrefix(t, p+".") || strings.HasPrefix(t, p+"[]") {
				return true
			}
		}
	}
	return false
}

// require fails unless every field in paths is mapped.
func (m *message) require(cfgPath string, paths ...string) error {
	for _, p := range paths {
		if !m.covers(p) {
			return fmt.Errorf("%s must map %s", cfgPath, p)
		}
	}
	return nil
}

// requireAll fails unless every field the contract type always carries is
// mapped (in optional parts only when the mapping reaches into them),
// except the fields in exempt.
func (m *message) requireAll(cfgPath string, exempt ...string) error {
	for _, p := range m.node.requiredPaths("", m.touches) {
		if slices.Contains(exempt, p) {
			continue
		}
		if !m.covers(p) {
			return fmt.Errorf("%s must map %s, which the contract requires", cfgPath, p)
		}
	}
	return nil
}
