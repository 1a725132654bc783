package sqlite

import (
	"context"
	"database/sql"
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
		ifnull(c.overdue, 0) AS c_overdue, c.deadline AS c_deadline,
		CASE e.event WHEN '` + contracts.EventCaseReceived + `' THEN c.from_region
			WHEN '` + contracts.EventBundleReceived + `' THEN c.from_region
			WHEN '` + contracts.EventEvaluationReceived + `' THEN c.from_region
			WHEN '` + contracts.EventReplyReceived + `' THEN c.to_region
			WHEN '` + contracts.EventStatusApplied + `' THEN c.to_region
			ELSE ifnull(json_extract(e.record, '$.detail.requester_region'), '') END AS from_region,
		CASE e.event WHEN '` + contracts.EventCaseReceived + `' THEN c.to_region
			WHEN '` + contracts.EventEvaluationReceived + `' THEN c.to_region
			WHEN '` + contracts.EventReplyReceived + `' THEN c.from_region
			WHEN '` + contracts.EventStatusApplied + `' THEN c.from_region
			ELSE e.region END AS to_region,
		ifnull(d.id, '') AS d_id, ifnull(d.state, '') AS d_state, ifnull(d.attempts, 0) AS d_attempts,
		(SELECT max(x.at) FROM evidence x WHERE x.exchange_id = e.exchange_id AND x.exchange_id <> '') AS updated
	FROM evidence e
	LEFT JOIN cases c ON c.id = e.case_id
	LEFT JOIN deliveries d ON d.id = e.delivery_id
	WHERE e.event IN ` + storecodec.SearchedEventsSQL + `)`

// SearchExchanges returns the exchanges q selects, newest first (see
// gateway.Store). The cursor is the evidence seq of the last exchange of
// the page.
func (s *Store) SearchExchanges(ctx context.Context, q gateway.ExchangeQuery) ([]contracts.ExchangeSummary, int64, error) {
	if q.Limit <= 0 {
		return nil, 0, fmt.Errorf("sqlite: search exchanges: limit %d is not positive", q.Limit)
	}
	var (
		e     encoder
		conds []string
		args  []any
	)
	add := func(cond string, a ...any) {
		conds = append(conds, cond)
		args = append(args, a...)
	}
	if q.Event == "" {
		add("event IN " + storecodec.ExchangeEventsSQL)
	} else {
		add("event = ?", q.Event)
	}
	if q.CaseID != "" {
		add("case_id = ?", q.CaseID)
	}
	if q.ExchangeID != "" {
		add("exchange_id = ?", q.ExchangeID)
	}
	if q.Partner != "" {
		add("(actor = ? OR partner = ?)", q.Partner, q.Partner)
	}
	if q.Region != "" {
		p := storecodec.LikeEscape(gateway.RegionPattern(q.Region)) + "%"
		add(`(from_region LIKE ? ESCAPE '\' OR to_region LIKE ? ESCAPE '\')`, p, p)
	}
	if q.Kind != "" {
		add("kind = ?", string(q.Kind))
	}
	if q.State != "" {
		add("d_state = ?", string(q.State))
	}
	if q.Overdue {
		add("c_overdue = 1")
	}
	if !q.DueBefore.IsZero() {
		add("c_deadline IS NOT NULL AND c_deadline < ?", e.Time(q.DueBefore))
	}
	if !q.From.IsZero() {
		add("at >= ?", e.Time(q.From))
	}
	if !q.To.IsZero() {
		add("at < ?", e.Time(q.To))
	}
	if q.Before > 0 {
		add("seq < ?", q.Before)
	}
	if e.Err() != nil {
		return nil, 0, fmt.Errorf("sqlite: search exchanges: time bound: %w", e.Err())
	}
	text := exchangeSelect
	if len(conds) > 0 {
		text += " WHERE " + strings.Join(conds, " AND ")
	}
	text += " ORDER BY seq DESC LIMIT ?"
	rows, err := s.rdb.QueryContext(ctx, text, append(args, q.Limit+1)...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: search exchanges: %w", err)
	}
	defer rows.Close()
	var (
		out  []contracts.ExchangeSummary
		seqs []int64
	)
	for rows.Next() {
		x, seq, err := scanExchangeSummary(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("sqlite: search exchanges: %w", err)
		}
		out, seqs = append(out, x), append(seqs, seq)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlite: search exchanges: %w", err)
	}
	if len(out) > q.Limit {
		return out[:q.Limit], seqs[q.Limit-1], nil
	}
	return out, 0, nil
}

// scanExchangeSummary reads one row of exchangeSelect.
func scanExchangeSummary(rows *sql.Rows) (contracts.ExchangeSummary, int64, error) {
	var (
		seq      int64
		record   []byte
		x        contracts.ExchangeSummary
		state    string
		attempts int
		updated  sql.NullInt64
	)
	if err := rows.Scan(&seq, &record, &x.FromRegion, &x.ToRegion, &x.DeliveryID, &state, &attempts, &updated); err != nil {
		return x, 0, err
	}
	if err := storecodec.SummaryFromRecord(seq, record, &x); err != nil {
		return x, 0, err
	}
	x.State, x.Attempts = contracts.TransportState(state), attempts
	if updated.Valid {
		x.UpdatedAt = decInstant(updated.Int64)
	}
	return x, seq, nil
}
