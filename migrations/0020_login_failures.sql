-- Failed logins per e-mail, so that guessing a password is limited: `wacrm login` is a new process each
-- time, so the count must live in the database. Looked up by e-mail before any tenant is known (like
-- the session-token lookup): a plain table, not a tenant one. Rows older than the window are deleted
-- when the same e-mail fails again or logs in.
CREATE TABLE login_failures (
    email TEXT NOT NULL,
    failed_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX login_failures_email_failed_at ON login_failures (email, failed_at);
