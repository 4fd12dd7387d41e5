//! `wacrm notifications`: what rules and usage alerts told the team (the TUI shows them live).

use anyhow::Result;
use clap::Subcommand;
use wacrm_core::notifications;

use crate::context::Context;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The acting user's notifications and the whole team's, newest first.
    ///
    /// Example: wacrm notifications list --unread --json
    List {
        /// Only those not marked read.
        #[arg(long)]
        unread: bool,
        /// How many (1 to 1000).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
    },
    /// Mark one notification read, or all of them.
    ///
    /// Example: wacrm notifications read --all
    Read {
        /// The notification's id (from `list`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        /// Every unread notification.
        #[arg(long)]
        all: bool,
    },
}

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    let scope = ctx.scope().await?;
    let pool = ctx.pool().await?;
    match command {
        Command::List { unread, limit } => ctx.out.list(
            &notifications::list(pool, &scope, unread, limit).await?,
            &["id", "created_at", "source", "title", "body", "read_at"],
        ),
        Command::Read { id, .. } => {
            let marked = notifications::mark_read(pool, &scope, id).await?;
            ctx.out.done(&format!("marked {marked} read"), &serde_json::json!({ "marked": marked }))
        }
    }
}
