-- Time in stage (issue 23 performance): a stage change ends a stay that began at the contact's previous
-- change (in time, ids breaking ties) or, for its first change, when the contact was created. The
-- pipeline report looked the previous change up once per change of the range (~5,850 lookups this month
-- on the large tenant); each change now carries it.
--
-- `previous_changed_at` is NULL for a contact's first change. A statement trigger keeps it exact for
-- every writer (moves, bulk moves, keyword moves at ingest, imports, the demo, a backdated insert that
-- becomes some later change's predecessor): after a statement adds, removes or re-dates changes, it
-- recomputes the previous change of the touched contacts' changes (a handful each) and writes those
-- that differ. Stage moves are the rare event; the message ingest path is not touched.
ALTER TABLE pipeline_history ADD COLUMN previous_changed_at TIMESTAMPTZ;

CREATE FUNCTION wacrm_pipeline_previous_changes(touched INT[], businesses INT[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE pipeline_history h SET previous_changed_at = x.previous
    FROM (
        SELECT id, lag(changed_at) OVER (PARTITION BY business_id, contact_id ORDER BY changed_at, id) AS previous
        FROM pipeline_history
        WHERE (business_id, contact_id) IN (SELECT * FROM unnest(businesses, touched))
    ) x
    WHERE h.id = x.id AND h.previous_changed_at IS DISTINCT FROM x.previous
$$;

CREATE FUNCTION wacrm_pipeline_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    keys RECORD;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(contact_id) AS contacts, array_agg(business_id) AS businesses INTO keys
        FROM (SELECT DISTINCT business_id, contact_id FROM new_rows) k;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(contact_id) AS contacts, array_agg(business_id) AS businesses INTO keys
        FROM (SELECT DISTINCT business_id, contact_id FROM old_rows) k;
    ELSE
        -- Only rows whose order changed: the function's own update of previous_changed_at changes none,
        -- so it ends here.
        SELECT array_agg(contact_id) AS contacts, array_agg(business_id) AS businesses INTO keys
        FROM (
            SELECT DISTINCT k.business_id, k.contact_id
            FROM old_rows o JOIN new_rows n ON n.id = o.id,
                 LATERAL (VALUES (o.business_id, o.contact_id), (n.business_id, n.contact_id)) AS k (business_id, contact_id)
            WHERE (o.business_id, o.contact_id, o.changed_at) IS DISTINCT FROM (n.business_id, n.contact_id, n.changed_at)
        ) k;
    END IF;
    IF keys.contacts IS NOT NULL THEN
        PERFORM wacrm_pipeline_previous_changes(keys.contacts, keys.businesses);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER pipeline_history_previous_insert AFTER INSERT ON pipeline_history
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wacrm_pipeline_changed();
CREATE TRIGGER pipeline_history_previous_delete AFTER DELETE ON pipeline_history
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION wacrm_pipeline_changed();
CREATE TRIGGER pipeline_history_previous_update AFTER UPDATE ON pipeline_history
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wacrm_pipeline_changed();

UPDATE pipeline_history h SET previous_changed_at = x.previous
FROM (
    SELECT id, lag(changed_at) OVER (PARTITION BY business_id, contact_id ORDER BY changed_at, id) AS previous
    FROM pipeline_history
) x
WHERE h.id = x.id AND x.previous IS NOT NULL;
