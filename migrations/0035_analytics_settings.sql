-- Analytics (issue 23): the business's reporting timezone, where each lead came from, and the indexes the
-- reports range over. Additive only.

-- Reports count per local day, week and month of the business, in its IANA timezone (e.g.
-- Europe/Berlin): a fixed UTC offset would put an hour of every summer day into the wrong day. Core
-- validates the name (chrono-tz) before storing it.
ALTER TABLE businesses ADD COLUMN timezone TEXT NOT NULL DEFAULT 'UTC';

-- Where a lead came from: a customer's first message (inbound), a CSV import, or typed in (manual).
-- Writers may name it; otherwise a contact created with a WhatsApp identity came in by message and any
-- other is manual, so every way a contact row appears gets a source without each writer knowing.
ALTER TABLE contacts ADD COLUMN source TEXT;
UPDATE contacts SET source = CASE WHEN wa_id IS NOT NULL OR bsuid IS NOT NULL THEN 'inbound' ELSE 'manual' END;
ALTER TABLE contacts ALTER COLUMN source SET NOT NULL;
ALTER TABLE contacts ADD CONSTRAINT contacts_source_check CHECK (source IN ('inbound', 'import', 'manual'));

CREATE FUNCTION wacrm_contact_source() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.source IS NULL THEN
        NEW.source := CASE WHEN NEW.wa_id IS NOT NULL OR NEW.bsuid IS NOT NULL THEN 'inbound' ELSE 'manual' END;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER contacts_source BEFORE INSERT ON contacts
    FOR EACH ROW WHEN (NEW.source IS NULL) EXECUTE FUNCTION wacrm_contact_source();

-- New leads per period and by source: an index-only range scan over the period's new contacts.
CREATE INDEX idx_contacts_created ON contacts (business_id, created_at, source);
-- The funnel and time in stage read the stage changes of a date range.
CREATE INDEX idx_pipeline_changed ON pipeline_history (business_id, changed_at);
-- Time in stage finds each change's predecessor in time: the top entry of this index, not a sort.
CREATE INDEX idx_pipeline_contact_time ON pipeline_history (business_id, contact_id, changed_at, id);
-- Meta's billable messages per pricing category over a range (the usage report).
CREATE INDEX idx_message_pricing_recorded ON message_pricing (business_id, recorded_at);
