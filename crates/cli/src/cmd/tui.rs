//! `wacrm tui`: the dashboards in the terminal, acting as the logged-in user (or `--business`).

use std::io::IsTerminal;

use anyhow::{Result, bail};
use clap::Args;

use crate::context::Context;

/// Open the terminal dashboards: Inbox, Contacts, Pipeline, … (keys 1–8, ? for help).
///
/// Acts as the user of `wacrm login` (agents see their role's dashboards), or for the business named
/// with --business. Logs go to $WACRM_TUI_LOG or tui.log in wacrm's state directory, never the screen.
///
/// Example: wacrm --business demo@wacrm.test login --email ana@wacrm.test && wacrm tui
///
/// Example: wacrm --business demo@wacrm.test tui --no-mouse
#[derive(Debug, Args)]
pub struct Command {
    /// Leave the mouse to the terminal (text selection) instead of clicks, wheel and drag.
    #[arg(long)]
    no_mouse: bool,
}

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        bail!("`wacrm tui` needs a terminal; scripts can use the other commands with --json");
    }
    let scope = ctx.scope().await?;
    let pool = ctx.pool().await?.clone();
    let options = wacrm_tui::Options { settings: ctx.settings.clone(), mouse: !command.no_mouse };
    wacrm_tui::run(pool, scope, options).await
}
