package licenses

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// verification is one verification's outcome as the service records it.
type verification struct {
	result   contracts.LicenseVerifyResult
	entry    gateway.UsageEntry
	delivery *gateway.Delivery // to the issuing library, nil when none
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
func (s *Service) VerifyLicense(ctx context.Context, in gateway.Inbound) (*gateway.Signed, error) {
	var req contracts.LicenseVerifyRequest
	if err := s.checkVerifyBody(ctx, in, &req); err != nil {
		return nil, s.refuse(ctx, in, &req, err)
	}
	if err := req.Validate(); err != nil {
		return nil, s.refuse(ctx, in, &req, gateway.FromField(err))
	}
	if err := gateway.Authorize(in.Caller, gateway.ActVerify, nil, ""); err != nil {
		return nil, s.refuse(ctx, in, &req, err)
	}
	v, err := s.verifyOne(ctx, in.Caller, &req)
	if err != nil {
		if ge := (*gateway.Error)(nil); errors.As(err, &ge) && ge.Code != contracts.CodeInternal {
			return nil, s.refuse(ctx, in, &req, err)
		}
		return nil, err
	}
	if err := s.storeUsage(ctx, in, []*verification{v}); err != nil {
		return nil, err
	}
	return gateway.SignJSON(s.crypto, v.result)
}

// VerifyLicenseBatch verifies up to contracts.MaxBatchItems licenses for one
// purpose. The batch's signature, shape and the caller's role are checked
// first (a failure refuses the whole batch); then every item is validated
// and verified concurrently, each bounded by its library's timeout, so one
// slow library does not hold back the others. Items without their own
// purpose or case id take the batch's. Every item gets a usage record; all
// are stored in one write before the signed results are returned, in item
// order.
func (s *Service) VerifyLicenseBatch(ctx context.Context, in gateway.Inbound) (*gateway.Signed, error) {
	var b contracts.BatchVerifyRequest
	if err := s.checkVerifyBody(ctx, in, &b); err != nil {
		return nil, s.refuse(ctx, in, &contracts.LicenseVerifyRequest{Purpose: b.Purpose, CaseID: b.CaseID}, err)
	}
	if err := b.Validate(); err != nil {
		return nil, s.refuse(ctx, in, &contracts.LicenseVerifyRequest{Purpose: b.Purpose, CaseID: b.CaseID}, gateway.FromField(err))
	}
	if err := gateway.Authorize(in.Caller, gateway.ActVerify, nil, ""); err != nil {
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
				errs[i] = gateway.FromField(err)
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
		ge := (*gateway.Error)(nil)
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
	return gateway.SignJSON(s.crypto, out)
}

// checkVerifyBody checks the signature of a verification request and
// decodes it strictly into v.
func (s *Service) checkVerifyBody(ctx context.Context, in gateway.Inbound, v any) error {
	if err := gateway.VerifyInbound(ctx, s.env.Telemetry, s.crypto, in); err != nil {
		return err
	}
	return gateway.DecodeStrict(in.Body, v)
}

// verifyOne verifies one validated request: route, cache or lookup,
// outcome. It fails only before the lookup (no_route) or internally.
func (s *Service) verifyOne(ctx context.Context, p gateway.Principal, req *contracts.LicenseVerifyRequest) (*verification, error) {
	region := req.IssuerRegionOf()
	if region == "" {
		return nil, gateway.Failf(contracts.CodeValidationFailed, "issuer_region: is required when the license is named by a citizen holder")
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
	if c := s.cache; c != nil {
		if hit, ok := c.Get(key); ok {
			rec, v.result.Cached = &hit.Record, true
		}
	}
	if rec == nil {
		rec, err = s.lookup(ctx, p, lib, req)
		switch {
		case err != nil:
			s.env.Log.WarnContext(ctx, "license library unavailable", "library", lib.ID, "usage_record_id", v.result.UsageRecordID, "err", err)
			v.result.Outcome = contracts.LicenseOutcomeSourceUnavailable
		case rec == nil:
			v.result.Outcome = contracts.LicenseOutcomeNotFound
		case s.cache != nil:
			s.cache.Add(key, CachedLicense{Record: *rec})
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
func (s *Service) newVerification(p gateway.Principal, req *contracts.LicenseVerifyRequest) (*verification, error) {
	id, err := s.newID()
	if err != nil {
		return nil, gateway.Internal(err)
	}
	now := s.env.Clock.Now().UTC()
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
	e := gateway.UsageEntry{Record: r, Subject: p.Subject}
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
func (s *Service) refuse(ctx context.Context, in gateway.Inbound, req *contracts.LicenseVerifyRequest, err error) error {
	ge := (*gateway.Error)(nil)
	if !errors.As(err, &ge) {
		return err
	}
	v, rerr := s.refused(in.Caller, req, ge)
	if rerr == nil {
		rerr = s.storeUsage(ctx, in, []*verification{v})
	}
	if rerr != nil {
		s.env.Log.ErrorContext(ctx, "recording a refused verification failed", "code", ge.Code, "err", rerr)
	}
	return err
}

// refused builds the usage record of a verification refused with ge. Only
// the request fields that are well formed on their own are kept: a refused
// request is not trusted further.
func (s *Service) refused(p gateway.Principal, req *contracts.LicenseVerifyRequest, ge *gateway.Error) (*verification, error) {
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
// atomic write, with their evidence (from the recorder: a license.verified
// record per verification, naming the request in's body, and a
// usage.recorded record per delivery), counts them and wakes the
// dispatcher.
func (s *Service) storeUsage(ctx context.Context, in gateway.Inbound, vs []*verification) error {
	entries := make([]gateway.UsageEntry, 0, len(vs))
	evidence := make([]contracts.EvidenceRecord, 0, 2*len(vs))
	var enqueue []*gateway.Delivery
	_, traceparent := gateway.TraceOf(ctx, in.TraceID)
	caseOf := s.caseJoins(ctx, in.Caller)
	for _, v := range vs {
		entries = append(entries, v.entry)
		if d := v.delivery; d != nil {
			d.TraceParent = traceparent
			enqueue = append(enqueue, d)
		}
		caseID, caseRef := caseOf(v.entry.Record)
		evidence = append(evidence, s.env.Recorder.Verification(ctx, in, v.entry, v.delivery, caseID, caseRef)...)
	}
	if err := s.store.AddUsage(ctx, entries, enqueue, evidence...); err != nil {
		return gateway.Internal(fmt.Errorf("store usage records: %w", err))
	}
	for _, e := range entries {
		s.count(ctx, e.Record)
	}
	if len(enqueue) > 0 {
		s.env.Wake()
	}
	return nil
}

// caseJoins returns the rule deciding, for each usage record of p's
// request, which case's evidence chain its records join (caseID) and
// which case they only name (ref). A verification joins a case's chain
// only when it succeeded and its caller may read that case: a case id is
// the caller's claim. Each case is read once per request.
func (s *Service) caseJoins(ctx context.Context, p gateway.Principal) func(r contracts.UsageRecord) (caseID, ref string) {
	joins := map[string]bool{}
	return func(r contracts.UsageRecord) (string, string) {
		if r.CaseID == "" {
			return "", ""
		}
		ok, seen := joins[r.CaseID]
		if !seen && r.ErrorCode == "" {
			c, err := s.store.GetCase(ctx, r.CaseID)
			ok = err == nil && gateway.Authorize(p, gateway.ActReadCase, c, "") == nil
			joins[r.CaseID] = ok
		}
		if ok && r.ErrorCode == "" {
			return r.CaseID, ""
		}
		return "", r.CaseID
	}
}

// count counts one license verification: by outcome ("refused:<code>"
// for a refused one) and whether the answer was cached.
func (s *Service) count(ctx context.Context, r contracts.UsageRecord) {
	outcome := string(r.Outcome)
	if outcome == "" {
		outcome = "refused:" + string(r.ErrorCode)
	}
	s.verifications.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome), attribute.Bool("cached", r.Cached)))
}

// usageDelivery builds the outbox message passing record to library.
func (s *Service) usageDelivery(library string, record contracts.UsageRecord) (*gateway.Delivery, error) {
	id, err := s.newID()
	if err != nil {
		return nil, gateway.Internal(err)
	}
	exchangeID, err := s.newID()
	if err != nil {
		return nil, gateway.Internal(err)
	}
	now := record.CheckedAt
	payload, err := json.Marshal(contracts.UsageRecordDelivery{DeliveryID: id, ExchangeID: exchangeID, SentAt: now, Record: record})
	if err != nil {
		return nil, gateway.Internal(err)
	}
	return &gateway.Delivery{
		ID: id, Kind: contracts.DeliveryKindUsageRecord, Partner: library, ExchangeID: exchangeID,
		Payload: payload, Pull: s.dir.Pulls(library), State: contracts.TransportStatePending, NextAt: now, CreatedAt: now,
	}, nil
}

// lookup asks lib for the license req names on behalf of p (whose first
// region is sent as requester_region), bounded by the library's
// timeout even if the adapter ignores its context. It returns nil, nil when
// the library has no such license, and an error when it gave no usable
// answer, including an answer about another license than the one asked,
// or when the library's circuit is open (then the library is not asked;
// each such error counts towards opening it).
func (s *Service) lookup(ctx context.Context, p gateway.Principal, lib *gateway.Partner, req *contracts.LicenseVerifyRequest) (*contracts.LicenseRecord, error) {
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
	done, wait, ok := s.circuits.Allow(lib.ID)
	if !ok {
		return nil, fmt.Errorf("not asked: the library's circuit is open after failed lookups (for %s more)", wait.Round(time.Millisecond))
	}
	rec, err := s.ask(ctx, lib, req, q)
	done(err != nil)
	return rec, err
}

// ask sends lookup q for req to lib, bounded by the library's timeout, and
// reads its answer (see lookup).
func (s *Service) ask(ctx context.Context, lib *gateway.Partner, req *contracts.LicenseVerifyRequest, q *contracts.LicenseLookupRequest) (*contracts.LicenseRecord, error) {
	exchangeID := q.ExchangeID
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
	return t.In(s.zone).Format(time.DateOnly)
}
