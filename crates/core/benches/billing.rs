//! Billing benchmark (issue 23): `billing status` on the large tenant (50,000 contacts, 1,000,000
//! messages, ~500,000 conversation windows), target median ≤ 10 ms, side by side with the seed's
//! Billing FLOW 4 SQL for the same figures (conversations this month, total spend) in the same run.
//!
//! Run on demand: `cargo bench -p wacrm-core --bench billing`, with its own database
//! (`WACRM_BENCH_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/wacrm_bench`).

mod support;

use std::time::Duration;

use chrono::{Datelike, TimeZone, Utc};
use support::{ms, time};
use wacrm_core::{analytics, billing};

const RUNS: usize = 30;

// The seed's Billing FLOW 4 SQL (shared/seed/crm-design.md), verbatim but for `$business_id` → `$1`.
const SEED_USED: &str = "SELECT COUNT(DISTINCT conversation_id)\nFROM usage_logs\nWHERE business_id=$1\nAND timestamp >= date_trunc('month',NOW());";
const SEED_SPEND: &str = "SELECT SUM(cost)\nFROM usage_logs\nWHERE business_id=$1;";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (pool, tenant, scope) = support::large_tenant().await?;
    analytics::verify::compact(&pool, &scope).await?;
    sqlx::query("VACUUM ANALYZE analytics_usage_counts, usage_logs, message_pricing, subscriptions")
        .execute(&pool)
        .await?;
    let status = billing::status(&pool, &scope).await?;
    let windows: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_logs WHERE business_id = $1")
        .bind(tenant.business.0)
        .fetch_one(&pool)
        .await?;
    let ours = time(RUNS, || async {
        billing::status(&pool, &scope).await.expect("billing status");
    })
    .await;
    let mut seed = Vec::new();
    for sql in [SEED_USED, SEED_SPEND] {
        let run = || {
            let pool = &pool;
            async move {
                sqlx::query(sql).bind(tenant.business.0).fetch_all(pool).await.expect("seed SQL");
            }
        };
        run().await;
        seed.push(time(RUNS, run).await);
    }
    let now = Utc::now();
    let month = Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0).single().unwrap_or(now);
    println!(
        "billing status on the large tenant: {} contacts, {} messages, {windows} conversation windows; \
         this month (from {month}): {} of {} conversations, total spend {}",
        tenant.contacts, tenant.messages, status.conversations_used, status.conversation_limit, status.total_spend
    );
    let target = Duration::from_millis(10);
    println!(
        "billing::status                 median {:>7.2} ms  p95 {:>7.2} ms  ({} runs) {}",
        ms(ours.median),
        ms(ours.p95),
        ours.runs,
        if ours.median <= target { "met ≤10 ms" } else { "MISSED ≤10 ms" }
    );
    for (name, stats) in ["seed: conversations this month", "seed: total spend"].iter().zip(&seed) {
        println!(
            "{name:<31} median {:>7.2} ms  p95 {:>7.2} ms  ({} runs)",
            ms(stats.median),
            ms(stats.p95),
            stats.runs
        );
    }
    println!("seed's two statements together   median {:>7.2} ms", ms(seed[0].median) + ms(seed[1].median));
    Ok(())
}
