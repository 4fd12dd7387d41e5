//! Broadcast benchmark (issue 21): one campaign to 100,000 recipients sent through the fake Graph API
//! with the pacer configured at 1,000 messages per second, the way the job queue's tick sends it.
//! Targets: at least 95 % of the configured rate sustained end to end, `plan` of 100,000 recipients
//! within 1 s, every recipient sent exactly once. Same-run baseline: the fake's own ceiling (the same
//! number of concurrent raw sends, straight through the Graph API client, no database).
//!
//! Run on demand: `cargo bench -p wacrm-core --bench broadcast [-- RECIPIENTS]`. It uses its own
//! database (`WACRM_BENCH_BROADCAST_DATABASE_URL`, default `…/wacrm_bench_broadcast`) and makes a new
//! business each run. The fake keeps only a count of accepted sends per recipient (not each request),
//! so the process's memory is the sender's: what a daemon sending the campaign would hold.
//!
//! With `WACRM_BENCH_DAEMON_PID` set (`scripts/bench-broadcast-daemon` does it), a running
//! `wacrm-webhookd` on the same database sends the campaign from its job queue instead, and the bench
//! samples that process's memory (`/proc/PID/status`) until the campaign completes.

#[allow(dead_code)] // the read benchmarks' large tenant and timing helpers
mod support;

use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use rust_decimal::Decimal;
use secrecy::SecretString;
use sqlx::postgres::PgPoolOptions;
use wacrm_core::broadcast::{self, Audience, CampaignStatus, NewCampaign, TickOptions};
use wacrm_core::inbox::send::Sender;
use wacrm_core::whatsapp::client::{Endpoint, GraphClient, RetryPolicy};
use wacrm_core::whatsapp::fake::FakeGraph;
use wacrm_core::whatsapp::pacing::{MAX_RATE, Pacer};
use wacrm_core::whatsapp::send::{Content, SendRequest};
use wacrm_core::{Scope, business};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/wacrm_bench_broadcast";
const PHONE_NUMBER_ID: &str = "106540352242922";
const CONCURRENCY: usize = 16;

fn retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        timeout: Duration::from_secs(30),
    }
}

/// Peak resident memory of this process so far, in MB.
fn peak_rss_mb() -> f64 {
    memory_mb("self", "VmHWM:")
}

/// A memory figure of a process (`VmRSS:` now, `VmHWM:` its peak), in MB.
fn memory_mb(pid: &str, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Transactions committed in the benchmark's database so far (what an fsync each costs on a durable server).
async fn commits(pool: &sqlx::PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        .fetch_one(pool)
        .await
}

/// The fake's own ceiling: `n` sends straight through the client at the benchmark's concurrency.
async fn fake_ceiling(fake: &FakeGraph, n: usize) -> f64 {
    let client = GraphClient::new(fake.base_url(), "v23.0", retry());
    let endpoint = Endpoint {
        phone_number_id: "999999999".into(),
        token: SecretString::from("bench-token"),
        base_url: None,
        version: None,
    };
    let started = Instant::now();
    let sends = (0..n).map(|i| {
        let (client, endpoint) = (&client, &endpoint);
        async move {
            let request = SendRequest::new(
                &format!("4479{i:08}"),
                Content::template("bench_offer", "en_US", &[format!("Customer {i}")]),
            );
            client.send(endpoint, &request).await.expect("the fake accepts")
        }
    });
    stream::iter(sends).buffer_unordered(CONCURRENCY).count().await;
    n as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: i32 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let url = std::env::var("WACRM_BENCH_BROADCAST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_string());
    support::ensure_database(&url).await?;
    let pool = PgPoolOptions::new().max_connections(CONCURRENCY as u32 + 8).connect(&url).await?;
    wacrm_core::db::migrate(&pool).await?;
    let fake = FakeGraph::start().await?;
    fake.count_sends_only();

    // A fresh business: one number on the fake, an approved template, n contacts, no plan limit.
    let stamp = chrono::Utc::now().timestamp_millis();
    let (b, _) = business::create(&pool, "Broadcast bench", &format!("bench-{stamp}@example.com"), "GB").await?;
    let scope = Scope::for_business(&pool, b.id).await?;
    let account = business::NewAccount {
        phone: format!("+4477009{:05}", stamp % 100_000),
        phone_number_id: format!("{PHONE_NUMBER_ID}{}", stamp % 1000),
        waba_id: None,
        token: "bench-token".into(),
        api_base_url: Some(fake.base_url().to_string()),
        api_version: Some("v23.0".into()),
    };
    business::add_account(&pool, &scope, &account).await?;
    sqlx::query(
        "UPDATE plans SET conversation_limit = 100000000
         WHERE id = (SELECT plan_id FROM subscriptions WHERE business_id = $1)",
    )
    .bind(b.id.0)
    .execute(&pool)
    .await?;
    sqlx::query(
        "INSERT INTO message_templates (business_id, name, content, status, category)
         VALUES ($1, 'bench_offer', 'Hi {{1}}, 10% off today.', 'approved', 'MARKETING')",
    )
    .bind(b.id.0)
    .execute(&pool)
    .await?;
    sqlx::query(
        "INSERT INTO contacts (business_id, phone, name)
         SELECT $1, '+4479' || lpad(g::text, 8, '0'), 'Customer ' || g FROM generate_series(1, $2) g",
    )
    .bind(b.id.0)
    .bind(n)
    .execute(&pool)
    .await?;
    sqlx::query("ANALYZE").execute(&pool).await?;
    let new = NewCampaign {
        name: "Bench".into(),
        template: "bench_offer".parse()?,
        params: [("1".to_string(), "@first_name".parse()?)].into(),
        audience: Audience::default(),
        reply_window_hours: 72,
    };
    let id = broadcast::create(&pool, &scope, &new).await?.id;

    let prices = broadcast::PriceTable::with(&Default::default())?;
    let plan = support::time(5, || {
        let (pool, scope, prices) = (&pool, &scope, &prices);
        async move {
            let planned = broadcast::plan(pool, scope, id, prices).await.expect("plan");
            assert_eq!(planned.audience.reachable, i64::from(n));
        }
    })
    .await;
    let ceiling = fake_ceiling(&fake, (n as usize).min(20_000)).await;
    // The ceiling's sends went to the same numbers: the exactly-once count starts here.
    fake.count_sends_only();
    let rss_before = peak_rss_mb();
    let started = Instant::now();
    broadcast::start(&pool, &scope, id).await?;
    let snapshot = started.elapsed();
    println!("plan ({n} recipients): median {:.1} ms, p95 {:.1} ms", support::ms(plan.median), support::ms(plan.p95));
    println!("start (snapshot of {n} recipient rows): {:.1} ms", support::ms(snapshot));
    if let Ok(pid) = std::env::var("WACRM_BENCH_DAEMON_PID") {
        return watch_daemon(&pool, &scope, id, &fake, n, &pid, ceiling).await;
    }

    let sender =
        Sender { client: GraphClient::new(fake.base_url(), "v23.0", retry()), conversation_price: Decimal::ZERO };
    let options = TickOptions {
        batch: 1_000,
        concurrency: CONCURRENCY,
        pacer: Some(Pacer::shared(MAX_RATE)?),
        ..TickOptions::default()
    };
    let commits_before = commits(&pool).await?;
    let started = Instant::now();
    let mut sent = 0;
    loop {
        let tick = broadcast::tick(&pool, &sender, scope.business(), id, options.clone()).await?;
        sent += tick.sent;
        if tick.status != Some(CampaignStatus::Running) {
            assert_eq!(tick.status, Some(CampaignStatus::Completed), "{tick:?}");
            break;
        }
    }
    let elapsed = started.elapsed();
    let rate = f64::from(sent) / elapsed.as_secs_f64();
    // Backends report their counters at most once a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let commits_per_send = (commits(&pool).await? - commits_before) as f64 / f64::from(sent.max(1));

    let per_recipient = fake.accepted_sends();
    let once = per_recipient.len() == n as usize && per_recipient.values().all(|c| *c == 1);

    println!("broadcast of {n} recipients, pacer {MAX_RATE}/s per number, {CONCURRENCY} sends in flight");
    println!("fake Graph API ceiling (raw sends, no database): {ceiling:.0} msg/s");
    println!(
        "sent {sent} in {:.1} s: {rate:.0} msg/s sustained ({:.1} % of the {MAX_RATE}/s configured)",
        elapsed.as_secs_f64(),
        rate / f64::from(MAX_RATE) * 100.0
    );
    println!(
        "database commits per message sent (whole database, the bench's own reads included): {commits_per_send:.3}"
    );
    println!("every recipient exactly once at the fake: {once} ({} distinct)", per_recipient.len());
    println!(
        "peak RSS: {rss_before:.0} MB before sending, {:.0} MB after (the fake's per-recipient counts included)",
        peak_rss_mb()
    );
    println!(
        "targets: ≥ 95 % of the configured rate: {}; plan ≤ 1 s: {}",
        if rate >= 0.95 * f64::from(MAX_RATE) { "met" } else { "MISSED" },
        if plan.median <= Duration::from_secs(1) { "met" } else { "MISSED" }
    );
    Ok(())
}

/// The campaign sent by a running `wacrm-webhookd` (its job queue, its settings' pacer): polls the
/// campaign until it completes, sampling the daemon's memory.
async fn watch_daemon(
    pool: &sqlx::PgPool,
    scope: &Scope,
    id: broadcast::CampaignId,
    fake: &FakeGraph,
    n: i32,
    pid: &str,
    ceiling: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut rss_max: f64 = 0.0;
    let status = loop {
        rss_max = rss_max.max(memory_mb(pid, "VmRSS:"));
        let status = broadcast::get(pool, scope, id).await?.status;
        if status != CampaignStatus::Running || started.elapsed() > Duration::from_secs(1800) {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let elapsed = started.elapsed();
    let per_recipient = fake.accepted_sends();
    let once = per_recipient.len() == n as usize && per_recipient.values().all(|c| *c == 1);
    let rate = f64::from(n) / elapsed.as_secs_f64();
    println!("broadcast of {n} recipients sent by wacrm-webhookd (pid {pid}): campaign {status:?}");
    println!("fake Graph API ceiling (raw sends, no database): {ceiling:.0} msg/s");
    println!("sent in {:.1} s from `start`: {rate:.0} msg/s", elapsed.as_secs_f64());
    println!("every recipient exactly once at the fake: {once} ({} distinct)", per_recipient.len());
    println!(
        "daemon memory: RSS at most {rss_max:.0} MB while sending (sampled each 100 ms), peak of its life (VmHWM) {:.0} MB",
        memory_mb(pid, "VmHWM:")
    );
    println!("target: daemon RSS < 150 MB: {}", if memory_mb(pid, "VmHWM:") < 150.0 { "met" } else { "MISSED" });
    Ok(())
}
