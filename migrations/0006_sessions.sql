-- `wacrm login` sessions (issue 5). The CLI keeps a random token in the user's config dir; only its
-- SHA-256 is stored here, so a copied database row cannot be replayed as a login. Core looks the user and
-- role up again on every command, so removing a user or changing a role takes effect at once.
-- Looked up by token before the tenant is known, like the phone-number routing lookup: keep this a plain
-- (non-distributed) table if the tenant tables move onto Citus.
CREATE TABLE user_sessions (
    id BIGSERIAL PRIMARY KEY,
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    user_id INT NOT NULL,
    token_hash BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    last_used_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    -- Sliding expiry: each use pushes it forward, so an idle login lapses on its own.
    expires_at TIMESTAMPTZ NOT NULL,
    -- Deleting a user (or moving them out of the business) ends their sessions.
    CONSTRAINT user_sessions_user_fkey FOREIGN KEY (business_id, user_id)
        REFERENCES users (business_id, id) ON DELETE CASCADE
);
-- The only lookup path: the hash of the presented token.
CREATE UNIQUE INDEX user_sessions_token_hash_key ON user_sessions (token_hash);
-- `wacrm logout --all` and cleanup of a user's sessions.
CREATE INDEX idx_user_sessions_user ON user_sessions (business_id, user_id);
