//! The job queue hosted by the daemon (unless `--jobs off`): a runner beside the webhook workers, and
//! the queue's gauges for `/metrics`.

use std::future::Future;
use std::time::Duration;

use wacrm_core::db::Pool as PgPool;
use wacrm_core::jobs::{self, RunnerConfig};

/// How often the queue's gauges are read.
const STATS_EVERY: Duration = Duration::from_secs(10);

/// Runs due jobs until `shutdown`, and keeps the queue's gauges current. A runner that stops on an
/// error (the database went away) is started again after a pause: webhooks keep being acknowledged.
pub async fn host(pool: PgPool, config: RunnerConfig, shutdown: impl Future<Output = ()> + Send + Clone + 'static) {
    let gauges = tokio::spawn(publish_stats(pool.clone()));
    loop {
        match jobs::run(&pool, &config, shutdown.clone()).await {
            Ok(()) => break,
            Err(e) => {
                tracing::error!(error = %e, "the job runner stopped; starting it again in 5 s");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    _ = shutdown.clone() => break,
                }
            }
        }
    }
    gauges.abort();
}

async fn publish_stats(pool: PgPool) {
    let mut every = tokio::time::interval(STATS_EVERY);
    loop {
        every.tick().await;
        match jobs::stats(&pool).await {
            Ok(stats) => {
                metrics::gauge!("wacrm_jobs", "state" => "scheduled").set(stats.scheduled as f64);
                metrics::gauge!("wacrm_jobs", "state" => "due").set(stats.due as f64);
                metrics::gauge!("wacrm_jobs", "state" => "running").set(stats.running as f64);
                metrics::gauge!("wacrm_jobs", "state" => "failed").set(stats.failed as f64);
                metrics::gauge!("wacrm_jobs_oldest_due_seconds").set(stats.oldest_due_seconds);
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the job queue's figures"),
        }
    }
}
