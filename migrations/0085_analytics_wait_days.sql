-- Response times (issue 23 performance): the median of a range's waits sorted every stored wait of the
-- range (1.5 s over the large tenant's 95 days). Now a histogram per UTC day answers counts, averages
-- and where the median lies, and only the waits of the median's bin are read and sorted.
--
-- A wait's bin is floor(100 · ln(1 + seconds)): bins are ordered like the waits they hold and about 1 %
-- wide, so a bin holds a small share of any range's waits (at most 1,900 bins up to a year, about 900
-- from ten seconds to a week). -1 is an unanswered wait's bin.
CREATE FUNCTION wacrm_wait_bin(asked_at TIMESTAMPTZ, replied_at TIMESTAMPTZ) RETURNS INT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN replied_at IS NULL THEN -1
                ELSE floor(100 * ln(1 + greatest(extract(epoch FROM replied_at - asked_at)::float8, 0)))::int END
$$;

ALTER TABLE analytics_waits ADD COLUMN wait_bin INT GENERATED ALWAYS AS (wacrm_wait_bin(asked_at, replied_at)) STORED;
-- The waits of one bin in a range, read from the index alone.
CREATE INDEX idx_analytics_waits_bin ON analytics_waits (business_id, wait_bin, asked_at)
    INCLUDE (replied_at, replier, opens, contact_id);

-- One row per business, UTC day of asked_at, replier (-1 unanswered, 0 a reply without a user), whether
-- the wait opened a conversation, and bin: how many waits and their seconds summed (exact, numeric).
-- Reports read whole UTC days of a range from here and the partial days at its ends from the waits.
CREATE TABLE analytics_wait_days (
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    day DATE NOT NULL,
    replier INT NOT NULL,
    opens BOOLEAN NOT NULL,
    bin INT NOT NULL,
    waits BIGINT NOT NULL,
    seconds NUMERIC NOT NULL,
    PRIMARY KEY (business_id, day, replier, opens, bin) INCLUDE (waits, seconds)
);

-- What the histogram should hold, recomputed from the stored waits: `analytics verify` compares it
-- with the histogram, and a repair writes it.
CREATE VIEW analytics_wait_days_recomputed AS
    SELECT business_id, (asked_at AT TIME ZONE 'UTC')::date AS day,
           CASE WHEN replied_at IS NULL THEN -1 ELSE coalesce(replier, 0) END AS replier, opens, wait_bin AS bin,
           count(*) AS waits, coalesce(sum(extract(epoch FROM replied_at - asked_at)), 0) AS seconds
    FROM analytics_waits GROUP BY 1, 2, 3, 4, 5;

-- Adds (delta_sign 1) or takes away (delta_sign -1) these waits. Rows are locked in key order, so two refreshes
-- of one business never deadlock.
CREATE FUNCTION wacrm_wait_days_add(changed analytics_waits[], delta_sign INT) RETURNS void LANGUAGE sql AS $$
    INSERT INTO analytics_wait_days AS d (business_id, day, replier, opens, bin, waits, seconds)
    SELECT w.business_id, (w.asked_at AT TIME ZONE 'UTC')::date,
           CASE WHEN w.replied_at IS NULL THEN -1 ELSE coalesce(w.replier, 0) END, w.opens, w.wait_bin,
           delta_sign * count(*), delta_sign * coalesce(sum(extract(epoch FROM w.replied_at - w.asked_at)), 0)
    FROM unnest(changed) w
    WHERE EXISTS (SELECT 1 FROM businesses b WHERE b.id = w.business_id)
    GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (business_id, day, replier, opens, bin)
        DO UPDATE SET waits = d.waits + excluded.waits, seconds = d.seconds + excluded.seconds
$$;

-- Kept in the transaction that writes the waits: only analytics' refresh (and a repair) does, never
-- ingest. A wait deleted with its business leaves nothing (the EXISTS above): its days go by cascade.
CREATE FUNCTION wacrm_rollup_waits() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        PERFORM wacrm_wait_days_add(ARRAY(SELECT o::analytics_waits FROM old_rows o), -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM wacrm_wait_days_add(ARRAY(SELECT n::analytics_waits FROM new_rows n), 1);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER analytics_waits_days_insert AFTER INSERT ON analytics_waits REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wacrm_rollup_waits();
CREATE TRIGGER analytics_waits_days_delete AFTER DELETE ON analytics_waits REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wacrm_rollup_waits();
CREATE TRIGGER analytics_waits_days_update AFTER UPDATE ON analytics_waits
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wacrm_rollup_waits();

SELECT wacrm_wait_days_add(ARRAY(SELECT w FROM analytics_waits w), 1);
