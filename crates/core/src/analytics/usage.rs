//! Usage and cost (seed Analytics 6): conversation windows and their recorded price per period, this
//! month against the plan with a month-end forecast, the seed's total spend, and Meta's billable
//! messages per pricing category.

use chrono::{DateTime, Days, Months, NaiveDate, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use sqlx::PgPool;

use crate::analytics::range::{Range, Timezone, series};
use crate::analytics::{ratio, read};
use crate::auth::{Area, Scope};
use crate::billing;
use crate::error::Result;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UsagePeriod {
    pub period: NaiveDate,
    /// Conversation windows opened.
    pub conversations: i64,
    /// Their recorded price.
    pub cost: Decimal,
}

/// The current local month against the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Month {
    /// Its first day.
    pub month: NaiveDate,
    pub conversations: i64,
    pub cost: Decimal,
    pub plan: Option<String>,
    pub conversation_limit: Option<i32>,
    /// conversations / limit.
    pub used: Option<f64>,
    /// Conversations by the month's end at the pace so far (linear in elapsed time).
    pub forecast_conversations: i64,
    pub forecast_cost: Decimal,
}

/// Messages Meta reported a price for, per pricing category (from status webhooks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategoryCount {
    pub category: String,
    pub billable: i64,
    pub free: i64,
}

/// This month against the plan and the total spend: the usage report's part that does not depend on
/// the range (the one-screen summary's figures).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageHeadline {
    pub this_month: Month,
    /// Everything ever recorded: the seed's `SUM(cost)`.
    pub total_spend: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct UsageReport {
    pub range: Range,
    pub conversations: i64,
    pub cost: Decimal,
    pub periods: Vec<UsagePeriod>,
    #[serde(flatten)]
    pub headline: UsageHeadline,
    /// Meta's pricing of messages recorded in the range.
    pub categories: Vec<CategoryCount>,
}

pub async fn report(pool: &PgPool, scope: &Scope, range: &Range) -> Result<UsageReport> {
    report_at(pool, scope, range, Utc::now()).await
}

/// [`report`] with "now" given, for this month and its forecast.
pub async fn report_at(pool: &PgPool, scope: &Scope, range: &Range, now: DateTime<Utc>) -> Result<UsageReport> {
    scope.require(Area::Analytics)?;
    let business = scope.business().0;
    // Independent reads, each on its own connection of the pool.
    let rows = read(
        sqlx::query!(
            r#"SELECT bucket, sum(conversations)::bigint AS "conversations!", sum(cost) AS "cost!"
           FROM analytics_usage_counts
           WHERE business_id = $1 AND bucket >= $2 AND bucket < $3
           GROUP BY 1"#,
            business,
            range.start,
            range.end
        )
        .fetch_all(pool),
    );
    let categories = read(
        sqlx::query_as!(
            CategoryCount,
            r#"SELECT coalesce(category, 'unknown') AS "category!",
                  count(*) FILTER (WHERE billable) AS "billable!",
                  count(*) FILTER (WHERE billable IS NOT TRUE) AS "free!"
           FROM message_pricing
           WHERE business_id = $1 AND recorded_at >= $2 AND recorded_at < $3
           GROUP BY 1 ORDER BY 1"#,
            business,
            range.start,
            range.end
        )
        .fetch_all(pool),
    );
    let (rows, headline, categories) =
        tokio::try_join!(rows, headline_at(pool, scope, range.timezone, now), categories)?;
    let add = |p: &mut UsagePeriod, (n, cost): (i64, Decimal)| {
        p.conversations += n;
        p.cost += cost;
    };
    let periods: Vec<UsagePeriod> = series(range, rows.into_iter().map(|r| (r.bucket, (r.conversations, r.cost))), add)
        .into_iter()
        .map(|(period, p)| UsagePeriod { period, ..p })
        .collect();
    Ok(UsageReport {
        range: *range,
        conversations: periods.iter().map(|p| p.conversations).sum(),
        cost: periods.iter().map(|p| p.cost).sum(),
        periods,
        headline,
        categories,
    })
}

/// This month (local to `timezone`) against the plan, with its forecast at `now`, and the total spend.
pub async fn headline_at(
    pool: &PgPool,
    scope: &Scope,
    timezone: Timezone,
    now: DateTime<Utc>,
) -> Result<UsageHeadline> {
    scope.require(Area::Analytics)?;
    let (month_start, month_end) = month_around(timezone, now);
    let totals = async {
        let mut conn = pool.acquire().await?;
        usage_totals_on(&mut conn, scope.business(), month_start, month_end).await
    };
    let (totals, subscription) = tokio::try_join!(totals, billing::subscription(pool, scope))?;
    let UsageTotals { conversations, cost, total_spend } = totals;
    let elapsed = (now - month_start).num_seconds().max(1);
    let length = (month_end - month_start).num_seconds().max(1);
    let forecast = |n: Decimal| (n * Decimal::from(length) / Decimal::from(elapsed)).round_dp(2);
    let this_month = Month {
        month: timezone.date_of(month_start),
        conversations,
        cost,
        plan: subscription.as_ref().map(|s| s.plan.clone()),
        conversation_limit: subscription.as_ref().map(|s| s.conversation_limit),
        used: subscription.as_ref().and_then(|s| ratio(conversations, i64::from(s.conversation_limit))),
        forecast_conversations: forecast(Decimal::from(conversations)).round().to_i64().unwrap_or(i64::MAX),
        forecast_cost: forecast(cost),
    };
    Ok(UsageHeadline { this_month, total_spend })
}

/// The local month containing `now`: its first instant and the next month's.
fn month_around(timezone: Timezone, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let first = crate::analytics::Granularity::Month.period_of(timezone.today(now));
    let next = first.checked_add_months(Months::new(1)).unwrap_or_else(|| first + Days::new(31));
    (timezone.start_of_day(first), timezone.start_of_day(next))
}

/// Conversation windows and their recorded price from `from` to `to`, and the business's total spend,
/// from the rollups (billing's status reads these; a few thousand rows even on a large tenant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageTotals {
    pub conversations: i64,
    pub cost: Decimal,
    pub total_spend: Decimal,
}

pub async fn usage_totals_on(
    conn: &mut sqlx::PgConnection,
    business: crate::types::BusinessId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<UsageTotals> {
    Ok(sqlx::query_as!(
        UsageTotals,
        r#"SELECT coalesce(sum(conversations) FILTER (WHERE bucket >= $2 AND bucket < $3), 0)::bigint AS "conversations!",
                  coalesce(sum(cost) FILTER (WHERE bucket >= $2 AND bucket < $3), 0) AS "cost!",
                  coalesce(sum(cost), 0) AS "total_spend!"
           FROM analytics_usage_counts WHERE business_id = $1"#,
        business.0,
        from,
        to
    )
    .fetch_one(conn)
    .await?)
}
