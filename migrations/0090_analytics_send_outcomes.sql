-- Send outcomes (issue 23 performance): the campaign and template reports read every send of the range
-- (20,000 campaign sends of the large tenant, 15-47 ms, growing with every send). Now a rollup per
-- 15-minute bucket of sent_at (wacrm_bucket, 0036) of the outbound sends those reports count: campaign
-- sends (campaign_id) and template sends (kind 'template', named in the payload as Meta receives it).
--
-- Kept exact as 0036's counts are: delta rows written in the writing transaction, never updated in
-- place (concurrent writers never wait on a shared counter), a figure is the SUM of its deltas,
-- `analytics compact` folds them and `analytics verify` recomputes them from the messages. Keyed by
-- what the reports group on (campaign, template name and language); the columns are the reports'
-- figures (analytics/outcomes.rs), so a status webhook writes one delta row, not an old and a new one.
-- `replied` counts the sends with a stored reply time (`replied_at`, written by `analytics refresh`
-- only): reports correct the contacts marked dirty live.
CREATE TABLE analytics_send_outcomes (
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    bucket TIMESTAMPTZ NOT NULL,
    campaign_id INT,
    template_name TEXT,
    template_language TEXT,
    messages BIGINT NOT NULL,
    sent BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    limited BIGINT NOT NULL,
    delivered BIGINT NOT NULL,
    read BIGINT NOT NULL,
    replied BIGINT NOT NULL
);
CREATE INDEX idx_analytics_send_outcomes ON analytics_send_outcomes (business_id, bucket)
    INCLUDE (campaign_id, template_name, template_language, messages, sent, failed, limited, delivered, read, replied);

-- A send's figures, as the reports define them (analytics/outcomes.rs): a message; handed to Meta;
-- failed; failed by Meta's per-user marketing limit (131049); delivered (or read); read; answered
-- within the reply window (by its stored reply time). One expression, inlined where it is called.
CREATE FUNCTION wacrm_send_figures(status message_status, error_code INT, replied_at TIMESTAMPTZ)
RETURNS INT[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY[1, (coalesce(status, 'sent') <> 'pending')::int, (coalesce(status, 'sent') = 'failed')::int,
                 (coalesce(status, 'sent') = 'failed' AND error_code IS NOT DISTINCT FROM 131049)::int,
                 (coalesce(status, 'sent') IN ('delivered', 'read'))::int, (coalesce(status, 'sent') = 'read')::int,
                 (coalesce(status, 'sent') IN ('sent', 'delivered', 'read') AND replied_at IS NOT NULL)::int]
$$;

-- What the rollup should hold, recomputed from the messages (verify and repair); the triggers below
-- count the same sends (direction, sent_at, campaign or template) by the same key.
CREATE VIEW analytics_send_outcomes_recomputed AS
    SELECT business_id, wacrm_bucket(sent_at) AS bucket, campaign_id,
           CASE WHEN kind = 'template' THEN payload #>> '{template,name}' END AS template_name,
           CASE WHEN kind = 'template' THEN payload #>> '{template,language}' END AS template_language,
           sum(f[1]) AS messages, sum(f[2]) AS sent, sum(f[3]) AS failed, sum(f[4]) AS limited,
           sum(f[5]) AS delivered, sum(f[6]) AS read, sum(f[7]) AS replied
    FROM (SELECT m.*, wacrm_send_figures(m.status, m.error_code, m.replied_at) AS f FROM messages m) m
    WHERE direction = 'out' AND sent_at IS NOT NULL AND (campaign_id IS NOT NULL OR kind = 'template')
    GROUP BY 1, 2, 3, 4, 5;

-- Inserted and deleted sends (cascades included): statement-level, from the transition tables that
-- 0036's triggers already make. Rows deleted with their business leave nothing: its rollup goes by the
-- same cascade, in either order.
CREATE FUNCTION wacrm_rollup_send_outcomes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO analytics_send_outcomes
            (business_id, bucket, campaign_id, template_name, template_language, messages, sent, failed, limited,
             delivered, read, replied)
        SELECT business_id, wacrm_bucket(sent_at), campaign_id,
               CASE WHEN kind = 'template' THEN payload #>> '{template,name}' END,
               CASE WHEN kind = 'template' THEN payload #>> '{template,language}' END,
               sum(f[1]), sum(f[2]), sum(f[3]), sum(f[4]), sum(f[5]), sum(f[6]), sum(f[7])
        FROM (SELECT n.*, wacrm_send_figures(n.status, n.error_code, n.replied_at) AS f FROM new_rows n) n
        WHERE direction = 'out' AND sent_at IS NOT NULL AND (campaign_id IS NOT NULL OR kind = 'template')
        GROUP BY 1, 2, 3, 4, 5;
    ELSE
        INSERT INTO analytics_send_outcomes
            (business_id, bucket, campaign_id, template_name, template_language, messages, sent, failed, limited,
             delivered, read, replied)
        SELECT business_id, wacrm_bucket(sent_at), campaign_id,
               CASE WHEN kind = 'template' THEN payload #>> '{template,name}' END,
               CASE WHEN kind = 'template' THEN payload #>> '{template,language}' END,
               -sum(f[1]), -sum(f[2]), -sum(f[3]), -sum(f[4]), -sum(f[5]), -sum(f[6]), -sum(f[7])
        FROM (SELECT o.*, wacrm_send_figures(o.status, o.error_code, o.replied_at) AS f FROM old_rows o) o
        WHERE direction = 'out' AND sent_at IS NOT NULL AND (campaign_id IS NOT NULL OR kind = 'template') AND EXISTS (SELECT 1 FROM businesses b WHERE b.id = o.business_id)
        GROUP BY 1, 2, 3, 4, 5;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER messages_send_outcomes_insert AFTER INSERT ON messages REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wacrm_rollup_send_outcomes();
CREATE TRIGGER messages_send_outcomes_delete AFTER DELETE ON messages REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wacrm_rollup_send_outcomes();

-- A send's status, error or stored reply changed (or, by hand, its key): one row trigger whose WHEN
-- clause lets through only campaign and template sends where one of those really changed, so the status
-- updates of every other message (most of them) cost nothing here. A status webhook writes one row, the
-- new figures less the old (a key changed by hand: a row for each key).
CREATE FUNCTION wacrm_rollup_send_outcome_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_send_outcomes
        (business_id, bucket, campaign_id, template_name, template_language, messages, sent, failed, limited,
             delivered, read, replied)
    SELECT business_id, wacrm_bucket(sent_at), campaign_id,
               CASE WHEN kind = 'template' THEN payload #>> '{template,name}' END,
               CASE WHEN kind = 'template' THEN payload #>> '{template,language}' END,
           sum(d * f[1]), sum(d * f[2]), sum(d * f[3]), sum(d * f[4]), sum(d * f[5]), sum(d * f[6]), sum(d * f[7])
    FROM (SELECT m.*, wacrm_send_figures(m.status, m.error_code, m.replied_at) AS f
          FROM (VALUES (-1, OLD.business_id, OLD.sent_at, OLD.direction, OLD.kind, OLD.payload, OLD.campaign_id,
                        OLD.status, OLD.error_code, OLD.replied_at),
                       (1, NEW.business_id, NEW.sent_at, NEW.direction, NEW.kind, NEW.payload, NEW.campaign_id,
                        NEW.status, NEW.error_code, NEW.replied_at))
               AS m (d, business_id, sent_at, direction, kind, payload, campaign_id, status, error_code, replied_at)) m
    WHERE direction = 'out' AND sent_at IS NOT NULL AND (campaign_id IS NOT NULL OR kind = 'template')
    GROUP BY 1, 2, 3, 4, 5;
    RETURN NULL;
END;
$$;
CREATE TRIGGER messages_send_outcomes_update
    AFTER UPDATE OF business_id, sent_at, direction, kind, payload, campaign_id, status, error_code, replied_at
    ON messages FOR EACH ROW
    WHEN (((OLD.direction = 'out' AND (OLD.campaign_id IS NOT NULL OR OLD.kind = 'template'))
           OR (NEW.direction = 'out' AND (NEW.campaign_id IS NOT NULL OR NEW.kind = 'template')))
          AND (OLD.status IS DISTINCT FROM NEW.status
               OR coalesce(OLD.error_code = 131049, false) <> coalesce(NEW.error_code = 131049, false)
               OR (OLD.replied_at IS NULL) <> (NEW.replied_at IS NULL)
               OR OLD.business_id IS DISTINCT FROM NEW.business_id OR OLD.sent_at IS DISTINCT FROM NEW.sent_at
               OR OLD.direction IS DISTINCT FROM NEW.direction OR OLD.kind IS DISTINCT FROM NEW.kind
               OR OLD.campaign_id IS DISTINCT FROM NEW.campaign_id
               OR OLD.payload -> 'template' IS DISTINCT FROM NEW.payload -> 'template'))
    EXECUTE FUNCTION wacrm_rollup_send_outcome_changed();

-- Conversions are not additive through time (a later move to Paid converts an earlier reply): reports
-- join the range's replied sends with the moves to Paid (idx_pipeline_paid). Replied sends are a few
-- per cent of the sends; this index finds them without reading the others (nor, but for the few
-- followed by a move to Paid, the replied ones themselves). Its columns and predicate
-- are none that status webhooks write (replied_at is written by `analytics refresh` only), so status
-- updates stay HOT, and ingest never writes it (a new send has no reply time).
CREATE INDEX messages_replied_sends ON messages (business_id, sent_at) INCLUDE (id, contact_id, replied_at)
    WHERE replied_at IS NOT NULL AND direction = 'out' AND (campaign_id IS NOT NULL OR kind = 'template');

INSERT INTO analytics_send_outcomes
    (business_id, bucket, campaign_id, template_name, template_language, messages, sent, failed, limited,
     delivered, read, replied)
SELECT * FROM analytics_send_outcomes_recomputed;
