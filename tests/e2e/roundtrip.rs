//! The inbox end to end, as Meta and an agent drive it: a signed webhook POSTed to wacrm-webhookd shows up
//! in `wacrm inbox list`; a reply from `wacrm inbox send` reaches the (fake) Graph API, whose status
//! webhooks move it to read; replaying the stored events adds nothing. And a daemon killed (SIGKILL)
//! while Meta posts loses nothing it acknowledged: the next one processes it, each message once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::Connection;
use wacrm_core::whatsapp::fake::{FakeGraph, StatusWebhooks};
use wacrm_e2e::{TestDb, Webhookd, eventually, post_signed, wacrm};

const APP_SECRET: &str = "e2e-app-secret";
const PHONE_NUMBER_ID: &str = "106540352242922";
const WABA_ID: &str = "102290129340398";

fn inbound_text(wamid: &str, from: &str, name: &str, text: &str) -> String {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": WABA_ID,
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": { "display_phone_number": "14155550100", "phone_number_id": PHONE_NUMBER_ID },
                    "contacts": [{ "profile": { "name": name }, "wa_id": from }],
                    "messages": [{
                        "from": from,
                        "id": wamid,
                        "timestamp": chrono_now(),
                        "type": "text",
                        "text": { "body": text }
                    }]
                }
            }]
        }]
    })
    .to_string()
}

fn chrono_now() -> String {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0).to_string()
}

/// A business with the fixtures' number connected, sending through the Graph API at `api_base_url`;
/// its id.
fn business_with_number(db: &TestDb, api_base_url: &str) -> anyhow::Result<String> {
    let business =
        wacrm(db, &["--json", "business", "create", "--name", "Acme", "--email", "owner@acme.test"]).ok()?.json()?;
    let business = business["id"].to_string();
    wacrm(
        db,
        &[
            "--business",
            &business,
            "accounts",
            "add",
            "--phone",
            "+14155550100",
            "--phone-number-id",
            PHONE_NUMBER_ID,
            "--waba-id",
            WABA_ID,
            "--token",
            "e2e-token",
            "--api-base-url",
            api_base_url,
        ],
    )
    .ok()?;
    Ok(business)
}

// Multi-threaded: the fake Graph API serves from this runtime while the test blocks on `wacrm` runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_message_is_answered_and_the_reply_is_read() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let fake = FakeGraph::start().await?;
    let business = business_with_number(&db, fake.base_url())?;
    let daemon = Webhookd::start(&db, APP_SECRET).await?;

    // Meta delivers the customer's message (twice, as it does on retries).
    let body = inbound_text("wamid.E2E.inbound.1", "16505551234", "Sheena Nelson", "Does it come in another color? 🎨");
    assert_eq!(daemon.post_signed(&body, APP_SECRET).await?, 200);
    assert_eq!(daemon.post_signed(&body, APP_SECRET).await?, 200);
    assert_eq!(daemon.post_signed(&body, "wrong-secret").await?, 401);

    let conversation = eventually(Duration::from_secs(5), || {
        let list = wacrm(&db, &["--json", "--business", &business, "inbox", "list"]).ok().ok()?.json().ok()?;
        list["items"].as_array()?.first().cloned()
    })
    .await
    .expect("the webhook's message shows in `wacrm inbox list`");
    assert_eq!(conversation["preview"], "Does it come in another color? 🎨");
    assert_eq!(conversation["unread_count"], 1);
    let contact = conversation["contact_id"].to_string();

    // The agent replies; the fake Graph API accepts it and plays Meta's status webhooks back.
    fake.deliver_statuses(StatusWebhooks {
        url: format!("{}/webhook", daemon.base_url),
        app_secret: APP_SECRET.into(),
        waba_id: WABA_ID.into(),
        display_phone_number: "14155550100".into(),
        delay: Duration::from_millis(20),
    });
    wacrm(&db, &["--business", &business, "inbox", "send", &contact, "--text", "Yes: red, blue and green."]).ok()?;
    let sends: Vec<_> = fake.requests().into_iter().filter(|r| r.to().is_some()).collect();
    assert_eq!(sends.len(), 1, "exactly one send reached the Graph API");
    assert_eq!(sends[0].to(), Some("16505551234"));

    let read = eventually(Duration::from_secs(10), || {
        let chat =
            wacrm(&db, &["--json", "--business", &business, "inbox", "show", &contact]).ok().ok()?.json().ok()?;
        let messages = chat["items"].as_array()?.clone();
        let reply = messages.iter().find(|m| m["direction"] == "out")?.clone();
        (reply["status"] == "read").then_some(messages)
    })
    .await
    .expect("the status webhooks move the reply to read");
    assert_eq!(read.len(), 2, "the duplicated inbound message is stored once: {read:?}");

    // Replaying every stored event changes nothing.
    wacrm(&db, &["--business", &business, "webhook", "replay", "--since", "1h"]).ok()?;
    let after = wacrm(&db, &["--json", "--business", &business, "inbox", "show", &contact]).ok()?.json()?;
    let count = after["items"].as_array().map(Vec::len);
    assert_eq!(count, Some(2));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_under_load_loses_nothing_it_acknowledged() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    business_with_number(&db, "http://127.0.0.1:9")?;
    let daemon = Webhookd::start(&db, APP_SECRET).await?;

    // Meta's deliveries, 8 at a time, until the daemon dies under them.
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut senders = Vec::new();
    for sender in 0..8 {
        let (base_url, acked) = (daemon.base_url.clone(), acked.clone());
        senders.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for n in 0.. {
                let wamid = format!("wamid.CRASH.{sender}.{n}");
                let body = inbound_text(&wamid, &format!("165055512{}", 34 + sender), "Load", "are you open?");
                match post_signed(&client, &base_url, &body, APP_SECRET).await {
                    Ok(200) => acked.lock().expect("acked").push(wamid),
                    _ => break,
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().expect("acked").len() < 200 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(daemon); // SIGKILL, with requests in flight and acknowledged events not processed yet
    for sender in senders {
        sender.await?;
    }
    let acked = acked.lock().expect("acked").clone();
    assert!(acked.len() >= 200, "only {} deliveries were acknowledged", acked.len());

    let mut conn = sqlx::PgConnection::connect(&db.url).await?;
    for wamid in &acked {
        let logged: i64 =
            sqlx::query_scalar("SELECT count(*) FROM webhook_events WHERE position($1::bytea IN body) > 0")
                .bind(format!("\"{wamid}\"").into_bytes())
                .fetch_one(&mut conn)
                .await?;
        assert_eq!(logged, 1, "{wamid} was acknowledged, so it is in the raw log");
    }

    // The next daemon finishes what the killed one had not processed.
    let _daemon = Webhookd::start(&db, APP_SECRET).await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (events, pending): (i64, i64) =
            sqlx::query_as("SELECT (SELECT count(*) FROM webhook_events), (SELECT count(*) FROM webhook_pending)")
                .fetch_one(&mut conn)
                .await?;
        if pending == 0 {
            let messages: i64 = sqlx::query_scalar("SELECT count(*) FROM messages").fetch_one(&mut conn).await?;
            assert_eq!(messages, events, "every stored delivery is one message, stored once");
            break;
        }
        assert!(Instant::now() < deadline, "{pending} of {events} events still pending");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stored: Vec<String> = sqlx::query_scalar("SELECT wamid FROM messages").fetch_all(&mut conn).await?;
    let missing: Vec<&String> = acked.iter().filter(|w| !stored.contains(w)).collect();
    assert!(missing.is_empty(), "acknowledged but never stored: {missing:?}");
    Ok(())
}
