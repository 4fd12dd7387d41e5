//! Campaign statistics (seed Broadcast FLOW 8), read from the campaign's messages.
//!
//! Queries, not an events consumer: status webhooks already keep `messages.status` current (never
//! backwards) and inbound messages are rows of the same table, so counting the campaign's messages
//! (`messages.campaign_id`, indexed) is always in step, survives replays, and needs no second copy of
//! the same facts to keep consistent.

use serde::Serialize;
use sqlx::PgPool;

use super::CampaignId;
use crate::auth::{Area, Scope};
use crate::error::Result;

/// How long after its campaign message a customer's message counts as a reply (seed: attribution).
pub const REPLY_WINDOW_HOURS: i32 = 72;

/// A campaign's delivery funnel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub recipients: i64,
    pub pending: i64,
    pub sending: i64,
    pub sent: i64,
    pub failed: i64,
    pub skipped: i64,
    /// Delivered (read messages were delivered too).
    pub delivered: i64,
    pub read: i64,
    /// Recipients who wrote within [`REPLY_WINDOW_HOURS`] of their campaign message.
    pub replied: i64,
}

/// The campaign's counts; "not found" for another business's campaign.
pub async fn stats(pool: &PgPool, scope: &Scope, id: CampaignId) -> Result<Stats> {
    scope.require(Area::Broadcast)?;
    super::get(pool, scope, id).await?;
    let business = scope.business().0;
    let rows = sqlx::query!(
        r#"SELECT count(*) AS "recipients!",
                  count(*) FILTER (WHERE state = 'pending') AS "pending!",
                  count(*) FILTER (WHERE state = 'sending') AS "sending!",
                  count(*) FILTER (WHERE state = 'sent') AS "sent!",
                  count(*) FILTER (WHERE state = 'failed') AS "failed!",
                  count(*) FILTER (WHERE state = 'skipped') AS "skipped!"
           FROM campaign_recipients WHERE business_id = $1 AND campaign_id = $2"#,
        business,
        id.0
    )
    .fetch_one(pool)
    .await?;
    let messages = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE m.status IN ('delivered', 'read')) AS "delivered!",
                  count(*) FILTER (WHERE m.status = 'read') AS "read!",
                  count(DISTINCT m.contact_id) FILTER (WHERE EXISTS (
                      SELECT 1 FROM messages i
                      WHERE i.business_id = $1 AND i.contact_id = m.contact_id AND i.direction = 'in'
                        AND i.sent_at > m.sent_at AND i.sent_at <= m.sent_at + make_interval(hours => $3))) AS "replied!"
           FROM messages m
           WHERE m.business_id = $1 AND m.campaign_id = $2 AND m.direction = 'out' AND m.status <> 'failed'"#,
        business,
        id.0,
        REPLY_WINDOW_HOURS
    )
    .fetch_one(pool)
    .await?;
    Ok(Stats {
        recipients: rows.recipients,
        pending: rows.pending,
        sending: rows.sending,
        sent: rows.sent,
        failed: rows.failed,
        skipped: rows.skipped,
        delivered: messages.delivered,
        read: messages.read,
        replied: messages.replied,
    })
}
