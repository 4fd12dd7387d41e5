//! The inbox end to end, as Meta and an agent drive it: a signed webhook POSTed to wacrm-webhookd shows up
//! in `wacrm inbox list`; a reply from `wacrm inbox send` reaches the (fake) Graph API, whose status
//! webhooks move it to read; replaying the stored events adds nothing.

use std::time::Duration;

use serde_json::json;
use wacrm_core::whatsapp::fake::{FakeGraph, StatusWebhooks};
use wacrm_e2e::{TestDb, Webhookd, eventually, wacrm};

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

// Multi-threaded: the fake Graph API serves from this runtime while the test blocks on `wacrm` runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_message_is_answered_and_the_reply_is_read() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let fake = FakeGraph::start().await?;
    let business =
        wacrm(&db, &["--json", "business", "create", "--name", "Acme", "--email", "owner@acme.test"]).ok()?.json()?;
    let business = business["id"].to_string();
    wacrm(
        &db,
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
            fake.base_url(),
        ],
    )
    .ok()?;
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
