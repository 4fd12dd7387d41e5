//! The recurring template sync: every business with a connected WABA gets Meta's current list, so
//! templates made or changed in Meta's UI appear without anyone running `sync` (webhooks carry status
//! changes, not new templates or edits made there).

use graphile_worker::{IntoTaskHandlerResult, TaskHandler, WorkerContext};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::meta::sync_business;
use crate::config::{Overrides, Settings};
use crate::error::Result;
use crate::jobs::{self, Recurring};
use crate::types::BusinessId;
use crate::whatsapp::client::GraphClient;

/// One pass over every business.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncAllReport {
    pub businesses: usize,
    /// Businesses whose sync failed (logged; the others went on).
    pub failed: usize,
}

/// Syncs the templates of every business with an active number that has a WABA and a token. One
/// business's failure (a revoked token, Meta down) is logged and does not stop the others.
pub async fn sync_all(pool: &PgPool, graph: &GraphClient) -> Result<SyncAllReport> {
    let businesses = sqlx::query_scalar!(
        r#"SELECT DISTINCT business_id AS "business_id!" FROM whatsapp_accounts
           WHERE status = 'active' AND waba_id IS NOT NULL AND api_token <> '' ORDER BY 1"#
    )
    .fetch_all(pool)
    .await?;
    let mut report = SyncAllReport { businesses: businesses.len(), failed: 0 };
    for business in businesses.into_iter().map(BusinessId) {
        if let Err(error) = sync_business(pool, graph, business).await {
            report.failed += 1;
            tracing::warn!(business = business.0, "template sync failed: {error}");
        }
    }
    Ok(report)
}

/// The recurring job of [`sync_all`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SyncTemplates {}

impl Recurring for SyncTemplates {
    const KEY: &'static str = "templates:sync";
    const EVERY_MINUTES: u32 = 30;
}

impl TaskHandler for SyncTemplates {
    const IDENTIFIER: &'static str = "templates.sync";

    async fn run(self, ctx: WorkerContext) -> impl IntoTaskHandlerResult {
        let pass = async {
            let settings = Settings::load(&Overrides::default())?;
            sync_all(ctx.pg_pool(), &GraphClient::from_settings(&settings)).await
        };
        pass.await.map(|_| ()).map_err(|e| jobs::failure(Self::IDENTIFIER, &e))
    }
}
