//! Reading the outbox in a commit-safe order, for durable consumers and for resuming readers.
//!
//! Event ids come from a sequence, so a lower id can commit after a higher one: a reader that kept the
//! highest id it saw would skip it. Instead each event records its transaction's id (`events.tx`,
//! xid8), and readers take only events of transactions older than the oldest one still running
//! (`pg_snapshot_xmin`), in (tx, id) order. Every transaction below that horizon has finished, so no
//! event can appear later behind a reader's position. The cost: a transaction left open holds every
//! reader back until it ends (PostgreSQL's `idle_in_transaction_session_timeout` bounds that).

use sqlx::{PgConnection, PgPool};

use super::Recorded;
use crate::auth::Scope;
use crate::error::{Error, Result};
use crate::types::{BusinessId, ContactId};

/// A reader's place in the outbox: the last event it has taken, in (transaction, id) order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Position {
    /// The event's transaction id (xid8), as a number.
    pub tx: i64,
    pub event: i64,
}

/// A named, durable reader of every business's events. Its position is stored in `event_consumers`.
pub trait Consumer {
    /// A stable name: the consumer's row in `event_consumers`.
    fn name(&self) -> &str;

    /// A batch begins: what the consumer keeps for one transaction starts afresh.
    fn begin(&mut self) {}

    /// Handles one event inside the transaction that will record the consumer's new position. An error
    /// rolls the batch back: the events are handed over again on the next call (at least once).
    fn handle(
        &mut self,
        conn: &mut PgConnection,
        event: &Recorded,
    ) -> impl std::future::Future<Output = Result<()>> + Send;
}

/// Hands `consumer` the next events below the horizon (at most `batch`), in order, and records its new
/// position in the same transaction. Returns how many it handled; 0 means it is caught up. Consumers of
/// the same name in several processes take turns (the position row is locked).
pub async fn consume<C: Consumer>(pool: &PgPool, consumer: &mut C, batch: i64) -> Result<usize> {
    consume_with(pool, consumer, batch, Turn::Wait).await
}

/// [`consume`], unless a consumer of the same name is consuming now: then 0 at once, since that one
/// takes these events next. For a periodic pass beside a live reader, which would only queue behind it.
pub async fn consume_unless_busy<C: Consumer>(pool: &PgPool, consumer: &mut C, batch: i64) -> Result<usize> {
    consume_with(pool, consumer, batch, Turn::SkipIfBusy).await
}

#[derive(PartialEq)]
enum Turn {
    Wait,
    SkipIfBusy,
}

async fn consume_with<C: Consumer>(pool: &PgPool, consumer: &mut C, batch: i64, turn: Turn) -> Result<usize> {
    let mut tx = pool.begin().await?;
    // The horizon first, before this transaction writes (and so takes a transaction id of its own).
    let horizon = horizon(&mut tx).await?;
    sqlx::query!("INSERT INTO event_consumers (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", consumer.name())
        .execute(&mut *tx)
        .await?;
    let from = if turn == Turn::Wait {
        sqlx::query_as!(
            Position,
            r#"SELECT tx::text::bigint AS "tx!", event_id AS event FROM event_consumers WHERE name = $1 FOR UPDATE"#,
            consumer.name()
        )
        .fetch_one(&mut *tx)
        .await?
    } else {
        let free = sqlx::query_as!(
            Position,
            r#"SELECT tx::text::bigint AS "tx!", event_id AS event FROM event_consumers WHERE name = $1
               FOR UPDATE SKIP LOCKED"#,
            consumer.name()
        )
        .fetch_optional(&mut *tx)
        .await?;
        match free {
            Some(from) => from,
            None => return Ok(0),
        }
    };
    let events = sqlx::query_as!(
        Recorded,
        r#"SELECT id, kind, business_id AS "business_id: BusinessId", contact_id AS "contact_id: ContactId",
                  payload, created_at
           FROM events
           WHERE (tx, id) > ($1::text::xid8, $2) AND tx < $3::text::xid8
           ORDER BY tx, id LIMIT $4"#,
        from.tx.to_string(),
        from.event,
        horizon.to_string(),
        batch
    )
    .fetch_all(&mut *tx)
    .await?;
    let Some(last) = events.last() else {
        return Ok(0);
    };
    consumer.begin();
    for event in &events {
        consumer.handle(&mut tx, event).await?;
    }
    sqlx::query!(
        "UPDATE event_consumers SET tx = e.tx, event_id = e.id, updated_at = now()
         FROM events e WHERE name = $1 AND e.id = $2",
        consumer.name(),
        last.id
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(events.len())
}

/// The oldest transaction still running: everything below it has committed or aborted.
async fn horizon(conn: &mut PgConnection) -> Result<i64> {
    sqlx::query_scalar!(r#"SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS "xmin!""#)
        .fetch_one(conn)
        .await
        .map_err(Error::from)
}

/// A consumer's stored position (the start, before it has consumed anything).
pub async fn position(pool: &PgPool, name: &str) -> Result<Position> {
    Ok(sqlx::query_as!(
        Position,
        r#"SELECT tx::text::bigint AS "tx!", event_id AS event FROM event_consumers WHERE name = $1"#,
        name
    )
    .fetch_optional(pool)
    .await?
    .unwrap_or_default())
}

/// The position of "now": after every transaction that has finished, so a reader starting here sees
/// what commits from now on (and the few events of transactions still open, which are not yet seen).
pub async fn after_now(pool: &PgPool) -> Result<Position> {
    let mut conn = pool.acquire().await?;
    Ok(Position { tx: horizon(&mut conn).await? - 1, event: i64::MAX })
}

/// Where a reader that has seen event `id` of the scope's business resumes: `wacrm events tail --since
/// ID`. For an id that is not one of the business's events (0, or another business's), it resumes
/// before the oldest transaction of the business's events with a higher id: each of them is read, a
/// few older ones of the same transactions perhaps again (at least once, never a gap).
pub async fn position_of(pool: &PgPool, scope: &Scope, id: i64) -> Result<Position> {
    let found = sqlx::query!(
        r#"SELECT (SELECT tx::text::bigint FROM events WHERE business_id = $1 AND id = $2) AS exact,
                  (SELECT min(tx::text::bigint) FROM events WHERE business_id = $1 AND id > $2) AS oldest_after"#,
        scope.business().0,
        id
    )
    .fetch_one(pool)
    .await?;
    Ok(match (found.exact, found.oldest_after) {
        (Some(tx), _) => Position { tx, event: id },
        (None, Some(tx)) => Position { tx: tx - 1, event: i64::MAX },
        (None, None) => after_now(pool).await?,
    })
}

/// The scope's business's events after `from` and below the horizon, in order, with the position to
/// resume from: `wacrm events tail` reads this way, so a tail restarted from the last event it printed
/// misses nothing.
pub async fn after(pool: &PgPool, scope: &Scope, from: Position, limit: i64) -> Result<(Vec<Recorded>, Position)> {
    let mut conn = pool.acquire().await?;
    let horizon = horizon(&mut conn).await?;
    let rows = sqlx::query!(
        r#"SELECT id, kind, business_id AS "business_id: BusinessId", contact_id AS "contact_id: ContactId",
                  payload, created_at, tx::text::bigint AS "tx!"
           FROM events
           WHERE business_id = $1 AND (tx, id) > ($2::text::xid8, $3) AND tx < $4::text::xid8
           ORDER BY tx, id LIMIT $5"#,
        scope.business().0,
        from.tx.to_string(),
        from.event,
        horizon.to_string(),
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    let end = rows.last().map(|r| Position { tx: r.tx, event: r.id }).unwrap_or(from);
    let events = rows
        .into_iter()
        .map(|r| Recorded {
            id: r.id,
            kind: r.kind,
            business_id: r.business_id,
            contact_id: r.contact_id,
            payload: r.payload,
            created_at: r.created_at,
        })
        .collect();
    Ok((events, end))
}
