package evidence

import (
	"context"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

// AdminChange returns the record of a change an operator, or a signal,
// made to what is in force (see gateway.Recorder): the operator as actor
// with the token's jti and key id and the subject acting (SignalActor and
// none of those for a signal), the caller concerned as Partner, the SM3
// of the request's body when it had one.
func (r Recorder) AdminChange(ctx context.Context, c gateway.AdminChange) []contracts.EvidenceRecord {
	if r.Off {
		return nil
	}
	traceID, _ := gateway.TraceOf(ctx, "")
	d := c.Detail
	rec := contracts.EvidenceRecord{At: c.At, Actor: gateway.SignalActor, Event: c.Event, Partner: c.Partner, TraceID: traceID}
	if p := c.By; p.Partner != nil {
		rec.Actor, rec.JTI, rec.KeyID, d.Subject = p.ID(), p.TokenID, p.KeyID, p.Subject
	}
	if c.Body != nil {
		rec.BodySM3 = r.Crypto.SM3Hex(c.Body)
	}
	rec.Detail = d.JSON()
	return []contracts.EvidenceRecord{rec}
}
