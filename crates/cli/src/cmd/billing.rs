//! `wacrm billing`: plans and the business's subscription.

use anyhow::Result;
use clap::Subcommand;
use wacrm_core::billing;

use crate::context::Context;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the plans (the defaults are created on first use).
    ///
    /// Example: wacrm billing plans --json
    Plans,
    /// Show the acting business's subscription.
    ///
    /// Example: wacrm --business demo@wacrm.test billing subscription --json
    Subscription,
    /// Move the business to another plan, effective at once.
    ///
    /// Example: wacrm --business acme@example.com billing subscribe Starter
    Subscribe { plan: String },
}

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    let pool = ctx.pool().await?;
    match command {
        Command::Plans => {
            let plans = billing::list_plans(pool).await?;
            ctx.out.list(&plans, &["id", "name", "conversation_limit", "price"])
        }
        Command::Subscription => {
            let scope = ctx.scope().await?;
            match billing::subscription(pool, &scope).await? {
                Some(s) => ctx.out.record(&s),
                None => Err(wacrm_core::Error::not_found("active subscription").into()),
            }
        }
        Command::Subscribe { plan } => {
            let scope = ctx.scope().await?;
            let s = billing::subscribe(pool, &scope, &plan).await?;
            ctx.out.done(&format!("subscribed to {} ({} conversations a month)", s.plan, s.conversation_limit), &s)
        }
    }
}
