//! `wacrm demo`: the demo business (or the large benchmark tenant), set up idempotently, then its
//! dashboards: the TUI on a terminal, a summary of each dashboard otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, ValueEnum};
use secrecy::ExposeSecret;
use wacrm_core::Scope;
use wacrm_core::config::Settings;
use wacrm_core::demo::{self, DEMO_PASSWORD, DemoTenant, Scale};
use wacrm_core::whatsapp::fake::{FakeGraph, StatusWebhooks};

use crate::context::{Context, SavedSession};
use crate::output::Format;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScaleArg {
    /// A realistic small business (~200 contacts, 30 days of conversations).
    Small,
    /// The benchmark tenant: 50,000 contacts and 1,000,000 messages over 90 days.
    Large,
}

/// Set up the demo business and open its dashboards (a summary when not on a terminal).
///
/// In the dashboards, replies go to a fake WhatsApp Graph API running inside this process (demo mode
/// never reaches Meta). With WACRM_APP_SECRET set and wacrm-webhookd running, the fake also sends the
/// sent/delivered/read status webhooks back, so the status marks move as they would in production.
///
/// Example: wacrm demo
///
/// Example: WACRM_APP_SECRET=demo-secret wacrm-webhookd & WACRM_APP_SECRET=demo-secret wacrm demo
///
/// Example: wacrm demo --scale large --json
#[derive(Debug, Args)]
pub struct Command {
    /// Which demo tenant.
    #[arg(long, value_enum, default_value = "small")]
    scale: ScaleArg,
    /// Print the summary even on a terminal instead of opening the dashboards.
    #[arg(long)]
    no_tui: bool,
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
    // The next command (`wacrm inbox list`, as the summary suggests) needs a business to act for: with
    // none configured and nobody logged in, the demo's becomes the default, and the user is told.
    let default_saved = match (&ctx.settings.business, SavedSession::load()?) {
        (None, None) => Some(Settings::save_default_business(&tenant.email)?),
        _ => None,
    };
    if let Some(path) = default_saved.as_ref().filter(|_| ctx.out.format == Format::Table) {
        eprintln!(
            "{} is now the default business (business = \"{}\" in {})",
            tenant.email,
            tenant.email,
            path.display()
        );
    }
    let on_terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if on_terminal && !command.no_tui && ctx.out.format == Format::Table {
        return open_dashboards(ctx, scope, &tenant).await;
    }
    let dashboards = demo::summary(pool, &scope).await?;
    if ctx.out.format != Format::Table {
        return ctx.out.record(&serde_json::json!({
            "tenant": tenant,
            "dashboards": dashboards,
            "default_business_saved_in": default_saved,
        }));
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
        "\nNext: wacrm --business {} inbox list   ·   wacrm --business {} tui   ·   log in as ana@{} with password {DEMO_PASSWORD}",
        tenant.email,
        tenant.email,
        tenant.email.split('@').nth(1).unwrap_or_default()
    ))
}

/// The TUI on the demo business, its sends answered by an in-process fake Graph API.
async fn open_dashboards(ctx: &Context, scope: Scope, tenant: &DemoTenant) -> Result<()> {
    let fake = FakeGraph::start().await?;
    let mut settings = ctx.settings.clone();
    // The demo number has no Graph API URL of its own, so this process's default reaches the fake.
    settings.graph_api_base = Some(fake.base_url().to_string());
    if let Some(secret) = settings.app_secret.as_ref().map(|s| s.expose_secret().to_string()) {
        fake.deliver_statuses(StatusWebhooks {
            url: format!("http://{}/webhook", settings.webhook_listen()),
            app_secret: secret,
            waba_id: tenant.waba_id.clone(),
            display_phone_number: tenant.display_phone_number.clone(),
            delay: Duration::from_millis(700),
        });
    }
    let pool = ctx.pool().await?.clone();
    wacrm_tui::run(pool, scope, wacrm_tui::Options { settings, mouse: true }).await
}
