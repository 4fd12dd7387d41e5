//! Inbox page benchmark (issue 3): the first page of 50 conversations on the large tenant (50,000
//! contacts, 1,000,000 messages), through `inbox::conversations::list`, side by side with the seed's
//! `DISTINCT ON` query in the same run. Targets: median ≤ 5 ms and ≥ 100× faster than the seed.
//!
//! Run on demand: `cargo bench -p wacrm-core --bench inbox_page`. It uses its own database
//! (`WACRM_BENCH_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/wacrm_bench`), created and
//! filled by `wacrm_core::demo` on the first run (the large tenant takes a while once).

mod support;

use std::time::Duration;

use support::{Stats, ms, time};
use wacrm_core::inbox::conversations::{self, Filter};

const PAGE: i64 = 50;

/// The seed's FLOW 2 query, verbatim (shared/seed/crm-design.md). It is run unchecked and undecoded so
/// its text stays exactly the seed's.
macro_rules! seed_query {
    () => {
        "SELECT DISTINCT ON (c.id)
  c.id,
  c.name,
  c.phone,
  c.stage,
  c.last_active,
  m.content AS last_message,
  m.sent_at
FROM contacts c
LEFT JOIN messages m
ON c.id=m.contact_id
WHERE c.business_id=$1
ORDER BY c.id, m.sent_at DESC"
    };
}
const SEED_QUERY: &str = seed_query!();
/// The seed's query cut to one page, the most favourable reading of it.
const SEED_QUERY_PAGE: &str = concat!(seed_query!(), "\nLIMIT 50");

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (pool, tenant, scope) = support::large_tenant().await?;

    let list = |filter: Filter| {
        let (pool, scope) = (&pool, &scope);
        async move {
            let page = conversations::list(pool, scope, &filter, None, PAGE).await.expect("list");
            assert_eq!(page.items.len() as i64, PAGE);
        }
    };
    // Warm the cache and the prepared statements the same way for both.
    for _ in 0..5 {
        list(Filter::default()).await;
    }
    let ours = time(300, || list(Filter::default())).await;

    let seed = |limit: bool| {
        let pool = &pool;
        let business = tenant.business.0;
        async move {
            let sql = if limit { SEED_QUERY_PAGE } else { SEED_QUERY };
            sqlx::query(sql).bind(business).fetch_all(pool).await.expect("seed query");
        }
    };
    seed(false).await;
    let seed_full = time(7, || seed(false)).await;
    let seed_limited = time(7, || seed(true)).await;

    let unread = time(50, || list(Filter { unread_only: true, ..Filter::default() })).await;
    let closing = time(20, || list(Filter { closing_within_hours: Some(12.0), ..Filter::default() })).await;
    let search_list = |q: &'static str| {
        let (pool, scope) = (&pool, &scope);
        async move {
            let filter = Filter { search: Some(q.into()), ..Filter::default() };
            conversations::list(pool, scope, &filter, None, PAGE).await.expect("search");
        }
    };
    let search = time(20, || search_list("tasting box")).await;

    println!(
        "inbox first page ({PAGE} conversations), large tenant: {} contacts, {} messages",
        tenant.contacts, tenant.messages
    );
    println!("{:<48} {:>10} {:>10} {:>6}", "query", "median ms", "p95 ms", "runs");
    let row = |name: &str, s: &Stats| println!("{name:<48} {:>10.3} {:>10.3} {:>6}", ms(s.median), ms(s.p95), s.runs);
    row("wacrm inbox::conversations::list", &ours);
    row("seed FLOW 2 DISTINCT ON (verbatim, all rows)", &seed_full);
    row("seed FLOW 2 DISTINCT ON + LIMIT 50", &seed_limited);
    row("wacrm list --unread", &unread);
    row("wacrm list --closing-within 12", &closing);
    row("wacrm list --search 'tasting box'", &search);
    let speedup = seed_full.median.as_secs_f64() / ours.median.as_secs_f64();
    let speedup_limited = seed_limited.median.as_secs_f64() / ours.median.as_secs_f64();
    println!("speed-up vs seed: {speedup:.0}× (verbatim), {speedup_limited:.0}× (seed + LIMIT 50)");
    let median_ok = ours.median <= Duration::from_millis(5);
    let speedup_ok = speedup >= 100.0;
    println!(
        "targets: median ≤ 5 ms: {}; ≥ 100× the seed: {}",
        if median_ok { "met" } else { "MISSED" },
        if speedup_ok { "met" } else { "MISSED" }
    );

    // The message-text search must be answered by the trigram index, not a scan of a million rows.
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT s.contact_id FROM messages s WHERE s.business_id = $1 AND s.content ILIKE '%tasting box%'",
    )
    .bind(tenant.business.0)
    .fetch_all(&pool)
    .await?;
    let plan = plan.join("\n");
    println!("message search plan:\n{plan}");
    let indexed = plan.contains("idx_messages_content_trgm");
    println!("message search uses idx_messages_content_trgm: {}", if indexed { "yes" } else { "NO" });
    if median_ok && speedup_ok && indexed { Ok(()) } else { Err("a target was missed".into()) }
}
