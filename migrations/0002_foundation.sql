-- Additions the foundation and the inbox, contacts and terminal work share. 0001 stays verbatim; every
-- change here only adds (or, for contacts.phone, relaxes a constraint that Meta's BSUIDs made wrong).

-- Phones typed without a country code are parsed in the business's own region.
ALTER TABLE businesses ADD COLUMN default_region TEXT NOT NULL DEFAULT 'US';

-- Roles are a closed set that core checks permissions against; the seed leaves the column free text.
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('owner', 'admin', 'agent'));
-- Composite key so other tables can reference "a user of this same business" (tenant-safe foreign keys).
ALTER TABLE users ADD CONSTRAINT users_business_id_id_key UNIQUE (business_id, id);
-- `wacrm login` looks a user up by e-mail across businesses.
CREATE INDEX idx_users_email ON users (lower(email));

-- Cloud API routing: inbound traffic names the receiving number by phone_number_id (stable, unlike the
-- display number); template and account updates only carry the WhatsApp Business Account (WABA) id.
-- Base URL and version per account so a fake Graph API or a newer version can be configured.
ALTER TABLE whatsapp_accounts
    ADD COLUMN phone_number_id TEXT,
    ADD COLUMN waba_id TEXT,
    ADD COLUMN api_base_url TEXT,
    ADD COLUMN api_version TEXT;
CREATE UNIQUE INDEX whatsapp_accounts_phone_number_id_key ON whatsapp_accounts (phone_number_id);
CREATE INDEX idx_whatsapp_accounts_waba ON whatsapp_accounts (waba_id);
CREATE INDEX idx_whatsapp_accounts_business ON whatsapp_accounts (business_id);
ALTER TABLE whatsapp_accounts ADD CONSTRAINT whatsapp_accounts_business_id_id_key UNIQUE (business_id, id);

-- Plans are upserted by name, so setting up the default plans is idempotent.
ALTER TABLE plans ADD CONSTRAINT plans_name_key UNIQUE (name);
-- A business has at most one active subscription: the billing gate locks and reads exactly that row.
ALTER TABLE subscriptions ADD COLUMN started_at TIMESTAMPTZ NOT NULL DEFAULT NOW();
CREATE UNIQUE INDEX subscriptions_one_active ON subscriptions (business_id) WHERE status = 'active';

-- Contacts: WhatsApp identity. Users who adopt a username may arrive with a business-scoped user id
-- (BSUID) and no phone, so phone becomes optional while one of the two must exist.
ALTER TABLE contacts ALTER COLUMN phone DROP NOT NULL;
ALTER TABLE contacts
    ADD COLUMN wa_id TEXT,
    ADD COLUMN bsuid TEXT,
    ADD COLUMN parent_bsuid TEXT,
    ADD COLUMN username TEXT,
    -- The WhatsApp profile name and the time of the message that reported it: only a newer message
    -- may change it (webhooks arrive out of order). `name` stays the CRM's own name for the contact.
    ADD COLUMN profile_name TEXT,
    ADD COLUMN profile_name_at TIMESTAMPTZ,
    -- Marketing opt-out (user_preferences webhook, STOP keywords, manual): broadcasts skip these.
    ADD COLUMN opted_out_at TIMESTAMPTZ,
    ADD COLUMN opt_out_source TEXT,
    -- Inbox conversation state, one conversation per contact as in the seed's inbox. Kept on the row so
    -- the conversation list is an index scan instead of the seed's DISTINCT ON over all messages.
    ADD COLUMN assigned_user_id INT,
    ADD COLUMN unread_count INT NOT NULL DEFAULT 0,
    ADD COLUMN last_message_id INT,
    ADD COLUMN last_message_at TIMESTAMPTZ,
    ADD COLUMN last_inbound_at TIMESTAMPTZ,
    ADD COLUMN resolved_at TIMESTAMPTZ;
ALTER TABLE contacts ADD CONSTRAINT contacts_identity_check CHECK (phone IS NOT NULL OR bsuid IS NOT NULL);
ALTER TABLE contacts ADD CONSTRAINT contacts_business_id_id_key UNIQUE (business_id, id);
ALTER TABLE contacts ADD CONSTRAINT contacts_assigned_user_fkey
    FOREIGN KEY (business_id, assigned_user_id) REFERENCES users (business_id, id)
    ON DELETE SET NULL (assigned_user_id);
CREATE UNIQUE INDEX contacts_business_bsuid_key ON contacts (business_id, bsuid) WHERE bsuid IS NOT NULL;
CREATE INDEX idx_contacts_inbox ON contacts (business_id, last_message_at DESC, id DESC)
    WHERE last_message_at IS NOT NULL;

-- An outbound message is reserved before the Graph API call and only becomes 'sent' once Meta accepts it.
ALTER TYPE message_status ADD VALUE IF NOT EXISTS 'pending' BEFORE 'sent';

-- Messages: the WhatsApp side of each message. wamid is the idempotency key of inbound delivery and the
-- key every status webhook refers to.
ALTER TABLE messages
    ADD COLUMN wamid TEXT,
    ADD COLUMN kind TEXT NOT NULL DEFAULT 'text',
    ADD COLUMN media JSONB,
    ADD COLUMN payload JSONB,
    ADD COLUMN context_wamid TEXT,
    ADD COLUMN delivered_at TIMESTAMPTZ,
    ADD COLUMN read_at TIMESTAMPTZ,
    ADD COLUMN failed_at TIMESTAMPTZ,
    ADD COLUMN error_code INT,
    ADD COLUMN error_title TEXT,
    ADD COLUMN error_detail TEXT,
    ADD COLUMN sender_user_id INT REFERENCES users (id) ON DELETE SET NULL,
    ADD COLUMN client_ref UUID,
    ADD COLUMN campaign_id INT REFERENCES campaigns (id) ON DELETE SET NULL,
    ADD COLUMN template_id INT REFERENCES message_templates (id) ON DELETE SET NULL;
CREATE UNIQUE INDEX messages_business_wamid_key ON messages (business_id, wamid) WHERE wamid IS NOT NULL;
CREATE INDEX idx_messages_chat ON messages (business_id, contact_id, sent_at DESC, id DESC);

-- Conversation windows are per contact; the seed's check scanned the whole tenant's usage.
ALTER TABLE usage_logs ADD COLUMN contact_id INT REFERENCES contacts (id) ON DELETE SET NULL;
CREATE INDEX idx_usage_contact ON usage_logs (business_id, contact_id, timestamp DESC);

-- Meta's own per-message pricing (since 2025-07-01), recorded once per wamid from status webhooks.
CREATE TABLE message_pricing (
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    wamid TEXT NOT NULL,
    pricing_model TEXT,
    category TEXT,
    pricing_type TEXT,
    billable BOOLEAN,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (business_id, wamid)
);

-- The raw webhook log: a POST is committed here before it is acknowledged, and processed from here.
-- Not a tenant table: the tenant is only known after routing (business_id is filled in then).
CREATE TABLE webhook_events (
    id BIGSERIAL PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    body BYTEA NOT NULL,
    outcome TEXT NOT NULL DEFAULT 'pending'
        CHECK (outcome IN ('pending', 'processed', 'orphan', 'failed', 'ignored')),
    business_id INT REFERENCES businesses (id) ON DELETE SET NULL,
    processed_at TIMESTAMPTZ,
    attempts INT NOT NULL DEFAULT 0,
    error TEXT,
    summary JSONB
);
CREATE INDEX idx_webhook_events_pending ON webhook_events (id) WHERE outcome = 'pending';
CREATE INDEX idx_webhook_events_received ON webhook_events (received_at);

-- The transactional outbox: domain events written in the same transaction as the change they describe,
-- consumed later by the automation engine (nothing is lost while no consumer runs).
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    contact_id INT,
    payload JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    consumed_at TIMESTAMPTZ
);
CREATE INDEX idx_events_business ON events (business_id, id);
CREATE INDEX idx_events_unconsumed ON events (id) WHERE consumed_at IS NULL;
