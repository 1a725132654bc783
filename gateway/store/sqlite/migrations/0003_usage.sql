-- 0003: usage records (用证记录), and deliveries that belong to no case.
--
-- A usage record is passed to the license's issuer by a delivery of its
-- own, which belongs to no case: its case_id is ''. deliveries.case_id was
-- a foreign key to cases, so the table is rebuilt without it, following
-- SQLite's table-rebuild procedure (https://sqlite.org/lang_altertable.html,
-- "Making Other Kinds Of Table Schema Changes"): migrate runs every
-- migration with foreign key enforcement off and checks
-- PRAGMA foreign_key_check before committing. The new table is created
-- under a temporary name, filled, the old one dropped and the new one
-- renamed into its place, in that order, so that the references of
-- delivery_payloads and delivery_acks to deliveries (seq) keep naming
-- deliveries. The rebuild keeps every column (and seq, so payloads and
-- acks still match), the generated due_at, every index and the count
-- triggers; delivery_counts is untouched, since no trigger fires while the
-- rows are copied.

CREATE TABLE new_deliveries (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    case_id      TEXT    NOT NULL, -- '' for a delivery of no case
    partner      TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    exchange_id  TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN
                     ('pending', 'in_flight', 'delivered', 'retry_wait', 'dead', 'cancelled')),
    attempts     INTEGER NOT NULL,
    next_at      INTEGER,
    lease_until  INTEGER,
    created_at   INTEGER,
    delivered_at INTEGER,
    last_error   TEXT    NOT NULL,
    -- due_at is when the delivery becomes claimable: NextAt while pending or
    -- retry_wait, LeaseUntil while in_flight, NULL in every final or parked
    -- state. A NULL NextAt or LeaseUntil means "due at once" and sorts first.
    due_at       INTEGER GENERATED ALWAYS AS (
                     CASE state
                         WHEN 'pending'    THEN ifnull(next_at, -9223372036854775808)
                         WHEN 'retry_wait' THEN ifnull(next_at, -9223372036854775808)
                         WHEN 'in_flight'  THEN ifnull(lease_until, -9223372036854775808)
                     END) VIRTUAL,
    -- since_at: see 0002.
    since_at     INTEGER
);

INSERT INTO new_deliveries (seq, id, case_id, partner, kind, exchange_id, state, attempts,
        next_at, lease_until, created_at, delivered_at, last_error, since_at)
    SELECT seq, id, case_id, partner, kind, exchange_id, state, attempts,
        next_at, lease_until, created_at, delivered_at, last_error, since_at
    FROM deliveries
    ORDER BY seq;

-- seq never repeats: the new table continues from the old table's
-- AUTOINCREMENT counter, which may be above its largest seq.
DELETE FROM sqlite_sequence WHERE name = 'new_deliveries';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'new_deliveries', seq FROM sqlite_sequence WHERE name = 'deliveries';

DROP TABLE deliveries;
ALTER TABLE new_deliveries RENAME TO deliveries;

-- The indexes and triggers of 0001, which went with the old table.
CREATE INDEX deliveries_due ON deliveries (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX deliveries_case ON deliveries (case_id, partner, seq);
CREATE INDEX deliveries_dead ON deliveries (partner) WHERE state = 'dead';

CREATE TRIGGER deliveries_count_insert AFTER INSERT ON deliveries
BEGIN
    UPDATE delivery_counts SET n = n + 1 WHERE state = NEW.state;
END;
CREATE TRIGGER deliveries_count_update AFTER UPDATE OF state ON deliveries
WHEN OLD.state <> NEW.state
BEGIN
    UPDATE delivery_counts SET n = n - 1 WHERE state = OLD.state;
    UPDATE delivery_counts SET n = n + 1 WHERE state = NEW.state;
END;
CREATE TRIGGER deliveries_count_delete AFTER DELETE ON deliveries
BEGIN
    UPDATE delivery_counts SET n = n - 1 WHERE state = OLD.state;
END;

-- What the foreign key checked, for deliveries that do belong to a case:
-- the case exists.
CREATE TRIGGER deliveries_case_insert BEFORE INSERT ON deliveries
WHEN NEW.case_id <> '' AND NOT EXISTS (SELECT 1 FROM cases WHERE id = NEW.case_id)
BEGIN
    SELECT RAISE(ABORT, 'delivery of an unknown case');
END;
CREATE TRIGGER deliveries_case_update BEFORE UPDATE OF case_id ON deliveries
WHEN NEW.case_id <> '' AND NOT EXISTS (SELECT 1 FROM cases WHERE id = NEW.case_id)
BEGIN
    SELECT RAISE(ABORT, 'delivery of an unknown case');
END;

-- usage_records holds one row per usage record: contracts.UsageRecord's
-- fields, then what only the store keeps (the holder's full id, the
-- library consulted, the token's sub). Rows are stored in
-- usage_record_id order (WITHOUT ROWID), which is ListUsage's order, and
-- every index below ends, implicitly, with usage_record_id: an equality
-- filter on its column seeks the index and reads it backwards, already in
-- ListUsage's order, with Before as a bound, and stops after the limit.
CREATE TABLE usage_records (
    usage_record_id   TEXT    NOT NULL PRIMARY KEY,
    caller            TEXT    NOT NULL,
    window_id         TEXT    NOT NULL,
    operator_id       TEXT    NOT NULL,
    purpose           TEXT    NOT NULL,
    case_id           TEXT    NOT NULL, -- the case the verification served, not a foreign key
    license_id        TEXT    NOT NULL,
    license_type_code TEXT    NOT NULL,
    holder_id_masked  TEXT    NOT NULL,
    outcome           TEXT    NOT NULL,
    error_code        TEXT    NOT NULL,
    source_region     TEXT    NOT NULL,
    -- checked_at is never NULL: the zero time is -9223372036854775808, so
    -- that it sorts before every time as time.Time{} does.
    checked_at        INTEGER NOT NULL,
    cached            INTEGER NOT NULL,
    holder_type       TEXT    NOT NULL,
    holder_id         TEXT    NOT NULL,
    library           TEXT    NOT NULL,
    subject           TEXT    NOT NULL
) WITHOUT ROWID;
-- The filters of ListUsage. caller, window_id and library also serve
-- VisibleTo, which ListUsage asks as a UNION of one query per column.
-- There is deliberately no index on checked_at: a time range alone is read
-- by walking the table newest first and stops at the limit, so paging
-- through a range reads each record once in all, whereas with such an
-- index SQLite collects and sorts the whole range for every page.
CREATE INDEX usage_records_holder ON usage_records (holder_id);
CREATE INDEX usage_records_license ON usage_records (license_id);
CREATE INDEX usage_records_caller ON usage_records (caller);
CREATE INDEX usage_records_window ON usage_records (window_id);
CREATE INDEX usage_records_library ON usage_records (library);
