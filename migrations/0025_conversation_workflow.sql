-- The conversation workflow beyond read / assigned / resolved: snoozing, private notes and canned replies.

-- Snoozed until a time. Nothing wakes a conversation up: it reads as snoozed only while snoozed_until is
-- ahead and the customer has not written since snoozed_at, so it is open again the moment either
-- changes, with no job to run and no write by ingest.
ALTER TABLE contacts
    ADD COLUMN snoozed_until TIMESTAMPTZ,
    ADD COLUMN snoozed_at TIMESTAMPTZ,
    ADD CONSTRAINT contacts_snooze_pair CHECK ((snoozed_until IS NULL) = (snoozed_at IS NULL));

-- A team member's private note on a conversation: never sent, shown in the chat among the messages.
CREATE TABLE conversation_notes (
    id SERIAL PRIMARY KEY,
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    contact_id INT NOT NULL,
    author_user_id INT,
    body TEXT NOT NULL CHECK (length(btrim(body)) BETWEEN 1 AND 4096),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT conversation_notes_contact_same_business
        FOREIGN KEY (business_id, contact_id) REFERENCES contacts (business_id, id) ON DELETE CASCADE,
    CONSTRAINT conversation_notes_author_same_business
        FOREIGN KEY (business_id, author_user_id) REFERENCES users (business_id, id) ON DELETE SET NULL (author_user_id)
);
-- A chat's notes in time order, next to its messages.
CREATE INDEX idx_conversation_notes_chat ON conversation_notes (business_id, contact_id, created_at, id);

-- Canned replies: `/shortcut` in the composer expands to the body, whose {{name}} fields are then filled in.
CREATE TABLE canned_replies (
    business_id INT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    shortcut TEXT NOT NULL CHECK (shortcut ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    body TEXT NOT NULL CHECK (length(btrim(body)) BETWEEN 1 AND 4096),
    created_by INT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (business_id, shortcut),
    CONSTRAINT canned_replies_author_same_business
        FOREIGN KEY (business_id, created_by) REFERENCES users (business_id, id) ON DELETE SET NULL (created_by)
);
