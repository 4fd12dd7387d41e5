//! The inbox's outbound and read half: conversation list, history, sending through the fake Graph API,
//! the billing gate under concurrency, conversation state and tenant isolation.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::PgPool;
use wacrm_core::auth::Role;
use wacrm_core::events;
use wacrm_core::inbox::conversations::{self, Assignee, Cursor, Filter, Resolution};
use wacrm_core::inbox::send::{self, Compose, Outgoing, Sender, TemplateCategory};
use wacrm_core::whatsapp::client::{GraphClient, RetryPolicy};
use wacrm_core::whatsapp::fake::{Failure, FakeGraph, StatusWebhooks};
use wacrm_core::{ContactId, Error, MessageId, MessageStatus, Scope, Stage, UserId, auth, business};

use crate::wording::ShellHint;

const TOKEN: &str = "test-access-token";

/// Quick retries, so the retry tests take milliseconds.
fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
    }
}

/// A sender whose default base URL goes nowhere: every call must use the account's own base URL.
fn sender(max_attempts: u32) -> Sender {
    Sender {
        client: GraphClient::new("http://127.0.0.1:9", "v23.0", fast_retry(max_attempts)),
        conversation_price: Decimal::new(5, 2),
    }
}

/// A business with one WhatsApp number pointed at the fake.
pub(crate) async fn tenant(pool: &PgPool, name: &str, phone_number_id: &str, fake: &FakeGraph) -> Scope {
    let email = format!("{}@example.com", name.to_lowercase().replace(' ', "-"));
    let (b, _) = business::create(pool, name, &email, "US").await.unwrap();
    let scope = Scope::for_business(pool, b.id).await.unwrap();
    business::add_account(
        pool,
        &scope,
        &business::NewAccount {
            phone: format!("+1202555{}", &phone_number_id[phone_number_id.len() - 4..]),
            phone_number_id: phone_number_id.into(),
            waba_id: Some(format!("9{phone_number_id}")),
            token: TOKEN.into(),
            api_base_url: Some(fake.base_url().to_string()),
            api_version: Some("v25.0".into()),
        },
    )
    .await
    .unwrap();
    scope
}

async fn contact(pool: &PgPool, scope: &Scope, phone: &str, name: &str) -> ContactId {
    let id = sqlx::query_scalar!(
        "INSERT INTO contacts (business_id, phone, wa_id, name) VALUES ($1, $2, $3, $4) RETURNING id",
        scope.business().0,
        phone,
        phone.trim_start_matches('+'),
        name
    )
    .fetch_one(pool)
    .await
    .unwrap();
    ContactId(id)
}

/// A customer message at `at`, with the inbox state ingest keeps on the contact.
async fn inbound(pool: &PgPool, scope: &Scope, contact: ContactId, text: &str, at: DateTime<Utc>) -> MessageId {
    let b = scope.business().0;
    let id = sqlx::query_scalar!(
        r#"INSERT INTO messages (business_id, contact_id, direction, content, status, sent_at, wamid, kind)
           VALUES ($1, $2, 'in', $3, 'delivered', $4, 'wamid.in.' || gen_random_uuid(), 'text') RETURNING id"#,
        b,
        contact.0,
        text,
        at
    )
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query!(
        r#"UPDATE contacts
           SET last_message_id = CASE WHEN last_message_at IS NULL OR last_message_at <= $3 THEN $4 ELSE last_message_id END,
               last_message_at = GREATEST(last_message_at, $3), last_inbound_at = GREATEST(last_inbound_at, $3),
               unread_count = unread_count + 1
           WHERE business_id = $1 AND id = $2"#,
        b,
        contact.0,
        at,
        id
    )
    .execute(pool)
    .await
    .unwrap();
    MessageId(id)
}

fn hours_ago(h: f64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::milliseconds((h * 3_600_000.0) as i64)
}

fn text(contact: ContactId, body: &str) -> Outgoing {
    Outgoing { contact, compose: Compose::Text { body: body.into(), reply_to: None }, account: None }
}

fn template(contact: ContactId, category: TemplateCategory) -> Outgoing {
    Outgoing {
        contact,
        compose: Compose::Template {
            name: "order_update".into(),
            language: "en_US".into(),
            params: vec!["Ana".into(), "4411".into()],
            category,
        },
        account: None,
    }
}

async fn message_row(pool: &PgPool, scope: &Scope, contact: ContactId) -> Vec<conversations::ChatMessage> {
    conversations::history(pool, scope, contact, None, 500).await.unwrap().items
}

fn ids(page: &conversations::Page<conversations::Conversation>) -> Vec<i32> {
    page.items.iter().map(|c| c.contact_id.0).collect()
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn conversation_list_pages_newest_first(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Pages", "1000000001", &fake).await;
    let mut expected = Vec::new();
    for i in 0..7 {
        let c = contact(&pool, &scope, &format!("+120255501{i:02}"), &format!("Customer {i}")).await;
        inbound(&pool, &scope, c, &format!("hello {i}"), hours_ago(10.0 - i as f64)).await;
        expected.insert(0, c.0);
    }
    // A contact without messages is not a conversation.
    contact(&pool, &scope, "+12025550199", "Silent").await;

    let mut seen = Vec::new();
    let mut after: Option<Cursor> = None;
    let mut pages = 0;
    loop {
        let page = conversations::list(&pool, &scope, &Filter::default(), after, 3).await.unwrap();
        seen.extend(ids(&page));
        pages += 1;
        match page.next {
            // Cursors survive the round trip through text, as scripts pass them back.
            Some(next) => after = Some(next.to_string().parse().unwrap()),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);

    let first = &conversations::list(&pool, &scope, &Filter::default(), None, 1).await.unwrap().items[0];
    assert_eq!(first.name, "Customer 6");
    assert_eq!(first.preview, "hello 6");
    assert_eq!(first.unread_count, 1);
    assert_eq!(first.last_direction, Some(wacrm_core::Direction::In));
    // Its customer wrote 4 hours ago: 20 hours of the window are left.
    assert!((19 * 3600..=20 * 3600).contains(&first.window_seconds_left), "{}", first.window_seconds_left);
    assert!(conversations::list(&pool, &scope, &Filter::default(), None, 0).await.is_err());
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn conversation_list_filters_and_search(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Filters", "1000000002", &fake).await;
    let b = scope.business().0;
    let ana = auth::add_user(&pool, &scope, "Ana Agent", "ana@filters.test", "password-1", Role::Agent).await.unwrap();
    let ana_scope = Scope::for_user(&pool, scope.business(), ana.id).await.unwrap();

    let closing = contact(&pool, &scope, "+12025550201", "Closing Soon").await;
    inbound(&pool, &scope, closing, "need it before friday", hours_ago(23.0)).await;
    let fresh = contact(&pool, &scope, "+12025550202", "Fresh Lead").await;
    inbound(&pool, &scope, fresh, "do you ship espresso beans?", hours_ago(1.0)).await;
    let old = contact(&pool, &scope, "+12025550203", "Old Friend").await;
    inbound(&pool, &scope, old, "thanks!", hours_ago(48.0)).await;

    sqlx::query!("UPDATE contacts SET stage = 'Paid' WHERE business_id = $1 AND id = $2", b, old.0)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query!("INSERT INTO contact_tags (business_id, contact_id, tag) VALUES ($1, $2, 'VIP')", b, fresh.0)
        .execute(&pool)
        .await
        .unwrap();
    conversations::mark_read(&pool, &scope, old, None).await.unwrap();
    conversations::assign(&pool, &scope, fresh, ana.id).await.unwrap();
    conversations::resolve(&pool, &scope, closing).await.unwrap();

    let list = |filter: Filter| {
        let pool = pool.clone();
        let scope = scope.clone();
        async move { ids(&conversations::list(&pool, &scope, &filter, None, 50).await.unwrap()) }
    };
    assert_eq!(list(Filter { unread_only: true, ..Filter::default() }).await, vec![fresh.0, closing.0]);
    assert_eq!(list(Filter { stage: Some(Stage::Paid), ..Filter::default() }).await, vec![old.0]);
    assert_eq!(list(Filter { tag: Some("vip".into()), ..Filter::default() }).await, vec![fresh.0]);
    assert_eq!(list(Filter { assignee: Assignee::User(ana.id), ..Filter::default() }).await, vec![fresh.0]);
    assert_eq!(list(Filter { assignee: Assignee::Unassigned, ..Filter::default() }).await, vec![closing.0, old.0]);
    assert_eq!(list(Filter { resolution: Some(Resolution::Resolved), ..Filter::default() }).await, vec![closing.0]);
    assert_eq!(list(Filter { resolution: Some(Resolution::Open), ..Filter::default() }).await, vec![fresh.0, old.0]);
    assert_eq!(list(Filter { closing_within_hours: Some(2.0), ..Filter::default() }).await, vec![closing.0]);
    assert_eq!(list(Filter { search: Some("ESPRESSO".into()), ..Filter::default() }).await, vec![fresh.0]);
    assert_eq!(list(Filter { search: Some("old fri".into()), ..Filter::default() }).await, vec![old.0]);
    assert_eq!(list(Filter { search: Some("5550201".into()), ..Filter::default() }).await, vec![closing.0]);
    assert!(list(Filter { search: Some("100%".into()), ..Filter::default() }).await.is_empty());

    // "Mine" is the acting agent's view; a business-wide scope has no "me".
    let mine =
        conversations::list(&pool, &ana_scope, &Filter { assignee: Assignee::Me, ..Filter::default() }, None, 50)
            .await
            .unwrap();
    assert_eq!(ids(&mine), vec![fresh.0]);
    let err = conversations::list(&pool, &scope, &Filter { assignee: Assignee::Me, ..Filter::default() }, None, 50)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    let err =
        conversations::list(&pool, &scope, &Filter { closing_within_hours: Some(30.0), ..Filter::default() }, None, 5)
            .await
            .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn message_search_uses_the_trigram_index(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Search", "1000000014", &fake).await;
    let c = contact(&pool, &scope, "+12025551401", "Many Messages").await;
    // Enough messages of one tenant that business_id alone selects everything and only the trigram
    // index can narrow a substring search.
    sqlx::query!(
        r#"INSERT INTO messages (business_id, contact_id, direction, content, status, sent_at)
           SELECT $1, $2, 'in', 'order number ' || g || CASE WHEN g % 1000 = 0 THEN ' espresso' ELSE '' END,
                  'read', NOW() - make_interval(secs => g)
           FROM generate_series(1, 20000) g"#,
        scope.business().0,
        c.0
    )
    .execute(&pool)
    .await
    .unwrap();
    // What autovacuum would do after a bulk load: move the rows out of the GIN pending list (which the
    // planner rightly counts as slow to search) and gather statistics. VACUUM and EXPLAIN have no
    // checked-macro form, hence the plain statements.
    sqlx::raw_sql("VACUUM ANALYZE messages").execute(&pool).await.unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT s.contact_id FROM messages s WHERE s.business_id = $1 AND s.content ILIKE $2",
    )
    .bind(scope.business().0)
    .bind("%espresso%")
    .fetch_all(&pool)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("idx_messages_content_trgm"), "{plan}");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn history_pages_backwards_in_chronological_order(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "History", "1000000003", &fake).await;
    let c = contact(&pool, &scope, "+12025550301", "Chatty").await;
    let mut all = Vec::new();
    for i in 0..5 {
        all.push(inbound(&pool, &scope, c, &format!("message {i}"), hours_ago(5.0 - i as f64)).await);
    }
    let latest = conversations::history(&pool, &scope, c, None, 2).await.unwrap();
    assert_eq!(latest.items.iter().map(|m| m.id).collect::<Vec<_>>(), all[3..].to_vec());
    let older = conversations::history(&pool, &scope, c, latest.next, 2).await.unwrap();
    assert_eq!(older.items.iter().map(|m| m.id).collect::<Vec<_>>(), all[1..3].to_vec());
    let oldest = conversations::history(&pool, &scope, c, older.next, 2).await.unwrap();
    assert_eq!(oldest.items.iter().map(|m| m.id).collect::<Vec<_>>(), all[..1].to_vec());
    assert!(oldest.next.is_none());
    assert_eq!(oldest.items[0].content, "message 0");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn text_inside_the_window_is_sent_and_recorded(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Sends", "1000000004", &fake).await;
    let c = contact(&pool, &scope, "+12025550401", "Buyer").await;
    let asked = inbound(&pool, &scope, c, "is it in stock?", hours_ago(2.0)).await;
    let last_event = events::list_since(&pool, &scope, 0, 1000).await.unwrap().last().map_or(0, |e| e.id);

    let sent = send::send(&pool, &scope, &sender(3), &text(c, "Yes, ships today")).await.unwrap();
    assert_eq!(sent.status, MessageStatus::Sent);
    assert_eq!(sent.attempts, 1);

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.path, "/v25.0/1000000004/messages");
    assert_eq!(request.authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(request.body["to"], "12025550401");
    assert_eq!(request.body["type"], "text");
    assert_eq!(request.body["text"]["body"], "Yes, ships today");
    assert_eq!(request.body["biz_opaque_callback_data"], sent.client_ref.to_string());

    let messages = message_row(&pool, &scope, c).await;
    let out = messages.last().unwrap();
    assert_eq!(out.id, sent.id);
    assert_eq!(out.status, Some(MessageStatus::Sent));
    assert_eq!(out.wamid.as_deref(), Some(sent.wamid.as_str()));
    let row = conversations::get(&pool, &scope, c).await.unwrap();
    assert_eq!(row.last_message_id, Some(sent.id));
    assert_eq!(row.preview, "Yes, ships today");

    let new_events = events::list_since(&pool, &scope, last_event, 100).await.unwrap();
    assert!(new_events.iter().any(|e| e.kind == "message_sent" && e.payload["message_id"] == json!(sent.id)));

    // A reply quotes the customer's message by its wamid.
    let quoted = messages.iter().find(|m| m.id == asked).unwrap().wamid.clone().unwrap();
    let reply =
        Outgoing { contact: c, compose: Compose::Text { body: "👍".into(), reply_to: Some(asked) }, account: None };
    send::send(&pool, &scope, &sender(3), &reply).await.unwrap();
    assert_eq!(fake.requests()[1].body["context"]["message_id"], quoted);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_text_postgresql_cannot_store_is_bad_input_and_is_not_sent(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Sends", "1000000004", &fake).await;
    let c = contact(&pool, &scope, "+12025550401", "Buyer").await;
    inbound(&pool, &scope, c, "is it in stock?", hours_ago(2.0)).await;

    let refused = send::send(&pool, &scope, &sender(3), &text(c, "pasted\0text")).await.unwrap_err();
    assert!(matches!(refused, Error::Invalid { .. }), "{refused:?}");
    assert!(refused.to_string().contains("NUL"), "{refused}");
    assert!(fake.requests().is_empty(), "nothing reached the Graph API");
    assert_eq!(message_row(&pool, &scope, c).await.len(), 1, "only the customer's message");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn outside_the_window_only_templates_go_out(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Window", "1000000005", &fake).await;
    let c = contact(&pool, &scope, "+12025550501", "Quiet").await;
    inbound(&pool, &scope, c, "bye", hours_ago(25.0)).await;

    let err = send::send(&pool, &scope, &sender(3), &text(c, "still there?")).await.unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("24-hour"), "{err}");
    assert!(err.hint().unwrap().contains("--template"), "{:?}", err.hint());
    assert!(fake.requests().is_empty());
    assert_eq!(message_row(&pool, &scope, c).await.len(), 1, "nothing reserved for a refused send");

    let sent = send::send(&pool, &scope, &sender(3), &template(c, TemplateCategory::Utility)).await.unwrap();
    let body = &fake.requests()[0].body;
    assert_eq!(body["type"], "template");
    assert_eq!(body["template"]["name"], "order_update");
    assert_eq!(body["template"]["language"]["code"], "en_US");
    assert_eq!(body["template"]["components"][0]["parameters"][1]["text"], "4411");
    assert_eq!(sent.kind, "template");

    // Opted out: marketing templates are refused before any call, utility ones still go.
    sqlx::query!(
        "UPDATE contacts SET opted_out_at = NOW() WHERE business_id = $1 AND id = $2",
        scope.business().0,
        c.0
    )
    .execute(&pool)
    .await
    .unwrap();
    let err = send::send(&pool, &scope, &sender(3), &template(c, TemplateCategory::Marketing)).await.unwrap_err();
    assert!(err.to_string().contains("opted out"), "{err}");
    send::send(&pool, &scope, &sender(3), &template(c, TemplateCategory::Utility)).await.unwrap();
    assert_eq!(fake.requests().len(), 2);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn final_api_errors_are_recorded_and_not_retried(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Final", "1000000006", &fake).await;
    let c = contact(&pool, &scope, "+12025550601", "Gone").await;
    inbound(&pool, &scope, c, "hi", hours_ago(1.0)).await;

    for (failure, code) in [(Failure::ReEngagement, 131047), (Failure::Undeliverable, 131026)] {
        fake.fail_recipient("12025550601", failure);
        let before = fake.requests().len();
        let err = send::send(&pool, &scope, &sender(4), &text(c, "hello?")).await.unwrap_err();
        match err {
            Error::WhatsApp { code: got, retryable, .. } => {
                assert_eq!(got, code);
                assert!(!retryable);
            }
            other => panic!("expected a WhatsApp error, got {other:?}"),
        }
        assert_eq!(fake.requests().len(), before + 1, "code {code} must not be retried");
        let failed = message_row(&pool, &scope, c).await.pop().unwrap();
        assert_eq!(failed.status, Some(MessageStatus::Failed));
        assert_eq!(failed.error_code, Some(code as i32));
        assert!(failed.failed_at.is_some());
        assert!(failed.error_title.is_some());
        assert_eq!(conversations::get(&pool, &scope, c).await.unwrap().last_status, Some(MessageStatus::Failed));
    }
    // The failures opened no conversation the plan would count.
    let windows = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM usage_logs WHERE business_id = $1 AND contact_id = $2"#,
        scope.business().0,
        c.0
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(windows, 0);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn throttling_and_server_errors_are_retried(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Retry", "1000000007", &fake).await;
    let c = contact(&pool, &scope, "+12025550701", "Patient").await;
    inbound(&pool, &scope, c, "hi", hours_ago(1.0)).await;

    fake.fail_next(1, Failure::RateLimit);
    fake.fail_next(1, Failure::Throughput);
    fake.fail_next(1, Failure::ServerError);
    let sent = send::send(&pool, &scope, &sender(4), &text(c, "got it")).await.unwrap();
    assert_eq!(sent.attempts, 4);
    let answered: Vec<u16> = fake.requests().iter().map(|r| r.answered).collect();
    assert_eq!(answered, vec![429, 429, 500, 200]);

    // Attempts are bounded: the last transient error is recorded, flagged as retryable.
    fake.fail_next(10, Failure::ServerError);
    let err = send::send(&pool, &scope, &sender(3), &text(c, "again")).await.unwrap_err();
    assert!(matches!(err, Error::WhatsApp { code: 2, retryable: true, .. }), "{err:?}");
    assert_eq!(fake.requests().len(), 4 + 3);
    assert_eq!(message_row(&pool, &scope, c).await.pop().unwrap().error_code, Some(2));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn billing_gate_lets_exactly_one_new_conversation_through(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Limit", "1000000008", &fake).await;
    let b = scope.business().0;
    let limit = sqlx::query_scalar!(
        "SELECT p.conversation_limit FROM subscriptions s JOIN plans p ON p.id = s.plan_id WHERE s.business_id = $1",
        b
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    // limit − 1 conversations already used this month.
    sqlx::query!(
        "INSERT INTO usage_logs (business_id, conversation_id, cost) SELECT $1, 'used-' || g, 0.05 FROM generate_series(1, $2) g",
        b,
        limit - 1
    )
    .execute(&pool)
    .await
    .unwrap();
    let mut contacts = Vec::new();
    for i in 0..50 {
        let c = contact(&pool, &scope, &format!("+120255508{i:02}"), &format!("Lead {i}")).await;
        inbound(&pool, &scope, c, "hi", hours_ago(1.0)).await;
        contacts.push(c);
    }
    let sender = sender(3);
    let outcomes = futures::future::join_all(contacts.iter().map(|c| {
        let (pool, scope, sender) = (&pool, &scope, &sender);
        async move { send::send(pool, scope, sender, &text(*c, "welcome!")).await }
    }))
    .await;
    let accepted = outcomes.iter().filter(|o| o.is_ok()).count();
    let limited = outcomes.iter().filter(|o| matches!(o, Err(Error::LimitReached { .. }))).count();
    assert_eq!(
        (accepted, limited),
        (1, 49),
        "{:?}",
        outcomes.iter().filter(|o| o.is_err()).take(3).collect::<Vec<_>>()
    );
    let used = sqlx::query_scalar!(
        r#"SELECT COUNT(DISTINCT conversation_id) AS "n!" FROM usage_logs
           WHERE business_id = $1 AND timestamp >= date_trunc('month', NOW())"#,
        b
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(used, i64::from(limit));
    assert_eq!(fake.requests().len(), 1);

    // The contact whose conversation is open can still be answered at the limit.
    let lucky = outcomes.iter().find_map(|o| o.as_ref().ok()).unwrap().contact_id;
    send::send(&pool, &scope, &sender, &text(lucky, "one more thing")).await.unwrap();
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn expired_subscription_blocks_sends(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Expired", "1000000009", &fake).await;
    let c = contact(&pool, &scope, "+12025550901", "Waiting").await;
    inbound(&pool, &scope, c, "hi", hours_ago(1.0)).await;
    sqlx::query!("UPDATE subscriptions SET status = 'expired' WHERE business_id = $1", scope.business().0)
        .execute(&pool)
        .await
        .unwrap();
    let err = send::send(&pool, &scope, &sender(3), &text(c, "hello")).await.unwrap_err();
    assert!(matches!(err, Error::LimitReached { .. }), "{err:?}");
    assert!(fake.requests().is_empty());
    assert_eq!(message_row(&pool, &scope, c).await.len(), 1);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn read_assign_resolve_and_reopen(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "State", "1000000010", &fake).await;
    let agent = auth::add_user(&pool, &scope, "Ben Agent", "ben@state.test", "password-1", Role::Agent).await.unwrap();
    let c = contact(&pool, &scope, "+12025551001", "Needs Help").await;
    inbound(&pool, &scope, c, "first", hours_ago(2.0)).await;
    let newest = inbound(&pool, &scope, c, "second", hours_ago(1.0)).await;
    let start = events::list_since(&pool, &scope, 0, 1000).await.unwrap().last().map_or(0, |e| e.id);

    let client = GraphClient::new("http://127.0.0.1:9", "v23.0", fast_retry(2));
    let row = conversations::mark_read(&pool, &scope, c, Some(&client)).await.unwrap();
    assert_eq!(row.unread_count, 0);
    let messages = message_row(&pool, &scope, c).await;
    assert!(messages.iter().all(|m| m.status == Some(MessageStatus::Read) && m.read_at.is_some()));
    let receipt = &fake.requests()[0].body;
    assert_eq!(receipt["status"], "read");
    assert_eq!(receipt["message_id"], json!(messages.iter().find(|m| m.id == newest).unwrap().wamid));

    let row = conversations::assign(&pool, &scope, c, agent.id).await.unwrap();
    assert_eq!((row.assigned_user_id, row.assigned_to.as_deref()), (Some(agent.id), Some("Ben Agent")));
    let row = conversations::resolve(&pool, &scope, c).await.unwrap();
    assert!(row.resolved_at.is_some());
    let row = conversations::reopen(&pool, &scope, c).await.unwrap();
    assert!(row.resolved_at.is_none());
    let row = conversations::unassign(&pool, &scope, c).await.unwrap();
    assert!(row.assigned_user_id.is_none());

    let actions: Vec<String> = events::list_since(&pool, &scope, start, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "conversation_updated")
        .map(|e| e.payload["action"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(actions, ["read", "assigned", "resolved", "reopened", "unassigned"]);

    // Reading an already-read conversation changes nothing and announces nothing.
    conversations::mark_read(&pool, &scope, c, None).await.unwrap();
    assert_eq!(events::list_since(&pool, &scope, start, 100).await.unwrap().len(), 5);
}

fn not_found<T>(outcome: Result<T, Error>) -> bool {
    matches!(outcome, Err(Error::NotFound { .. }))
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn other_businesses_ids_are_not_found_and_change_nothing(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let ours = tenant(&pool, "Ours", "1000000011", &fake).await;
    let theirs = tenant(&pool, "Theirs", "1000000012", &fake).await;
    let their_user =
        auth::add_user(&pool, &theirs, "Their Agent", "agent@theirs.test", "password-1", Role::Agent).await.unwrap();
    let their_contact = contact(&pool, &theirs, "+12025551201", "Their Customer").await;
    inbound(&pool, &theirs, their_contact, "private", hours_ago(1.0)).await;
    let our_contact = contact(&pool, &ours, "+12025551202", "Our Customer").await;
    inbound(&pool, &ours, our_contact, "hello", hours_ago(1.0)).await;
    let before = conversations::get(&pool, &theirs, their_contact).await.unwrap();

    assert!(not_found(conversations::get(&pool, &ours, their_contact).await));
    assert!(not_found(conversations::history(&pool, &ours, their_contact, None, 10).await));
    assert!(not_found(conversations::mark_read(&pool, &ours, their_contact, None).await));
    assert!(not_found(conversations::assign(&pool, &ours, their_contact, UserId(1)).await));
    assert!(not_found(conversations::resolve(&pool, &ours, their_contact).await));
    assert!(not_found(conversations::unassign(&pool, &ours, their_contact).await));
    assert!(not_found(send::send(&pool, &ours, &sender(2), &text(their_contact, "hi")).await));
    assert!(not_found(conversations::find_contact(&pool, &ours, &their_contact.to_string()).await));
    assert!(not_found(conversations::find_contact(&pool, &ours, "+12025551201").await));
    // Our conversation cannot be given to their agent.
    let err = conversations::assign(&pool, &ours, our_contact, their_user.id).await.unwrap_err();
    assert!(err.to_string().contains("user"), "{err}");
    assert!(conversations::get(&pool, &ours, our_contact).await.unwrap().assigned_user_id.is_none());

    let after = conversations::get(&pool, &theirs, their_contact).await.unwrap();
    assert_eq!(
        (after.unread_count, after.resolved_at, after.last_message_id),
        (before.unread_count, before.resolved_at, before.last_message_id)
    );
    assert_eq!(message_row(&pool, &theirs, their_contact).await.len(), 1);
    assert!(fake.requests().is_empty());
    assert_eq!(
        ids(&conversations::list(&pool, &ours, &Filter::default(), None, 50).await.unwrap()),
        vec![our_contact.0]
    );
}

/// A stand-in for wacrm-webhookd's POST path: check the signature, commit the raw event, process it.
async fn webhook_receiver(pool: PgPool, app_secret: &'static str) -> String {
    use axum::http::{HeaderMap, StatusCode};
    use wacrm_core::inbox::ingest::{self, IngestConfig};
    use wacrm_core::whatsapp::signature;

    let app = axum::Router::new().route(
        "/webhook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let pool = pool.clone();
            async move {
                let header = headers.get("X-Hub-Signature-256").and_then(|v| v.to_str().ok());
                if signature::verify(app_secret.as_bytes(), &body, header).is_err() {
                    return StatusCode::UNAUTHORIZED;
                }
                // An error answers 500 (the fake records it) instead of panicking out of sight in
                // the server's task; an event left pending is swept as wacrm-webhookd's sweeper would.
                let Ok(id) = ingest::store_raw(&pool, &body).await else {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                };
                let config = IngestConfig::default();
                match ingest::process_event(&pool, &config, id).await {
                    Ok(_) => {
                        let _ = ingest::process_pending(&pool, &config, 10).await;
                        StatusCode::OK
                    }
                    Err(e) => {
                        eprintln!("processing webhook event {id} failed: {e}");
                        StatusCode::INTERNAL_SERVER_ERROR
                    }
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn status_webhooks_from_the_fake_move_a_reply_to_read(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Statuses", "1000000013", &fake).await;
    let c = contact(&pool, &scope, "+12025551301", "Reader").await;
    inbound(&pool, &scope, c, "hello?", hours_ago(1.0)).await;
    let secret = "fake-app-secret";
    fake.deliver_statuses(StatusWebhooks {
        url: webhook_receiver(pool.clone(), secret).await,
        app_secret: secret.into(),
        waba_id: "91000000013".into(),
        display_phone_number: "12025550013".into(),
        delay: Duration::from_millis(50),
    });

    let sent = send::send(&pool, &scope, &sender(2), &text(c, "Hi! How can we help?")).await.unwrap();
    let mut status = None;
    let mut deliveries = Vec::new();
    // Generous: on a loaded 2-core CI machine the three deliveries can take seconds. The fake records
    // a delivery only once its answer is back, which is after the status is visible: wait for both.
    for _ in 0..400 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        status = message_row(&pool, &scope, c).await.into_iter().find(|m| m.id == sent.id).and_then(|m| m.status);
        deliveries = fake.deliveries();
        if status == Some(MessageStatus::Read) && deliveries.len() == 3 {
            break;
        }
    }
    let raw_events = wacrm_core::inbox::ingest::recent_events(&pool, 10).await.unwrap();
    assert_eq!(status, Some(MessageStatus::Read), "deliveries: {deliveries:?}; raw events: {raw_events:?}");
    assert_eq!(deliveries.iter().map(|d| d.status.as_str()).collect::<Vec<_>>(), ["sent", "delivered", "read"]);
    assert!(
        deliveries.iter().all(|d| d.wamid == sent.wamid && d.answered == Some(200)),
        "{deliveries:?}; {raw_events:?}"
    );
}

/// A send made on behalf of an automation rule or a campaign carries its cause, and its caller's
/// idempotency key: the same key a second time is refused before Meta is called.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_send_with_an_idempotency_key_goes_out_once_with_its_cause(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Origins", "1000000077", &fake).await;
    let c = contact(&pool, &scope, "+12025550477", "Buyer").await;
    inbound(&pool, &scope, c, "hello", hours_ago(1.0)).await;
    let key = uuid::Uuid::new_v4();
    let cause = events::Cause::automation(42, &events::Cause::customer());
    let origin = send::Origin { cause: Some(cause), campaign: None, client_ref: Some(key), pacer: None };
    let sent = send::send_as(&pool, &scope, &sender(3), &text(c, "Thanks!"), &origin).await.unwrap();
    assert_eq!(sent.client_ref, key);
    let again = send::send_as(&pool, &scope, &sender(3), &text(c, "Thanks!"), &origin).await;
    assert!(matches!(again, Err(Error::Conflict { .. })), "{again:?}");
    assert_eq!(fake.requests().len(), 1, "Meta was called once");
    let stored = events::list_since(&pool, &scope, 0, 1000).await.unwrap();
    let event = stored.iter().find(|e| e.kind == "message_sent").unwrap();
    assert_eq!(event.cause(), cause);
}
