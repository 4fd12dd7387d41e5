-- Analytics rollups (issue 23): message and conversation counts per business and 15-minute UTC bucket,
-- so a month of a million-message tenant is summed from a few thousand rows instead of counted from
-- hundreds of thousands. 15 minutes because every current UTC offset is a multiple of it: a bucket
-- lies inside one local day of any timezone, and core folds buckets into local days, weeks and months.
--
-- Exact by construction: triggers in the writing statement's own transaction add a delta row for
-- whatever messages and usage rows a statement inserts, deletes (cascades included) or moves; nothing
-- is ever updated in place, so concurrent writers never wait on a shared counter row. A figure is the
-- SUM of a bucket's deltas; `wacrm analytics compact` folds them into one row per bucket, and
-- `wacrm analytics verify` recomputes every bucket from the raw rows.

CREATE TABLE analytics_message_counts (
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    bucket TIMESTAMPTZ NOT NULL,
    direction message_direction NOT NULL,
    messages BIGINT NOT NULL
);
CREATE INDEX idx_analytics_message_counts ON analytics_message_counts (business_id, bucket) INCLUDE (direction, messages);

CREATE TABLE analytics_usage_counts (
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    bucket TIMESTAMPTZ NOT NULL,
    conversations BIGINT NOT NULL,
    cost NUMERIC NOT NULL
);
CREATE INDEX idx_analytics_usage_counts ON analytics_usage_counts (business_id, bucket) INCLUDE (conversations, cost);

CREATE FUNCTION wacrm_bucket(at TIMESTAMPTZ) RETURNS TIMESTAMPTZ LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT date_bin('15 minutes', at, TIMESTAMPTZ '2000-01-01 00:00:00+00')
$$;

-- Messages: one statement-level trigger per operation, each adding one delta row per bucket touched.
-- A message without sent_at (none are written so) is in no bucket and in no report. Rows deleted with
-- their business leave no delta: the business's rollups go by the same cascade, in either order.
CREATE FUNCTION wacrm_rollup_messages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO analytics_message_counts (business_id, bucket, direction, messages)
        SELECT business_id, wacrm_bucket(sent_at), direction, count(*)
        FROM new_rows WHERE sent_at IS NOT NULL GROUP BY 1, 2, 3;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO analytics_message_counts (business_id, bucket, direction, messages)
        SELECT business_id, wacrm_bucket(sent_at), direction, -count(*)
        FROM old_rows o WHERE sent_at IS NOT NULL AND EXISTS (SELECT 1 FROM businesses b WHERE b.id = o.business_id)
        GROUP BY 1, 2, 3;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER messages_rollup_insert AFTER INSERT ON messages REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wacrm_rollup_messages();
CREATE TRIGGER messages_rollup_delete AFTER DELETE ON messages REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wacrm_rollup_messages();

-- No code moves a message between buckets, but SQL by hand may: a row trigger that fires only when one
-- of the three keys really changes, so status updates (most updates) cost nothing here.
CREATE FUNCTION wacrm_rollup_message_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_message_counts (business_id, bucket, direction, messages)
    SELECT OLD.business_id, wacrm_bucket(OLD.sent_at), OLD.direction, -1 WHERE OLD.sent_at IS NOT NULL
    UNION ALL
    SELECT NEW.business_id, wacrm_bucket(NEW.sent_at), NEW.direction, 1 WHERE NEW.sent_at IS NOT NULL;
    RETURN NULL;
END;
$$;
CREATE TRIGGER messages_rollup_update AFTER UPDATE OF business_id, sent_at, direction ON messages
    FOR EACH ROW
    WHEN (OLD.business_id IS DISTINCT FROM NEW.business_id OR OLD.sent_at IS DISTINCT FROM NEW.sent_at
          OR OLD.direction IS DISTINCT FROM NEW.direction)
    EXECUTE FUNCTION wacrm_rollup_message_moved();

-- Conversation windows (usage_logs): one row each, priced in `cost`.
CREATE FUNCTION wacrm_rollup_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO analytics_usage_counts (business_id, bucket, conversations, cost)
        SELECT business_id, wacrm_bucket(timestamp), count(*), sum(cost)
        FROM new_rows WHERE timestamp IS NOT NULL GROUP BY 1, 2;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO analytics_usage_counts (business_id, bucket, conversations, cost)
        SELECT business_id, wacrm_bucket(timestamp), -count(*), -sum(cost)
        FROM old_rows o WHERE timestamp IS NOT NULL AND EXISTS (SELECT 1 FROM businesses b WHERE b.id = o.business_id)
        GROUP BY 1, 2;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER usage_rollup_insert AFTER INSERT ON usage_logs REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wacrm_rollup_usage();
CREATE TRIGGER usage_rollup_delete AFTER DELETE ON usage_logs REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wacrm_rollup_usage();

CREATE FUNCTION wacrm_rollup_usage_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_usage_counts (business_id, bucket, conversations, cost)
    SELECT OLD.business_id, wacrm_bucket(OLD.timestamp), -1, -OLD.cost WHERE OLD.timestamp IS NOT NULL
    UNION ALL
    SELECT NEW.business_id, wacrm_bucket(NEW.timestamp), 1, NEW.cost WHERE NEW.timestamp IS NOT NULL;
    RETURN NULL;
END;
$$;
CREATE TRIGGER usage_rollup_update AFTER UPDATE OF business_id, timestamp, cost ON usage_logs
    FOR EACH ROW
    WHEN (OLD.business_id IS DISTINCT FROM NEW.business_id OR OLD.timestamp IS DISTINCT FROM NEW.timestamp
          OR OLD.cost IS DISTINCT FROM NEW.cost)
    EXECUTE FUNCTION wacrm_rollup_usage_moved();

-- The rows already there when this migration runs.
INSERT INTO analytics_message_counts (business_id, bucket, direction, messages)
SELECT business_id, wacrm_bucket(sent_at), direction, count(*) FROM messages WHERE sent_at IS NOT NULL GROUP BY 1, 2, 3;
INSERT INTO analytics_usage_counts (business_id, bucket, conversations, cost)
SELECT business_id, wacrm_bucket(timestamp), count(*), sum(cost) FROM usage_logs WHERE timestamp IS NOT NULL GROUP BY 1, 2;
