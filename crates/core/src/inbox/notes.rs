//! Private notes on a conversation: written by the team for the team, never sent to the customer,
//! shown in the chat among the messages.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::auth::{Area, Scope};
use crate::error::{Error, Result};
use crate::events::{ConversationAction, Event};
use crate::inbox::bounded_text;
use crate::inbox::conversations::{announce, ensure_contact, no_conversation};
use crate::types::{ContactId, UserId};

/// The longest note (as long as a WhatsApp text).
pub const MAX_NOTE: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    pub id: i32,
    pub contact_id: ContactId,
    pub author_user_id: Option<UserId>,
    pub author: Option<String>,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// Adds a note to the conversation, by the acting user (none when the business acts as a whole).
pub async fn add(pool: &PgPool, scope: &Scope, contact: ContactId, body: &str) -> Result<Note> {
    scope.require(Area::Inbox)?;
    let body = bounded_text(body, "note", MAX_NOTE, "write what the team should know")?;
    let business = scope.business();
    let mut tx = pool.begin().await?;
    let id = sqlx::query_scalar!(
        r#"INSERT INTO conversation_notes (business_id, contact_id, author_user_id, body)
           SELECT c.business_id, c.id, $3, $4 FROM contacts c
           WHERE c.business_id = $1 AND c.id = $2 AND c.last_message_at IS NOT NULL
           RETURNING id"#,
        business.0,
        contact.0,
        scope.user().map(|u| u.0),
        body
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| no_conversation(contact))?;
    let noted = Event::ConversationUpdated {
        action: ConversationAction::Noted,
        messages: None,
        assigned_user_id: None,
        note_id: Some(id.into()),
        until: None,
    };
    announce(&mut tx, scope, contact, noted).await?;
    tx.commit().await?;
    let mut notes = fetch(pool, scope, contact, Some(id), 1).await?;
    notes.pop().ok_or_else(|| Error::not_found(format!("note {id}")))
}

/// The conversation's newest `limit` notes, oldest first.
pub async fn list(pool: &PgPool, scope: &Scope, contact: ContactId, limit: i64) -> Result<Vec<Note>> {
    scope.require(Area::Inbox)?;
    ensure_contact(pool, scope, contact).await?;
    fetch(pool, scope, contact, None, limit.clamp(1, 500)).await
}

async fn fetch(pool: &PgPool, scope: &Scope, contact: ContactId, id: Option<i32>, limit: i64) -> Result<Vec<Note>> {
    let mut notes = sqlx::query_as!(
        Note,
        r#"SELECT n.id, n.contact_id AS "contact_id: ContactId", n.author_user_id AS "author_user_id: UserId",
                  u.name AS "author?", n.body, n.created_at
           FROM conversation_notes n
           LEFT JOIN users u ON u.business_id = n.business_id AND u.id = n.author_user_id
           WHERE n.business_id = $1 AND n.contact_id = $2 AND ($3::int IS NULL OR n.id = $3)
           ORDER BY n.created_at DESC, n.id DESC
           LIMIT $4"#,
        scope.business().0,
        contact.0,
        id,
        limit
    )
    .fetch_all(pool)
    .await?;
    notes.reverse();
    Ok(notes)
}
