//! In-app notifications: what the team should see without watching the event stream (an automation
//! rule's `notify` action, a usage alert). Written by whichever dashboard has something to say, through
//! [`notify_on`] in that dashboard's transaction; an event announces each, so open terminals show it live.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::auth::Scope;
use crate::error::{Error, Result};
use crate::events::{self, Cause, Event};
use crate::types::{BusinessId, ContactId, UserId};

/// What to notify about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// The one team member it is for; none: everyone in the business.
    pub user: Option<UserId>,
    /// Where it came from (`automation`, `usage_alert`, ...): lower case letters and `_`.
    pub source: &'static str,
    pub title: String,
    pub body: String,
    pub contact: Option<ContactId>,
    /// A notification that must be written once only (e.g. "80 % of this month's conversations") carries
    /// a key; a second one with the same key is dropped.
    pub dedupe_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub id: i64,
    pub user_id: Option<UserId>,
    pub source: String,
    pub title: String,
    pub body: String,
    pub contact_id: Option<ContactId>,
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The longest title kept; longer ones are cut (a notification is a line in a list).
const MAX_TITLE: usize = 200;
/// The longest body kept.
const MAX_BODY: usize = 4096;

/// Writes a notification in the caller's transaction and announces it; returns its id, or none when one
/// with the same dedupe key exists already.
pub async fn notify_on(
    conn: &mut PgConnection,
    business: BusinessId,
    notification: &NewNotification,
    cause: Cause,
) -> Result<Option<i64>> {
    let title = clip(notification.title.trim(), MAX_TITLE);
    if title.is_empty() {
        return Err(Error::invalid("a notification needs a title", "say in a few words what happened"));
    }
    let body = clip(&notification.body, MAX_BODY);
    let id = sqlx::query_scalar!(
        r#"INSERT INTO notifications (business_id, user_id, source, title, body, contact_id, dedupe_key)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT ON CONSTRAINT notifications_once DO NOTHING
           RETURNING id"#,
        business.0,
        notification.user.map(|u| u.0),
        notification.source,
        title,
        body,
        notification.contact.map(|c| c.0),
        notification.dedupe_key,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = id {
        let event = Event::Notified {
            notification_id: id,
            user_id: notification.user,
            source: notification.source.to_string(),
            title: title.to_string(),
        };
        events::emit(conn, business, notification.contact, event, cause).await?;
    }
    Ok(id)
}

/// The acting user's notifications (theirs and the business's), newest first.
pub async fn list(pool: &PgPool, scope: &Scope, unread_only: bool, limit: i64) -> Result<Vec<Notification>> {
    Ok(sqlx::query_as!(
        Notification,
        r#"SELECT id, user_id AS "user_id: UserId", source, title, body, contact_id AS "contact_id: ContactId",
                  read_at, created_at
           FROM notifications
           WHERE business_id = $1 AND (user_id IS NULL OR user_id = $2) AND (NOT $3 OR read_at IS NULL)
           ORDER BY id DESC
           LIMIT $4"#,
        scope.business().0,
        scope.user().map(|u| u.0),
        unread_only,
        limit.clamp(1, 1000)
    )
    .fetch_all(pool)
    .await?)
}

/// Marks one notification read (`Some(id)`) or all of the acting user's; returns how many changed.
/// An id of another business or another user is "not found".
pub async fn mark_read(pool: &PgPool, scope: &Scope, id: Option<i64>) -> Result<u64> {
    let visible = sqlx::query!(
        r#"UPDATE notifications SET read_at = now()
           WHERE business_id = $1 AND (user_id IS NULL OR user_id = $2) AND ($3::bigint IS NULL OR id = $3)
             AND read_at IS NULL"#,
        scope.business().0,
        scope.user().map(|u| u.0),
        id
    )
    .execute(pool)
    .await?
    .rows_affected();
    if visible == 0
        && let Some(id) = id
    {
        let exists = sqlx::query_scalar!(
            r#"SELECT 1 AS "one!" FROM notifications
               WHERE business_id = $1 AND (user_id IS NULL OR user_id = $2) AND id = $3"#,
            scope.business().0,
            scope.user().map(|u| u.0),
            id
        )
        .fetch_optional(pool)
        .await?;
        if exists.is_none() {
            return Err(Error::not_found(format!("notification {id}")));
        }
    }
    Ok(visible)
}

/// The first `max` characters of `text`.
fn clip(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}
