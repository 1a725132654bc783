-- 0005: the evidence log (存证) and its signed checkpoints.
--
-- evidence is append-only and totally ordered: seq is assigned by the
-- single writer, one after the other, in commit order, and every record
-- holds the hash of the one before (contracts.EvidenceRecord). record is
-- the record's canonical form exactly as hashed; hash is its SM3. The other
-- columns repeat fields of the record for the indexes that trace and search
-- use; verification reads only record and hash.
CREATE TABLE evidence (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    event       TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    case_id     TEXT    NOT NULL,
    exchange_id TEXT    NOT NULL,
    delivery_id TEXT    NOT NULL,
    partner     TEXT    NOT NULL,
    region      TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    trace_id    TEXT    NOT NULL,
    hash        TEXT    NOT NULL,
    record      BLOB    NOT NULL
);
-- A case's records in order (trace, export, and the case chain's link).
CREATE INDEX evidence_case ON evidence (case_id, seq) WHERE case_id <> '';
-- An exchange's records (audit search by exchange id).
CREATE INDEX evidence_exchange ON evidence (exchange_id) WHERE exchange_id <> '';

-- The log is append-only for everything the gateway does; only someone
-- editing the file by hand can change it, and the chain shows that.
CREATE TRIGGER evidence_no_update BEFORE UPDATE ON evidence
BEGIN
    SELECT RAISE(ABORT, 'the evidence log is append-only');
END;
CREATE TRIGGER evidence_no_delete BEFORE DELETE ON evidence
BEGIN
    SELECT RAISE(ABORT, 'the evidence log is append-only');
END;

-- evidence_checkpoints are gateway-signed statements of the head: record
-- seq had hash head_hash at time at (contracts.Checkpoint). Append-only too.
CREATE TABLE evidence_checkpoints (
    seq       INTEGER PRIMARY KEY,
    head_hash TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    key_id    TEXT    NOT NULL,
    signature BLOB    NOT NULL
);
CREATE TRIGGER evidence_checkpoints_no_update BEFORE UPDATE ON evidence_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'evidence checkpoints are append-only');
END;
CREATE TRIGGER evidence_checkpoints_no_delete BEFORE DELETE ON evidence_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'evidence checkpoints are append-only');
END;

-- traceparent is the W3C trace context of the request that created a
-- delivery, so that its attempts continue that trace.
ALTER TABLE deliveries ADD COLUMN traceparent TEXT NOT NULL DEFAULT '';
