-- 0004: mailboxes, and receipts in a partner's own format.
--
-- A partner that cannot take inbound calls pulls its deliveries from its
-- mailbox. Its deliveries carry pull = 1: the dispatcher never claims them
-- (deliveries_due now holds only pull = 0 rows), and a mailbox poll finds
-- them through deliveries_mailbox, one partner's visible or hidden
-- messages in seq order. SetPullPartners keeps the flag in step with the
-- configuration at every start.
ALTER TABLE deliveries ADD COLUMN pull INTEGER NOT NULL DEFAULT 0;
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (due_at) WHERE due_at IS NOT NULL AND pull = 0;
CREATE INDEX deliveries_mailbox ON deliveries (partner, seq) WHERE due_at IS NOT NULL AND pull = 1;

-- receipt_type is the media type of a receipt rendered in a partner's own
-- format (SOAP, mapped JSON); '' for the standard contract's JSON.
ALTER TABLE exchanges ADD COLUMN receipt_type TEXT NOT NULL DEFAULT '';
