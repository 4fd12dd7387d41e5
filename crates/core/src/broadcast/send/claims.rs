//! A tick's rows: settling those an interrupted run left `sending`, claiming the next batch, and giving
//! back those claimed but never tried.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::super::CampaignId;
use crate::error::Result;
use crate::types::{BusinessId, ContactId};

/// A claimed recipient with what its send needs.
pub(super) struct Claimed {
    pub(super) id: i64,
    pub(super) contact: ContactId,
    pub(super) send_ref: Uuid,
    pub(super) attempts: i32,
    pub(super) name: Option<String>,
    pub(super) phone: Option<String>,
    pub(super) opted_out: bool,
}

/// Settles rows left `sending` since before `before` from the message their ref reserved (the policy
/// in the module's comment). Concurrent settlers are safe: a row another one changed no longer matches.
pub(super) async fn settle(pool: &PgPool, business: BusinessId, id: CampaignId, before: DateTime<Utc>) -> Result<u64> {
    let done = sqlx::query!(
        r#"UPDATE campaign_recipients r
           SET state = CASE WHEN m.id IS NULL THEN 'pending'::campaign_recipient_state
                            WHEN m.wamid IS NOT NULL OR m.status IN ('sent', 'delivered', 'read') THEN 'sent'
                            WHEN m.status = 'failed' AND m.error_code IS NOT NULL THEN 'failed'
                            ELSE 'pending' END,
               send_ref = CASE WHEN m.id IS NULL OR m.wamid IS NOT NULL OR m.status <> 'pending'
                               THEN r.send_ref ELSE gen_random_uuid() END,
               message_id = m.id, wamid = m.wamid, error_code = m.error_code,
               detail = coalesce(m.error_detail, m.error_title), updated_at = NOW()
           FROM campaign_recipients o
           LEFT JOIN messages m ON m.business_id = o.business_id AND m.client_ref = o.send_ref
           WHERE o.id = r.id AND r.business_id = $1 AND r.campaign_id = $2 AND r.state = 'sending'
             AND r.claimed_at <= $3"#,
        business.0,
        id.0,
        before
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Claims up to `batch` due recipients: marked `sending` and committed before any is sent.
pub(super) async fn claim(pool: &PgPool, business: BusinessId, id: CampaignId, batch: i64) -> Result<Vec<Claimed>> {
    let rows = sqlx::query!(
        r#"WITH due AS (
               SELECT id FROM campaign_recipients
               WHERE business_id = $1 AND campaign_id = $2 AND state = 'pending'
                 AND (next_attempt_at IS NULL OR next_attempt_at <= NOW())
               ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED
           ), claimed AS (
               -- By primary key from the claimed ids: a join here was planned as a loop over every row of
               -- the campaign (quadratic in its size) whenever the statistics predate the snapshot.
               UPDATE campaign_recipients r
               SET state = 'sending', claimed_at = NOW(), attempts = r.attempts + 1, updated_at = NOW()
               WHERE r.business_id = $1 AND r.id = ANY(ARRAY(SELECT id FROM due))
               RETURNING r.id, r.contact_id, r.send_ref, r.attempts
           )
           SELECT k.id, k.contact_id, k.send_ref, k.attempts, coalesce(c.name, c.profile_name) AS name, c.phone,
                  c.opted_out_at IS NOT NULL AS "opted_out!"
           FROM claimed k JOIN contacts c ON c.business_id = $1 AND c.id = k.contact_id"#,
        business.0,
        id.0,
        batch
    )
    .fetch_all(pool)
    .await?;
    let mut claimed: Vec<Claimed> = rows
        .into_iter()
        .map(|r| Claimed {
            id: r.id,
            contact: ContactId(r.contact_id),
            send_ref: r.send_ref,
            attempts: r.attempts,
            name: r.name,
            phone: r.phone,
            opted_out: r.opted_out,
        })
        .collect();
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

pub(super) async fn release(pool: &PgPool, business: BusinessId, rows: &[i64]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        r#"UPDATE campaign_recipients r
           SET state = CASE WHEN c.status = 'cancelled' THEN 'skipped'::campaign_recipient_state ELSE 'pending' END,
               detail = CASE WHEN c.status = 'cancelled' THEN 'campaign cancelled' END,
               attempts = r.attempts - 1, claimed_at = NULL, updated_at = NOW()
           FROM campaigns c
           WHERE r.business_id = $1 AND r.id = ANY($2) AND r.state = 'sending'
             AND c.business_id = r.business_id AND c.id = r.campaign_id"#,
        business.0,
        rows
    )
    .execute(pool)
    .await?;
    Ok(())
}
