-- 0001: the initial schema of the PostgreSQL store.
--
-- Every table lives in the store's schema (Options.Schema, found through
-- search_path); nothing here names a schema, so one database can hold
-- several stores side by side.
--
-- Times are bigint Unix nanoseconds (UTC), as in the embedded store, so
-- that they round-trip exactly and a lease fence compares the very value
-- ClaimDue handed out; NULL stands for the zero time.Time, except in the
-- "instant" columns (evidence.at, usage_records.checked_at, checkpoints)
-- where the zero time is -9223372036854775808 so that it sorts first.
-- Identifiers that are ordered or compared by range use COLLATE "C", so
-- that they sort byte by byte as Go strings do, whatever the database's
-- collation.

-- cases holds one row per remote case. version implements optimistic
-- concurrency: UpdateCase writes only when it matches.
CREATE TABLE cases (
    id            text COLLATE "C" PRIMARY KEY,
    exchange_id   text   NOT NULL,
    sender        text   NOT NULL,
    owner         text   NOT NULL,
    from_region   text   NOT NULL,
    to_region     text   NOT NULL,
    state         text   NOT NULL,
    outcome       text   NOT NULL,
    owner_case_no text   NOT NULL,
    local_case_no text   NOT NULL,
    service_item  text   NOT NULL, -- JSON of contracts.ServiceItem
    created_at    bigint,
    updated_at    bigint,
    version       bigint NOT NULL
);

-- exchanges keeps every inbound signed body verbatim with the receipt the
-- gateway answered. Its primary key is the idempotency key: the store
-- recognises a duplicate exchange by a violation of exchanges_pkey, so
-- two processes storing the same exchange at once store it once.
CREATE TABLE exchanges (
    sender       text   NOT NULL,
    exchange_id  text   NOT NULL,
    kind         text   NOT NULL,
    case_id      text   NOT NULL,
    body_sm3     text   NOT NULL,
    key_id       text   NOT NULL,
    trace_id     text   NOT NULL,
    received_at  bigint,
    receipt_type text   NOT NULL DEFAULT '',
    body         bytea,
    signature    bytea,
    receipt      bytea,
    receipt_sig  bytea,
    CONSTRAINT exchanges_pkey PRIMARY KEY (sender, exchange_id)
);

-- statuses is the lifecycle history; id gives append order.
CREATE TABLE statuses (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id     text   NOT NULL REFERENCES cases (id),
    state       text   NOT NULL,
    outcome     text   NOT NULL,
    at          bigint,
    exchange_id text   NOT NULL,
    reported_by text   NOT NULL,
    reason      text   NOT NULL,
    note        text   NOT NULL
);
CREATE INDEX statuses_case ON statuses (case_id, id);

-- deliveries is the outbox. seq comes from an identity sequence, so it
-- never repeats and orders the deliveries of one case by insertion (they
-- are inserted under the case's row lock). The row holds only the small,
-- changing transport state; the payload and the partner's acknowledgement
-- live in delivery_payloads and delivery_acks, written once each. case_id
-- is '' for a delivery of no case (a usage record's).
CREATE TABLE deliveries (
    seq          bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           text    NOT NULL,
    case_id      text    NOT NULL,
    partner      text    NOT NULL,
    kind         text    NOT NULL,
    exchange_id  text    NOT NULL,
    state        text    NOT NULL CHECK (state IN
                     ('pending', 'in_flight', 'delivered', 'retry_wait', 'dead', 'cancelled')),
    -- pull: the partner pulls its deliveries from its mailbox; only
    -- ClaimMailbox hands them out, never ClaimDue.
    pull         boolean NOT NULL DEFAULT false,
    attempts     integer NOT NULL,
    next_at      bigint,
    lease_until  bigint,
    created_at   bigint,
    delivered_at bigint,
    -- since_at: when the current series of attempts began; NULL means
    -- created_at (never redelivered).
    since_at     bigint,
    last_error   text    NOT NULL,
    traceparent  text    NOT NULL DEFAULT '',
    -- due_at is when the delivery becomes claimable: NextAt while pending
    -- or retry_wait, LeaseUntil while in_flight, NULL in every final or
    -- parked state. A NULL NextAt or LeaseUntil means "due at once" and
    -- sorts first.
    due_at       bigint GENERATED ALWAYS AS (
                     CASE state
                         WHEN 'pending'    THEN coalesce(next_at, -9223372036854775808)
                         WHEN 'retry_wait' THEN coalesce(next_at, -9223372036854775808)
                         WHEN 'in_flight'  THEN coalesce(lease_until, -9223372036854775808)
                     END) STORED,
    CONSTRAINT deliveries_id_key UNIQUE (id)
);
-- ClaimDue and NextDue walk this index in due order; it holds only pushed
-- deliveries that can become due, so its size is the backlog, not history.
CREATE INDEX deliveries_due ON deliveries (due_at, seq) WHERE due_at IS NOT NULL AND NOT pull;
-- ClaimMailbox walks one partner's visible or hidden messages in seq order.
CREATE INDEX deliveries_mailbox ON deliveries (partner, seq) WHERE due_at IS NOT NULL AND pull;
-- Deliveries(case) and the per-case order rule (is there an earlier
-- unfinished delivery of this case to this partner?) seek this index.
CREATE INDEX deliveries_case ON deliveries (case_id, partner, seq);
-- RedeliverDead finds one partner's dead letters here.
CREATE INDEX deliveries_dead ON deliveries (partner, seq) WHERE state = 'dead';
-- SetPullPartners walks the unfinished deliveries.
CREATE INDEX deliveries_unfinished ON deliveries (seq)
    WHERE state IN ('pending', 'in_flight', 'retry_wait', 'dead');

-- A delivery of a case names a stored case (what a foreign key would
-- check, for case_id <> ''). Cases are never deleted.
CREATE FUNCTION deliveries_case_check() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF NEW.case_id <> '' AND NOT EXISTS (SELECT 1 FROM cases WHERE id = NEW.case_id) THEN
        RAISE EXCEPTION 'delivery % of an unknown case %', NEW.id, NEW.case_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER deliveries_case_check BEFORE INSERT OR UPDATE OF case_id ON deliveries
    FOR EACH ROW EXECUTE FUNCTION deliveries_case_check();

-- delivery_payloads holds each delivery's payload, keyed by its seq.
CREATE TABLE delivery_payloads (
    seq     bigint PRIMARY KEY REFERENCES deliveries (seq),
    payload bytea
);
-- delivery_acks holds the partner's acknowledgement of a delivered
-- delivery, keyed by its seq.
CREATE TABLE delivery_acks (
    seq      bigint PRIMARY KEY REFERENCES deliveries (seq),
    ack      text,  -- JSON of contracts.Ack, NULL when none
    ack_body bytea,
    ack_sig  bytea
);

-- CountByState reads delivery_counts plus delivery_count_deltas.
-- Statement-level triggers append one row per state a statement changed
-- to delivery_count_deltas (inserts only, so concurrent writers never
-- wait on a shared counter row or deadlock over two of them), and the
-- store now and then folds the deltas into delivery_counts.
CREATE TABLE delivery_counts (
    state text   PRIMARY KEY,
    n     bigint NOT NULL
);
INSERT INTO delivery_counts (state, n) VALUES
    ('pending', 0), ('in_flight', 0), ('delivered', 0),
    ('retry_wait', 0), ('dead', 0), ('cancelled', 0);
CREATE TABLE delivery_count_deltas (
    state text   NOT NULL,
    n     bigint NOT NULL
);

CREATE FUNCTION deliveries_count_insert() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO delivery_count_deltas (state, n)
        SELECT state, count(*) FROM new_rows GROUP BY state;
    RETURN NULL;
END $$;
CREATE FUNCTION deliveries_count_update() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO delivery_count_deltas (state, n)
        SELECT state, sum(n) FROM (
            SELECT state, 1 AS n FROM new_rows
            UNION ALL
            SELECT state, -1 FROM old_rows) AS d
        GROUP BY state HAVING sum(n) <> 0;
    RETURN NULL;
END $$;
CREATE FUNCTION deliveries_count_delete() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO delivery_count_deltas (state, n)
        SELECT state, -count(*) FROM old_rows GROUP BY state;
    RETURN NULL;
END $$;
CREATE TRIGGER deliveries_count_insert AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_count_insert();
CREATE TRIGGER deliveries_count_update AFTER UPDATE ON deliveries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_count_update();
CREATE TRIGGER deliveries_count_delete AFTER DELETE ON deliveries
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_count_delete();
-- A TRUNCATE would leave the counts wrong; the store never truncates.
CREATE FUNCTION refuse_truncate() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% may not be truncated', TG_TABLE_NAME;
END $$;
CREATE TRIGGER deliveries_no_truncate BEFORE TRUNCATE ON deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();

-- usage_records holds one row per usage record: contracts.UsageRecord's
-- fields, then what only the store keeps (the holder's full id, the
-- library consulted, the token's sub). Every filter index ends with
-- usage_record_id, so an equality filter reads its index backwards,
-- already in ListUsage's order, and stops after the limit.
CREATE TABLE usage_records (
    usage_record_id   text COLLATE "C" PRIMARY KEY,
    caller            text    NOT NULL,
    window_id         text    NOT NULL,
    operator_id       text    NOT NULL,
    purpose           text    NOT NULL,
    case_id           text    NOT NULL, -- the case the verification served, not a reference
    license_id        text    NOT NULL,
    license_type_code text    NOT NULL,
    holder_id_masked  text    NOT NULL,
    outcome           text    NOT NULL,
    error_code        text    NOT NULL,
    source_region     text    NOT NULL,
    checked_at        bigint  NOT NULL, -- instant: the zero time is the minimum
    cached            boolean NOT NULL,
    holder_type       text    NOT NULL,
    holder_id         text    NOT NULL,
    library           text    NOT NULL,
    subject           text    NOT NULL
);
CREATE INDEX usage_records_holder ON usage_records (holder_id, usage_record_id);
CREATE INDEX usage_records_license ON usage_records (license_id, usage_record_id);
CREATE INDEX usage_records_caller ON usage_records (caller, usage_record_id);
CREATE INDEX usage_records_window ON usage_records (window_id, usage_record_id);
CREATE INDEX usage_records_library ON usage_records (library, usage_record_id);

-- evidence is the append-only, hash-chained evidence log (存证). record is
-- a record's canonical form exactly as hashed, hash its chain hash; the
-- other columns repeat fields of the record for the indexes that trace
-- and search use. Verification reads only seq, hash and record.
CREATE TABLE evidence (
    seq         bigint PRIMARY KEY CHECK (seq > 0),
    at          bigint NOT NULL,
    event       text   NOT NULL,
    actor       text   NOT NULL,
    case_id     text   NOT NULL,
    exchange_id text   NOT NULL,
    delivery_id text   NOT NULL,
    partner     text   NOT NULL,
    region      text   NOT NULL,
    kind        text   NOT NULL,
    trace_id    text   NOT NULL,
    hash        text   NOT NULL,
    record      bytea  NOT NULL
);
-- A case's records in order (trace, export, and the case chain's link).
CREATE INDEX evidence_case ON evidence (case_id, seq) WHERE case_id <> '';
-- An exchange's records (audit search by exchange id).
CREATE INDEX evidence_exchange ON evidence (exchange_id) WHERE exchange_id <> '';

-- evidence_head is the log's last record: the one row every append locks
-- (SELECT ... FOR UPDATE) inside its write transaction, links after and
-- moves forward, so that appends from any number of processes form one
-- chain in one total order.
CREATE TABLE evidence_head (
    id   smallint PRIMARY KEY CHECK (id = 1),
    seq  bigint   NOT NULL CHECK (seq >= 0),
    hash text     NOT NULL
);
INSERT INTO evidence_head (id, seq, hash)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- The log only grows: no record is updated, deleted or truncated away, a
-- seq is stored once (the primary key) and each record's seq follows the
-- last one's, so the log has no gap and no fork whatever the code above
-- it does. Only someone with the right to drop these triggers can change
-- the log, and the chain shows that.
CREATE FUNCTION refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: % is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER evidence_append_only BEFORE UPDATE OR DELETE ON evidence
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER evidence_no_truncate BEFORE TRUNCATE ON evidence
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

CREATE FUNCTION evidence_contiguous() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    last bigint;
BEGIN
    SELECT coalesce(max(seq), 0) INTO last FROM evidence;
    IF NEW.seq <> last + 1 THEN
        RAISE EXCEPTION 'evidence record % does not follow the last record %', NEW.seq, last
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER evidence_contiguous BEFORE INSERT ON evidence
    FOR EACH ROW EXECUTE FUNCTION evidence_contiguous();

-- The head row is never removed (it moves forward by UPDATE).
CREATE TRIGGER evidence_head_keep BEFORE DELETE ON evidence_head
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER evidence_head_no_truncate BEFORE TRUNCATE ON evidence_head
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- evidence_checkpoints are gateway-signed statements of the head: record
-- seq had hash head_hash at time at (contracts.Checkpoint). Append-only
-- too; SaveCheckpoint keeps the first one for a seq (ON CONFLICT DO
-- NOTHING).
CREATE TABLE evidence_checkpoints (
    seq       bigint PRIMARY KEY,
    head_hash text   NOT NULL,
    at        bigint NOT NULL,
    key_id    text   NOT NULL,
    signature bytea  NOT NULL
);
CREATE TRIGGER evidence_checkpoints_append_only BEFORE UPDATE OR DELETE ON evidence_checkpoints
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER evidence_checkpoints_no_truncate BEFORE TRUNCATE ON evidence_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- probe is the readiness probe's row: Store.Probe rewrites it in a write
-- transaction, proving the database takes writes.
CREATE TABLE probe (
    id smallint PRIMARY KEY CHECK (id = 1),
    at bigint   NOT NULL
);
