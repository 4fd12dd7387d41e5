//! The one-screen summary (`wacrm analytics` alone): the headline figure of each category.
//!
//! Each category gives its headline without the breakdowns the summary does not show (series per
//! period, time in stage, response medians and agents, automation per rule), so the summary reads
//! little more than the rollups' sums over the range. Campaigns are the exception: their total is the
//! campaign report's, which sums the send outcomes rollup per campaign and keeps only campaigns that
//! still exist, a few milliseconds. The parts are independent reads, so they run at once, each on its
//! own connection of the pool.

use chrono::Utc;
use serde::Serialize;
use sqlx::PgPool;

use crate::analytics::automation::{self, AutomationTotals};
use crate::analytics::campaigns;
use crate::analytics::leads::{self, LeadTotals};
use crate::analytics::messages::{self, MessagesHeadline};
use crate::analytics::outcomes::SendOutcomes;
use crate::analytics::pipeline::{self, DEFAULT_STUCK_DAYS, PipelineHeadline};
use crate::analytics::range::Range;
use crate::analytics::usage::{self, UsageHeadline};
use crate::auth::Scope;
use crate::error::Result;

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub range: Range,
    pub leads: LeadTotals,
    pub pipeline: PipelineHeadline,
    pub messages: MessagesHeadline,
    pub usage: UsageHeadline,
    /// Every campaign message of the range; per campaign and template: `wacrm analytics campaigns`.
    pub campaigns: SendOutcomes,
    /// The business's totals; the per-rule breakdown is `wacrm analytics automation`.
    pub automation: AutomationTotals,
}

pub async fn summary(pool: &PgPool, scope: &Scope, range: &Range) -> Result<Summary> {
    let (leads, pipeline, messages, usage, campaigns, automation) = tokio::try_join!(
        leads::totals(pool, scope, range),
        pipeline::headline(pool, scope, range, None, DEFAULT_STUCK_DAYS),
        messages::headline(pool, scope, range),
        usage::headline_at(pool, scope, range.timezone, Utc::now()),
        campaigns::report(pool, scope, range),
        automation::totals(pool, scope, range),
    )?;
    Ok(Summary { range: *range, leads, pipeline, messages, usage, campaigns: campaigns.total, automation })
}
