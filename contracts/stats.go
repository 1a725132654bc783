package contracts

import "time"

// OtherPartners is the PartnerStats.Partner of the deliveries of every
// partner beyond a point's partner limit, summed. It cannot be a partner
// id: partner ids start with a letter or a digit.
const OtherPartners = "_other"

// Stats is the body of GET /v1/admin/stats: the gateway's own numbers
// over its recent past (the last hour by default), sampled from its
// metrics every IntervalSeconds, oldest point first. The history lives in
// the gateway's memory: a restart starts it empty, and each replica keeps
// its own.
type Stats struct {
	// IntervalSeconds is how often the gateway samples its metrics.
	IntervalSeconds int `json:"interval_seconds"`
	// Points are the samples, oldest first; always an array (empty until
	// the first sample, one interval after the start).
	Points []StatsPoint `json:"points"`
}

// StatsPoint is one sample: the counts of what happened in the Seconds
// before At, and the levels at At.
type StatsPoint struct {
	// At is when the sample was taken.
	At time.Time `json:"at"`
	// Seconds is the length of the window the counts cover (IntervalSeconds
	// but for the first point, which counts from the gateway's start, or a
	// sample taken late).
	Seconds float64 `json:"seconds"`
	// DeliveriesByState is how many deliveries the outbox holds in each
	// transport state at At (dead: dead letters); absent when the store
	// did not answer.
	DeliveriesByState map[TransportState]int64 `json:"deliveries_by_state,omitempty"`
	// EvidenceHead is the evidence log's last sequence number at At;
	// absent when the store did not answer.
	EvidenceHead *int64 `json:"evidence_head,omitempty"`
	// EvidenceGrowth is how many records the evidence log grew by since the
	// previous point; absent when this point's or the previous point's
	// head is unknown, or the head went back (a restored store).
	EvidenceGrowth *int64 `json:"evidence_growth,omitempty"`
	// HTTPRequests is how many API requests were answered in the window
	// (the probes /healthz, /readyz and /metrics are not counted).
	HTTPRequests int64 `json:"http_requests"`
	// HTTPErrors is how many of them were answered with a 5xx status.
	HTTPErrors int64 `json:"http_errors"`
	// HTTPRefused is how many of them were answered with a 4xx status
	// (authentication, authorization, validation, rate limits).
	HTTPRefused int64 `json:"http_refused"`
	// Partners are the delivery attempts of the window by partner, sorted
	// by partner id with OtherPartners last; always an array, bounded (the
	// least active partners beyond the limit are summed as OtherPartners).
	Partners []PartnerStats `json:"partners"`
}

// PartnerStats is one partner's delivery attempts in a point's window.
type PartnerStats struct {
	// Partner is the partner id the deliveries go to, or OtherPartners.
	Partner string `json:"partner"`
	// Delivered is how many attempts the partner acknowledged.
	Delivered int64 `json:"delivered"`
	// Offered is how many messages were handed to the partner's mailbox
	// (a partner that pulls).
	Offered int64 `json:"offered"`
	// Failed is how many attempts failed: those to be retried, those that
	// made a dead letter and those cut off by a crash.
	Failed int64 `json:"failed"`
	// Dead is how many of the failed attempts made a dead letter.
	Dead int64 `json:"dead"`
	// P50Ms and P95Ms estimate the median and the 95th percentile of the
	// timed attempts' durations, send to answer, in milliseconds, from the
	// duration histogram's buckets; absent when no attempt was timed.
	P50Ms *float64 `json:"p50_ms,omitempty"`
	P95Ms *float64 `json:"p95_ms,omitempty"`
}
