-- Contacts are searched by the name shown (their own name, else the WhatsApp profile name of a
-- customer who wrote first), so the trigram index covers that expression; core::contacts queries
-- exactly this expression (keep the two in step). The old index on the own name only goes, and the
-- pending-list flush that bulk imports call points at the new one.
CREATE INDEX idx_contacts_search_shown_trgm ON contacts
    USING gin (business_id, lower(coalesce(name, profile_name, '') || ' ' || coalesce(phone, '')) gin_trgm_ops);
DROP INDEX idx_contacts_search_trgm;

CREATE OR REPLACE FUNCTION wacrm_contacts_search_flush() RETURNS bigint LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, public AS $$
    SELECT gin_clean_pending_list('public.idx_contacts_search_shown_trgm'::regclass);
$$;
