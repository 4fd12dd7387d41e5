//! What every command needs: the effective settings, the output style, a database pool (opened and
//! migrated on first use) and the acting scope.

use anyhow::{Context as _, Result};
use tokio::sync::OnceCell;
use wacrm_core::Scope;
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

    /// The acting business and user: `--business` / `WACRM_BUSINESS` / config for admins and cron.
    pub async fn scope(&self) -> Result<Scope> {
        let pool = self.pool().await?;
        match self.settings.business.as_deref().filter(|b| !b.trim().is_empty()) {
            Some(reference) => Ok(Scope::for_business_ref(pool, reference).await?),
            None => Err(wacrm_core::Error::invalid(
                "no acting business",
                "pass --business <id|email>, set WACRM_BUSINESS, or put `business = \"...\"` in the config file",
            ))
            .context("choosing the business to act for"),
        }
    }
}
