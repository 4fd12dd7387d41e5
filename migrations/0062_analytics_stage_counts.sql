-- Leads per stage and stuck leads now (issue 23 performance): contacts per stage, and of them those
-- created before the stuck cut-off, counted from this index alone (an index-only scan) instead of a
-- join over every contact row. Written only when a contact is created or changes stage.
CREATE INDEX idx_analytics_contacts_stage ON contacts (business_id, stage, created_at);
