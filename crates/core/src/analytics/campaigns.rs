//! Campaign ROI (seed Analytics 4 and Broadcast FLOW 8): per campaign and per template, the delivery,
//! read and reply rates of the campaign messages sent in the range, those limited by Meta, and the
//! conversions after a reply.
//!
//! Counted from the campaign's messages (`messages.campaign_id`), which status webhooks keep current, as
//! `broadcast stats` does, through the rollup of send outcomes (module `sends`); recipients skipped
//! before a send (opted out, no number) sent nothing and are not counted here.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::PgPool;

use crate::analytics::outcomes::{CONVERSION_WINDOW_DAYS, REPLY_WINDOW_HOURS, SendOutcomes};
use crate::analytics::range::Range;
use crate::analytics::sends;
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
    let business = scope.business().0;
    let mut counted: BTreeMap<i32, [i64; 8]> = BTreeMap::new();
    for group in sends::groups(pool, business, range).await? {
        if let Some(campaign) = group.campaign {
            let sum = counted.entry(campaign).or_default();
            for (s, n) in sum.iter_mut().zip(group.counts) {
                *s += n;
            }
        }
    }
    let ids: Vec<i32> = counted.keys().copied().collect();
    let rows = sqlx::query!(
        r#"SELECT c.id AS "campaign!: CampaignId", c.name, coalesce(c.status, 'draft') AS "status!",
                  t.id AS "template: TemplateId", t.name AS template_name
           FROM campaigns c JOIN message_templates t ON t.business_id = $1 AND t.id = c.template_id
           WHERE c.business_id = $1 AND c.id = ANY($2)
           ORDER BY c.id DESC"#,
        business,
        &ids
    )
    .fetch_all(pool)
    .await?;
    let campaigns: Vec<CampaignRow> = rows
        .into_iter()
        .map(|r| CampaignRow {
            outcomes: SendOutcomes::counted(counted[&r.campaign.0]),
            campaign: r.campaign,
            name: r.name,
            status: r.status,
            template: r.template,
            template_name: r.template_name,
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
