-- Subscription states (issue 23), added to the seed's enum: `trialing` (a free trial, once per owner
-- e-mail and per WABA) and `past_due` (the period ended unpaid; sends go on for a grace period, then the
-- subscription expires). Alone in this migration: a new enum value cannot be used in the transaction
-- that adds it.
ALTER TYPE subscription_status ADD VALUE IF NOT EXISTS 'trialing' BEFORE 'active';
ALTER TYPE subscription_status ADD VALUE IF NOT EXISTS 'past_due' AFTER 'active';
