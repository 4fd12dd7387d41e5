//! `wacrm webhook`.

use anyhow::Result;
use clap::Subcommand;

use crate::cmd::planned::not_built;
use crate::context::Context;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List recent raw webhook events with their outcome.
    Events,
}

pub async fn run(_ctx: &Context, command: Command) -> Result<()> {
    match command {
        Command::Events => not_built("webhook", "events"),
    }
}
