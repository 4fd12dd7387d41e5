-- The raw events still to process, kept apart from the log. Marking an event processed used to take it
-- out of a partial index on the log (`outcome = 'pending'`), so every mark wrote a new ~500-byte version
-- of the row and new entries in all its indexes. Now the mark updates no indexed column, so it stays on
-- its page (a HOT update: no index entries, a few bytes of WAL), and the queue row is simply deleted.
-- The log keeps room on every page for its rows' one update each.
CREATE TABLE webhook_pending (
    event_id BIGINT PRIMARY KEY
);
INSERT INTO webhook_pending (event_id) SELECT id FROM webhook_events WHERE outcome = 'pending';
DROP INDEX idx_webhook_events_pending;
ALTER TABLE webhook_events SET (fillfactor = 50);
