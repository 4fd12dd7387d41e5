//! Campaigns that pause themselves: on Meta's errors, a template Meta paused or disabled, a run of
//! failures, the billing limit. The team hears of it through a notification.

use sqlx::{PgConnection, PgPool};

use super::CampaignId;
use crate::error::Result;
use crate::events::Cause;
use crate::notifications::{self, NewNotification};
use crate::types::{BusinessId, TemplateId};

/// Pauses running campaigns on their own (a Meta error, a template Meta paused, too many failures, the
/// billing limit) with the reason, and tells the team with a notification per campaign. `campaign` or
/// `template` picks which.
pub(super) async fn auto_pause_on(
    conn: &mut PgConnection,
    business: BusinessId,
    campaign: Option<CampaignId>,
    template: Option<TemplateId>,
    reason: &str,
) -> Result<Vec<CampaignId>> {
    let paused = sqlx::query!(
        r#"UPDATE campaigns SET status = 'paused', paused_reason = $4
           WHERE business_id = $1 AND status = 'running' AND ($2::int IS NULL OR id = $2)
             AND ($3::int IS NULL OR template_id = $3)
           RETURNING id AS "id: CampaignId", name"#,
        business.0,
        campaign.map(|c| c.0),
        template.map(|t| t.0),
        reason
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in &paused {
        let notification = NewNotification {
            user: None,
            source: "broadcast",
            title: format!("Campaign {} ({}) paused itself", row.id, row.name),
            body: format!("{reason}. Resume the campaign once that is solved."),
            contact: None,
            dedupe_key: None,
        };
        notifications::notify_on(conn, business, &notification, Cause::campaign(row.id.0)).await?;
    }
    Ok(paused.into_iter().map(|r| r.id).collect())
}

/// A template webhook moved `template` to `status` (ingest's transaction): a PAUSED or DISABLED
/// template pauses the running campaigns that send it, before their next batch is claimed.
pub async fn pause_for_template_on(
    conn: &mut PgConnection,
    business: BusinessId,
    template: TemplateId,
    status: &str,
) -> Result<Vec<CampaignId>> {
    if !matches!(status, "paused" | "disabled") {
        return Ok(Vec::new());
    }
    let reason = format!("Meta {status} its template (template {template})");
    auto_pause_on(conn, business, None, Some(template), &reason).await
}

/// The reason to pause when more than the allowed share of the campaign's last finished sends failed
/// (Meta's refusals; recipients skipped by our own checks do not count).
pub(super) async fn too_many_failures(
    pool: &PgPool,
    business: BusinessId,
    id: CampaignId,
    window: i64,
    allowed: f64,
) -> Result<Option<String>> {
    let last = sqlx::query!(
        r#"SELECT count(*) AS "finished!", count(*) FILTER (WHERE state = 'failed') AS "failed!"
           FROM (SELECT state FROM campaign_recipients
                 WHERE business_id = $1 AND campaign_id = $2 AND state IN ('sent', 'failed')
                 ORDER BY updated_at DESC LIMIT $3) last"#,
        business.0,
        id.0,
        window
    )
    .fetch_one(pool)
    .await?;
    let share = last.failed as f64 / last.finished.max(1) as f64;
    Ok((last.finished >= window && share > allowed).then(|| {
        format!(
            "{} of its last {} sends failed, more than the {:.0} % allowed",
            last.failed,
            last.finished,
            allowed * 100.0
        )
    }))
}
