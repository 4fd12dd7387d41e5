-- Analytics (issue 23): response times without re-reading every message. Each customer wait (from the
-- first of their messages after the business's last human reply to the next human reply) is stored
-- once, computed from the contact's whole history by wacrm_waits(). A statement that adds, removes or
-- changes a contact's messages marks the contact dirty in its own transaction; reports compute dirty
-- contacts' waits from the raw messages and read everyone else's from analytics_waits, so figures are
-- exact whether or not the refresh (`wacrm analytics refresh`, cron or a job) has caught up.

-- A customer's waits, for the given contacts of a business. Broadcast sends (with a campaign) neither
-- answer nor interrupt a wait. `grp` numbers a contact's waits: a customer message belongs to the wait
-- after the n-th human reply, and the (n+1)-th reply ends it. A wait opens a conversation when nothing
-- came or went in the 24 hours before it. `replier` is the replying user, NULL for a reply without one.
CREATE FUNCTION wacrm_waits(business INT, contact_ids INT[])
RETURNS TABLE (contact_id INT, asked_at TIMESTAMPTZ, replied_at TIMESTAMPTZ, replier INT, opens BOOLEAN)
LANGUAGE sql STABLE AS $$
    WITH m AS (
        SELECT contact_id, id, sent_at, direction = 'in' AS inbound, sender_user_id
        FROM messages
        WHERE business_id = business AND contact_id = ANY (contact_ids) AND sent_at IS NOT NULL
          AND (direction = 'in' OR campaign_id IS NULL)
    ), g AS (
        SELECT m.*,
               count(*) FILTER (WHERE NOT inbound) OVER w - CASE WHEN inbound THEN 0 ELSE 1 END AS grp,
               lag(sent_at) OVER w AS previous_at
        FROM m WINDOW w AS (PARTITION BY contact_id ORDER BY sent_at, id ROWS UNBOUNDED PRECEDING)
    )
    SELECT contact_id,
           min(sent_at) FILTER (WHERE inbound),
           min(sent_at) FILTER (WHERE NOT inbound),
           (array_agg(sender_user_id) FILTER (WHERE NOT inbound))[1],
           coalesce(min(sent_at) FILTER (WHERE inbound)
                    - (array_agg(previous_at ORDER BY sent_at, id) FILTER (WHERE inbound))[1]
                    >= INTERVAL '24 hours', true)
    FROM g GROUP BY contact_id, grp
    HAVING bool_or(inbound)
$$;

CREATE TABLE analytics_waits (
    business_id INT NOT NULL,
    contact_id INT NOT NULL,
    asked_at TIMESTAMPTZ NOT NULL,
    replied_at TIMESTAMPTZ,
    replier INT,
    opens BOOLEAN NOT NULL,
    FOREIGN KEY (business_id, contact_id) REFERENCES contacts (business_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_analytics_waits_asked ON analytics_waits (business_id, asked_at)
    INCLUDE (replied_at, replier, opens, contact_id);
CREATE INDEX idx_analytics_waits_contact ON analytics_waits (business_id, contact_id);

-- No foreign key: a contact's deletion cascades to its messages after the contact row is gone, and
-- their trigger marks only contacts that still exist.
CREATE TABLE analytics_dirty_contacts (
    business_id INT NOT NULL,
    contact_id INT NOT NULL,
    PRIMARY KEY (business_id, contact_id)
);

-- The message rollup's triggers (0036) also mark the statement's contacts dirty.
CREATE OR REPLACE FUNCTION wacrm_rollup_messages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO analytics_message_counts (business_id, bucket, direction, messages)
        SELECT business_id, wacrm_bucket(sent_at), direction, count(*)
        FROM new_rows WHERE sent_at IS NOT NULL GROUP BY 1, 2, 3;
        INSERT INTO analytics_dirty_contacts (business_id, contact_id)
        SELECT DISTINCT business_id, contact_id FROM new_rows ORDER BY 1, 2 ON CONFLICT DO NOTHING;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO analytics_message_counts (business_id, bucket, direction, messages)
        SELECT business_id, wacrm_bucket(sent_at), direction, -count(*)
        FROM old_rows o WHERE sent_at IS NOT NULL AND EXISTS (SELECT 1 FROM businesses b WHERE b.id = o.business_id)
        GROUP BY 1, 2, 3;
        INSERT INTO analytics_dirty_contacts (business_id, contact_id)
        SELECT DISTINCT o.business_id, o.contact_id FROM old_rows o
        WHERE EXISTS (SELECT 1 FROM contacts c WHERE c.business_id = o.business_id AND c.id = o.contact_id)
        ORDER BY 1, 2 ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;

-- Changes that move a message in or out of a wait: its time, direction, contact, sender or campaign
-- (set to NULL when a user or campaign is deleted).
CREATE FUNCTION wacrm_waits_message_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_dirty_contacts (business_id, contact_id)
    SELECT k.business_id, k.contact_id
    FROM (VALUES (OLD.business_id, OLD.contact_id), (NEW.business_id, NEW.contact_id)) AS k (business_id, contact_id)
    WHERE EXISTS (SELECT 1 FROM contacts c WHERE c.business_id = k.business_id AND c.id = k.contact_id)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER messages_waits_update
    AFTER UPDATE OF business_id, contact_id, sent_at, direction, sender_user_id, campaign_id ON messages
    FOR EACH ROW
    WHEN (OLD.business_id IS DISTINCT FROM NEW.business_id OR OLD.contact_id IS DISTINCT FROM NEW.contact_id
          OR OLD.sent_at IS DISTINCT FROM NEW.sent_at OR OLD.direction IS DISTINCT FROM NEW.direction
          OR OLD.sender_user_id IS DISTINCT FROM NEW.sender_user_id OR OLD.campaign_id IS DISTINCT FROM NEW.campaign_id)
    EXECUTE FUNCTION wacrm_waits_message_changed();

-- Every contact with messages starts dirty: the first refresh fills the table.
INSERT INTO analytics_dirty_contacts (business_id, contact_id)
SELECT DISTINCT business_id, contact_id FROM messages ON CONFLICT DO NOTHING;
