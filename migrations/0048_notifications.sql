-- In-app notifications: what the team should see without watching the event stream (an automation
-- rule's notify action, a usage alert at 80/90/100 % of the plan). The TUI shows them live (an event
-- announces each); `wacrm notifications` lists them.
CREATE TABLE notifications (
    id BIGSERIAL PRIMARY KEY,
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    -- The one team member it is for; NULL: everyone in the business.
    user_id INT,
    -- Where it came from: automation, usage_alert, ...
    source TEXT NOT NULL CHECK (source ~ '^[a-z][a-z_]{0,31}$'),
    title TEXT NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
    body TEXT NOT NULL DEFAULT '' CHECK (length(body) <= 4096),
    contact_id INT,
    -- "Once each per period" notifications (usage alerts) carry a key; a second one with the same key is
    -- not written.
    dedupe_key TEXT,
    read_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT notifications_user_same_business
        FOREIGN KEY (business_id, user_id) REFERENCES users (business_id, id) ON DELETE CASCADE,
    CONSTRAINT notifications_contact_same_business
        FOREIGN KEY (business_id, contact_id) REFERENCES contacts (business_id, id) ON DELETE SET NULL (contact_id),
    CONSTRAINT notifications_once UNIQUE (business_id, dedupe_key)
);
-- Newest first, per business.
CREATE INDEX idx_notifications_business ON notifications (business_id, id DESC);
