//! Issue 22's delay target: 10,000 delayed actions due at the same minute all fire within 10 s of it.
//! Arms the delays the way the engine does (10,000 customers' messages through the durable consumer,
//! one delayed rule), moves them all to the same past minute, then times the engine's pass that fires
//! them (claim, re-check the conditions, run the action and log it). The same-run baseline is 100.
//!
//! Needs a PostgreSQL server (a scratch database is made and dropped):
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p wacrm-core --bench automation_delays`

use std::time::{Duration, Instant};

use chrono::Utc;
use rust_decimal::Decimal;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use wacrm_core::automation::{self, Options, RuleSpec};
use wacrm_core::events::{self, Cause, Event, NewEvent};
use wacrm_core::inbox::send::Sender;
use wacrm_core::whatsapp::client::{GraphClient, RetryPolicy};
use wacrm_core::{AccountId, ContactId, MessageId, Scope, business, db};

fn sender() -> Sender {
    let retry = RetryPolicy {
        max_attempts: 1,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
    };
    Sender { client: GraphClient::new("http://127.0.0.1:9", "v23.0", retry), conversation_price: Decimal::new(5, 2) }
}

/// Arms `n` delays due at one past minute; returns how long the pass that fires them took.
async fn measure(server: &str, n: i32) -> Duration {
    let name = format!("wacrm_bench_delays_{n}_{}", std::process::id());
    let mut admin = PgConnection::connect(server).await.expect("the server at DATABASE_URL");
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}"))).execute(&mut admin).await.unwrap();
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.unwrap();
    let url = format!("{}/{name}", server.rsplit_once('/').expect("a database URL").0);
    let pool = db::connect_url(&url).await.unwrap();
    db::migrate(&pool).await.unwrap();

    let (b, _) = business::create(&pool, "bench", "bench@example.com", "US").await.unwrap();
    let scope = Scope::for_business(&pool, b.id).await.unwrap();
    let ids: Vec<i32> = sqlx::query_scalar(
        "INSERT INTO contacts (business_id, phone, wa_id, name, last_inbound_at)
         SELECT $1, '+1555' || lpad(g::text, 7, '0'), '1555' || lpad(g::text, 7, '0'), 'C' || g, now()
         FROM generate_series(1, $2) g RETURNING id",
    )
    .bind(b.id.0)
    .bind(n)
    .fetch_all(&pool)
    .await
    .unwrap();
    let spec = RuleSpec::from_json(
        r#"{"name": "chase", "trigger": "message_received", "condition": {"contains": "price"},
            "action": {"add_tag": "chased"}, "delay_minutes": 30}"#,
    )
    .unwrap();
    automation::add(&pool, &scope, &spec).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    let messages: Vec<NewEvent> = ids
        .iter()
        .map(|id| NewEvent {
            business: b.id,
            contact: Some(ContactId(*id)),
            event: Event::MessageReceived {
                message_id: MessageId(*id),
                wamid: format!("wamid.{id}"),
                account_id: AccountId(1),
                kind: "text".into(),
                text: "what is the price?".into(),
                context_wamid: None,
                sent_at: Utc::now(),
            },
            cause: Cause::customer(),
        })
        .collect();
    events::emit_all(&mut tx, &messages).await.unwrap();
    tx.commit().await.unwrap();
    let (sender, options) = (sender(), Options::default());
    let armed = automation::run_once(&pool, &sender, &options).await.unwrap();
    assert_eq!(armed.events as i32, n, "every message handed to the engine");
    // All due at the same minute, which has just begun.
    sqlx::query("UPDATE automation_pending SET due_at = date_trunc('minute', now()) WHERE business_id = $1")
        .bind(b.id.0)
        .execute(&pool)
        .await
        .unwrap();
    let started = Instant::now();
    let fired = automation::run_once(&pool, &sender, &options).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(fired.delays as i32, n, "every delay fired in the pass");
    let tagged: i64 = sqlx::query_scalar("SELECT count(*) FROM contact_tags WHERE business_id = $1 AND tag = 'chased'")
        .bind(b.id.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tagged, i64::from(n), "every action ran");
    pool.close().await;
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE {name}"))).execute(&mut admin).await.unwrap();
    println!(
        "{n:>6} delays due at one minute: all fired in {elapsed:>8.2?} ({:.0} per second)",
        f64::from(n) / elapsed.as_secs_f64()
    );
    elapsed
}

#[tokio::main]
async fn main() {
    let server = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    measure(&server, 100).await;
    let elapsed = measure(&server, 10_000).await;
    println!(
        "target: 10,000 within 10 s of their minute: {}",
        if elapsed <= Duration::from_secs(10) { "met" } else { "MISSED" }
    );
}
