//! `wacrm db`: the database wacrm uses — the embedded default cluster or a configured server.

use anyhow::{Result, bail};
use clap::Subcommand;
use serde::Serialize;
use wacrm_core::db::{self, Source, cluster::Cluster};

use crate::context::Context;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending schema migrations (every command also does this when it finds the database behind).
    ///
    /// Example: wacrm db migrate
    Migrate,
    /// Show where the database is, whether it runs, and which migrations it has. Starts nothing: a
    /// stopped embedded cluster is reported stopped, without its migrations.
    ///
    /// Example: wacrm db status --json
    Status,
    /// Start the embedded cluster (first use initialises it).
    ///
    /// Example: wacrm db start
    Start,
    /// Stop the embedded cluster.
    ///
    /// Example: wacrm db stop
    Stop,
    /// Print the connection URL, for psql and scripts.
    ///
    /// Example: psql "$(wacrm db url)" -c '\dt'
    Url,
}

#[derive(Serialize)]
struct Status {
    source: &'static str,
    url: String,
    running: bool,
    /// Unknown (null) while the embedded cluster is stopped.
    migrations_applied: Option<usize>,
    migrations_total: usize,
    pending: Vec<String>,
}

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    let source = Source::from_settings(&ctx.settings);
    match command {
        Command::Migrate => {
            let pool = ctx.pool().await?;
            let states = db::migration_states(pool).await?;
            ctx.out.done(&format!("schema up to date ({} migrations applied)", states.len()), &states)
        }
        Command::Status => {
            let (source_name, running, url) = match &source {
                Source::Url(url) => ("url", true, url.clone()),
                Source::Embedded => {
                    let cluster = blocking(Cluster::at_default_location).await?;
                    let url = cluster.url();
                    let status = blocking(move || cluster.status()).await?;
                    ("embedded", status.running, url)
                }
            };
            let states = match running {
                true => Some(db::migration_states(&wacrm_core::db::connect_url(&url).await?).await?),
                false => None,
            };
            let status = Status {
                source: source_name,
                url: wacrm_core::config::mask_url_password(&url),
                running,
                migrations_applied: states.as_ref().map(|s| s.iter().filter(|s| s.applied).count()),
                migrations_total: db::MIGRATOR.iter().filter(|m| !m.migration_type.is_down_migration()).count(),
                pending: states
                    .iter()
                    .flatten()
                    .filter(|s| !s.applied)
                    .map(|s| format!("{} {}", s.version, s.description))
                    .collect(),
            };
            ctx.out.record(&status)
        }
        Command::Start => {
            let Source::Embedded = source else { bail!(not_embedded()) };
            let url = source.url().await?;
            ctx.out.done(&format!("embedded database running at {url}"), &serde_json::json!({ "url": url }))
        }
        Command::Stop => {
            ctx.require_operator("stopping the database")?;
            let Source::Embedded = source else { bail!(not_embedded()) };
            let cluster = blocking(Cluster::at_default_location).await?;
            blocking(move || cluster.stop()).await?;
            ctx.out.done("embedded database stopped", &serde_json::json!({ "running": false }))
        }
        Command::Url => ctx.out.line(source.url().await?),
    }
}

fn not_embedded() -> String {
    "a database URL is configured, so wacrm does not manage the server; unset --database-url / \
     WACRM_DATABASE_URL / DATABASE_URL to use the embedded default"
        .into()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> wacrm_core::Result<T> + Send + 'static) -> Result<T> {
    Ok(tokio::task::spawn_blocking(f).await??)
}
