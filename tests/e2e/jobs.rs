//! The job queue survives its runner's death: `wacrm jobs run` killed with SIGKILL halfway through
//! 1,000 due renewals, then started again, leaves every subscription renewed exactly once.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};
use wacrm_e2e::{TestDb, binary, wacrm};

const JOBS: i64 = 1_000;

fn runner(db: &TestDb) -> anyhow::Result<Child> {
    Ok(Command::new(binary("wacrm"))
        .args(["--database-url", &db.url, "jobs", "run", "--concurrency", "4", "--recovery-after", "2"])
        .env("WACRM_CONFIG", "/nonexistent/wacrm-e2e-config.toml")
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?)
}

async fn scalar(conn: &mut PgConnection, sql: &'static str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(conn).await?)
}

#[tokio::test]
async fn a_killed_job_runner_leaves_every_due_job_run_exactly_once() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    // The first command migrates the database and installs the queue and the plans.
    wacrm(&db, &["--json", "business", "create", "--name", "First", "--email", "first@jobs.test"]).ok()?;
    let mut conn = PgConnection::connect(&db.url).await?;
    sqlx::query(
        "INSERT INTO businesses (business_name, email)
         SELECT 'Tenant ' || n, 'tenant' || n || '@jobs.test' FROM generate_series(2, $1) AS n",
    )
    .bind(JOBS)
    .execute(&mut conn)
    .await?;
    sqlx::query(
        "INSERT INTO subscriptions (business_id, plan_id, renews_at, status)
         SELECT b.id, (SELECT id FROM plans ORDER BY price LIMIT 1), now(), 'active'
         FROM businesses b WHERE NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.business_id = b.id)",
    )
    .execute(&mut conn)
    .await?;
    sqlx::query("UPDATE subscriptions SET renews_at = date_trunc('second', now()) - interval '1 minute'")
        .execute(&mut conn)
        .await?;
    sqlx::query("CREATE TABLE renewal_dates AS SELECT id, renews_at FROM subscriptions").execute(&mut conn).await?;
    // 1,000 due jobs, as the renewal sweep queues them.
    sqlx::query(
        "SELECT graphile_worker.add_job('billing.renew_subscription',
                    json_build_object('business_id', business_id, 'subscription_id', id),
                    job_key => 'billing:renew:' || id)
         FROM subscriptions",
    )
    .execute(&mut conn)
    .await?;
    assert_eq!(scalar(&mut conn, "SELECT count(*) FROM graphile_worker.jobs").await?, JOBS);

    let mut first = runner(&db)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = scalar(&mut conn, "SELECT count(*) FROM subscription_periods").await?;
        if done >= 50 {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the runner renewed only {done} in 120 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill()?; // SIGKILL: no chance to release its jobs
    first.wait()?;
    let at_kill = scalar(&mut conn, "SELECT count(*) FROM subscription_periods").await?;
    assert!(at_kill < JOBS, "the runner finished before it was killed: the test proves nothing");

    let mut second = runner(&db)?;
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let done = scalar(&mut conn, "SELECT count(*) FROM subscription_periods").await?;
        let waiting = scalar(&mut conn, "SELECT count(*) FROM graphile_worker.jobs WHERE run_at <= now()").await?;
        if done == JOBS && waiting == 0 {
            break;
        }
        if Instant::now() >= deadline {
            let due: Vec<(String, i16, Option<String>, bool)> = sqlx::query_as(
                "SELECT task_identifier, attempts, last_error, locked_at IS NOT NULL
                 FROM graphile_worker.jobs WHERE run_at <= now()",
            )
            .fetch_all(&mut conn)
            .await?;
            anyhow::bail!("after the restart: {done} renewed, {waiting} jobs still due: {due:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    second.kill()?;
    second.wait()?;

    // Exactly once: one period each, and each date moved on by one period, not two.
    let per_subscription = scalar(
        &mut conn,
        "SELECT count(*) FROM (SELECT subscription_id FROM subscription_periods
                               GROUP BY subscription_id HAVING count(*) <> 1) AS wrong",
    )
    .await?;
    assert_eq!(per_subscription, 0);
    let moved_once = scalar(
        &mut conn,
        "SELECT count(*) FROM subscriptions s JOIN renewal_dates d USING (id)
         WHERE s.renews_at = d.renews_at + interval '30 days'",
    )
    .await?;
    assert_eq!(moved_once, JOBS);
    // What is left is each subscription's next renewal, a period away; nothing failed.
    let next = scalar(&mut conn, "SELECT count(*) FROM graphile_worker.jobs WHERE run_at > now() + interval '29 days'")
        .await?;
    assert_eq!(next, JOBS);
    let failed = scalar(&mut conn, "SELECT count(*) FROM graphile_worker.jobs WHERE attempts >= max_attempts").await?;
    assert_eq!(failed, 0);
    Ok(())
}
