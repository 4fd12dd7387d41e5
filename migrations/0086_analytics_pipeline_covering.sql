-- Pipeline report (issue 23 performance): the funnel and time in stage read a range's stage changes,
-- and the funnel the contacts created in it. Their indexes (0035) lacked the columns read, so each
-- change and each new contact was fetched from the table (815 and 1,429 pages this month on the large
-- tenant, most of the funnel's 47 ms). The same indexes with those columns included answer from the
-- index alone. Replaced, not added: writes keep the same number of indexes (no new ingest cost).
DROP INDEX idx_pipeline_changed;
CREATE INDEX idx_pipeline_changed ON pipeline_history (business_id, changed_at)
    INCLUDE (contact_id, to_stage, from_stage, previous_changed_at);
DROP INDEX idx_contacts_created;
CREATE INDEX idx_contacts_created ON contacts (business_id, created_at, source) INCLUDE (id);
