-- 0004: delivery counts kept by row triggers.
--
-- 0001's statement-level triggers run a PL/pgSQL function over the
-- statement's transition tables (GROUP BY, UNION ALL) for every INSERT
-- and UPDATE of deliveries, and nearly every such statement of the store
-- touches one row (a delivery stored, claimed, marked delivered). Row
-- triggers do the same bookkeeping with one plain INSERT of the row's
-- deltas, and the update trigger runs only when the state changes (its
-- WHEN is checked before any PL/pgSQL runs). delivery_count_deltas still
-- only grows by inserts, so concurrent writers still never wait on a
-- shared counter row, and the counts stay exact whatever statement
-- changes deliveries.
CREATE FUNCTION deliveries_count_row() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO delivery_count_deltas (state, n) VALUES (NEW.state, 1);
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO delivery_count_deltas (state, n) VALUES (OLD.state, -1);
    ELSE
        INSERT INTO delivery_count_deltas (state, n) VALUES (OLD.state, -1), (NEW.state, 1);
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER deliveries_count_insert ON deliveries;
DROP TRIGGER deliveries_count_update ON deliveries;
DROP TRIGGER deliveries_count_delete ON deliveries;
DROP FUNCTION deliveries_count_insert();
DROP FUNCTION deliveries_count_update();
DROP FUNCTION deliveries_count_delete();

CREATE TRIGGER deliveries_count_insert AFTER INSERT ON deliveries
    FOR EACH ROW EXECUTE FUNCTION deliveries_count_row();
CREATE TRIGGER deliveries_count_update AFTER UPDATE OF state ON deliveries
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION deliveries_count_row();
CREATE TRIGGER deliveries_count_delete AFTER DELETE ON deliveries
    FOR EACH ROW EXECUTE FUNCTION deliveries_count_row();
