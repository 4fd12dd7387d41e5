-- The seed schema (shared/seed/crm-design.md, "FINAL REFACTORED SAAS SCHEMA"), verbatim:
-- 4 enums, 14 tables, 7 indexes. Never edit this file; later migrations only add.

CREATE TYPE pipeline_stage AS ENUM  
('New','Engaged','Interested','Paid','Lost');

CREATE TYPE message_direction AS ENUM  
('in','out');

CREATE TYPE message_status AS ENUM  
('sent','delivered','failed','read');

CREATE TYPE subscription_status AS ENUM  
('active','expired','cancelled');

CREATE TABLE businesses (  
id SERIAL PRIMARY KEY,  
business_name TEXT NOT NULL,  
email TEXT UNIQUE NOT NULL,  
created_at TIMESTAMPTZ DEFAULT NOW(),  
status TEXT DEFAULT 'active'  
);

CREATE TABLE users (  
id SERIAL PRIMARY KEY,  
business_id INT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,  
name TEXT NOT NULL,  
email TEXT NOT NULL,  
password_hash TEXT NOT NULL,

role TEXT DEFAULT 'owner',
created_at TIMESTAMPTZ DEFAULT NOW(),
UNIQUE(business_id, email)
);

CREATE TABLE whatsapp_accounts (
id SERIAL PRIMARY KEY,
business_id INT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
phone_number TEXT UNIQUE NOT NULL,
api_token TEXT,
status TEXT DEFAULT 'active',
connected_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE TABLE contacts (
id SERIAL PRIMARY KEY,
business_id INT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
phone TEXT NOT NULL,
name TEXT,
stage pipeline_stage DEFAULT 'New',
created_at TIMESTAMPTZ DEFAULT NOW(),
last_active TIMESTAMPTZ,
UNIQUE(business_id, phone)
);

CREATE TABLE messages (
id SERIAL PRIMARY KEY,
business_id INT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
whatsapp_account_id INT REFERENCES whatsapp_accounts(id),
contact_id INT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
direction message_direction NOT NULL,
content TEXT NOT NULL,
status message_status DEFAULT 'sent',
sent_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE TABLE pipeline_history (
id SERIAL PRIMARY KEY,
business_id INT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
contact_id INT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
from_stage pipeline_stage,
to_stage pipeline_stage,
changed_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE TABLE contact_tags (

id SERIAL PRIMARY KEY,  
business_id INT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,  
contact_id INT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,  
tag TEXT NOT NULL  
);

CREATE TABLE message_templates (  
id SERIAL PRIMARY KEY,  
business_id INT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,  
name TEXT NOT NULL,  
content TEXT NOT NULL,  
status TEXT DEFAULT 'pending'  
);

CREATE TABLE campaigns (  
id SERIAL PRIMARY KEY,  
business_id INT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,  
template_id INT NOT NULL REFERENCES message_templates(id),  
name TEXT NOT NULL,  
scheduled_at TIMESTAMPTZ,  
status TEXT  
);

CREATE TABLE campaign_logs (  
id SERIAL PRIMARY KEY,  
campaign_id INT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,  
contact_id INT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,  
delivered BOOLEAN DEFAULT false,  
replied BOOLEAN DEFAULT false,  
sent_at TIMESTAMPTZ DEFAULT NOW()  
);

CREATE TABLE automation_rules (  
id SERIAL PRIMARY KEY,  
business_id INT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,  
trigger TEXT NOT NULL,  
condition JSONB NOT NULL,  
action JSONB NOT NULL,  
delay_minutes INT DEFAULT 0  
);

CREATE TABLE plans (  
id SERIAL PRIMARY KEY,  
name TEXT NOT NULL,  
conversation_limit INT NOT NULL,  
price NUMERIC NOT NULL  
);

CREATE TABLE subscriptions (
    id SERIAL PRIMARY KEY,
    business_id INT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    plan_id INT NOT NULL REFERENCES plans(id),
    renews_at TIMESTAMPTZ,
    status subscription_status DEFAULT 'active'
);

CREATE TABLE usage_logs (
    id SERIAL PRIMARY KEY,
    business_id INT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL,
    cost NUMERIC NOT NULL,
    timestamp TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX idx_contacts_business ON contacts(business_id);
CREATE INDEX idx_messages_business ON messages(business_id);
CREATE INDEX idx_messages_contact ON messages(contact_id);
CREATE INDEX idx_pipeline_business ON pipeline_history(business_id);
CREATE INDEX idx_campaigns_business ON campaigns(business_id);
CREATE INDEX idx_usage_business ON usage_logs(business_id);
CREATE INDEX idx_messages_time ON messages(sent_at DESC);

