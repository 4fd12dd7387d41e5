-- Templates (issue 21): Meta's side of a message template, added to the seed's table. The seed's columns
-- keep their meaning, so the inbox's `templates::approved` reads them unchanged: `name`, `content` (the
-- body text) and `status` (Meta's status in lower case: draft, pending, approved, rejected, paused,
-- disabled, flagged, in_appeal, pending_deletion, deleted, archived, limit_exceeded, locked).
ALTER TABLE message_templates
    ADD COLUMN language TEXT NOT NULL DEFAULT 'en_US',
    ADD COLUMN category TEXT CHECK (category IN ('MARKETING', 'UTILITY', 'AUTHENTICATION')),
    ADD COLUMN parameter_format TEXT NOT NULL DEFAULT 'POSITIONAL'
        CHECK (parameter_format IN ('POSITIONAL', 'NAMED')),
    -- Meta's `components` array as submitted or as Meta lists it; NULL for rows from before this migration
    -- (their `content` is the body).
    ADD COLUMN components JSONB,
    -- The WABA the template lives in and Meta's id for it, once submitted or synced.
    ADD COLUMN waba_id TEXT,
    ADD COLUMN meta_id TEXT,
    ADD COLUMN rejection_reason TEXT,
    -- GREEN, YELLOW, RED or UNKNOWN (new templates start UNKNOWN).
    ADD COLUMN quality TEXT,
    -- An impending re-categorisation announced by Meta (template_category_update), and when it applies.
    ADD COLUMN pending_category TEXT,
    ADD COLUMN pending_category_at TIMESTAMPTZ,
    -- When Meta's latest applied status was reported: an older update (a replay, a late webhook) must not
    -- overwrite a newer one.
    ADD COLUMN status_at TIMESTAMPTZ,
    ADD COLUMN created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    -- Set when deleted: the row stays for the messages and campaigns that used it, and for Meta's 30-day
    -- lock on the name.
    ADD COLUMN deleted_at TIMESTAMPTZ;

-- One live template per name and language in a business (Meta's own rule within a WABA).
CREATE UNIQUE INDEX message_templates_business_name_language_key
    ON message_templates (business_id, name, language) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX message_templates_business_meta_id_key
    ON message_templates (business_id, meta_id) WHERE meta_id IS NOT NULL;
CREATE INDEX idx_message_templates_business ON message_templates (business_id, name);

-- What happened to a template: status, category and quality changes (webhooks, sync), submissions,
-- edits and deletes. Submissions count against Meta's 100 creations per WABA per hour, edits of an approved template
-- against its 1 per 24 hours and 10 per 30 days. A webhook applied twice (Meta's retries, a replay)
-- finds its row already there and changes nothing.
CREATE TABLE message_template_history (
    id BIGSERIAL PRIMARY KEY,
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    template_id INT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('status', 'category', 'quality', 'submit', 'edit', 'delete')),
    -- The status or event (status), the new category (category) or quality score (quality).
    value TEXT NOT NULL DEFAULT '',
    reason TEXT,
    detail JSONB,
    source TEXT NOT NULL CHECK (source IN ('webhook', 'sync', 'local')),
    waba_id TEXT,
    at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    FOREIGN KEY (business_id, template_id) REFERENCES message_templates (business_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX message_template_history_once
    ON message_template_history (business_id, template_id, kind, value, at);
CREATE INDEX idx_message_template_history_submits
    ON message_template_history (waba_id, at) WHERE kind = 'submit';
