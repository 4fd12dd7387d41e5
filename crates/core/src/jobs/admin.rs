//! `wacrm jobs list|show|retry|cancel` and the queue's metrics, over graphile_worker's `jobs` view.
//! The queue spans every business: these are the installation operator's.
//!
//! The queries are unchecked (`sqlx::query_as`, not the macros): the queue's schema is installed by its
//! own migrator, so the query cache's database does not have it.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use graphile_worker::WorkerUtils;
use graphile_worker::worker_utils::types::RescheduleJobOptions;
use serde::Serialize;
use sqlx::PgPool;

use super::SCHEMA;
use crate::error::{Error, Result, op};
use crate::types::MAX_LISTED_ROWS;

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for its time.
    Scheduled,
    /// Due and waiting for a runner (a failed attempt waits here for its retry).
    Due,
    /// A runner holds it.
    Running,
    /// Every attempt failed: it stays until retried or cancelled.
    Failed,
}

impl JobState {
    pub const ALL: &'static [JobState] = &[JobState::Scheduled, JobState::Due, JobState::Running, JobState::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Scheduled => "scheduled",
            JobState::Due => "due",
            JobState::Running => "running",
            JobState::Failed => "failed",
        }
    }
}

impl FromStr for JobState {
    type Err = Error;
    fn from_str(s: &str) -> Result<JobState> {
        JobState::ALL.iter().copied().find(|state| state.as_str() == s.trim().to_lowercase()).ok_or_else(|| {
            Error::invalid(format!("{s:?} is not a job state"), "use one of scheduled, due, running, failed")
        })
    }
}

/// A job as the operator sees it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct JobRow {
    pub id: i64,
    pub task: String,
    #[sqlx(try_from = "String")]
    pub state: StateText,
    pub key: Option<String>,
    pub run_at: DateTime<Utc>,
    pub attempts: i16,
    pub max_attempts: i16,
    pub last_error: Option<String>,
    pub locked_by: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Only `show` reads it.
    #[sqlx(default)]
    pub payload: Option<serde_json::Value>,
}

/// A state as read from the database (always one of [`JobState`]'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct StateText(pub JobState);

impl TryFrom<String> for StateText {
    type Error = Error;
    fn try_from(s: String) -> Result<StateText> {
        s.parse().map(StateText)
    }
}

/// The state of a row of the `jobs` view, in SQL.
const STATE: &str = "CASE WHEN j.attempts >= j.max_attempts THEN 'failed'
                          WHEN j.locked_at IS NOT NULL THEN 'running'
                          WHEN j.run_at <= now() THEN 'due'
                          ELSE 'scheduled' END";

fn select(extra: &str) -> String {
    format!(
        "SELECT j.id, j.task_identifier AS task, {STATE} AS state, j.key, j.run_at, j.attempts, j.max_attempts,
                j.last_error, j.locked_by, j.created_at{extra}
         FROM {SCHEMA}.jobs j"
    )
}

/// Jobs, soonest first, optionally of one state and one task.
pub async fn list(pool: &PgPool, state: Option<JobState>, task: Option<&str>, limit: i64) -> Result<Vec<JobRow>> {
    let limit = crate::listing::limit(limit, MAX_LISTED_ROWS)?;
    let sql = format!(
        "SELECT * FROM ({}) AS listed
         WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR task = $2)
         ORDER BY run_at, id LIMIT $3",
        select("")
    );
    Ok(sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(sql))
        .bind(state.map(JobState::as_str))
        .bind(task)
        .bind(limit)
        .fetch_all(pool)
        .await?)
}

/// One job with its payload.
pub async fn show(pool: &PgPool, id: i64) -> Result<JobRow> {
    // The view leaves the payload out; the private table is read for it (graphile_worker 0.14's layout).
    let sql = format!(
        "{} WHERE j.id = $1",
        select(&format!(", (SELECT p.payload::jsonb FROM {SCHEMA}._private_jobs p WHERE p.id = j.id) AS payload"))
    );
    sqlx::query_as::<_, JobRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| Error::not_found(format!("job {id}")))
}

/// Makes failed or waiting jobs due now with fresh attempts. A running job is left alone (it is
/// refused): its runner decides its fate.
pub async fn retry(pool: &PgPool, ids: &[i64]) -> Result<Vec<JobRow>> {
    let jobs = existing(pool, ids).await?;
    refuse_running(&jobs, "retry")?;
    let options = RescheduleJobOptions { run_at: Some(Utc::now()), attempts: Some(0), ..Default::default() };
    WorkerUtils::new(pool, SCHEMA).reschedule_jobs(ids, options).await.map_err(queue_error)?;
    existing(pool, ids).await
}

/// Removes jobs that are not running: they will not run. Returns them as they were.
pub async fn cancel(pool: &PgPool, ids: &[i64]) -> Result<Vec<JobRow>> {
    let jobs = existing(pool, ids).await?;
    refuse_running(&jobs, "cancel")?;
    // Completing a job deletes it; locked ones would be skipped, and were refused above.
    WorkerUtils::new(pool, SCHEMA).complete_jobs(ids).await.map_err(queue_error)?;
    Ok(jobs)
}

async fn existing(pool: &PgPool, ids: &[i64]) -> Result<Vec<JobRow>> {
    let mut jobs = Vec::with_capacity(ids.len());
    for &id in ids {
        jobs.push(show(pool, id).await?);
    }
    Ok(jobs)
}

fn refuse_running(jobs: &[JobRow], verb: &str) -> Result<()> {
    match jobs.iter().find(|job| job.state.0 == JobState::Running) {
        Some(job) => Err(Error::conflict(
            format!("job {} is running ({})", job.id, job.locked_by.as_deref().unwrap_or("a runner")),
            format!("wait for it to finish or fail, then {verb} it"),
        )),
        None => Ok(()),
    }
}

fn queue_error(e: graphile_worker::errors::GraphileWorkerError) -> Error {
    Error::unavailable(
        format!("the job queue refused the change: {e}"),
        format!("check {} and try again", op("db status")),
    )
}

/// The queue at a glance, for Prometheus.
#[derive(Debug, Clone, Default, Serialize, sqlx::FromRow)]
pub struct QueueStats {
    pub scheduled: i64,
    pub due: i64,
    pub running: i64,
    pub failed: i64,
    /// How long the oldest due job has waited past its time, in seconds (0 when none waits).
    pub oldest_due_seconds: f64,
}

pub async fn stats(pool: &PgPool) -> Result<QueueStats> {
    let sql = format!(
        "SELECT count(*) FILTER (WHERE state = 'scheduled') AS scheduled,
                count(*) FILTER (WHERE state = 'due') AS due,
                count(*) FILTER (WHERE state = 'running') AS running,
                count(*) FILTER (WHERE state = 'failed') AS failed,
                coalesce(extract(epoch FROM now() - min(run_at) FILTER (WHERE state = 'due')), 0)::float8
                    AS oldest_due_seconds
         FROM ({}) AS listed",
        select("")
    );
    Ok(sqlx::query_as::<_, QueueStats>(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?)
}
