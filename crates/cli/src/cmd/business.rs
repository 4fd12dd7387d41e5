//! `wacrm business`: sign a business up, list them.

use anyhow::Result;
use clap::Subcommand;
use wacrm_core::business;

use crate::context::Context;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a business with an active subscription on the default plan.
    ///
    /// Example: wacrm business create --name "Acme Ltd" --email owner@acme.test --region GB
    Create {
        /// The business's name.
        #[arg(long)]
        name: String,
        /// Contact e-mail; unique, and usable as `--business` later.
        #[arg(long)]
        email: String,
        /// Country for phone numbers typed without a country code (ISO 3166, e.g. US, GB, IN).
        #[arg(long, default_value = "US")]
        region: String,
    },
    /// List businesses.
    ///
    /// Example: wacrm business list --json
    List,
    /// Show the acting business.
    ///
    /// Example: wacrm --business demo@wacrm.test business show
    Show,
    /// Show or set the business's reporting timezone (an IANA name; analytics days and months are local
    /// to it). Setting it: owners and admins.
    ///
    /// Example: wacrm business timezone Europe/Berlin
    Timezone {
        /// An IANA timezone such as Europe/Berlin, America/Sao_Paulo or UTC; omit it to show the current one.
        name: Option<String>,
    },
}

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    match command {
        Command::Create { name, email, region } => {
            ctx.require_operator("creating a business")?;
            let pool = ctx.pool().await?;
            let (business, subscription) = business::create(pool, &name, &email, &region).await?;
            ctx.out.done(
                &format!(
                    "created business {} ({}) on the {} plan; act for it with --business {}",
                    business.id, business.name, subscription.plan, business.email
                ),
                &business,
            )
        }
        Command::List => {
            ctx.require_operator("the list of businesses")?;
            let rows = business::list(ctx.pool().await?).await?;
            ctx.out.list(&rows, &["id", "name", "email", "status", "default_region", "created_at"])
        }
        Command::Show => {
            let scope = ctx.scope().await?;
            ctx.out.record(&business::get(ctx.pool().await?, &scope).await?)
        }
        Command::Timezone { name } => {
            let scope = ctx.scope().await?;
            let pool = ctx.pool().await?;
            let (timezone, message) = match name {
                Some(name) => {
                    let timezone = business::set_timezone(pool, &scope, &name).await?;
                    (timezone, format!("reports now count days in {timezone}"))
                }
                None => {
                    let timezone = business::timezone(pool, &scope).await?;
                    (timezone, format!("reports count days in {timezone}"))
                }
            };
            ctx.out.done(&message, &serde_json::json!({ "timezone": timezone }))
        }
    }
}
