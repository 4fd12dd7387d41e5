//! Database plumbing: where the database is (a configured URL or the embedded default cluster), the
//! connection pool, and the embedded migrations.

pub mod bulk;
pub mod cluster;

use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Serialize;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use crate::config::{Settings, mask_url_password};
use crate::error::{Error, Result, op};

/// The connection pool every core operation takes; faces hold one without depending on sqlx.
pub type Pool = sqlx::PgPool;

/// Every migration, embedded in the binaries: 0001 is the seed schema verbatim, later ones only add.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// Where the database comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// `--database-url`, `WACRM_DATABASE_URL`, `DATABASE_URL` or the config file.
    Url(String),
    /// wacrm's private cluster in the user's data directory.
    Embedded,
}

impl Source {
    pub fn from_settings(settings: &Settings) -> Source {
        match &settings.database_url {
            Some(url) if !url.expose_secret().trim().is_empty() => Source::Url(url.expose_secret().to_string()),
            _ => Source::Embedded,
        }
    }

    /// The connection URL, starting the embedded cluster first when that is the source.
    pub async fn url(&self) -> Result<String> {
        match self {
            Source::Url(url) => Ok(url.clone()),
            Source::Embedded => {
                tokio::task::spawn_blocking(|| cluster::Cluster::at_default_location()?.ensure_running())
                    .await
                    .map_err(|e| Error::io("starting the embedded database", std::io::Error::other(e)))?
            }
        }
    }
}

/// Opens a pool on `url`.
///
/// Connections are replaced every minute: PostgreSQL keeps a prepared statement's generic plan for
/// the connection's life, and a plan made while a table was small (a fresh install, or statistics
/// autovacuum has not refreshed) would otherwise scan that table whole long after it has grown.
pub async fn connect_url(url: &str) -> Result<PgPool> {
    let options = connect_options(url)?;
    // One connection first, on its own: the pool would report only a timeout, ten seconds later, and
    // lose why (refused, no such database, wrong password).
    let first = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
        .await
        .map_err(|_| {
            Error::unavailable(
                format!("PostgreSQL at {} did not answer within {} s", server(&options), CONNECT_TIMEOUT.as_secs()),
                format!("check the host and port in the database URL ({}) and the network", op("config show")),
            )
        })?
        .map_err(|e| connect_error(&options, e))?;
    let _ = first.close().await;
    PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(CONNECT_TIMEOUT)
        .max_lifetime(Duration::from_secs(60))
        .connect_with(options)
        .await
        .map_err(Error::from)
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const URL_HINT: &str =
    "write it as postgres://user:password@host:5432/database, or unset it to use the embedded database";

/// The database URL, read; what is wrong with it when it cannot be.
fn connect_options(url: &str) -> Result<PgConnectOptions> {
    let shown = mask_url_password(url);
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(Error::invalid(format!("the database URL {shown:?} is not a PostgreSQL URL"), URL_HINT));
    }
    url.parse::<PgConnectOptions>().map_err(|e| {
        let reason = match e {
            sqlx::Error::Configuration(inner) => inner.to_string(),
            other => other.to_string(),
        };
        Error::invalid(format!("the database URL {shown:?} cannot be used: {reason}"), URL_HINT)
    })
}

fn server(options: &PgConnectOptions) -> String {
    format!("{}:{}", options.get_host(), options.get_port())
}

/// Why a first connection failed, in the terms of the URL that asked for it.
fn connect_error(options: &PgConnectOptions, err: sqlx::Error) -> Error {
    let code = match &err {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    };
    match (code.as_deref(), &err) {
        // invalid_catalog_name
        (Some("3D000"), _) => Error::invalid(
            format!("database {:?} does not exist on {}", options.get_database().unwrap_or_default(), server(options)),
            "create it (`createdb NAME`) or correct the database name in the URL",
        ),
        // invalid_authorization_specification, invalid_password
        (Some("28000" | "28P01"), sqlx::Error::Database(db)) => Error::invalid(
            format!("PostgreSQL at {} refused user {:?}: {}", server(options), options.get_username(), db.message()),
            "check the user and password in the database URL",
        ),
        (_, sqlx::Error::Io(io)) => Error::unavailable(
            format!("cannot reach PostgreSQL at {}: {io}", server(options)),
            format!("start the server, or check the host and port in the database URL ({})", op("config show")),
        ),
        (_, sqlx::Error::Tls(tls)) => Error::unavailable(
            format!("the TLS connection to {} failed: {tls}", server(options)),
            "check sslmode in the database URL (disable, prefer, require, verify-full) and the server's certificate",
        ),
        _ => match Error::from(err) {
            Error::Database(inner) => Error::unavailable(
                inner.to_string(),
                format!("check the database URL ({}) and that the server accepts connections", op("config show")),
            ),
            other => other,
        },
    }
}

/// Connects to the configured database (starting the embedded one if needed) and brings its schema up
/// to date, so every command can assume the current schema.
pub async fn open(settings: &Settings) -> Result<PgPool> {
    crate::secrets::install(settings.token_key.as_ref())?;
    let url = Source::from_settings(settings).url().await?;
    let pool = connect_url(&url).await?;
    migrate(&pool).await?;
    // The data half of the migration to encrypted tokens: SQL cannot, as the key is not the database's.
    if let Some(key) = crate::secrets::installed() {
        let sealed = crate::secrets::seal_stored_tokens(&pool, key).await?;
        if sealed > 0 {
            tracing::info!(sealed, "encrypted access tokens stored before a token key was configured");
        }
    }
    Ok(pool)
}

/// The pool reports and analytics read from: the configured read replica (`read_database_url`), else
/// `primary`. A replica is never migrated: it follows its primary.
pub async fn open_read(settings: &Settings, primary: &PgPool) -> Result<PgPool> {
    match &settings.read_database_url {
        Some(url) if !url.expose_secret().trim().is_empty() => connect_url(url.expose_secret()).await,
        _ => Ok(primary.clone()),
    }
}

/// Applies the pending embedded migrations, then installs or upgrades the job queue's schema (each a
/// no-op when current). Concurrent callers are serialised by sqlx's and graphile_worker's locks.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    migrate_schema(pool).await?;
    crate::jobs::install(pool).await
}

async fn migrate_schema(pool: &PgPool) -> Result<()> {
    MIGRATOR.run(pool).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::Execute(inner) => Error::from(inner),
        other => Error::unavailable(
            format!("cannot migrate the database: {other}"),
            "the database may belong to a newer wacrm; upgrade wacrm or point it at another database",
        ),
    })
}

/// One migration and whether the database has it.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationState {
    pub version: i64,
    pub description: String,
    pub applied: bool,
}

/// Which embedded migrations the database has applied.
pub async fn migration_states(pool: &PgPool) -> Result<Vec<MigrationState>> {
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(pool)
        .await
        .or_else(|e| match &e {
            // No migration table yet: nothing applied.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => Ok(Vec::new()),
            _ => Err(e),
        })?;
    Ok(MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| MigrationState {
            version: m.version,
            description: m.description.to_string(),
            applied: applied.contains(&m.version),
        })
        .collect())
}
