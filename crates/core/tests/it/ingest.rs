//! Inbound webhooks end to end through core: raw log, routing, contacts, messages, statuses, usage,
//! outbox. Bodies are the fixtures in `tests/fixtures/webhooks/`, written from the documented shapes.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use wacrm_core::auth::Scope;
use wacrm_core::business::{self, NewAccount};
use wacrm_core::inbox::conversations;
use wacrm_core::inbox::ingest::{self, IngestConfig, Outcome, ProcessedEvent};
use wacrm_core::types::{AccountId, BusinessId, ContactId};

/// Business A's number in every fixture; B's number never appears in them.
const A_PHONE_NUMBER_ID: &str = "106540352242922";
const A_WABA: &str = "102290129340398";
const B_PHONE_NUMBER_ID: &str = "206540352242922";
const SHEENA: &str = "+16505551234";
/// The text.json message.
const TEXT_WAMID: &str = "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQz0";
const TEXT_AT: i64 = 1749416383;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/webhooks/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn tenant(pool: &PgPool, email: &str, phone: &str, phone_number_id: &str, waba: &str) -> (Scope, AccountId) {
    let (b, _) = business::create(pool, "Acme", email, "US").await.unwrap();
    let scope = Scope::for_business(pool, b.id).await.unwrap();
    let account = business::add_account(
        pool,
        &scope,
        &NewAccount {
            phone: phone.into(),
            phone_number_id: phone_number_id.into(),
            waba_id: Some(waba.into()),
            token: "test-token".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    (scope, account.id)
}

async fn business_a(pool: &PgPool) -> (Scope, AccountId) {
    tenant(pool, "a@example.com", "+14155552671", A_PHONE_NUMBER_ID, A_WABA).await
}

async fn business_b(pool: &PgPool) -> (Scope, AccountId) {
    tenant(pool, "b@example.com", "+14155552678", B_PHONE_NUMBER_ID, "202290129340398").await
}

/// Stores a body as the daemon does, then processes it on the fast path.
async fn deliver(pool: &PgPool, body: &[u8]) -> ProcessedEvent {
    let id = ingest::store_raw(pool, body).await.unwrap();
    ingest::process_event(pool, &IngestConfig::default(), id).await.unwrap().expect("the event was pending")
}

async fn count(pool: &PgPool, sql: &'static str, business: BusinessId) -> i64 {
    sqlx::query_scalar(sql).bind(business.0).fetch_one(pool).await.unwrap()
}

async fn messages(pool: &PgPool, b: BusinessId) -> i64 {
    count(pool, "SELECT count(*) FROM messages WHERE business_id = $1", b).await
}

async fn usage(pool: &PgPool, b: BusinessId) -> i64 {
    count(pool, "SELECT count(*) FROM usage_logs WHERE business_id = $1", b).await
}

async fn events_of(pool: &PgPool, b: BusinessId, kind: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE business_id = $1 AND kind = $2")
        .bind(b.0)
        .bind(kind)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// An outbound message as the send path leaves it once Meta accepted it.
async fn outbound(pool: &PgPool, b: BusinessId, wamid: &str, campaign: Option<i32>) -> i32 {
    let contact: i32 = sqlx::query_scalar(
        "INSERT INTO contacts (business_id, phone, wa_id) VALUES ($1, $2, '16505551234')
         ON CONFLICT (business_id, phone) DO UPDATE SET wa_id = EXCLUDED.wa_id RETURNING id",
    )
    .bind(b.0)
    .bind(SHEENA)
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query_scalar(
        "INSERT INTO messages (business_id, contact_id, direction, content, status, wamid, kind, campaign_id)
         VALUES ($1, $2, 'out', 'Spring sale!', 'sent', $3, 'text', $4) RETURNING id",
    )
    .bind(b.0)
    .bind(contact)
    .bind(wamid)
    .bind(campaign)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[derive(Debug, sqlx::FromRow)]
struct StoredMessage {
    kind: String,
    content: String,
    status: String,
    sent_at: Option<DateTime<Utc>>,
    media: Option<Value>,
    payload: Option<Value>,
    context_wamid: Option<String>,
    whatsapp_account_id: Option<i32>,
}

async fn message(pool: &PgPool, b: BusinessId, wamid: &str) -> StoredMessage {
    sqlx::query_as(
        "SELECT kind, content, status::text AS status, sent_at, media, payload, context_wamid, whatsapp_account_id
         FROM messages WHERE business_id = $1 AND wamid = $2",
    )
    .bind(b.0)
    .bind(wamid)
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("{wamid}: {e}"))
}

#[derive(Debug, sqlx::FromRow)]
struct StoredContact {
    id: i32,
    phone: Option<String>,
    wa_id: Option<String>,
    bsuid: Option<String>,
    username: Option<String>,
    profile_name: Option<String>,
    unread_count: i32,
    last_message_id: Option<i32>,
    last_inbound_at: Option<DateTime<Utc>>,
    last_active: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    opted_out_at: Option<DateTime<Utc>>,
    opt_out_source: Option<String>,
}

async fn contacts(pool: &PgPool, b: BusinessId) -> Vec<StoredContact> {
    sqlx::query_as(
        "SELECT id, phone, wa_id, bsuid, username, profile_name, unread_count, last_message_id, last_inbound_at,
                last_active, resolved_at, opted_out_at, opt_out_source
         FROM contacts WHERE business_id = $1 ORDER BY id",
    )
    .bind(b.0)
    .fetch_all(pool)
    .await
    .unwrap()
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_text_message_stores_contact_message_usage_and_event(pool: PgPool) {
    let (a, account) = business_a(&pool).await;
    let b = a.business();
    let done = deliver(&pool, &fixture("text.json")).await;
    assert_eq!(done.outcome, Outcome::Processed);
    assert_eq!(done.business_id, Some(b));
    assert_eq!((done.summary.messages_stored, done.summary.duplicates), (1, 0));

    let m = message(&pool, b, TEXT_WAMID).await;
    assert_eq!(
        (m.kind.as_str(), m.content.as_str(), m.status.as_str()),
        ("text", "Does it come in another color?", "delivered")
    );
    assert_eq!(m.sent_at, Some(at(TEXT_AT)));
    assert_eq!(m.whatsapp_account_id, Some(account.0));

    let c = &contacts(&pool, b).await[0];
    assert_eq!(c.phone.as_deref(), Some(SHEENA));
    assert_eq!(c.wa_id.as_deref(), Some("16505551234"));
    assert_eq!(c.profile_name.as_deref(), Some("Sheena Nelson"));
    assert_eq!(c.unread_count, 1);
    assert_eq!((c.last_inbound_at, c.last_active), (Some(at(TEXT_AT)), Some(at(TEXT_AT))));
    assert!(c.last_message_id.is_some());

    assert_eq!(usage(&pool, b).await, 1);
    assert_eq!(events_of(&pool, b, "message_received").await, 1);
    let payload: Value =
        sqlx::query_scalar("SELECT payload FROM events WHERE business_id = $1 AND kind = 'message_received'")
            .bind(b.0)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(payload["kind"], "text");
    assert_eq!(payload["text"], "Does it come in another color?");
    assert_eq!(payload["message_id"], c.last_message_id.unwrap());

    let raw = ingest::recent_events(&pool, 10).await.unwrap();
    assert_eq!((raw[0].outcome.as_str(), raw[0].business_id, raw[0].attempts), ("processed", Some(b), 1));
    assert_eq!(raw[0].summary.as_ref().map(|s| (s.messages_stored, s.duplicates)), Some((1, 0)));
    // The log keeps only what happened: every byte more would push the row's mark off its page.
    let stored: Value = sqlx::query_scalar("SELECT summary FROM webhook_events").fetch_one(&pool).await.unwrap();
    assert_eq!(stored, json!({"business_ids": [b.0], "messages_stored": 1}));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_duplicate_delivery_is_stored_once_without_second_usage_or_event(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let b = a.business();
    deliver(&pool, &fixture("text.json")).await;
    let again = deliver(&pool, &fixture("text.json")).await;
    assert_eq!(again.outcome, Outcome::Processed);
    assert_eq!((again.summary.messages_stored, again.summary.duplicates), (0, 1));
    assert_eq!(messages(&pool, b).await, 1);
    assert_eq!(usage(&pool, b).await, 1);
    assert_eq!(events_of(&pool, b, "message_received").await, 1);
    assert_eq!(contacts(&pool, b).await[0].unread_count, 1);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn every_message_type_is_stored_with_text_or_placeholder(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let b = a.business();
    let done = deliver(&pool, &fixture("every_type.json")).await;
    assert_eq!(done.summary.messages_stored, 22, "{:?}", done.summary);
    assert!(done.summary.invalid.is_empty(), "{:?}", done.summary.invalid);
    let w = |i: i32| format!("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQz{i}");
    let expect = [
        (1, "text", "Hi, is this the shop?"),
        (2, "image", "This one, in blue"),
        (3, "video", "[video]"),
        (4, "audio", "[voice message]"),
        (5, "sticker", "[animated sticker]"),
        (6, "document", "[document: invoice-0042.pdf]"),
        (
            7,
            "location",
            "📍 location: Philz Coffee, 101 Forest Ave, Palo Alto, CA 94301 (38.9806263495, -131.9428612257)",
        ),
        (8, "contacts", "[contact: Barbara Johnson]"),
        (9, "button", "More info"),
        (10, "interactive", "Medium"),
        (11, "interactive", "Thursday 10:00"),
        (12, "interactive", "Sent"),
        (13, "reaction", "[reaction 👍 to wamid.OUTBOUND_TEXT_1]"),
        (14, "reaction", "[reaction removed from wamid.OUTBOUND_TEXT_1]"),
        (15, "text", "Yes, that one"),
        (18, "order", "[order: 2 item(s)] Please deliver today"),
        (19, "system", "User A changed from 16505551234 to 16505559999"),
        (20, "unsupported", "[unsupported message: Message type is currently not supported. (131051)]"),
        (21, "unknown", "[unknown message type: hologram]"),
        (22, "request_welcome", "[conversation opened]"),
    ];
    for (i, kind, content) in expect {
        let m = message(&pool, b, &w(i)).await;
        assert_eq!((m.kind.as_str(), m.content.as_str()), (kind, content), "message {i}");
    }
    let image = message(&pool, b, &w(2)).await;
    assert_eq!(
        image.media,
        Some(serde_json::json!({"id": "1003383421387256", "mime_type": "image/jpeg",
                                "sha256": "dGhpcyBpcyBub3QgYSByZWFsIGhhc2g="}))
    );
    assert_eq!(message(&pool, b, &w(6)).await.media.unwrap()["filename"], "invoice-0042.pdf");
    assert_eq!(message(&pool, b, &w(5)).await.media.unwrap()["animated"], true);
    assert_eq!(message(&pool, b, &w(10)).await.payload.unwrap()["interactive"]["button_reply"]["id"], "size-m");
    assert_eq!(message(&pool, b, &w(11)).await.payload.unwrap()["interactive"]["list_reply"]["id"], "slot-3");
    assert_eq!(message(&pool, b, &w(13)).await.context_wamid.as_deref(), Some("wamid.OUTBOUND_TEXT_1"));
    assert_eq!(message(&pool, b, &w(15)).await.context_wamid.as_deref(), Some("wamid.OUTBOUND_TEXT_1"));
    assert_eq!(message(&pool, b, &w(16)).await.payload.unwrap()["context"]["forwarded"], true);
    assert_eq!(message(&pool, b, &w(17)).await.payload.unwrap()["referral"]["ctwa_clid"], "ARAkLkA8rmlFeiCktEJQ");
    assert_eq!(message(&pool, b, &w(20)).await.payload.unwrap()["errors"][0]["code"], 131051);
    // One customer, one conversation window, one event per message.
    assert_eq!(contacts(&pool, b).await.len(), 1);
    assert_eq!(usage(&pool, b).await, 1);
    assert_eq!(events_of(&pool, b, "message_received").await, 22);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_batch_is_handled_item_by_item_matching_senders_by_wa_id(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let b = a.business();
    outbound(&pool, b, "wamid.OUTBOUND_BATCH_1", None).await;
    let done = deliver(&pool, &fixture("batch.json")).await;
    assert_eq!(done.outcome, Outcome::Processed);
    assert_eq!(done.summary.messages_stored, 4);
    // The message is already `sent`: the sent status changes nothing, delivered moves it.
    assert_eq!((done.summary.statuses_applied, done.summary.statuses_unchanged), (1, 1));
    assert_eq!(done.summary.pricing_recorded, 1);
    assert_eq!(done.summary.ignored_fields, vec!["account_alerts".to_string()]);

    let people = contacts(&pool, b).await;
    assert_eq!(people.len(), 2);
    let kenji = people.iter().find(|c| c.phone.as_deref() == Some("+447700900123")).unwrap();
    let sheena = people.iter().find(|c| c.phone.as_deref() == Some(SHEENA)).unwrap();
    // The contacts array lists Kenji first while Sheena's message comes first: matched by wa_id.
    assert_eq!(kenji.profile_name.as_deref(), Some("Kenji Sato"));
    assert_eq!(sheena.profile_name.as_deref(), Some("Sheena Nelson"));
    assert_eq!((kenji.unread_count, sheena.unread_count), (2, 2));
    assert_eq!(usage(&pool, b).await, 2);
    let status: String = sqlx::query_scalar("SELECT status::text FROM messages WHERE business_id = $1 AND wamid = $2")
        .bind(b.0)
        .bind("wamid.OUTBOUND_BATCH_1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "delivered");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn statuses_only_move_forward_and_keep_their_own_times(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let b = a.business();
    outbound(&pool, b, "wamid.OUTBOUND_1", None).await;
    let read = deliver(&pool, &fixture("status_read.json")).await;
    assert_eq!(read.summary.statuses_applied, 1);
    let delivered = deliver(&pool, &fixture("status_delivered.json")).await;
    assert_eq!(delivered.summary.statuses_applied, 1, "the late delivered status still records its time");
    let sent = deliver(&pool, &fixture("status_sent.json")).await;
    assert_eq!((sent.summary.statuses_applied, sent.summary.statuses_unchanged), (0, 1));
    let again = deliver(&pool, &fixture("status_read.json")).await;
    assert_eq!(again.summary.statuses_unchanged, 1);

    let row: (String, Option<DateTime<Utc>>, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT status::text, delivered_at, read_at FROM messages WHERE business_id = $1 AND wamid = 'wamid.OUTBOUND_1'",
    )
    .bind(b.0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(row, ("read".to_string(), Some(at(1749416510)), Some(at(1749416520))));
    assert_eq!(events_of(&pool, b, "status_changed").await, 2);
    // Pricing arrives on delivered and again on sent: recorded once.
    let pricing: (String, String, String, bool) = sqlx::query_as(
        "SELECT pricing_model, category, pricing_type, billable FROM message_pricing WHERE business_id = $1",
    )
    .bind(b.0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(pricing, ("PMP".into(), "marketing".into(), "regular".into(), true));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_failed_campaign_message_keeps_its_error_and_unknown_wamids_are_recorded(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let b = a.business();
    let template: i32 = sqlx::query_scalar(
        "INSERT INTO message_templates (business_id, name, content) VALUES ($1, 'spring_sale', 'Sale!') RETURNING id",
    )
    .bind(b.0)
    .fetch_one(&pool)
    .await
    .unwrap();
    let campaign: i32 = sqlx::query_scalar(
        "INSERT INTO campaigns (business_id, template_id, name) VALUES ($1, $2, 'Spring') RETURNING id",
    )
    .bind(b.0)
    .bind(template)
    .fetch_one(&pool)
    .await
    .unwrap();
    outbound(&pool, b, "wamid.OUTBOUND_2", Some(campaign)).await;
    let done = deliver(&pool, &fixture("status_failed.json")).await;
    assert_eq!(done.summary.statuses_applied, 1);
    let row: (String, Option<i32>, Option<String>, Option<i32>, bool) = sqlx::query_as(
        "SELECT status::text, error_code, error_detail, campaign_id, failed_at IS NOT NULL
         FROM messages WHERE business_id = $1 AND wamid = 'wamid.OUTBOUND_2'",
    )
    .bind(b.0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(row.0, "failed");
    assert_eq!(row.1, Some(131047));
    assert!(row.2.unwrap().contains("more than 24 hours"));
    assert_eq!((row.3, row.4), (Some(campaign), true));
    // failed is terminal: a late delivered status does not revive it.
    let late = deliver(
        &pool,
        &String::from_utf8(fixture("status_delivered.json")).unwrap().replace("OUTBOUND_1", "OUTBOUND_2").into_bytes(),
    )
    .await;
    assert_eq!(late.summary.statuses_applied, 1, "its delivered time is recorded");
    let status: String = sqlx::query_scalar("SELECT status::text FROM messages WHERE business_id = $1 AND wamid = $2")
        .bind(b.0)
        .bind("wamid.OUTBOUND_2")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "failed");

    let unknown = deliver(&pool, &fixture("status_unknown_wamid.json")).await;
    assert_eq!(unknown.outcome, Outcome::Processed);
    assert_eq!(unknown.summary.unknown_statuses, vec!["wamid.NEVER_SENT_BY_US".to_string()]);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn unknown_and_inactive_numbers_touch_no_tenant(pool: PgPool) {
    let (a, account) = business_a(&pool).await;
    let b = a.business();
    let orphan = deliver(&pool, &fixture("unknown_account.json")).await;
    assert_eq!(orphan.outcome, Outcome::Orphan);
    assert_eq!(orphan.business_id, None);
    assert_eq!(orphan.summary.orphans, vec!["999999999999999".to_string()]);

    business::set_account_active(&pool, &a, account, false).await.unwrap();
    let inactive = deliver(&pool, &fixture("text.json")).await;
    assert_eq!(inactive.outcome, Outcome::Orphan);
    let total: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM contacts) + (SELECT count(*) FROM messages) + (SELECT count(*) FROM events)
              + (SELECT count(*) FROM usage_logs)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(total, 0);

    // Once the number is active again, a replay picks the kept event up: exactly once.
    business::set_account_active(&pool, &a, account, true).await.unwrap();
    let replayed = ingest::replay(&pool, &IngestConfig::default(), at(0), false).await.unwrap();
    assert_eq!(replayed.iter().map(|e| e.summary.messages_stored).sum::<u32>(), 1);
    assert_eq!(messages(&pool, b).await, 1);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn template_updates_are_kept_for_later_by_waba(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let done = deliver(&pool, &fixture("template_update.json")).await;
    assert_eq!(done.outcome, Outcome::Processed);
    assert_eq!(done.business_id, Some(a.business()));
    assert_eq!(done.summary.template_updates, 1);
    let kept: Vec<u8> = sqlx::query_scalar("SELECT body FROM webhook_events WHERE id = $1")
        .bind(done.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(kept, fixture("template_update.json"));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn marketing_opt_outs_from_preferences_keywords_and_buttons(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let b = a.business();
    let stop = deliver(&pool, &fixture("user_preferences_stop.json")).await;
    assert_eq!(stop.summary.opt_outs, 1);
    let c = &contacts(&pool, b).await[0];
    assert_eq!((c.opted_out_at, c.opt_out_source.as_deref()), (Some(at(1749416700)), Some("user_preferences")));
    let resume = deliver(&pool, &fixture("user_preferences_resume.json")).await;
    assert_eq!(resume.summary.opt_ins, 1);
    let c = &contacts(&pool, b).await[0];
    assert_eq!((c.opted_out_at, c.opt_out_source.as_deref()), (None, None));
    // The older stop, delivered again (a retry or a replay), does not undo the newer resume.
    deliver(&pool, &fixture("user_preferences_stop.json")).await;
    assert_eq!(contacts(&pool, b).await[0].opted_out_at, None);

    // A STOP text is a marketing choice too: one sent before the resume does not undo it...
    deliver(&pool, &fixture("stop_keyword.json")).await;
    assert_eq!(contacts(&pool, b).await[0].opted_out_at, None);
    // ...one sent after it opts out.
    let later = |name: &str, from: &str, wamid: &str| {
        String::from_utf8(fixture(name)).unwrap().replace(from, "1749416900").replace("wamid.", wamid)
    };
    deliver(&pool, later("stop_keyword.json", "1749416443", "wamid.LATER").as_bytes()).await;
    assert_eq!(contacts(&pool, b).await[0].opt_out_source.as_deref(), Some("keyword"));
    sqlx::query(
        "UPDATE contacts SET opted_out_at = NULL, opt_out_source = NULL, marketing_preference_at = NULL
         WHERE business_id = $1",
    )
    .bind(b.0)
    .execute(&pool)
    .await
    .unwrap();
    deliver(&pool, &fixture("stop_button.json")).await;
    assert_eq!(contacts(&pool, b).await[0].opt_out_source.as_deref(), Some("button"));
    assert_eq!(events_of(&pool, b, "opted_out").await + events_of(&pool, b, "opted_in").await, 4);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn unicode_and_4096_character_texts_are_stored_byte_exact(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let b = a.business();
    let body = fixture("unicode_long.json");
    let parsed: Value = serde_json::from_slice(&body).unwrap();
    let sent = &parsed["entry"][0]["changes"][0]["value"]["messages"];
    deliver(&pool, &body).await;
    for i in 0..2 {
        let expected = sent[i]["text"]["body"].as_str().unwrap();
        let stored = message(&pool, b, sent[i]["id"].as_str().unwrap()).await.content;
        assert_eq!(stored.as_bytes(), expected.as_bytes());
    }
    assert_eq!(sent[0]["text"]["body"].as_str().unwrap().chars().count(), 4096);
    assert_eq!(contacts(&pool, b).await[0].profile_name.as_deref(), Some("Jörg Müller 😀"));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_username_user_is_keyed_by_bsuid_and_later_linked_to_the_phone(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let b = a.business();
    deliver(&pool, &fixture("bsuid_only.json")).await;
    let c = &contacts(&pool, b).await[0];
    assert_eq!((c.phone.as_deref(), c.bsuid.as_deref()), (None, Some("US.13491208655302741918")));
    assert_eq!((c.username.as_deref(), c.profile_name.as_deref()), (Some("@ana.shop"), Some("Ana")));

    // The same user later writes with both identities: same contact, phone attached.
    let both = String::from_utf8(fixture("bsuid_only.json"))
        .unwrap()
        .replace("\"from_user_id\"", "\"from\": \"5511987654321\", \"from_user_id\"")
        .replace("wamid.BSUID_ONLY_1", "wamid.BSUID_ONLY_2");
    deliver(&pool, both.as_bytes()).await;
    let people = contacts(&pool, b).await;
    assert_eq!(people.len(), 1);
    assert_eq!(people[0].phone.as_deref(), Some("+5511987654321"));
    assert_eq!(people[0].wa_id.as_deref(), Some("5511987654321"));
    assert_eq!(people[0].unread_count, 2);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_late_older_message_neither_renames_nor_moves_the_conversation_back(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let b = a.business();
    deliver(&pool, &fixture("text.json")).await;
    let before = &contacts(&pool, b).await[0];
    sqlx::query("UPDATE contacts SET resolved_at = NOW() WHERE business_id = $1")
        .bind(b.0)
        .execute(&pool)
        .await
        .unwrap();
    deliver(&pool, &fixture("late_old_name.json")).await;
    let after = &contacts(&pool, b).await[0];
    assert_eq!(after.profile_name.as_deref(), Some("Sheena Nelson"));
    assert_eq!(after.last_message_id, before.last_message_id);
    assert_eq!(after.last_inbound_at, Some(at(TEXT_AT)));
    assert_eq!(after.unread_count, 2);
    assert_eq!(after.resolved_at, None, "a new inbound message reopens a resolved conversation");
    assert_eq!(after.id, before.id);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn webhooks_for_one_business_never_touch_another(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let (b_scope, _) = business_b(&pool).await;
    let (a, b) = (a.business(), b_scope.business());
    // B sent wamid.OUTBOUND_1; its status arrives on A's number.
    outbound(&pool, b, "wamid.OUTBOUND_1", None).await;
    let snapshot = |pool: PgPool| async move {
        sqlx::query_as::<_, (i64, i64, i64, i64, String)>(
            "SELECT (SELECT count(*) FROM contacts WHERE business_id = $1),
                    (SELECT count(*) FROM messages WHERE business_id = $1),
                    (SELECT count(*) FROM events WHERE business_id = $1),
                    (SELECT count(*) FROM message_pricing WHERE business_id = $1),
                    (SELECT string_agg(status::text || coalesce(read_at::text, '-'), ',') FROM messages
                     WHERE business_id = $1)",
        )
        .bind(b.0)
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    let before = snapshot(pool.clone()).await;
    deliver(&pool, &fixture("text.json")).await;
    let status = deliver(&pool, &fixture("status_read.json")).await;
    assert_eq!(status.business_id, Some(a));
    assert_eq!(status.summary.unknown_statuses, vec!["wamid.OUTBOUND_1".to_string()]);
    deliver(&pool, &fixture("status_delivered.json")).await;
    assert_eq!(snapshot(pool.clone()).await, before);
    assert_eq!(messages(&pool, a).await, 1);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn the_same_body_processed_concurrently_is_stored_once(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let b = a.business();
    let body = fixture("every_type.json");
    let config = IngestConfig::default();
    // Two deliveries of one body (two raw events) processed at the same time, twice over.
    for _ in 0..2 {
        let first = ingest::store_raw(&pool, &body).await.unwrap();
        let second = ingest::store_raw(&pool, &body).await.unwrap();
        let (x, y) =
            tokio::join!(ingest::process_event(&pool, &config, first), ingest::process_event(&pool, &config, second));
        let (x, y) = (x.unwrap().unwrap(), y.unwrap().unwrap());
        assert_eq!(x.summary.messages_stored + x.summary.duplicates, 22);
        assert_eq!(y.summary.messages_stored + y.summary.duplicates, 22);
    }
    assert_eq!(messages(&pool, b).await, 22);
    assert_eq!(usage(&pool, b).await, 1);
    assert_eq!(events_of(&pool, b, "message_received").await, 22);
    assert_eq!(contacts(&pool, b).await[0].unread_count, 22);

    // Several sweepers over one backlog: each event is claimed by exactly one of them.
    for i in 0..12 {
        let one = String::from_utf8(fixture("text.json")).unwrap().replace(TEXT_WAMID, &format!("wamid.SWEEP_{i}"));
        ingest::store_raw(&pool, one.as_bytes()).await.unwrap();
    }
    let (x, y, z) = tokio::join!(
        ingest::process_pending(&pool, &config, 100),
        ingest::process_pending(&pool, &config, 100),
        ingest::process_pending(&pool, &config, 100)
    );
    let mut ids: Vec<i64> = [x.unwrap(), y.unwrap(), z.unwrap()].concat().iter().map(|e| e.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12);
    assert_eq!(messages(&pool, b).await, 34);
    assert_eq!(ingest::pending_count(&pool).await.unwrap(), 0);

    // A backlog of several batches is drained by one sweep, each event once, oldest first.
    for i in 0..(2 * ingest::BATCH + 6) {
        let one = String::from_utf8(fixture("text.json")).unwrap().replace(TEXT_WAMID, &format!("wamid.BACKLOG_{i}"));
        ingest::store_raw(&pool, one.as_bytes()).await.unwrap();
    }
    let swept: Vec<i64> = ingest::process_pending(&pool, &config, 1000).await.unwrap().iter().map(|e| e.id).collect();
    assert_eq!(swept.len(), 2 * ingest::BATCH + 6);
    assert!(swept.windows(2).all(|w| w[0] < w[1]), "{swept:?}");
    assert_eq!(messages(&pool, b).await, 34 + 2 * ingest::BATCH as i64 + 6);
    assert_eq!(ingest::pending_count(&pool).await.unwrap(), 0);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn replay_is_exactly_once_and_a_dry_run_writes_nothing(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let b = a.business();
    deliver(&pool, &fixture("batch.json")).await;
    let config = IngestConfig::default();
    let dry = ingest::replay(&pool, &config, at(0), true).await.unwrap();
    assert_eq!(dry.len(), 1);
    assert_eq!((dry[0].summary.messages_stored, dry[0].summary.duplicates), (0, 4));

    // Lose one message (as a bug fix would need), then replay for real: only that one comes back.
    sqlx::query("DELETE FROM messages WHERE business_id = $1 AND wamid = 'wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQz33'")
        .bind(b.0)
        .execute(&pool)
        .await
        .unwrap();
    let dry = ingest::replay(&pool, &config, at(0), true).await.unwrap();
    assert_eq!(dry[0].summary.messages_stored, 1);
    assert_eq!(messages(&pool, b).await, 3, "a dry run writes nothing");
    let real = ingest::replay(&pool, &config, at(0), false).await.unwrap();
    assert_eq!((real[0].summary.messages_stored, real[0].summary.duplicates), (1, 3));
    assert_eq!(messages(&pool, b).await, 4);
    assert_eq!(events_of(&pool, b, "message_received").await, 5);
    let raw = ingest::recent_events(&pool, 5).await.unwrap();
    assert_eq!((raw[0].outcome.as_str(), raw[0].attempts), ("processed", 2));
}

/// text.json with another wamid and time (same customer).
fn text_at(wamid: &str, secs: i64) -> Vec<u8> {
    String::from_utf8(fixture("text.json"))
        .unwrap()
        .replace(TEXT_WAMID, wamid)
        .replace(&format!("\"{TEXT_AT}\""), &format!("\"{secs}\""))
        .into_bytes()
}

/// The page (block) each raw event's current row version is on.
async fn log_pages(pool: &PgPool) -> Vec<(i64, i32)> {
    sqlx::query_as("SELECT id, (ctid::text::point)[0]::int FROM webhook_events ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn marking_a_batch_of_events_keeps_every_row_on_its_page(pool: PgPool) {
    business_a(&pool).await;
    // Acknowledged together and processed as one batch, as the daemon does under load: every page of the
    // log must hold its rows both as inserted and as marked, or the marks spill to other pages with new
    // index entries (migration 0012).
    let bodies: Vec<Vec<u8>> = (0..24).map(|i| text_at(&format!("wamid.PAGE_{i}"), TEXT_AT + i)).collect();
    let ids = ingest::store_raw_many(&pool, &bodies.iter().map(Vec::as_slice).collect::<Vec<_>>()).await.unwrap();
    let inserted = log_pages(&pool).await;
    assert!(inserted.iter().any(|&(_, page)| page > 0), "the batch should span several pages: {inserted:?}");
    let done = ingest::process_events(&pool, &IngestConfig::default(), &ids).await.unwrap();
    assert!(done.iter().all(|e| e.outcome == Outcome::Processed), "{done:?}");
    assert_eq!(log_pages(&pool).await, inserted, "a marked row left its page");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn an_older_message_arriving_late_is_billed_in_the_window_it_falls_in(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let b = a.business();
    deliver(&pool, &fixture("text.json")).await;
    // An hour older than the message that opened the window, processed after it: same conversation.
    let late = deliver(&pool, &text_at("wamid.LATE_1H", TEXT_AT - 3600)).await;
    assert_eq!(late.summary.messages_stored, 1);
    assert_eq!(usage(&pool, b).await, 1);
    // More than 24 hours older: a conversation of its own.
    deliver(&pool, &text_at("wamid.LATE_25H", TEXT_AT - 25 * 3600)).await;
    assert_eq!(usage(&pool, b).await, 2);
    // Between the two, within 24 hours of both: covered, nothing new.
    deliver(&pool, &text_at("wamid.LATE_12H", TEXT_AT - 12 * 3600)).await;
    assert_eq!(usage(&pool, b).await, 2);
}

/// status_delivered.json for `wamid`, echoing `callback` as biz_opaque_callback_data.
fn status_with_callback(wamid: &str, callback: &str) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(&fixture("status_delivered.json")).unwrap();
    let status = &mut body["entry"][0]["changes"][0]["value"]["statuses"][0];
    status["id"] = wamid.into();
    status["biz_opaque_callback_data"] = callback.into();
    serde_json::to_vec(&body).unwrap()
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_status_that_overtakes_the_recorded_wamid_finds_the_send_by_client_ref(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let b = a.business();
    // A send reserved and handed to Meta, whose answer (the wamid) is not recorded yet.
    let id = outbound(&pool, b, "wamid.PLACEHOLDER", None).await;
    let client_ref: String = sqlx::query_scalar(
        "UPDATE messages SET wamid = NULL, status = 'pending', client_ref = gen_random_uuid()
         WHERE business_id = $1 AND id = $2 RETURNING client_ref::text",
    )
    .bind(b.0)
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    // Callback data that is not one of our references is ignored: the status stays unknown.
    let foreign = deliver(&pool, &status_with_callback("wamid.EARLY", "campaign-42")).await;
    assert_eq!(foreign.summary.unknown_statuses, vec!["wamid.EARLY".to_string()]);

    let done = deliver(&pool, &status_with_callback("wamid.EARLY", &client_ref)).await;
    assert_eq!((done.summary.statuses_applied, done.summary.unknown_statuses.len()), (1, 0));
    let row: (Option<String>, String, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT wamid, status::text, delivered_at FROM messages WHERE business_id = $1 AND id = $2")
            .bind(b.0)
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(row, (Some("wamid.EARLY".to_string()), "delivered".to_string(), Some(at(1749416510))));
    // From now on the wamid finds it, and statuses still only move forward.
    let sent_body = String::from_utf8(fixture("status_sent.json")).unwrap().replace("wamid.OUTBOUND_1", "wamid.EARLY");
    let sent = deliver(&pool, sent_body.as_bytes()).await;
    assert_eq!((sent.summary.statuses_applied, sent.summary.statuses_unchanged), (0, 1));
    // Another business's reference never matches: B cannot move A's message.
    let (b_scope, _) = business_b(&pool).await;
    let other = String::from_utf8(status_with_callback("wamid.OTHER", &client_ref))
        .unwrap()
        .replace(A_PHONE_NUMBER_ID, B_PHONE_NUMBER_ID);
    let done = deliver(&pool, other.as_bytes()).await;
    assert_eq!(done.business_id, Some(b_scope.business()));
    assert_eq!(done.summary.unknown_statuses, vec!["wamid.OTHER".to_string()]);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_failing_item_is_rolled_back_alone_and_its_batch_goes_on(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let b = a.business();
    // This one message fails in the database, for a reason no retry changes.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.content = 'poison here' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW; END $$;
         CREATE TRIGGER refuse_poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse_poison();",
    )
    .execute(&pool)
    .await
    .unwrap();
    let poison = String::from_utf8(text_at("wamid.POISON", TEXT_AT + 1))
        .unwrap()
        .replace("Does it come in another color?", "poison here");
    ingest::store_raw(&pool, &text_at("wamid.BEFORE", TEXT_AT)).await.unwrap();
    let bad = ingest::store_raw(&pool, poison.as_bytes()).await.unwrap();
    ingest::store_raw(&pool, &text_at("wamid.AFTER", TEXT_AT + 2)).await.unwrap();
    let done = ingest::process_pending(&pool, &IngestConfig::default(), 10).await.unwrap();
    assert_eq!(done.len(), 3);
    for event in &done {
        if event.id == bad {
            assert_eq!(event.outcome, Outcome::Failed, "{event:?}");
            assert!(event.error.as_deref().unwrap_or_default().contains("wamid.POISON"), "{:?}", event.error);
        } else {
            assert_eq!((event.outcome, event.summary.messages_stored), (Outcome::Processed, 1));
        }
    }
    assert_eq!(messages(&pool, b).await, 2);
    assert_eq!(events_of(&pool, b, "message_received").await, 2);
    assert_eq!(contacts(&pool, b).await[0].unread_count, 2);
    let raw = ingest::recent_events(&pool, 3).await.unwrap();
    assert_eq!(raw.iter().filter(|e| e.outcome == "failed").count(), 1);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_nul_character_in_a_text_is_stored_as_a_replacement_character(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let body =
        String::from_utf8(fixture("text.json")).unwrap().replace("Does it come in another color?", "nul \\u0000 here");
    let done = deliver(&pool, body.as_bytes()).await;
    assert_eq!((done.outcome, done.summary.messages_stored), (Outcome::Processed, 1), "{:?}", done.error);
    let content: String = sqlx::query_scalar("SELECT content FROM messages WHERE business_id = $1")
        .bind(a.business().0)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(content, "nul \u{fffd} here");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn one_batch_bills_a_contact_s_messages_in_time_order_and_stores_a_repeat_once(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let b = a.business();
    // Processed together (one sweep, one batch), delivered out of order: 0 h opens a window, 20 h is in
    // it, 40 h is 40 h after the window opened and opens another; the repeated delivery is nothing.
    for (wamid, hours) in [("wamid.H40", 40), ("wamid.H0", 0), ("wamid.H20", 20), ("wamid.H0", 0)] {
        ingest::store_raw(&pool, &text_at(wamid, TEXT_AT + hours * 3600)).await.unwrap();
    }
    let done = ingest::process_pending(&pool, &IngestConfig::default(), 10).await.unwrap();
    let stored: u32 = done.iter().map(|e| e.summary.messages_stored).sum();
    let duplicates: u32 = done.iter().map(|e| e.summary.duplicates).sum();
    assert_eq!((stored, duplicates), (3, 1));
    assert_eq!(usage(&pool, b).await, 2);
    let opened: Vec<DateTime<Utc>> =
        sqlx::query_scalar("SELECT timestamp FROM usage_logs WHERE business_id = $1 ORDER BY timestamp")
            .bind(b.0)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(opened, vec![at(TEXT_AT), at(TEXT_AT + 40 * 3600)]);
    assert_eq!(events_of(&pool, b, "message_received").await, 3);
    let sheena = &contacts(&pool, b).await[0];
    assert_eq!(sheena.unread_count, 3);
    assert_eq!(sheena.last_inbound_at, Some(at(TEXT_AT + 40 * 3600)));
    let newest: i32 = sqlx::query_scalar("SELECT id FROM messages WHERE business_id = $1 AND wamid = 'wamid.H40'")
        .bind(b.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(sheena.last_message_id, Some(newest));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn what_each_message_of_a_batch_adds_to_a_known_contact_is_kept(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let b = a.business();
    deliver(&pool, &fixture("text.json")).await;
    // Processed together: one message brings the username, the next the business-scoped user id.
    let mut with_username: Value = serde_json::from_slice(&text_at("wamid.WITH_USERNAME", TEXT_AT + 60)).unwrap();
    with_username["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["username"] = "@sheena".into();
    let mut with_bsuid: Value = serde_json::from_slice(&text_at("wamid.WITH_BSUID", TEXT_AT + 120)).unwrap();
    let value = &mut with_bsuid["entry"][0]["changes"][0]["value"];
    value["contacts"][0]["user_id"] = "US.4242".into();
    value["messages"][0]["from_user_id"] = "US.4242".into();
    for body in [with_username, with_bsuid] {
        ingest::store_raw(&pool, &serde_json::to_vec(&body).unwrap()).await.unwrap();
    }
    let done = ingest::process_pending(&pool, &IngestConfig::default(), 10).await.unwrap();
    assert_eq!(done.iter().map(|e| e.summary.messages_stored).sum::<u32>(), 2);
    let people = contacts(&pool, b).await;
    assert_eq!(people.len(), 1);
    assert_eq!(people[0].username.as_deref(), Some("@sheena"));
    assert_eq!(people[0].bsuid.as_deref(), Some("US.4242"));
    assert_eq!(people[0].unread_count, 3);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn an_event_an_outage_interrupts_stays_queued_and_is_processed_by_the_next_sweep(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let b = a.business();
    // A serialization failure is what a concurrent change (or a failover) gives: transient, retried.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_message() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'try again' USING ERRCODE = 'serialization_failure'; END $$;
         CREATE TRIGGER refuse_message BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse_message();",
    )
    .execute(&pool)
    .await
    .unwrap();
    let id = ingest::store_raw(&pool, &fixture("text.json")).await.unwrap();
    let config = IngestConfig::default();
    let interrupted = ingest::process_pending(&pool, &config, 10).await.unwrap();
    assert_eq!(interrupted.iter().map(|e| (e.id, e.outcome)).collect::<Vec<_>>(), [(id, Outcome::Pending)]);
    assert_eq!(ingest::pending_count(&pool).await.unwrap(), 1, "the event is queued again");
    assert_eq!(messages(&pool, b).await, 0);

    sqlx::raw_sql("DROP TRIGGER refuse_message ON messages").execute(&pool).await.unwrap();
    let done = ingest::process_pending(&pool, &config, 10).await.unwrap();
    assert_eq!(done.iter().map(|e| (e.id, e.outcome)).collect::<Vec<_>>(), [(id, Outcome::Processed)]);
    assert_eq!(ingest::pending_count(&pool).await.unwrap(), 0);
    assert_eq!(messages(&pool, b).await, 1);
    let raw = ingest::recent_events(&pool, 1).await.unwrap();
    assert_eq!((raw[0].outcome.as_str(), raw[0].attempts), ("processed", 2));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_backlog_arriving_after_the_queue_was_analysed_empty_is_swept_a_batch_at_a_time(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let config = IngestConfig::default();
    let texts = |from: i64| -> Vec<Vec<u8>> {
        (from..from + 300).map(|i| text_at(&format!("wamid.Q{i}"), TEXT_AT + i)).collect()
    };
    // The queue's usual state: emptied by processing, its statistics taken then (pages, no live rows).
    let early = texts(0);
    ingest::store_raw_many(&pool, &early.iter().map(Vec::as_slice).collect::<Vec<_>>()).await.unwrap();
    assert_eq!(ingest::process_pending(&pool, &config, 1000).await.unwrap().len(), 300);
    sqlx::query("ANALYZE webhook_pending").execute(&pool).await.unwrap();
    // Then a backlog: an outage, a crash, a burst above the processing rate.
    let backlog = texts(300);
    ingest::store_raw_many(&pool, &backlog.iter().map(Vec::as_slice).collect::<Vec<_>>()).await.unwrap();

    let done = ingest::process_pending(&pool, &config, 40).await.unwrap();
    assert_eq!(done.len(), 40, "a sweep takes what it asked for, not the whole backlog");
    assert_eq!(ingest::pending_count(&pool).await.unwrap(), 260);
    assert_eq!(messages(&pool, a.business()).await, 340);
}

/// What a mutation puts in place of a value: every JSON type, and the edge cases of each.
fn odd_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(-1),
        json!(0),
        json!(1.5e308),
        json!(u64::MAX),
        json!(""),
        json!("9999999999999999999999"),
        json!("99999999999999"),
        json!("-1"),
        json!("x".repeat(5000)),
        json!("💥\u{0000}\u{202e}"),
        json!([]),
        json!({}),
        json!([{}]),
    ]
}

/// The JSON pointers of every value in `value`, the root excluded.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(map) => {
            map.iter().map(|(k, v)| (format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), v)).collect()
        }
        Value::Array(items) => items.iter().enumerate().map(|(i, v)| (format!("{at}/{i}"), v)).collect(),
        _ => Vec::new(),
    };
    for (pointer, child) in children {
        out.push(pointer.clone());
        pointers(child, pointer, out);
    }
}

/// One structural change at the `at`-th value (modulo their number): removed, or replaced by the
/// `with`-th odd value.
fn mutate(body: &mut Value, at: usize, with: usize) {
    let mut all = Vec::new();
    pointers(body, String::new(), &mut all);
    let Some(pointer) = all.get(at % all.len().max(1)).cloned() else { return };
    let odd = odd_values();
    if with == odd.len() {
        let (parent, key) = pointer.rsplit_once('/').unwrap_or_default();
        match body.pointer_mut(parent) {
            Some(Value::Object(map)) => {
                map.remove(&key.replace("~1", "/").replace("~0", "~"));
            }
            Some(Value::Array(items)) => {
                if let Ok(i) = key.parse::<usize>() {
                    items.remove(i);
                }
            }
            _ => {}
        }
    } else if let Some(slot) = body.pointer_mut(&pointer) {
        *slot = odd[with % odd.len()].clone();
    }
}

/// Bad input from the wire must end as a clear outcome, never a panic, an error that looks like an
/// outage (retried for ever), or an event left pending: every fixture, mutated at random places
/// (fields removed, values of the wrong type or out of range), through the real processing.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn mutated_webhooks_settle_with_an_outcome_and_a_reason(pool: PgPool) {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;

    business_a(&pool).await;
    let mut names: Vec<String> = std::fs::read_dir(format!("{}/tests/fixtures/webhooks", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort(); // the same cases on every machine
    // Bodies with values a serde_json Value cannot hold (odd_unknown_values.json) have their own test.
    names.retain(|n| serde_json::from_slice::<Value>(&fixture(n)).is_ok());
    let fixtures: Vec<Value> = names.iter().map(|n| serde_json::from_slice(&fixture(n)).unwrap()).collect();
    let mutations = (0..fixtures.len(), proptest::collection::vec((0..10_000usize, 0..=odd_values().len()), 1..4));
    let mut runner = TestRunner::deterministic();
    let config = IngestConfig::default();
    for case in 0..1000 {
        let (which, changes) = mutations.new_tree(&mut runner).unwrap().current();
        let mut body = fixtures[which].clone();
        for (at, with) in changes {
            mutate(&mut body, at, with);
        }
        let bytes = serde_json::to_vec(&body).unwrap();
        let id = ingest::store_raw(&pool, &bytes).await.unwrap();
        let done = ingest::process_event(&pool, &config, id).await;
        let what = format!("case {case} ({}): {}", names[which], String::from_utf8_lossy(&bytes));
        let done = done.unwrap_or_else(|e| panic!("processing failed ({e}) on {what}")).expect("the event was pending");
        assert_ne!(done.outcome, Outcome::Pending, "left for a retry: {:?} on {what}", done.error);
        if done.outcome == Outcome::Failed {
            assert!(done.error.as_deref().is_some_and(|e| !e.is_empty()), "failed without a reason: {what}");
        }
    }
    assert_eq!(ingest::pending_count(&pool).await.unwrap(), 0);
}

/// A lone surrogate and `1e400` in fields we do not read (under the change's value, and in the
/// message): read as if they were not there, not a failed body. A body that is not JSON still fails.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn values_no_rust_type_holds_in_unknown_fields_are_ignored(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let b = a.business();
    let body = fixture("odd_unknown_values.json");
    assert!(serde_json::from_slice::<Value>(&body).is_err(), "the fixture holds what serde_json's Value refuses");
    let envelope = wacrm_core::whatsapp::webhook::parse(&body).unwrap();
    assert_eq!(envelope.entry[0].changes[0].field, "messages");

    let done = deliver(&pool, &body).await;
    assert_eq!((done.outcome, done.summary.messages_stored), (Outcome::Processed, 1), "{:?}", done.error);
    assert!(done.summary.invalid.is_empty(), "{:?}", done.summary.invalid);
    let m = message(&pool, b, "wamid.ODD_UNKNOWN_VALUES").await;
    assert_eq!(m.content, "Does it come in another color? \u{1f600}");
    // The stored payload is what jsonb can hold; the raw log keeps the bytes as received.
    let payload = m.payload.unwrap();
    assert_eq!(
        (payload["future_detail"]["score"].as_str(), payload["future_detail"]["label"].as_str()),
        (Some("1e400"), Some("\u{fffd}"))
    );
    let kept: Vec<u8> = sqlx::query_scalar("SELECT body FROM webhook_events").fetch_one(&pool).await.unwrap();
    assert_eq!(kept, body);

    let not_json = deliver(&pool, b"{\"object\": \"whatsapp_business_account\", \"entry\": [").await;
    assert_eq!(not_json.outcome, Outcome::Failed);
    assert!(not_json.error.as_deref().unwrap_or_default().contains("not a WhatsApp webhook"), "{:?}", not_json.error);
}

/// 2100-01-01T00:00:00Z.
const YEAR_2100: i64 = 4_102_444_800;

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_far_future_message_neither_pins_the_window_open_nor_jumps_the_conversation_ahead(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let b = a.business();
    let done = deliver(&pool, &text_at("wamid.FROM_2100", YEAR_2100)).await;
    assert_eq!((done.outcome, done.summary.messages_stored), (Outcome::Processed, 1), "{:?}", done.error);
    let noted = done.summary.future_timestamps.join("; ");
    assert!(noted.contains("wamid.FROM_2100") && noted.contains("2100-01-01T00:00:00Z"), "{noted}");
    let received = done.received_at;

    let m = message(&pool, b, "wamid.FROM_2100").await;
    assert_eq!(m.sent_at, Some(received), "the receipt time stands in for the claimed one");
    assert_eq!(m.payload.unwrap()["timestamp"], YEAR_2100.to_string(), "the original is kept");
    let c = &contacts(&pool, b).await[0];
    assert_eq!((c.last_inbound_at, c.last_active), (Some(received), Some(received)));
    let conversation = conversations::get(&pool, &a, ContactId(c.id)).await.unwrap();
    assert_eq!(conversation.last_message_at, received);
    assert_eq!(conversation.window_open_until, Some(received + TimeDelta::hours(24)));
    assert!(conversation.window_seconds_left <= 24 * 3600);
    let opened: Vec<DateTime<Utc>> = sqlx::query_scalar("SELECT timestamp FROM usage_logs WHERE business_id = $1")
        .bind(b.0)
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(opened, vec![received], "billed when it arrived, not in 2100");
    let event: Value =
        sqlx::query_scalar("SELECT payload FROM events WHERE business_id = $1 AND kind = 'message_received'")
            .bind(b.0)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(event["sent_at"], json!(received));

    // A minute ahead is clock skew, not a wrong time: kept as it is.
    let soon = (Utc::now() + TimeDelta::seconds(60)).timestamp();
    let skewed = deliver(&pool, &text_at("wamid.SKEWED", soon)).await;
    assert!(skewed.summary.future_timestamps.is_empty(), "{:?}", skewed.summary.future_timestamps);
    assert_eq!(message(&pool, b, "wamid.SKEWED").await.sent_at, Some(at(soon)));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_far_future_status_is_applied_at_its_receipt(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let b = a.business();
    outbound(&pool, b, "wamid.OUTBOUND_1", None).await;
    let body = String::from_utf8(fixture("status_delivered.json"))
        .unwrap()
        .replace("\"1749416510\"", &format!("\"{YEAR_2100}\""));
    let done = deliver(&pool, body.as_bytes()).await;
    assert_eq!((done.outcome, done.summary.statuses_applied), (Outcome::Processed, 1), "{:?}", done.error);
    assert_eq!(done.summary.future_timestamps.len(), 1, "{:?}", done.summary);
    let delivered_at: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT delivered_at FROM messages WHERE business_id = $1 AND wamid = 'wamid.OUTBOUND_1'")
            .bind(b.0)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(delivered_at, Some(done.received_at));
}

/// text.json with its one message changed by `change`, and `extra` more messages after it.
fn text_with(change: impl Fn(&mut Value), extra: Vec<Value>) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(&fixture("text.json")).unwrap();
    let messages = &mut body["entry"][0]["changes"][0]["value"]["messages"];
    change(&mut messages[0]);
    messages.as_array_mut().unwrap().extend(extra);
    serde_json::to_vec(&body).unwrap()
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn an_event_whose_items_are_all_invalid_fails_and_one_good_item_keeps_it_processed(pool: PgPool) {
    let (a, _) = business_a(&pool).await;
    let b = a.business();
    let no_id = |m: &mut Value| {
        m.as_object_mut().unwrap().remove("id");
    };
    let only_invalid = deliver(&pool, &text_with(no_id, vec![])).await;
    assert_eq!(only_invalid.outcome, Outcome::Failed, "{only_invalid:?}");
    assert_eq!(only_invalid.summary.invalid.len(), 1);
    assert!(only_invalid.error.as_deref().unwrap_or_default().contains("missing field `id`"), "{only_invalid:?}");
    let raw = ingest::recent_events(&pool, 1).await.unwrap();
    assert_eq!((raw[0].outcome.as_str(), raw[0].business_id), ("failed", Some(b)));

    // A sender without any identity is invalid too, and a status without a wamid.
    let no_sender = |m: &mut Value| {
        m.as_object_mut().unwrap().remove("from");
    };
    let mut anonymous: Value = serde_json::from_slice(&text_with(no_sender, vec![])).unwrap();
    anonymous["entry"][0]["changes"][0]["value"]["contacts"] = json!([]);
    let anonymous = deliver(&pool, &serde_json::to_vec(&anonymous).unwrap()).await;
    assert_eq!(anonymous.outcome, Outcome::Failed, "{anonymous:?}");
    assert!(anonymous.error.as_deref().unwrap_or_default().contains("neither a usable wa_id"), "{anonymous:?}");
    let status =
        String::from_utf8(fixture("status_delivered.json")).unwrap().replace("\"id\": \"wamid.OUTBOUND_1\",", "");
    let status = deliver(&pool, status.as_bytes()).await;
    assert_eq!(status.outcome, Outcome::Failed, "{status:?}");
    assert_eq!(messages(&pool, b).await, 0);

    // One good message beside the invalid one: processed, the invalid one listed.
    let broken = json!({"from": "16505551234", "timestamp": "1749416384", "type": "text"});
    let mixed = deliver(&pool, &text_with(|_| {}, vec![broken])).await;
    assert_eq!((mixed.outcome, mixed.summary.messages_stored), (Outcome::Processed, 1), "{mixed:?}");
    assert_eq!(mixed.summary.invalid.len(), 1, "{:?}", mixed.summary.invalid);
    assert_eq!(mixed.error, None);
    // A repeat of the good one (a duplicate) is handled too: still processed.
    let repeat = deliver(&pool, &text_with(|_| {}, vec![json!({"type": "text"})])).await;
    assert_eq!((repeat.outcome, repeat.summary.duplicates), (Outcome::Processed, 1), "{repeat:?}");
}
