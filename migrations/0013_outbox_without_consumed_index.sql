-- The outbox is read per business in id order from the reader's own cursor (`events::list_since` and
-- the live notifications, on idx_events_business), never by a consumed flag: this partial index only
-- took one more entry (and WAL record) for every event written, each inbound message's included.
DROP INDEX idx_events_unconsumed;
