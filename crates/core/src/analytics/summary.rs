//! The one-screen summary (`wacrm analytics` alone): the headline figure of each category.
//!
//! The reports are independent reads, so they run at once, each on its own connection of the pool:
//! the summary takes about as long as its slowest report instead of their sum.

use serde::Serialize;
use sqlx::PgPool;

use crate::analytics::automation::{self, AutomationTotals};
use crate::analytics::campaigns::{self, CampaignsReport};
use crate::analytics::leads::{self, LeadsReport};
use crate::analytics::messages::{self, MessagesReport};
use crate::analytics::pipeline::{self, DEFAULT_STUCK_DAYS, PipelineReport};
use crate::analytics::range::Range;
use crate::analytics::usage::{self, UsageReport};
use crate::auth::Scope;
use crate::error::Result;

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub range: Range,
    pub leads: LeadsReport,
    pub pipeline: PipelineReport,
    pub messages: MessagesReport,
    pub usage: UsageReport,
    pub campaigns: CampaignsReport,
    /// The business's totals; the per-rule breakdown is `wacrm analytics automation`.
    pub automation: AutomationTotals,
}

pub async fn summary(pool: &PgPool, scope: &Scope, range: &Range) -> Result<Summary> {
    let (leads, pipeline, messages, usage, campaigns, automation) = tokio::try_join!(
        leads::report(pool, scope, range),
        pipeline::report(pool, scope, range, None, DEFAULT_STUCK_DAYS),
        messages::report(pool, scope, range),
        usage::report(pool, scope, range),
        campaigns::report(pool, scope, range),
        automation::totals(pool, scope, range),
    )?;
    Ok(Summary { range: *range, leads, pipeline, messages, usage, campaigns, automation })
}
