//! Where the business stands (seed Billing FLOW 4): plan, this month's conversations against its
//! limit, spend, days until renewal, Meta's cost; the cron check on it; and the usage alerts the send
//! gate raises at 80, 90 and 100 % of the limit.

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::subscriptions::latest_on;
use crate::analytics::usage::usage_totals_on;
use crate::auth::{Area, Scope};
use crate::error::{Error, Plain, Result};
use crate::events::Cause;
use crate::notifications::{NewNotification, notify_on};
use crate::types::{BusinessId, SubscriptionStatus};

/// The shares of the month's conversation limit at which the team is notified, once each per month.
pub const ALERT_PERCENTS: [i64; 3] = [80, 90, 100];

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub plan: String,
    pub status: SubscriptionStatus,
    /// The plan's monthly fee, apart from Meta's pass-through cost.
    pub plan_price: Decimal,
    /// The first day of the month counted (UTC, as the send gate counts).
    pub month: NaiveDate,
    pub conversations_used: i64,
    pub conversation_limit: i32,
    /// conversations_used / conversation_limit, in percent.
    pub used_percent: f64,
    /// The recorded price of this month's conversation windows (what Meta charges for them).
    pub meta_cost_this_month: Decimal,
    /// Messages Meta reported as billable this month (status webhooks' pricing).
    pub billable_messages_this_month: i64,
    /// Everything ever recorded (the seed's `SUM(cost)`).
    pub total_spend: Decimal,
    pub renews_at: Option<DateTime<Utc>>,
    /// Whole days, rounded up; 0 once the date has passed.
    pub days_until_renewal: Option<i64>,
    pub next_plan: Option<String>,
    pub cancel_at_period_end: bool,
    pub prepaid_periods: i32,
    /// Whether sends go now; if not, `blocked` says why and the way out.
    pub can_send: bool,
    pub blocked: Option<String>,
}

pub async fn status(pool: &PgPool, scope: &Scope) -> Result<Status> {
    status_at(pool, scope, Utc::now()).await
}

/// [`status`] at `now`.
pub async fn status_at(pool: &PgPool, scope: &Scope, now: DateTime<Utc>) -> Result<Status> {
    scope.require(Area::Billing)?;
    let business = scope.business();
    let mut conn = pool.acquire().await?;
    let subscription = latest_on(&mut conn, business).await?.ok_or_else(|| Error::not_found("subscription"))?;
    let (month_start, month_end) = month_around(now);
    let totals = usage_totals_on(&mut conn, business, month_start, month_end).await?;
    let billable = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM message_pricing
           WHERE business_id = $1 AND recorded_at >= $2 AND recorded_at < $3 AND billable"#,
        business.0,
        month_start,
        month_end
    )
    .fetch_one(&mut *conn)
    .await?;
    let entitlement = subscription.entitlement(now);
    let limit = subscription.conversation_limit;
    Ok(Status {
        plan: subscription.plan.clone(),
        status: subscription.status,
        plan_price: subscription.price,
        month: month_start.date_naive(),
        conversations_used: totals.conversations,
        conversation_limit: limit,
        used_percent: percent(totals.conversations, limit),
        meta_cost_this_month: totals.cost,
        billable_messages_this_month: billable,
        total_spend: totals.total_spend,
        renews_at: subscription.renews_at.filter(|_| subscription.is_live()),
        days_until_renewal: subscription
            .renews_at
            .filter(|_| subscription.is_live())
            .map(|r| ((r - now).num_seconds().max(0) + 86_399) / 86_400),
        next_plan: subscription.next_plan.clone(),
        cancel_at_period_end: subscription.cancel_at_period_end,
        prepaid_periods: subscription.prepaid_periods,
        can_send: entitlement.is_ok(),
        blocked: entitlement.err().map(|e| match e.hint_in(&Plain) {
            Some(hint) => format!("{e}: {hint}"),
            None => e.to_string(),
        }),
    })
}

fn percent(used: i64, limit: i32) -> f64 {
    if limit <= 0 { 100.0 } else { (used as f64 * 10_000.0 / f64::from(limit)).round() / 100.0 }
}

/// The UTC month containing `now`: its first instant and the next month's.
pub(super) fn month_around(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let first = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).unwrap_or(now.date_naive());
    let next = first.checked_add_months(Months::new(1)).unwrap_or(first);
    let start = |d: NaiveDate| Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN));
    (start(first), start(next))
}

/// How the business stands against the cron check's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub level: Level,
    pub used_percent: f64,
    pub conversations_used: i64,
    pub conversation_limit: i32,
    pub warn_percent: f64,
    pub fail_percent: f64,
    pub status: SubscriptionStatus,
    /// What the level means, in a sentence.
    pub reason: String,
}

/// `billing check` for cron: fail when sends are blocked or usage reached `fail` %, warn from `warn` %.
pub fn check(status: &Status, warn: f64, fail: f64) -> Result<Check> {
    if !(warn.is_finite() && fail.is_finite() && 0.0 < warn && warn <= fail) {
        return Err(Error::invalid(
            format!("the thresholds warn {warn} % and fail {fail} % do not fit"),
            "give percentages above 0 with warn at most fail, e.g. warn 80 and fail 95",
        ));
    }
    let used = status.used_percent;
    let of = format!("{} of {} conversations ({used} %)", status.conversations_used, status.conversation_limit);
    let (level, reason) = match &status.blocked {
        Some(blocked) => (Level::Fail, blocked.clone()),
        None if used >= fail => (Level::Fail, format!("{of} used: at or above {fail} %")),
        None if used >= warn => (Level::Warn, format!("{of} used: at or above {warn} %")),
        None => (Level::Ok, format!("{of} used: below {warn} %")),
    };
    Ok(Check {
        level,
        used_percent: used,
        conversations_used: status.conversations_used,
        conversation_limit: status.conversation_limit,
        warn_percent: warn,
        fail_percent: fail,
        status: status.status,
        reason,
    })
}

/// Notifies the team of each alert share of the limit reached by `used` (called by the gate under the
/// subscription lock, when a send opened a conversation). The dedupe key names the month and the share,
/// so each is written once per month, however many sends pass it.
pub(super) async fn alert_usage_on(
    conn: &mut PgConnection,
    business: BusinessId,
    plan: &str,
    used: i64,
    limit: i32,
    at: DateTime<Utc>,
) -> Result<()> {
    let month = at.format("%Y-%m");
    for share in ALERT_PERCENTS.iter().filter(|&&share| used * 100 >= share * i64::from(limit)) {
        let notification = NewNotification {
            user: None,
            source: "usage_alert",
            title: format!("{share} % of this month's conversations used"),
            body: format!(
                "{used} of the {limit} conversations of the {plan} plan are used in {month}. At 100 % no new \
                 conversation can be opened until next month: upgrade to a bigger plan to go on."
            ),
            contact: None,
            dedupe_key: Some(format!("usage:{month}:{share}")),
        };
        notify_on(conn, business, &notification, Cause::default()).await?;
    }
    Ok(())
}
