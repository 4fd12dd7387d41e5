//! Automation runs and action counts per rule (migration 0096): summed from their rollup for the
//! automation report and the summary, and verified, rebuilt and compacted here.

use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool};

use crate::analytics::range::Range;
use crate::analytics::verify::Difference;
use crate::error::Result;

/// One rule's counts over a range.
pub(super) struct RuleCounts {
    pub rule_id: i32,
    pub runs: i64,
    pub held_back: i64,
    pub sent: i64,
    pub not_sent: i64,
    pub moves: i64,
}

/// Each rule's counts over the range: the range's buckets summed (its bounds are local midnights, on
/// bucket bounds, so the sums are exact).
pub(super) async fn per_rule(pool: &PgPool, business: i32, range: &Range) -> Result<Vec<RuleCounts>> {
    Ok(sqlx::query_as!(
        RuleCounts,
        r#"SELECT rule_id, sum(runs)::bigint AS "runs!", sum(held_back)::bigint AS "held_back!",
                  sum(sent)::bigint AS "sent!", sum(not_sent)::bigint AS "not_sent!", sum(moves)::bigint AS "moves!"
           FROM analytics_automation_counts
           WHERE business_id = $1 AND bucket >= $2 AND bucket < $3
           GROUP BY rule_id"#,
        business,
        range.start,
        range.end
    )
    .fetch_all(pool)
    .await?)
}

/// The buckets and rules whose automation counts (`analytics_automation_counts`) differ from the
/// business's runs and actions, one difference per figure, and how many buckets and rules were
/// compared (`wacrm analytics verify`).
pub(super) async fn count_differences(pool: &PgPool, business: i32) -> Result<(i64, Vec<Difference>)> {
    let rows = sqlx::query!(
        r#"WITH raw AS (
               SELECT bucket, rule_id, runs, held_back, sent, not_sent, moves
               FROM analytics_automation_counts_recomputed WHERE business_id = $1
           ), rollup AS (
               SELECT bucket, rule_id, sum(runs) AS runs, sum(held_back) AS held_back, sum(sent) AS sent,
                      sum(not_sent) AS not_sent, sum(moves) AS moves
               FROM analytics_automation_counts WHERE business_id = $1 GROUP BY 1, 2
           )
           SELECT coalesce(raw.bucket, rollup.bucket) AS "bucket!", coalesce(raw.rule_id, rollup.rule_id) AS "rule_id!",
                  ARRAY[coalesce(raw.runs, 0), coalesce(raw.held_back, 0), coalesce(raw.sent, 0),
                        coalesce(raw.not_sent, 0), coalesce(raw.moves, 0)]::numeric[] AS "raw!: Vec<Decimal>",
                  ARRAY[coalesce(rollup.runs, 0), coalesce(rollup.held_back, 0), coalesce(rollup.sent, 0),
                        coalesce(rollup.not_sent, 0), coalesce(rollup.moves, 0)]::numeric[] AS "rollup!: Vec<Decimal>"
           FROM raw FULL JOIN rollup ON rollup.bucket = raw.bucket AND rollup.rule_id = raw.rule_id
           WHERE raw.bucket IS NOT NULL
              OR rollup.runs <> 0 OR rollup.held_back <> 0 OR rollup.sent <> 0 OR rollup.not_sent <> 0
              OR rollup.moves <> 0"#,
        business
    )
    .fetch_all(pool)
    .await?;
    let compared = rows.len() as i64;
    let mut differences = Vec::new();
    for row in rows {
        let figures = ["runs", "held back", "sent", "not sent", "stage moves"];
        for ((figure, raw), rollup) in figures.iter().zip(row.raw).zip(row.rollup) {
            if raw != rollup {
                let figure = format!("automation {figure} (rule {})", row.rule_id);
                differences.push(Difference { figure, bucket: row.bucket, raw, rollup });
            }
        }
    }
    Ok((compared, differences))
}

/// Replaces the business's automation counts with the counts of its runs and actions.
pub(super) async fn rebuild_counts_on(conn: &mut PgConnection, business: i32) -> Result<()> {
    sqlx::query!(
        r#"WITH gone AS (DELETE FROM analytics_automation_counts WHERE business_id = $1)
           INSERT INTO analytics_automation_counts (business_id, bucket, rule_id, runs, held_back, sent, not_sent, moves)
           SELECT business_id, bucket, rule_id, runs, held_back, sent, not_sent, moves
           FROM analytics_automation_counts_recomputed WHERE business_id = $1"#,
        business
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Folds the business's automation count deltas into one row per bucket and rule; returns the rows
/// before and after.
pub(super) async fn compact_counts_on(conn: &mut PgConnection, business: i32) -> Result<(i64, i64)> {
    let rows = sqlx::query!(
        r#"WITH gone AS (DELETE FROM analytics_automation_counts WHERE business_id = $1 RETURNING *),
                kept AS (
                    INSERT INTO analytics_automation_counts
                        (business_id, bucket, rule_id, runs, held_back, sent, not_sent, moves)
                    SELECT business_id, bucket, rule_id, sum(runs), sum(held_back), sum(sent), sum(not_sent), sum(moves)
                    FROM gone GROUP BY 1, 2, 3
                    HAVING sum(runs) <> 0 OR sum(held_back) <> 0 OR sum(sent) <> 0 OR sum(not_sent) <> 0
                        OR sum(moves) <> 0
                    RETURNING 1
                )
           SELECT (SELECT count(*) FROM gone) AS "before!", (SELECT count(*) FROM kept) AS "after!""#,
        business
    )
    .fetch_one(conn)
    .await?;
    Ok((rows.before, rows.after))
}
