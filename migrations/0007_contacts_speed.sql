-- Contacts list and search speed (issue 4 benchmark). Additive only.

-- The default contacts order (most recently active first, never-active last, newest id first), with
-- exactly the sort keys core::contacts orders by (keep the two in step). Without it every first page
-- sorts the whole tenant (~25 ms at 50,000 contacts). With it the planner can also read a search in
-- order and stop at the page size when the fragment is common ("ana", "4152"), instead of sorting
-- every trigram match; rare fragments still go through the trigram index.
CREATE INDEX idx_contacts_active ON contacts
    (business_id, coalesce(last_active, '0001-01-01Z'::timestamptz) DESC, id DESC);

-- Merges the search index's pending list (GIN's fastupdate buffer, up to 4 MB) into the index proper.
-- Every search scans that list in full, which doubles a typical search's time after a bulk import
-- until autovacuum gets round to it; core::contacts::import calls this once at the end instead.
-- Turning fastupdate off or shrinking the list would make every bulk insert 20-200% slower.
-- gin_clean_pending_list needs the index's owner, hence SECURITY DEFINER (with a fixed search_path)
-- so that an application role that does not own the schema can call it too.
CREATE FUNCTION wacrm_contacts_search_flush() RETURNS bigint LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, public AS $$
    SELECT gin_clean_pending_list('public.idx_contacts_search_trgm'::regclass);
$$;
