-- Automation engine (issue 22): named, ordered rules on the seed's automation_rules, and the engine's
-- own truth: one run per (rule, triggering event), one row per action claimed before anything is sent,
-- and the armed delays with their episode keys. Additive only: the seed's columns keep their meaning.

ALTER TABLE automation_rules
    ADD COLUMN name TEXT,
    ADD COLUMN enabled BOOLEAN NOT NULL DEFAULT true,
    -- Lower runs first; ties by id.
    ADD COLUMN priority INT NOT NULL DEFAULT 100,
    -- A match stops the rules after this one for the same event.
    ADD COLUMN stop_processing BOOLEAN NOT NULL DEFAULT false,
    -- A rule sends to one contact at most once per this many hours (0: no limit).
    ADD COLUMN contact_limit_hours INT NOT NULL DEFAULT 24 CHECK (contact_limit_hours >= 0),
    ADD COLUMN created_by INT REFERENCES users (id) ON DELETE SET NULL,
    ADD COLUMN created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT now();

UPDATE automation_rules SET name = 'rule ' || id WHERE name IS NULL;
UPDATE automation_rules SET delay_minutes = 0 WHERE delay_minutes IS NULL;
ALTER TABLE automation_rules
    ALTER COLUMN name SET NOT NULL,
    ALTER COLUMN delay_minutes SET NOT NULL,
    ADD CONSTRAINT automation_rules_delay_check CHECK (delay_minutes >= 0),
    ADD CONSTRAINT automation_rules_business_id_id_key UNIQUE (business_id, id),
    -- Rules as code: import is idempotent by name.
    ADD CONSTRAINT automation_rules_business_id_name_key UNIQUE (business_id, name);

CREATE INDEX automation_rules_enabled_idx ON automation_rules (business_id, trigger, priority, id) WHERE enabled;

-- One evaluation of a rule against one event (matched, or refused by a guard with the reason).
CREATE TABLE automation_runs (
    id BIGSERIAL PRIMARY KEY,
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    rule_id INT NOT NULL,
    event_id BIGINT NOT NULL,
    contact_id INT,
    matched BOOLEAN NOT NULL,
    reason TEXT,
    -- The cause the run's effects carry (the rule, one step deeper than its trigger's).
    cause JSONB NOT NULL,
    latency_us INT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (business_id, rule_id) REFERENCES automation_rules (business_id, id) ON DELETE CASCADE,
    -- At most once per (rule, triggering event), however often the event is handed over.
    UNIQUE (business_id, rule_id, event_id)
);
CREATE INDEX automation_runs_rule_idx ON automation_runs (business_id, rule_id, id DESC);
CREATE INDEX automation_runs_contact_idx ON automation_runs (business_id, contact_id, id DESC);

-- One action of a run, written in the transaction that claims the work and before any send: its
-- client_ref is the send's idempotency key, so a retried send is refused before Meta is called.
CREATE TABLE automation_actions (
    id BIGSERIAL PRIMARY KEY,
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    run_id BIGINT NOT NULL REFERENCES automation_runs (id) ON DELETE CASCADE,
    rule_id INT NOT NULL,
    contact_id INT,
    position SMALLINT NOT NULL,
    kind TEXT NOT NULL,
    spec JSONB NOT NULL,
    client_ref UUID NOT NULL DEFAULT gen_random_uuid(),
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'done', 'skipped', 'failed')),
    detail TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (business_id, run_id, position),
    UNIQUE (business_id, client_ref)
);
CREATE INDEX automation_actions_open_idx ON automation_actions (status, id) WHERE status IN ('pending', 'sending');
CREATE INDEX automation_actions_limit_idx ON automation_actions (business_id, rule_id, contact_id, created_at)
    WHERE kind IN ('send_template', 'send_text');

-- A delayed rule armed for a contact: at most one per episode; re-checked when due.
CREATE TABLE automation_pending (
    id BIGSERIAL PRIMARY KEY,
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    rule_id INT NOT NULL,
    contact_id INT NOT NULL,
    event_id BIGINT NOT NULL,
    episode_key TEXT NOT NULL,
    due_at TIMESTAMPTZ NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'fired', 'cancelled', 'expired')),
    reason TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (business_id, rule_id) REFERENCES automation_rules (business_id, id) ON DELETE CASCADE,
    UNIQUE (business_id, rule_id, contact_id, episode_key)
);
CREATE INDEX automation_pending_due_idx ON automation_pending (due_at) WHERE status = 'pending';
CREATE INDEX automation_pending_contact_idx ON automation_pending (business_id, contact_id) WHERE status = 'pending';
