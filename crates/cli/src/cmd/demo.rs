//! `wacrm demo`: the demo business (or the large benchmark tenant), set up idempotently, then its
//! dashboards.

use anyhow::Result;
use clap::{Args, ValueEnum};
use wacrm_core::Scope;
use wacrm_core::demo::{self, DEMO_PASSWORD, Scale};

use crate::context::Context;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScaleArg {
    /// A realistic small business (~200 contacts, 30 days of conversations).
    Small,
    /// The benchmark tenant: 50,000 contacts and 1,000,000 messages over 90 days.
    Large,
}

/// Set up the demo business and show its dashboards.
///
/// Example: wacrm demo
/// Example: wacrm demo --scale large --json
#[derive(Debug, Args)]
pub struct Command {
    /// Which demo tenant.
    #[arg(long, value_enum, default_value = "small")]
    scale: ScaleArg,
}

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    let scale = match command.scale {
        ScaleArg::Small => Scale::Small,
        ScaleArg::Large => Scale::Large,
    };
    let pool = ctx.pool().await?;
    if ctx.out.progress() {
        eprintln!("setting up the {} demo tenant…", if scale == Scale::Large { "large" } else { "small" });
    }
    let tenant = demo::ensure(pool, scale, None).await?;
    let scope = Scope::for_business(pool, tenant.business).await?;
    let dashboards = demo::summary(pool, &scope).await?;
    if ctx.out.format != crate::output::Format::Table {
        return ctx.out.record(&serde_json::json!({ "tenant": tenant, "dashboards": dashboards }));
    }
    ctx.out.line(format_args!(
        "{} business {} ({}): {} contacts, {} messages ({:.1}s)",
        if tenant.created { "created" } else { "using existing" },
        tenant.business,
        tenant.email,
        tenant.contacts,
        tenant.messages,
        tenant.took.as_secs_f64()
    ))?;
    ctx.out.list(&dashboards, &["dashboard", "summary"])?;
    ctx.out.line(format_args!(
        "\nNext: wacrm --business {} inbox list   ·   log in as ana@{} with password {DEMO_PASSWORD}",
        tenant.email,
        tenant.email.split('@').nth(1).unwrap_or_default()
    ))
}
