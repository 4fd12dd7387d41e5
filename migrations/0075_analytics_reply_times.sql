-- Analytics (issue 23 performance): each outbound message's reply time stored once, so the campaign,
-- template and automation reports read it with the send instead of looking the reply up per send
-- (wacrm_reply_after, 1.2-1.8 s for 20,000 sends on the large tenant).
--
-- `replied_at` is the customer's first message within the reply window (the broadcast default,
-- 72 hours) after the send: wacrm_reply_after(business, contact, sent_at, 72 hours). It is kept as the
-- stored waits are (0037): nothing is written at ingest; a statement that adds, removes or moves a
-- contact's messages already marks the contact dirty, `analytics refresh` recomputes the dirty
-- contacts' reply times (inbox::replies::store_reply_times_on), and until then the reports look the
-- replies of dirty contacts up live. NULL on a clean contact's send means no reply in the window.
ALTER TABLE messages ADD COLUMN replied_at TIMESTAMPTZ;

-- Conversions after a reply or an automated action are moves to Paid: the reports join their sends
-- with this business's moves to Paid (a few per cent of the history) instead of one lookup per send.
CREATE INDEX idx_pipeline_paid ON pipeline_history (business_id, contact_id, changed_at) WHERE to_stage = 'Paid';

-- No contact's reply times are stored yet: every contact with an outbound message starts dirty.
INSERT INTO analytics_dirty_contacts (business_id, contact_id)
SELECT DISTINCT business_id, contact_id FROM messages WHERE direction = 'out' ON CONFLICT DO NOTHING;
