package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tongban/tongban/contracts"
)

// LicenseCache is an optional short-lived cache of license records the
// libraries returned, keyed by library and by what the lookup asked. Only
// found records are cached: not_found and source_unavailable never are.
// Implementations bound its size and expire entries after their TTL.
type LicenseCache interface {
	Get(key string) (CachedLicense, bool)
	Add(key string, v CachedLicense)
}

// CachedLicense is a library's answer kept in a LicenseCache.
type CachedLicense struct {
	Record contracts.LicenseRecord
}

// LicenseOptions tune license verification.
type LicenseOptions struct {
	// Cache, when set, answers repeated lookups of a found license without
	// asking its library again (see README: revocation trade-off). Nil
	// means every verification asks the library.
	Cache LicenseCache
	// Zone is where "today" is decided for validity dates; nil means China
	// Standard Time (UTC+8), the zone licenses' dates are written in.
	Zone *time.Location
}

// chinaStandardTime is UTC+8 without daylight saving.
var chinaStandardTime = time.FixedZone("CST", 8*60*60)

// verification is one verification's outcome as the service records it.
type verification struct {
	result   contracts.LicenseVerifyResult
	entry    UsageEntry
	delivery *Delivery // to the issuing library, nil when none
}

// VerifyLicense verifies an e-license presented at a window: it checks the
// caller's signature over the exact bytes, validates the request (a wrong
// check character is refused with invalid_license_id before any lookup),
// authorizes the caller (role window or partner), routes the license to the
// library of its issuing region, asks it within the library's timeout (or
// takes a cached answer), maps the answer to an outcome, and stores a usage
// record (with its delivery to the issuing library) before answering with
// the signed result. A refused verification is recorded too, with its error
// code, and the error is returned.
func (s *Service) VerifyLicense(ctx context.Context, in Inbound) (*Signed, error) {
	var req contracts.LicenseVerifyRequest
	if err := s.checkVerifyBody(ctx, in, &req); err != nil {
		return nil, s.refuse(ctx, in, &req, err)
	}
	if err := req.Validate(); err != nil {
		return nil, s.refuse(ctx, in, &req, fromField(err))
	}
	if err := Authorize(in.Caller, ActVerify, nil, ""); err != nil {
		return nil, s.refuse(ctx, in, &req, err)
	}
	v, err := s.verifyOne(ctx, in.Caller, &req)
	if err != nil {
		if ge := (*Error)(nil); errors.As(err, &ge) && ge.Code != contracts.CodeInternal {
			return nil, s.refuse(ctx, in, &req, err)
		}
		return nil, err
	}
	if err := s.storeUsage(ctx, in, []*verification{v}); err != nil {
		return nil, err
	}
	return s.signJSON(v.result)
}

// VerifyLicenseBatch verifies up to contracts.MaxBatchItems licenses for one
// purpose. The batch's signature, shape and the caller's role are checked
// first (a failure refuses the whole batch); then every item is validated
// and verified concurrently, each bounded by its library's timeout, so one
// slow library does not hold back the others. Items without their own
// purpose or case id take the batch's. Every item gets a usage record; all
// are stored in one write before the signed results are returned, in item
// order.
func (s *Service) VerifyLicenseBatch(ctx context.Context, in Inbound) (*Signed, error) {
	var b contracts.BatchVerifyRequest
	if err := s.checkVerifyBody(ctx, in, &b); err != nil {
		return nil, s.refuse(ctx, in, &contracts.LicenseVerifyRequest{Purpose: b.Purpose, CaseID: b.CaseID}, err)
	}
	if err := b.Validate(); err != nil {
		return nil, s.refuse(ctx, in, &contracts.LicenseVerifyRequest{Purpose: b.Purpose, CaseID: b.CaseID}, fromField(err))
	}
	if err := Authorize(in.Caller, ActVerify, nil, ""); err != nil {
		return nil, s.refuse(ctx, in, &contracts.LicenseVerifyRequest{Purpose: b.Purpose, CaseID: b.CaseID}, err)
	}
	out := contracts.BatchVerifyResult{Results: make([]contracts.BatchItemResult, len(b.Items))}
	vs := make([]*verification, len(b.Items))
	errs := make([]error, len(b.Items))
	var wg sync.WaitGroup
	for i := range b.Items {
		item := &b.Items[i]
		if item.Purpose == "" {
			item.Purpose = b.Purpose
		}
		if item.CaseID == "" {
			item.CaseID = b.CaseID
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := item.Validate(); err != nil {
				errs[i] = fromField(err)
				return
			}
			vs[i], errs[i] = s.verifyOne(ctx, in.Caller, item)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			continue
		}
		ge := (*Error)(nil)
		if !errors.As(err, &ge) || ge.Code == contracts.CodeInternal {
			return nil, err
		}
		if vs[i], err = s.refused(in.Caller, &b.Items[i], ge); err != nil {
			return nil, err
		}
		out.Results[i].Error = &contracts.Error{Code: ge.Code, Message: ge.Message}
	}
	if err := s.storeUsage(ctx, in, vs); err != nil {
		return nil, err
	}
	for i, v := range vs {
		out.Results[i].Index = i
		if errs[i] == nil {
			r := v.result
			out.Results[i].Result = &r
		}
	}
	return s.signJSON(out)
}

// checkVerifyBody checks the signature of a verification request and
// decodes it strictly into v.
func (s *Service) checkVerifyBody(ctx context.Context, in Inbound, v any) error {
	if err := s.verify(ctx, in); err != nil {
		return err
	}
	return decodeStrict(in.Body, v)
}

// signJSON marshals v and signs it with the gateway key.
func (s *Service) signJSON(v any) (*Signed, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, internal(err)
	}
	sig, err := s.crypto.Sign(body)
	if err != nil {
		return nil, internal(fmt.Errorf("sign answer: %w", err))
	}
	return &Signed{Body: body, Signature: sig, KeyID: s.crypto.KeyID()}, nil
}

// verifyOne verifies one validated request: route, cache or lookup,
// outcome. It fails only before the lookup (no_route) or internally.
func (s *Service) verifyOne(ctx context.Context, p Principal, req *contracts.LicenseVerifyRequest) (*verification, error) {
	region := req.IssuerRegionOf()
	if region == "" {
		return nil, failf(contracts.CodeValidationFailed, "issuer_region: is required when the license is named by a citizen holder")
	}
	lib, err := s.dir.RouteLicense(region, req.TypeCode())
	if err != nil {
		return nil, err
	}
	v, err := s.newVerification(p, req)
	if err != nil {
		return nil, err
	}
	v.entry.Library = lib.ID
	key := cacheKey(lib.ID, req)
	var rec *contracts.LicenseRecord
	if c := s.licenses.Cache; c != nil {
		if hit, ok := c.Get(key); ok {
			rec, v.result.Cached = &hit.Record, true
		}
	}
	if rec == nil {
		rec, err = s.lookup(ctx, p, lib, req)
		switch {
		case err != nil:
			s.log.WarnContext(ctx, "license library unavailable", "library", lib.ID, "usage_record_id", v.result.UsageRecordID, "err", err)
			v.result.Outcome = contracts.LicenseOutcomeSourceUnavailable
		case rec == nil:
			v.result.Outcome = contracts.LicenseOutcomeNotFound
		case s.licenses.Cache != nil:
			s.licenses.Cache.Add(key, CachedLicense{Record: *rec})
		}
	}
	if rec != nil {
		v.result.Outcome, v.result.Mismatches = LicenseOutcomeOf(req, rec, s.today(v.result.CheckedAt))
		v.result.License = metadataOf(rec)
		v.result.SourceRegion = region
		v.entry.HolderType, v.entry.HolderID = rec.Holder.HolderType, rec.Holder.IDNumber
		v.entry.Record.LicenseID = rec.LicenseID
		v.entry.Record.LicenseTypeCode = rec.TypeCode
		v.entry.Record.HolderIDMasked = contracts.MaskID(rec.Holder.IDNumber)
	} else if v.result.Outcome == contracts.LicenseOutcomeNotFound {
		v.result.SourceRegion = region
	}
	v.entry.Record.Outcome = v.result.Outcome
	v.entry.Record.SourceRegion = v.result.SourceRegion
	v.entry.Record.Cached = v.result.Cached
	if lib.Library.Usage != nil {
		if v.delivery, err = s.usageDelivery(lib.ID, v.entry.Record); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// newVerification starts the record of a verification by p: a fresh usage
// record id, the time, and who asked. A window caller is the window (and
// its token's sub the clerk); a partner system names the window and clerk
// in the request (the token's sub stands in for a missing operator_id).
func (s *Service) newVerification(p Principal, req *contracts.LicenseVerifyRequest) (*verification, error) {
	id, err := s.newID()
	if err != nil {
		return nil, internal(err)
	}
	now := s.clock.Now().UTC()
	r := contracts.UsageRecord{
		UsageRecordID: id, Caller: p.ID(), Purpose: req.Purpose, CaseID: req.CaseID,
		LicenseID: req.LicenseID, LicenseTypeCode: req.TypeCode(), CheckedAt: now,
	}
	if p.Partner.Has(contracts.RoleWindow) && !p.Partner.Has(contracts.RolePartner) {
		r.WindowID, r.OperatorID = p.ID(), p.Subject
	} else {
		r.WindowID, r.OperatorID = req.WindowID, req.OperatorID
		if r.OperatorID == "" {
			r.OperatorID = p.Subject
		}
	}
	e := UsageEntry{Record: r, Subject: p.Subject}
	if req.Holder != nil {
		e.HolderType, e.HolderID = req.Holder.HolderType, req.Holder.IDNumber
		e.Record.HolderIDMasked = contracts.MaskID(req.Holder.IDNumber)
	}
	return &verification{
		result: contracts.LicenseVerifyResult{CheckedAt: now, UsageRecordID: id},
		entry:  e,
	}, nil
}

// refuse records a refused verification and returns err for the caller.
// A failure to record is logged; the caller still gets err, the reason it
// was refused.
func (s *Service) refuse(ctx context.Context, in Inbound, req *contracts.LicenseVerifyRequest, err error) error {
	ge := (*Error)(nil)
	if !errors.As(err, &ge) {
		return err
	}
	v, rerr := s.refused(in.Caller, req, ge)
	if rerr == nil {
		rerr = s.storeUsage(ctx, in, []*verification{v})
	}
	if rerr != nil {
		s.log.ErrorContext(ctx, "recording a refused verification failed", "code", ge.Code, "err", rerr)
	}
	return err
}

// refused builds the usage record of a verification refused with ge. Only
// the request fields that are well formed on their own are kept: a refused
// request is not trusted further.
func (s *Service) refused(p Principal, req *contracts.LicenseVerifyRequest, ge *Error) (*verification, error) {
	clean := contracts.LicenseVerifyRequest{}
	if utf8.ValidString(req.Purpose) && utf8.RuneCountInString(req.Purpose) <= contracts.MaxPurposeChars {
		clean.Purpose = req.Purpose
	}
	if _, err := contracts.ParseLicenseID(req.LicenseID); err == nil {
		clean.LicenseID = req.LicenseID
	}
	if contracts.ValidateLicenseTypeCode("", req.LicenseTypeCode) == nil {
		clean.LicenseTypeCode = req.LicenseTypeCode
	}
	if h := req.Holder; h != nil && contracts.ValidateHolderID(h.HolderType, h.IDNumber) == nil {
		clean.Holder = h
	}
	for _, f := range []struct {
		dst *string
		v   string
	}{{&clean.CaseID, req.CaseID}, {&clean.WindowID, req.WindowID}} {
		if contracts.ValidateOpaqueID("", f.v) == nil {
			*f.dst = f.v
		}
	}
	if utf8.ValidString(req.OperatorID) && len(req.OperatorID) <= contracts.MaxCodeLen {
		clean.OperatorID = req.OperatorID
	}
	v, err := s.newVerification(p, &clean)
	if err != nil {
		return nil, err
	}
	v.entry.Record.ErrorCode = ge.Code
	return v, nil
}

// storeUsage writes the usage records of vs and their deliveries in one
// atomic write, with their evidence (a license.verified record per
// verification, naming the request in's body by its SM3, and a
// usage.recorded record per delivery), and wakes the dispatcher.
func (s *Service) storeUsage(ctx context.Context, in Inbound, vs []*verification) error {
	entries := make([]UsageEntry, 0, len(vs))
	evidence := make([]contracts.EvidenceRecord, 0, 2*len(vs))
	var enqueue []*Delivery
	traceID, traceparent := traceOf(ctx, in.TraceID)
	p := in.Caller
	requester := ""
	if len(p.Partner.Regions) > 0 {
		requester = p.Partner.Regions[0]
	}
	bodySM3 := ""
	if len(in.Body) > 0 {
		bodySM3 = s.crypto.SM3Hex(in.Body)
	}
	// A verification joins a case's evidence chain only when it succeeded
	// and its caller may read that case: a case id is the caller's claim.
	joins := map[string]bool{}
	caseOf := func(r contracts.UsageRecord) (caseID, ref string) {
		if r.CaseID == "" {
			return "", ""
		}
		ok, seen := joins[r.CaseID]
		if !seen && r.ErrorCode == "" {
			c, err := s.store.GetCase(ctx, r.CaseID)
			ok = err == nil && Authorize(p, ActReadCase, c, "") == nil
			joins[r.CaseID] = ok
		}
		if ok && r.ErrorCode == "" {
			return r.CaseID, ""
		}
		return "", r.CaseID
	}
	for _, v := range vs {
		entries = append(entries, v.entry)
		if d := v.delivery; d != nil {
			d.TraceParent = traceparent
			enqueue = append(enqueue, d)
		}
		if s.noEvidence {
			continue
		}
		r := v.entry.Record
		caseID, caseRef := caseOf(r)
		evidence = append(evidence, contracts.EvidenceRecord{
			At: r.CheckedAt, Actor: r.Caller, Event: contracts.EventLicenseVerified, ExchangeID: r.UsageRecordID, CaseID: caseID,
			Partner: v.entry.Library, Region: r.SourceRegion, Kind: contracts.ExchangeKindLicenseVerify, TraceID: traceID,
			KeyID: in.KeyID, JTI: p.TokenID, BodySM3: bodySM3,
			Detail: (&contracts.EvidenceDetail{
				UsageRecordID: r.UsageRecordID, LicenseID: r.LicenseID, LicenseTypeCode: r.LicenseTypeCode,
				Outcome: string(r.Outcome), ErrorCode: r.ErrorCode, Cached: &r.Cached,
				WindowID: r.WindowID, PurposeSM3: s.crypto.SM3Hex([]byte(r.Purpose)),
				RequesterRegion: requester, Signature: b64(in.Signature), CaseRef: caseRef,
			}).JSON(),
		})
		if d := v.delivery; d != nil {
			evidence = append(evidence, contracts.EvidenceRecord{
				At: r.CheckedAt, Actor: GatewayActor, Event: contracts.EventUsageRecorded, ExchangeID: d.ExchangeID,
				DeliveryID: d.ID, CaseID: caseID, Partner: d.Partner, Region: r.SourceRegion,
				Kind: contracts.ExchangeKindUsageRecord, TraceID: traceID,
				Detail: (&contracts.EvidenceDetail{
					UsageRecordID: r.UsageRecordID, PayloadSM3: s.crypto.SM3Hex(d.Payload), RequesterRegion: requester,
				}).JSON(),
			})
		}
	}
	if err := s.store.AddUsage(ctx, entries, enqueue, evidence...); err != nil {
		return internal(fmt.Errorf("store usage records: %w", err))
	}
	for _, e := range entries {
		recordVerification(ctx, e.Record)
	}
	if len(enqueue) > 0 {
		s.notify()
	}
	return nil
}

// usageDelivery builds the outbox message passing record to library.
func (s *Service) usageDelivery(library string, record contracts.UsageRecord) (*Delivery, error) {
	id, err := s.newID()
	if err != nil {
		return nil, internal(err)
	}
	exchangeID, err := s.newID()
	if err != nil {
		return nil, internal(err)
	}
	now := record.CheckedAt
	payload, err := json.Marshal(contracts.UsageRecordDelivery{DeliveryID: id, ExchangeID: exchangeID, SentAt: now, Record: record})
	if err != nil {
		return nil, internal(err)
	}
	return &Delivery{
		ID: id, Kind: contracts.DeliveryKindUsageRecord, Partner: library, ExchangeID: exchangeID,
		Payload: payload, State: contracts.TransportStatePending, NextAt: now, CreatedAt: now,
	}, nil
}

// lookup asks lib for the license req names on behalf of p (whose first
// region is sent as requester_region), bounded by the library's
// timeout even if the adapter ignores its context. It returns nil, nil when
// the library has no such license, and an error when it gave no usable
// answer, including an answer about another license than the one asked.
func (s *Service) lookup(ctx context.Context, p Principal, lib *Partner, req *contracts.LicenseVerifyRequest) (*contracts.LicenseRecord, error) {
	exchangeID, err := s.newID()
	if err != nil {
		return nil, err
	}
	q := &contracts.LicenseLookupRequest{
		ExchangeID: exchangeID, LicenseID: req.LicenseID, LicenseTypeCode: req.LicenseTypeCode,
		LicenseNumber: req.LicenseNumber, Purpose: req.Purpose, CaseID: req.CaseID,
	}
	if req.LicenseID == "" {
		q.Holder = req.Holder
	}
	if len(p.Partner.Regions) > 0 {
		q.RequesterRegion = p.Partner.Regions[0]
	}
	ctx, cancel := context.WithTimeout(ctx, lib.Library.Timeout)
	defer cancel()
	type answer struct {
		resp *contracts.LicenseLookupResponse
		err  error
	}
	ch := make(chan answer, 1)
	go func() {
		resp, _, _, err := lib.Library.Source.LookupLicense(ctx, q)
		ch <- answer{resp, err}
	}()
	var a answer
	select {
	case a = <-ch:
	case <-ctx.Done():
		return nil, fmt.Errorf("no answer within %s: %w", lib.Library.Timeout, ctx.Err())
	}
	switch {
	case a.err != nil:
		return nil, a.err
	case a.resp == nil:
		return nil, errors.New("library gave no answer")
	case a.resp.ExchangeID != exchangeID:
		return nil, errors.New("library answered another exchange")
	case !a.resp.Found:
		return nil, nil
	case a.resp.License == nil:
		return nil, errors.New("library said found but sent no license")
	}
	if err := a.resp.License.Validate(); err != nil {
		return nil, fmt.Errorf("library sent a malformed license: %w", err)
	}
	if !answers(req, a.resp.License) {
		return nil, errors.New("library answered with another license than the one asked")
	}
	return a.resp.License, nil
}

// answers reports whether rec is the license req asked for: the same
// identifier, or the same holder and type (and number, when asked).
func answers(req *contracts.LicenseVerifyRequest, rec *contracts.LicenseRecord) bool {
	if req.LicenseID != "" {
		return rec.LicenseID == req.LicenseID
	}
	return rec.Holder.HolderType == req.Holder.HolderType && rec.Holder.IDNumber == req.Holder.IDNumber &&
		rec.TypeCode == req.LicenseTypeCode && (req.LicenseNumber == "" || rec.Number == req.LicenseNumber)
}

// cacheKey names what a lookup asks of a library.
func cacheKey(library string, req *contracts.LicenseVerifyRequest) string {
	if req.LicenseID != "" {
		return library + "|id|" + req.LicenseID
	}
	return library + "|holder|" + req.Holder.HolderType + "|" + req.Holder.IDNumber + "|" + req.LicenseTypeCode + "|" + req.LicenseNumber
}

// today returns the calendar date of t where licenses' dates are decided.
func (s *Service) today(t time.Time) string {
	z := s.licenses.Zone
	if z == nil {
		z = chinaStandardTime
	}
	return t.In(z).Format(time.DateOnly)
}

// LicenseOutcomeOf maps a library's record to the outcome of verifying
// req on date today (YYYY-MM-DD). The record's status decides first:
// suspended, revoked, cancelled and expired are reported as such, and a
// valid license outside its validity dates (before valid_from or after
// valid_until) is expired (失效: not in force). Then every presented field
// is compared; any difference makes the outcome mismatch and is named in
// the returned list: holder (a holder given beside license_id differs),
// holder_name, license_number, valid_from, valid_until, file_sm3 (a
// presented digest the record lacks counts as different: it cannot be
// confirmed). Otherwise the outcome is valid.
func LicenseOutcomeOf(req *contracts.LicenseVerifyRequest, rec *contracts.LicenseRecord, today string) (contracts.LicenseOutcome, []string) {
	switch rec.Status {
	case contracts.LicenseStatusSuspended:
		return contracts.LicenseOutcomeSuspended, nil
	case contracts.LicenseStatusRevoked:
		return contracts.LicenseOutcomeRevoked, nil
	case contracts.LicenseStatusCancelled:
		return contracts.LicenseOutcomeCancelled, nil
	case contracts.LicenseStatusExpired:
		return contracts.LicenseOutcomeExpired, nil
	}
	if today < rec.ValidFrom || rec.ValidUntil != "" && today > rec.ValidUntil {
		return contracts.LicenseOutcomeExpired, nil
	}
	var mm []string
	differs := func(name, presented, recorded string) {
		if presented != "" && presented != recorded && !slices.Contains(mm, name) {
			mm = append(mm, name)
		}
	}
	if h := req.Holder; h != nil && (h.HolderType != rec.Holder.HolderType || h.IDNumber != rec.Holder.IDNumber) {
		mm = append(mm, "holder")
	}
	differs("license_number", req.LicenseNumber, rec.Number)
	if f := req.Face; f != nil {
		differs("holder_name", f.HolderName, rec.Holder.Name)
		differs("license_number", f.LicenseNumber, rec.Number)
		differs("valid_from", f.ValidFrom, rec.ValidFrom)
		differs("valid_until", f.ValidUntil, rec.ValidUntil)
	}
	differs("file_sm3", req.FileSM3, rec.FileSM3)
	if len(mm) > 0 {
		return contracts.LicenseOutcomeMismatch, mm
	}
	return contracts.LicenseOutcomeValid, nil
}

// metadataOf is what windows see of a record: the holder's id masked.
func metadataOf(r *contracts.LicenseRecord) *contracts.LicenseMetadata {
	return &contracts.LicenseMetadata{
		LicenseID: r.LicenseID, TypeCode: r.TypeCode, TypeName: r.TypeName, Name: r.Name, Number: r.Number,
		Holder:     contracts.LicenseHolder{HolderType: r.Holder.HolderType, IDMasked: contracts.MaskID(r.Holder.IDNumber), Name: r.Holder.Name},
		IssuerName: r.IssuerName, IssuerCode: r.IssuerCode, IssuedOn: r.IssuedOn, ValidFrom: r.ValidFrom,
		ValidUntil: r.ValidUntil, Status: r.Status,
	}
}

// DefaultUsagePage and MaxUsagePage bound a page of usage records.
const (
	DefaultUsagePage = 100
	MaxUsagePage     = 500
)

// UsageFilter is what a caller asks of ListUsage; the HTTP layer validates
// its fields.
type UsageFilter struct {
	HolderID, LicenseID, Caller string
	From, To                    time.Time
	Cursor                      string
	Limit                       int // 0: DefaultUsagePage
}

// ListUsage returns a page of usage records, newest first. Auditors see
// every record; a partner system sees the records of its own calls and of
// licenses its library answered for; a window sees its own. Holder ids are
// masked; a holder filter matches the full id the store keeps.
func (s *Service) ListUsage(ctx context.Context, p Principal, f UsageFilter) (*contracts.UsageRecordPage, error) {
	if err := Authorize(p, ActListUsage, nil, ""); err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultUsagePage
	}
	limit = min(limit, MaxUsagePage)
	q := UsageQuery{HolderID: f.HolderID, LicenseID: f.LicenseID, Caller: f.Caller, From: f.From, To: f.To, Before: f.Cursor, Limit: limit + 1}
	if !p.Partner.Has(contracts.RoleAuditor) {
		q.VisibleTo = p.ID()
	}
	es, err := s.store.ListUsage(ctx, q)
	if err != nil {
		return nil, internal(err)
	}
	page := &contracts.UsageRecordPage{Records: make([]contracts.UsageRecord, 0, min(len(es), limit))}
	for i, e := range es {
		if i == limit {
			page.NextCursor = es[i-1].Record.UsageRecordID
			break
		}
		page.Records = append(page.Records, e.Record)
	}
	return page, nil
}
