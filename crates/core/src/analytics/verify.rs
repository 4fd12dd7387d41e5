//! The rollups checked against the raw rows they summarise (`wacrm analytics verify`), rebuilt from
//! them when they differ (`--repair`), compacted (`wacrm analytics compact`), and the stored waits
//! refreshed (`wacrm analytics refresh`).
//!
//! Rebuilding and compacting are each one statement, so they see one snapshot: a delta that a
//! concurrent writer commits afterwards was not in the raw rows read nor among the deltas replaced,
//! and is kept. Neither ever changes a figure.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgPool;

use crate::analytics::outcomes::REPLY_WINDOW_HOURS;
use crate::analytics::pipeline_days;
use crate::analytics::sends;
use crate::analytics::{automation_counts, leads};
use crate::auth::{Area, Scope};
use crate::error::Result;
use crate::{automation, inbox, pipeline};

/// A bucket whose rollup disagrees with the raw rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// `messages in`, `messages out`, `conversations`, `cost`, `leads <source>` or `automation <figure>
    /// (rule <id>)` (runs, held back, sent, not sent, stage moves).
    pub figure: String,
    pub bucket: DateTime<Utc>,
    pub raw: Decimal,
    pub rollup: Decimal,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Buckets compared (raw or rollup non-empty).
    pub buckets: i64,
    pub differences: Vec<Difference>,
    /// Conversation ids on more than one usage row: the seed's `COUNT(DISTINCT conversation_id)`
    /// would then count fewer conversations than windows opened.
    pub shared_conversation_ids: i64,
    /// Stored waits (response times) of contacts not marked for refresh that differ from their
    /// messages, counted both ways.
    pub wait_differences: i64,
    /// Messages of contacts not marked for refresh whose stored reply time differs from their
    /// contact's messages (`wacrm_reply_after`).
    pub reply_differences: i64,
    /// Rows of the response-time histogram (`analytics_wait_days`) that differ from the stored waits
    /// they count, counted both ways.
    pub wait_day_differences: i64,
    /// Stages whose contact count (`analytics_stage_counts`) differs from the contacts' stage column.
    pub stage_count_differences: i64,
    /// Stage changes whose stored previous change (`pipeline_history.previous_changed_at`, time in
    /// stage) differs from the contact's history.
    pub stage_change_differences: i64,
    /// Stage changes whose stored funnel facts differ from their contact and history, and rows of the
    /// funnel and time-in-stage rollups (`analytics_funnel_days`, `analytics_stay_days`) that differ
    /// from the changes they count, counted both ways.
    pub pipeline_day_differences: i64,
    /// Rows of the send outcomes rollup (`analytics_send_outcomes`: campaign and template sends per
    /// bucket, status, Meta limit and stored reply) that differ from the messages, counted both ways.
    pub send_outcome_differences: i64,
    /// Rows of the automation sends rollup (`analytics_automation_sends`: send actions delivered and
    /// answered, per bucket of the action and rule) that differ from the actions' messages, both ways.
    pub automation_send_differences: i64,
    /// Automation actions whose stored conversion flag (`automation_actions.converted`: a move to Paid
    /// within the conversion window after the action) differs from the contact's history.
    pub automation_conversion_differences: i64,
    /// Whether the rollups were rebuilt from the raw rows after the comparison.
    pub repaired: bool,
}

impl Verification {
    pub fn exact(&self) -> bool {
        self.shared_conversation_ids == 0 && self.differing() == 0
    }

    /// Rollup buckets and stored figures that differ from the raw rows: what a repair rebuilds.
    pub fn differing(&self) -> i64 {
        self.differences.len() as i64 + self.stored_differences().iter().map(|(_, n)| n).sum::<i64>()
    }

    /// Each stored figure checked besides the rollup buckets, named for people, with how many of its
    /// rows differ from the raw rows.
    pub fn stored_differences(&self) -> [(&'static str, i64); 9] {
        [
            ("stored waits", self.wait_differences),
            ("stored reply times", self.reply_differences),
            ("response-time histogram rows", self.wait_day_differences),
            ("stage counts", self.stage_count_differences),
            ("stored previous stage changes", self.stage_change_differences),
            ("funnel and time-in-stage rows", self.pipeline_day_differences),
            ("send outcome rows", self.send_outcome_differences),
            ("automation send rows", self.automation_send_differences),
            ("automation conversion flags", self.automation_conversion_differences),
        ]
    }
}

/// Compares every rollup bucket of the business with the raw messages and usage rows; with `repair`,
/// rebuilds the rollups from them when anything differs (owners and admins).
pub async fn verify(pool: &PgPool, scope: &Scope, repair: bool) -> Result<Verification> {
    scope.require(if repair { Area::Admin } else { Area::Analytics })?;
    let business = scope.business().0;
    let messages = sqlx::query!(
        r#"WITH raw AS (
               SELECT wacrm_bucket(sent_at) AS bucket, direction, count(*)::numeric AS n
               FROM messages WHERE business_id = $1 AND sent_at IS NOT NULL GROUP BY 1, 2
           ), rollup AS (
               SELECT bucket, direction, sum(messages)::numeric AS n
               FROM analytics_message_counts WHERE business_id = $1 GROUP BY 1, 2
           )
           SELECT coalesce(raw.bucket, rollup.bucket) AS "bucket!",
                  'messages ' || coalesce(raw.direction, rollup.direction)::text AS "figure!",
                  coalesce(raw.n, 0) AS "raw!", coalesce(rollup.n, 0) AS "rollup!"
           FROM raw FULL JOIN rollup ON rollup.bucket = raw.bucket AND rollup.direction = raw.direction
           WHERE coalesce(raw.n, 0) <> 0 OR coalesce(rollup.n, 0) <> 0"#,
        business
    )
    .fetch_all(pool)
    .await?;
    let usage = sqlx::query!(
        r#"WITH raw AS (
               SELECT wacrm_bucket(timestamp) AS bucket, count(*)::numeric AS n, sum(cost) AS cost
               FROM usage_logs WHERE business_id = $1 AND timestamp IS NOT NULL GROUP BY 1
           ), rollup AS (
               SELECT bucket, sum(conversations)::numeric AS n, sum(cost) AS cost
               FROM analytics_usage_counts WHERE business_id = $1 GROUP BY 1
           )
           SELECT coalesce(raw.bucket, rollup.bucket) AS "bucket!",
                  coalesce(raw.n, 0) AS "raw_n!", coalesce(rollup.n, 0) AS "rollup_n!",
                  coalesce(raw.cost, 0) AS "raw_cost!", coalesce(rollup.cost, 0) AS "rollup_cost!"
           FROM raw FULL JOIN rollup ON rollup.bucket = raw.bucket
           WHERE coalesce(raw.n, 0) <> 0 OR coalesce(rollup.n, 0) <> 0 OR coalesce(rollup.cost, 0) <> 0"#,
        business
    )
    .fetch_all(pool)
    .await?;
    let shared_conversation_ids = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM (
               SELECT conversation_id FROM usage_logs WHERE business_id = $1
               GROUP BY conversation_id HAVING count(*) > 1
           ) shared"#,
        business
    )
    .fetch_one(pool)
    .await?;
    let wait_differences = sqlx::query_scalar!(
        r#"WITH clean AS (
               SELECT array_agg(id) AS ids FROM contacts c
               WHERE c.business_id = $1
                 AND NOT EXISTS (SELECT 1 FROM analytics_dirty_contacts d WHERE d.business_id = $1 AND d.contact_id = c.id)
           ), stored AS (
               SELECT contact_id, asked_at, replied_at, replier, opens FROM analytics_waits w
               WHERE w.business_id = $1
                 AND NOT EXISTS (SELECT 1 FROM analytics_dirty_contacts d WHERE d.business_id = $1 AND d.contact_id = w.contact_id)
           ), computed AS (
               SELECT contact_id, asked_at, replied_at, replier, opens FROM wacrm_waits($1, (SELECT ids FROM clean))
           )
           SELECT (SELECT count(*) FROM (SELECT * FROM stored EXCEPT ALL SELECT * FROM computed) a)
                + (SELECT count(*) FROM (SELECT * FROM computed EXCEPT ALL SELECT * FROM stored) b) AS "n!""#,
        business
    )
    .fetch_one(pool)
    .await?;
    let wait_day_differences = sqlx::query_scalar!(
        r#"WITH raw AS (
               SELECT day, replier, opens, bin, waits, seconds FROM analytics_wait_days_recomputed
               WHERE business_id = $1
           ), rollup AS (
               SELECT day, replier, opens, bin, waits, seconds FROM analytics_wait_days
               WHERE business_id = $1 AND (waits <> 0 OR seconds <> 0)
           )
           SELECT count(*) AS "n!" FROM raw FULL JOIN rollup USING (day, replier, opens, bin)
           WHERE raw.waits IS DISTINCT FROM rollup.waits OR raw.seconds IS DISTINCT FROM rollup.seconds"#,
        business
    )
    .fetch_one(pool)
    .await?;
    let stage_count_differences = sqlx::query_scalar!(
        r#"WITH raw AS (
               SELECT coalesce(stage, 'New') AS stage, count(*) AS n FROM contacts WHERE business_id = $1 GROUP BY 1
           ), rollup AS (
               SELECT stage, sum(contacts) AS n FROM analytics_stage_counts WHERE business_id = $1 GROUP BY 1
           )
           SELECT count(*) AS "n!" FROM raw FULL JOIN rollup USING (stage)
           WHERE coalesce(raw.n, 0) <> coalesce(rollup.n, 0)"#,
        business
    )
    .fetch_one(pool)
    .await?;
    let reply_differences = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM messages m
           WHERE m.business_id = $1
             AND NOT EXISTS (SELECT 1 FROM analytics_dirty_contacts d WHERE d.business_id = $1 AND d.contact_id = m.contact_id)
             AND m.replied_at IS DISTINCT FROM CASE WHEN m.direction = 'out'
                 THEN wacrm_reply_after($1, m.contact_id, m.sent_at, make_interval(hours => $2)) END"#,
        business,
        REPLY_WINDOW_HOURS
    )
    .fetch_one(pool)
    .await?;
    let stage_change_differences = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM (
               SELECT previous_changed_at,
                      lag(changed_at) OVER (PARTITION BY contact_id ORDER BY changed_at, id) AS previous
               FROM pipeline_history WHERE business_id = $1
           ) h
           WHERE previous_changed_at IS DISTINCT FROM previous"#,
        business
    )
    .fetch_one(pool)
    .await?;
    let automation_conversion_differences = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM automation_actions
           WHERE business_id = $1 AND converted IS DISTINCT FROM wacrm_action_converted(business_id, contact_id, created_at)"#,
        business
    )
    .fetch_one(pool)
    .await?;
    let pipeline_day_differences = pipeline_days::differences(pool, business).await?;
    let (lead_buckets, mut differences) = leads::count_differences(pool, business).await?;
    let (automation_buckets, automation_differences) = automation_counts::count_differences(pool, business).await?;
    differences.extend(automation_differences);
    let send_outcome_differences = sends::differences(pool, business).await?;
    let automation_send_differences = sends::automation_differences(pool, business).await?;
    for row in &messages {
        if row.raw != row.rollup {
            differences.push(Difference {
                figure: row.figure.clone(),
                bucket: row.bucket,
                raw: row.raw,
                rollup: row.rollup,
            });
        }
    }
    for row in &usage {
        for (figure, raw, rollup) in
            [("conversations", row.raw_n, row.rollup_n), ("cost", row.raw_cost, row.rollup_cost)]
        {
            if raw != rollup {
                differences.push(Difference { figure: figure.into(), bucket: row.bucket, raw, rollup });
            }
        }
    }
    differences.sort_by(|a, b| a.bucket.cmp(&b.bucket).then_with(|| a.figure.cmp(&b.figure)));
    let mut verification = Verification {
        buckets: (messages.len() + usage.len()) as i64 + lead_buckets + automation_buckets,
        differences,
        shared_conversation_ids,
        wait_differences,
        wait_day_differences,
        reply_differences,
        stage_change_differences,
        stage_count_differences,
        pipeline_day_differences,
        send_outcome_differences,
        automation_send_differences,
        automation_conversion_differences,
        repaired: false,
    };
    if repair && verification.differing() > 0 {
        rebuild(pool, scope).await?;
        verification.repaired = true;
    }
    Ok(verification)
}

/// Replaces the business's rollups with sums of its raw rows.
async fn rebuild(pool: &PgPool, scope: &Scope) -> Result<()> {
    let business = scope.business().0;
    let mut tx = pool.begin().await?;
    sqlx::query!(
        r#"WITH gone AS (DELETE FROM analytics_message_counts WHERE business_id = $1)
           INSERT INTO analytics_message_counts (business_id, bucket, direction, messages)
           SELECT business_id, wacrm_bucket(sent_at), direction, count(*)
           FROM messages WHERE business_id = $1 AND sent_at IS NOT NULL GROUP BY 1, 2, 3"#,
        business
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        r#"WITH gone AS (DELETE FROM analytics_usage_counts WHERE business_id = $1)
           INSERT INTO analytics_usage_counts (business_id, bucket, conversations, cost)
           SELECT business_id, wacrm_bucket(timestamp), count(*), sum(cost)
           FROM usage_logs WHERE business_id = $1 AND timestamp IS NOT NULL GROUP BY 1, 2"#,
        business
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        r#"WITH gone AS (DELETE FROM analytics_stage_counts WHERE business_id = $1)
           INSERT INTO analytics_stage_counts (business_id, stage, contacts)
           SELECT business_id, coalesce(stage, 'New'), count(*) FROM contacts WHERE business_id = $1 GROUP BY 1, 2"#,
        business
    )
    .execute(&mut *tx)
    .await?;
    // Rows that should not be there go, the others get what they should hold: disjoint rows, one statement.
    sqlx::query!(
        r#"WITH raw AS (
               SELECT * FROM analytics_wait_days_recomputed WHERE business_id = $1
           ), gone AS (
               DELETE FROM analytics_wait_days d WHERE d.business_id = $1 AND NOT EXISTS (
                   SELECT 1 FROM raw r
                   WHERE (r.day, r.replier, r.opens, r.bin) = (d.day, d.replier, d.opens, d.bin)
               )
           )
           INSERT INTO analytics_wait_days (business_id, day, replier, opens, bin, waits, seconds)
           SELECT business_id, day, replier, opens, bin, waits, seconds FROM raw
           ON CONFLICT (business_id, day, replier, opens, bin)
               DO UPDATE SET waits = excluded.waits, seconds = excluded.seconds"#,
        business
    )
    .execute(&mut *tx)
    .await?;
    leads::rebuild_counts_on(&mut tx, business).await?;
    automation_counts::rebuild_counts_on(&mut tx, business).await?;
    pipeline::store_previous_changes_on(&mut tx, business).await?;
    pipeline_days::rebuild_on(&mut tx, business).await?;
    sends::rebuild(&mut tx, business).await?;
    sends::rebuild_automation(&mut tx, business).await?;
    automation::store_conversions_on(&mut tx, business).await?;
    // Every contact's waits and reply times are recomputed by the next refresh.
    sqlx::query!(
        r#"INSERT INTO analytics_dirty_contacts (business_id, contact_id)
           SELECT business_id, id FROM contacts WHERE business_id = $1 ON CONFLICT DO NOTHING"#,
        business
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Stores the waits (response times) and the sends' reply times of the contacts whose messages
/// changed since the last refresh, computed from their messages; returns how many contacts that was.
/// Reports are exact without it (they compute those contacts live), only slower the more contacts
/// wait for it: run it from cron or a job every minute or so.
pub async fn refresh(pool: &PgPool, scope: &Scope) -> Result<i64> {
    scope.require(Area::Analytics)?;
    let business = scope.business().0;
    let mut tx = pool.begin().await?;
    // The marks are taken and the waits stored in one statement, so one snapshot: a contact marked by
    // a transaction that commits later keeps its mark and is recomputed next time. The reply times are
    // computed by the next statement, from a snapshot at least as new: never older than the marks.
    let dirty = sqlx::query_scalar!(
        r#"WITH dirty AS (
               DELETE FROM analytics_dirty_contacts WHERE business_id = $1 RETURNING contact_id
           ), gone AS (
               DELETE FROM analytics_waits WHERE business_id = $1 AND contact_id IN (SELECT contact_id FROM dirty)
           ), stored AS (
               INSERT INTO analytics_waits (business_id, contact_id, asked_at, replied_at, replier, opens)
               SELECT $1, contact_id, asked_at, replied_at, replier, opens
               FROM wacrm_waits($1, ARRAY(SELECT contact_id FROM dirty))
           )
           SELECT coalesce(array_agg(contact_id), '{}') AS "contacts!" FROM dirty"#,
        business
    )
    .fetch_one(&mut *tx)
    .await?;
    inbox::reply_times::store_reply_times_on(&mut tx, business, &dirty, REPLY_WINDOW_HOURS).await?;
    tx.commit().await?;
    Ok(dirty.len() as i64)
}

/// What a compaction did: delta rows before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Compaction {
    pub rows_before: i64,
    pub rows_after: i64,
}

/// Folds the business's rollup deltas into one row per bucket (and drops buckets that sum to zero), so
/// reports read fewer rows. The figures stay exactly as they were. Run it from cron or a job.
pub async fn compact(pool: &PgPool, scope: &Scope) -> Result<Compaction> {
    scope.require(Area::Analytics)?;
    let business = scope.business().0;
    let mut tx = pool.begin().await?;
    let messages = sqlx::query!(
        r#"WITH gone AS (DELETE FROM analytics_message_counts WHERE business_id = $1 RETURNING *),
                kept AS (
                    INSERT INTO analytics_message_counts (business_id, bucket, direction, messages)
                    SELECT business_id, bucket, direction, sum(messages) FROM gone
                    GROUP BY 1, 2, 3 HAVING sum(messages) <> 0
                    RETURNING 1
                )
           SELECT (SELECT count(*) FROM gone) AS "before!", (SELECT count(*) FROM kept) AS "after!""#,
        business
    )
    .fetch_one(&mut *tx)
    .await?;
    let usage = sqlx::query!(
        r#"WITH gone AS (DELETE FROM analytics_usage_counts WHERE business_id = $1 RETURNING *),
                kept AS (
                    INSERT INTO analytics_usage_counts (business_id, bucket, conversations, cost)
                    SELECT business_id, bucket, sum(conversations), sum(cost) FROM gone
                    GROUP BY 1, 2 HAVING sum(conversations) <> 0 OR sum(cost) <> 0
                    RETURNING 1
                )
           SELECT (SELECT count(*) FROM gone) AS "before!", (SELECT count(*) FROM kept) AS "after!""#,
        business
    )
    .fetch_one(&mut *tx)
    .await?;
    let stages = sqlx::query!(
        r#"WITH gone AS (DELETE FROM analytics_stage_counts WHERE business_id = $1 RETURNING *),
                kept AS (
                    INSERT INTO analytics_stage_counts (business_id, stage, contacts)
                    SELECT business_id, stage, sum(contacts) FROM gone GROUP BY 1, 2 HAVING sum(contacts) <> 0
                    RETURNING 1
                )
           SELECT (SELECT count(*) FROM gone) AS "before!", (SELECT count(*) FROM kept) AS "after!""#,
        business
    )
    .fetch_one(&mut *tx)
    .await?;
    let lead_counts = leads::compact_counts_on(&mut tx, business).await?;
    let automation_counts = automation_counts::compact_counts_on(&mut tx, business).await?;
    let pipeline_day_rows = pipeline_days::compact_on(&mut tx, business).await?;
    let send_outcomes = sends::compact(&mut tx, business).await?;
    let automation_sends = sends::compact_automation(&mut tx, business).await?;
    tx.commit().await?;
    let parts = [
        (messages.before, messages.after),
        (usage.before, usage.after),
        (stages.before, stages.after),
        lead_counts,
        automation_counts,
        pipeline_day_rows,
        send_outcomes,
        automation_sends,
    ];
    Ok(Compaction { rows_before: parts.iter().map(|p| p.0).sum(), rows_after: parts.iter().map(|p| p.1).sum() })
}
