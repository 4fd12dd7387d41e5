//! The one-screen summary (`wacrm analytics` alone): the headline figure of each category.

use serde::Serialize;
use sqlx::PgPool;

use crate::analytics::automation::{self, AutomationReport};
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
    pub automation: AutomationReport,
}

pub async fn summary(pool: &PgPool, scope: &Scope, range: &Range) -> Result<Summary> {
    Ok(Summary {
        range: *range,
        leads: leads::report(pool, scope, range).await?,
        pipeline: pipeline::report(pool, scope, range, None, DEFAULT_STUCK_DAYS).await?,
        messages: messages::report(pool, scope, range).await?,
        usage: usage::report(pool, scope, range).await?,
        campaigns: campaigns::report(pool, scope, range).await?,
        automation: automation::report(pool, scope, range).await?,
    })
}
