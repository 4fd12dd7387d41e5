-- Active leads (issue 23 performance): the leads report counts contacts active in the last 7 days. The
-- expression index idx_contacts_active (0007) cannot answer that count from the index alone, so it read
-- each active contact's row (~40 ms for 8,000 of the large tenant's 50,000); on the plain column the
-- count is an index-only scan (~1 ms). Contacts never active (NULL) are in no range, as before.
CREATE INDEX idx_analytics_contacts_last_active ON contacts (business_id, last_active);
