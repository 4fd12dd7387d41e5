//! `wacrm-webhookd`: the WhatsApp Cloud API webhook receiver. Thin: settings, logging, database, then
//! `wacrm_webhookd::serve`.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::Parser;
use futures::FutureExt;
use secrecy::{ExposeSecret, SecretString};
use tracing_subscriber::EnvFilter;
use wacrm_core::config::{Overrides, Settings};
use wacrm_core::inbox::ingest::IngestConfig;
use wacrm_core::jobs::RunnerConfig;
use wacrm_webhookd::{AppState, DaemonConfig};

/// glibc's allocator spent ~4% of the machine under load on the daemon's many short-lived buffers
/// (request bodies, JSON values, query arguments), consolidating and unlinking chunks between threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Receives WhatsApp Cloud API webhooks: verifies, stores, acknowledges, then processes them.
///
/// Point the Meta App Dashboard's callback URL at http(s)://<this host>/webhook (`/` works too): GET
/// there answers the verification handshake, POST takes the webhooks. GET /healthz and GET /metrics
/// are for monitoring.
///
/// Settings not given as flags come from the environment (WACRM_WEBHOOK_LISTEN, WACRM_APP_SECRET,
/// WACRM_VERIFY_TOKEN, WACRM_METRICS_TOKEN, DATABASE_URL or WACRM_DATABASE_URL) or the wacrm config
/// file; without a database URL the embedded default cluster is used, as `wacrm` does. With a metrics
/// token set, GET /metrics needs `Authorization: Bearer <token>`.
#[derive(Debug, Parser)]
#[command(name = "wacrm-webhookd", version)]
struct Args {
    /// Address to listen on [default: 127.0.0.1:8787; env: WACRM_WEBHOOK_LISTEN].
    #[arg(long)]
    listen: Option<String>,
    /// The Meta App Secret that signs webhook POSTs [env: WACRM_APP_SECRET].
    #[arg(long)]
    app_secret: Option<String>,
    /// The verify token typed into the App Dashboard for the GET handshake [env: WACRM_VERIFY_TOKEN].
    #[arg(long)]
    verify_token: Option<String>,
    /// PostgreSQL URL [env: DATABASE_URL or WACRM_DATABASE_URL; default: the embedded cluster].
    #[arg(long)]
    database_url: Option<String>,
    /// Events processed concurrently right after their acknowledgement.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Seconds between sweeps of events left pending (after a crash or an outage).
    #[arg(long, default_value_t = 5)]
    sweep_secs: u64,
    /// Run the job queue (renewals, follow-ups, campaigns) in this daemon; `off` for ingest-only
    /// replicas. Several daemons share the queue safely.
    #[arg(long, env = "WACRM_JOBS", default_value = "on", value_parser = ["on", "off"])]
    jobs: String,
    /// Jobs run at the same time.
    #[arg(long, env = "WACRM_JOBS_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs_concurrency: u16,
    /// Seconds a connection may go without a complete request head (before its first byte, between
    /// requests, or while its headers trickle in) before it is closed.
    #[arg(long, env = "WACRM_WEBHOOK_IDLE_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    idle_timeout_secs: u64,
    /// Connections open at once; at the cap the longest-idle one is closed to make room [default: the
    /// open-file limit (`ulimit -n`) less 64].
    #[arg(long, env = "WACRM_WEBHOOK_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: Option<u64>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    init_logging();
    let settings = Settings::load(&Overrides {
        database_url: args.database_url,
        webhook_listen: args.listen,
        app_secret: args.app_secret,
        verify_token: args.verify_token,
        ..Default::default()
    })?;
    let app_secret = settings.app_secret.clone().filter(|s| !s.expose_secret().trim().is_empty()).ok_or_else(|| {
        anyhow!(
            "no app secret: set WACRM_APP_SECRET (or pass --app-secret) to the App Secret shown in the Meta App \
                 Dashboard under Settings > Basic; without it no webhook can be verified"
        )
    })?;
    let verify_token: Option<SecretString> =
        settings.verify_token.clone().filter(|s| !s.expose_secret().trim().is_empty());
    if verify_token.is_none() {
        tracing::warn!("WACRM_VERIFY_TOKEN is not set: the GET verification handshake will be refused");
    }
    let metrics_token: Option<SecretString> =
        settings.metrics_token.clone().filter(|s| !s.expose_secret().trim().is_empty());
    if metrics_token.is_none() {
        tracing::info!("WACRM_METRICS_TOKEN is not set: /metrics is open to anyone who can reach the daemon");
    }
    let pool = wacrm_core::db::open(&settings).await?;
    let listen = settings.webhook_listen().to_string();
    let listener =
        tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(address = %listener.local_addr()?, "wacrm-webhookd listening");
    let mut config = DaemonConfig::new(app_secret);
    config.verify_token = verify_token;
    config.metrics_token = metrics_token;
    config.ingest = IngestConfig::from_settings(&settings);
    config.workers = args.workers;
    config.sweep_every = Duration::from_secs(args.sweep_secs.max(1));
    config.idle_timeout = Duration::from_secs(args.idle_timeout_secs);
    if let Some(max) = args.max_connections {
        config.max_connections = usize::try_from(max).unwrap_or(usize::MAX);
    }
    tracing::info!(
        max_connections = config.max_connections,
        idle_timeout_secs = args.idle_timeout_secs,
        "connection limits"
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = move || {
        let mut stop = stop_rx.clone();
        async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        }
    };
    let job_host = (args.jobs == "on").then(|| {
        let config = RunnerConfig { concurrency: args.jobs_concurrency.into(), ..RunnerConfig::default() };
        tokio::spawn(wacrm_webhookd::jobs::host(pool.clone(), config, stopped().shared()))
    });
    let (state, queue) = AppState::new(pool, config);
    wacrm_webhookd::serve(listener, state, queue, stopped()).await;
    if let Some(job_host) = job_host
        && let Err(e) = job_host.await
    {
        tracing::error!(error = %e, "the job runner ended abnormally");
    }
    tracing::info!("wacrm-webhookd stopped");
    Ok(())
}

/// JSON lines for log collectors, readable text on a terminal; `RUST_LOG` filters.
fn init_logging() {
    // sqlx relays PostgreSQL's notices at INFO, e.g. `relation "_sqlx_migrations" already exists, skipping`
    // from the migrator's CREATE TABLE IF NOT EXISTS on every start: noise, not news.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if std::io::stdout().is_terminal() {
        builder.init();
    } else {
        builder.json().init();
    }
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
