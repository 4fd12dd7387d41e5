-- Automation conversions without joining every action of a range with every move to Paid (issue 23):
-- each action stores whether its contact moved to Paid within the conversion window after it, so the
-- one-screen summary and the automation report count only the converted actions of a range, through a
-- partial index holding only them.
--
-- The definition stays `wacrm_paid_after` (migration 0060) with the analytics conversion window, 30
-- days (`analytics::outcomes::CONVERSION_WINDOW_DAYS`; a test compares the flag with the join over that
-- constant). Both sides of it can change, so both keep the flag: an action takes it when written or
-- re-dated, and a move to Paid (or its removal, or a change of its time or contact) sets it anew on the
-- actions of its contact that its window reaches. `wacrm analytics verify` recomputes every flag.
ALTER TABLE automation_actions ADD COLUMN converted BOOLEAN NOT NULL DEFAULT false;

CREATE FUNCTION wacrm_action_converted(business INT, contact INT, at TIMESTAMPTZ) RETURNS BOOLEAN
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT contact IS NOT NULL AND wacrm_paid_after(business, contact, at, interval '30 days')
$$;

CREATE FUNCTION wacrm_action_conversion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.converted := wacrm_action_converted(NEW.business_id, NEW.contact_id, NEW.created_at);
    RETURN NEW;
END;
$$;
CREATE TRIGGER automation_actions_conversion BEFORE INSERT OR UPDATE OF business_id, contact_id, created_at
    ON automation_actions FOR EACH ROW EXECUTE FUNCTION wacrm_action_conversion();

-- The actions a move to Paid at `changed_at` can convert: the contact's, up to 30 days before it. The
-- update runs only when a flag changes: even an update of no row fires the statement triggers on
-- automation_actions. PL/pgSQL, as 0095's functions: a LANGUAGE sql function is planned again on every
-- call from a trigger.
CREATE FUNCTION wacrm_recheck_conversions(business INT, contact INT, changed_at TIMESTAMPTZ) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM automation_actions a
        WHERE a.business_id = business AND a.contact_id = contact
          AND a.created_at >= changed_at - interval '30 days' AND a.created_at <= changed_at
          AND a.converted IS DISTINCT FROM wacrm_action_converted(a.business_id, a.contact_id, a.created_at)
    ) THEN
        UPDATE automation_actions a SET converted = NOT a.converted
        WHERE a.business_id = business AND a.contact_id = contact
          AND a.created_at >= changed_at - interval '30 days' AND a.created_at <= changed_at
          AND a.converted IS DISTINCT FROM wacrm_action_converted(a.business_id, a.contact_id, a.created_at);
    END IF;
END;
$$;

-- Row triggers whose WHEN lets only moves to Paid through: every other stage change costs nothing.
CREATE FUNCTION wacrm_paid_move_conversions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.to_stage = 'Paid' THEN
        PERFORM wacrm_recheck_conversions(OLD.business_id, OLD.contact_id, OLD.changed_at);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.to_stage = 'Paid' THEN
        PERFORM wacrm_recheck_conversions(NEW.business_id, NEW.contact_id, NEW.changed_at);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER pipeline_history_conversions_insert AFTER INSERT ON pipeline_history FOR EACH ROW
    WHEN (NEW.to_stage = 'Paid') EXECUTE FUNCTION wacrm_paid_move_conversions();
CREATE TRIGGER pipeline_history_conversions_delete AFTER DELETE ON pipeline_history FOR EACH ROW
    WHEN (OLD.to_stage = 'Paid') EXECUTE FUNCTION wacrm_paid_move_conversions();
CREATE TRIGGER pipeline_history_conversions_update
    AFTER UPDATE OF business_id, contact_id, to_stage, changed_at ON pipeline_history FOR EACH ROW
    WHEN ((OLD.to_stage = 'Paid' OR NEW.to_stage = 'Paid')
          AND (OLD.business_id, OLD.contact_id, OLD.to_stage, OLD.changed_at)
              IS DISTINCT FROM (NEW.business_id, NEW.contact_id, NEW.to_stage, NEW.changed_at))
    EXECUTE FUNCTION wacrm_paid_move_conversions();

-- The recheck's lookup, and the converted done actions of a range (a few per hundred actions).
CREATE INDEX automation_actions_contact_time ON automation_actions (business_id, contact_id, created_at);
CREATE INDEX automation_actions_converted ON automation_actions (business_id, created_at) INCLUDE (rule_id, contact_id)
    WHERE converted AND status = 'done';

UPDATE automation_actions SET converted = true
WHERE wacrm_action_converted(business_id, contact_id, created_at);
