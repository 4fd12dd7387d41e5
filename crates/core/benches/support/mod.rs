//! What the on-demand benchmarks share: timing with median and p95, and their own database.

use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection, PgPool};
use wacrm_core::Scope;
use wacrm_core::demo::{self, DemoTenant, Scale};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/wacrm_bench";

/// The benchmark database (`WACRM_BENCH_DATABASE_URL`, default the local server's `wacrm_bench`),
/// created, migrated and given the large demo tenant on first use, then analysed.
pub async fn large_tenant() -> Result<(PgPool, DemoTenant, Scope), Box<dyn std::error::Error>> {
    let url = std::env::var("WACRM_BENCH_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_string());
    ensure_database(&url).await?;
    let pool = PgPool::connect(&url).await?;
    wacrm_core::db::migrate(&pool).await?;
    eprintln!("setting up the large tenant (first run only)…");
    let tenant = demo::ensure(&pool, Scale::Large, None).await?;
    eprintln!("tenant {}: {} contacts, {} messages", tenant.business, tenant.contacts, tenant.messages);
    let scope = Scope::for_business(&pool, tenant.business).await?;
    sqlx::query("ANALYZE").execute(&pool).await?;
    Ok((pool, tenant, scope))
}

pub struct Stats {
    pub median: Duration,
    pub p95: Duration,
    pub runs: usize,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Stats { median: at(0.5), p95: at(0.95), runs: samples.len() }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs `f` `runs` times and keeps each run's wall time.
pub async fn time<F, Fut>(runs: usize, mut f: F) -> Stats
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        f().await;
        samples.push(started.elapsed());
    }
    stats(samples)
}

/// Creates the benchmark database if it is missing (an admin statement, not tenant data).
pub async fn ensure_database(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    // A socket's options (`?host=`) come after the name, and the admin connection keeps them.
    let (path, options) = url.split_once('?').map_or((url, String::new()), |(p, o)| (p, format!("?{o}")));
    let (server, name) = path.rsplit_once('/').ok_or("the database URL has no database name")?;
    let mut admin = PgConnection::connect(&format!("{server}/postgres{options}")).await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut admin)
        .await?;
    if !exists {
        // Audited: the name comes from the operator's own URL, and quotes are removed before quoting it.
        let create = format!("CREATE DATABASE \"{}\"", name.replace('"', ""));
        sqlx::raw_sql(sqlx::AssertSqlSafe(create)).execute(&mut admin).await?;
    }
    Ok(())
}
