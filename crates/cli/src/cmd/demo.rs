//! `wacrm demo`.

use anyhow::Result;
use clap::Args;

use crate::context::Context;

#[derive(Debug, Args)]
pub struct Command {}

pub async fn run(_ctx: &Context, _command: Command) -> Result<()> {
    Ok(())
}
