//! A business's subscription: the default plan (and its free trial) at sign-up, upgrades at once,
//! downgrades and cancellations at the period's end, and the operator's payments and renewals.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::plans::{Plan, default_plan_on, plan_named_on, plan_on};
use super::renewal::{GRACE_DAYS, PERIOD_DAYS, Renewal, renew_on, start_period};
use crate::auth::{Actor, Area, Scope};
use crate::error::{Error, Result};
use crate::types::{BusinessId, PlanId, SubscriptionId, SubscriptionStatus};

#[derive(Debug, Clone, Serialize)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub plan: String,
    pub conversation_limit: i32,
    /// The plan's monthly fee.
    pub price: Decimal,
    pub status: SubscriptionStatus,
    /// The end of the current period (of the trial, while trialing).
    pub renews_at: Option<DateTime<Utc>>,
    /// Cancelled by the business: it ends at `renews_at`.
    pub cancel_at_period_end: bool,
    /// A downgrade's plan, taking effect at `renews_at`.
    pub next_plan: Option<String>,
    /// Periods paid ahead (recorded by the operator).
    pub prepaid_periods: i32,
    pub ended_at: Option<DateTime<Utc>>,
}

impl Subscription {
    pub fn is_live(&self) -> bool {
        matches!(self.status, SubscriptionStatus::Trialing | SubscriptionStatus::Active | SubscriptionStatus::PastDue)
    }

    /// Whether the business may send at `at` (the billing side of the send gate); if not, why, and the
    /// way out. A step the renewal job has not taken yet counts as taken: a cancellation ends sending at
    /// the period's end, a past-due subscription at the grace period's end.
    pub fn entitlement(&self, at: DateTime<Utc>) -> Result<()> {
        let way_out = "have the payment recorded by the installation's operator (billing mark-paid), or \
                       subscribe to a free plan (billing subscribe)";
        let ended = |what: String| Err(Error::limit(format!("{what}, so messages cannot be sent"), way_out));
        let day =
            |t: Option<DateTime<Utc>>| t.map_or_else(|| "an unknown date".into(), |t| t.format("%Y-%m-%d").to_string());
        match self.status {
            SubscriptionStatus::Expired => {
                ended(format!("the {} subscription expired on {}", self.plan, day(self.ended_at)))
            }
            SubscriptionStatus::Cancelled => {
                ended(format!("the {} subscription was cancelled on {}", self.plan, day(self.ended_at)))
            }
            SubscriptionStatus::PastDue if self.renews_at.is_some_and(|r| r + Duration::days(GRACE_DAYS) <= at) => {
                ended(format!(
                    "the {} subscription expired unpaid on {}",
                    self.plan,
                    day(self.renews_at.map(|r| r + Duration::days(GRACE_DAYS)))
                ))
            }
            _ if self.cancel_at_period_end && self.renews_at.is_some_and(|r| r <= at) => {
                ended(format!("the {} subscription was cancelled on {}", self.plan, day(self.renews_at)))
            }
            _ => Ok(()),
        }
    }
}

/// The business's live subscription, locked for the caller's transaction, with its plan.
pub(crate) struct Live {
    pub id: SubscriptionId,
    pub plan_id: PlanId,
    pub next_plan_id: Option<PlanId>,
    pub conversation_limit: i32,
    pub subscription: Subscription,
}

/// The business's subscription: the live one, else the one that ended last.
pub(crate) async fn latest_on(conn: &mut PgConnection, business: BusinessId) -> Result<Option<Subscription>> {
    Ok(sqlx::query_as!(
        Subscription,
        r#"SELECT s.id AS "id: SubscriptionId", p.name AS plan, p.conversation_limit, p.price,
                  s.status AS "status!: SubscriptionStatus", s.renews_at, s.cancel_at_period_end,
                  n.name AS "next_plan?", s.prepaid_periods, s.ended_at
           FROM subscriptions s JOIN plans p ON p.id = s.plan_id LEFT JOIN plans n ON n.id = s.next_plan_id
           WHERE s.business_id = $1
           ORDER BY s.status IN ('trialing', 'active', 'past_due') DESC, s.id DESC
           LIMIT 1"#,
        business.0
    )
    .fetch_optional(conn)
    .await?)
}

/// The live subscription, its row locked (`FOR UPDATE`): the send gate and every change take this lock,
/// so they see each other's work in order.
pub(crate) async fn lock_live_on(conn: &mut PgConnection, business: BusinessId) -> Result<Option<Live>> {
    let Some(row) = sqlx::query!(
        r#"SELECT s.id AS "id: SubscriptionId", s.plan_id AS "plan_id: PlanId",
                  s.next_plan_id AS "next_plan_id: PlanId", p.conversation_limit
           FROM subscriptions s JOIN plans p ON p.id = s.plan_id
           WHERE s.business_id = $1 AND s.status IN ('trialing', 'active', 'past_due')
           FOR UPDATE OF s"#,
        business.0
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let subscription =
        latest_on(conn, business).await?.ok_or_else(|| Error::internal("the live subscription vanished"))?;
    Ok(Some(Live {
        id: row.id,
        plan_id: row.plan_id,
        next_plan_id: row.next_plan_id,
        conversation_limit: row.conversation_limit,
        subscription,
    }))
}

/// The business's subscription (the live one, else the one that ended last).
pub async fn subscription(pool: &PgPool, scope: &Scope) -> Result<Option<Subscription>> {
    scope.require(Area::Billing)?;
    let mut conn = pool.acquire().await?;
    latest_on(&mut conn, scope.business()).await
}

/// Subscribes a new business to the default plan (seed Billing FLOW 1). The plan's free trial, if it
/// has one, is granted once per owner e-mail: a second sign-up with the same e-mail starts paying.
pub(crate) async fn subscribe_default(
    conn: &mut PgConnection,
    business: BusinessId,
    owner_email: &str,
) -> Result<Subscription> {
    let plan = default_plan_on(conn).await?;
    let trial = plan.trial_days > 0
        && sqlx::query_scalar!(
            "INSERT INTO billing_trials (business_id, owner_email) VALUES ($1, $2)
             ON CONFLICT (lower(owner_email)) DO NOTHING RETURNING id",
            business.0,
            owner_email
        )
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
    let (status, days) = if trial {
        (SubscriptionStatus::Trialing, i64::from(plan.trial_days))
    } else {
        (SubscriptionStatus::Active, PERIOD_DAYS)
    };
    start_new(conn, business, &plan, status, Utc::now() + Duration::days(days)).await
}

/// A new live subscription (the business has none).
async fn start_new(
    conn: &mut PgConnection,
    business: BusinessId,
    plan: &Plan,
    status: SubscriptionStatus,
    renews_at: DateTime<Utc>,
) -> Result<Subscription> {
    // No job is queued for its date here: the sweep finds it then (a business is created before the
    // job queue may be installed).
    sqlx::query!(
        "INSERT INTO subscriptions (business_id, plan_id, renews_at, status) VALUES ($1, $2, $3, $4)",
        business.0,
        plan.id.0,
        renews_at,
        status as SubscriptionStatus
    )
    .execute(&mut *conn)
    .await?;
    latest_on(conn, business).await?.ok_or_else(|| Error::internal("the new subscription vanished"))
}

/// A WhatsApp Business Account connected to the business: a free trial is granted once per WABA too, so
/// a trial running on a WABA that already had one ends now (the period's rules then apply: a free plan
/// renews, a paid one needs its payment).
pub(crate) async fn trial_waba_on(conn: &mut PgConnection, business: BusinessId, waba_id: &str) -> Result<()> {
    let used_elsewhere = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM billing_trials WHERE waba_id = $2 AND business_id IS DISTINCT FROM $1) AS "used!""#,
        business.0,
        waba_id
    )
    .fetch_one(&mut *conn)
    .await?;
    if !used_elsewhere {
        sqlx::query!(
            "UPDATE billing_trials SET waba_id = $2 WHERE business_id = $1 AND waba_id IS NULL",
            business.0,
            waba_id
        )
        .execute(&mut *conn)
        .await?;
        return Ok(());
    }
    let Some(live) = lock_live_on(conn, business).await? else { return Ok(()) };
    if live.subscription.status == SubscriptionStatus::Trialing {
        let now = Utc::now();
        sqlx::query!(
            "UPDATE subscriptions SET renews_at = $3 WHERE business_id = $1 AND id = $2",
            business.0,
            live.id.0,
            now
        )
        .execute(&mut *conn)
        .await?;
        renew_on(conn, business, live.id, now).await?;
    }
    Ok(())
}

/// How a plan change takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A bigger plan: at once (seed Billing FLOW 5).
    Upgrade,
    /// A smaller plan: at the period's end, so the conversations paid for stay usable.
    Downgrade,
}

/// Moves the business to another plan: an upgrade at once, a downgrade at the period's end (chosen by
/// comparing the plans' conversation limits, then prices). A business without a live subscription
/// starts a new one, on a free plan only: a paid plan starts when the operator records its payment.
pub async fn subscribe(pool: &PgPool, scope: &Scope, plan_name: &str) -> Result<Subscription> {
    change_plan(pool, scope, plan_name, None).await
}

/// [`subscribe`] that insists on the direction (`billing upgrade` / `billing downgrade`).
pub async fn change_plan(
    pool: &PgPool,
    scope: &Scope,
    plan_name: &str,
    wanted: Option<Change>,
) -> Result<Subscription> {
    scope.require(Area::Billing)?;
    let business = scope.business();
    let mut tx = pool.begin().await?;
    let plan = plan_named_on(&mut tx, plan_name).await?;
    let Some(live) = lock_live_on(&mut tx, business).await? else {
        if !plan.price.is_zero() {
            return Err(Error::limit(
                format!(
                    "the {} plan costs {} a month, and the business has no live subscription",
                    plan.name, plan.price
                ),
                "pay, and have the installation's operator record it (billing mark-paid), or choose a free plan",
            ));
        }
        let subscription =
            start_new(&mut tx, business, &plan, SubscriptionStatus::Active, Utc::now() + Duration::days(PERIOD_DAYS))
                .await?;
        tx.commit().await?;
        return Ok(subscription);
    };
    let current = plan_on(&mut tx, live.plan_id).await?;
    let direction = if (plan.conversation_limit, plan.price) >= (current.conversation_limit, current.price) {
        Change::Upgrade
    } else {
        Change::Downgrade
    };
    if plan.id == current.id && live.subscription.next_plan.is_none() {
        return Err(Error::invalid(
            format!("the business is on the {} plan already", plan.name),
            "choose another plan (billing plans lists them)",
        ));
    }
    if let Some(wanted) = wanted
        && wanted != direction
    {
        let (asked, is) = match wanted {
            Change::Upgrade => ("an upgrade", "smaller"),
            Change::Downgrade => ("a downgrade", "bigger"),
        };
        return Err(Error::invalid(
            format!("moving from {} to {} is not {asked}: the {} plan is {is}", current.name, plan.name, plan.name),
            "upgrade to a bigger plan (at once) or downgrade to a smaller one (at the period's end)",
        ));
    }
    // An upgrade (or going back to the current plan) also drops a pending downgrade and cancellation.
    let (plan_now, next) = match direction {
        Change::Upgrade => (plan.id, None),
        Change::Downgrade => (current.id, Some(plan.id)),
    };
    sqlx::query!(
        "UPDATE subscriptions SET plan_id = $3, next_plan_id = $4, cancel_at_period_end = cancel_at_period_end AND $4::int IS NOT NULL
         WHERE business_id = $1 AND id = $2",
        business.0,
        live.id.0,
        plan_now.0,
        next.map(|p| p.0)
    )
    .execute(&mut *tx)
    .await?;
    let subscription =
        latest_on(&mut tx, business).await?.ok_or_else(|| Error::internal("the subscription vanished"))?;
    tx.commit().await?;
    Ok(subscription)
}

/// Cancels the subscription at the period's end (sends go on until then); `undo` keeps it going.
pub async fn cancel(pool: &PgPool, scope: &Scope, undo: bool) -> Result<Subscription> {
    scope.require(Area::Billing)?;
    let business = scope.business();
    let mut tx = pool.begin().await?;
    let live = lock_live_on(&mut tx, business)
        .await?
        .ok_or_else(|| Error::not_found("live subscription (it has ended already)"))?;
    sqlx::query!(
        "UPDATE subscriptions SET cancel_at_period_end = $3 WHERE business_id = $1 AND id = $2",
        business.0,
        live.id.0,
        !undo
    )
    .execute(&mut *tx)
    .await?;
    let subscription =
        latest_on(&mut tx, business).await?.ok_or_else(|| Error::internal("the subscription vanished"))?;
    tx.commit().await?;
    Ok(subscription)
}

/// Payments happen outside wacrm: recording them, and renewing by hand, are the installation
/// operator's (the system acting for a business), never a business user's.
fn require_operator(scope: &Scope, what: &str) -> Result<()> {
    match scope.actor() {
        Actor::System => Ok(()),
        Actor::User { .. } => Err(Error::Forbidden {
            message: format!("{what} is for the installation's operator, not for a user of the business"),
            hint: Some("ask the installation's operator, who records payments made outside wacrm".into()),
        }),
    }
}

/// Records that the business paid `periods` periods (the operator's, since payments happen
/// elsewhere). A past-due subscription starts its next period at once; an ended one is restarted on
/// its plan from `now`; otherwise the periods are kept for the coming renewals.
pub async fn mark_paid(pool: &PgPool, scope: &Scope, periods: i32, now: DateTime<Utc>) -> Result<Subscription> {
    require_operator(scope, "recording a payment")?;
    if !(1..=36).contains(&periods) {
        return Err(Error::invalid(format!("{periods} periods is out of range"), "record 1 to 36 periods at a time"));
    }
    let business = scope.business();
    let mut tx = pool.begin().await?;
    match lock_live_on(&mut tx, business).await? {
        Some(live) => {
            sqlx::query!(
                "UPDATE subscriptions SET prepaid_periods = prepaid_periods + $3 WHERE business_id = $1 AND id = $2",
                business.0,
                live.id.0,
                periods
            )
            .execute(&mut *tx)
            .await?;
            if live.subscription.status == SubscriptionStatus::PastDue {
                let plan = plan_on(&mut tx, live.plan_id).await?;
                let starts_at = live.subscription.renews_at.unwrap_or(now);
                start_period(&mut tx, business, live.id, &plan, starts_at, true).await?;
            }
        }
        None => restart(&mut tx, business, periods - 1, now).await?,
    }
    let subscription =
        latest_on(&mut tx, business).await?.ok_or_else(|| Error::internal("the subscription vanished"))?;
    tx.commit().await?;
    Ok(subscription)
}

/// Starts the next period now whatever was paid (the operator's: a goodwill extension, or a payment
/// handled another way); an ended subscription is restarted on its plan.
pub async fn renew_now(pool: &PgPool, scope: &Scope, now: DateTime<Utc>) -> Result<(Subscription, Renewal)> {
    require_operator(scope, "renewing a subscription by hand")?;
    let business = scope.business();
    let mut tx = pool.begin().await?;
    let renewal = match lock_live_on(&mut tx, business).await? {
        Some(live) => {
            let plan = plan_on(&mut tx, live.next_plan_id.unwrap_or(live.plan_id)).await?;
            let (starts_at, ends_at) = start_period(&mut tx, business, live.id, &plan, now, false).await?;
            Renewal::Renewed { starts_at, ends_at }
        }
        None => {
            restart(&mut tx, business, 0, now).await?;
            Renewal::Renewed { starts_at: now, ends_at: now + Duration::days(PERIOD_DAYS) }
        }
    };
    let subscription =
        latest_on(&mut tx, business).await?.ok_or_else(|| Error::internal("the subscription vanished"))?;
    tx.commit().await?;
    Ok((subscription, renewal))
}

/// A new subscription on the plan of the business's last one, its first period starting `now`.
async fn restart(conn: &mut PgConnection, business: BusinessId, prepaid: i32, now: DateTime<Utc>) -> Result<()> {
    let last = sqlx::query_scalar!(
        r#"SELECT plan_id AS "plan_id: PlanId" FROM subscriptions WHERE business_id = $1 ORDER BY id DESC LIMIT 1"#,
        business.0
    )
    .fetch_optional(&mut *conn)
    .await?;
    let plan = match last {
        Some(id) => plan_on(conn, id).await?,
        None => default_plan_on(conn).await?,
    };
    let id = sqlx::query_scalar!(
        r#"INSERT INTO subscriptions (business_id, plan_id, renews_at, status, prepaid_periods)
           VALUES ($1, $2, $3, 'active', $4) RETURNING id AS "id: SubscriptionId""#,
        business.0,
        plan.id.0,
        now,
        prepaid
    )
    .fetch_one(&mut *conn)
    .await?;
    start_period(conn, business, id, &plan, now, false).await?;
    Ok(())
}
