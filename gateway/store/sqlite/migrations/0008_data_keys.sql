-- 0008: the ids of the data keys personal data is sealed under at rest.
--
-- The gateway seals exchange bodies, delivery payloads and the personal
-- fields of usage records with SM4-GCM above the store; the store keeps
-- each ciphertext as it keeps any bytes, and beside it the id of the key
-- that sealed it, so that rows sealed before a key rotation stay readable
-- and shredding a key makes exactly its rows unreadable. '' means the row
-- is stored as given (written before this migration, or with sealing
-- disabled). The store never interprets these columns.
ALTER TABLE exchanges ADD COLUMN body_key TEXT NOT NULL DEFAULT '';
ALTER TABLE delivery_payloads ADD COLUMN payload_key TEXT NOT NULL DEFAULT '';
ALTER TABLE usage_records ADD COLUMN seal_key TEXT NOT NULL DEFAULT '';
