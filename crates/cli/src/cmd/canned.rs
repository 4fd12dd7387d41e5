//! `wacrm canned`: the business's canned replies, typed as `/shortcut` in the TUI's composer.

use anyhow::Result;
use clap::Subcommand;
use wacrm_core::inbox::canned::{self, Shortcut};

use crate::context::Context;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Save a canned reply; `{{name}}`-style fields are filled in when it is used.
    ///
    /// Example: wacrm canned add shipping "Hi {{name}}, your order ships in {{days}} days."
    Add {
        /// The name typed after `/` (letters, digits, _ and -).
        shortcut: Shortcut,
        /// The text it inserts.
        body: String,
        /// Overwrite an existing reply of that name.
        #[arg(long)]
        replace: bool,
    },
    /// List the canned replies with their fields.
    ///
    /// Example: wacrm canned list --json
    List,
    /// Delete a canned reply.
    ///
    /// Example: wacrm canned rm shipping
    Rm {
        /// The reply's shortcut.
        shortcut: Shortcut,
    },
}

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    let scope = ctx.scope().await?;
    let pool = ctx.pool().await?;
    match command {
        Command::Add { shortcut, body, replace } => {
            let saved = canned::add(pool, &scope, &shortcut, &body, replace).await?;
            let fields =
                if saved.fields.is_empty() { String::new() } else { format!(" (fields: {})", saved.fields.join(", ")) };
            ctx.out.done(&format!("saved /{}{fields}", saved.shortcut), &saved)
        }
        Command::List => ctx.out.list(&canned::list(pool, &scope).await?, &["shortcut", "fields", "body"]),
        Command::Rm { shortcut } => {
            canned::remove(pool, &scope, &shortcut).await?;
            ctx.out.done(&format!("removed /{shortcut}"), &serde_json::json!({"removed": shortcut}))
        }
    }
}
