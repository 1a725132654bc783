-- 0007: no replacing evidence records or checkpoints either.
--
-- 0005's triggers refuse UPDATE and DELETE on evidence and
-- evidence_checkpoints, but INSERT OR REPLACE (and REPLACE INTO) over an
-- existing seq deletes the stored row without firing delete triggers
-- (SQLite fires them for REPLACE only with recursive_triggers on, which is
-- off), so it could still rewrite a record or a checkpoint. An insert of a
-- seq already stored is refused before it happens: the store only ever
-- appends the next seq to the log, so this costs it nothing.
CREATE TRIGGER evidence_no_replace BEFORE INSERT ON evidence
WHEN EXISTS (SELECT 1 FROM evidence WHERE seq = NEW.seq)
BEGIN
    SELECT RAISE(ABORT, 'the evidence log is append-only');
END;

-- SaveCheckpoint saves a checkpoint unless one for its seq is stored
-- (INSERT OR IGNORE): an insert of a stored seq is skipped, as that does,
-- rather than refused, so it stays a no-op however it is asked.
CREATE TRIGGER evidence_checkpoints_no_replace BEFORE INSERT ON evidence_checkpoints
WHEN EXISTS (SELECT 1 FROM evidence_checkpoints WHERE seq = NEW.seq)
BEGIN
    SELECT RAISE(IGNORE);
END;
