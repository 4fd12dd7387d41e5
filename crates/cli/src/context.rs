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
    read_pool: OnceCell<Pool>,
}

impl Context {
    pub fn new(overrides: &Overrides, out: Output) -> Result<Context> {
        let settings = Settings::load(overrides)?;
        Ok(Context { settings, out, pool: OnceCell::new(), read_pool: OnceCell::new() })
    }

    /// The database, started (embedded default) and migrated on first use.
    pub async fn pool(&self) -> Result<&Pool> {
        Ok(self.pool.get_or_try_init(|| wacrm_core::db::open(&self.settings)).await?)
    }

    /// Where reports and analytics read: the read replica when `read_database_url` is set, else the
    /// database itself.
    pub async fn read_pool(&self) -> Result<&Pool> {
        let primary = self.pool().await?;
        Ok(self.read_pool.get_or_try_init(|| wacrm_core::db::open_read(&self.settings, primary)).await?)
    }

    /// Ends the database connections cleanly (a Terminate message each): connections dropped with the
    /// process leave "could not send data to client: Broken pipe" in the server's log.
    pub async fn close(&self) {
        // The read pool is the main pool's clone when no replica is set; closing twice is harmless.
        if let Some(read) = self.read_pool.get() {
            read.close().await;
        }
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
        self.save_to(&path)?;
        Ok(path)
    }

    /// Writes a new file (mode 0600 from its creation) beside `path`, then renames it over `path`: an
    /// existing file's mode (a 0666 one would keep the token world-readable) never carries over, and a
    /// crash leaves the old session or the new one, never half of one.
    fn save_to(&self, path: &std::path::Path) -> Result<()> {
        let writing = || format!("writing {}", path.display());
        let dir = path.parent().context("the session file has no directory")?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let temporary = dir.join(format!(".session.json.{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&temporary);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options.open(&temporary).and_then(|mut file| {
            std::io::Write::write_all(&mut file, serde_json::to_string_pretty(self)?.as_bytes())?;
            file.sync_all()
        });
        if let Err(e) = written.and_then(|()| std::fs::rename(&temporary, path)) {
            let _ = std::fs::remove_file(&temporary);
            return Err(e).with_context(writing);
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_session_file_is_owner_only_whatever_mode_the_old_one_had() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("wacrm-session-mode-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("session.json");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let session = SavedSession { token: "t0ken".into(), email: "ana@acme.test".into(), business: 1 };
        session.save_to(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        let saved: SavedSession = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(mode, 0o600);
        assert_eq!(saved.token, "t0ken");
    }
}
