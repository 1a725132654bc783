package licenses

import (
	"context"
	"time"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
)

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
func (s *Service) ListUsage(ctx context.Context, p gateway.Principal, f UsageFilter) (*contracts.UsageRecordPage, error) {
	if err := gateway.Authorize(p, gateway.ActListUsage, nil, ""); err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultUsagePage
	}
	limit = min(limit, MaxUsagePage)
	q := gateway.UsageQuery{HolderID: f.HolderID, LicenseID: f.LicenseID, Caller: f.Caller, From: f.From, To: f.To, Before: f.Cursor, Limit: limit + 1}
	if !p.Partner.Has(contracts.RoleAuditor) {
		q.VisibleTo = p.ID()
	}
	es, err := s.store.ListUsage(ctx, q)
	if err != nil {
		return nil, gateway.Internal(err)
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
