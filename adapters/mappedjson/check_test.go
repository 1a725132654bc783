package mappedjson_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tongban/tongban/adapters/adaptertest"
	"github.com/tongban/tongban/contracts"
)

// nestedForm returns a form object nested depth levels deep.
func nestedForm(depth int) json.RawMessage {
	return json.RawMessage(strings.Repeat(`{"a":`, depth-1) + `{}` + strings.Repeat(`}`, depth-1))
}

// TestCheckCase: CheckCase refuses the cases a district could never read
// (its reader's bounds, the mapping's tables), naming the field and
// quoting nothing, and takes those it reads: every case it takes is
// delivered to the district built from the same config, every case it
// refuses fails to deliver.
func TestCheckCase(t *testing.T) {
	gw, partner := newPair(t)
	formAsObject := func(cfg map[string]any) { at(cfg, "case_delivery", "request", "bj")["sqb"] = "submission.form" }
	longArray := json.RawMessage(`{"rows":[` + strings.Repeat(`1,`, 1000) + `1]}`)
	tests := []struct {
		name   string
		config func(cfg map[string]any)
		change func(d *contracts.CaseDelivery)
		field  string // "" when the case can be sent
	}{
		{name: "a full case", change: func(*contracts.CaseDelivery) {}},
		{name: "a form 32 levels deep, carried as a string", change: func(d *contracts.CaseDelivery) { d.Submission.Form = nestedForm(32) }},
		{name: "a form 33 levels deep, carried as a string", change: func(d *contracts.CaseDelivery) { d.Submission.Form = nestedForm(33) },
			field: "submission.form"},
		{name: "a form 300 levels deep", change: func(d *contracts.CaseDelivery) { d.Submission.Form = nestedForm(300) },
			field: "submission.form"},
		{name: "a form with an array of 1001 items", change: func(d *contracts.CaseDelivery) { d.Submission.Form = longArray },
			field: "submission.form"},
		{name: "a form 29 levels deep, carried as an object", config: formAsObject,
			change: func(d *contracts.CaseDelivery) { d.Submission.Form = nestedForm(29) }},
		{name: "a form 31 levels deep, carried as an object inside bj", config: formAsObject,
			change: func(d *contracts.CaseDelivery) { d.Submission.Form = nestedForm(31) }, field: "submission.form"},
		{name: "an id type the district's table lacks", change: func(d *contracts.CaseDelivery) { d.Submission.Applicant.HolderType = "414" },
			field: "submission.applicant.holder_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dist := newDistrict(t, partner, exampleWith(t, "http://127.0.0.1:1", tt.config))
			a := newAdapter(t, gw, exampleWith(t, dist.URL, tt.config))
			d := adaptertest.FullCase(1, gw.SM3Hex)
			tt.change(d)
			err := a.CheckCase(d)
			_, _, _, derr := a.DeliverCase(t.Context(), d)
			if tt.field == "" {
				if err != nil || derr != nil {
					t.Fatalf("CheckCase: %v; DeliverCase: %v; want both to take the case", err, derr)
				}
				return
			}
			var fe *contracts.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || fe.Code != contracts.CodeValidationFailed {
				t.Fatalf("CheckCase: %#v, want validation_failed at %s", err, tt.field)
			}
			if strings.Contains(fe.Message, "414") || strings.Contains(fe.Message, `"a"`) {
				t.Errorf("message %q quotes the value", fe.Message)
			}
			if derr == nil {
				t.Errorf("DeliverCase delivered a case CheckCase refused")
			}
		})
	}
}

// TestCheckStatus: CheckStatus refuses an update whose state the
// district's table does not list (it could never be written), naming the
// field, and takes the others; the district built from the same config
// receives what it takes.
func TestCheckStatus(t *testing.T) {
	gw, partner := newPair(t)
	noConcluded := func(cfg map[string]any) { delete(at(cfg, "tables", "bjzt"), "concluded") }
	tests := []struct {
		name   string
		config func(cfg map[string]any)
		field  string
	}{
		{"a concluded update", nil, ""},
		{"a state the district's table lacks", noConcluded, "update.state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dist := newDistrict(t, partner, exampleWith(t, "http://127.0.0.1:1", tt.config))
			a := newAdapter(t, gw, exampleWith(t, dist.URL, tt.config))
			var d *contracts.StatusDelivery
			for i, u := range adaptertest.Updates("case-0001", gw.SM3Hex) {
				if u.State == contracts.CaseStateConcluded {
					d = adaptertest.StatusDelivery(i, u)
				}
			}
			if d == nil {
				t.Fatal("the fixtures have no concluded update")
			}
			err := a.CheckStatus(d)
			_, _, _, derr := a.DeliverStatus(t.Context(), d)
			if tt.field == "" {
				if err != nil || derr != nil {
					t.Fatalf("CheckStatus: %v; DeliverStatus: %v; want both to take it", err, derr)
				}
				return
			}
			var fe *contracts.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || fe.Code != contracts.CodeValidationFailed {
				t.Fatalf("CheckStatus: %#v, want validation_failed at %s", err, tt.field)
			}
			if derr == nil {
				t.Error("DeliverStatus delivered an update CheckStatus refused")
			}
		})
	}
}
