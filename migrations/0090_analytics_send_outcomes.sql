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

-- What the rollup should hold, recomputed from the messages (verify and repair); the trigger below
-- counts the same sends (direction, sent_at, campaign or template) by the same key.
CREATE VIEW analytics_send_outcomes_recomputed AS
    SELECT business_id, wacrm_bucket(sent_at) AS bucket, campaign_id,
           CASE WHEN kind = 'template' THEN payload #>> '{template,name}' END AS template_name,
           CASE WHEN kind = 'template' THEN payload #>> '{template,language}' END AS template_language,
           sum(f[1]) AS messages, sum(f[2]) AS sent, sum(f[3]) AS failed, sum(f[4]) AS limited,
           sum(f[5]) AS delivered, sum(f[6]) AS read, sum(f[7]) AS replied
    FROM (SELECT m.*, wacrm_send_figures(m.status, m.error_code, m.replied_at) AS f FROM messages m) m
    WHERE direction = 'out' AND sent_at IS NOT NULL AND (campaign_id IS NOT NULL OR kind = 'template')
    GROUP BY 1, 2, 3, 4, 5;

-- Row triggers whose WHEN clauses let through only campaign and template sends: a statement trigger
-- would run for every statement of ingest (17 µs per inbound message measured, most of an insert's
-- cost), these cost the messages that are not sends nothing. Each writes one delta row per key: a
-- send inserted (its figures), deleted (cascades included: less its figures; nothing when its business
-- is being deleted, whose rollup goes by the same cascade, nor for a campaign's SET NULL in that
-- cascade), or changed. A status webhook changes its
-- figures but not its key: one row, the new figures less the old.
CREATE FUNCTION wacrm_rollup_send_outcome() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    o INT[];
    n INT[];
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.business_id = NEW.business_id AND OLD.sent_at = NEW.sent_at
       AND OLD.direction = NEW.direction AND OLD.kind = NEW.kind AND OLD.campaign_id IS NOT DISTINCT FROM NEW.campaign_id
       AND OLD.payload -> 'template' IS NOT DISTINCT FROM NEW.payload -> 'template' THEN
        o := wacrm_send_figures(OLD.status, OLD.error_code, OLD.replied_at);
        n := wacrm_send_figures(NEW.status, NEW.error_code, NEW.replied_at);
        INSERT INTO analytics_send_outcomes
            (business_id, bucket, campaign_id, template_name, template_language, messages, sent, failed, limited,
             delivered, read, replied)
        VALUES (NEW.business_id, wacrm_bucket(NEW.sent_at), NEW.campaign_id,
                CASE WHEN NEW.kind = 'template' THEN NEW.payload #>> '{template,name}' END,
                CASE WHEN NEW.kind = 'template' THEN NEW.payload #>> '{template,language}' END,
                0, n[2] - o[2], n[3] - o[3], n[4] - o[4], n[5] - o[5], n[6] - o[6], n[7] - o[7]);
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.direction = 'out' AND OLD.sent_at IS NOT NULL
       AND (OLD.campaign_id IS NOT NULL OR OLD.kind = 'template')
       AND EXISTS (SELECT 1 FROM businesses b WHERE b.id = OLD.business_id) THEN
        o := wacrm_send_figures(OLD.status, OLD.error_code, OLD.replied_at);
        INSERT INTO analytics_send_outcomes
            (business_id, bucket, campaign_id, template_name, template_language, messages, sent, failed, limited,
             delivered, read, replied)
        VALUES (OLD.business_id, wacrm_bucket(OLD.sent_at), OLD.campaign_id,
                CASE WHEN OLD.kind = 'template' THEN OLD.payload #>> '{template,name}' END,
                CASE WHEN OLD.kind = 'template' THEN OLD.payload #>> '{template,language}' END,
                -o[1], -o[2], -o[3], -o[4], -o[5], -o[6], -o[7]);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.direction = 'out' AND NEW.sent_at IS NOT NULL
       AND (NEW.campaign_id IS NOT NULL OR NEW.kind = 'template')
       AND (TG_OP = 'INSERT' OR EXISTS (SELECT 1 FROM businesses b WHERE b.id = NEW.business_id)) THEN
        n := wacrm_send_figures(NEW.status, NEW.error_code, NEW.replied_at);
        INSERT INTO analytics_send_outcomes
            (business_id, bucket, campaign_id, template_name, template_language, messages, sent, failed, limited,
             delivered, read, replied)
        VALUES (NEW.business_id, wacrm_bucket(NEW.sent_at), NEW.campaign_id,
                CASE WHEN NEW.kind = 'template' THEN NEW.payload #>> '{template,name}' END,
                CASE WHEN NEW.kind = 'template' THEN NEW.payload #>> '{template,language}' END,
                n[1], n[2], n[3], n[4], n[5], n[6], n[7]);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER messages_send_outcomes_insert AFTER INSERT ON messages FOR EACH ROW
    WHEN (NEW.direction = 'out' AND NEW.sent_at IS NOT NULL AND (NEW.campaign_id IS NOT NULL OR NEW.kind = 'template'))
    EXECUTE FUNCTION wacrm_rollup_send_outcome();
CREATE TRIGGER messages_send_outcomes_delete AFTER DELETE ON messages FOR EACH ROW
    WHEN (OLD.direction = 'out' AND OLD.sent_at IS NOT NULL AND (OLD.campaign_id IS NOT NULL OR OLD.kind = 'template'))
    EXECUTE FUNCTION wacrm_rollup_send_outcome();
-- Updates: only where a figure or the key really changed, so the status updates of every other
-- message (most of them) cost nothing here.
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
    EXECUTE FUNCTION wacrm_rollup_send_outcome();

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
