//! Running the queue: inside `wacrm-webhookd`, or as `wacrm jobs run [--once]` from cron.

use std::future::Future;
use std::time::Duration;

use graphile_worker::{Cron, WorkerOptions};
use sqlx::PgPool;

use super::{SCHEMA, Schedule, enqueue_on};
use crate::automation::AutomationTick;
use crate::billing::{RenewDueSubscriptions, RenewSubscription};
use crate::error::{Error, Result};

/// How a runner works.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Jobs run at the same time.
    pub concurrency: usize,
    /// How long a runner may go silent (no heartbeat) before another takes its locked jobs over.
    pub recovery_after: Duration,
}

impl Default for RunnerConfig {
    fn default() -> RunnerConfig {
        RunnerConfig { concurrency: 4, recovery_after: Duration::from_secs(60) }
    }
}

/// Every task and recurring schedule of wacrm.
fn options(pool: &PgPool, config: &RunnerConfig) -> Result<WorkerOptions> {
    let every_15_minutes = Cron::every_n_minutes::<RenewDueSubscriptions>(15)
        .map_err(|e| Error::internal(format!("renewal schedule: {e}")))?
        .job_key(RenewDueSubscriptions::KEY);
    let every_minute = Cron::every_n_minutes::<AutomationTick>(1)
        .map_err(|e| Error::internal(format!("automation schedule: {e}")))?
        .job_key(AutomationTick::KEY);
    let threshold = config.recovery_after.max(Duration::from_secs(1));
    Ok(WorkerOptions::default()
        .pg_pool(pool.clone())
        .schema(SCHEMA)
        .concurrency(config.concurrency.max(1))
        .define_job::<RenewSubscription>()
        .define_job::<RenewDueSubscriptions>()
        .define_job::<crate::broadcast::CampaignTick>()
        .with_cron(every_15_minutes)
        .define_job::<AutomationTick>()
        .with_cron(every_minute)
        .heartbeat_interval((threshold / 4).max(Duration::from_millis(250)))
        .sweep_interval((threshold / 2).max(Duration::from_millis(500)))
        .sweep_threshold(threshold)
        .recovery_delay(Duration::from_secs(1))
        .listen_os_shutdown_signals(false))
}

/// Runs jobs as they fall due until `shutdown` completes; jobs in flight get 5 s to finish, and any
/// cut short run again later.
pub async fn run(
    pool: &PgPool,
    config: &RunnerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let worker = options(pool, config)?.shutdown_signal(shutdown).init().await.map_err(init_error)?;
    worker.run().await.map_err(|e| Error::unavailable(format!("the job runner stopped: {e}"), RETRY_HINT))
}

/// Runs every job due now, then returns: for installations that drive everything from cron. The
/// recurring sweeps are queued first (each under its key, so a live one is not doubled), since a
/// runner that exits at once keeps no schedule of its own.
pub async fn run_once(pool: &PgPool, config: &RunnerConfig) -> Result<()> {
    let worker = options(pool, config)?.init().await.map_err(init_error)?;
    let mut conn = pool.acquire().await?;
    let sweep = Schedule { key: Some(RenewDueSubscriptions::KEY.into()), keep_run_at: true, ..Schedule::default() };
    enqueue_on(&mut conn, &RenewDueSubscriptions {}, &sweep).await?;
    let pass = Schedule { key: Some(AutomationTick::KEY.into()), keep_run_at: true, ..Schedule::default() };
    enqueue_on(&mut conn, &AutomationTick {}, &pass).await?;
    drop(conn);
    worker.run_once().await.map_err(|e| Error::unavailable(format!("running due jobs failed: {e}"), RETRY_HINT))
}

const RETRY_HINT: &str = "check the database connection (`wacrm db status`) and run it again";

fn init_error(e: graphile_worker::WorkerBuildError) -> Error {
    Error::unavailable(format!("cannot start the job runner: {e}"), RETRY_HINT)
}
