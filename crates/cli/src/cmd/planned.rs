//! Dashboards whose issues have not landed yet: their verbs exist so scripts and `--help` show the
//! shape of wacrm, and each says plainly that it is not built yet.

use anyhow::{Result, bail};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum Automation {
    /// List automation rules.
    ///
    /// Example: wacrm automation list --json
    List,
    /// Add a rule (trigger, JSON condition, JSON action, delay).
    ///
    /// Example: wacrm automation add
    Add,
    /// Remove a rule.
    ///
    /// Example: wacrm automation rm
    Rm,
}

#[derive(Debug, Subcommand)]
pub enum Templates {
    /// List templates with their approval status.
    ///
    /// Example: wacrm templates list --json
    List,
    /// Create a template and submit it for approval.
    ///
    /// Example: wacrm templates create
    Create,
    /// Delete an unused template.
    ///
    /// Example: wacrm templates rm
    Rm,
}

#[derive(Debug, Subcommand)]
pub enum Analytics {
    /// Lead growth per day, week or month.
    ///
    /// Example: wacrm analytics leads --json
    Leads,
    /// Messages sent and received, response times.
    ///
    /// Example: wacrm analytics messages
    Messages,
    /// Campaign delivery and reply rates.
    ///
    /// Example: wacrm analytics campaigns
    Campaigns,
}

/// The error every planned verb returns.
pub fn not_built(area: &str, verb: &str) -> Result<()> {
    bail!(
        "`wacrm {area} {verb}` is not built yet: the {area} dashboard lands with its own issue. \
         Inbox, contacts, pipeline and billing work today (see `wacrm --help`)."
    )
}
