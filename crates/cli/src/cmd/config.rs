//! `wacrm config`: the effective settings.

use anyhow::Result;
use clap::Subcommand;
use serde::Serialize;

use crate::context::Context;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the effective settings (file, then environment, then flags), secrets masked.
    ///
    /// Example: wacrm config show --json
    Show,
}

#[derive(Serialize)]
struct Setting {
    name: &'static str,
    value: String,
}

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    match command {
        Command::Show => {
            let rows: Vec<Setting> =
                ctx.settings.masked().into_iter().map(|(name, value)| Setting { name, value }).collect();
            ctx.out.list(&rows, &["name", "value"])
        }
    }
}
