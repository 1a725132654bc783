package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/tongban/tongban/contracts"
	"github.com/tongban/tongban/gateway"
	"github.com/tongban/tongban/gateway/store/storecodec"
)

// exchangeSelect reads one exchange per starting evidence record (or one
// refused request per access.denied record; the outer WHERE picks), with
// the sides' regions (a case submission goes from the case's from_region
// to its to_region, a status update back; a license verification from
// the requester's region to the issuer's), the delivery's state and the
// time of the exchange's latest record, and the case's overdue flag and
// deadline for the filters. The WHERE clause is appended.
const exchangeSelect = `SELECT seq, record, from_region, to_region, d_id, d_state, d_attempts, updated FROM (
	SELECT e.seq, e.at, e.event, e.actor, e.partner, e.kind, e.case_id, e.exchange_id, e.record,
		coalesce(c.overdue, false) AS c_overdue, c.deadline AS c_deadline,
		CASE e.event WHEN '` + contracts.EventCaseReceived + `' THEN c.from_region
			WHEN '` + contracts.EventBundleReceived + `' THEN c.from_region
			WHEN '` + contracts.EventEvaluationReceived + `' THEN c.from_region
			WHEN '` + contracts.EventReplyReceived + `' THEN c.to_region
			WHEN '` + contracts.EventStatusApplied + `' THEN c.to_region
			ELSE coalesce(convert_from(e.record, 'UTF8')::jsonb #>> '{detail,requester_region}', '') END AS from_region,
		CASE e.event WHEN '` + contracts.EventCaseReceived + `' THEN c.to_region
			WHEN '` + contracts.EventEvaluationReceived + `' THEN c.to_region
			WHEN '` + contracts.EventReplyReceived + `' THEN c.from_region
			WHEN '` + contracts.EventStatusApplied + `' THEN c.from_region
			ELSE e.region END AS to_region,
		coalesce(d.id, '') AS d_id, coalesce(d.state, '') AS d_state, coalesce(d.attempts, 0) AS d_attempts,
		(SELECT max(x.at) FROM evidence x WHERE x.exchange_id = e.exchange_id AND x.exchange_id <> '') AS updated
	FROM evidence e
	LEFT JOIN cases c ON c.id = e.case_id
	LEFT JOIN deliveries d ON d.id = e.delivery_id
	WHERE e.event IN ` + storecodec.SearchedEventsSQL + `) AS x`

// SearchExchanges returns the exchanges q selects, newest first (see
// gateway.AuditReader), at most q.Limit, and the cursor of the next page
// (0 on the last page): the evidence seq of the page's last exchange.
func (s *Store) SearchExchanges(ctx context.Context, q gateway.ExchangeQuery) ([]contracts.ExchangeSummary, int64, error) {
	if q.Limit <= 0 {
		return nil, 0, fmt.Errorf("postgres: search exchanges: limit %d is not positive", q.Limit)
	}
	var (
		e     encoder
		p     params
		conds []string
	)
	if q.Event == "" {
		conds = append(conds, "event IN "+storecodec.ExchangeEventsSQL)
	} else {
		conds = append(conds, "event = "+p.add(q.Event))
	}
	if q.CaseID != "" {
		conds = append(conds, "case_id = "+p.add(q.CaseID))
	}
	if q.ExchangeID != "" {
		conds = append(conds, "exchange_id = "+p.add(q.ExchangeID))
	}
	if q.Partner != "" {
		v := p.add(q.Partner)
		conds = append(conds, "(actor = "+v+" OR partner = "+v+")")
	}
	if q.Region != "" {
		v := p.add(storecodec.LikeEscape(gateway.RegionPattern(q.Region)) + "%")
		conds = append(conds, `(from_region LIKE `+v+` ESCAPE '\' OR to_region LIKE `+v+` ESCAPE '\')`)
	}
	if q.Kind != "" {
		conds = append(conds, "kind = "+p.add(string(q.Kind)))
	}
	if q.State != "" {
		conds = append(conds, "d_state = "+p.add(string(q.State)))
	}
	if q.Overdue {
		conds = append(conds, "c_overdue")
	}
	if !q.DueBefore.IsZero() {
		conds = append(conds, "c_deadline IS NOT NULL AND c_deadline < "+p.add(e.Time(q.DueBefore)))
	}
	if !q.From.IsZero() {
		conds = append(conds, "at >= "+p.add(e.Instant(q.From)))
	}
	if !q.To.IsZero() {
		conds = append(conds, "at < "+p.add(e.Instant(q.To)))
	}
	if q.Before > 0 {
		conds = append(conds, "seq < "+p.add(q.Before))
	}
	if e.Err() != nil {
		return nil, 0, fmt.Errorf("postgres: search exchanges: time bound: %w", e.Err())
	}
	text := exchangeSelect
	if len(conds) > 0 {
		text += " WHERE " + strings.Join(conds, " AND ")
	}
	text += " ORDER BY seq DESC LIMIT " + p.add(q.Limit+1)
	rows, err := s.pool.Query(ctx, text, p.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: search exchanges: %w", err)
	}
	defer rows.Close()
	var (
		out  []contracts.ExchangeSummary
		seqs []int64
	)
	for rows.Next() {
		x, seq, err := scanExchangeSummary(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("postgres: search exchanges: %w", err)
		}
		out, seqs = append(out, x), append(seqs, seq)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("postgres: search exchanges: %w", err)
	}
	if len(out) > q.Limit {
		return out[:q.Limit], seqs[q.Limit-1], nil
	}
	return out, 0, nil
}

// scanExchangeSummary reads one row of exchangeSelect.
func scanExchangeSummary(sc scanner) (contracts.ExchangeSummary, int64, error) {
	var (
		seq      int64
		record   []byte
		x        contracts.ExchangeSummary
		state    string
		attempts int
		updated  *int64
	)
	if err := sc.Scan(&seq, &record, &x.FromRegion, &x.ToRegion, &x.DeliveryID, &state, &attempts, &updated); err != nil {
		return x, 0, err
	}
	if err := storecodec.SummaryFromRecord(seq, record, &x); err != nil {
		return x, 0, err
	}
	x.State, x.Attempts = contracts.TransportState(state), attempts
	if updated != nil {
		x.UpdatedAt = decInstant(*updated)
	}
	return x, seq, nil
}
