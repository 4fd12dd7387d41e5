-- Broadcast (issue 21), continued: parameters keyed as the templates' render path keys them, replies
-- attributed to the campaign that reached the contact, and follow-up campaigns.

-- Parameters were a list, one per positional placeholder; they are an object keyed by the render path's
-- keys now ("1", "first_name", "header.1", "button.0"), each {"field": …} or {"text": …} as before.
UPDATE campaigns
SET params = (SELECT coalesce(jsonb_object_agg(p.ord::text, p.value), '{}'::jsonb)
              FROM jsonb_array_elements(params) WITH ORDINALITY AS p(value, ord))
WHERE jsonb_typeof(params) = 'array';
ALTER TABLE campaigns
    ALTER COLUMN params SET DEFAULT '{}',
    -- A customer's message within this many hours of the campaign's message to them is its reply.
    ADD COLUMN reply_window_hours INT NOT NULL DEFAULT 72 CHECK (reply_window_hours BETWEEN 1 AND 720),
    -- The campaign this one follows up (`wacrm broadcast retarget`).
    ADD COLUMN retarget_of INT,
    ADD CONSTRAINT campaigns_retarget_same_business
        FOREIGN KEY (business_id, retarget_of) REFERENCES campaigns (business_id, id) ON DELETE SET NULL (retarget_of);

ALTER TABLE campaign_recipients
    -- When Meta accepted the recipient's message: the reply window starts here.
    ADD COLUMN sent_at TIMESTAMPTZ,
    -- The recipient's first message within the window, written by ingest in the message's transaction.
    ADD COLUMN replied_at TIMESTAMPTZ,
    ADD COLUMN reply_message_id INT;

-- Ingest looks up, for each batch's senders, the latest campaign message that reached them.
CREATE INDEX campaign_recipients_reached ON campaign_recipients (business_id, contact_id, sent_at DESC)
    WHERE state = 'sent';

-- The seed's campaign_logs keeps one row per recipient a campaign sent to (written with the recipient
-- row's change), so the seed's queries (`replied`, `delivered`) read what the recipient rows say.
CREATE INDEX campaign_logs_campaign_contact ON campaign_logs (campaign_id, contact_id);
