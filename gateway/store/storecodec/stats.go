package storecodec

// Stats are a store's write counters since it was opened, kept alike by
// both stores so that a load test reports writes per case and commits
// per second whichever store it runs on.
type Stats struct {
	// Commits is how many write transactions the store committed (the
	// embedded store's group commits, the PostgreSQL store's batches).
	Commits int64
	// Writes is how many write requests (CreateCase, UpdateCase,
	// ClaimDue, SaveAttempt, ...) those transactions carried;
	// Writes/Commits is the mean group-commit batch. A ClaimDue answered
	// without a write (nothing was due) is not one.
	Writes int64
}

// Counter is a store that keeps Stats (both stores do; a wrapper such as
// sealed.Store hides it, so unwrap first).
type Counter interface {
	// Stats returns the counters so far.
	Stats() Stats
}
