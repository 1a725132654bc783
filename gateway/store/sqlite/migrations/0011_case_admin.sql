-- 0011: a case's administration: its statutory clock, evaluation and
-- follow-up, and 一件事 bundles (gateway.Case.BundleID, Deadline, AlarmAt,
-- Overdue and Admin).
--
-- bundle_id is the bundle's case id ('' for a case on its own), deadline
-- when the running statutory clock runs out and alarm_at when the case
-- next needs the gateway's attention (NULL for none, as every time
-- column), overdue 1 once a deadline or follow-up passed unanswered.
-- admin is the JSON of gateway.CaseAdmin, NULL for none; the store keeps
-- it as text and never reads into it. Existing cases get none of them.
ALTER TABLE cases ADD COLUMN bundle_id TEXT    NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN deadline  INTEGER;
ALTER TABLE cases ADD COLUMN alarm_at  INTEGER;
ALTER TABLE cases ADD COLUMN overdue   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN admin     TEXT;

-- The indexes are partial: each holds only the cases it can find, so a
-- case on its own, with no clock and nothing due, costs none of them.
-- BundleParts reads one bundle's cases in id order.
CREATE INDEX cases_bundle ON cases (bundle_id, id) WHERE bundle_id <> '';
-- The audit search's DueBefore: cases whose clock runs out before a time.
CREATE INDEX cases_deadline ON cases (deadline) WHERE deadline IS NOT NULL;
-- AlarmsDue walks the alarms in time order (ties by id) and stops at now.
CREATE INDEX cases_alarm ON cases (alarm_at, id) WHERE alarm_at IS NOT NULL;
-- The audit search's Overdue: the (few) overdue cases.
CREATE INDEX cases_overdue ON cases (id) WHERE overdue = 1;
