package cases

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/catalogue"
	"github.com/tongban/tongban/gateway/workdays"
)

// Administration is what the districts are held to beyond carrying a
// case: the service catalogue submissions are checked and routed
// against, the working-day calendar deadlines run on, when warnings
// fall, and where evaluations go. The zero value administers nothing:
// no catalogue check, no clock, evaluations to the owner only with
// follow-ups due in DefaultReplyLimit calendar days.
type Administration struct {
	// Catalogue, when set, is checked on every submission (not in the
	// catalogue: not_in_catalogue; not open between the regions:
	// service_not_open) and routes a submission without to_region to
	// the item's owner. Its item's promised limit is a case's clock.
	Catalogue *catalogue.Catalogue
	// CatalogueSM3 is the SM3 of the catalogue file, published with it.
	CatalogueSM3 string
	// Calendar counts working days. Without one no clock runs, and a
	// follow-up limit in working days is refused at configuration.
	Calendar *workdays.Calendar
	// WarnBefore is how many counted days before a deadline the warning
	// notice (预警) falls (see workdays.Clock.WarnAt); 0: no warning.
	WarnBefore int
	// EvaluationPartner, when set, is the partner id of the evaluation
	// system (a province's 好差评 platform) that receives every
	// evaluation, reply and overdue follow-up as a notice too.
	EvaluationPartner string
	// ReplyLimit is the time the owner has to reply to a negative
	// evaluation; zero: DefaultReplyLimit.
	ReplyLimit workdays.Limit
}

// DefaultReplyLimit is the follow-up limit when none is configured.
var DefaultReplyLimit = workdays.Limit{Days: 5, Unit: workdays.CalendarDays}

// DefaultWarnBefore is the warning's lead when none is configured.
const DefaultWarnBefore = 2

// adminMetrics count what the administration raises.
type adminMetrics struct {
	notices metric.Int64Counter
}

func newAdminMetrics(m metric.Meter) *adminMetrics {
	a := &adminMetrics{}
	a.notices, _ = m.Int64Counter("tongban.case.notices", metric.WithUnit("{case}"),
		metric.WithDescription("Cases whose deadline came near (deadline_warning) or passed (deadline_overdue), and negative evaluations whose follow-up went unanswered (follow_up_overdue), by owner."))
	return a
}

func (a *adminMetrics) raised(ctx context.Context, owner string, t contracts.NoticeType) {
	a.notices.Add(ctx, 1, metric.WithAttributes(attribute.String("owner", owner), attribute.String("notice", string(t))))
}

// routeItem finds the owner of a submission's item accepted in from:
// with a catalogue, the item must be in it and open between from and
// the owner (*to, filled in when empty); without one, *to is required.
// field prefixes the fields named in errors ("" or "parts[i].").
func (s *Service) routeItem(caller, from string, to *string, code, field string) (*gateway.Partner, error) {
	if cat := s.admin.Catalogue; cat != nil {
		region, err := cat.Route(code, from, *to)
		var r *catalogue.Refusal
		switch {
		case errors.As(err, &r) && r.Reason == catalogue.NotInCatalogue:
			return nil, gateway.Failf(contracts.CodeNotInCatalogue, "%sservice_item.implementation_code: %s", field, r.Message)
		case errors.As(err, &r):
			return nil, gateway.Failf(contracts.CodeServiceNotOpen, "%s", r.Message)
		case err != nil:
			return nil, gateway.Internal(err)
		}
		*to = region
	} else if *to == "" {
		return nil, gateway.Failf(contracts.CodeValidationFailed, "%sto_region: is required (the gateway has no service catalogue to route by)", field)
	}
	owner, err := s.dir.Route(*to)
	if err != nil {
		return nil, err
	}
	if owner.ID == caller {
		return nil, gateway.Failf(contracts.CodeValidationFailed, "%sto_region: routes back to the sender %s", field, owner.ID)
	}
	return owner, nil
}

// Catalogue returns the service catalogue for p (roles partner and
// window): no items, and no SM3, when the gateway has none (it then
// routes every submission by its to_region alone).
func (s *Service) Catalogue(_ context.Context, p gateway.Principal) (*contracts.Catalogue, error) {
	if err := gateway.Authorize(p, gateway.ActReadCatalogue, nil, ""); err != nil {
		return nil, err
	}
	out := &contracts.Catalogue{SM3: s.admin.CatalogueSM3, Items: []contracts.CatalogueItem{}}
	if c := s.admin.Calendar; c != nil {
		out.Calendar, out.CalendarYears = c.Name(), c.Years()
	}
	cat := s.admin.Catalogue
	if cat == nil {
		return out, nil
	}
	for _, it := range cat.Items() {
		ci := contracts.CatalogueItem{
			BasicCode: it.BasicCode, ImplementationCode: it.ImplementationCode, Name: it.Name, Owners: it.Owners,
			Scope: contracts.CatalogueScope(it.Scope), AcceptRegions: it.AcceptRegions,
			StatutoryLimit: wireLimit(it.StatutoryLimit), PromisedLimit: wireLimit(it.PromisedLimit),
			Materials: make([]contracts.CatalogueMaterial, 0, len(it.Materials)),
		}
		for _, m := range it.Materials {
			ci.Materials = append(ci.Materials, contracts.CatalogueMaterial{MaterialID: m.MaterialID, Name: m.Name, Required: m.Required})
		}
		out.Items = append(out.Items, ci)
	}
	return out, nil
}

func wireLimit(l workdays.Limit) contracts.TimeLimit {
	return contracts.TimeLimit{Days: l.Days, Unit: contracts.LimitUnit(l.Unit)}
}

// limitText is a limit as evidence details write it ("5 working_days").
func limitText(l workdays.Limit) string { return fmt.Sprintf("%d %s", l.Days, l.Unit) }

// admin returns c's administration, made when it has none.
func adminOf(c *gateway.Case) *gateway.CaseAdmin {
	if c.Admin == nil {
		c.Admin = &gateway.CaseAdmin{}
	}
	return c.Admin
}
