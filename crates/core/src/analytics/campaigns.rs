//! Campaign ROI (seed Analytics 4 and Broadcast FLOW 8): per campaign and per template, the delivery,
//! read and reply rates of the campaign messages sent in the range, those limited by Meta, and the
//! conversions after a reply.
//!
//! Read from the campaign's messages (`messages.campaign_id`), which status webhooks keep current, as
//! `broadcast stats` does; recipients skipped before a send (opted out, no number) sent nothing and
//! are not counted here.

use serde::Serialize;
use sqlx::PgPool;

use crate::analytics::outcomes::{CONVERSION_WINDOW_DAYS, META_LIMIT_CODE, REPLY_WINDOW_HOURS, SendOutcomes};
use crate::analytics::range::Range;
use crate::auth::{Area, Scope};
use crate::broadcast::CampaignId;
use crate::error::Result;
use crate::types::TemplateId;

/// One campaign's messages sent in the range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignRow {
    pub campaign: CampaignId,
    pub name: String,
    pub status: String,
    pub template: TemplateId,
    pub template_name: String,
    #[serde(flatten)]
    pub outcomes: SendOutcomes,
}

/// The campaigns of one template together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignTemplateRow {
    pub template: TemplateId,
    pub template_name: String,
    pub campaigns: i64,
    #[serde(flatten)]
    pub outcomes: SendOutcomes,
}

#[derive(Debug, Clone, Serialize)]
pub struct CampaignsReport {
    pub range: Range,
    pub reply_window_hours: i32,
    pub conversion_window_days: i32,
    /// Every campaign message of the range.
    pub total: SendOutcomes,
    /// Campaigns with a message sent in the range, newest first.
    pub campaigns: Vec<CampaignRow>,
    /// The same, per template (most messages first).
    pub per_template: Vec<CampaignTemplateRow>,
}

pub async fn report(pool: &PgPool, scope: &Scope, range: &Range) -> Result<CampaignsReport> {
    scope.require(Area::Analytics)?;
    let rows = sqlx::query!(
        r#"WITH dirty AS (
               SELECT contact_id FROM analytics_dirty_contacts WHERE business_id = $1
           ), sends AS MATERIALIZED (
               SELECT m.id, m.campaign_id, m.contact_id, m.error_code, coalesce(m.status, 'sent') AS status,
                      CASE WHEN coalesce(m.status, 'sent') NOT IN ('sent', 'delivered', 'read') THEN NULL
                           WHEN d.contact_id IS NULL THEN m.replied_at
                           ELSE wacrm_reply_after($1, m.contact_id, m.sent_at, make_interval(hours => $4)) END
                          AS replied_at
               FROM messages m LEFT JOIN dirty d ON d.contact_id = m.contact_id
               WHERE m.business_id = $1 AND m.campaign_id IS NOT NULL AND m.direction = 'out'
                 AND m.sent_at >= $2 AND m.sent_at < $3
           ), paid AS MATERIALIZED (
               SELECT contact_id, changed_at FROM pipeline_history WHERE business_id = $1 AND to_stage = 'Paid'
           ), converted AS (
               SELECT DISTINCT s.id FROM sends s
               JOIN paid p ON p.contact_id = s.contact_id
                          AND p.changed_at >= s.replied_at AND p.changed_at <= s.replied_at + make_interval(days => $5)
           ), counted AS (
               SELECT campaign_id, count(*) AS messages,
                      count(*) FILTER (WHERE status <> 'pending') AS sent,
                      count(*) FILTER (WHERE status = 'failed') AS failed,
                      count(*) FILTER (WHERE status = 'failed' AND error_code = $6) AS limited,
                      count(*) FILTER (WHERE status IN ('delivered', 'read')) AS delivered,
                      count(*) FILTER (WHERE status = 'read') AS read,
                      count(replied_at) AS replied,
                      count(c.id) AS converted
               FROM sends s LEFT JOIN converted c ON c.id = s.id GROUP BY campaign_id
           )
           SELECT c.id AS "campaign!: CampaignId", c.name, coalesce(c.status, 'draft') AS "status!",
                  t.id AS "template: TemplateId", t.name AS template_name,
                  n.messages AS "messages!", n.sent AS "sent!", n.failed AS "failed!", n.limited AS "limited!",
                  n.delivered AS "delivered!", n.read AS "read!", n.replied AS "replied!", n.converted AS "converted!"
           FROM counted n
           JOIN campaigns c ON c.business_id = $1 AND c.id = n.campaign_id
           JOIN message_templates t ON t.business_id = $1 AND t.id = c.template_id
           ORDER BY c.id DESC"#,
        scope.business().0,
        range.start,
        range.end,
        REPLY_WINDOW_HOURS,
        CONVERSION_WINDOW_DAYS,
        META_LIMIT_CODE
    )
    .fetch_all(pool)
    .await?;
    let campaigns: Vec<CampaignRow> = rows
        .into_iter()
        .map(|r| CampaignRow {
            campaign: r.campaign,
            name: r.name,
            status: r.status,
            template: r.template,
            template_name: r.template_name,
            outcomes: SendOutcomes::counted([
                r.messages,
                r.sent,
                r.failed,
                r.limited,
                r.delivered,
                r.read,
                r.replied,
                r.converted,
            ]),
        })
        .collect();
    let mut per_template: Vec<CampaignTemplateRow> = Vec::new();
    for row in &campaigns {
        match per_template.iter_mut().find(|t| t.template == row.template) {
            Some(t) => {
                t.campaigns += 1;
                t.outcomes = t.outcomes.plus(&row.outcomes);
            }
            None => per_template.push(CampaignTemplateRow {
                template: row.template,
                template_name: row.template_name.clone(),
                campaigns: 1,
                outcomes: row.outcomes.clone(),
            }),
        }
    }
    per_template.sort_by(|a, b| b.outcomes.messages.cmp(&a.outcomes.messages).then(a.template.cmp(&b.template)));
    Ok(CampaignsReport {
        range: *range,
        reply_window_hours: REPLY_WINDOW_HOURS,
        conversion_window_days: CONVERSION_WINDOW_DAYS,
        total: SendOutcomes::total(campaigns.iter().map(|c| &c.outcomes)),
        campaigns,
        per_template,
    })
}
