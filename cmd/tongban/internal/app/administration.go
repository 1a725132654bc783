package app

import (
	"fmt"
	"os"

	"github.com/tongban/tongban/gateway/cases"
	"github.com/tongban/tongban/gateway/catalogue"
	"github.com/tongban/tongban/gateway/config"
	"github.com/tongban/tongban/gateway/workdays"
)

// administration is what the gateway loaded of its administration
// settings: the cases service's settings and the SM3 of each file.
type administration struct {
	cases        cases.Administration
	catalogueSM3 string
	calendarSM3  string
	items        int
}

// loadAdministration reads the catalogue and calendar files the
// configuration names (none is an administration without them) and
// computes their SM3 with sm3.
func loadAdministration(cfg *config.Config, sm3 func([]byte) string) (*administration, error) {
	a := cfg.Administration
	out := &administration{cases: cases.Administration{EvaluationPartner: a.Evaluations.Partner,
		ReplyLimit: workdays.Limit{Days: a.Evaluations.ReplyDays, Unit: workdays.Unit(a.Evaluations.ReplyUnit)}}}
	if a.WarnBeforeDays > 0 {
		out.cases.WarnBefore = a.WarnBeforeDays
	}
	if a.Catalogue != "" {
		raw, err := os.ReadFile(cfg.Resolve(a.Catalogue))
		if err != nil {
			return nil, fmt.Errorf("administration.catalogue: %w", err)
		}
		cat, err := catalogue.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("administration.catalogue %s: %w", a.Catalogue, err)
		}
		out.cases.Catalogue, out.catalogueSM3, out.items = cat, sm3(raw), len(cat.Items())
		out.cases.CatalogueSM3 = out.catalogueSM3
	}
	if a.Calendar != "" {
		raw, err := os.ReadFile(cfg.Resolve(a.Calendar))
		if err != nil {
			return nil, fmt.Errorf("administration.calendar: %w", err)
		}
		cal, err := workdays.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("administration.calendar %s: %w", a.Calendar, err)
		}
		out.cases.Calendar, out.calendarSM3 = cal, sm3(raw)
	}
	return out, nil
}
