-- Tenant-safe references. 0002 gave users, contacts and accounts a (business_id, id) key; these foreign
-- keys make the database itself refuse a row of one business that points at another business's user,
-- campaign, template or contact, whatever the code above it does.

ALTER TABLE message_templates ADD CONSTRAINT message_templates_business_id_id_key UNIQUE (business_id, id);
ALTER TABLE campaigns ADD CONSTRAINT campaigns_business_id_id_key UNIQUE (business_id, id);

-- Who sent an outbound message, and the campaign and template it came from.
ALTER TABLE messages ADD CONSTRAINT messages_sender_same_business
    FOREIGN KEY (business_id, sender_user_id) REFERENCES users (business_id, id) ON DELETE SET NULL (sender_user_id);
ALTER TABLE messages ADD CONSTRAINT messages_campaign_same_business
    FOREIGN KEY (business_id, campaign_id) REFERENCES campaigns (business_id, id) ON DELETE SET NULL (campaign_id);
ALTER TABLE messages ADD CONSTRAINT messages_template_same_business
    FOREIGN KEY (business_id, template_id) REFERENCES message_templates (business_id, id)
    ON DELETE SET NULL (template_id);

-- The contact whose conversation window a usage row bills.
ALTER TABLE usage_logs ADD CONSTRAINT usage_logs_contact_same_business
    FOREIGN KEY (business_id, contact_id) REFERENCES contacts (business_id, id) ON DELETE SET NULL (contact_id);

-- The user who moved a contact between stages.
ALTER TABLE pipeline_history ADD CONSTRAINT pipeline_history_user_same_business
    FOREIGN KEY (business_id, user_id) REFERENCES users (business_id, id) ON DELETE SET NULL (user_id);

-- Template and account webhooks are routed by WABA id alone, so a WABA may belong to one business only
-- (several numbers of one business may share it). A plain routing table, not tenant data.
CREATE TABLE waba_owners (
    waba_id TEXT PRIMARY KEY,
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE
);
INSERT INTO waba_owners (waba_id, business_id)
SELECT DISTINCT ON (waba_id) waba_id, business_id FROM whatsapp_accounts WHERE waba_id IS NOT NULL ORDER BY waba_id, id;
