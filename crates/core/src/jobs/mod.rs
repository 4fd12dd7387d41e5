//! Durable delayed, scheduled and recurring work, on graphile_worker.
//!
//! The queue wakes work up; it is not the source of truth. Each task re-reads the state it acts on and
//! guards anything a customer sees with a unique row of its owner module (a job key only dedupes live
//! jobs, and a job running when its runner dies runs again). Jobs are added in the caller's transaction
//! ([`enqueue_on`]), so a follow-up exists exactly when the change that asked for it commits.
//!
//! The queue's schema (`graphile_worker`) is installed by its own migrator from [`crate::db::migrate`],
//! after wacrm's migrations; it is a plain (coordinator-local) schema, not tenant data.

mod admin;
mod runner;

use chrono::{DateTime, Utc};
use graphile_worker::TaskHandler;
use sqlx::{PgConnection, PgPool};

use crate::error::{Error, Result};

pub use admin::{JobRow, JobState, QueueStats, cancel, list, retry, show, stats};
pub use runner::{RunnerConfig, run, run_once};

/// The PostgreSQL schema of the queue.
pub const SCHEMA: &str = "graphile_worker";

/// Installs or upgrades the queue's schema (a no-op when current). Concurrent callers are serialised by
/// graphile_worker's own lock.
pub async fn install(pool: &PgPool) -> Result<()> {
    graphile_worker::WorkerUtils::new(pool, SCHEMA).migrate().await.map_err(|e| {
        Error::unavailable(
            format!("cannot install the job queue's schema: {e}"),
            "the database user needs CREATE on the database; check the database URL",
        )
    })
}

/// When and how a job runs.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    /// Not before this time (now when `None`).
    pub run_at: Option<DateTime<Utc>>,
    /// At most one live job per key: adding a job whose key is live replaces that job's payload.
    pub key: Option<String>,
    /// With a key: keep the live job's time instead of moving it to `run_at`.
    pub keep_run_at: bool,
    /// Attempts before the job counts as failed (graphile_worker's default, 25, when `None`).
    pub max_attempts: Option<i16>,
}

/// Adds a job in the caller's transaction: it exists exactly when the transaction commits.
pub async fn enqueue_on<T: TaskHandler>(conn: &mut PgConnection, task: &T, schedule: &Schedule) -> Result<i64> {
    let payload = serde_json::to_value(task).map_err(|e| Error::internal(format!("job payload: {e}")))?;
    let mode = if schedule.keep_run_at { "preserve_run_at" } else { "replace" };
    // graphile_worker's documented SQL entry point, so it joins the caller's transaction.
    let id: i64 = sqlx::query_scalar(
        "SELECT (graphile_worker.add_job(identifier => $1, payload => $2::json, run_at => $3,
                                        max_attempts => $4, job_key => $5, job_key_mode => $6)).id",
    )
    .bind(T::IDENTIFIER)
    .bind(payload)
    .bind(schedule.run_at)
    .bind(schedule.max_attempts)
    .bind(schedule.key.as_deref())
    .bind(schedule.key.as_ref().map(|_| mode))
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// A task that runs on a fixed period, one live job at a time (its key). The runner schedules every one
/// of them, and `wacrm jobs run --once` queues them, from the one list in the runner.
pub trait Recurring: TaskHandler + Default {
    /// The job key: at most one live job of the task.
    const KEY: &'static str;
    const EVERY_MINUTES: u32;
}

/// What a task reports when it fails: graphile_worker records it as the job's `last_error` and retries
/// with backoff.
pub(crate) fn failure(task: &str, error: &Error) -> String {
    format!("{task}: {}", error.with_hint())
}
