package sqlite

// The statements Open and SetPullPartners run at every start of a
// gateway. Each reads through a partial index, never the whole deliveries
// table, so that a start costs what is in flight (or pulled, or dead), not
// what the gateway ever delivered nor its backlog:
// TestStartupStatementsReadNoWholeTable checks their query plans.

// releaseLeasesSQL returns every delivery in flight to the queue, due at
// once (?1 is now): see Options.ReleaseLeases. It reads
// deliveries_in_flight.
const releaseLeasesSQL = `UPDATE deliveries SET state = 'retry_wait', next_at = ?1, lease_until = NULL
	WHERE state = 'in_flight'`

// setPullSQL sets the pull flag of every unfinished delivery whose flag
// differs from whether its partner is in ?1 (a JSON array of partner
// ids). The unfinished deliveries are the due ones (pending, retry_wait,
// in_flight: due_at is not NULL), pushed (deliveries_due) or pulled
// (deliveries_mailbox), and the dead ones (deliveries_dead). The pushed
// ones are read only when ?1 names a partner: with no pulling partner,
// the common case, the statement reads the mailboxes and dead letters
// alone.
const setPullSQL = `UPDATE deliveries SET pull = (partner IN (SELECT value FROM json_each(?1)))
	WHERE seq IN (
		SELECT seq FROM deliveries
		WHERE due_at IS NOT NULL AND pull = 0 AND json_array_length(?1) > 0
		  AND partner IN (SELECT value FROM json_each(?1))
		UNION ALL
		SELECT seq FROM deliveries
		WHERE due_at IS NOT NULL AND pull = 1 AND partner NOT IN (SELECT value FROM json_each(?1))
		UNION ALL
		SELECT seq FROM deliveries
		WHERE state = 'dead' AND pull <> (partner IN (SELECT value FROM json_each(?1))))`
