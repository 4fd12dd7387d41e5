//! The transactional outbox. Domain events are written in the caller's transaction (so an event exists
//! exactly when its change does) and announced with `NOTIFY`, which PostgreSQL delivers only on commit.
//! The automation engine consumes the rows; open terminals and `wacrm events tail` follow the
//! notifications.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use futures::Stream;
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};

use crate::auth::Scope;
use crate::error::{Error, Result};
use crate::types::{BusinessId, ContactId};

/// The `LISTEN`/`NOTIFY` channel.
pub const CHANNEL: &str = "wacrm_events";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A customer's message was stored (seed Inbox FLOW 1 step 5).
    MessageReceived,
    /// The business sent a message (seed Inbox FLOW 4 step 4).
    MessageSent,
    /// An outbound message's delivery status moved.
    MessageStatus,
    /// A contact moved between pipeline stages.
    StageChanged,
    /// A contact was created, edited, tagged or opted out.
    ContactUpdated,
    /// A conversation was assigned, read, resolved or reopened.
    ConversationUpdated,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::MessageReceived => "message_received",
            EventKind::MessageSent => "message_sent",
            EventKind::MessageStatus => "message_status",
            EventKind::StageChanged => "stage_changed",
            EventKind::ContactUpdated => "contact_updated",
            EventKind::ConversationUpdated => "conversation_updated",
        }
    }
}

/// An event to write.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub business: BusinessId,
    pub kind: EventKind,
    pub contact: Option<ContactId>,
    pub payload: serde_json::Value,
}

/// Writes an event in the caller's transaction and queues its notification for commit.
pub async fn emit(
    conn: &mut PgConnection,
    business: BusinessId,
    kind: EventKind,
    contact: Option<ContactId>,
    payload: serde_json::Value,
) -> Result<i64> {
    let ids = emit_all(conn, &[NewEvent { business, kind, contact, payload }]).await?;
    ids.first().copied().ok_or_else(|| Error::unavailable("the event was not written", "retry"))
}

/// Writes events in the caller's transaction, in order, with one statement, and returns their ids. One
/// notification announces each business's events of the statement (a batch of inbound messages is
/// one, not one per message), in chunks that stay far below `NOTIFY`'s 8,000-byte payload limit.
pub async fn emit_all(conn: &mut PgConnection, events: &[NewEvent]) -> Result<Vec<i64>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let businesses: Vec<i32> = events.iter().map(|e| e.business.0).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let contacts: Vec<Option<i32>> = events.iter().map(|e| e.contact.map(|c| c.0)).collect();
    let payloads: Vec<&serde_json::Value> = events.iter().map(|e| &e.payload).collect();
    Ok(sqlx::query_scalar!(
        r#"WITH e AS (
               INSERT INTO events (business_id, kind, contact_id, payload)
               SELECT business_id, kind, contact_id, payload
               FROM unnest($1::int[], $2::text[], $3::int[], $4::jsonb[]) WITH ORDINALITY
                    AS i(business_id, kind, contact_id, payload, ord)
               ORDER BY ord
               RETURNING id, business_id
           ), chunked AS (
               SELECT id, business_id, (row_number() OVER (PARTITION BY business_id ORDER BY id) - 1) / $5 AS chunk
               FROM e
           ), announced AS (
               SELECT pg_notify('wacrm_events',
                                json_build_object('business_id', business_id, 'ids', json_agg(id ORDER BY id))::text)
               FROM chunked GROUP BY business_id, chunk
           )
           SELECT e.id AS "id!" FROM e, (SELECT count(*) FROM announced) AS notices ORDER BY e.id"#,
        &businesses,
        &kinds as &[&str],
        &contacts as &[Option<i32>],
        &payloads as &[&serde_json::Value],
        NOTICE_IDS
    )
    .fetch_all(conn)
    .await?)
}

/// Event ids one notification carries at most (ids of up to 19 digits: ~4 KB of payload).
const NOTICE_IDS: i64 = 200;

/// A stored event, as `wacrm events tail` prints it: one JSON object per line with a `type` field.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub business_id: BusinessId,
    pub contact_id: Option<ContactId>,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// What a notification on [`CHANNEL`] says: these events of this business were committed.
#[derive(Deserialize)]
struct Notice {
    business_id: BusinessId,
    ids: Vec<i64>,
}

/// Events of the scope's business from `after` on, oldest first (a catch-up read, e.g. after a
/// reconnect, and the tests' way of seeing the outbox).
pub async fn list_since(pool: &PgPool, scope: &Scope, after: i64, limit: i64) -> Result<Vec<Event>> {
    let rows = sqlx::query_as!(
        Event,
        r#"SELECT id, kind, business_id AS "business_id: BusinessId", contact_id AS "contact_id: ContactId",
                  payload, created_at
           FROM events WHERE business_id = $1 AND id > $2 ORDER BY id LIMIT $3"#,
        scope.business().0,
        after,
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

async fn load(pool: &PgPool, business: BusinessId, ids: &[i64]) -> Result<Vec<Event>> {
    Ok(sqlx::query_as!(
        Event,
        r#"SELECT id, kind, business_id AS "business_id: BusinessId", contact_id AS "contact_id: ContactId",
                  payload, created_at
           FROM events WHERE business_id = $1 AND id = ANY($2) ORDER BY id"#,
        business.0,
        ids
    )
    .fetch_all(pool)
    .await?)
}

/// Live events of the scope's business, pushed by PostgreSQL (no polling). The stream ends only on a
/// connection error, which it yields.
pub async fn subscribe(pool: &PgPool, scope: &Scope) -> Result<impl Stream<Item = Result<Event>> + use<>> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    let business = scope.business();
    let state = (listener, pool.clone(), VecDeque::new());
    Ok(futures::stream::unfold(state, move |(mut listener, pool, mut ready)| async move {
        loop {
            if let Some(event) = ready.pop_front() {
                return Some((Ok(event), (listener, pool, ready)));
            }
            let notification = match listener.recv().await {
                Ok(n) => n,
                Err(e) => return Some((Err(Error::from(e)), (listener, pool, ready))),
            };
            let Ok(notice) = serde_json::from_str::<Notice>(notification.payload()) else {
                continue;
            };
            if notice.business_id != business {
                continue;
            }
            match load(&pool, business, &notice.ids).await {
                Ok(events) => ready.extend(events),
                Err(e) => return Some((Err(e), (listener, pool, ready))),
            }
        }
    }))
}
