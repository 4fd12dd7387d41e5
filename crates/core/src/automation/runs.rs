//! The run log: every rule that matched an event (or that a guard held back), with its actions and
//! their results, newest first. A failing rule shows here, never silently.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::auth::{Area, Scope};
use crate::error::Result;
use crate::listing;
use crate::types::ContactId;

/// Which runs to show.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub rule: Option<i32>,
    pub contact: Option<ContactId>,
    /// Only runs with a failed action.
    pub failed: bool,
}

/// One action's result.
#[derive(Debug, Clone, Serialize)]
pub struct ActionResult {
    pub position: i16,
    pub kind: String,
    pub status: String,
    pub detail: Option<String>,
}

/// One run of a rule.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub id: i64,
    pub rule_id: i32,
    pub rule: String,
    pub event_id: i64,
    pub contact_id: Option<ContactId>,
    pub matched: bool,
    pub reason: Option<String>,
    pub latency_us: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub actions: Vec<ActionResult>,
}

/// Runs a listing shows at most.
pub const MAX_RUNS: i64 = 10_000;

/// The newest `limit` runs matching the filter.
pub async fn runs(pool: &PgPool, scope: &Scope, filter: &RunFilter, limit: i64) -> Result<Vec<Run>> {
    scope.require(Area::Automation)?;
    let limit = listing::limit(limit, MAX_RUNS)?;
    let rows = sqlx::query!(
        r#"SELECT r.id, r.rule_id, u.name AS rule, r.event_id, r.contact_id AS "contact_id: ContactId", r.matched,
                  r.reason, r.latency_us, r.created_at,
                  coalesce(jsonb_agg(jsonb_build_object('position', a.position, 'kind', a.kind, 'status', a.status,
                                                        'detail', a.detail) ORDER BY a.position)
                           FILTER (WHERE a.id IS NOT NULL), '[]') AS "actions!"
           FROM automation_runs r
           JOIN automation_rules u ON u.business_id = r.business_id AND u.id = r.rule_id
           LEFT JOIN automation_actions a ON a.business_id = r.business_id AND a.run_id = r.id
           WHERE r.business_id = $1 AND ($2::int IS NULL OR r.rule_id = $2) AND ($3::int IS NULL OR r.contact_id = $3)
             AND (NOT $4 OR EXISTS (SELECT 1 FROM automation_actions f
                                    WHERE f.business_id = r.business_id AND f.run_id = r.id AND f.status = 'failed'))
           GROUP BY r.id, u.name
           ORDER BY r.id DESC LIMIT $5"#,
        scope.business().0,
        filter.rule,
        filter.contact.map(|c| c.0),
        filter.failed,
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Run {
            id: r.id,
            rule_id: r.rule_id,
            rule: r.rule,
            event_id: r.event_id,
            contact_id: r.contact_id,
            matched: r.matched,
            reason: r.reason,
            latency_us: r.latency_us,
            created_at: r.created_at,
            actions: r
                .actions
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| ActionResult {
                    position: a["position"].as_i64().unwrap_or_default() as i16,
                    kind: a["kind"].as_str().unwrap_or_default().into(),
                    status: a["status"].as_str().unwrap_or_default().into(),
                    detail: a["detail"].as_str().map(str::to_string),
                })
                .collect(),
        })
        .collect())
}

/// Recomputes every action's stored conversion flag (`automation_actions.converted`, migration 0097:
/// triggers keep it) from the business's moves to Paid: the repair of `wacrm analytics verify --repair`.
pub async fn store_conversions_on(conn: &mut PgConnection, business: i32) -> Result<()> {
    sqlx::query!(
        r#"UPDATE automation_actions SET converted = NOT converted
           WHERE business_id = $1 AND converted IS DISTINCT FROM wacrm_action_converted(business_id, contact_id, created_at)"#,
        business
    )
    .execute(conn)
    .await?;
    Ok(())
}
