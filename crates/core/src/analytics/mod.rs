//! The analytics dashboard (seed Analytics section, issue 23): lead growth, pipeline performance,
//! messaging performance and usage and cost, each over a range of local days of the business's IANA
//! timezone, cut by day, week or month; campaign ROI, per-template figures and automation impact,
//! from the broadcast and automation dashboards' own records ([`outcomes`] says how sends are counted).
//!
//! Figures are exact. Counts that would otherwise scan raw messages, conversation windows, contacts, sends
//! or automation runs come from rollups that triggers keep in the writing transaction (migrations 0036,
//! 0087, 0088 for new leads, 0090-0091 for what campaign, template and automation sends led to: module
//! `sends`, 0096 for automation runs and action counts: module `automation_counts`); response times and
//! sends' reply times are stored per contact by a recurring job ([`refresh_job`]), marked contacts computed
//! live until it has run, and the stored waits are summed per day in a histogram that locates each median
//! (0085, module `waits`), as are stage changes for the funnel and time in stage (0095, module
//! `pipeline_days`); [`verify`] recomputes them all from the raw rows. Empty data gives zeros, never an
//! error. Reports only read, through the pool they are given (a read replica's, once there is one), and
//! every statement filters by the business.

pub mod automation;
mod automation_counts;
pub mod campaigns;
pub mod leads;
pub mod messages;
pub mod outcomes;
pub mod pipeline;
mod pipeline_days;
pub mod range;
pub mod refresh_job;
mod sends;
pub mod summary;
pub mod templates;
pub mod usage;
pub mod verify;
mod waits;

use chrono::Utc;
use sqlx::PgPool;

use crate::auth::{Area, Scope};
use crate::business;
use crate::error::Result;
pub use range::{Granularity, Range, RangeRequest, Timezone};
pub use refresh_job::{RefreshAllReport, RefreshAnalytics, refresh_all};

/// The range a report covers for the acting business: its timezone and the request's dates resolved
/// against the current time (this month to today by default). Checks that the actor may see analytics.
pub async fn resolve(pool: &PgPool, scope: &Scope, request: RangeRequest) -> Result<Range> {
    scope.require(Area::Analytics)?;
    let timezone = business::timezone(pool, scope).await?;
    Range::resolve(request, timezone, Utc::now())
}

/// A statement's result with the crate's error, so that it runs alongside others in `tokio::try_join!`.
async fn read<T>(statement: impl std::future::Future<Output = sqlx::Result<T>>) -> Result<T> {
    Ok(statement.await?)
}

/// `part / whole`, none when there is no whole.
fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}
