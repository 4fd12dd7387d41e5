//! `wacrm contacts`.

use anyhow::Result;
use clap::Subcommand;

use crate::cmd::planned::not_built;
use crate::context::Context;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List.
    List,
}

pub async fn run(_ctx: &Context, command: Command) -> Result<()> {
    match command {
        Command::List => not_built("contacts", "list"),
    }
}
