//! The recurring refresh (every 5 minutes): [`verify::refresh`] for every business with contacts
//! marked since the last pass. Reports are exact without it, as they compute marked contacts live; the
//! job keeps that live part down to a few minutes of activity, so reports stay fast after a day of
//! messages. The period weighs that against ingest: a pass recomputes each marked contact from its
//! whole history (5,000 contacts of the large demo tenant, 100,000 messages: ~0.9 s on a loaded
//! machine), and runs on the same database as ingest.

use graphile_worker::{IntoTaskHandlerResult, TaskHandler, WorkerContext};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::analytics::verify;
use crate::auth::Scope;
use crate::error::Result;
use crate::jobs::{self, Recurring};
use crate::types::BusinessId;

/// One pass over every business with marked contacts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RefreshAllReport {
    pub businesses: usize,
    /// Contacts whose waits and reply times were recomputed.
    pub contacts: i64,
    /// Businesses whose refresh failed (logged; the others went on, their marks stay for the next pass).
    pub failed: usize,
}

pub async fn refresh_all(pool: &PgPool) -> Result<RefreshAllReport> {
    let businesses = sqlx::query_scalar!(
        r#"SELECT DISTINCT business_id AS "business_id!" FROM analytics_dirty_contacts ORDER BY 1"#
    )
    .fetch_all(pool)
    .await?;
    let mut report = RefreshAllReport { businesses: businesses.len(), ..Default::default() };
    for business in businesses.into_iter().map(BusinessId) {
        let refreshed = async { verify::refresh(pool, &Scope::for_business(pool, business).await?).await };
        match refreshed.await {
            Ok(contacts) => report.contacts += contacts,
            Err(error) => {
                report.failed += 1;
                tracing::warn!(business = business.0, "analytics refresh failed: {error}");
            }
        }
    }
    Ok(report)
}

/// The recurring job of [`refresh_all`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RefreshAnalytics {}

impl Recurring for RefreshAnalytics {
    const KEY: &'static str = "analytics:refresh";
    const EVERY_MINUTES: u32 = 5;
}

impl TaskHandler for RefreshAnalytics {
    const IDENTIFIER: &'static str = "analytics.refresh";

    async fn run(self, ctx: WorkerContext) -> impl IntoTaskHandlerResult {
        refresh_all(ctx.pg_pool()).await.map(|_| ()).map_err(|e| jobs::failure(Self::IDENTIFIER, &e))
    }
}
