//! reply-bench: event to automated reply (issue 22: p99 ≤ 250 ms at 200 inbound msg/s). Run on demand by
//! `scripts/bench-replies`, against a running `wacrm-webhookd` whose job runner hosts automation.
//!
//! It makes a business whose number points at an in-process fake Graph API, with one rule answering
//! "stock" with a text; then it posts signed inbound messages ("Is it in stock?") at a fixed rate, each
//! from a new customer, and times each reply from the moment its message was acknowledged (the daemon
//! has stored it) to the moment the fake received the answer. The same-run baseline is the ack latency.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use wacrm_core::automation::{self, RuleSpec};
use wacrm_core::business::{self, NewAccount};
use wacrm_core::whatsapp::fake::FakeGraph;
use wacrm_core::{Scope, db};
use wacrm_e2e::post_signed;

#[derive(Debug, Parser)]
struct Args {
    /// The daemon's base URL (its webhook is `{url}/webhook`).
    #[arg(long, default_value = "http://127.0.0.1:18788")]
    url: String,
    #[arg(long, env = "WACRM_APP_SECRET", hide_env_values = true)]
    app_secret: String,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Inbound messages per second.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

const RULE: &str = r#"{"name": "stock answer", "trigger": "message_received",
    "condition": {"contains": ["stock"]}, "action": [{"send_text": "Yes, it is in stock."}]}"#;

fn body(phone_number_id: &str, run: &str, n: u64) -> String {
    let wa_id = 15_560_000_000 + n;
    let now = chrono::Utc::now().timestamp();
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"0","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"14155550000","phone_number_id":"{phone_number_id}"}},"contacts":[{{"profile":{{"name":"Customer {n}"}},"wa_id":"{wa_id}"}}],"messages":[{{"from":"{wa_id}","id":"wamid.REPLY.{run}.{n}","timestamp":"{now}","type":"text","text":{{"body":"Is it in stock?"}}}}]}}}}]}}]}}"#
    )
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

fn report(label: &str, latencies: &mut [Duration]) {
    latencies.sort();
    println!(
        "{label:<34} {:>6}  p50 {:>8.2} ms  p95 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms",
        latencies.len(),
        percentile(latencies, 0.50),
        percentile(latencies, 0.95),
        percentile(latencies, 0.99),
        percentile(latencies, 1.0)
    );
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let pool = db::connect_url(&args.database_url).await?;
    let fake = FakeGraph::start().await?;
    let run = chrono::Utc::now().format("%H%M%S%3f").to_string();
    let (b, _) = business::create(&pool, &format!("Replies {run}"), &format!("replies-{run}@example.invalid"), "US")
        .await
        .context("creating the bench business")?;
    let scope = Scope::for_business(&pool, b.id).await?;
    let phone_number_id = format!("8{run}");
    business::add_account(
        &pool,
        &scope,
        &NewAccount {
            phone: "+14155559876".into(),
            phone_number_id: phone_number_id.clone(),
            token: "bench".into(),
            api_base_url: Some(fake.base_url().to_string()),
            ..Default::default()
        },
    )
    .await?;
    automation::add(&pool, &scope, &RuleSpec::from_json(RULE).map_err(wacrm_core::Error::from)?).await?;

    let client = reqwest::Client::new();
    let total = args.rate * args.seconds;
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        tokio::time::sleep_until((started + interval.mul_f64(n as f64)).into()).await;
        let (client, url, secret, body) =
            (client.clone(), args.url.clone(), args.app_secret.clone(), body(&phone_number_id, &run, n));
        tasks.spawn(async move {
            let posted = Instant::now();
            let status = post_signed(&client, &url, &body, &secret).await?;
            anyhow::ensure!(status == 200, "message {n} answered {status}");
            Ok((format!("{}", 15_560_000_000 + n), posted, Instant::now()))
        });
    }
    let mut acked = HashMap::new();
    let mut ack_latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (wa_id, posted, answered) = done??;
        ack_latencies.push(answered - posted);
        acked.insert(wa_id, answered);
    }
    let sending = started.elapsed();
    println!(
        "posted {total} messages in {:.1} s ({:.0} msg/s)",
        sending.as_secs_f64(),
        total as f64 / sending.as_secs_f64()
    );

    let deadline = Instant::now() + Duration::from_secs(120);
    let replies = loop {
        let replies = fake.requests();
        if replies.iter().filter(|r| r.to().is_some()).count() >= acked.len() || Instant::now() > deadline {
            break replies;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut reply_latencies = Vec::new();
    for reply in &replies {
        if let Some(acked_at) = reply.to().and_then(|to| acked.get(to)) {
            reply_latencies.push(reply.received.saturating_duration_since(*acked_at));
        }
    }
    report("ack (message stored)", &mut ack_latencies);
    report("ack to automated reply at the fake", &mut reply_latencies);
    if reply_latencies.len() != acked.len() {
        bail!("{} messages acknowledged but {} replies within 2 minutes", acked.len(), reply_latencies.len());
    }
    println!("every message answered once (target p99 <= 250 ms at 200 msg/s)");
    Ok(())
}
