-- Broadcast campaigns (seed Broadcast): the seed's `campaigns` extended with what a send needs (template
-- language and category, the parameter mapping, the audience filter) and its lifecycle, plus one row per
-- (campaign, contact) that is the truth of who was sent what. The job queue only wakes sends up.

-- The seed's `status TEXT` stays text (additive: other modules read it as text); the values a campaign
-- goes through are checked for new writes (NOT VALID leaves any older free-form value alone), and NULL
-- reads as a draft.
ALTER TABLE campaigns
    ALTER COLUMN status SET DEFAULT 'draft',
    ADD CONSTRAINT campaigns_status_known
        CHECK (status IN ('draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled')) NOT VALID,
    ADD COLUMN language TEXT NOT NULL DEFAULT 'en_US',
    ADD COLUMN category TEXT NOT NULL DEFAULT 'marketing'
        CHECK (category IN ('marketing', 'utility', 'authentication')),
    -- One entry per positional parameter: {"field": "name"} (from the contact) or {"text": "…"}.
    ADD COLUMN params JSONB NOT NULL DEFAULT '[]',
    -- contacts::ContactFilter's stored form: {"stage": …, "tags_any": […], "tags_all": […], "query": …}.
    ADD COLUMN audience JSONB NOT NULL DEFAULT '{}',
    ADD COLUMN created_by INT,
    ADD COLUMN created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    ADD COLUMN started_at TIMESTAMPTZ,
    ADD COLUMN finished_at TIMESTAMPTZ,
    -- Why the campaign paused itself (Meta's spam limit, a paused template, the billing limit).
    ADD COLUMN paused_reason TEXT,
    ADD CONSTRAINT campaigns_created_by_same_business
        FOREIGN KEY (business_id, created_by) REFERENCES users (business_id, id) ON DELETE SET NULL (created_by),
    ADD CONSTRAINT campaigns_template_same_business
        FOREIGN KEY (business_id, template_id) REFERENCES message_templates (business_id, id);

CREATE TYPE campaign_recipient_state AS ENUM ('pending', 'sending', 'sent', 'failed', 'skipped');

-- Snapshotted when the campaign starts. `send_ref` is the client_ref of the recipient's current attempt:
-- the send path refuses a second reservation with it, so a job run twice never sends twice. It changes
-- only when Meta certainly did not take the previous attempt (it answered with an error, or no status
-- webhook came within the reconcile window).
CREATE TABLE campaign_recipients (
    id BIGSERIAL PRIMARY KEY,
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    campaign_id INT NOT NULL,
    contact_id INT NOT NULL,
    state campaign_recipient_state NOT NULL DEFAULT 'pending',
    send_ref UUID NOT NULL DEFAULT gen_random_uuid(),
    attempts INT NOT NULL DEFAULT 0,
    claimed_at TIMESTAMPTZ,
    next_attempt_at TIMESTAMPTZ,
    message_id INT,
    wamid TEXT,
    error_code INT,
    detail TEXT,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT campaign_recipients_once UNIQUE (campaign_id, contact_id),
    CONSTRAINT campaign_recipients_send_ref_key UNIQUE (business_id, send_ref),
    FOREIGN KEY (business_id, campaign_id) REFERENCES campaigns (business_id, id) ON DELETE CASCADE,
    FOREIGN KEY (business_id, contact_id) REFERENCES contacts (business_id, id) ON DELETE CASCADE
);
CREATE INDEX campaign_recipients_due ON campaign_recipients (campaign_id, id) WHERE state = 'pending';
CREATE INDEX campaign_recipients_in_flight ON campaign_recipients (campaign_id, claimed_at) WHERE state = 'sending';

-- Campaign statistics read the campaign's messages (status webhooks keep their status current).
CREATE INDEX messages_campaign ON messages (business_id, campaign_id) WHERE campaign_id IS NOT NULL;
