-- 0010: the deliveries in flight, found without reading the others.
--
-- At every start the embedded store returns the deliveries a killed
-- process left in flight to the queue (Options.ReleaseLeases). Without an
-- index that was a scan of the whole deliveries table, every delivery ever
-- made, delivered ones included: start-up time grew with the history and
-- the backlog. This partial index holds only the deliveries in flight (at
-- most what the dispatcher claimed), so the release reads those alone.
CREATE INDEX deliveries_in_flight ON deliveries (seq) WHERE state = 'in_flight';
