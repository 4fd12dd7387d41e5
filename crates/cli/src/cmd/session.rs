//! `wacrm login`, `wacrm logout`, `wacrm whoami`: the agent's acting context.

use std::io::{BufRead, Write};

use anyhow::Result;
use clap::Args;
use secrecy::ExposeSecret;
use serde::Serialize;
use wacrm_core::Scope;
use wacrm_core::auth;

use crate::cmd::users::read_password;
use crate::context::{Context, SavedSession};

/// Log in as a team member; later commands act as you, with your role.
///
/// The password comes from WACRM_PASSWORD or a hidden prompt, never a flag. With `--business`, log in to
/// that business when your e-mail belongs to several.
///
/// Example: wacrm --business demo@wacrm.test login --email ana@wacrm.test
///
/// Example: WACRM_PASSWORD=demo-password wacrm --business demo@wacrm.test login --email ana@wacrm.test --json
#[derive(Debug, Args)]
pub struct Login {
    /// Your e-mail (asked for on a terminal when missing).
    #[arg(long, env = "WACRM_EMAIL")]
    email: Option<String>,
}

/// Log out: end the saved session here and in the database.
///
/// Example: wacrm logout
#[derive(Debug, Args)]
pub struct Logout {}

/// Show who commands act as: the logged-in user and their business, or "system" with --business when
/// nobody is logged in.
///
/// Example: wacrm whoami --json
#[derive(Debug, Args)]
pub struct Whoami {}

#[derive(Serialize)]
struct LoggedIn<'a> {
    #[serde(flatten)]
    login: &'a auth::Login,
    session_file: String,
}

pub async fn login(ctx: &Context, args: Login) -> Result<()> {
    let email = match args.email {
        Some(email) => email,
        None if ctx.can_prompt() => prompt("E-mail: ")?,
        None => {
            return Err(wacrm_core::Error::invalid(
                "no e-mail to log in with",
                "pass --email (or set WACRM_EMAIL) when not running on a terminal",
            )
            .into());
        }
    };
    let password = read_password()?;
    let pool = ctx.pool().await?;
    let business = match ctx.settings.business.as_deref().filter(|b| !b.trim().is_empty()) {
        Some(reference) => Some(Scope::for_business_ref(pool, reference).await?.business()),
        None => None,
    };
    let (login, token) = auth::login(pool, &email, &password, business).await?;
    let path = SavedSession { token: token.expose_secret().to_string(), email, business: login.business.0 }.save()?;
    ctx.out.done(
        &format!("logged in as {} ({}) at {}", login.user_name, login.role, login.business_name),
        &LoggedIn { login: &login, session_file: path.display().to_string() },
    )
}

pub async fn logout(ctx: &Context, _args: Logout) -> Result<()> {
    let Some(saved) = SavedSession::load()? else {
        return ctx.out.done("not logged in", &serde_json::json!({ "logged_out": false }));
    };
    // The local file goes even if the database cannot be reached: logging out must always work here.
    let ended = match ctx.pool().await {
        Ok(pool) => auth::logout(pool, &saved.token).await.unwrap_or_else(|e| {
            tracing::warn!("could not end the session in the database: {e}");
            false
        }),
        Err(e) => {
            tracing::warn!("could not end the session in the database: {e}");
            false
        }
    };
    SavedSession::remove()?;
    ctx.out.done(&format!("logged out {}", saved.email), &serde_json::json!({ "logged_out": true, "ended": ended }))
}

pub async fn whoami(ctx: &Context, _args: Whoami) -> Result<()> {
    let named = ctx.settings.business.as_deref().is_some_and(|b| !b.trim().is_empty());
    if !named && SavedSession::load()?.is_none() {
        return ctx.out.done(
            "nobody is logged in and no business is named: run `wacrm login`, or pass --business <id|email>",
            &serde_json::json!({ "logged_in": false, "actor": null }),
        );
    }
    let scope = ctx.scope().await?;
    let who = auth::identity(ctx.pool().await?, &scope).await?;
    ctx.out.done(&format!("{} at {} (business {})", who.label(), who.business_name, who.business), &who)
}

fn prompt(question: &str) -> Result<String> {
    let mut stderr = std::io::stderr().lock();
    write!(stderr, "{question}")?;
    stderr.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim().to_string())
}
