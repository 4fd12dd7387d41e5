-- Automation counts (issue 23 performance): the one-screen summary counted every automation action of
-- the range (5.9 ms on the large tenant over 95 days) and every run (3.3 ms), and the automation
-- report did the same per rule. Now a rollup per 15-minute bucket of the row's created_at and rule,
-- kept exact in the writing transaction as the lead counts are (0036, 0088): delta rows, never
-- updated in place; a figure is the SUM of its rows, `analytics compact` folds them, `analytics
-- verify` recomputes them from the runs and actions. The figures are the report's:
-- * runs: runs that matched; held_back: runs a guard held back (not matched);
-- * sent: send actions done; not_sent: send actions failed or skipped;
-- * moves: stage moves done.
-- Distinct contacts per rule are not additive through time: the report still reads them from the
-- range's done actions (0091's covering index).
CREATE TABLE analytics_automation_counts (
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    bucket TIMESTAMPTZ NOT NULL,
    rule_id INT NOT NULL,
    runs BIGINT NOT NULL,
    held_back BIGINT NOT NULL,
    sent BIGINT NOT NULL,
    not_sent BIGINT NOT NULL,
    moves BIGINT NOT NULL
);
CREATE INDEX idx_analytics_automation_counts ON analytics_automation_counts (business_id, bucket)
    INCLUDE (rule_id, runs, held_back, sent, not_sent, moves);

-- A row's figures, in the table's column order: a run's {runs, held_back}, an action's {sent,
-- not_sent, moves}. One definition for the triggers, verify and the repair.
CREATE FUNCTION wacrm_automation_run_figures(matched BOOLEAN) RETURNS INT[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY[matched::int, (NOT matched)::int]
$$;
CREATE FUNCTION wacrm_automation_action_figures(kind TEXT, status TEXT) RETURNS INT[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY[(kind IN ('send_template', 'send_text') AND status = 'done')::int,
                 (kind IN ('send_template', 'send_text') AND status IN ('failed', 'skipped'))::int,
                 (kind = 'move_stage' AND status = 'done')::int]
$$;

-- What the rollup should hold, from the runs and actions themselves (verify, repair, the backfill).
CREATE VIEW analytics_automation_counts_recomputed AS
    SELECT business_id, bucket, rule_id, sum(runs)::bigint AS runs, sum(held_back)::bigint AS held_back,
           sum(sent)::bigint AS sent, sum(not_sent)::bigint AS not_sent, sum(moves)::bigint AS moves
    FROM (
        SELECT business_id, wacrm_bucket(created_at) AS bucket, rule_id, f[1] AS runs, f[2] AS held_back,
               0 AS sent, 0 AS not_sent, 0 AS moves
        FROM (SELECT *, wacrm_automation_run_figures(matched) AS f FROM automation_runs) r
        UNION ALL
        SELECT business_id, wacrm_bucket(created_at), rule_id, 0, 0, f[1], f[2], f[3]
        FROM (SELECT *, wacrm_automation_action_figures(kind, status) AS f FROM automation_actions) a
    ) rows
    GROUP BY 1, 2, 3
    HAVING sum(runs) <> 0 OR sum(held_back) <> 0 OR sum(sent) <> 0 OR sum(not_sent) <> 0 OR sum(moves) <> 0;

-- Inserts and deletes: statement triggers with transition tables (a bulk insert or a cascade is one
-- call). Deltas that sum to zero are not written. Rows deleted with their business add nothing (their
-- counts go by cascade, and a delta row for a business being deleted would fail its foreign key).
-- Updates: row triggers below, which can name their columns and skip the engine's own updates.
-- PL/pgSQL, so the statements' plans are kept between calls (see 0095).
CREATE FUNCTION wacrm_rollup_automation_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO analytics_automation_counts (business_id, bucket, rule_id, runs, held_back, sent, not_sent, moves)
        SELECT business_id, wacrm_bucket(created_at), rule_id, sum(f[1]), sum(f[2]), 0, 0, 0
        FROM (SELECT business_id, created_at, rule_id, wacrm_automation_run_figures(matched) AS f FROM new_rows) n
        GROUP BY 1, 2, 3;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO analytics_automation_counts (business_id, bucket, rule_id, runs, held_back, sent, not_sent, moves)
        SELECT business_id, wacrm_bucket(created_at), rule_id, -sum(f[1]), -sum(f[2]), 0, 0, 0
        FROM (SELECT business_id, created_at, rule_id, wacrm_automation_run_figures(matched) AS f FROM old_rows) o
        WHERE EXISTS (SELECT 1 FROM businesses b WHERE b.id = o.business_id)
        GROUP BY 1, 2, 3;
    END IF;
    RETURN NULL;
END;
$$;

-- Actions with no figure (pending, sending, other kinds) add nothing; a status update adds the one
-- delta of the figures it moved.
CREATE FUNCTION wacrm_rollup_automation_actions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO analytics_automation_counts (business_id, bucket, rule_id, runs, held_back, sent, not_sent, moves)
        SELECT business_id, wacrm_bucket(created_at), rule_id, 0, 0, sum(f[1]), sum(f[2]), sum(f[3])
        FROM (SELECT business_id, created_at, rule_id, wacrm_automation_action_figures(kind, status) AS f
              FROM new_rows) n
        WHERE f <> '{0,0,0}'
        GROUP BY 1, 2, 3;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO analytics_automation_counts (business_id, bucket, rule_id, runs, held_back, sent, not_sent, moves)
        SELECT business_id, wacrm_bucket(created_at), rule_id, 0, 0, -sum(f[1]), -sum(f[2]), -sum(f[3])
        FROM (SELECT business_id, created_at, rule_id, wacrm_automation_action_figures(kind, status) AS f
              FROM old_rows) o
        WHERE f <> '{0,0,0}' AND EXISTS (SELECT 1 FROM businesses b WHERE b.id = o.business_id)
        GROUP BY 1, 2, 3;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER automation_runs_counts_insert AFTER INSERT ON automation_runs REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wacrm_rollup_automation_runs();
CREATE TRIGGER automation_runs_counts_delete AFTER DELETE ON automation_runs REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wacrm_rollup_automation_runs();
CREATE TRIGGER automation_actions_counts_insert AFTER INSERT ON automation_actions REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wacrm_rollup_automation_actions();
CREATE TRIGGER automation_actions_counts_delete AFTER DELETE ON automation_actions REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION wacrm_rollup_automation_actions();

-- Updates: row triggers whose WHEN lets through only rows whose bucket, rule or figures change. The
-- engine updates each run after it (its latency) and each action when it claims it (pending to
-- sending): with statement triggers every one of those paid for transition tables on the automation
-- hot path, where event-to-reply latency is measured.
CREATE FUNCTION wacrm_rollup_automation_run_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_automation_counts (business_id, bucket, rule_id, runs, held_back, sent, not_sent, moves)
    SELECT k.business_id, wacrm_bucket(k.created_at), k.rule_id, k.sign * k.f[1], k.sign * k.f[2], 0, 0, 0
    FROM (VALUES (OLD.business_id, OLD.created_at, OLD.rule_id, -1, wacrm_automation_run_figures(OLD.matched)),
                 (NEW.business_id, NEW.created_at, NEW.rule_id, 1, wacrm_automation_run_figures(NEW.matched)))
         AS k (business_id, created_at, rule_id, sign, f)
    WHERE k.f <> '{0,0}';
    RETURN NULL;
END;
$$;
CREATE TRIGGER automation_runs_counts_update AFTER UPDATE OF business_id, created_at, rule_id, matched
    ON automation_runs FOR EACH ROW
    WHEN ((OLD.business_id, wacrm_bucket(OLD.created_at), OLD.rule_id, OLD.matched)
          IS DISTINCT FROM (NEW.business_id, wacrm_bucket(NEW.created_at), NEW.rule_id, NEW.matched))
    EXECUTE FUNCTION wacrm_rollup_automation_run_changed();

CREATE FUNCTION wacrm_rollup_automation_action_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_automation_counts (business_id, bucket, rule_id, runs, held_back, sent, not_sent, moves)
    SELECT k.business_id, wacrm_bucket(k.created_at), k.rule_id, 0, 0, k.sign * k.f[1], k.sign * k.f[2], k.sign * k.f[3]
    FROM (VALUES (OLD.business_id, OLD.created_at, OLD.rule_id, -1, wacrm_automation_action_figures(OLD.kind, OLD.status)),
                 (NEW.business_id, NEW.created_at, NEW.rule_id, 1, wacrm_automation_action_figures(NEW.kind, NEW.status)))
         AS k (business_id, created_at, rule_id, sign, f)
    WHERE k.f <> '{0,0,0}';
    RETURN NULL;
END;
$$;
CREATE TRIGGER automation_actions_counts_update AFTER UPDATE OF business_id, created_at, rule_id, kind, status
    ON automation_actions FOR EACH ROW
    WHEN ((OLD.business_id, wacrm_bucket(OLD.created_at), OLD.rule_id, wacrm_automation_action_figures(OLD.kind, OLD.status))
          IS DISTINCT FROM (NEW.business_id, wacrm_bucket(NEW.created_at), NEW.rule_id,
                            wacrm_automation_action_figures(NEW.kind, NEW.status)))
    EXECUTE FUNCTION wacrm_rollup_automation_action_changed();

INSERT INTO analytics_automation_counts (business_id, bucket, rule_id, runs, held_back, sent, not_sent, moves)
SELECT business_id, bucket, rule_id, runs, held_back, sent, not_sent, moves FROM analytics_automation_counts_recomputed;
