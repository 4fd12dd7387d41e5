-- Pipeline report (issue 23 performance): over 95 days on the large tenant, time in stage sorted every
-- stay of the range (58,500, with a join to contacts for first changes) and the funnel grouped every
-- change of the range by contact and anti-joined the range's new contacts (65 ms and 28 ms). Now both
-- read per-UTC-day rollups of facts stored on each change, and only the partial days at a range's ends
-- (local midnights are rarely UTC ones) from the changes themselves.
--
-- Each change carries what its figures need, kept exact for every writer by the function 0076's
-- statement triggers call after a statement adds, removes or re-dates changes:
-- * contact_created_at: its contact's creation (a stay that a first change ends began then; kept
--   when a contact's created_at changes by the row trigger below, which ingest never fires);
-- * previous_<step>_at: the contact's latest earlier change that reached the step (Engaged: a move to
--   Engaged, Interested or Paid; Interested: to Interested or Paid; Paid; Lost). A change is the first
--   of its contact in a range to reach a step when it reaches it and its previous one is before the
--   range: the distinct contacts a range counts are these changes, which can be summed per day.
-- * stay_bin: the histogram bin of the stay it ends (wacrm_wait_bin, 0085: about 1 % wide, ordered
--   like the stays), so a percentile reads back only the stays of its bin; none for a stay without a
--   start (a first change of a contact with no creation time), which is not measured.
ALTER TABLE pipeline_history
    ADD COLUMN contact_created_at TIMESTAMPTZ,
    ADD COLUMN previous_engaged_at TIMESTAMPTZ,
    ADD COLUMN previous_interested_at TIMESTAMPTZ,
    ADD COLUMN previous_paid_at TIMESTAMPTZ,
    ADD COLUMN previous_lost_at TIMESTAMPTZ,
    ADD COLUMN stay_bin INT GENERATED ALWAYS AS (
        CASE WHEN coalesce(previous_changed_at, contact_created_at) IS NOT NULL
             THEN wacrm_wait_bin(coalesce(previous_changed_at, contact_created_at), changed_at) END) STORED;

-- What the touched contacts' changes should carry, ordered as 0076 orders
-- them (time, ids breaking ties). `analytics verify` compares it with what they carry.
CREATE FUNCTION wacrm_pipeline_facts(touched INT[], businesses INT[])
RETURNS TABLE (id INT, business_id INT, previous TIMESTAMPTZ, created TIMESTAMPTZ, engaged TIMESTAMPTZ,
               interested TIMESTAMPTZ, paid TIMESTAMPTZ, lost TIMESTAMPTZ)
LANGUAGE sql STABLE AS $$
    SELECT h.id, h.business_id, lag(h.changed_at) OVER w, c.created_at,
           max(h.changed_at) FILTER (WHERE h.to_stage BETWEEN 'Engaged' AND 'Paid') OVER earlier,
           max(h.changed_at) FILTER (WHERE h.to_stage BETWEEN 'Interested' AND 'Paid') OVER earlier,
           max(h.changed_at) FILTER (WHERE h.to_stage = 'Paid') OVER earlier,
           max(h.changed_at) FILTER (WHERE h.to_stage = 'Lost') OVER earlier
    FROM pipeline_history h
    LEFT JOIN contacts c ON c.business_id = h.business_id AND c.id = h.contact_id
    WHERE (h.business_id, h.contact_id) IN (SELECT * FROM unnest(businesses, touched))
    WINDOW w AS (PARTITION BY h.business_id, h.contact_id ORDER BY h.changed_at, h.id),
           earlier AS (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
$$;

-- The stored facts of the touched contacts' changes, recomputed from their history and contacts; only
-- rows that differ are written (0076's update trigger then sees no re-dated change and stops).
-- PL/pgSQL, as the rollup's function below: a LANGUAGE sql function is planned again on every call from a
-- trigger (a stage move cost 1.2-1.35 ms so, against 0.26 ms before this migration; PL/pgSQL keeps the
-- plans for the session: 0.63-0.76 ms; 500 single-row inserts in psql on the large tenant).
CREATE OR REPLACE FUNCTION wacrm_pipeline_previous_changes(touched INT[], businesses INT[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE pipeline_history h
    SET previous_changed_at = x.previous, contact_created_at = x.created, previous_engaged_at = x.engaged,
        previous_interested_at = x.interested, previous_paid_at = x.paid, previous_lost_at = x.lost
    FROM wacrm_pipeline_facts(touched, businesses) x
    WHERE h.id = x.id
      AND (h.previous_changed_at, h.contact_created_at, h.previous_engaged_at, h.previous_interested_at,
           h.previous_paid_at, h.previous_lost_at)
          IS DISTINCT FROM (x.previous, x.created, x.engaged, x.interested, x.paid, x.lost);
END;
$$;

-- A change's stage is a fact of the later changes too: 0076's update trigger now also recomputes the
-- contacts whose changes changed stage, not only those re-dated.
CREATE OR REPLACE FUNCTION wacrm_pipeline_changed() RETURNS trigger LANGUAGE plpgsql AS $$
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
        -- Only rows whose order or stage changed: the function's own update of the stored facts changes
        -- neither, so it ends here.
        SELECT array_agg(contact_id) AS contacts, array_agg(business_id) AS businesses INTO keys
        FROM (
            SELECT DISTINCT k.business_id, k.contact_id
            FROM old_rows o JOIN new_rows n ON n.id = o.id,
                 LATERAL (VALUES (o.business_id, o.contact_id), (n.business_id, n.contact_id)) AS k (business_id, contact_id)
            WHERE (o.business_id, o.contact_id, o.changed_at, o.to_stage)
                  IS DISTINCT FROM (n.business_id, n.contact_id, n.changed_at, n.to_stage)
        ) k;
    END IF;
    IF keys.contacts IS NOT NULL THEN
        PERFORM wacrm_pipeline_previous_changes(keys.contacts, keys.businesses);
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION wacrm_pipeline_contact_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE pipeline_history SET contact_created_at = NEW.created_at
    WHERE business_id = NEW.business_id AND contact_id = NEW.id
      AND contact_created_at IS DISTINCT FROM NEW.created_at;
    RETURN NULL;
END;
$$;
CREATE TRIGGER contacts_pipeline_created AFTER UPDATE OF created_at ON contacts
    FOR EACH ROW WHEN (OLD.created_at IS DISTINCT FROM NEW.created_at)
    EXECUTE FUNCTION wacrm_pipeline_contact_created();

-- The funnel steps a change counts in, each with the change before it that reached the step. New is
-- every change, and its previous one is the contact's previous change or, for its first, the
-- contact's creation: with the range's new contacts added, the contacts created or moved in a range.
CREATE FUNCTION wacrm_funnel_steps(
    to_stage pipeline_stage, previous_changed_at TIMESTAMPTZ, contact_created_at TIMESTAMPTZ,
    previous_engaged_at TIMESTAMPTZ, previous_interested_at TIMESTAMPTZ, previous_paid_at TIMESTAMPTZ,
    previous_lost_at TIMESTAMPTZ
) RETURNS TABLE (step pipeline_stage, previous TIMESTAMPTZ) LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT s.step, s.previous FROM (VALUES
        ('New'::pipeline_stage, coalesce(previous_changed_at, contact_created_at), true),
        ('Engaged', previous_engaged_at, coalesce(to_stage BETWEEN 'Engaged' AND 'Paid', false)),
        ('Interested', previous_interested_at, coalesce(to_stage BETWEEN 'Interested' AND 'Paid', false)),
        ('Paid', previous_paid_at, coalesce(to_stage = 'Paid', false)),
        ('Lost', previous_lost_at, coalesce(to_stage = 'Lost', false))
    ) AS s (step, previous, reached)
    WHERE s.reached
$$;

-- Delta rows, never updated in place (stage moves of one day and bin would otherwise queue on one row
-- until their transactions commit); a figure is the SUM of its rows, `analytics compact` folds them.
-- Per UTC day of the change: the changes per funnel step and UTC day of their previous change (NULL:
-- none), and the stays per stage left and bin.
CREATE TABLE analytics_funnel_days (
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    day DATE NOT NULL,
    step pipeline_stage NOT NULL,
    previous_day DATE,
    changes BIGINT NOT NULL
);
CREATE INDEX idx_analytics_funnel_days ON analytics_funnel_days (business_id, day) INCLUDE (step, previous_day, changes);

CREATE TABLE analytics_stay_days (
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    day DATE NOT NULL,
    stage pipeline_stage NOT NULL,
    bin INT NOT NULL,
    stays BIGINT NOT NULL
);
CREATE INDEX idx_analytics_stay_days ON analytics_stay_days (business_id, day) INCLUDE (stage, bin, stays);

-- What the rollups should hold, from the changes' stored facts: `analytics verify` compares, a repair
-- writes. A change without a time is in no range; a stay without a start or a stage is not measured.
CREATE VIEW analytics_funnel_days_recomputed AS
    SELECT h.business_id, (h.changed_at AT TIME ZONE 'UTC')::date AS day, s.step,
           (s.previous AT TIME ZONE 'UTC')::date AS previous_day, count(*) AS changes
    FROM pipeline_history h,
         wacrm_funnel_steps(h.to_stage, h.previous_changed_at, h.contact_created_at, h.previous_engaged_at,
                            h.previous_interested_at, h.previous_paid_at, h.previous_lost_at) s
    WHERE h.changed_at IS NOT NULL
    GROUP BY 1, 2, 3, 4;
CREATE VIEW analytics_stay_days_recomputed AS
    SELECT business_id, (changed_at AT TIME ZONE 'UTC')::date AS day, from_stage AS stage, stay_bin AS bin,
           count(*) AS stays
    FROM pipeline_history
    WHERE changed_at IS NOT NULL AND from_stage IS NOT NULL AND stay_bin IS NOT NULL
    GROUP BY 1, 2, 3, 4;

-- Adds (delta_sign 1) or takes away (-1) these changes. A change deleted with its business leaves
-- nothing (its days go by cascade).
CREATE FUNCTION wacrm_pipeline_days_add(changed pipeline_history[], delta_sign INT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_funnel_days (business_id, day, step, previous_day, changes)
    SELECT h.business_id, (h.changed_at AT TIME ZONE 'UTC')::date, s.step, (s.previous AT TIME ZONE 'UTC')::date,
           delta_sign * count(*)
    FROM unnest(changed) h,
         wacrm_funnel_steps(h.to_stage, h.previous_changed_at, h.contact_created_at, h.previous_engaged_at,
                            h.previous_interested_at, h.previous_paid_at, h.previous_lost_at) s
    WHERE h.changed_at IS NOT NULL AND EXISTS (SELECT 1 FROM businesses b WHERE b.id = h.business_id)
    GROUP BY 1, 2, 3, 4;
    INSERT INTO analytics_stay_days (business_id, day, stage, bin, stays)
    SELECT h.business_id, (h.changed_at AT TIME ZONE 'UTC')::date, h.from_stage, h.stay_bin, delta_sign * count(*)
    FROM unnest(changed) h
    WHERE h.changed_at IS NOT NULL AND h.from_stage IS NOT NULL AND h.stay_bin IS NOT NULL
      AND EXISTS (SELECT 1 FROM businesses b WHERE b.id = h.business_id)
    GROUP BY 1, 2, 3, 4;
END;
$$;

-- Kept in the transaction that writes the changes (stage moves: rare writes, not message ingest). An
-- insert is counted as written, then the facts 0076's trigger stores are an update: out, and in again.
CREATE FUNCTION wacrm_rollup_pipeline() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        PERFORM wacrm_pipeline_days_add(ARRAY(SELECT o::pipeline_history FROM old_rows o), -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM wacrm_pipeline_days_add(ARRAY(SELECT n::pipeline_history FROM new_rows n), 1);
    END IF;
    RETURN NULL;
END;
$$;

-- Facts of every existing change, before the rollup triggers exist (then summed once, below).
SELECT wacrm_pipeline_previous_changes(array_agg(contact_id), array_agg(business_id))
FROM (SELECT DISTINCT business_id, contact_id FROM pipeline_history) k;

CREATE TRIGGER pipeline_history_days_insert AFTER INSERT ON pipeline_history REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wacrm_rollup_pipeline();
CREATE TRIGGER pipeline_history_days_delete AFTER DELETE ON pipeline_history REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wacrm_rollup_pipeline();
CREATE TRIGGER pipeline_history_days_update AFTER UPDATE ON pipeline_history
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wacrm_rollup_pipeline();

INSERT INTO analytics_funnel_days (business_id, day, step, previous_day, changes)
SELECT business_id, day, step, previous_day, changes FROM analytics_funnel_days_recomputed;
INSERT INTO analytics_stay_days (business_id, day, stage, bin, stays)
SELECT business_id, day, stage, bin, stays FROM analytics_stay_days_recomputed;

-- The partial days at a range's ends are read from the range's changes: 0086's index, with the new
-- facts included, answers from the index alone. The stays of a percentile's bins, by bin.
DROP INDEX idx_pipeline_changed;
CREATE INDEX idx_pipeline_changed ON pipeline_history (business_id, changed_at)
    INCLUDE (contact_id, to_stage, from_stage, previous_changed_at, contact_created_at, previous_engaged_at,
             previous_interested_at, previous_paid_at, previous_lost_at, stay_bin);
CREATE INDEX idx_pipeline_stay_bin ON pipeline_history (business_id, stay_bin, changed_at)
    INCLUDE (from_stage, previous_changed_at, contact_created_at);
-- Contacts with a change before their creation (a backdated move or import): the funnel's New step
-- counts them from their rows (none on the large tenant; the figure assumes creation comes first).
CREATE INDEX idx_pipeline_before_created ON pipeline_history (business_id) INCLUDE (contact_id)
    WHERE previous_changed_at IS NULL AND changed_at < contact_created_at;
