//! The parts of the end-to-end run (`tests/tui-e2e.sh`) that only exist as libraries: the fake Graph API,
//! playing Meta by POSTing signed `sent`/`delivered`/`read` status webhooks to wacrm-webhookd after each
//! accepted send, and the demo tenant with its WhatsApp account pointed at that fake.
//!
//!     DATABASE_URL=… WACRM_APP_SECRET=… cargo run -p wacrm-tui --example e2e-stack -- http://127.0.0.1:8787/webhook
//!
//! Prints `ready <fake base url>` once both are set up, then serves until interrupted.

use std::time::Duration;

use anyhow::{Context, Result};
use wacrm_core::demo::{self, Scale};
use wacrm_core::whatsapp::fake::{FakeGraph, StatusWebhooks};

/// The demo tenant's WhatsApp Business Account and number, as `wacrm_core::demo` creates them.
const DEMO_WABA: &str = "200000000000001";
const DEMO_NUMBER: &str = "12025550100";

#[tokio::main]
async fn main() -> Result<()> {
    let webhook_url =
        std::env::args().nth(1).context("pass the webhook daemon's URL, e.g. http://127.0.0.1:8787/webhook")?;
    let app_secret = std::env::var("WACRM_APP_SECRET").context("set WACRM_APP_SECRET (the daemon's too)")?;
    let database_url = std::env::var("DATABASE_URL").context("set DATABASE_URL")?;
    let pool = wacrm_core::db::connect_url(&database_url).await?;
    wacrm_core::db::migrate(&pool).await?;
    let fake = FakeGraph::start().await?;
    fake.deliver_statuses(StatusWebhooks {
        url: webhook_url,
        app_secret,
        waba_id: DEMO_WABA.into(),
        display_phone_number: DEMO_NUMBER.into(),
        // Slow enough that a person (and the script) sees ✓ before ✓✓.
        delay: Duration::from_millis(700),
    });
    // The photo the script's customer sends; its second file (`e2egone1`) has expired at Meta.
    fake.add_media("e2emedia1", "image/jpeg", b"e2e-jpeg-bytes");
    demo::ensure(&pool, Scale::Small, Some(fake.base_url())).await?;
    println!("ready {}", fake.base_url());
    tokio::signal::ctrl_c().await?;
    for delivery in fake.deliveries() {
        eprintln!("status webhook {} {} answered {:?}", delivery.wamid, delivery.status, delivery.answered);
    }
    Ok(())
}
