//! The pipeline report's funnel and time in stage over any range without reading its every stage
//! change: per-UTC-day rollups of facts stored on each change (migration 0095) answer the range's whole
//! UTC days, the partial days at its ends are read from the changes. Exact: the same figures as
//! counting distinct contacts and `percentile_cont` over every change of the range.
//!
//! The funnel: a change is the first of its contact in a range to reach a step when it reaches it and
//! the contact's previous change to reach it is before the range (or there is none), so a step's
//! distinct contacts are a count of such changes, summed per day and day of that previous change.
//! Time in stage: the stays' histogram locates each percentile's bin and place in it, and only the stay
//! at that place is read back (the technique of response times, [`super::waits`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool};

use crate::analytics::range::Range;
use crate::analytics::waits::{Histogram, whole_utc_days};
use crate::error::Result;
use crate::pipeline::StageTime;
use crate::types::Stage;

/// Distinct contacts that reached each funnel step in a range: New (created or moved in it), each
/// ladder stage (a move into it or a later one) and Lost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Reached {
    pub new: i64,
    pub engaged: i64,
    pub interested: i64,
    pub paid: i64,
    pub lost: i64,
}

pub(super) async fn reached(pool: &PgPool, business: i32, range: &Range) -> Result<Reached> {
    let (whole_from, whole_to) = whole_utc_days(range);
    let mut counts: Vec<(Stage, i64)> = sqlx::query!(
        r#"WITH counted AS (
               SELECT step, changes AS n FROM analytics_funnel_days
               WHERE business_id = $1 AND day >= ($4 AT TIME ZONE 'UTC')::date AND day < ($5 AT TIME ZONE 'UTC')::date
                 AND (previous_day IS NULL OR previous_day < ($4 AT TIME ZONE 'UTC')::date)
               UNION ALL
               -- Contacts created in the range, from the lead counts (migration 0088): the range's bounds are
               -- local midnights, whole 15-minute buckets, so the sum is exact.
               SELECT 'New', coalesce(sum(contacts), 0)::bigint FROM analytics_lead_counts
               WHERE business_id = $1 AND bucket >= $2 AND bucket < $3
               UNION ALL
               -- New counts a contact's creation and its changes whose previous change (or creation) is
               -- before the range: right when a contact is created before its changes. Those with a
               -- change before their creation (a backdated move) are counted from their rows instead.
               SELECT 'New', (c.created_in OR c.moved_in > 0)::int - c.created_in::int - c.counted
               FROM (
                   SELECT coalesce(h.contact_created_at >= $2 AND h.contact_created_at < $3, false) AS created_in,
                          count(*) FILTER (WHERE h.changed_at >= $2 AND h.changed_at < $3) AS moved_in,
                          count(*) FILTER (WHERE h.changed_at >= $2 AND h.changed_at < $3
                                             AND coalesce(coalesce(h.previous_changed_at, h.contact_created_at) < $2, true))
                              AS counted
                   FROM pipeline_history h
                   WHERE h.business_id = $1 AND h.contact_id = ANY (ARRAY(
                       SELECT contact_id FROM pipeline_history
                       WHERE business_id = $1 AND previous_changed_at IS NULL AND changed_at < contact_created_at))
                   GROUP BY h.contact_id, h.contact_created_at
               ) c
           )
           SELECT step AS "step!: Stage", sum(n)::bigint AS "n!" FROM counted GROUP BY step"#,
        business,
        range.start,
        range.end,
        whole_from,
        whole_to
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (r.step, r.n))
    .collect();
    // Local midnights are rarely UTC ones: the partial days at the ends, when there are any.
    if (whole_from, whole_to) != (range.start, range.end) {
        let partial = sqlx::query!(
            r#"WITH counted AS (
                   SELECT s.step, 1 AS n FROM pipeline_history h,
                          wacrm_funnel_steps(h.to_stage, h.previous_changed_at, h.contact_created_at, h.previous_engaged_at,
                                             h.previous_interested_at, h.previous_paid_at, h.previous_lost_at) s
                   WHERE h.business_id = $1
                     AND ((h.changed_at >= $2 AND h.changed_at < $4) OR (h.changed_at >= $5 AND h.changed_at < $3))
                     AND (s.previous IS NULL OR s.previous < $2)
                   UNION ALL
                   -- Whole days' changes whose previous one is in the partial first day: the rollup counts
                   -- them (that day is before the whole days) though the range holds that previous one.
                   -- They belong to the few contacts changed or created in that partial day.
                   SELECT s.step, -1 FROM pipeline_history h,
                          wacrm_funnel_steps(h.to_stage, h.previous_changed_at, h.contact_created_at, h.previous_engaged_at,
                                             h.previous_interested_at, h.previous_paid_at, h.previous_lost_at) s
                   WHERE h.business_id = $1 AND h.changed_at >= $4 AND h.changed_at < $5
                     AND h.contact_id = ANY (ARRAY(
                         SELECT contact_id FROM pipeline_history
                         WHERE business_id = $1 AND changed_at >= $2 AND changed_at < $4
                         UNION
                         SELECT id FROM contacts WHERE business_id = $1 AND created_at >= $2 AND created_at < $4))
                     AND s.previous >= $2 AND s.previous < $4
               )
               SELECT step AS "step!: Stage", sum(n)::bigint AS "n!" FROM counted GROUP BY step"#,
            business,
            range.start,
            range.end,
            whole_from,
            whole_to
        )
        .fetch_all(pool)
        .await?;
        counts.extend(partial.into_iter().map(|r| (r.step, r.n)));
    }
    let mut reached = Reached::default();
    for (step, n) in counts {
        *match step {
            Stage::New => &mut reached.new,
            Stage::Engaged => &mut reached.engaged,
            Stage::Interested => &mut reached.interested,
            Stage::Paid => &mut reached.paid,
            Stage::Lost => &mut reached.lost,
        } += n;
    }
    Ok(reached)
}

/// Stays in each stage that ended in the range, in hours: how many, their median and 90th percentile.
pub(super) async fn time_in_stage(pool: &PgPool, business: i32, range: &Range) -> Result<Vec<StageTime>> {
    let (whole_from, whole_to) = whole_utc_days(range);
    let rows = sqlx::query!(
        r#"SELECT stage AS "stage!: Stage", bin AS "bin!", sum(stays)::bigint AS "stays!" FROM (
               SELECT stage, bin, stays FROM analytics_stay_days
               WHERE business_id = $1 AND day >= ($4 AT TIME ZONE 'UTC')::date AND day < ($5 AT TIME ZONE 'UTC')::date
               UNION ALL
               SELECT from_stage, stay_bin, 1 FROM pipeline_history
               WHERE business_id = $1
                 AND ((changed_at >= $2 AND changed_at < $4) OR (changed_at >= $5 AND changed_at < $3))
                 AND from_stage IS NOT NULL AND stay_bin IS NOT NULL
           ) s
           GROUP BY 1, 2 HAVING sum(stays) <> 0"#,
        business,
        range.start,
        range.end,
        whole_from,
        whole_to
    )
    .fetch_all(pool)
    .await?;
    let mut stages: BTreeMap<Stage, Histogram> = BTreeMap::new();
    for row in rows {
        stages.entry(row.stage).or_default().add(row.bin, row.stays, Decimal::ZERO);
    }
    const PERCENTILES: [f64; 2] = [0.5, 0.9];
    let places: Vec<(Stage, i32, i64)> = stages
        .iter()
        .flat_map(|(&stage, h)| {
            PERCENTILES.iter().flat_map(move |&p| h.percentile_places(p)).map(move |(b, i)| (stage, b, i))
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let values = stays_at(pool, business, range, &places).await?;
    Ok(Stage::ALL
        .iter()
        .map(|&stage| {
            let Some(histogram) = stages.get(&stage) else {
                return StageTime { stage, stays: 0, median_hours: None, p90_hours: None };
            };
            let value_at = |bin: i32, place: i64| values.get(&(stage, bin, place)).copied();
            StageTime {
                stage,
                stays: histogram.count(),
                median_hours: histogram.percentile_cont(PERCENTILES[0], value_at),
                p90_hours: histogram.percentile_cont(PERCENTILES[1], value_at),
            }
        })
        .collect())
}

/// The stay at each place (stage, bin, 0-based place among the bin's stays of the stage in the range, in
/// order): an index-only scan of idx_pipeline_stay_bin per place, measured as the seed did.
async fn stays_at(
    pool: &PgPool,
    business: i32,
    range: &Range,
    places: &[(Stage, i32, i64)],
) -> Result<HashMap<(Stage, i32, i64), f64>> {
    if places.is_empty() {
        return Ok(HashMap::new());
    }
    let found = sqlx::query!(
        r#"SELECT w.i AS "i!", v.hours AS "hours!"
           FROM unnest($4::text[], $5::int[], $6::bigint[]) WITH ORDINALITY AS w (stage, bin, place, i)
           CROSS JOIN LATERAL (
               SELECT extract(epoch FROM changed_at - coalesce(previous_changed_at, contact_created_at))::float8 / 3600.0
                          AS hours
               FROM pipeline_history
               WHERE business_id = $1 AND stay_bin = w.bin AND from_stage = w.stage::pipeline_stage
                 AND changed_at >= $2 AND changed_at < $3
               ORDER BY 1 OFFSET w.place LIMIT 1
           ) v"#,
        business,
        range.start,
        range.end,
        &places.iter().map(|p| p.0.as_str().to_string()).collect::<Vec<_>>(),
        &places.iter().map(|p| p.1).collect::<Vec<_>>(),
        &places.iter().map(|p| p.2).collect::<Vec<_>>()
    )
    .fetch_all(pool)
    .await?;
    Ok(found.into_iter().filter_map(|r| Some((*places.get(usize::try_from(r.i - 1).ok()?)?, r.hours))).collect())
}

/// For `analytics verify`: changes whose stored funnel facts (contact's creation, previous change to
/// reach each step) differ from their contact and history, and rows of the funnel and stay rollups
/// that differ from the changes they count (both ways). The previous change itself is checked by
/// `stage_change_differences`.
pub(super) async fn differences(pool: &PgPool, business: i32) -> Result<i64> {
    Ok(sqlx::query_scalar!(
        r#"WITH k AS (
               SELECT DISTINCT contact_id FROM pipeline_history WHERE business_id = $1
           ), facts AS (
               SELECT count(*) AS n FROM pipeline_history h
               JOIN wacrm_pipeline_facts(ARRAY(SELECT contact_id FROM k), ARRAY(SELECT $1::int FROM k)) x ON x.id = h.id
               WHERE h.business_id = $1
                 AND (h.contact_created_at, h.previous_engaged_at, h.previous_interested_at, h.previous_paid_at,
                      h.previous_lost_at)
                     IS DISTINCT FROM (x.created, x.engaged, x.interested, x.paid, x.lost)
           ), funnel_raw AS (
               SELECT day, step, coalesce(previous_day, '-infinity') AS previous_day, changes
               FROM analytics_funnel_days_recomputed WHERE business_id = $1
           ), funnel_rollup AS (
               SELECT day, step, coalesce(previous_day, '-infinity') AS previous_day, sum(changes) AS changes
               FROM analytics_funnel_days WHERE business_id = $1 GROUP BY 1, 2, 3 HAVING sum(changes) <> 0
           ), stays_raw AS (
               SELECT day, stage, bin, stays FROM analytics_stay_days_recomputed WHERE business_id = $1
           ), stays_rollup AS (
               SELECT day, stage, bin, sum(stays) AS stays
               FROM analytics_stay_days WHERE business_id = $1 GROUP BY 1, 2, 3 HAVING sum(stays) <> 0
           )
           SELECT (SELECT n FROM facts)
                + (SELECT count(*) FROM funnel_raw r FULL JOIN funnel_rollup u USING (day, step, previous_day)
                   WHERE r.changes IS DISTINCT FROM u.changes)
                + (SELECT count(*) FROM stays_raw r FULL JOIN stays_rollup u USING (day, stage, bin)
                   WHERE r.stays IS DISTINCT FROM u.stays) AS "n!""#,
        business
    )
    .fetch_one(pool)
    .await?)
}

/// Rewrites the business's funnel and stay rollups from its changes (after their facts were
/// recomputed), in one statement each.
pub(super) async fn rebuild_on(conn: &mut PgConnection, business: i32) -> Result<()> {
    sqlx::query!(
        r#"WITH gone AS (DELETE FROM analytics_funnel_days WHERE business_id = $1)
           INSERT INTO analytics_funnel_days (business_id, day, step, previous_day, changes)
           SELECT business_id, day, step, previous_day, changes FROM analytics_funnel_days_recomputed
           WHERE business_id = $1"#,
        business
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"WITH gone AS (DELETE FROM analytics_stay_days WHERE business_id = $1)
           INSERT INTO analytics_stay_days (business_id, day, stage, bin, stays)
           SELECT business_id, day, stage, bin, stays FROM analytics_stay_days_recomputed WHERE business_id = $1"#,
        business
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Folds the business's funnel and stay deltas into one row per key (keys that sum to zero go);
/// returns the rows before and after.
pub(super) async fn compact_on(conn: &mut PgConnection, business: i32) -> Result<(i64, i64)> {
    let funnel = sqlx::query!(
        r#"WITH gone AS (DELETE FROM analytics_funnel_days WHERE business_id = $1 RETURNING *),
                kept AS (
                    INSERT INTO analytics_funnel_days (business_id, day, step, previous_day, changes)
                    SELECT business_id, day, step, previous_day, sum(changes) FROM gone
                    GROUP BY 1, 2, 3, 4 HAVING sum(changes) <> 0
                    RETURNING 1
                )
           SELECT (SELECT count(*) FROM gone) AS "before!", (SELECT count(*) FROM kept) AS "after!""#,
        business
    )
    .fetch_one(&mut *conn)
    .await?;
    let stays = sqlx::query!(
        r#"WITH gone AS (DELETE FROM analytics_stay_days WHERE business_id = $1 RETURNING *),
                kept AS (
                    INSERT INTO analytics_stay_days (business_id, day, stage, bin, stays)
                    SELECT business_id, day, stage, bin, sum(stays) FROM gone
                    GROUP BY 1, 2, 3, 4 HAVING sum(stays) <> 0
                    RETURNING 1
                )
           SELECT (SELECT count(*) FROM gone) AS "before!", (SELECT count(*) FROM kept) AS "after!""#,
        business
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((funnel.before + stays.before, funnel.after + stays.after))
}
