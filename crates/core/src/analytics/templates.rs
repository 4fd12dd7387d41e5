//! Template analytics (seed Template Manager, issue 21): per template, its sends in the range by any
//! sender (the inbox, campaigns, automation rules), delivered, read, replied and the conversions after
//! a reply, counted as the campaign report counts them.
//!
//! A send names its template in its payload (name and language, as Meta receives it), so a template
//! deleted since keeps its figures under its name, without an id.

use serde::Serialize;
use sqlx::PgPool;

use crate::analytics::outcomes::{CONVERSION_WINDOW_DAYS, META_LIMIT_CODE, REPLY_WINDOW_HOURS, SendOutcomes};
use crate::analytics::range::Range;
use crate::auth::{Area, Scope};
use crate::error::Result;
use crate::types::TemplateId;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateRow {
    /// None for a template deleted since (or never known to wacrm).
    pub template: Option<TemplateId>,
    pub name: String,
    pub language: String,
    /// Of the messages, those sent by campaigns.
    pub campaign_messages: i64,
    #[serde(flatten)]
    pub outcomes: SendOutcomes,
}

#[derive(Debug, Clone, Serialize)]
pub struct TemplatesReport {
    pub range: Range,
    pub reply_window_hours: i32,
    pub conversion_window_days: i32,
    pub total: SendOutcomes,
    /// Every template of the business (zeros when unused in the range) and any other template sent in
    /// the range; most messages first, then by name.
    pub templates: Vec<TemplateRow>,
}

pub async fn report(pool: &PgPool, scope: &Scope, range: &Range) -> Result<TemplatesReport> {
    scope.require(Area::Analytics)?;
    let rows = sqlx::query!(
        r#"WITH dirty AS (
               SELECT contact_id FROM analytics_dirty_contacts WHERE business_id = $1
           ), sends AS MATERIALIZED (
               SELECT m.id, m.payload #>> '{template,name}' AS name, m.payload #>> '{template,language}' AS language,
                      m.contact_id, m.error_code, m.campaign_id, coalesce(m.status, 'sent') AS status,
                      CASE WHEN coalesce(m.status, 'sent') NOT IN ('sent', 'delivered', 'read') THEN NULL
                           WHEN d.contact_id IS NULL THEN m.replied_at
                           ELSE wacrm_reply_after($1, m.contact_id, m.sent_at, make_interval(hours => $4)) END
                          AS replied_at
               FROM messages m LEFT JOIN dirty d ON d.contact_id = m.contact_id
               WHERE m.business_id = $1 AND m.kind = 'template' AND m.direction = 'out'
                 AND m.sent_at >= $2 AND m.sent_at < $3
           ), paid AS MATERIALIZED (
               SELECT contact_id, changed_at FROM pipeline_history WHERE business_id = $1 AND to_stage = 'Paid'
           ), converted AS (
               SELECT DISTINCT s.id FROM sends s
               JOIN paid p ON p.contact_id = s.contact_id
                          AND p.changed_at >= s.replied_at AND p.changed_at <= s.replied_at + make_interval(days => $5)
           ), counted AS (
               SELECT name, language, count(*) AS messages, count(campaign_id) AS campaign_messages,
                      count(*) FILTER (WHERE status <> 'pending') AS sent,
                      count(*) FILTER (WHERE status = 'failed') AS failed,
                      count(*) FILTER (WHERE status = 'failed' AND error_code = $6) AS limited,
                      count(*) FILTER (WHERE status IN ('delivered', 'read')) AS delivered,
                      count(*) FILTER (WHERE status = 'read') AS read,
                      count(replied_at) AS replied,
                      count(c.id) AS converted
               FROM sends s LEFT JOIN converted c ON c.id = s.id WHERE name IS NOT NULL GROUP BY name, language
           ), known AS (
               SELECT id, name, language FROM message_templates WHERE business_id = $1 AND deleted_at IS NULL
           )
           SELECT k.id AS "template?: TemplateId", coalesce(n.name, k.name) AS "name!",
                  coalesce(n.language, k.language, '') AS "language!",
                  coalesce(n.campaign_messages, 0) AS "campaign_messages!",
                  coalesce(n.messages, 0) AS "messages!", coalesce(n.sent, 0) AS "sent!",
                  coalesce(n.failed, 0) AS "failed!", coalesce(n.limited, 0) AS "limited!",
                  coalesce(n.delivered, 0) AS "delivered!", coalesce(n.read, 0) AS "read!",
                  coalesce(n.replied, 0) AS "replied!", coalesce(n.converted, 0) AS "converted!"
           FROM counted n FULL JOIN known k ON k.name = n.name AND k.language = n.language
           ORDER BY 5 DESC, 2, 3"#,
        scope.business().0,
        range.start,
        range.end,
        REPLY_WINDOW_HOURS,
        CONVERSION_WINDOW_DAYS,
        META_LIMIT_CODE
    )
    .fetch_all(pool)
    .await?;
    let templates: Vec<TemplateRow> = rows
        .into_iter()
        .map(|r| TemplateRow {
            template: r.template,
            name: r.name,
            language: r.language,
            campaign_messages: r.campaign_messages,
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
    Ok(TemplatesReport {
        range: *range,
        reply_window_hours: REPLY_WINDOW_HOURS,
        conversion_window_days: CONVERSION_WINDOW_DAYS,
        total: SendOutcomes::total(templates.iter().map(|t| &t.outcomes)),
        templates,
    })
}
