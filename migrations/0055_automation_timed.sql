-- Automation (issue 22), second part: the timed triggers (no_reply, unanswered, schedule) and
-- round-robin assignment. Additive only.

-- The `schedule` trigger's cron expression, read in the business's timezone.
ALTER TABLE automation_rules ADD COLUMN cron TEXT;

-- What ends an armed wait before it fires: the customer's message (a delayed follow-up, no_reply) or
-- one of ours (unanswered).
ALTER TABLE automation_pending
    ADD COLUMN ended_by TEXT NOT NULL DEFAULT 'message_received'
        CHECK (ended_by IN ('message_received', 'message_sent'));

-- One firing of a schedule rule per matching minute, however many runners tick and however late; its
-- id (negated) stands for the triggering event in automation_runs, since no stored event caused it.
CREATE TABLE automation_schedule_slots (
    id BIGSERIAL PRIMARY KEY,
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    rule_id INT NOT NULL,
    slot TIMESTAMPTZ NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('fired', 'expired')),
    contacts INT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (business_id, rule_id) REFERENCES automation_rules (business_id, id) ON DELETE CASCADE,
    UNIQUE (business_id, rule_id, slot)
);

-- Round robin: the agent a rule assigned last, so the next assignment goes to the one after.
CREATE TABLE automation_assign_cursor (
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    rule_id INT NOT NULL,
    user_id INT NOT NULL,
    PRIMARY KEY (business_id, rule_id),
    FOREIGN KEY (business_id, rule_id) REFERENCES automation_rules (business_id, id) ON DELETE CASCADE
);
