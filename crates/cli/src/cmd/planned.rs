//! Dashboards whose issues have not landed yet: their verbs exist so scripts and `--help` show the
//! shape of wacrm, and each says plainly that it is not built yet.

use anyhow::{Result, bail};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum Broadcast {
    /// Create a campaign from an approved template and a contact filter.
    ///
    /// Example: wacrm broadcast create
    Create,
    /// List campaigns with delivery and reply counts.
    ///
    /// Example: wacrm broadcast list --json
    List,
    /// Send (or resume) due campaigns.
    ///
    /// Example: wacrm broadcast run
    Run,
}

/// The error every planned verb returns.
pub fn not_built(area: &str, verb: &str) -> Result<()> {
    bail!(
        "`wacrm {area} {verb}` is not built yet: the {area} dashboard lands with its own issue. \
         Inbox, contacts, pipeline, templates, analytics and billing work today (see `wacrm --help`)."
    )
}
