//! `wacrm users`: the team of a business.

use anyhow::Result;
use clap::Subcommand;
use wacrm_core::Role;
use wacrm_core::auth;

use crate::context::Context;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add a team member. The password is read from WACRM_PASSWORD or asked for on the terminal.
    ///
    /// Example: WACRM_PASSWORD=s3cret-pass wacrm --business acme@example.com users add --name Ana --email ana@acme.test --role agent
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        /// owner, admin or agent (agents work the inbox, contacts and pipeline only).
        #[arg(long, default_value = "agent")]
        role: String,
    },
    /// List the team.
    ///
    /// Example: wacrm --business demo@wacrm.test users list --csv
    List,
}

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    let scope = ctx.scope().await?;
    let pool = ctx.pool().await?;
    match command {
        Command::Add { name, email, role } => {
            let role: Role = role.parse()?;
            let password = read_password()?;
            let user = auth::add_user(pool, &scope, &name, &email, &password, role).await?;
            ctx.out.done(&format!("added {} <{}> as {} (user {})", user.name, user.email, user.role, user.id), &user)
        }
        Command::List => {
            let users = auth::list_users(pool, &scope).await?;
            ctx.out.list(&users, &["id", "name", "email", "role", "created_at"])
        }
    }
}

/// `WACRM_PASSWORD` for scripts; a hidden prompt for people; never a flag (it would sit in shell history).
pub fn read_password() -> Result<String> {
    if let Ok(password) = std::env::var("WACRM_PASSWORD") {
        return Ok(password);
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(wacrm_core::Error::invalid(
            "no password: there is no terminal to ask for it",
            "set WACRM_PASSWORD in the environment (a password is never a flag)",
        )
        .into());
    }
    Ok(rpassword::prompt_password("Password: ")?)
}
