-- The automation report's distinct contacts per rule and for the business over any range, without
-- sorting the range's actions (issue 23): each done action stores when its contact's previous done
-- action of the same rule was taken, and of any rule (ids breaking ties). A contact's first done action
-- in a range is the one whose previous is before the range (or none), so the distinct contacts of a
-- range are a count of those: one pass over a covering index, no DISTINCT.
--
-- A statement trigger keeps both exact for every writer, as 0076 does for stage changes: after a
-- statement adds, removes, settles or re-dates done actions, it recomputes them for the touched
-- contacts' actions (a handful each) and writes those that differ. Actions that are not done hold none.
ALTER TABLE automation_actions ADD COLUMN previous_rule_done_at TIMESTAMPTZ, ADD COLUMN previous_done_at TIMESTAMPTZ;

-- PL/pgSQL, as 0095's functions: a LANGUAGE sql function is planned again on every call from a
-- trigger (settling one action cost ~1.4 ms so); PL/pgSQL keeps the statement's plan for the session.
CREATE FUNCTION wacrm_action_previous_dones(touched INT[], businesses INT[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE automation_actions a SET previous_rule_done_at = x.rule_previous, previous_done_at = x.previous
    FROM (
        SELECT t.id, d.rule_previous, d.previous
        FROM automation_actions t
        LEFT JOIN (
            SELECT id,
                   lag(created_at) OVER (PARTITION BY business_id, contact_id, rule_id ORDER BY created_at, id) AS rule_previous,
                   lag(created_at) OVER (PARTITION BY business_id, contact_id ORDER BY created_at, id) AS previous
            FROM automation_actions
            WHERE status = 'done' AND (business_id, contact_id) IN (SELECT * FROM unnest(businesses, touched))
        ) d ON d.id = t.id
        WHERE (t.business_id, t.contact_id) IN (SELECT * FROM unnest(businesses, touched))
    ) x
    WHERE a.id = x.id
      AND (a.previous_rule_done_at, a.previous_done_at) IS DISTINCT FROM (x.rule_previous, x.previous);
END;
$$;

CREATE FUNCTION wacrm_action_dones_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    keys RECORD;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(contact_id) AS contacts, array_agg(business_id) AS businesses INTO keys
        FROM (SELECT DISTINCT business_id, contact_id FROM new_rows WHERE status = 'done' AND contact_id IS NOT NULL) k;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(contact_id) AS contacts, array_agg(business_id) AS businesses INTO keys
        FROM (SELECT DISTINCT business_id, contact_id FROM old_rows WHERE status = 'done' AND contact_id IS NOT NULL) k;
    ELSE
        -- Only rows whose place among the done actions changed: the function's own update changes none,
        -- so it ends here.
        SELECT array_agg(contact_id) AS contacts, array_agg(business_id) AS businesses INTO keys
        FROM (
            SELECT DISTINCT k.business_id, k.contact_id
            FROM old_rows o JOIN new_rows n ON n.id = o.id,
                 LATERAL (VALUES (o.business_id, o.contact_id), (n.business_id, n.contact_id)) AS k (business_id, contact_id)
            WHERE k.contact_id IS NOT NULL AND (o.status = 'done' OR n.status = 'done')
              AND (o.business_id, o.contact_id, o.rule_id, o.created_at, o.status)
                  IS DISTINCT FROM (n.business_id, n.contact_id, n.rule_id, n.created_at, n.status)
        ) k;
    END IF;
    IF keys.contacts IS NOT NULL THEN
        PERFORM wacrm_action_previous_dones(keys.contacts, keys.businesses);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER automation_actions_dones_insert AFTER INSERT ON automation_actions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wacrm_action_dones_changed();
CREATE TRIGGER automation_actions_dones_delete AFTER DELETE ON automation_actions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION wacrm_action_dones_changed();
CREATE TRIGGER automation_actions_dones_update AFTER UPDATE ON automation_actions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wacrm_action_dones_changed();

-- The range's done actions with what the count needs, read without the table.
CREATE INDEX automation_actions_done ON automation_actions (business_id, created_at)
    INCLUDE (rule_id, previous_rule_done_at, previous_done_at) WHERE status = 'done' AND contact_id IS NOT NULL;

UPDATE automation_actions a SET previous_rule_done_at = x.rule_previous, previous_done_at = x.previous
FROM (
    SELECT id,
           lag(created_at) OVER (PARTITION BY business_id, contact_id, rule_id ORDER BY created_at, id) AS rule_previous,
           lag(created_at) OVER (PARTITION BY business_id, contact_id ORDER BY created_at, id) AS previous
    FROM automation_actions WHERE status = 'done' AND contact_id IS NOT NULL
) x
WHERE a.id = x.id AND (x.rule_previous IS NOT NULL OR x.previous IS NOT NULL);
