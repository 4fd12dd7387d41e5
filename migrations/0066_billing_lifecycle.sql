-- Plans managed by the installation's operator, and the subscription lifecycle (issue 23).

-- The plan a new business starts on (one at most), and the free trial it starts with, in days (0: none).
ALTER TABLE plans
    ADD COLUMN is_default BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN trial_days INT NOT NULL DEFAULT 0,
    ADD CONSTRAINT plans_trial_days CHECK (trial_days BETWEEN 0 AND 365),
    ADD CONSTRAINT plans_limit_positive CHECK (conversation_limit > 0) NOT VALID,
    ADD CONSTRAINT plans_price_not_negative CHECK (price >= 0) NOT VALID;
CREATE UNIQUE INDEX plans_one_default ON plans ((true)) WHERE is_default;
-- Plans are found by name whatever its case, so two names that differ only in case would be ambiguous.
CREATE UNIQUE INDEX plans_name_lower_key ON plans (lower(name));
UPDATE plans SET is_default = true WHERE name = 'Free';

-- A subscription is live while trialing, active or past_due; expired and cancelled ones stay as history,
-- and a business has at most one live subscription (the send gate locks exactly that row).
ALTER TABLE subscriptions
    -- `cancel` and `downgrade` take effect at the period end (renews_at).
    ADD COLUMN cancel_at_period_end BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN next_plan_id INT REFERENCES plans (id),
    -- Periods paid ahead (`billing mark-paid`): a renewal of a priced plan uses one, or the subscription
    -- falls past due.
    ADD COLUMN prepaid_periods INT NOT NULL DEFAULT 0 CHECK (prepaid_periods >= 0),
    ADD COLUMN ended_at TIMESTAMPTZ;
DROP INDEX subscriptions_one_active;
CREATE UNIQUE INDEX subscriptions_one_live ON subscriptions (business_id)
    WHERE status IN ('trialing', 'active', 'past_due');
DROP INDEX subscriptions_renewal_due;
CREATE INDEX subscriptions_renewal_due ON subscriptions (renews_at) WHERE status IN ('trialing', 'active', 'past_due');
-- The latest subscription of a business (the live one, or the one that ended last).
CREATE INDEX subscriptions_business_latest ON subscriptions (business_id, id DESC);

-- Free trials granted: one per owner e-mail and one per WABA, ever. A claim outlives its business
-- (business_id is set NULL), so deleting a business and signing up again does not grant a second one.
CREATE TABLE billing_trials (
    id SERIAL PRIMARY KEY,
    business_id INT REFERENCES businesses (id) ON DELETE SET NULL,
    owner_email TEXT NOT NULL,
    waba_id TEXT,
    started_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE UNIQUE INDEX billing_trials_email ON billing_trials (lower(owner_email));
CREATE UNIQUE INDEX billing_trials_waba ON billing_trials (waba_id) WHERE waba_id IS NOT NULL;
CREATE INDEX billing_trials_business ON billing_trials (business_id);
