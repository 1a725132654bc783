-- since_at is when the delivery's current series of attempts began: NULL
-- (meaning created_at) until an operator redelivers it. The retry policy's
-- max_age counts from it, so a redelivered old dead letter gets a full
-- retry schedule again.
ALTER TABLE deliveries ADD COLUMN since_at INTEGER;
