//! Analytics benchmark (issue 23): every report on the large tenant (50,000 contacts, 1,000,000
//! messages), side by side with the seed's literal SQL for the same figure in the same run. Targets:
//! each report's median ≤ 20 ms and ≥ 5× the seed where the seed gives SQL; response times over the
//! whole million messages ≤ 100 ms.
//!
//! Run on demand: `cargo bench -p wacrm-core --bench analytics`. It uses its own database
//! (`WACRM_BENCH_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/wacrm_bench`), created and
//! filled by `wacrm_core::demo` on the first run.

mod support;

use std::time::Duration;

use chrono::{Days, Utc};
use sqlx::PgPool;
use support::{Stats, ms, time};
use wacrm_core::Scope;
use wacrm_core::analytics::pipeline::DEFAULT_STUCK_DAYS;
use wacrm_core::analytics::{
    self, Granularity, Range, RangeRequest, automation, campaigns, leads, messages, pipeline, summary, templates, usage,
};

const RUNS: usize = 15;
const SEED_RUNS: usize = 10;

// The seed's Analytics SQL (shared/seed/crm-design.md), verbatim but for `$business_id` → `$1` and
// `start_of_month` → `$2`; run unchecked and undecoded so their text stays the seed's.
const SEED_LEADS_PER_DAY: &str = "SELECT DATE(created_at) AS day, COUNT(*)  \nFROM contacts  \nWHERE business_id=$1  \nGROUP BY day  \nORDER BY day;";
const SEED_LEADS_PER_STAGE: &str = "SELECT stage, COUNT(*)\nFROM contacts\nWHERE business_id=$1\nGROUP BY stage;";
const SEED_FUNNEL: &str = "SELECT to_stage, COUNT(*)\nFROM pipeline_history\nWHERE business_id=$1\nGROUP BY to_stage;";
const SEED_MESSAGES: &str = "SELECT direction, COUNT(*)\nFROM messages\nWHERE business_id=$1\nGROUP BY direction;";
const SEED_MONTH_CONVERSATIONS: &str =
    "SELECT COUNT(DISTINCT conversation_id)\nFROM usage_logs\nWHERE business_id=$1\nAND timestamp >= $2;";
const SEED_TOTAL_COST: &str = "SELECT SUM(cost)\nFROM usage_logs\nWHERE business_id=$1;";

struct Row {
    name: String,
    ours: Stats,
    target: Duration,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (pool, tenant, scope) = support::large_tenant().await?;
    let sends = campaign_and_automation_sends(&pool, tenant.business.0).await?;
    let compacted = analytics::verify::compact(&pool, &scope).await?;
    analytics::verify::refresh(&pool, &scope).await?;
    // As autovacuum leaves them in steady state: visibility map set (index-only scans), statistics fresh.
    sqlx::query(
        "VACUUM ANALYZE analytics_message_counts, analytics_usage_counts, analytics_lead_counts, analytics_waits, analytics_wait_days, \
         analytics_dirty_contacts, analytics_stage_counts, contacts, pipeline_history, messages, \
         automation_actions, automation_runs, analytics_funnel_days, analytics_stay_days, analytics_send_outcomes, \
         analytics_automation_sends, analytics_automation_counts",
    )
    .execute(&pool)
    .await?;
    let month = analytics::resolve(&pool, &scope, RangeRequest::default()).await?;
    let today = month.timezone.today(Utc::now());
    let all = RangeRequest { from: today.checked_sub_days(Days::new(95)), to: Some(today), by: Granularity::Day };
    let all = analytics::resolve(&pool, &scope, all).await?;

    let mut rows = Vec::new();
    for (label, range) in [("this month", &month), ("95 days", &all)] {
        rows.extend(measure(&pool, &scope, label, range).await?);
    }
    let seeds = [
        ("leads per day", SEED_LEADS_PER_DAY),
        ("leads per stage", SEED_LEADS_PER_STAGE),
        ("funnel", SEED_FUNNEL),
        ("messages by direction", SEED_MESSAGES),
        ("conversations this month", SEED_MONTH_CONVERSATIONS),
        ("total cost", SEED_TOTAL_COST),
    ];
    let mut seed_times = Vec::new();
    for (figure, sql) in seeds {
        let run = || {
            let pool = &pool;
            async move {
                sqlx::query(sql).bind(tenant.business.0).bind(month.start).fetch_all(pool).await.expect(figure);
            }
        };
        run().await;
        seed_times.push((figure, time(SEED_RUNS, run).await));
    }
    let seed = |figure: &str| seed_times.iter().position(|(f, _)| *f == figure);
    // Which report answers each seed figure (for leads per stage and the funnel, the pipeline report's
    // part that computes it: the report also computes stuck leads and time in stage).
    let answers = [
        ("leads::report (this month)", "leads per day"),
        ("pipeline::leads_per_stage (this month)", "leads per stage"),
        ("pipeline::funnel (this month)", "funnel"),
        ("messages::volume (this month)", "messages by direction"),
        ("messages::volume (95 days)", "messages by direction"),
        ("usage::report (this month)", "conversations this month"),
        ("usage::report (this month)", "total cost"),
    ];

    println!(
        "analytics on the large tenant: {} contacts, {} messages (rollup rows {} → {} after compaction); \
         {sends} of its outbound messages are campaign template sends with an automation action each",
        tenant.contacts, tenant.messages, compacted.rows_before, compacted.rows_after
    );
    println!("{:<44} {:>9} {:>9} {:>5} {:>7}", "report", "median ms", "p95 ms", "runs", "target");
    for row in &rows {
        let met = if row.ours.median <= row.target { "met" } else { "MISSED" };
        println!(
            "{:<44} {:>9.2} {:>9.2} {:>5} {:>7}",
            row.name,
            ms(row.ours.median),
            ms(row.ours.p95),
            row.ours.runs,
            format!("{met} ≤{}", row.target.as_millis())
        );
    }
    println!(
        "\n{:<28} {:>9} {:<32} {:>9} {:>8}",
        "seed figure (verbatim SQL)", "median ms", "answered by", "ours ms", "speed-up"
    );
    for (report, figure) in answers {
        let (Some(i), Some(ours)) = (seed(figure), rows.iter().find(|r| r.name == report)) else { continue };
        let base = &seed_times[i].1;
        let speedup = base.median.as_secs_f64() / ours.ours.median.as_secs_f64();
        println!(
            "{figure:<28} {:>9.2} {report:<32} {:>9.2} {:>7.1}× {}",
            ms(base.median),
            ms(ours.ours.median),
            speedup,
            if speedup >= 5.0 { "met" } else { "MISSED (≥5×)" }
        );
    }
    Ok(())
}

/// The demo tenant has no campaign messages nor rule actions: on the first run, one outbound message
/// of each of 20,000 contacts (their latest) becomes a send of the demo's campaign, with the template in
/// its payload, and an automation action of one rule claims each (its client_ref), so the campaign,
/// template and automation reports read real rows. Returns how many such sends there are.
async fn campaign_and_automation_sends(pool: &PgPool, business: i32) -> Result<i64, Box<dyn std::error::Error>> {
    let done: i64 =
        sqlx::query_scalar("SELECT count(*) FROM messages WHERE business_id = $1 AND campaign_id IS NOT NULL")
            .bind(business)
            .fetch_one(pool)
            .await?;
    if done > 0 {
        return Ok(done);
    }
    eprintln!("turning 20,000 outbound messages into campaign sends with rule actions (first run only)…");
    let mut tx = pool.begin().await?;
    sqlx::query(
        "WITH c AS (SELECT id, template_id FROM campaigns WHERE business_id = $1 ORDER BY id LIMIT 1),
              latest AS (
                  SELECT DISTINCT ON (contact_id) id FROM messages
                  WHERE business_id = $1 AND direction = 'out' ORDER BY contact_id, sent_at DESC, id DESC
              ),
              picked AS (SELECT id FROM latest ORDER BY id LIMIT 20000)
         UPDATE messages m SET campaign_id = c.id, kind = 'template', client_ref = gen_random_uuid(),
                payload = jsonb_build_object('template', jsonb_build_object('name', t.name, 'language', t.language))
         FROM c, message_templates t, picked
         WHERE m.business_id = $1 AND m.id = picked.id AND t.business_id = $1 AND t.id = c.template_id",
    )
    .bind(business)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "WITH r AS (
             INSERT INTO automation_rules (business_id, name, trigger, condition, action)
             VALUES ($1, 'bench follow-up', 'message_received', '{}', '{}') RETURNING id
         ), runs AS (
             INSERT INTO automation_runs (business_id, rule_id, event_id, contact_id, matched, cause, created_at)
             SELECT $1, r.id, m.id, m.contact_id, true, '{}', m.sent_at
             FROM messages m, r WHERE m.business_id = $1 AND m.campaign_id IS NOT NULL
             RETURNING id, rule_id, contact_id, event_id, created_at
         )
         INSERT INTO automation_actions (business_id, run_id, rule_id, contact_id, position, kind, spec, status,
                                         client_ref, created_at)
         SELECT $1, runs.id, runs.rule_id, runs.contact_id, 0, 'send_template', '{}', 'done', m.client_ref,
                runs.created_at
         FROM runs JOIN messages m ON m.business_id = $1 AND m.id = runs.event_id",
    )
    .bind(business)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(sqlx::query_scalar("SELECT count(*) FROM messages WHERE business_id = $1 AND campaign_id IS NOT NULL")
        .bind(business)
        .fetch_one(pool)
        .await?)
}

async fn measure(
    pool: &PgPool,
    scope: &Scope,
    label: &str,
    range: &Range,
) -> Result<Vec<Row>, Box<dyn std::error::Error>> {
    let target = Duration::from_millis(20);
    let mut rows = Vec::new();
    macro_rules! bench {
        ($name:expr, $target:expr, $call:expr) => {{
            let run = || async {
                $call.await.expect($name);
            };
            for _ in 0..3 {
                run().await;
            }
            rows.push(Row { name: format!("{} ({label})", $name), ours: time(RUNS, run).await, target: $target });
        }};
    }
    bench!("leads::report", target, leads::report(pool, scope, range));
    bench!("pipeline::report", target, pipeline::report(pool, scope, range, None, DEFAULT_STUCK_DAYS));
    // The report's parts that answer a seed figure, on their own.
    bench!("pipeline::leads_per_stage", target, pipeline::leads_per_stage(pool, scope));
    bench!("pipeline::funnel", target, pipeline::funnel(pool, scope, range));
    bench!("messages::volume", target, messages::volume(pool, scope, range));
    bench!("messages::response_times", Duration::from_millis(100), messages::response_times(pool, scope, range));
    bench!("messages::report", target, messages::report(pool, scope, range));
    bench!("usage::report", target, usage::report(pool, scope, range));
    bench!("campaigns::report", target, campaigns::report(pool, scope, range));
    bench!("templates::report", target, templates::report(pool, scope, range));
    bench!("automation::report", target, automation::report(pool, scope, range));
    // The summary's parts on their own (campaigns: the report above).
    bench!("leads::totals (summary)", target, leads::totals(pool, scope, range));
    bench!("pipeline::headline (summary)", target, pipeline::headline(pool, scope, range, None, DEFAULT_STUCK_DAYS));
    bench!("messages::headline (summary)", target, messages::headline(pool, scope, range));
    bench!("usage::headline_at (summary)", target, usage::headline_at(pool, scope, range.timezone, Utc::now()));
    bench!("automation::totals (summary)", target, automation::totals(pool, scope, range));
    bench!("summary (wacrm analytics)", target, summary::summary(pool, scope, range));
    Ok(rows)
}
