//! Lead growth (seed Analytics 1): new leads per period and by source, and leads active in the last
//! 7 days. New leads are summed from their rollup (migration 0088), which this module also verifies,
//! rebuilds and compacts.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::analytics::range::{Range, series};
use crate::analytics::read;
use crate::analytics::verify::Difference;
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

/// The range's new leads by source, and the business's active and total leads: the leads report
/// without its periods (the one-screen summary's figures).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LeadTotals {
    /// Leads created in the range.
    pub new: i64,
    pub inbound: i64,
    pub import: i64,
    pub manual: i64,
    /// Leads active (a message from them) in the 7 days before now.
    pub active_7_days: i64,
    /// All leads of the business now.
    pub total: i64,
}

impl LeadTotals {
    fn add(&mut self, source: &str, n: i64) {
        self.new += n;
        match source {
            "inbound" => self.inbound += n,
            "import" => self.import += n,
            _ => self.manual += n,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LeadsReport {
    pub range: Range,
    #[serde(flatten)]
    pub totals: LeadTotals,
    pub periods: Vec<LeadsPeriod>,
}

pub async fn report(pool: &PgPool, scope: &Scope, range: &Range) -> Result<LeadsReport> {
    report_at(pool, scope, range, Utc::now()).await
}

/// [`report`] with "now" given, for the 7-day window.
pub async fn report_at(pool: &PgPool, scope: &Scope, range: &Range, now: DateTime<Utc>) -> Result<LeadsReport> {
    scope.require(Area::Analytics)?;
    let business = scope.business().0;
    // Per 15-minute bucket and source, from the rollup kept with the contacts (migration 0088); at the
    // same time, on another connection, the active and total leads.
    let rows = read(
        sqlx::query!(
            r#"SELECT bucket, source, sum(contacts)::bigint AS "n!"
           FROM analytics_lead_counts
           WHERE business_id = $1 AND bucket >= $2 AND bucket < $3
           GROUP BY 1, 2 HAVING sum(contacts) <> 0"#,
            business,
            range.start,
            range.end
        )
        .fetch_all(pool),
    );
    let (rows, mut totals) = tokio::try_join!(rows, active_and_total(pool, business, now))?;
    for row in &rows {
        totals.add(&row.source, row.n);
    }
    let add = |p: &mut LeadTotals, (source, n): (String, i64)| p.add(&source, n);
    let periods = series(range, rows.into_iter().map(|r| (r.bucket, (r.source, r.n))), add)
        .into_iter()
        .map(|(period, p)| LeadsPeriod { period, new: p.new, inbound: p.inbound, import: p.import, manual: p.manual })
        .collect();
    Ok(LeadsReport { range: *range, totals, periods })
}

/// The range's new leads by source (summed over the range in one statement), and the active and total
/// leads.
pub async fn totals(pool: &PgPool, scope: &Scope, range: &Range) -> Result<LeadTotals> {
    scope.require(Area::Analytics)?;
    let business = scope.business().0;
    let sources = read(
        sqlx::query!(
            r#"SELECT source, sum(contacts)::bigint AS "n!" FROM analytics_lead_counts
               WHERE business_id = $1 AND bucket >= $2 AND bucket < $3 GROUP BY 1"#,
            business,
            range.start,
            range.end
        )
        .fetch_all(pool),
    );
    let (sources, mut totals) = tokio::try_join!(sources, active_and_total(pool, business, Utc::now()))?;
    for row in sources {
        totals.add(&row.source, row.n);
    }
    Ok(totals)
}

/// Only the active and total leads: active from an index-only scan of the week's active contacts
/// (idx_analytics_contacts_last_active, migration 0061); total from the stage counts' rollup (0087),
/// which counts every contact once.
async fn active_and_total(pool: &PgPool, business: i32, now: DateTime<Utc>) -> Result<LeadTotals> {
    let counts = read(
        sqlx::query!(
            r#"SELECT (SELECT count(*) FROM contacts WHERE business_id = $1 AND last_active >= $2) AS "active!",
                  (SELECT coalesce(sum(contacts), 0)::bigint FROM analytics_stage_counts WHERE business_id = $1)
                      AS "total!""#,
            business,
            now - Duration::days(7)
        )
        .fetch_one(pool),
    )
    .await?;
    Ok(LeadTotals { active_7_days: counts.active, total: counts.total, ..LeadTotals::default() })
}

/// The buckets whose lead counts (`analytics_lead_counts`) differ from the business's contacts, and how
/// many buckets were compared (`wacrm analytics verify`).
pub(super) async fn count_differences(pool: &PgPool, business: i32) -> Result<(i64, Vec<Difference>)> {
    let rows = sqlx::query!(
        r#"WITH raw AS (
               SELECT wacrm_bucket(created_at) AS bucket, source, count(*)::numeric AS n
               FROM contacts WHERE business_id = $1 AND created_at IS NOT NULL GROUP BY 1, 2
           ), rollup AS (
               SELECT bucket, source, sum(contacts)::numeric AS n
               FROM analytics_lead_counts WHERE business_id = $1 GROUP BY 1, 2
           )
           SELECT coalesce(raw.bucket, rollup.bucket) AS "bucket!",
                  'leads ' || coalesce(raw.source, rollup.source) AS "figure!",
                  coalesce(raw.n, 0) AS "raw!", coalesce(rollup.n, 0) AS "rollup!"
           FROM raw FULL JOIN rollup ON rollup.bucket = raw.bucket AND rollup.source = raw.source
           WHERE coalesce(raw.n, 0) <> 0 OR coalesce(rollup.n, 0) <> 0"#,
        business
    )
    .fetch_all(pool)
    .await?;
    let compared = rows.len() as i64;
    let differences = rows
        .into_iter()
        .filter(|r| r.raw != r.rollup)
        .map(|r| Difference { figure: r.figure, bucket: r.bucket, raw: r.raw, rollup: r.rollup })
        .collect();
    Ok((compared, differences))
}

/// Replaces the business's lead counts with the counts of its contacts.
pub(super) async fn rebuild_counts_on(conn: &mut PgConnection, business: i32) -> Result<()> {
    sqlx::query!(
        r#"WITH gone AS (DELETE FROM analytics_lead_counts WHERE business_id = $1)
           INSERT INTO analytics_lead_counts (business_id, bucket, source, contacts)
           SELECT business_id, wacrm_bucket(created_at), source, count(*)
           FROM contacts WHERE business_id = $1 AND created_at IS NOT NULL GROUP BY 1, 2, 3"#,
        business
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Folds the business's lead-count deltas into one row per bucket and source; returns the rows before
/// and after.
pub(super) async fn compact_counts_on(conn: &mut PgConnection, business: i32) -> Result<(i64, i64)> {
    let rows = sqlx::query!(
        r#"WITH gone AS (DELETE FROM analytics_lead_counts WHERE business_id = $1 RETURNING *),
                kept AS (
                    INSERT INTO analytics_lead_counts (business_id, bucket, source, contacts)
                    SELECT business_id, bucket, source, sum(contacts) FROM gone
                    GROUP BY 1, 2, 3 HAVING sum(contacts) <> 0
                    RETURNING 1
                )
           SELECT (SELECT count(*) FROM gone) AS "before!", (SELECT count(*) FROM kept) AS "after!""#,
        business
    )
    .fetch_one(conn)
    .await?;
    Ok((rows.before, rows.after))
}
