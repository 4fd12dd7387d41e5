//! Each outbound message's reply time (`messages.replied_at`, migration 0075): the customer's first
//! message within the reply window after the send, stored for analytics so that reports do not look
//! replies up send by send. Written only here, by analytics' refresh, never at ingest.

use sqlx::PgConnection;

use crate::error::Result;

/// Recomputes the reply time of every message of these contacts from their messages (one
/// pass over each contact's messages in time order) and stores those that changed; returns how many
/// changed. The same figure as SQL `wacrm_reply_after(business, contact, sent_at, window)`: the first
/// inbound message strictly after the send and at most `window_hours` after it.
pub async fn store_reply_times_on(
    conn: &mut PgConnection,
    business: i32,
    contacts: &[i32],
    window_hours: i32,
) -> Result<u64> {
    // Every message is computed (none for inbound or unsent ones), so one that stopped being an
    // outbound send loses its stale time. Newest first, so the earliest inbound message after each one is a running minimum over the rows
    // before it; the frame ends a microsecond (timestamptz's resolution) later than the send, which
    // leaves out messages sent at the same instant, as `sent_at > after` does.
    let stored = sqlx::query!(
        r#"WITH ordered AS (
               SELECT id, direction, sent_at,
                      min(sent_at) FILTER (WHERE direction = 'in') OVER (
                          PARTITION BY contact_id ORDER BY sent_at DESC
                          RANGE BETWEEN UNBOUNDED PRECEDING AND INTERVAL '1 microsecond' PRECEDING
                      ) AS next_inbound
               FROM messages
               WHERE business_id = $1 AND contact_id = ANY($2) AND sent_at IS NOT NULL
           ), computed AS (
               SELECT id, CASE WHEN direction = 'out' AND next_inbound <= sent_at + make_interval(hours => $3)
                               THEN next_inbound END AS replied_at
               FROM ordered
               UNION ALL
               SELECT id, NULL FROM messages WHERE business_id = $1 AND contact_id = ANY($2) AND sent_at IS NULL
           )
           UPDATE messages m SET replied_at = c.replied_at
           FROM computed c
           WHERE m.business_id = $1 AND m.id = c.id AND m.replied_at IS DISTINCT FROM c.replied_at"#,
        business,
        contacts,
        window_hours
    )
    .execute(&mut *conn)
    .await?;
    Ok(stored.rows_affected())
}
