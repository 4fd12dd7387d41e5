//! `wacrm accounts`: the WhatsApp numbers a business has connected.

use anyhow::Result;
use clap::Subcommand;
use wacrm_core::AccountId;
use wacrm_core::business::{self, AccountChanges, MessagingTier, NewAccount};

use crate::context::Context;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect a WhatsApp Cloud API number.
    ///
    /// Example: wacrm --business acme@example.com accounts add --phone +15550783881 --phone-number-id 106540352242922 --waba-id 102290129340398 --token "$WA_TOKEN"
    Add {
        /// The number, with country code.
        #[arg(long)]
        phone: String,
        /// Cloud API Phone number ID (Meta App Dashboard > WhatsApp > API Setup); webhooks are routed by it.
        #[arg(long)]
        phone_number_id: String,
        /// WhatsApp Business Account id; template status webhooks are routed by it.
        #[arg(long)]
        waba_id: Option<String>,
        /// Access token for sending (a system-user token). Also read from WACRM_WA_TOKEN.
        #[arg(long, env = "WACRM_WA_TOKEN", hide_env_values = true)]
        token: String,
        /// Graph API base URL for this number (default: the configured one).
        #[arg(long)]
        api_base_url: Option<String>,
        /// Graph API version for this number, e.g. v23.0 (default: the configured one).
        #[arg(long)]
        api_version: Option<String>,
    },
    /// List connected numbers (tokens are never shown).
    ///
    /// Example: wacrm --business demo@wacrm.test accounts list --json
    List,
    /// Change a number's access token, Graph API base URL or version, status, or messaging tier.
    ///
    /// Example: wacrm --business demo@wacrm.test accounts edit 1 --api-base-url http://127.0.0.1:9090
    ///
    /// Example: wacrm --business demo@wacrm.test accounts edit 1 --messaging-tier 10K
    ///
    /// Example: wacrm --business demo@wacrm.test accounts edit 1 --token "$NEW_WA_TOKEN" --api-version ""
    Edit {
        id: AccountId,
        /// A new access token (a system-user token).
        #[arg(long)]
        token: Option<String>,
        /// Graph API base URL for this number; "" goes back to the configured default.
        #[arg(long)]
        api_base_url: Option<String>,
        /// Graph API version for this number, e.g. v23.0; "" goes back to the configured default.
        #[arg(long)]
        api_version: Option<String>,
        /// Route webhooks and sends through the number (active) or not (inactive).
        #[arg(long, value_parser = ["active", "inactive"])]
        status: Option<String>,
        /// Meta's messaging limit for the number's portfolio (WhatsApp Manager > Insights): 250, 2K, 10K,
        /// 100K or unlimited; `broadcast plan` checks campaigns against it.
        #[arg(long, value_name = "TIER")]
        messaging_tier: Option<MessagingTier>,
    },
    /// Stop routing webhooks and sends through a number.
    ///
    /// Example: wacrm --business demo@wacrm.test accounts deactivate 1
    Deactivate { id: AccountId },
    /// Route webhooks and sends through a number again.
    ///
    /// Example: wacrm --business demo@wacrm.test accounts activate 1
    Activate { id: AccountId },
}

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    let scope = ctx.scope().await?;
    let pool = ctx.pool().await?;
    match command {
        Command::Add { phone, phone_number_id, waba_id, token, api_base_url, api_version } => {
            let account = business::add_account(
                pool,
                &scope,
                &NewAccount { phone, phone_number_id, waba_id, token, api_base_url, api_version },
            )
            .await?;
            ctx.out.done(&format!("connected {} (account {})", account.phone_number, account.id), &account)
        }
        Command::Edit { id, token, api_base_url, api_version, status, messaging_tier } => {
            let changes = AccountChanges {
                token,
                api_base_url,
                api_version,
                active: status.map(|s| s == "active"),
                messaging_limit_tier: messaging_tier,
            };
            let account = business::edit_account(pool, &scope, id, &changes).await?;
            ctx.out.done(&format!("account {id} updated"), &account)
        }
        Command::List => {
            let accounts = business::list_accounts(pool, &scope).await?;
            ctx.out.list(
                &accounts,
                &["id", "phone_number", "phone_number_id", "waba_id", "status", "messaging_limit_tier", "connected_at"],
            )
        }
        Command::Deactivate { id } => {
            business::set_account_active(pool, &scope, id, false).await?;
            ctx.out.done(&format!("account {id} deactivated"), &serde_json::json!({ "id": id, "status": "inactive" }))
        }
        Command::Activate { id } => {
            business::set_account_active(pool, &scope, id, true).await?;
            ctx.out.done(&format!("account {id} activated"), &serde_json::json!({ "id": id, "status": "active" }))
        }
    }
}
