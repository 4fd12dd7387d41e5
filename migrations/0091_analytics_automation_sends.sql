-- Automation impact (issue 23 performance): the report joined each send action of the range to its
-- message by `client_ref` (20,000 index probes and heap reads on the large tenant, 33-55 ms) to learn
-- whether it was delivered and answered. Now a rollup of those two figures per 15-minute bucket of the
-- ACTION's created_at (actions count in the range they were taken in) and rule, kept exact as 0036's
-- and 0090's are: delta rows in the writing transaction, `analytics verify` recomputes them with the
-- report's own join, a repair rebuilds them, `analytics compact` folds them.
--
-- A send's message names its action: `messages.automation_action_id`, set when the message is written
-- (the action is claimed first) or when the action is written after its message (by hand, the bench's
-- data), so that a status webhook finds the action's bucket and rule by primary key, and the triggers'
-- WHEN clauses let only automation sends through. Not a foreign key: a run deleted with its actions
-- (a rule deleted) leaves its messages, as before.
ALTER TABLE messages ADD COLUMN automation_action_id BIGINT;

CREATE TABLE analytics_automation_sends (
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    bucket TIMESTAMPTZ NOT NULL,
    rule_id INT NOT NULL,
    delivered BIGINT NOT NULL,
    replied BIGINT NOT NULL
);
CREATE INDEX idx_analytics_automation_sends ON analytics_automation_sends (business_id, bucket)
    INCLUDE (rule_id, delivered, replied);

-- A send action's figures from its message, as the report defines them: delivered (or read); answered
-- within the reply window, by the stored reply time, while not failed nor pending.
CREATE FUNCTION wacrm_automation_send_figures(status message_status, replied_at TIMESTAMPTZ)
RETURNS INT[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY[coalesce(status IN ('delivered', 'read'), false)::int,
                 coalesce(status IN ('sent', 'delivered', 'read') AND replied_at IS NOT NULL, false)::int]
$$;

-- What the rollup should hold, by the report's join of send actions and messages (verify, repair).
CREATE VIEW analytics_automation_sends_recomputed AS
    SELECT a.business_id, wacrm_bucket(a.created_at) AS bucket, a.rule_id,
           sum(m.f[1]) AS delivered, sum(m.f[2]) AS replied
    FROM automation_actions a
    JOIN (SELECT business_id, client_ref, wacrm_automation_send_figures(status, replied_at) AS f FROM messages) m
      ON m.business_id = a.business_id AND m.client_ref = a.client_ref
    WHERE a.kind IN ('send_template', 'send_text')
    GROUP BY 1, 2, 3
    HAVING sum(m.f[1]) <> 0 OR sum(m.f[2]) <> 0;

-- Adds these figures for this action (none when the action or its business is gone). PL/pgSQL, so its
-- statement's plan is kept between the status updates that call it.
CREATE FUNCTION wacrm_automation_sends_add(business INT, action BIGINT, ref UUID, figures INT[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF figures <> '{0,0}' THEN
        INSERT INTO analytics_automation_sends (business_id, bucket, rule_id, delivered, replied)
        SELECT a.business_id, wacrm_bucket(a.created_at), a.rule_id, figures[1], figures[2]
        FROM automation_actions a
        WHERE a.business_id = business AND a.id = action AND a.client_ref = ref
          AND a.kind IN ('send_template', 'send_text')
          AND EXISTS (SELECT 1 FROM businesses b WHERE b.id = business);
    END IF;
END;
$$;

-- A message written with an automation action's client_ref names that action.
CREATE FUNCTION wacrm_automation_send_link() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.automation_action_id := (
        SELECT a.id FROM automation_actions a
        WHERE a.business_id = NEW.business_id AND a.client_ref = NEW.client_ref
          AND a.kind IN ('send_template', 'send_text')
    );
    RETURN NEW;
END;
$$;
CREATE TRIGGER messages_automation_send_link BEFORE INSERT ON messages FOR EACH ROW
    WHEN (NEW.client_ref IS NOT NULL AND NEW.automation_action_id IS NULL)
    EXECUTE FUNCTION wacrm_automation_send_link();

-- An automation send inserted, deleted or changed: its figures out of its old action's row and into
-- its new one's (one row when only the figures moved, as a status webhook does).
CREATE FUNCTION wacrm_rollup_automation_send() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    o INT[] := '{0,0}';
    n INT[] := '{0,0}';
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.automation_action_id IS NOT NULL THEN
        o := wacrm_automation_send_figures(OLD.status, OLD.replied_at);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.automation_action_id IS NOT NULL THEN
        n := wacrm_automation_send_figures(NEW.status, NEW.replied_at);
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.automation_action_id = NEW.automation_action_id
       AND OLD.business_id = NEW.business_id AND OLD.client_ref = NEW.client_ref THEN
        PERFORM wacrm_automation_sends_add(NEW.business_id, NEW.automation_action_id, NEW.client_ref,
                                           ARRAY[n[1] - o[1], n[2] - o[2]]);
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.automation_action_id IS NOT NULL THEN
        PERFORM wacrm_automation_sends_add(OLD.business_id, OLD.automation_action_id, OLD.client_ref,
                                           ARRAY[-o[1], -o[2]]);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.automation_action_id IS NOT NULL THEN
        PERFORM wacrm_automation_sends_add(NEW.business_id, NEW.automation_action_id, NEW.client_ref, n);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER messages_automation_sends_insert AFTER INSERT ON messages FOR EACH ROW
    WHEN (NEW.automation_action_id IS NOT NULL)
    EXECUTE FUNCTION wacrm_rollup_automation_send();
CREATE TRIGGER messages_automation_sends_delete AFTER DELETE ON messages FOR EACH ROW
    WHEN (OLD.automation_action_id IS NOT NULL)
    EXECUTE FUNCTION wacrm_rollup_automation_send();
CREATE TRIGGER messages_automation_sends_update
    AFTER UPDATE OF business_id, client_ref, automation_action_id, status, replied_at ON messages FOR EACH ROW
    WHEN ((OLD.automation_action_id IS NOT NULL OR NEW.automation_action_id IS NOT NULL)
          AND (OLD.status IS DISTINCT FROM NEW.status OR (OLD.replied_at IS NULL) <> (NEW.replied_at IS NULL)
               OR OLD.automation_action_id IS DISTINCT FROM NEW.automation_action_id
               OR OLD.business_id IS DISTINCT FROM NEW.business_id OR OLD.client_ref IS DISTINCT FROM NEW.client_ref))
    EXECUTE FUNCTION wacrm_rollup_automation_send();

-- A send action written after its message links it (the message's update trigger then counts it); a
-- send action deleted (its run's cascade) takes its message's figures out.
CREATE FUNCTION wacrm_automation_action_sends() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE messages SET automation_action_id = NEW.id
        WHERE business_id = NEW.business_id AND client_ref = NEW.client_ref
          AND automation_action_id IS DISTINCT FROM NEW.id;
    ELSIF EXISTS (SELECT 1 FROM businesses b WHERE b.id = OLD.business_id) THEN
        INSERT INTO analytics_automation_sends (business_id, bucket, rule_id, delivered, replied)
        SELECT OLD.business_id, wacrm_bucket(OLD.created_at), OLD.rule_id, -f[1], -f[2]
        FROM (SELECT wacrm_automation_send_figures(m.status, m.replied_at) AS f FROM messages m
              WHERE m.business_id = OLD.business_id AND m.client_ref = OLD.client_ref
                AND m.automation_action_id = OLD.id) m
        WHERE f <> '{0,0}';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER automation_actions_sends_insert AFTER INSERT ON automation_actions FOR EACH ROW
    WHEN (NEW.kind IN ('send_template', 'send_text'))
    EXECUTE FUNCTION wacrm_automation_action_sends();
CREATE TRIGGER automation_actions_sends_delete AFTER DELETE ON automation_actions FOR EACH ROW
    WHEN (OLD.kind IN ('send_template', 'send_text'))
    EXECUTE FUNCTION wacrm_automation_action_sends();

-- The actions and runs of a range, read from these indexes alone: counts, distinct contacts and
-- conversions per rule are not additive through time, and read the range's actions (not their
-- messages). Automation's own writes pay for them, never a status webhook.
CREATE INDEX automation_actions_analytics ON automation_actions (business_id, created_at)
    INCLUDE (rule_id, kind, status, contact_id);
CREATE INDEX automation_runs_analytics ON automation_runs (business_id, created_at) INCLUDE (rule_id, matched);

UPDATE messages m SET automation_action_id = a.id
FROM automation_actions a
WHERE a.kind IN ('send_template', 'send_text') AND m.business_id = a.business_id AND m.client_ref = a.client_ref;
