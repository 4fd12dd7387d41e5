-- Conversations waiting for an answer now (the messages report's `unanswered_now`): counted by a scan
-- of every contact (50,000 on the large tenant, ~5.5 ms warm, whatever the range). This partial index
-- holds only the contacts whose latest message is their own. Ingest already rewrites a contact's index
-- entries on each message (last_message_at is indexed, so those updates are never HOT); this adds one
-- small index entry when an inbound message leaves its contact waiting, none for replies.
CREATE INDEX idx_contacts_unanswered ON contacts (business_id)
    WHERE last_inbound_at IS NOT NULL AND last_inbound_at >= last_message_at;
