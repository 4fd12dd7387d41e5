-- Analytics of what campaigns, templates and automation rules lead to (issue 23, issue 21's template
-- analytics). One definition of a reply and of a conversion for all three reports, so their figures
-- agree: a reply to a send is the customer's first message within the reply window after it; a
-- conversion is a move to Paid within the conversion window after a moment (a reply, an automated action).
-- Both are lookups on indexes that exist (idx_messages_chat, idx_pipeline_contact), a few rows per send.

CREATE FUNCTION wacrm_reply_after(business INT, contact INT, after TIMESTAMPTZ, within INTERVAL)
RETURNS TIMESTAMPTZ LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT min(sent_at) FROM messages
    WHERE business_id = business AND contact_id = contact AND direction = 'in'
      AND sent_at > after AND sent_at <= after + within
$$;

-- `after` included: an automated action that itself moved the contact to Paid converted it.
CREATE FUNCTION wacrm_paid_after(business INT, contact INT, after TIMESTAMPTZ, within INTERVAL)
RETURNS BOOLEAN LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT EXISTS (
        SELECT 1 FROM pipeline_history
        WHERE business_id = business AND contact_id = contact AND to_stage = 'Paid'
          AND changed_at >= after AND changed_at <= after + within
    )
$$;

-- Template sends of a range (any sender: inbox, broadcast, automation), without reading the other
-- messages of the range; the template is named in the send's payload.
CREATE INDEX messages_template_sends ON messages (business_id, sent_at)
    WHERE kind = 'template' AND direction = 'out';
