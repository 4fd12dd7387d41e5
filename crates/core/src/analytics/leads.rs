//! Lead growth (seed Analytics 1): new leads per period and by source, and leads active in the last
//! 7 days.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::analytics::range::{Range, series};
use crate::analytics::read;
use crate::auth::{Area, Scope};
use crate::error::Result;

/// New leads in one period, by source: their first WhatsApp message (inbound), a CSV import, or typed
/// in by the team (manual).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LeadsPeriod {
    pub period: NaiveDate,
    pub new: i64,
    pub inbound: i64,
    pub import: i64,
    pub manual: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LeadsReport {
    pub range: Range,
    /// Leads created in the range.
    pub new: i64,
    pub inbound: i64,
    pub import: i64,
    pub manual: i64,
    /// Leads active (a message from them) in the 7 days before now.
    pub active_7_days: i64,
    /// All leads of the business now.
    pub total: i64,
    pub periods: Vec<LeadsPeriod>,
}

pub async fn report(pool: &PgPool, scope: &Scope, range: &Range) -> Result<LeadsReport> {
    report_at(pool, scope, range, Utc::now()).await
}

/// [`report`] with "now" given, for the 7-day window.
pub async fn report_at(pool: &PgPool, scope: &Scope, range: &Range, now: DateTime<Utc>) -> Result<LeadsReport> {
    scope.require(Area::Analytics)?;
    let business = scope.business().0;
    // Per 15-minute bucket and source: an index-only scan of the range's new contacts; at the same time,
    // on another connection, the counts below.
    let rows = read(
        sqlx::query!(
            r#"SELECT wacrm_bucket(created_at) AS "bucket!", source, count(*) AS "n!"
           FROM contacts
           WHERE business_id = $1 AND created_at >= $2 AND created_at < $3
           GROUP BY 1, 2"#,
            business,
            range.start,
            range.end
        )
        .fetch_all(pool),
    );
    // Active: an index-only scan of the week's active contacts (idx_analytics_contacts_last_active,
    // migration 0061); total: the stage counts' rollup (0087), which counts every contact once.
    let counts = read(
        sqlx::query!(
            r#"SELECT (SELECT count(*) FROM contacts WHERE business_id = $1 AND last_active >= $2) AS "active!",
                  (SELECT coalesce(sum(contacts), 0)::bigint FROM analytics_stage_counts WHERE business_id = $1)
                      AS "total!""#,
            business,
            now - Duration::days(7)
        )
        .fetch_one(pool),
    );
    let (rows, counts) = tokio::try_join!(rows, counts)?;
    let periods = series(
        range,
        rows.into_iter().map(|r| (r.bucket, (r.source, r.n))),
        |p: &mut LeadsPeriod, (source, n): (String, i64)| {
            p.new += n;
            match source.as_str() {
                "inbound" => p.inbound += n,
                "import" => p.import += n,
                _ => p.manual += n,
            }
        },
    );
    let periods: Vec<LeadsPeriod> =
        periods.into_iter().map(|(period, p)| LeadsPeriod { period, ..p }).collect::<Vec<_>>();
    let sum = |f: fn(&LeadsPeriod) -> i64| periods.iter().map(f).sum::<i64>();
    Ok(LeadsReport {
        range: *range,
        new: sum(|p| p.new),
        inbound: sum(|p| p.inbound),
        import: sum(|p| p.import),
        manual: sum(|p| p.manual),
        active_7_days: counts.active,
        total: counts.total,
        periods,
    })
}
