-- The platform for the dashboards that consume events and run delayed work.

-- Commit-safe reading of the outbox: each event records its transaction's id, and readers take only
-- events of transactions older than the oldest one still running (see core::events::consume). Rows
-- written before this migration get the migrating transaction's id: they read as one old transaction.
ALTER TABLE events ADD COLUMN tx xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX events_commit_order ON events (tx, id);

-- Durable consumers of the outbox (the automation engine, campaign replies, rollups): each one's last
-- event in (tx, id) order, updated in the transaction that handled the events. Not tenant data: a
-- consumer reads every business's events.
CREATE TABLE event_consumers (
    name TEXT PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_.:-]{0,62}$'),
    tx xid8 NOT NULL DEFAULT '0',
    event_id BIGINT NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- One row per billed subscription period. A renewal writes its period once, whatever the job queue
-- does (a job retried after a crash finds the row and does nothing).
CREATE TABLE subscription_periods (
    id BIGSERIAL PRIMARY KEY,
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    subscription_id INT NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    plan_id INT NOT NULL REFERENCES plans (id),
    starts_at TIMESTAMPTZ NOT NULL,
    ends_at TIMESTAMPTZ NOT NULL,
    price NUMERIC NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT subscription_periods_once UNIQUE (subscription_id, starts_at)
);
CREATE INDEX subscription_periods_business ON subscription_periods (business_id, starts_at);
-- The renewal sweep finds due subscriptions without scanning them all.
CREATE INDEX subscriptions_renewal_due ON subscriptions (renews_at) WHERE status = 'active';
