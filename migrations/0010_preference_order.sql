-- user_preferences webhooks (marketing stop/resume) arrive out of order and are replayed; the time of the
-- newest one applied lets an older stop or resume never overwrite a newer choice.
ALTER TABLE contacts ADD COLUMN marketing_preference_at TIMESTAMPTZ;
