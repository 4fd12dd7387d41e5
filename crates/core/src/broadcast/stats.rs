//! Campaign statistics (seed Broadcast FLOW 8), read from the recipient rows and the campaign's messages.
//!
//! Queries, not an events consumer: status webhooks already keep `messages.status` current (never
//! backwards), and ingest marks replies on the recipient rows in the message's own transaction, so
//! counting them is always in step, survives replays, and needs no second copy of the same facts.

use serde::Serialize;
use sqlx::PgPool;

use super::{CampaignId, CampaignStatus};
use crate::auth::{Area, Scope};
use crate::error::{Error, Result};

/// Meta's per-user marketing limit: "limited by Meta", not a failure of ours.
const LIMITED_BY_META: i32 = 131049;

/// A campaign's delivery funnel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub recipients: i64,
    pub pending: i64,
    pub sending: i64,
    pub sent: i64,
    /// Refused by Meta for good (without the ones Meta's marketing limit held back).
    pub failed: i64,
    /// Refused by Meta's per-user marketing limit (131049).
    pub limited_by_meta: i64,
    pub skipped: i64,
    /// Delivered (read messages were delivered too).
    pub delivered: i64,
    pub read: i64,
    /// Recipients who wrote within the campaign's reply window.
    pub replied: i64,
    /// Recipients who replied and then moved stage.
    pub conversions: i64,
    /// Failures by Meta's code, most frequent first.
    pub failed_by_reason: Vec<FailureCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureCount {
    pub code: Option<i32>,
    pub detail: Option<String>,
    pub count: i64,
}

/// The campaign's counts; "not found" for another business's campaign.
pub async fn stats(pool: &PgPool, scope: &Scope, id: CampaignId) -> Result<Stats> {
    scope.require(Area::Broadcast)?;
    super::get(pool, scope, id).await?;
    let business = scope.business().0;
    let rows = sqlx::query!(
        r#"SELECT count(*) AS "recipients!",
                  count(*) FILTER (WHERE r.state = 'pending') AS "pending!",
                  count(*) FILTER (WHERE r.state = 'sending') AS "sending!",
                  count(*) FILTER (WHERE r.state = 'sent') AS "sent!",
                  count(*) FILTER (WHERE r.state = 'failed' AND r.error_code IS DISTINCT FROM $3) AS "failed!",
                  count(*) FILTER (WHERE r.state = 'failed' AND r.error_code = $3) AS "limited_by_meta!",
                  count(*) FILTER (WHERE r.state = 'skipped') AS "skipped!",
                  count(*) FILTER (WHERE m.status IN ('delivered', 'read')) AS "delivered!",
                  count(*) FILTER (WHERE m.status = 'read') AS "read!",
                  count(*) FILTER (WHERE r.replied_at IS NOT NULL) AS "replied!",
                  count(*) FILTER (WHERE r.replied_at IS NOT NULL AND EXISTS (
                      SELECT 1 FROM pipeline_history h
                      WHERE h.business_id = r.business_id AND h.contact_id = r.contact_id
                        AND h.changed_at >= r.replied_at)) AS "conversions!"
           FROM campaign_recipients r
           LEFT JOIN messages m ON m.business_id = r.business_id AND m.id = r.message_id
           WHERE r.business_id = $1 AND r.campaign_id = $2"#,
        business,
        id.0,
        LIMITED_BY_META
    )
    .fetch_one(pool)
    .await?;
    let failed_by_reason = sqlx::query_as!(
        FailureCount,
        r#"SELECT error_code AS code, min(detail) AS detail, count(*) AS "count!"
           FROM campaign_recipients WHERE business_id = $1 AND campaign_id = $2 AND state = 'failed'
           GROUP BY error_code ORDER BY count(*) DESC, error_code"#,
        business,
        id.0
    )
    .fetch_all(pool)
    .await?;
    Ok(Stats {
        recipients: rows.recipients,
        pending: rows.pending,
        sending: rows.sending,
        sent: rows.sent,
        failed: rows.failed,
        limited_by_meta: rows.limited_by_meta,
        skipped: rows.skipped,
        delivered: rows.delivered,
        read: rows.read,
        replied: rows.replied,
        conversions: rows.conversions,
        failed_by_reason,
    })
}

/// Where a campaign's sending stands: what a live progress display polls (one pass over the recipient
/// rows, no messages read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub id: CampaignId,
    pub name: String,
    pub status: CampaignStatus,
    pub paused_reason: Option<String>,
    pub recipients: i64,
    pub pending: i64,
    pub sending: i64,
    pub sent: i64,
    pub failed: i64,
    pub skipped: i64,
}

impl Progress {
    /// Recipients whose outcome is final (sent, failed or skipped).
    pub fn done(&self) -> i64 {
        self.sent + self.failed + self.skipped
    }

    /// The campaign will send nothing more (completed or cancelled).
    pub fn is_over(&self) -> bool {
        matches!(self.status, CampaignStatus::Completed | CampaignStatus::Cancelled)
    }
}

pub async fn progress(pool: &PgPool, scope: &Scope, id: CampaignId) -> Result<Progress> {
    scope.require(Area::Broadcast)?;
    sqlx::query_as!(
        Progress,
        r#"SELECT c.id AS "id: CampaignId", c.name, coalesce(c.status, 'draft') AS "status!: CampaignStatus",
                  c.paused_reason,
                  count(r.id) AS "recipients!",
                  count(r.id) FILTER (WHERE r.state = 'pending') AS "pending!",
                  count(r.id) FILTER (WHERE r.state = 'sending') AS "sending!",
                  count(r.id) FILTER (WHERE r.state = 'sent') AS "sent!",
                  count(r.id) FILTER (WHERE r.state = 'failed') AS "failed!",
                  count(r.id) FILTER (WHERE r.state = 'skipped') AS "skipped!"
           FROM campaigns c
           LEFT JOIN campaign_recipients r ON r.business_id = c.business_id AND r.campaign_id = c.id
           WHERE c.business_id = $1 AND c.id = $2
           GROUP BY c.id"#,
        scope.business().0,
        id.0
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::not_found(format!("campaign {id}")))
}
