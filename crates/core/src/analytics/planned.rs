//! Campaign ROI and automation impact (seed Analytics 4 and 5). Their figures come from the broadcast
//! and automation dashboards' own records, which do not exist yet: until they land, these reports
//! answer with empty lists and zeros and say why, so scripts and the summary never fail on them.

use serde::Serialize;
use sqlx::PgPool;

use crate::analytics::range::Range;
use crate::auth::{Area, Scope};
use crate::error::Result;

/// A report whose source dashboard is not built yet.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedReport {
    pub range: Range,
    /// False until the dashboard it reads from exists.
    pub available: bool,
    pub note: &'static str,
    /// One entry per campaign or rule once available; empty until then.
    pub rows: Vec<serde_json::Value>,
    pub messages_sent: i64,
    pub conversions: i64,
}

/// Delivery, read and reply rates and conversions after a reply, per campaign and template.
pub async fn campaigns(_pool: &PgPool, scope: &Scope, range: &Range) -> Result<PlannedReport> {
    scope.require(Area::Analytics)?;
    Ok(empty(range, "campaign figures arrive with the broadcast dashboard; nothing is sent by campaigns yet"))
}

/// Messages sent and stage moves made by rules, and conversions after an automated action, per rule.
pub async fn automation(_pool: &PgPool, scope: &Scope, range: &Range) -> Result<PlannedReport> {
    scope.require(Area::Analytics)?;
    Ok(empty(range, "automation figures arrive with the automation dashboard; no rule has run yet"))
}

fn empty(range: &Range, note: &'static str) -> PlannedReport {
    PlannedReport { range: *range, available: false, note, rows: Vec::new(), messages_sent: 0, conversions: 0 }
}
