package cases

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// 一件事 bundles, as the gateway keeps them:
//   - a bundle is a case of its own (its BundleID is its ID, it has no
//     owner) with one case per part (BundleID the bundle's), all stored
//     in one write with the exchange and its receipt, which names every
//     part's case;
//   - each part is delivered to its owner at once, unless it waits
//     (after) for other parts: then its delivery is stored held and is
//     released, with those parts' result documents, once each concluded
//     approved; a part it waits for that is denied, rejected or
//     cancelled cancels it (and whatever waits on it), with a
//     part_cancelled notice to the sender;
//   - each part has its own lifecycle, clock and evaluation; its status
//     updates go back to the sender as for any case;
//   - when every part has concluded (or was rejected or cancelled) the
//     bundle concludes, approved only if every part was approved, and one
//     concluding update on the bundle's case id, carrying every approved
//     part's result documents, goes back to the sender.

// SubmitBundle accepts a 一件事 bundle from the district that accepted it.
func (s *Service) SubmitBundle(ctx context.Context, in gateway.Inbound) (*gateway.Signed, error) {
	if err := gateway.VerifyInbound(ctx, s.env.Telemetry, s.crypto, in); err != nil {
		return nil, err
	}
	var b contracts.BundleSubmission
	if err := gateway.DecodeStrict(in.Body, &b); err != nil {
		return nil, err
	}
	return s.bundle(ctx, in, &b, nil)
}

// bundle accepts a bundle whose signature over in.Body was verified;
// enc renders the receipt.
func (s *Service) bundle(ctx context.Context, in gateway.Inbound, b *contracts.BundleSubmission, enc receiptEncoder) (*gateway.Signed, error) {
	if err := b.ValidateWith(s.validation); err != nil {
		return nil, gateway.FromField(err)
	}
	for i, p := range b.Parts {
		for j, m := range p.Materials {
			if err := s.checkContent(fmt.Sprintf("parts[%d].materials[%d]", i, j), m.Content, m.SM3); err != nil {
				return nil, err
			}
		}
	}
	if err := gateway.Authorize(in.Caller, gateway.ActSubmitBundle, nil, b.FromRegion); err != nil {
		return nil, err
	}
	owners := make([]*gateway.Partner, len(b.Parts))
	for i := range b.Parts {
		o, err := s.routeItem(in.Caller.ID(), b.FromRegion, &b.Parts[i].ToRegion, b.Parts[i].ServiceItem.ImplementationCode, fmt.Sprintf("parts[%d].", i))
		if err != nil {
			return nil, err
		}
		owners[i] = o
	}
	bodySM3 := s.crypto.SM3Hex(in.Body)
	st := step{exchangeID: b.ExchangeID, kind: gateway.ExchangeBundle, event: contracts.EventBundleReceived}
	st.load = func(context.Context) (*gateway.Case, bool, error) {
		id, err := s.newID()
		if err != nil {
			return nil, false, gateway.Internal(err)
		}
		return &gateway.Case{ID: id, BundleID: id, ExchangeID: b.ExchangeID, Sender: in.Caller.ID(), FromRegion: b.FromRegion,
			LocalCaseNo: b.LocalCaseNo, ServiceItem: contracts.ServiceItem{Name: b.Name}}, true, nil
	}
	st.apply = func(ctx context.Context, c *gateway.Case, now time.Time) (*effect, error) {
		c.State, c.CreatedAt, c.UpdatedAt = contracts.CaseStateReceived, now, now
		eff := &effect{region: c.FromRegion,
			status: &gateway.Status{CaseID: c.ID, State: c.State, At: now, ExchangeID: b.ExchangeID, ReportedBy: in.Caller.ID(),
				Note: fmt.Sprintf("一件事 %d parts", len(b.Parts))}}
		type made struct {
			c *gateway.Case
			d *gateway.Delivery
		}
		var parts []made
		for i, p := range b.Parts {
			id, err := s.newID()
			if err != nil {
				return nil, gateway.Internal(err)
			}
			pc := &gateway.Case{ID: id, BundleID: c.ID, ExchangeID: b.ExchangeID, Sender: c.Sender, Owner: owners[i].ID,
				FromRegion: b.FromRegion, ToRegion: p.ToRegion, LocalCaseNo: b.LocalCaseNo, ServiceItem: p.ServiceItem,
				State: contracts.CaseStateReceived, CreatedAt: now, UpdatedAt: now,
				Admin: &gateway.CaseAdmin{Part: &gateway.PartAdmin{Part: p.Part, Name: b.Name, Parts: len(b.Parts), After: p.After}}}
			sub := b.PartSubmission(i)
			d, err := s.caseDelivery(pc, &sub, s.bundleRef(pc), now)
			if err != nil {
				return nil, err
			}
			note := fmt.Sprintf("part %s of 一件事 %s", p.Part, c.ID)
			if len(p.After) > 0 {
				pc.State, d.NextAt, pc.Admin.Part.Held = contracts.CaseStateWaiting, gateway.HeldUntil, d.ID
				note += ", waiting for " + strings.Join(p.After, ", ")
			}
			parts = append(parts, made{pc, d})
			eff.parts = append(eff.parts, contracts.ReceiptPart{Part: p.Part, CaseID: pc.ID, State: pc.State})
			eff.also = append(eff.also, gateway.Change{Case: pc, Create: true, Enqueue: []*gateway.Delivery{d},
				Status: &gateway.Status{CaseID: pc.ID, State: pc.State, At: now, ExchangeID: b.ExchangeID, ReportedBy: in.Caller.ID(), Note: note}})
		}
		adminOf(c).Bundle = &gateway.BundleAdmin{Name: b.Name}
		eff.extra = func(x *contracts.EvidenceDetail) {
			for _, p := range parts {
				x.Parts = append(x.Parts, p.c.ID)
			}
		}
		eff.late = func(ex *gateway.Exchange) {
			px := *ex
			px.Kind = gateway.ExchangeCase
			for i, p := range parts {
				part := p.c.Admin.Part.Part
				eff.also[i].Evidence = s.env.Recorder.Exchange(ctx, in, &px, p.c, contracts.EventCaseReceived, p.d, c.FromRegion,
					func(x *contracts.EvidenceDetail) { x.Part = part })
			}
		}
		return eff, nil
	}
	return s.accept(ctx, in, bodySM3, st, enc)
}

// bundleRef is what c's delivery says of its bundle; nil when c is no
// part of one.
func (s *Service) bundleRef(c *gateway.Case) *contracts.BundleRef {
	if c.Admin == nil || c.Admin.Part == nil {
		return nil
	}
	p := c.Admin.Part
	return &contracts.BundleRef{BundleID: c.BundleID, Name: p.Name, Part: p.Part, Parts: p.Parts, After: p.After}
}

// approved reports whether part p concluded approved.
func approved(p *gateway.Case) bool {
	return p.Outcome == contracts.OutcomeApproved && final(p.State) && p.State != contracts.CaseStateRejected && p.State != contracts.CaseStateCancelled
}

// failed reports whether part p was denied, rejected or cancelled.
func failed(p *gateway.Case) bool {
	switch p.State {
	case contracts.CaseStateRejected, contracts.CaseStateCancelled:
		return true
	}
	return final(p.State) && p.Outcome == contracts.OutcomeDenied
}

// partName is p's name within its bundle.
func partName(p *gateway.Case) string {
	if p.Admin == nil || p.Admin.Part == nil {
		return ""
	}
	return p.Admin.Part.Part
}

// partReported adds to eff what an owner's update u of part c (already
// applied to c) does to its bundle: waiting parts released or cancelled,
// the bundle's state, and its concluding update once every part has
// concluded. The bundle is always written, at its version, so that two
// parts reported at once are applied one after the other.
func (s *Service) partReported(ctx context.Context, c *gateway.Case, u *contracts.StatusUpdate, now time.Time, eff *effect) error {
	bundle, err := s.store.GetCase(ctx, c.BundleID)
	if err != nil {
		return gateway.Internal(fmt.Errorf("read bundle %s: %w", c.BundleID, err))
	}
	parts, err := s.store.BundleParts(ctx, c.BundleID)
	if err != nil {
		return gateway.Internal(fmt.Errorf("read the parts of bundle %s: %w", c.BundleID, err))
	}
	byName := map[string]*gateway.Case{}
	for i, p := range parts {
		if p.ID == c.ID {
			parts[i] = c
		}
		byName[partName(parts[i])] = parts[i]
	}
	// docs returns the result documents of approved part p.
	docs := func(p *gateway.Case) ([]contracts.Document, error) {
		if p.ID == c.ID {
			return u.Documents, nil
		}
		return s.concludedDocuments(ctx, p.ID)
	}
	// Cancel what waits on a failed part, to a fixpoint.
	for range len(parts) {
		again := false
		for _, w := range parts {
			if w.State != contracts.CaseStateWaiting {
				continue
			}
			var why string
			for _, a := range w.Admin.Part.After {
				if p := byName[a]; p != nil && failed(p) {
					why = fmt.Sprintf("part %s, which it waited for, was %s", a, reason(p))
					break
				}
			}
			if why == "" {
				continue
			}
			if err := s.cancelPart(ctx, w, why, now, eff); err != nil {
				return err
			}
			again = true
		}
		if !again {
			break
		}
	}
	// Release what waits only on approved parts.
	for _, w := range parts {
		if w.State != contracts.CaseStateWaiting || !slices.ContainsFunc(w.Admin.Part.After, func(a string) bool { return byName[a] != nil }) {
			continue
		}
		ready := true
		for _, a := range w.Admin.Part.After {
			if p := byName[a]; p == nil || !approved(p) {
				ready = false
			}
		}
		if !ready {
			continue
		}
		var pre []contracts.PrerequisiteResult
		for _, a := range w.Admin.Part.After {
			p := byName[a]
			d, err := docs(p)
			if err != nil {
				return err
			}
			pre = append(pre, contracts.PrerequisiteResult{Part: a, CaseID: p.ID, Outcome: p.Outcome, ConcludedAt: p.UpdatedAt, Documents: d})
		}
		if err := s.releasePart(ctx, w, pre, now, eff); err != nil {
			return err
		}
	}
	return s.settleBundle(ctx, bundle, parts, docs, now, eff)
}

// reason says how part p failed.
func reason(p *gateway.Case) string {
	if p.State == contracts.CaseStateConcluded || p.State == contracts.CaseStateDispatched || p.State == contracts.CaseStateDelivered {
		return string(p.Outcome)
	}
	return string(p.State)
}

// cancelPart cancels waiting part w: its held delivery is cancelled and
// the sender is told.
func (s *Service) cancelPart(ctx context.Context, w *gateway.Case, why string, now time.Time, eff *effect) error {
	held := w.Admin.Part.Held
	w.State, w.UpdatedAt, w.Admin.Part.Held = contracts.CaseStateCancelled, now, ""
	dels, notes, err := s.notify(ctx, w, now, contracts.Notice{Type: contracts.NoticePartCancelled, Reason: why}, "", w.Sender)
	if err != nil {
		return err
	}
	part := w.Admin.Part.Part
	ev := s.env.Recorder.Administration(ctx, w, now, contracts.EventPartCancelled, nil, func(x *contracts.EvidenceDetail) { x.Part, x.Reason = part, why })
	eff.also = append(eff.also, gateway.Change{Case: w, Cancel: []string{held}, Enqueue: dels, Evidence: append(ev, notes...),
		Status: &gateway.Status{CaseID: w.ID, State: w.State, At: now, ReportedBy: gateway.GatewayActor, Reason: why}})
	return nil
}

// releasePart delivers waiting part w to its owner with the results of
// the parts it waited for: its held delivery is cancelled and its
// successor, carrying them, enqueued.
func (s *Service) releasePart(ctx context.Context, w *gateway.Case, pre []contracts.PrerequisiteResult, now time.Time, eff *effect) error {
	heldID := w.Admin.Part.Held
	ds, err := s.store.Deliveries(ctx, w.ID)
	if err != nil {
		return gateway.Internal(fmt.Errorf("read the held delivery of part %s: %w", w.ID, err))
	}
	i := slices.IndexFunc(ds, func(d *gateway.Delivery) bool { return d.ID == heldID })
	if i < 0 || ds[i].Payload == nil {
		return gateway.Internal(fmt.Errorf("part %s: its held delivery %s is gone", w.ID, heldID))
	}
	held := ds[i]
	var cd contracts.CaseDelivery
	if err := json.Unmarshal(held.Payload, &cd); err != nil {
		return gateway.Internal(fmt.Errorf("decode the held delivery of part %s: %w", w.ID, err))
	}
	id, err := s.newID()
	if err != nil {
		return gateway.Internal(err)
	}
	cd.DeliveryID, cd.SentAt = id, now
	if cd.Bundle == nil {
		cd.Bundle = s.bundleRef(w)
	}
	cd.Bundle.Prerequisites = pre
	payload, err := contracts.MarshalCaseDelivery(&cd)
	if err != nil {
		return gateway.Internal(err)
	}
	d := &gateway.Delivery{ID: id, CaseID: w.ID, Kind: contracts.DeliveryKindCase, Partner: w.Owner, ExchangeID: cd.ExchangeID,
		Payload: payload, State: contracts.TransportStatePending, NextAt: now, CreatedAt: now, Pull: s.dir.Pulls(w.Owner)}
	w.State, w.UpdatedAt, w.Admin.Part.Held = contracts.CaseStateReceived, now, ""
	names := make([]string, 0, len(pre))
	for _, p := range pre {
		names = append(names, p.Part)
	}
	why := "released: " + strings.Join(names, ", ") + " concluded approved"
	part := w.Admin.Part.Part
	ev := s.env.Recorder.Administration(ctx, w, now, contracts.EventPartReleased, d, func(x *contracts.EvidenceDetail) { x.Part, x.Reason = part, why })
	eff.also = append(eff.also, gateway.Change{Case: w, Cancel: []string{heldID}, Enqueue: []*gateway.Delivery{d}, Evidence: ev,
		Status: &gateway.Status{CaseID: w.ID, State: w.State, At: now, ReportedBy: gateway.GatewayActor, Note: why}})
	return nil
}

// concludedDocuments returns the result documents of the concluding
// update of case id, as delivered to its sender.
func (s *Service) concludedDocuments(ctx context.Context, id string) ([]contracts.Document, error) {
	ds, err := s.store.Deliveries(ctx, id)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	for _, d := range slices.Backward(ds) {
		if d.Kind != contracts.DeliveryKindStatus || d.Payload == nil {
			continue
		}
		var sd contracts.StatusDelivery
		if err := json.Unmarshal(d.Payload, &sd); err != nil {
			return nil, gateway.Internal(fmt.Errorf("decode status delivery %s: %w", d.ID, err))
		}
		if sd.Update.State == contracts.CaseStateConcluded {
			return sd.Update.Documents, nil
		}
	}
	return nil, nil
}

// bundleState is the aggregate state of parts.
func bundleState(parts []*gateway.Case) contracts.BundleState {
	done, denied, correction := true, false, false
	for _, p := range parts {
		switch {
		case failed(p):
			denied = true
		case p.State == contracts.CaseStateCorrectionRequired:
			correction, done = true, false
		case !final(p.State):
			done = false
		}
	}
	switch {
	case done:
		return contracts.BundleConcluded
	case correction:
		return contracts.BundleCorrectionRequired
	case denied:
		return contracts.BundleSomeDenied
	}
	return contracts.BundleInProgress
}

// settleBundle writes bundle's new state from parts and, when every part
// has concluded, its concluding update to the sender. The bundle is
// written even when only UpdatedAt changes: its version is what makes two
// parts reported at once apply one after the other.
func (s *Service) settleBundle(ctx context.Context, bundle *gateway.Case, parts []*gateway.Case, docs func(*gateway.Case) ([]contracts.Document, error), now time.Time, eff *effect) error {
	ba := adminOf(bundle)
	if ba.Bundle == nil {
		ba.Bundle = &gateway.BundleAdmin{}
	}
	state := bundleState(parts)
	bundle.UpdatedAt = now
	ch := gateway.Change{Case: bundle}
	if !ba.Bundle.ConcludedAt.IsZero() || state != contracts.BundleConcluded {
		if bundle.State == contracts.CaseStateReceived {
			bundle.State = contracts.CaseStateInProgress
		}
		eff.also = append(eff.also, ch)
		return nil
	}
	outcome := contracts.OutcomeApproved
	var (
		results []contracts.Document
		summary []string
	)
	for _, p := range parts {
		summary = append(summary, partName(p)+" "+reason(p))
		if !approved(p) {
			outcome = contracts.OutcomeDenied
			continue
		}
		d, err := docs(p)
		if err != nil {
			return err
		}
		results = append(results, d...)
	}
	exID, err := s.newID()
	if err != nil {
		return gateway.Internal(err)
	}
	id, err := s.newID()
	if err != nil {
		return gateway.Internal(err)
	}
	note := "一件事 concluded: " + strings.Join(summary, "; ")
	u := contracts.StatusUpdate{ExchangeID: exID, CaseID: bundle.ID, State: contracts.CaseStateConcluded, ReportedAt: now,
		Outcome: outcome, Note: note, Documents: results}
	payload, err := json.Marshal(contracts.StatusDelivery{DeliveryID: id, CaseID: bundle.ID, ExchangeID: exID,
		LocalCaseNo: bundle.LocalCaseNo, SentAt: now, Update: u})
	if err != nil {
		return gateway.Internal(err)
	}
	d := &gateway.Delivery{ID: id, CaseID: bundle.ID, Kind: contracts.DeliveryKindStatus, Partner: bundle.Sender, ExchangeID: exID,
		Payload: payload, State: contracts.TransportStatePending, NextAt: now, CreatedAt: now, Pull: s.dir.Pulls(bundle.Sender)}
	bundle.State, bundle.Outcome, ba.Bundle.ConcludedAt = contracts.CaseStateConcluded, outcome, now
	ch.Enqueue = []*gateway.Delivery{d}
	ch.Status = &gateway.Status{CaseID: bundle.ID, State: bundle.State, Outcome: outcome, At: now, ExchangeID: exID,
		ReportedBy: gateway.GatewayActor, Note: note}
	ch.Evidence = s.env.Recorder.Administration(ctx, bundle, now, contracts.EventBundleConcluded, d, func(x *contracts.EvidenceDetail) {
		x.Outcome = string(outcome)
	})
	eff.also = append(eff.also, ch)
	return nil
}

// bundleView is bundle c's parts and aggregate state for its CaseView.
func (s *Service) bundleView(ctx context.Context, c *gateway.Case, now time.Time) (*contracts.BundleView, error) {
	parts, err := s.store.BundleParts(ctx, c.ID)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	v := &contracts.BundleView{BundleID: c.ID, State: bundleState(parts), Parts: make([]contracts.PartView, 0, len(parts))}
	if c.Admin != nil && c.Admin.Bundle != nil {
		v.Name = c.Admin.Bundle.Name
	}
	for _, p := range parts {
		pv := contracts.PartView{Part: partName(p), CaseID: p.ID, Owner: p.Owner, ToRegion: p.ToRegion, ServiceItem: p.ServiceItem,
			State: p.State, Outcome: p.Outcome, Deadline: s.deadline(p, now)}
		if p.Admin != nil && p.Admin.Part != nil {
			pv.After = p.Admin.Part.After
		}
		v.Parts = append(v.Parts, pv)
	}
	return v, nil
}
