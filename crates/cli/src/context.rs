//! What every command needs: the effective settings, the output style, a database pool (opened and
//! migrated on first use) and the acting scope.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use wacrm_core::Scope;
use wacrm_core::auth;
use wacrm_core::config::{Overrides, Settings};
use wacrm_core::db::Pool;

use crate::output::Output;

pub struct Context {
    pub settings: Settings,
    pub out: Output,
    pool: OnceCell<Pool>,
}

impl Context {
    pub fn new(overrides: &Overrides, out: Output) -> Result<Context> {
        let settings = Settings::load(overrides)?;
        Ok(Context { settings, out, pool: OnceCell::new() })
    }

    /// The database, started (embedded default) and migrated on first use.
    pub async fn pool(&self) -> Result<&Pool> {
        Ok(self.pool.get_or_try_init(|| wacrm_core::db::open(&self.settings)).await?)
    }

    /// Ends the database connections cleanly (a Terminate message each): connections dropped with the
    /// process leave "could not send data to client: Broken pipe" in the server's log.
    pub async fn close(&self) {
        if let Some(pool) = self.pool.get() {
            pool.close().await;
        }
    }

    /// The acting business and actor. A saved `wacrm login` session is the identity: the user acts,
    /// with the current role core checks on every operation, and a named business (`--business` /
    /// `WACRM_BUSINESS` / config) must be the session's own or the command is refused — naming one never
    /// turns a logged-in user into the system. With nobody logged in, a named business means the system
    /// acts for it, as admins and cron do.
    pub async fn scope(&self) -> Result<Scope> {
        let pool = self.pool().await?;
        let named = self.settings.business.as_deref().filter(|b| !b.trim().is_empty());
        match (SavedSession::load()?, named) {
            (Some(saved), named) => {
                let scope = auth::session_scope(pool, &saved.token).await.with_context(|| {
                    format!(
                        "the saved login of {} is no longer valid: run `wacrm login` again, or `wacrm logout` \
                         to act with --business",
                        saved.email
                    )
                })?;
                if let Some(reference) = named {
                    scope.require_named_business(pool, reference).await?;
                }
                Ok(scope)
            }
            (None, Some(reference)) => Ok(Scope::for_business_ref(pool, reference).await?),
            (None, None) => Err(wacrm_core::Error::invalid(
                "no acting business and nobody logged in",
                "run `wacrm login`, or pass --business <id|email>, set WACRM_BUSINESS, or put \
                 `business = \"...\"` in the config file",
            ))
            .context("choosing the business to act for"),
        }
    }

    /// For the installation's own commands (the raw webhook log spans every business): refused while a
    /// login is saved, since a logged-in user acts for one business only.
    pub fn require_operator(&self, what: &str) -> Result<()> {
        if let Some(saved) = SavedSession::load()? {
            return Err(wacrm_core::Error::Forbidden {
                message: format!(
                    "{what} is for the installation's operator (it reaches every business), and {} is logged in \
                     to one business",
                    saved.email
                ),
                hint: Some(
                    "run it as the installation's operator: `wacrm logout` first (or use another config dir)".into(),
                ),
            }
            .into());
        }
        Ok(())
    }

    /// Whether a person can be asked something: never under cron or in a pipeline.
    pub fn can_prompt(&self) -> bool {
        std::io::stdin().is_terminal()
    }
}

/// The `wacrm login` session on disk: the bearer token (only its hash is in the database) and, for
/// `whoami` without a database round trip failing, whom it was issued to.
#[derive(Debug, Serialize, Deserialize)]
pub struct SavedSession {
    pub token: String,
    pub email: String,
    pub business: i32,
}

impl SavedSession {
    /// Beside the config file, so `WACRM_CONFIG` (and `XDG_CONFIG_HOME`) isolate logins too.
    pub fn path() -> Option<PathBuf> {
        Settings::file_path().and_then(|config| config.parent().map(|dir| dir.join("session.json")))
    }

    pub fn load() -> Result<Option<SavedSession>> {
        let Some(path) = SavedSession::path() else { return Ok(None) };
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| {
                format!("{} is not a wacrm session file; delete it and run `wacrm login`", path.display())
            })?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes the file readable by its owner only: the token is a password equivalent.
    pub fn save(&self) -> Result<PathBuf> {
        let path = SavedSession::path().context("no config directory to keep the login in; set WACRM_CONFIG")?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).with_context(|| format!("writing {}", path.display()))?;
        std::io::Write::write_all(&mut file, serde_json::to_string_pretty(self)?.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Removes the file; returns whether there was one.
    pub fn remove() -> Result<bool> {
        let Some(path) = SavedSession::path() else { return Ok(false) };
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
        }
    }
}
