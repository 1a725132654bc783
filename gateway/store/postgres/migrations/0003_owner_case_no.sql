-- 0002: what keeps one owner's case numbers apart, and what tells a
-- dispatcher it took over a crashed attempt.
--
-- CaseByOwnerCaseNo finds the case of an owner holding a case number (the
-- outbox refuses an acknowledgement whose number belongs to another case
-- of the same owner). The index is not unique: a database written before
-- that check may hold such pairs already, and the check, not the schema,
-- decides what to do with them.
CREATE INDEX cases_owner_case_no ON cases (owner, owner_case_no) WHERE owner_case_no <> '';

-- taken_over is set by ClaimDue on a delivery it claimed from in_flight
-- under an expired lease (an attempt cut off with no outcome recorded),
-- cleared on every other claim; it is read back only by the claim itself.
ALTER TABLE deliveries ADD COLUMN taken_over boolean NOT NULL DEFAULT false;
