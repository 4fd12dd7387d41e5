-- Inbox: conversation search and the outbound send path (issue 3). Additive only.

-- "Search by message text" in the conversation list is a substring match (`ILIKE '%…%'`) over a large
-- tenant's messages (1,000,000 in the benchmark tenant): a trigram GIN index answers it without
-- reading every message. business_id sits in the same index (btree_gin) so a search never walks other
-- tenants' matches.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE INDEX idx_messages_content_trgm ON messages USING gin (business_id, content gin_trgm_ops);

-- A send is reserved (status 'pending') with a fresh client_ref before the Graph API call, and the
-- client_ref travels to Meta as biz_opaque_callback_data. Unique per business so one reservation can
-- never be recorded twice, and indexed so a status webhook that races the recording step (or a pending
-- row left by a crash) can be matched by it.
CREATE UNIQUE INDEX messages_business_client_ref_key ON messages (business_id, client_ref)
    WHERE client_ref IS NOT NULL;

-- The send gate counts this month's distinct conversations on every send that opens a window, while it
-- holds the business's subscription row lock: an index-only scan keeps that lock short on a large tenant.
CREATE INDEX idx_usage_month ON usage_logs (business_id, timestamp) INCLUDE (conversation_id);
