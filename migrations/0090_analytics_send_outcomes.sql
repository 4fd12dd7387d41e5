-- Send outcomes (issue 23 performance): the campaign and template reports read every send of the range
-- (20,000 campaign sends of the large tenant, 15-47 ms, growing with every send). Now a rollup per
-- 15-minute bucket of sent_at (wacrm_bucket, 0036) of the outbound sends those reports count: campaign
-- sends (campaign_id) and template sends (kind 'template', named in the payload as Meta receives it).
--
-- Kept exact as 0036's counts are: delta rows written in the writing transaction, never updated in
-- place (concurrent writers never wait on a shared counter), a figure is the SUM of its deltas,
-- `analytics compact` folds them and `analytics verify` recomputes them from the messages. Keyed by
-- what the reports group on (campaign, template name and language) and by outcome: status, whether
-- Meta's per-user marketing limit (131049) refused it, and whether it has a stored reply time
-- (`replied_at`, written by `analytics refresh` only: reports correct dirty contacts live).
CREATE TABLE analytics_send_outcomes (
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    bucket TIMESTAMPTZ NOT NULL,
    campaign_id INT,
    template_name TEXT,
    template_language TEXT,
    status message_status NOT NULL,
    limited BOOLEAN NOT NULL,
    replied BOOLEAN NOT NULL,
    sends BIGINT NOT NULL
);
CREATE INDEX idx_analytics_send_outcomes ON analytics_send_outcomes (business_id, bucket)
    INCLUDE (campaign_id, template_name, template_language, status, limited, replied, sends);

-- What the rollup should hold, recomputed from the messages (verify and repair). The key's definition
-- is repeated in the triggers below, which cannot read a view of their transition tables.
CREATE VIEW analytics_send_outcomes_recomputed AS
    SELECT business_id, wacrm_bucket(sent_at) AS bucket, campaign_id,
           CASE WHEN kind = 'template' THEN payload #>> '{template,name}' END AS template_name,
           CASE WHEN kind = 'template' THEN payload #>> '{template,language}' END AS template_language,
           coalesce(status, 'sent') AS status, coalesce(error_code = 131049, false) AS limited,
           replied_at IS NOT NULL AS replied, count(*) AS sends
    FROM messages
    WHERE direction = 'out' AND sent_at IS NOT NULL AND (campaign_id IS NOT NULL OR kind = 'template')
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

-- Inserted and deleted sends (cascades included): statement-level, from the transition tables that
-- 0036's triggers already make. Rows deleted with their business leave nothing: its rollup goes by the
-- same cascade, in either order.
CREATE FUNCTION wacrm_rollup_send_outcomes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO analytics_send_outcomes
            (business_id, bucket, campaign_id, template_name, template_language, status, limited, replied, sends)
        SELECT business_id, wacrm_bucket(sent_at), campaign_id,
               CASE WHEN kind = 'template' THEN payload #>> '{template,name}' END,
               CASE WHEN kind = 'template' THEN payload #>> '{template,language}' END,
               coalesce(status, 'sent'), coalesce(error_code = 131049, false), replied_at IS NOT NULL, count(*)
        FROM new_rows
        WHERE direction = 'out' AND sent_at IS NOT NULL AND (campaign_id IS NOT NULL OR kind = 'template')
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
    ELSE
        INSERT INTO analytics_send_outcomes
            (business_id, bucket, campaign_id, template_name, template_language, status, limited, replied, sends)
        SELECT business_id, wacrm_bucket(sent_at), campaign_id,
               CASE WHEN kind = 'template' THEN payload #>> '{template,name}' END,
               CASE WHEN kind = 'template' THEN payload #>> '{template,language}' END,
               coalesce(status, 'sent'), coalesce(error_code = 131049, false), replied_at IS NOT NULL, -count(*)
        FROM old_rows o
        WHERE direction = 'out' AND sent_at IS NOT NULL AND (campaign_id IS NOT NULL OR kind = 'template')
          AND EXISTS (SELECT 1 FROM businesses b WHERE b.id = o.business_id)
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER messages_send_outcomes_insert AFTER INSERT ON messages REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wacrm_rollup_send_outcomes();
CREATE TRIGGER messages_send_outcomes_delete AFTER DELETE ON messages REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wacrm_rollup_send_outcomes();

-- A send's status, error or stored reply changed (or, by hand, its key): one row trigger whose WHEN
-- clause lets through only campaign and template sends whose key really changed, so the status updates
-- of every other message (most of them) cost nothing here. The old key's -1 and the new key's +1.
CREATE FUNCTION wacrm_rollup_send_outcome_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_send_outcomes
        (business_id, bucket, campaign_id, template_name, template_language, status, limited, replied, sends)
    SELECT OLD.business_id, wacrm_bucket(OLD.sent_at), OLD.campaign_id,
           CASE WHEN OLD.kind = 'template' THEN OLD.payload #>> '{template,name}' END,
           CASE WHEN OLD.kind = 'template' THEN OLD.payload #>> '{template,language}' END,
           coalesce(OLD.status, 'sent'), coalesce(OLD.error_code = 131049, false), OLD.replied_at IS NOT NULL, -1
    WHERE OLD.direction = 'out' AND OLD.sent_at IS NOT NULL AND (OLD.campaign_id IS NOT NULL OR OLD.kind = 'template')
    UNION ALL
    SELECT NEW.business_id, wacrm_bucket(NEW.sent_at), NEW.campaign_id,
           CASE WHEN NEW.kind = 'template' THEN NEW.payload #>> '{template,name}' END,
           CASE WHEN NEW.kind = 'template' THEN NEW.payload #>> '{template,language}' END,
           coalesce(NEW.status, 'sent'), coalesce(NEW.error_code = 131049, false), NEW.replied_at IS NOT NULL, 1
    WHERE NEW.direction = 'out' AND NEW.sent_at IS NOT NULL AND (NEW.campaign_id IS NOT NULL OR NEW.kind = 'template');
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
-- per cent of the sends; this index finds them without reading the others. Its columns and predicate
-- are none that status webhooks write (replied_at is written by `analytics refresh` only), so status
-- updates stay HOT, and ingest never writes it (a new send has no reply time).
CREATE INDEX messages_replied_sends ON messages (business_id, sent_at) INCLUDE (contact_id, replied_at)
    WHERE replied_at IS NOT NULL AND direction = 'out' AND (campaign_id IS NOT NULL OR kind = 'template');

INSERT INTO analytics_send_outcomes
    (business_id, bucket, campaign_id, template_name, template_language, status, limited, replied, sends)
SELECT * FROM analytics_send_outcomes_recomputed;
