//! Issue 22's delay target: 10,000 delayed actions due at the same minute all fire within 10 s of it.
//! Arms the delays the way the engine does (10,000 customers' messages through the durable consumer,
//! one rule delayed by a minute, armed from the start of a wall-clock minute so that all fall due in
//! the next one), then starts the job runner as the daemon does and times, from the last wait's due
//! time and from the start of its minute, until every action has run (the runner's wake-up jobs, the
//! engine's pass that claims them, re-checks the conditions, runs the action and logs it). The
//! same-run baseline is 100.
//!
//! Needs a PostgreSQL server (a scratch database is made and dropped):
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p wacrm-core --bench automation_delays`

use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use rust_decimal::Decimal;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use wacrm_core::automation::{self, Options, RuleSpec};
use wacrm_core::events::{self, Cause, Event, NewEvent};
use wacrm_core::inbox::send::Sender;
use wacrm_core::jobs::{self, RunnerConfig};
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

/// Arms `n` delays due in one minute; returns how long after the last one's due time all had fired.
async fn measure(server: &str, n: i32) -> Duration {
    let name = format!("wacrm_bench_delays_{n}_{}", std::process::id());
    let mut admin = PgConnection::connect(server).await.expect("the server at DATABASE_URL");
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}"))).execute(&mut admin).await.unwrap();
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.unwrap();
    // The database's name replaced, the options after it (a socket's `?host=`) kept.
    let (path, options) = server.split_once('?').map_or((server, String::new()), |(p, o)| (p, format!("?{o}")));
    let url = format!("{}/{name}{options}", path.rsplit_once('/').expect("a database URL").0);
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
            "action": {"add_tag": "chased"}, "delay_minutes": 1}"#,
    )
    .unwrap();
    automation::add(&pool, &scope, &spec).await.unwrap();
    // Armed from a minute's start, so that every wait falls due in the next minute.
    let now = Utc::now();
    let next_minute = now.duration_trunc(TimeDelta::minutes(1)).unwrap() + TimeDelta::minutes(1);
    tokio::time::sleep((next_minute - now).to_std().unwrap()).await;
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
    let (first, last): (DateTime<Utc>, DateTime<Utc>) =
        sqlx::query_as("SELECT min(due_at), max(due_at) FROM automation_pending WHERE business_id = $1")
            .bind(b.id.0)
            .fetch_one(&pool)
            .await
            .unwrap();
    let minute = first.duration_trunc(TimeDelta::minutes(1)).unwrap();
    assert_eq!(minute, last.duration_trunc(TimeDelta::minutes(1)).unwrap(), "every wait due in one minute");

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = {
        let pool = pool.clone();
        tokio::spawn(async move {
            jobs::run(&pool, &RunnerConfig::default(), async {
                stopped.await.ok();
            })
            .await
        })
    };
    let tagged = loop {
        let tagged =
            count(&pool, "SELECT count(*) FROM contact_tags WHERE business_id = $1 AND tag = 'chased'", b.id.0).await;
        if tagged == i64::from(n) || Utc::now() > last + TimeDelta::minutes(2) {
            break tagged;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let done = Utc::now();
    stop.send(()).ok();
    runner.await.unwrap().unwrap();
    assert_eq!(tagged, i64::from(n), "every action ran within two minutes of its time");
    let fired =
        count(&pool, "SELECT count(*) FROM automation_pending WHERE business_id = $1 AND status = 'fired'", b.id.0)
            .await;
    assert_eq!(fired, i64::from(n), "every wait fired, none dropped");
    pool.close().await;
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE {name}"))).execute(&mut admin).await.unwrap();
    let after = |t: DateTime<Utc>| (done - t).to_std().unwrap_or_default();
    println!(
        "{n:>6} delays due {first} .. {last} ({:.1} s apart): all fired {:.2?} after the last fell due, {:.2?} after their minute began",
        (last - first).as_seconds_f64(),
        after(last),
        after(minute)
    );
    after(last)
}

/// A count of the business's rows.
async fn count(pool: &sqlx::PgPool, sql: &'static str, business: i32) -> i64 {
    sqlx::query_scalar(sql).bind(business).fetch_one(pool).await.unwrap()
}

#[tokio::main]
async fn main() {
    let server = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    measure(&server, 100).await;
    let elapsed = measure(&server, 10_000).await;
    println!(
        "target: 10,000 due in one minute all fired within 10 s of their time: {}",
        if elapsed <= Duration::from_secs(10) { "met" } else { "MISSED" }
    );
}
