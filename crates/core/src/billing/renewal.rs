//! Subscription renewals: when a subscription's period ends, the next one is recorded (the period and
//! its plan price, once) and the subscription's renewal date moves a period on.
//!
//! `subscriptions.renews_at` is the truth; the job queue only wakes renewals up. A renewal job is
//! queued for each subscription when it falls due (the sweep below runs every 15 minutes), and a job
//! that runs twice (retried after its runner died) finds the period written and the date moved.

use chrono::{DateTime, Duration, Utc};
use graphile_worker::{IntoTaskHandlerResult, TaskHandler, WorkerContext};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use crate::error::Result;
use crate::jobs::{self, Recurring, Schedule};
use crate::types::{BusinessId, SubscriptionId};

/// A subscription period's length (seed Billing: 30-day subscriptions).
pub const PERIOD_DAYS: i64 = 30;

/// Renews one subscription if it is due.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenewSubscription {
    pub business_id: BusinessId,
    pub subscription_id: SubscriptionId,
}

impl TaskHandler for RenewSubscription {
    const IDENTIFIER: &'static str = "billing.renew_subscription";

    async fn run(self, ctx: WorkerContext) -> impl IntoTaskHandlerResult {
        renew(ctx.pg_pool(), self.business_id, self.subscription_id)
            .await
            .map(|_| ())
            .map_err(|e| jobs::failure(Self::IDENTIFIER, &e))
    }
}

/// Queues a renewal for every subscription that is due.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RenewDueSubscriptions {}

impl Recurring for RenewDueSubscriptions {
    const KEY: &'static str = "billing:renew-due";
    const EVERY_MINUTES: u32 = 15;
}

impl TaskHandler for RenewDueSubscriptions {
    const IDENTIFIER: &'static str = "billing.renew_due_subscriptions";

    async fn run(self, ctx: WorkerContext) -> impl IntoTaskHandlerResult {
        queue_due_renewals(ctx.pg_pool()).await.map(|_| ()).map_err(|e| jobs::failure(Self::IDENTIFIER, &e))
    }
}

/// The job key of a subscription's renewal: at most one live renewal per subscription.
fn key(subscription: SubscriptionId) -> String {
    format!("billing:renew:{subscription}")
}

/// Queues, in one transaction, a renewal job for each active subscription whose renewal date has
/// passed (a live one is kept as it is). Returns how many were due.
pub async fn queue_due_renewals(pool: &PgPool) -> Result<usize> {
    let mut tx = pool.begin().await?;
    // Every business's subscriptions: the one statement of the sweep that is not scoped to a business.
    let due = sqlx::query!(
        r#"SELECT business_id AS "business_id: BusinessId", id AS "id: SubscriptionId" FROM subscriptions
           WHERE status = 'active' AND renews_at <= NOW() ORDER BY renews_at"#
    )
    .fetch_all(&mut *tx)
    .await?;
    for row in &due {
        let task = RenewSubscription { business_id: row.business_id, subscription_id: row.id };
        let schedule = Schedule { key: Some(key(row.id)), keep_run_at: true, ..Schedule::default() };
        jobs::enqueue_on(&mut tx, &task, &schedule).await?;
    }
    tx.commit().await?;
    Ok(due.len())
}

/// What a renewal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Renewal {
    /// The next period was recorded and the renewal date moved on.
    Renewed { starts_at: DateTime<Utc>, ends_at: DateTime<Utc> },
    /// Not due yet; the renewal is queued for its date.
    NotDue,
    /// The subscription is gone or no longer active.
    Inactive,
}

/// Renews the subscription if its date has passed: records the period (once: its row is unique), moves
/// the date a period on and queues the next renewal, all in one transaction.
pub async fn renew(pool: &PgPool, business: BusinessId, subscription: SubscriptionId) -> Result<Renewal> {
    let mut tx = pool.begin().await?;
    let renewal = renew_on(&mut tx, business, subscription).await?;
    tx.commit().await?;
    Ok(renewal)
}

async fn renew_on(conn: &mut PgConnection, business: BusinessId, subscription: SubscriptionId) -> Result<Renewal> {
    let Some(current) = sqlx::query!(
        r#"SELECT s.renews_at AS "renews_at!", s.plan_id, p.price AS "price: Decimal"
           FROM subscriptions s JOIN plans p ON p.id = s.plan_id
           WHERE s.business_id = $1 AND s.id = $2 AND s.status = 'active' AND s.renews_at IS NOT NULL
           FOR UPDATE OF s"#,
        business.0,
        subscription.0
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(Renewal::Inactive);
    };
    let task = RenewSubscription { business_id: business, subscription_id: subscription };
    if current.renews_at > Utc::now() {
        let schedule =
            Schedule { run_at: Some(current.renews_at), key: Some(key(subscription)), ..Schedule::default() };
        jobs::enqueue_on(conn, &task, &schedule).await?;
        return Ok(Renewal::NotDue);
    }
    let (starts_at, ends_at) = (current.renews_at, current.renews_at + Duration::days(PERIOD_DAYS));
    sqlx::query!(
        "INSERT INTO subscription_periods (business_id, subscription_id, plan_id, starts_at, ends_at, price)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT ON CONSTRAINT subscription_periods_once DO NOTHING",
        business.0,
        subscription.0,
        current.plan_id,
        starts_at,
        ends_at,
        current.price
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE subscriptions SET renews_at = $3 WHERE business_id = $1 AND id = $2",
        business.0,
        subscription.0,
        ends_at
    )
    .execute(&mut *conn)
    .await?;
    let next = Schedule { run_at: Some(ends_at), key: Some(key(subscription)), ..Schedule::default() };
    jobs::enqueue_on(conn, &task, &next).await?;
    Ok(Renewal::Renewed { starts_at, ends_at })
}
