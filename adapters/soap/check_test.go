package soap

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tongban/tongban/contracts"
)

// TestCheckCase: CheckCase refuses exactly the cases DeliverCase could
// never send, naming the field by its JSON path and quoting nothing, and
// sends nothing itself.
func TestCheckCase(t *testing.T) {
	gw, partner := newPair(t)
	srv := newPartnerServer(t, partner, "")
	a := newAdapter(t, gw, srv.endpoint(), `, "max_retries": 0`)
	tests := []struct {
		name   string
		change func(d *contracts.CaseDelivery)
		field  string // "" when the case can be sent
		value  string // what the message must not quote
	}{
		{name: "the sample case (tab, CR, LF, emoji, markup)", change: func(*contracts.CaseDelivery) {}},
		{name: "a control character in the remark", change: func(d *contracts.CaseDelivery) { d.Submission.Remark = "请加急\x01处理" },
			field: "submission.remark", value: "请加急"},
		{name: "an escape in the applicant's name", change: func(d *contracts.CaseDelivery) { d.Submission.Applicant.Name = "王\x1b秀英" },
			field: "submission.applicant.name", value: "秀英"},
		{name: "invalid UTF-8 in a material's name", change: func(d *contracts.CaseDelivery) { d.Submission.Materials[1].Name = "照片\xff" },
			field: "submission.materials[1].name", value: "照片"},
		{name: "a control character in the recipient's address", change: func(d *contracts.CaseDelivery) {
			d.Submission.ResultDelivery.Address = "延陵西路\x0888号"
		}, field: "submission.result_delivery.address", value: "延陵西路"},
		{name: "a form string escaping a control character is fine", change: func(d *contracts.CaseDelivery) {
			d.Submission.Form = []byte(`{"note":"\u0001"}`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sampleCase(time.UTC)
			tt.change(d)
			err := a.CheckCase(d)
			before := len(srv.seen())
			_, _, _, derr := a.DeliverCase(t.Context(), d)
			if tt.field == "" {
				if err != nil || derr != nil {
					t.Fatalf("CheckCase: %v, DeliverCase: %v; want both to take the case", err, derr)
				}
				return
			}
			var fe *contracts.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || fe.Code != contracts.CodeValidationFailed {
				t.Fatalf("CheckCase: %#v, want validation_failed at %s", err, tt.field)
			}
			if strings.Contains(fe.Message, tt.value) {
				t.Errorf("message %q quotes the value", fe.Message)
			}
			if e := asError(t, derr); !e.Permanent() {
				t.Errorf("DeliverCase of the refused case: %v, want a permanent failure", e)
			}
			if n := len(srv.seen()) - before; n != 0 {
				t.Errorf("the partner got %d calls for a case it cannot take", n)
			}
		})
	}
	if err := a.CheckCase(nil); err != nil {
		t.Errorf("CheckCase(nil): %v", err)
	}
}

// TestCheckStatus: CheckStatus refuses the status updates DeliverStatus
// could never send, naming the field, and takes the others.
func TestCheckStatus(t *testing.T) {
	gw, partner := newPair(t)
	srv := newPartnerServer(t, partner, "")
	a := newAdapter(t, gw, srv.endpoint(), `, "max_retries": 0`)
	tests := []struct {
		name   string
		change func(d *contracts.StatusDelivery)
		field  string
	}{
		{"the sample update", func(*contracts.StatusDelivery) {}, ""},
		{"a control character in the note", func(d *contracts.StatusDelivery) { d.Update.Note = "准予\x07许可" }, "update.note"},
		{"invalid UTF-8 in a document's name", func(d *contracts.StatusDelivery) { d.Update.Documents[0].Name = "\xfe" }, "update.documents[0].name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sampleStatus()
			tt.change(d)
			err := a.CheckStatus(d)
			_, _, _, derr := a.DeliverStatus(t.Context(), d)
			if tt.field == "" {
				if err != nil || derr != nil {
					t.Fatalf("CheckStatus: %v, DeliverStatus: %v; want both to take it", err, derr)
				}
				return
			}
			var fe *contracts.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || fe.Code != contracts.CodeValidationFailed || strings.Contains(fe.Message, "准予") {
				t.Fatalf("CheckStatus: %#v, want validation_failed at %s quoting nothing", err, tt.field)
			}
			if derr == nil {
				t.Error("DeliverStatus sent an update CheckStatus refused")
			}
		})
	}
}
