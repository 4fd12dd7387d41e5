//! The raw webhook log (`webhook_events`) and its processing queue (`webhook_pending`): bodies are
//! committed before the ack, listed for operators, and marked with their outcomes.

use super::*;

/// Commits a POST body to the raw log (outcome `pending`, queued for processing) and returns its id.
/// Only after this returns may the daemon acknowledge the POST.
pub async fn store_raw(pool: &PgPool, body: &[u8]) -> Result<i64> {
    store_raw_many(pool, &[body]).await?.pop().ok_or(Error::Database(sqlx::Error::RowNotFound))
}

/// Commits several POST bodies to the raw log in one statement and one commit (the daemon groups the
/// POSTs that arrive together) and returns their ids, in no particular order. Only after this returns
/// may the daemon acknowledge any of them.
pub async fn store_raw_many(pool: &PgPool, bodies: &[&[u8]]) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar!(
        r#"WITH stored AS (
               INSERT INTO webhook_events (body) SELECT body FROM unnest($1::bytea[]) AS b(body) RETURNING id
           ), queued AS (
               INSERT INTO webhook_pending (event_id) SELECT id FROM stored
           )
           SELECT id AS "id!" FROM stored"#,
        bodies as &[&[u8]]
    )
    .fetch_all(pool)
    .await?)
}

/// A raw event as `wacrm webhook events` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RawEvent {
    pub id: i64,
    pub received_at: DateTime<Utc>,
    pub outcome: String,
    pub business_id: Option<BusinessId>,
    pub attempts: i32,
    pub processed_at: Option<DateTime<Utc>>,
    pub bytes: i32,
    pub error: Option<String>,
    pub summary: Option<Summary>,
}

/// The newest raw events first. The raw log is not tenant data (it is routed only when processed), so
/// this is an administrator's view across businesses.
pub async fn recent_events(pool: &PgPool, limit: i64) -> Result<Vec<RawEvent>> {
    let rows = sqlx::query!(
        r#"SELECT id, received_at, outcome, business_id AS "business_id: BusinessId", attempts, processed_at,
                  length(body) AS "bytes!", error, summary AS "summary: sqlx::types::Json<Summary>"
           FROM webhook_events ORDER BY id DESC LIMIT $1"#,
        crate::listing::limit(limit, crate::types::MAX_LISTED_ROWS)?
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| RawEvent {
            id: row.id,
            received_at: row.received_at,
            outcome: row.outcome,
            business_id: row.business_id,
            attempts: row.attempts,
            processed_at: row.processed_at,
            bytes: row.bytes,
            error: row.error,
            summary: row.summary.map(|summary| summary.0),
        })
        .collect())
}

/// What the raw log holds after event `after`: for measuring a run of the daemon (how many messages it
/// stored, from the first receipt to the last processing) without reading its tables directly.
#[derive(Debug, Clone, Serialize)]
pub struct LogProgress {
    /// The newest event id (the `after` of the next measurement).
    pub last_event_id: i64,
    pub events: i64,
    pub messages_stored: i64,
    pub duplicates: i64,
    pub first_received: Option<DateTime<Utc>>,
    pub last_processed: Option<DateTime<Utc>>,
}

pub async fn progress_since(pool: &PgPool, after: i64) -> Result<LogProgress> {
    Ok(sqlx::query_as!(
        LogProgress,
        r#"SELECT COALESCE(max(id), $1) AS "last_event_id!", count(*) AS "events!",
                  COALESCE(sum((summary->>'messages_stored')::bigint), 0)::bigint AS "messages_stored!",
                  COALESCE(sum((summary->>'duplicates')::bigint), 0)::bigint AS "duplicates!",
                  min(received_at) AS first_received, max(processed_at) AS last_processed
           FROM webhook_events WHERE id > $1"#,
        after
    )
    .fetch_one(pool)
    .await?)
}

/// How many events wait to be processed (also the daemon's health probe: it needs the database).
pub async fn pending_count(pool: &PgPool) -> Result<i64> {
    Ok(sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM webhook_pending"#).fetch_one(pool).await?)
}

/// Marks a batch's events with their outcomes, in one statement, and queues those left pending (an
/// outage: to retry) again; their claim took them off the queue.
pub(super) async fn record_outcomes(conn: &mut PgConnection, done: &[ProcessedEvent]) -> Result<()> {
    let ids: Vec<i64> = done.iter().map(|e| e.id).collect();
    let outcomes: Vec<&str> = done.iter().map(|e| e.outcome.as_str()).collect();
    let businesses: Vec<Option<i32>> = done.iter().map(|e| e.business_id.map(|b| b.0)).collect();
    let errors: Vec<Option<&str>> = done.iter().map(|e| e.error.as_deref()).collect();
    let summaries: Vec<Value> = done.iter().map(|e| e.summary.stored()).collect();
    sqlx::query!(
        r#"WITH marked AS (
               UPDATE webhook_events w
               SET outcome = u.outcome, business_id = u.business_id, attempts = w.attempts + 1, error = u.error,
                   summary = u.summary,
                   processed_at = CASE WHEN u.outcome = 'pending' THEN w.processed_at ELSE NOW() END
               FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::jsonb[])
                    AS u(id, outcome, business_id, error, summary)
               WHERE w.id = u.id
               RETURNING w.id, w.outcome
           )
           INSERT INTO webhook_pending (event_id) SELECT id FROM marked WHERE outcome = 'pending'
           ON CONFLICT DO NOTHING"#,
        &ids,
        &outcomes as &[&str],
        &businesses as &[Option<i32>],
        &errors as &[Option<&str>],
        &summaries
    )
    .execute(conn)
    .await?;
    Ok(())
}
