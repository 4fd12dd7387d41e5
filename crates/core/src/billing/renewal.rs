//! The subscription lifecycle at `renews_at`: a period ends and the next one starts (free plan, or a
//! period paid ahead), or the subscription falls past due; a past-due one expires after the grace
//! period; a cancellation or a downgrade takes effect.
//!
//! `subscriptions.renews_at` is the truth; the job queue only wakes renewals up. A renewal job is
//! queued for each subscription when it falls due (the sweep below runs every 15 minutes, and each step
//! queues the next one for its date), and a job that runs twice (retried after its runner died) finds
//! the period written and the date moved. Every step takes "now" as an argument, so tests run it with a
//! controlled clock.

use chrono::{DateTime, Duration, Utc};
use graphile_worker::{IntoTaskHandlerResult, TaskHandler, WorkerContext};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use super::plans::{Plan, plan_on};
use crate::error::Result;
use crate::jobs::{self, Recurring, Schedule};
use crate::types::{BusinessId, PlanId, SubscriptionId, SubscriptionStatus};

/// A subscription period's length (seed Billing: 30-day subscriptions).
pub const PERIOD_DAYS: i64 = 30;
/// How long a past-due subscription keeps sending before it expires.
pub const GRACE_DAYS: i64 = 7;

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

/// The job key of a subscription's step due at `at`: at most one live job per step. Not one per
/// subscription: a running step queues its successor, and a key shared with the running job would
/// strip that job of its retries (graphile_worker's rule for a locked job whose key is reused), so a
/// step killed after its commit would stay behind as a failed job.
fn key(subscription: SubscriptionId, at: DateTime<Utc>) -> String {
    format!("billing:renew:{subscription}:{}", at.timestamp())
}

pub async fn queue_due_renewals(pool: &PgPool) -> Result<usize> {
    queue_due_renewals_at(pool, Utc::now()).await
}

/// Queues, in one transaction, a renewal job for each live subscription with a step due at `now` (its
/// period ended, or its grace period when past due); a live job is kept as it is. Returns how many.
pub async fn queue_due_renewals_at(pool: &PgPool, now: DateTime<Utc>) -> Result<usize> {
    let mut tx = pool.begin().await?;
    // Every business's subscriptions: the one statement of the sweep that is not scoped to a business.
    let due = sqlx::query!(
        r#"SELECT business_id AS "business_id: BusinessId", id AS "id: SubscriptionId",
                  CASE WHEN status = 'past_due' THEN renews_at + make_interval(days => $2) ELSE renews_at END
                      AS "step_at!"
           FROM subscriptions
           WHERE status IN ('trialing', 'active', 'past_due') AND renews_at <= $1
             AND (status <> 'past_due' OR renews_at <= $1 - make_interval(days => $2))
           ORDER BY renews_at"#,
        now,
        GRACE_DAYS as i32
    )
    .fetch_all(&mut *tx)
    .await?;
    for row in &due {
        let task = RenewSubscription { business_id: row.business_id, subscription_id: row.id };
        let schedule = Schedule { key: Some(key(row.id, row.step_at)), keep_run_at: true, ..Schedule::default() };
        jobs::enqueue_on(&mut tx, &task, &schedule).await?;
    }
    tx.commit().await?;
    Ok(due.len())
}

/// What a lifecycle step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Renewal {
    /// The next period started (recorded once) and the renewal date moved on.
    Renewed { starts_at: DateTime<Utc>, ends_at: DateTime<Utc> },
    /// The period ended unpaid: sends go on until `grace_until`, then it expires.
    PastDue { grace_until: DateTime<Utc> },
    /// The grace period ended unpaid.
    Expired,
    /// A cancellation took effect at the period's end.
    Cancelled,
    /// Not due yet; the step is queued for its date.
    NotDue,
    /// The subscription is gone or no longer live.
    Inactive,
}

pub async fn renew(pool: &PgPool, business: BusinessId, subscription: SubscriptionId) -> Result<Renewal> {
    renew_at(pool, business, subscription, Utc::now()).await
}

/// Takes the subscription's step due at `now`, if any, in one transaction.
pub async fn renew_at(
    pool: &PgPool,
    business: BusinessId,
    subscription: SubscriptionId,
    now: DateTime<Utc>,
) -> Result<Renewal> {
    let mut tx = pool.begin().await?;
    let renewal = renew_on(&mut tx, business, subscription, now).await?;
    tx.commit().await?;
    Ok(renewal)
}

pub(crate) async fn renew_on(
    conn: &mut PgConnection,
    business: BusinessId,
    subscription: SubscriptionId,
    now: DateTime<Utc>,
) -> Result<Renewal> {
    let Some(current) = sqlx::query!(
        r#"SELECT status AS "status!: SubscriptionStatus", renews_at AS "renews_at!", plan_id AS "plan_id: PlanId",
                  next_plan_id AS "next_plan_id: PlanId", cancel_at_period_end, prepaid_periods
           FROM subscriptions
           WHERE business_id = $1 AND id = $2 AND status IN ('trialing', 'active', 'past_due')
             AND renews_at IS NOT NULL
           FOR UPDATE"#,
        business.0,
        subscription.0
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(Renewal::Inactive);
    };
    let past_due = current.status == SubscriptionStatus::PastDue;
    let due_at = if past_due { current.renews_at + Duration::days(GRACE_DAYS) } else { current.renews_at };
    if due_at > now {
        queue_step(conn, business, subscription, due_at).await?;
        return Ok(Renewal::NotDue);
    }
    if past_due || current.cancel_at_period_end {
        let (status, renewal) = if past_due {
            (SubscriptionStatus::Expired, Renewal::Expired)
        } else {
            (SubscriptionStatus::Cancelled, Renewal::Cancelled)
        };
        sqlx::query!(
            "UPDATE subscriptions SET status = $3, ended_at = $4 WHERE business_id = $1 AND id = $2",
            business.0,
            subscription.0,
            status as SubscriptionStatus,
            due_at
        )
        .execute(&mut *conn)
        .await?;
        return Ok(renewal);
    }
    // A downgrade takes effect now, at the period's end.
    let plan = plan_on(conn, current.next_plan_id.unwrap_or(current.plan_id)).await?;
    let free = plan.price.is_zero();
    if free || current.prepaid_periods > 0 {
        let (starts_at, ends_at) = start_period(conn, business, subscription, &plan, current.renews_at, !free).await?;
        queue_step(conn, business, subscription, ends_at).await?;
        return Ok(Renewal::Renewed { starts_at, ends_at });
    }
    sqlx::query!(
        "UPDATE subscriptions SET status = 'past_due', plan_id = $3, next_plan_id = NULL WHERE business_id = $1 AND id = $2",
        business.0,
        subscription.0,
        plan.id.0
    )
    .execute(&mut *conn)
    .await?;
    queue_step(conn, business, subscription, due_at + Duration::days(GRACE_DAYS)).await?;
    Ok(Renewal::PastDue { grace_until: due_at + Duration::days(GRACE_DAYS) })
}

/// Starts the subscription's next period at `starts_at` on `plan`: records it (once: its row is
/// unique), makes the subscription active with its renewal a period on, and uses up a period paid ahead
/// when `paid_ahead`. Returns the period.
pub(crate) async fn start_period(
    conn: &mut PgConnection,
    business: BusinessId,
    subscription: SubscriptionId,
    plan: &Plan,
    starts_at: DateTime<Utc>,
    paid_ahead: bool,
) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let ends_at = starts_at + Duration::days(PERIOD_DAYS);
    sqlx::query!(
        "INSERT INTO subscription_periods (business_id, subscription_id, plan_id, starts_at, ends_at, price)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT ON CONSTRAINT subscription_periods_once DO NOTHING",
        business.0,
        subscription.0,
        plan.id.0,
        starts_at,
        ends_at,
        plan.price
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE subscriptions
         SET status = 'active', plan_id = $3, next_plan_id = NULL, renews_at = $4,
             prepaid_periods = prepaid_periods - $5::int, cancel_at_period_end = false, ended_at = NULL
         WHERE business_id = $1 AND id = $2",
        business.0,
        subscription.0,
        plan.id.0,
        ends_at,
        i32::from(paid_ahead)
    )
    .execute(&mut *conn)
    .await?;
    Ok((starts_at, ends_at))
}

/// Queues the subscription's next lifecycle step for `at`. A step queued for another date finds nothing
/// due when it runs and queues the current one (each step re-reads the subscription).
async fn queue_step(
    conn: &mut PgConnection,
    business: BusinessId,
    subscription: SubscriptionId,
    at: DateTime<Utc>,
) -> Result<()> {
    let task = RenewSubscription { business_id: business, subscription_id: subscription };
    let schedule = Schedule { run_at: Some(at), key: Some(key(subscription, at)), ..Schedule::default() };
    jobs::enqueue_on(conn, &task, &schedule).await?;
    Ok(())
}
