//! What the pipeline looks like: the board and its columns, stage counts, history, metrics and stuck
//! contacts. Read-only: callers may pass the read pool.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::auth::{Area, Scope};
use crate::contacts::{self, Contact, ContactFilter, Page, Sort};
use crate::error::{Error, Result};
use crate::listing;
use crate::types::{ContactId, MAX_LISTED_ROWS, Stage, UserId};

/// One board column.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub stage: Stage,
    /// Contacts in the stage (all of them, not just this page).
    pub count: i64,
    /// Most recently active first.
    pub contacts: Vec<Contact>,
    /// Cursor of the column's next page (see [`column`]).
    pub next: Option<String>,
}

/// The board (seed Pipeline FLOW 1): the five stages in order, each with its count and first page.
pub async fn board(pool: &PgPool, scope: &Scope, per_column: i64) -> Result<Vec<Column>> {
    let counts = stage_counts(pool, scope).await?;
    let mut columns = Vec::with_capacity(counts.len());
    for StageCount { stage, count } in counts {
        let page = column(pool, scope, stage, None, per_column).await?;
        columns.push(Column { stage, count, contacts: page.items, next: page.next });
    }
    Ok(columns)
}

/// A further page of one board column, `after` being the column's `next`.
pub async fn column(
    pool: &PgPool,
    scope: &Scope,
    stage: Stage,
    after: Option<&str>,
    limit: i64,
) -> Result<Page<Contact>> {
    scope.require(Area::Pipeline)?;
    let filter = ContactFilter { stage: Some(stage), ..ContactFilter::default() };
    contacts::list(pool, scope, &filter, Sort::Active, after, limit).await
}

/// How many contacts are in a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StageCount {
    pub stage: Stage,
    pub count: i64,
}

/// Leads per stage (seed Pipeline FLOW 3), every stage listed, in pipeline order.
pub async fn stage_counts(pool: &PgPool, scope: &Scope) -> Result<Vec<StageCount>> {
    scope.require(Area::Pipeline)?;
    Ok(sqlx::query_as!(
        StageCount,
        r#"SELECT s.stage AS "stage!: Stage", count(c.id) AS "count!"
           FROM unnest(enum_range(NULL::pipeline_stage)) AS s(stage)
           LEFT JOIN contacts c ON c.business_id = $1 AND coalesce(c.stage, 'New') = s.stage
           GROUP BY s.stage ORDER BY s.stage"#,
        scope.business().0
    )
    .fetch_all(pool)
    .await?)
}

/// A row of the pipeline history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub id: i32,
    pub contact: ContactId,
    pub contact_name: Option<String>,
    pub from: Option<Stage>,
    pub to: Option<Stage>,
    pub changed_at: Option<DateTime<Utc>>,
    /// manual, bulk, keyword, import or automation.
    pub source: String,
    pub user_id: Option<UserId>,
}

/// Stage changes, newest first: one contact's, or the whole business's.
pub async fn history(
    pool: &PgPool,
    scope: &Scope,
    contact: Option<ContactId>,
    limit: i64,
) -> Result<Vec<HistoryEntry>> {
    scope.require(Area::Pipeline)?;
    if let Some(id) = contact {
        contacts::get(pool, scope, id).await?;
    }
    Ok(sqlx::query_as!(
        HistoryEntry,
        r#"SELECT h.id, h.contact_id AS "contact: ContactId", c.name AS contact_name,
                  h.from_stage AS "from: Stage", h.to_stage AS "to: Stage", h.changed_at, h.source,
                  h.user_id AS "user_id: UserId"
           FROM pipeline_history h
           JOIN contacts c ON c.business_id = h.business_id AND c.id = h.contact_id
           WHERE h.business_id = $1 AND ($2::int IS NULL OR h.contact_id = $2)
           ORDER BY h.id DESC LIMIT $3"#,
        scope.business().0,
        contact.map(|c| c.0),
        listing::limit(limit, MAX_LISTED_ROWS)?
    )
    .fetch_all(pool)
    .await?)
}

/// Contacts who reached a stage of the New → Engaged → Interested → Paid ladder (or a later one).
#[derive(Debug, Clone, Serialize)]
pub struct FunnelStep {
    pub stage: Stage,
    pub reached: i64,
    /// Share of the previous step's contacts that got this far.
    pub from_previous: Option<f64>,
}

/// How long contacts stayed in a stage before leaving it, in hours.
#[derive(Debug, Clone, Serialize)]
pub struct StageTime {
    pub stage: Stage,
    /// Completed stays measured.
    pub stays: i64,
    pub median_hours: Option<f64>,
    pub p90_hours: Option<f64>,
}

/// Pipeline metrics (seed Pipeline FLOWS 3-4).
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    pub contacts: i64,
    pub per_stage: Vec<StageCount>,
    pub funnel: Vec<FunnelStep>,
    /// Paid / all contacts.
    pub win_rate: Option<f64>,
    pub time_in_stage: Vec<StageTime>,
}

pub async fn metrics(pool: &PgPool, scope: &Scope) -> Result<Metrics> {
    let per_stage = stage_counts(pool, scope).await?;
    let business = scope.business().0;
    let contacts: i64 = per_stage.iter().map(|s| s.count).sum();
    let paid = per_stage.iter().find(|s| s.stage == Stage::Paid).map_or(0, |s| s.count);
    // A contact reached every ladder stage up to the furthest one it was ever in.
    let furthest = sqlx::query!(
        r#"WITH visited AS (
               SELECT id AS contact_id, coalesce(stage, 'New') AS stage FROM contacts WHERE business_id = $1
               UNION ALL SELECT contact_id, from_stage FROM pipeline_history WHERE business_id = $1
               UNION ALL SELECT contact_id, to_stage FROM pipeline_history WHERE business_id = $1
           ), furthest AS (
               SELECT v.contact_id, coalesce(max(v.stage) FILTER (WHERE v.stage <> 'Lost'), 'New') AS stage
               FROM visited v JOIN contacts c ON c.business_id = $1 AND c.id = v.contact_id
               GROUP BY v.contact_id
           )
           SELECT s.stage AS "stage!: Stage", count(f.contact_id) AS "reached!"
           FROM unnest(enum_range(NULL::pipeline_stage, 'Paid')) AS s(stage)
           LEFT JOIN furthest f ON f.stage >= s.stage
           GROUP BY s.stage ORDER BY s.stage"#,
        business
    )
    .fetch_all(pool)
    .await?;
    let mut funnel: Vec<FunnelStep> = Vec::with_capacity(furthest.len());
    for step in furthest {
        let from_previous = funnel.last().map(|p: &FunnelStep| ratio(step.reached, p.reached)).unwrap_or(None);
        funnel.push(FunnelStep { stage: step.stage, reached: step.reached, from_previous });
    }
    // Each history row ends a stay in its from_stage, which began at the contact's previous change in
    // time (ids only break ties: rows written out of order must not measure a stay backwards) or, for
    // the first, at its creation.
    let time_in_stage = sqlx::query_as!(
        StageTime,
        r#"WITH stays AS (
               SELECT h.from_stage AS stage,
                      extract(epoch FROM h.changed_at - coalesce(
                          lag(h.changed_at) OVER (PARTITION BY h.contact_id ORDER BY h.changed_at, h.id),
                          c.created_at)) / 3600.0
                          AS hours
               FROM pipeline_history h JOIN contacts c ON c.business_id = h.business_id AND c.id = h.contact_id
               WHERE h.business_id = $1
           )
           SELECT s.stage AS "stage!: Stage", count(t.hours) AS "stays!",
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY t.hours::float8) AS median_hours,
                  percentile_cont(0.9) WITHIN GROUP (ORDER BY t.hours::float8) AS p90_hours
           FROM unnest(enum_range(NULL::pipeline_stage)) AS s(stage)
           LEFT JOIN stays t ON t.stage = s.stage AND t.hours IS NOT NULL
           GROUP BY s.stage ORDER BY s.stage"#,
        business
    )
    .fetch_all(pool)
    .await?;
    Ok(Metrics { contacts, per_stage, funnel, win_rate: ratio(paid, contacts), time_in_stage })
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// A contact that has sat in its stage too long.
#[derive(Debug, Clone, Serialize)]
pub struct StuckContact {
    pub id: ContactId,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub stage: Stage,
    pub since: DateTime<Utc>,
    pub days: f64,
}

/// The furthest back [`stuck`] looks: beyond it the cut-off would precede any date a contact can have.
pub const MAX_STUCK_DAYS: u32 = 36_500;

/// Contacts in their current stage for more than `days` days, longest first (seed Pipeline FLOW 4's
/// bottlenecks). Without `stage`, the open stages only: Paid and Lost are where leads are meant to stay.
pub async fn stuck(
    pool: &PgPool,
    scope: &Scope,
    days: u32,
    stage: Option<Stage>,
    limit: i64,
) -> Result<Vec<StuckContact>> {
    scope.require(Area::Pipeline)?;
    if days > MAX_STUCK_DAYS {
        return Err(Error::invalid(
            format!("a stuck time of {days} days reaches back further than wacrm keeps history for"),
            format!("pass at most {MAX_STUCK_DAYS} days (100 years)"),
        ));
    }
    Ok(sqlx::query_as!(
        StuckContact,
        r#"SELECT c.id AS "id: ContactId", c.name, c.phone, coalesce(c.stage, 'New') AS "stage!: Stage",
                  e.since AS "since!", extract(epoch FROM NOW() - e.since)::float8 / 86400 AS "days!"
           FROM contacts c
           CROSS JOIN LATERAL (
               SELECT coalesce((SELECT max(h.changed_at) FROM pipeline_history h
                                WHERE h.business_id = $1 AND h.contact_id = c.id),
                               c.created_at, NOW()) AS since
           ) e
           WHERE c.business_id = $1
             AND (CASE WHEN $2::pipeline_stage IS NULL THEN coalesce(c.stage, 'New') NOT IN ('Paid', 'Lost')
                       ELSE c.stage = $2 END)
             AND e.since < NOW() - make_interval(days => $3)
           ORDER BY e.since, c.id LIMIT $4"#,
        scope.business().0,
        stage as Option<Stage>,
        days as i32,
        listing::limit(limit, MAX_LISTED_ROWS)?
    )
    .fetch_all(pool)
    .await?)
}
