//! Running the queue: inside `wacrm-webhookd`, or as `wacrm jobs run [--once]` from cron.

use std::future::Future;
use std::time::Duration;

use graphile_worker::{Cron, CronBuilder, WorkerOptions};
use sqlx::{PgConnection, PgPool};

use super::{Recurring, SCHEMA, Schedule, enqueue_on};
use crate::analytics::RefreshAnalytics;
use crate::automation::{self, AutomationTick};
use crate::billing::{RenewDueSubscriptions, RenewSubscription};
use crate::config::{Overrides, Settings};
use crate::error::{Error, Result, op};
use crate::inbox::send::Sender;
use crate::templates::SyncTemplates;

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

/// The one list of recurring tasks: [`options`] schedules each, [`run_once`] queues each. `$each` is a
/// macro taking one task type.
macro_rules! recurring_tasks {
    ($each:ident) => {
        $each!(RenewDueSubscriptions);
        $each!(AutomationTick);
        $each!(SyncTemplates);
        $each!(RefreshAnalytics);
    };
}

/// Every task and recurring schedule of wacrm.
fn options(pool: &PgPool, config: &RunnerConfig) -> Result<WorkerOptions> {
    let threshold = config.recovery_after.max(Duration::from_secs(1));
    let mut options = WorkerOptions::default()
        .pg_pool(pool.clone())
        .schema(SCHEMA)
        .concurrency(config.concurrency.max(1))
        .define_job::<RenewSubscription>()
        .define_job::<crate::broadcast::CampaignTick>()
        .heartbeat_interval((threshold / 4).max(Duration::from_millis(250)))
        .sweep_interval((threshold / 2).max(Duration::from_millis(500)))
        .sweep_threshold(threshold)
        .recovery_delay(Duration::from_secs(1))
        .listen_os_shutdown_signals(false);
    macro_rules! schedule {
        ($task:ty) => {
            options = scheduled::<$task>(options)?;
        };
    }
    recurring_tasks!(schedule);
    Ok(options)
}

/// Defines a recurring task and its schedule.
fn scheduled<T: Recurring>(options: WorkerOptions) -> Result<WorkerOptions> {
    Ok(options.define_job::<T>().with_cron(cron::<T>()?))
}

/// A recurring task's schedule. Its jobs carry the task's own (default) payload: without one a cron
/// job's payload is null, which a task struct does not deserialize from, and every run would fail.
fn cron<T: Recurring>() -> Result<CronBuilder<T>> {
    let schedule = |e: &dyn std::fmt::Display| Error::internal(format!("the schedule of {}: {e}", T::IDENTIFIER));
    Cron::every_n_minutes::<T>(T::EVERY_MINUTES)
        .map_err(|e| schedule(&e))?
        .job_key(T::KEY)
        .payload(T::default())
        .map_err(|e| schedule(&e))
}

/// Runs jobs as they fall due until `shutdown` completes; jobs in flight get 5 s to finish, and any
/// cut short run again later.
pub async fn run(
    pool: &PgPool,
    config: &RunnerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let worker = options(pool, config)?.shutdown_signal(shutdown).init().await.map_err(init_error)?;
    let reactor = tokio::spawn(react(pool.clone()));
    let ran = worker.run().await.map_err(|e| Error::unavailable(format!("the job runner stopped: {e}"), retry_hint()));
    reactor.abort();
    ran
}

/// Automation beside the runner: replies go out as their events commit, not at the next minute's tick
/// ([`crate::automation::react`]); started again after a pause when its listener cannot connect.
async fn react(pool: PgPool) {
    let settings = match Settings::load(&Overrides::default()) {
        Ok(settings) => settings,
        Err(e) => {
            tracing::error!(error = %e, "automation reacts at the minute's tick only: the settings do not load");
            return;
        }
    };
    let (sender, options) = (Sender::from_settings(&settings), automation::Options::from_settings(&settings));
    loop {
        if let Err(e) = automation::react(&pool, &sender, &options).await {
            tracing::warn!(error = %e, "automation cannot listen for new events; trying again in 5 s");
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}

/// Runs every job due now, then returns: for installations that drive everything from cron. The
/// recurring sweeps are queued first (each under its key, so a live one is not doubled), since a
/// runner that exits at once keeps no schedule of its own.
pub async fn run_once(pool: &PgPool, config: &RunnerConfig) -> Result<()> {
    let worker = options(pool, config)?.init().await.map_err(init_error)?;
    let mut conn = pool.acquire().await?;
    macro_rules! queue {
        ($task:ty) => {
            queued::<$task>(&mut conn).await?;
        };
    }
    recurring_tasks!(queue);
    drop(conn);
    worker.run_once().await.map_err(|e| Error::unavailable(format!("running due jobs failed: {e}"), retry_hint()))
}

/// Queues a recurring task now, unless one is live (its key).
async fn queued<T: Recurring>(conn: &mut PgConnection) -> Result<i64> {
    let schedule = Schedule { key: Some(T::KEY.into()), keep_run_at: true, ..Schedule::default() };
    enqueue_on(conn, &T::default(), &schedule).await
}

fn retry_hint() -> String {
    format!("check the database connection ({}) and run it again", op("db status"))
}

fn init_error(e: graphile_worker::WorkerBuildError) -> Error {
    Error::unavailable(format!("cannot start the job runner: {e}"), retry_hint())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the runner does with a cron job's payload: deserialize it into the task.
    fn runs_from_its_cron_payload<T: Recurring + serde::de::DeserializeOwned>() {
        let crontab = cron::<T>().unwrap().build();
        let payload = crontab.payload.unwrap_or(serde_json::Value::Null);
        assert!(
            serde_json::from_value::<T>(payload).is_ok(),
            "{}: its cron payload does not deserialize",
            T::IDENTIFIER
        );
    }

    #[test]
    fn every_recurring_task_deserializes_from_its_cron_payload() {
        macro_rules! check {
            ($task:ty) => {
                runs_from_its_cron_payload::<$task>();
            };
        }
        recurring_tasks!(check);
    }
}
