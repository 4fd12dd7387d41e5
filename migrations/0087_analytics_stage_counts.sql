-- Leads per stage (issue 23 performance): counted from every contact's index entry (50,000 on the large
-- tenant, no faster than the seed's GROUP BY). Now a rollup kept exact in the writing transaction, as
-- the message counts are (0036): delta rows, never updated in place, so concurrent writers never wait
-- on a shared counter; a figure is the SUM of its deltas, `analytics compact` folds them, `analytics
-- verify` recomputes them from the contacts. A contact without a stage counts as New, as reports show it.
--
-- Ingest writes here only when it creates contacts (its INSERT into contacts runs for unknown senders
-- only); message ingest's updates of contacts do not touch stage and never fire the update trigger.
CREATE TABLE analytics_stage_counts (
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    stage pipeline_stage NOT NULL,
    contacts BIGINT NOT NULL
);
CREATE INDEX idx_analytics_stage_counts ON analytics_stage_counts (business_id) INCLUDE (stage, contacts);

CREATE FUNCTION wacrm_rollup_stages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO analytics_stage_counts (business_id, stage, contacts)
        SELECT business_id, coalesce(stage, 'New'), count(*) FROM new_rows GROUP BY 1, 2;
    ELSE
        INSERT INTO analytics_stage_counts (business_id, stage, contacts)
        SELECT business_id, coalesce(stage, 'New'), -count(*)
        FROM old_rows o WHERE EXISTS (SELECT 1 FROM businesses b WHERE b.id = o.business_id)
        GROUP BY 1, 2;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER contacts_stage_counts_insert AFTER INSERT ON contacts REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wacrm_rollup_stages();
CREATE TRIGGER contacts_stage_counts_delete AFTER DELETE ON contacts REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wacrm_rollup_stages();

-- A stage move (or a contact moved to another business, by hand): a row trigger that fires only when
-- one of the two keys really changes (transition tables cannot be limited to a column).
CREATE FUNCTION wacrm_rollup_stage_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_stage_counts (business_id, stage, contacts)
    VALUES (OLD.business_id, coalesce(OLD.stage, 'New'), -1), (NEW.business_id, coalesce(NEW.stage, 'New'), 1);
    RETURN NULL;
END;
$$;
CREATE TRIGGER contacts_stage_counts_update AFTER UPDATE OF business_id, stage ON contacts
    FOR EACH ROW
    WHEN (OLD.business_id IS DISTINCT FROM NEW.business_id OR OLD.stage IS DISTINCT FROM NEW.stage)
    EXECUTE FUNCTION wacrm_rollup_stage_moved();

INSERT INTO analytics_stage_counts (business_id, stage, contacts)
SELECT business_id, coalesce(stage, 'New'), count(*) FROM contacts GROUP BY 1, 2;

-- Stuck leads: of each stage's contacts, those created since the stuck cut-off (a few days' worth)
-- are counted from this index alone; it replaces 0086's, with the stage included.
DROP INDEX idx_contacts_created;
CREATE INDEX idx_contacts_created ON contacts (business_id, created_at, source) INCLUDE (id, stage);
