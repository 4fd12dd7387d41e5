//! Pipeline performance (seed Analytics 2 and Pipeline FLOWS 3-4): leads per stage, the funnel of a
//! range, win rate, time in stage and stuck leads, now or as of any past instant, rebuilt from
//! pipeline_history; the funnel and time in stage from its per-day rollups ([`pipeline_days`]).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::analytics::range::Range;
use crate::analytics::{pipeline_days, ratio, read};
use crate::auth::{Area, Scope};
use crate::error::{Error, Result};
use crate::pipeline::{FunnelStep, StageTime};
use crate::types::Stage;

/// Leads are stuck after this many days in an open stage (New, Engaged, Interested) unless told otherwise.
pub const DEFAULT_STUCK_DAYS: u32 = 14;

/// A stage as of the report's instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StageState {
    pub stage: Stage,
    pub contacts: i64,
    /// Of those, in this open stage for more than the stuck threshold (always 0 for Paid and Lost).
    pub stuck: i64,
}

/// The pipeline's state and the range's funnel: the pipeline report without time in stage (the
/// one-screen summary's figures).
#[derive(Debug, Clone, Serialize)]
pub struct PipelineHeadline {
    /// The instant the stage counts, win rate and stuck leads describe.
    pub as_of: DateTime<Utc>,
    pub stuck_days: u32,
    pub leads: i64,
    pub per_stage: Vec<StageState>,
    /// Paid / leads, as of `as_of`.
    pub win_rate: Option<f64>,
    /// Distinct contacts that reached each ladder stage in the range (a move into it or a later one;
    /// New: created or moved in the range), with the share of the previous step.
    pub funnel: Vec<FunnelStep>,
    /// Distinct contacts moved to Lost in the range.
    pub lost: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PipelineReport {
    pub range: Range,
    #[serde(flatten)]
    pub headline: PipelineHeadline,
    /// Stays in each stage that ended in the range, in hours.
    pub time_in_stage: Vec<StageTime>,
}

/// The report for `range`; the stage counts as of `as_of` (now when not given), which must not be in
/// the future.
pub async fn report(
    pool: &PgPool,
    scope: &Scope,
    range: &Range,
    as_of: Option<DateTime<Utc>>,
    stuck_days: u32,
) -> Result<PipelineReport> {
    scope.require(Area::Analytics)?;
    let (headline, time_in_stage) = tokio::try_join!(
        headline(pool, scope, range, as_of, stuck_days),
        pipeline_days::time_in_stage(pool, scope.business().0, range)
    )?;
    Ok(PipelineReport { range: *range, headline, time_in_stage })
}

/// The report's stage counts (as of `as_of`, now when not given), win rate, stuck leads and funnel.
pub async fn headline(
    pool: &PgPool,
    scope: &Scope,
    range: &Range,
    as_of: Option<DateTime<Utc>>,
    stuck_days: u32,
) -> Result<PipelineHeadline> {
    scope.require(Area::Analytics)?;
    let now = Utc::now();
    let as_of_given = as_of;
    let as_of = as_of.unwrap_or(now);
    if as_of > now {
        return Err(Error::invalid(
            format!("the as-of date {as_of} is in the future"),
            "give today or an earlier date (leave it out for now)",
        ));
    }
    if stuck_days > crate::pipeline::MAX_STUCK_DAYS {
        return Err(Error::invalid(
            format!("a stuck time of {stuck_days} days is more than {} days", crate::pipeline::MAX_STUCK_DAYS),
            "pass a number of days such as 14",
        ));
    }
    let business = scope.business().0;
    // Independent reads, each on its own connection of the pool.
    let stages = async {
        match as_of_given {
            Some(at) => stages_as_of(pool, business, at, stuck_days).await,
            None => stages_now(pool, scope, now, stuck_days).await,
        }
    };
    let (per_stage, funnel) = tokio::try_join!(stages, funnel(pool, scope, range))?;
    let leads: i64 = per_stage.iter().map(|s| s.contacts).sum();
    let paid = per_stage.iter().find(|s| s.stage == Stage::Paid).map_or(0, |s| s.contacts);
    Ok(PipelineHeadline {
        as_of,
        stuck_days,
        leads,
        per_stage,
        win_rate: ratio(paid, leads),
        funnel: funnel.steps,
        lost: funnel.lost,
    })
}

/// The funnel of a range: the distinct contacts that reached each ladder stage, and those lost.
#[derive(Debug, Clone, Serialize)]
pub struct Funnel {
    pub steps: Vec<FunnelStep>,
    pub lost: i64,
}

/// Distinct contacts that reached each ladder stage in the range (a move into it or a later one; New:
/// created or moved in the range), and those moved to Lost: the seed's funnel figure, over a range,
/// from the per-day funnel rollup (migration 0095, [`pipeline_days`]).
pub async fn funnel(pool: &PgPool, scope: &Scope, range: &Range) -> Result<Funnel> {
    scope.require(Area::Analytics)?;
    let reached = pipeline_days::reached(pool, scope.business().0, range).await?;
    let mut steps: Vec<FunnelStep> = Vec::with_capacity(4);
    for (stage, count) in [
        (Stage::New, reached.new),
        (Stage::Engaged, reached.engaged),
        (Stage::Interested, reached.interested),
        (Stage::Paid, reached.paid),
    ] {
        let from_previous = steps.last().and_then(|p| ratio(count, p.reached));
        steps.push(FunnelStep { stage, reached: count, from_previous });
    }
    Ok(Funnel { steps, lost: reached.lost })
}

/// Leads per stage now, every stage listed (zeros included): the seed's `SELECT stage, COUNT(*) FROM
/// contacts GROUP BY stage`, summed from the rollup kept with the contacts (migration 0087).
pub async fn leads_per_stage(pool: &PgPool, scope: &Scope) -> Result<Vec<(Stage, i64)>> {
    scope.require(Area::Analytics)?;
    let rows = sqlx::query!(
        r#"SELECT s.stage AS "stage!: Stage", coalesce(sum(r.contacts), 0)::bigint AS "contacts!"
           FROM unnest(enum_range(NULL::pipeline_stage)) AS s(stage)
           LEFT JOIN analytics_stage_counts r ON r.business_id = $1 AND r.stage = s.stage
           GROUP BY s.stage ORDER BY s.stage"#,
        scope.business().0
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.stage, r.contacts)).collect())
}

/// Each stage's contacts now ([`leads_per_stage`]), and those in an open stage with no change since the
/// stuck cut-off and created before it: the stage's contacts less those created since the cut-off (or
/// never dated; an index-only scan of a few days' contacts) and less those created before it but
/// changed since (the few contacts with a recent change, looked up by key: an array, so the planner
/// does not scan every contact to hash-join them; only those whose change says they were created
/// before the cut-off, migration 0095: on the large tenant 3,250 recently changed contacts, all newer).
async fn stages_now(pool: &PgPool, scope: &Scope, now: DateTime<Utc>, stuck_days: u32) -> Result<Vec<StageState>> {
    let cutoff = now - chrono::Duration::days(i64::from(stuck_days));
    let not_stuck = read(
        sqlx::query!(
            r#"SELECT coalesce(stage, 'New') AS "stage!: Stage", count(*) AS "n!" FROM (
                   SELECT stage FROM contacts WHERE business_id = $1 AND created_at >= $2
                   UNION ALL
                   SELECT stage FROM contacts WHERE business_id = $1 AND created_at IS NULL
                   UNION ALL
                   SELECT c.stage FROM contacts c
                   WHERE c.business_id = $1 AND c.created_at < $2
                     AND c.id = ANY (ARRAY(SELECT DISTINCT contact_id FROM pipeline_history
                                           WHERE business_id = $1 AND changed_at >= $2 AND contact_created_at < $2))
               ) recent
               GROUP BY 1"#,
            scope.business().0,
            cutoff
        )
        .fetch_all(pool),
    );
    let (counts, not_stuck) = tokio::try_join!(leads_per_stage(pool, scope), not_stuck)?;
    Ok(counts
        .into_iter()
        .map(|(stage, contacts)| {
            let recent = not_stuck.iter().find(|r| r.stage == stage).map_or(0, |r| r.n);
            let open = !matches!(stage, Stage::Paid | Stage::Lost);
            StageState { stage, contacts, stuck: if open { contacts - recent } else { 0 } }
        })
        .collect())
}

/// Each contact's stage at `as_of`: where its last change up to then took it; with no change by then,
/// where its first later change took it from; with none at all, where it is now. It has been there
/// since that change, or since it was created.
async fn stages_as_of(pool: &PgPool, business: i32, as_of: DateTime<Utc>, stuck_days: u32) -> Result<Vec<StageState>> {
    Ok(sqlx::query_as!(
        StageState,
        r#"WITH last AS (
               SELECT DISTINCT ON (contact_id) contact_id, to_stage, changed_at
               FROM pipeline_history WHERE business_id = $1 AND changed_at <= $2
               ORDER BY contact_id, changed_at DESC, id DESC
           ), first_after AS (
               SELECT DISTINCT ON (contact_id) contact_id, from_stage
               FROM pipeline_history WHERE business_id = $1 AND changed_at > $2
               ORDER BY contact_id, changed_at, id
           ), state AS (
               SELECT coalesce(l.to_stage, f.from_stage, c.stage, 'New') AS stage,
                      coalesce(l.changed_at, c.created_at) AS since
               FROM contacts c
               LEFT JOIN last l ON l.contact_id = c.id
               LEFT JOIN first_after f ON f.contact_id = c.id
               WHERE c.business_id = $1 AND coalesce(c.created_at, '-infinity') <= $2
           )
           SELECT s.stage AS "stage!: Stage", count(t.stage) AS "contacts!",
                  count(t.stage) FILTER (WHERE s.stage NOT IN ('Paid', 'Lost')
                                           AND t.since < $2 - make_interval(days => $3)) AS "stuck!"
           FROM unnest(enum_range(NULL::pipeline_stage)) AS s(stage)
           LEFT JOIN state t ON t.stage = s.stage
           GROUP BY s.stage ORDER BY s.stage"#,
        business,
        as_of,
        stuck_days as i32
    )
    .fetch_all(pool)
    .await?)
}
