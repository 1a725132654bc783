-- 0006: the readiness probe's row. Store.Probe rewrites it through the
-- writer, so /readyz proves the store takes writes (queue, transaction,
-- commit and sync) without adding a row anywhere that matters.
CREATE TABLE probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL
);
