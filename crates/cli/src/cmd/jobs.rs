//! `wacrm jobs`: the durable job queue (renewals and, as the dashboards land, follow-ups, campaigns,
//! template sync). `wacrm-webhookd` runs the queue; `wacrm jobs run` does it for installations that
//! drive everything from cron. The queue spans every business, so these commands are the installation
//! operator's and refused to a logged-in user.

use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;
use wacrm_core::MAX_LISTED_ROWS;
use wacrm_core::jobs::{self, JobState, RunnerConfig};

use crate::cmd::rows;
use crate::context::Context;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run jobs as they fall due, until interrupted (Ctrl-C or SIGTERM); with --once, run the jobs due
    /// now and exit (for cron: `* * * * * wacrm jobs run --once`). Several runners share the queue
    /// safely: each job runs on one of them.
    ///
    /// Example: wacrm jobs run --once
    Run {
        /// Run the jobs due now, then exit.
        #[arg(long)]
        once: bool,
        /// Jobs run at the same time.
        #[arg(long, env = "WACRM_JOBS_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: u16,
        /// Seconds a runner may go silent before another takes over its unfinished jobs.
        #[arg(long, env = "WACRM_JOBS_RECOVERY_AFTER", value_name = "SECONDS", default_value_t = 60,
              value_parser = clap::value_parser!(u64).range(1..=86_400))]
        recovery_after: u64,
    },
    /// List jobs, soonest first.
    ///
    /// States: scheduled (waiting for its time), due (waiting for a runner; a failed attempt waits
    /// here for its retry), running, failed (every attempt failed: retry or cancel it).
    ///
    /// Example: wacrm jobs list --state failed --json | jq '.[].last_error'
    List {
        /// Only jobs in this state.
        #[arg(long, value_parser = parse_state)]
        state: Option<JobState>,
        /// Only jobs of this task (e.g. billing.renew_subscription).
        #[arg(long)]
        task: Option<String>,
        /// How many jobs to show (1-10000).
        #[arg(long, default_value_t = 50, value_parser = rows(MAX_LISTED_ROWS))]
        limit: i64,
    },
    /// One job with its payload and last error.
    ///
    /// Example: wacrm jobs show 42
    Show { id: i64 },
    /// Run jobs again now with fresh attempts (failed ones, or waiting ones early). A running job is
    /// refused.
    ///
    /// Example: wacrm jobs retry 42 43
    Retry {
        #[arg(required = true)]
        ids: Vec<i64>,
    },
    /// Remove jobs so they never run. A running job is refused.
    ///
    /// Example: wacrm jobs cancel 42
    Cancel {
        #[arg(required = true)]
        ids: Vec<i64>,
    },
}

fn parse_state(input: &str) -> Result<JobState, String> {
    input.parse().map_err(|e: wacrm_core::Error| e.to_string())
}

const COLUMNS: &[&str] = &["id", "task", "state", "run_at", "attempts", "max_attempts", "key", "last_error"];

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    ctx.require_operator("the job queue")?;
    let pool = ctx.pool().await?;
    match command {
        Command::Run { once, concurrency, recovery_after } => {
            let config =
                RunnerConfig { concurrency: concurrency.into(), recovery_after: Duration::from_secs(recovery_after) };
            if once {
                jobs::run_once(pool, &config).await?;
            } else {
                jobs::run(pool, &config, shutdown()).await?;
            }
            Ok(())
        }
        Command::List { state, task, limit } => {
            let rows = jobs::list(pool, state, task.as_deref(), limit).await?;
            ctx.out.list(&rows, COLUMNS)
        }
        Command::Show { id } => ctx.out.record(&jobs::show(pool, id).await?),
        Command::Retry { ids } => {
            let done = jobs::retry(pool, &ids).await?;
            ctx.out.done(&format!("{} job(s) due again now", done.len()), &done)
        }
        Command::Cancel { ids } => {
            let done = jobs::cancel(pool, &ids).await?;
            ctx.out.done(&format!("{} job(s) cancelled", done.len()), &done)
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
