-- Contacts and sales pipeline (issue 4). Additive only.

-- Substring search on name or phone must stay fast on a large tenant: trigram GIN indexes answer
-- `LIKE '%…%'`; btree_gin lets business_id sit in the same GIN index so one tenant's rows are found
-- without touching the others'.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;
-- One expression covers both columns so a search is one bitmap scan; core::contacts queries exactly
-- this expression (keep the two in step).
CREATE INDEX idx_contacts_search_trgm ON contacts
    USING gin (business_id, lower(coalesce(name, '') || ' ' || coalesce(phone, '')) gin_trgm_ops);
-- Board columns and the default list order: a stage's contacts by last activity.
CREATE INDEX idx_contacts_stage_active ON contacts (business_id, stage, last_active DESC NULLS LAST, id DESC);

-- Tags are unique per contact regardless of case ("VIP" and "vip" are one tag), and tag filters and
-- tag renames look tags up by their lower-case form.
CREATE UNIQUE INDEX contact_tags_contact_tag_key ON contact_tags (business_id, contact_id, lower(tag));
CREATE INDEX idx_contact_tags_tag ON contact_tags (business_id, lower(tag));

-- Who or what moved a contact (manual, bulk, keyword, import, automation) and the acting user, for
-- `wacrm pipeline history`; old rows (none in practice) read as manual.
ALTER TABLE pipeline_history
    ADD COLUMN source TEXT NOT NULL DEFAULT 'manual',
    ADD COLUMN user_id INT REFERENCES users (id) ON DELETE SET NULL;
-- A contact's history in order (time-in-stage metrics, the history command).
CREATE INDEX idx_pipeline_contact ON pipeline_history (business_id, contact_id, id);

-- Per-business pipeline settings. Transitions are allowed unless listed here; keyword stage updates
-- can be switched off without losing the configured keywords.
CREATE TABLE pipeline_settings (
    business_id INT PRIMARY KEY REFERENCES businesses (id) ON DELETE CASCADE,
    keyword_rules_enabled BOOLEAN NOT NULL DEFAULT true
);
CREATE TABLE pipeline_blocked_transitions (
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    from_stage pipeline_stage NOT NULL,
    to_stage pipeline_stage NOT NULL,
    PRIMARY KEY (business_id, from_stage, to_stage),
    CHECK (from_stage <> to_stage)
);
-- Inbound text containing `keyword` (case-insensitive, whole words) moves the contact to `stage`.
CREATE TABLE pipeline_keyword_rules (
    id SERIAL PRIMARY KEY,
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    keyword TEXT NOT NULL CHECK (btrim(keyword) <> ''),
    stage pipeline_stage NOT NULL
);
CREATE UNIQUE INDEX pipeline_keyword_rules_keyword_key ON pipeline_keyword_rules (business_id, lower(keyword));

-- The defaults every business starts with (seed Pipeline FLOW 2 and FLOW 5). Kept in one SQL function
-- so a new business (trigger below), existing businesses (backfill) and `wacrm pipeline rules reset`
-- get the same set.
CREATE FUNCTION wacrm_pipeline_default_rules(business INT) RETURNS void LANGUAGE sql AS $$
    INSERT INTO pipeline_settings (business_id) VALUES (business)
        ON CONFLICT (business_id) DO UPDATE SET keyword_rules_enabled = true;
    DELETE FROM pipeline_blocked_transitions WHERE business_id = business;
    INSERT INTO pipeline_blocked_transitions (business_id, from_stage, to_stage) VALUES (business, 'Lost', 'Paid');
    DELETE FROM pipeline_keyword_rules WHERE business_id = business;
    INSERT INTO pipeline_keyword_rules (business_id, keyword, stage)
        VALUES (business, 'interested', 'Interested'), (business, 'paid', 'Paid'), (business, 'not now', 'Lost');
$$;

-- A trigger rather than a call in business::create, so every way a business row appears (CLI, demo,
-- tests, SQL by hand) gets the defaults.
CREATE FUNCTION wacrm_pipeline_defaults_on_business() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM wacrm_pipeline_default_rules(NEW.id);
    RETURN NEW;
END;
$$;
CREATE TRIGGER businesses_pipeline_defaults AFTER INSERT ON businesses
    FOR EACH ROW EXECUTE FUNCTION wacrm_pipeline_defaults_on_business();

SELECT wacrm_pipeline_default_rules(id) FROM businesses;

-- Bulk import staging. Each import creates session-private temporary tables with these names
-- (`CREATE TEMP TABLE … (LIKE …)`), which shadow these for the rest of its session; the permanent
-- ones only give the compile-time checked queries a shape to check against. CHECK (false) (not
-- copied by LIKE) makes sure no row ever lands here if the shadowing were missing.
CREATE TABLE contact_import_rows (
    line BIGINT NOT NULL,
    phone TEXT NOT NULL,
    name TEXT,
    stage pipeline_stage,
    tags TEXT,
    CONSTRAINT contact_import_rows_template_only CHECK (false)
);
-- Phones seen earlier in the same file, for "duplicate of line N" across chunks.
CREATE TABLE contact_import_seen (
    phone TEXT PRIMARY KEY,
    line BIGINT NOT NULL,
    CONSTRAINT contact_import_seen_template_only CHECK (false)
);
