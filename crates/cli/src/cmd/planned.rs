//! Dashboards whose issues have not landed yet: their verbs exist so scripts and `--help` show the
//! shape of wacrm, and each says plainly that it is not built yet.

use anyhow::{Result, bail};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum Automation {
    /// List automation rules.
    List,
    /// Add a rule (trigger, JSON condition, JSON action, delay).
    Add,
    /// Remove a rule.
    Rm,
}

#[derive(Debug, Subcommand)]
pub enum Broadcast {
    /// Create a campaign from an approved template and a contact filter.
    Create,
    /// List campaigns with delivery and reply counts.
    List,
    /// Send (or resume) due campaigns.
    Run,
}

#[derive(Debug, Subcommand)]
pub enum Templates {
    /// List templates with their approval status.
    List,
    /// Create a template and submit it for approval.
    Create,
    /// Delete an unused template.
    Rm,
}

#[derive(Debug, Subcommand)]
pub enum Analytics {
    /// Lead growth per day, week or month.
    Leads,
    /// Messages sent and received, response times.
    Messages,
    /// Campaign delivery and reply rates.
    Campaigns,
}

/// The error every planned verb returns.
pub fn not_built(area: &str, verb: &str) -> Result<()> {
    bail!(
        "`wacrm {area} {verb}` is not built yet: the {area} dashboard lands with its own issue. \
         Inbox, contacts, pipeline and billing work today (see `wacrm --help`)."
    )
}
