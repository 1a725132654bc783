-- 0001: the initial schema.
--
-- Times are INTEGER Unix nanoseconds (UTC); NULL stands for the zero
-- time.Time. Small, hot columns come first in each table and BLOBs last, so
-- that reading a row's state never walks a large body's overflow pages.

-- cases holds one row per remote case. version implements optimistic
-- concurrency: UpdateCase writes only when it matches.
CREATE TABLE cases (
    id            TEXT    PRIMARY KEY,
    exchange_id   TEXT    NOT NULL,
    sender        TEXT    NOT NULL,
    owner         TEXT    NOT NULL,
    from_region   TEXT    NOT NULL,
    to_region     TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    outcome       TEXT    NOT NULL,
    owner_case_no TEXT    NOT NULL,
    local_case_no TEXT    NOT NULL,
    service_item  TEXT    NOT NULL, -- JSON of contracts.ServiceItem
    created_at    INTEGER,
    updated_at    INTEGER,
    version       INTEGER NOT NULL
) WITHOUT ROWID;

-- exchanges keeps every inbound signed body verbatim with the receipt the
-- gateway answered. The primary key is the idempotency key.
CREATE TABLE exchanges (
    sender      TEXT NOT NULL,
    exchange_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    case_id     TEXT NOT NULL,
    body_sm3    TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    trace_id    TEXT NOT NULL,
    received_at INTEGER,
    body        BLOB,
    signature   BLOB,
    receipt     BLOB,
    receipt_sig BLOB,
    PRIMARY KEY (sender, exchange_id)
);

-- statuses is the append-only lifecycle history; id gives append order.
CREATE TABLE statuses (
    id          INTEGER PRIMARY KEY,
    case_id     TEXT    NOT NULL REFERENCES cases (id),
    state       TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    at          INTEGER,
    exchange_id TEXT    NOT NULL,
    reported_by TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    note        TEXT    NOT NULL
);
CREATE INDEX statuses_case ON statuses (case_id);

-- deliveries is the outbox. seq never repeats (AUTOINCREMENT), so it orders
-- deliveries by insertion even if rows are ever deleted. The row holds only
-- the small, changing transport state; the payload and the partner's ack
-- live in delivery_payloads and delivery_acks, written once each, so that
-- every state change rewrites a row of ~150 bytes and many deliveries
-- share a page (fewer pages per commit).
CREATE TABLE deliveries (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    case_id      TEXT    NOT NULL REFERENCES cases (id),
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
                     END) VIRTUAL
);
-- delivery_payloads holds each delivery's payload, keyed by its seq.
CREATE TABLE delivery_payloads (
    seq     INTEGER PRIMARY KEY REFERENCES deliveries (seq),
    payload BLOB
);
-- delivery_acks holds the partner's acknowledgement of a delivered
-- delivery, keyed by its seq.
CREATE TABLE delivery_acks (
    seq      INTEGER PRIMARY KEY REFERENCES deliveries (seq),
    ack      TEXT,   -- JSON of contracts.Ack, NULL when none
    ack_body BLOB,
    ack_sig  BLOB
);
-- ClaimDue and NextDue walk this index in due order; it holds only
-- deliveries that can become due, so its size is the backlog, not history.
CREATE INDEX deliveries_due ON deliveries (due_at) WHERE due_at IS NOT NULL;
-- Deliveries(case) and ClaimDue's per-case order check (is there an earlier
-- unfinished delivery of this case to this partner?) seek this index.
CREATE INDEX deliveries_case ON deliveries (case_id, partner, seq);
-- RedeliverDead finds one partner's dead letters here.
CREATE INDEX deliveries_dead ON deliveries (partner) WHERE state = 'dead';

-- delivery_counts keeps CountByState O(1): triggers maintain it.
CREATE TABLE delivery_counts (
    state TEXT    PRIMARY KEY,
    n     INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO delivery_counts (state, n) VALUES
    ('pending', 0), ('in_flight', 0), ('delivered', 0),
    ('retry_wait', 0), ('dead', 0), ('cancelled', 0);

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
