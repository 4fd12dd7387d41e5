//! The templates dashboard against PostgreSQL and the fake Graph API: create (lint refusals), submit
//! (Meta's shape, the 100-per-hour guard), paged sync, status and category webhooks through ingest
//! (idempotent, replayable), Meta's locks on edit and delete, render, and tenant isolation.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use wacrm_core::inbox::ingest::{self, IngestConfig, Outcome};
use wacrm_core::templates::{self, TemplateRef, TemplateSpec};
use wacrm_core::types::TemplateId;
use wacrm_core::whatsapp::client::{GraphClient, RetryPolicy};
use wacrm_core::whatsapp::fake::{Failure, FakeGraph};
use wacrm_core::{ContactId, Error, Scope, business};

use crate::wording::ShellHint;

fn graph() -> GraphClient {
    let retry = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(5),
        timeout: Duration::from_secs(5),
    };
    // The default base URL goes nowhere: every call must use the account's own.
    GraphClient::new("http://127.0.0.1:9", "v23.0", retry)
}

/// A business with one number in WABA `waba`, pointed at the fake.
async fn tenant(pool: &PgPool, name: &str, phone_number_id: &str, waba: &str, fake: &FakeGraph) -> Scope {
    let (b, _) = business::create(pool, name, &format!("{name}@example.com"), "US").await.unwrap();
    let scope = Scope::for_business(pool, b.id).await.unwrap();
    business::add_account(
        pool,
        &scope,
        &business::NewAccount {
            phone: format!("+1202555{}", &phone_number_id[phone_number_id.len() - 4..]),
            phone_number_id: phone_number_id.into(),
            waba_id: Some(waba.into()),
            token: "test-token".into(),
            api_base_url: Some(fake.base_url().to_string()),
            api_version: Some("v25.0".into()),
        },
    )
    .await
    .unwrap();
    scope
}

const WABA_A: &str = "102290129340398";
const WABA_B: &str = "202290129340398";

fn order_update() -> Value {
    json!({
        "name": "order_update", "language": "en_US", "category": "UTILITY",
        "components": [
            {"type": "BODY", "text": "Hi {{1}}, your order {{2}} is on its way.", "example": {"body_text": [["Ana", "4411"]]}},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Thanks"}]}
        ]
    })
}

fn spec(value: Value) -> TemplateSpec {
    serde_json::from_value(value).unwrap()
}

/// A template webhook for `waba` at unix second `time`, stored and processed as the daemon does.
async fn webhook(pool: &PgPool, waba: &str, time: i64, field: &str, value: Value) -> ingest::ProcessedEvent {
    let body = json!({"object": "whatsapp_business_account",
                      "entry": [{"id": waba, "time": time, "changes": [{"field": field, "value": value}]}]});
    let id = ingest::store_raw(pool, body.to_string().as_bytes()).await.unwrap();
    ingest::process_event(pool, &IngestConfig::default(), id).await.unwrap().expect("pending")
}

/// A webhook time just after now (whole seconds): after the submit, within the 5 minutes of clock skew
/// trusted, so offsets from it keep their order.
fn soon() -> i64 {
    chrono::Utc::now().timestamp() + 1
}

fn status_update(event: &str, meta_id: &str, reason: Option<&str>) -> Value {
    json!({"event": event, "message_template_id": meta_id.parse::<i64>().unwrap(),
           "message_template_name": "order_update", "message_template_language": "en_US", "reason": reason})
}

async fn history(pool: &PgPool, id: TemplateId, kind: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM message_template_history WHERE template_id = $1 AND kind = $2")
        .bind(id.0)
        .bind(kind)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Creates and submits order_update; returns its id and Meta's id.
async fn submitted(pool: &PgPool, scope: &Scope) -> (TemplateId, String) {
    let created = templates::create(pool, scope, &spec(order_update())).await.unwrap();
    let done = templates::submit(pool, &graph(), scope, &TemplateRef::Id(created.id)).await.unwrap();
    (created.id, done.template.meta_id.unwrap())
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn create_refuses_what_lint_refuses_and_duplicates(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let a = tenant(&pool, "a", "106540352242922", WABA_A, &fake).await;
    let mut bad = order_update();
    bad["components"][0]["text"] = json!("{{1}}, your order {{3}}");
    let e = templates::create(&pool, &a, &spec(bad)).await.unwrap_err();
    let Error::Invalid { message, .. } = &e else { panic!("{e:?}") };
    for rule in ["parameter-at-start", "parameter-at-end", "parameter-sequence"] {
        assert!(message.contains(rule), "{message}");
    }
    assert!(message.contains("body.text"), "{message}");
    assert!(templates::list(&pool, &a, true).await.unwrap().is_empty());

    let created = templates::create(&pool, &a, &spec(order_update())).await.unwrap();
    assert_eq!((created.status.as_str(), created.category.as_deref()), ("draft", Some("UTILITY")));
    assert!(matches!(templates::create(&pool, &a, &spec(order_update())).await, Err(Error::Conflict { .. })));
    let mut same_body = order_update();
    same_body["name"] = json!("order_update_copy");
    let e = templates::create(&pool, &a, &spec(same_body)).await.unwrap_err();
    assert!(e.to_string().contains("exact body"), "{e}");
    // A translation is another template under the same name.
    let mut spanish = order_update();
    spanish["language"] = json!("es");
    spanish["components"][0]["text"] = json!("Hola {{1}}, tu pedido {{2}} va en camino.");
    templates::create(&pool, &a, &spec(spanish)).await.unwrap();
    let e = templates::get(&pool, &a, &"order_update".parse().unwrap()).await.unwrap_err();
    assert!(e.to_string().contains("2 languages"), "{e}");
    assert!(fake.requests().is_empty(), "create is local");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn submit_posts_meta_s_shape_and_keeps_to_100_creations_an_hour(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let a = tenant(&pool, "a", "106540352242922", WABA_A, &fake).await;
    let (id, meta_id) = submitted(&pool, &a).await;
    let request = &fake.requests()[0];
    assert_eq!(request.path, format!("/v25.0/{WABA_A}/message_templates"));
    assert_eq!(
        request.body,
        json!({"name": "order_update", "language": "en_US", "category": "UTILITY",
        "parameter_format": "POSITIONAL", "components": order_update()["components"]})
    );
    let t = templates::get(&pool, &a, &TemplateRef::Id(id)).await.unwrap();
    assert_eq!(
        (t.status.as_str(), t.meta_id.as_deref(), t.waba_id.as_deref()),
        ("pending", Some(meta_id.as_str()), Some(WABA_A))
    );
    // Submitting again: not a draft.
    assert!(matches!(templates::submit(&pool, &graph(), &a, &TemplateRef::Id(id)).await, Err(Error::Conflict { .. })));

    // 99 more creations in the last hour use up the WABA's 100.
    sqlx::query(
        "INSERT INTO message_template_history (business_id, template_id, kind, value, source, waba_id, at)
         SELECT $1, $2, 'submit', 'x' || g, 'local', $3, NOW() - interval '30 minutes' FROM generate_series(1, 99) g",
    )
    .bind(a.business().0)
    .bind(id.0)
    .bind(WABA_A)
    .execute(&pool)
    .await
    .unwrap();
    let mut next = order_update();
    next["name"] = json!("order_shipped");
    next["components"][0]["text"] = json!("Hi {{1}}, order {{2}} shipped.");
    let draft = templates::create(&pool, &a, &spec(next)).await.unwrap();
    let e = templates::submit(&pool, &graph(), &a, &TemplateRef::Id(draft.id)).await.unwrap_err();
    assert!(matches!(e, Error::LimitReached { .. }), "{e:?}");
    assert_eq!(fake.requests().len(), 1, "refused locally");

    // A refusal by Meta frees the slot it took.
    sqlx::query("DELETE FROM message_template_history WHERE value LIKE 'x%' AND kind = 'submit' AND value <> 'x1'")
        .execute(&pool)
        .await
        .unwrap();
    fake.fail_next(1, Failure::Undeliverable);
    let e = templates::submit(&pool, &graph(), &a, &TemplateRef::Id(draft.id)).await.unwrap_err();
    assert!(matches!(e, Error::WhatsApp { code: 131026, .. }), "{e:?}");
    assert_eq!(history(&pool, draft.id, "submit").await, 0);
    assert_eq!(templates::get(&pool, &a, &TemplateRef::Id(draft.id)).await.unwrap().status, "draft");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn status_webhooks_apply_once_in_order_and_only_to_the_waba_s_business(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let a = tenant(&pool, "a", "106540352242922", WABA_A, &fake).await;
    let b = tenant(&pool, "b", "206540352241111", WABA_B, &fake).await;
    let (id, meta_id) = submitted(&pool, &a).await;
    let t0 = soon();
    // B has a template of the same name and language, never touched by A's webhooks.
    let b_template = templates::create(&pool, &b, &spec(order_update())).await.unwrap();

    let done = webhook(
        &pool,
        WABA_A,
        t0,
        "message_template_status_update",
        status_update("REJECTED", &meta_id, Some("INVALID_FORMAT")),
    )
    .await;
    assert_eq!(
        (done.outcome, done.business_id, done.summary.template_updates),
        (Outcome::Processed, Some(a.business()), 1)
    );
    let t = templates::get(&pool, &a, &TemplateRef::Id(id)).await.unwrap();
    assert_eq!((t.status.as_str(), t.rejection_reason.as_deref()), ("rejected", Some("INVALID_FORMAT")));

    webhook(&pool, WABA_A, t0 + 100, "message_template_status_update", status_update("APPROVED", &meta_id, None)).await;
    // An older PAUSED arriving late changes nothing but the history.
    webhook(&pool, WABA_A, t0 + 50, "message_template_status_update", status_update("PAUSED", &meta_id, None)).await;
    let t = templates::get(&pool, &a, &TemplateRef::Id(id)).await.unwrap();
    assert_eq!((t.status.as_str(), t.rejection_reason), ("approved", None));
    let approved: Vec<String> = templates::approved(&pool, &a).await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(approved, vec!["order_update"]);
    assert_eq!(history(&pool, id, "status").await, 3);

    // Replaying the whole log applies nothing twice.
    let replayed = ingest::replay(&pool, &IngestConfig::default(), chrono::DateTime::UNIX_EPOCH, false).await.unwrap();
    assert!(replayed.iter().all(|e| e.outcome == Outcome::Processed), "{replayed:?}");
    assert_eq!(history(&pool, id, "status").await, 3);
    assert_eq!(templates::get(&pool, &a, &TemplateRef::Id(id)).await.unwrap().status, "approved");
    assert_eq!(templates::get(&pool, &b, &TemplateRef::Id(b_template.id)).await.unwrap().status, "draft");

    // Category: impending, then completed.
    let impending = json!({"message_template_id": meta_id.parse::<i64>().unwrap(), "message_template_name": "order_update",
        "message_template_language": "en_US", "correct_category": "MARKETING", "new_category": "UTILITY",
        "category_update_timestamp": 1_760_500_000});
    webhook(&pool, WABA_A, t0 + 200, "template_category_update", impending).await;
    let t = templates::get(&pool, &a, &TemplateRef::Id(id)).await.unwrap();
    assert_eq!((t.category.as_deref(), t.pending_category.as_deref()), (Some("UTILITY"), Some("MARKETING")));
    assert_eq!(t.pending_category_at.map(|at| at.timestamp()), Some(1_760_500_000));
    let completed = json!({"message_template_id": meta_id.parse::<i64>().unwrap(), "message_template_name": "order_update",
        "message_template_language": "en_US", "previous_category": "UTILITY", "new_category": "MARKETING"});
    webhook(&pool, WABA_A, t0 + 201, "template_category_update", completed).await;
    let t = templates::get(&pool, &a, &TemplateRef::Id(id)).await.unwrap();
    assert_eq!((t.category.as_deref(), t.pending_category), (Some("MARKETING"), None));

    let quality = json!({"message_template_id": meta_id.parse::<i64>().unwrap(), "message_template_name": "order_update",
        "message_template_language": "en_US", "previous_quality_score": "GREEN", "new_quality_score": "RED"});
    webhook(&pool, WABA_A, t0 + 250, "message_template_quality_update", quality).await;
    assert_eq!(templates::get(&pool, &a, &TemplateRef::Id(id)).await.unwrap().quality.as_deref(), Some("RED"));

    // A template made in Meta's UI and not synced yet: handled, nothing written.
    let unknown = webhook(&pool, WABA_A, t0 + 300, "message_template_status_update",
        json!({"event": "APPROVED", "message_template_id": 42, "message_template_name": "from_ui", "message_template_language": "en"})).await;
    assert_eq!(unknown.outcome, Outcome::Processed);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn updates_kept_while_the_number_was_inactive_apply_on_replay(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let a = tenant(&pool, "a", "106540352242922", WABA_A, &fake).await;
    let (id, meta_id) = submitted(&pool, &a).await;
    let account = business::list_accounts(&pool, &a).await.unwrap()[0].id;
    business::set_account_active(&pool, &a, account, false).await.unwrap();
    let kept =
        webhook(&pool, WABA_A, soon(), "message_template_status_update", status_update("APPROVED", &meta_id, None))
            .await;
    assert_eq!(kept.outcome, Outcome::Orphan);
    assert_eq!(templates::get(&pool, &a, &TemplateRef::Id(id)).await.unwrap().status, "pending");
    business::set_account_active(&pool, &a, account, true).await.unwrap();
    ingest::replay(&pool, &IngestConfig::default(), chrono::DateTime::UNIX_EPOCH, false).await.unwrap();
    assert_eq!(templates::get(&pool, &a, &TemplateRef::Id(id)).await.unwrap().status, "approved");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn sync_pages_through_meta_s_list_and_upserts(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let a = tenant(&pool, "a", "106540352242922", WABA_A, &fake).await;
    let (id, meta_id) = submitted(&pool, &a).await;
    for i in 0..4 {
        let body = json!([{"type": "BODY", "text": format!("Made in Meta's UI, number {i}.")}]);
        fake.add_template(WABA_A, &format!("ui_{i}"), "en_US", "MARKETING", "APPROVED", body);
    }
    fake.add_template(WABA_B, "someone_else", "en_US", "MARKETING", "APPROVED", json!([]));
    fake.set_page_size(2);
    fake.set_template_status(&meta_id, "REJECTED", Some("PROMOTIONAL"));
    let report = templates::sync(&pool, &graph(), &a).await.unwrap();
    assert_eq!((report.pages, report.created, report.updated, report.unchanged), (3, 4, 1, 0), "{report:?}");
    let t = templates::get(&pool, &a, &TemplateRef::Id(id)).await.unwrap();
    assert_eq!((t.status.as_str(), t.rejection_reason.as_deref()), ("rejected", Some("PROMOTIONAL")));
    let ui = templates::get(&pool, &a, &"ui_2".parse().unwrap()).await.unwrap();
    assert_eq!((ui.status.as_str(), ui.content.as_str()), ("approved", "Made in Meta's UI, number 2."));
    let again = templates::sync(&pool, &graph(), &a).await.unwrap();
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 5));
    let listed = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/message_templates") && r.body.get("limit").is_some())
        .count();
    assert_eq!(listed, 6);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn approved_templates_are_locked_except_for_meta_s_edit_slots(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let a = tenant(&pool, "a", "106540352242922", WABA_A, &fake).await;
    let (id, meta_id) = submitted(&pool, &a).await;
    let t0 = soon();
    webhook(&pool, WABA_A, t0, "message_template_status_update", status_update("APPROVED", &meta_id, None)).await;
    let mut changed = order_update();
    changed["components"][0]["text"] = json!("Hello {{1}}, your order {{2}} has shipped.");
    let reference = TemplateRef::Id(id);
    let e = templates::edit(&pool, &graph(), &a, &reference, &spec(changed.clone()), false).await.unwrap_err();
    let hint = e.hint().unwrap_or_default().to_string();
    assert!(
        matches!(e, Error::Conflict { .. }) && hint.contains("order_update_v2") && hint.contains("--use-edit-slot"),
        "{e}: {hint}"
    );
    assert!(e.to_string().contains("0/1 edit in the last 24 h"), "{e}");
    let mut recategorised = changed.clone();
    recategorised["category"] = json!("MARKETING");
    assert!(matches!(
        templates::edit(&pool, &graph(), &a, &reference, &spec(recategorised), true).await,
        Err(Error::Invalid { .. })
    ));

    let edited = templates::edit(&pool, &graph(), &a, &reference, &spec(changed.clone()), true).await.unwrap();
    assert!(edited.sent_to_meta);
    assert_eq!((edited.template.status.as_str(), edited.edit_slots.used_24h), ("pending", 1));
    let request = fake.requests().into_iter().last().unwrap();
    assert_eq!(request.path, format!("/v25.0/{meta_id}"));
    assert_eq!(request.body, json!({"components": changed["components"]}));
    // Approved again: the day's slot is spent.
    webhook(&pool, WABA_A, t0 + 100, "message_template_status_update", status_update("APPROVED", &meta_id, None)).await;
    let e = templates::edit(&pool, &graph(), &a, &reference, &spec(order_update()), true).await.unwrap_err();
    assert!(matches!(e, Error::LimitReached { .. }), "{e:?}");
    // Name and language never change.
    let mut renamed = order_update();
    renamed["name"] = json!("order_update_v2");
    assert!(matches!(
        templates::edit(&pool, &graph(), &a, &reference, &spec(renamed), true).await,
        Err(Error::Invalid { .. })
    ));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn delete_is_refused_while_used_or_disabled_and_locks_the_name(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let a = tenant(&pool, "a", "106540352242922", WABA_A, &fake).await;
    let (id, meta_id) = submitted(&pool, &a).await;
    let reference = TemplateRef::Id(id);
    let campaign: i32 = sqlx::query_scalar(
        "INSERT INTO campaigns (business_id, template_id, name, status) VALUES ($1, $2, 'Spring', 'scheduled') RETURNING id",
    )
    .bind(a.business().0)
    .bind(id.0)
    .fetch_one(&pool)
    .await
    .unwrap();
    let e = templates::remove(&pool, &graph(), &a, &reference).await.unwrap_err();
    assert!(
        matches!(e, Error::Conflict { .. })
            && e.to_string().contains(&format!("campaign {campaign} (Spring, scheduled)")),
        "{e}"
    );
    sqlx::query("UPDATE campaigns SET status = 'completed' WHERE id = $1").bind(campaign).execute(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO automation_rules (business_id, name, trigger, condition, action)
         VALUES ($1, 'price reply', 'message_received', '{}', $2)",
    )
    .bind(a.business().0)
    .bind(json!({"send_message": id.0.to_string()}))
    .execute(&pool)
    .await
    .unwrap();
    let e = templates::remove(&pool, &graph(), &a, &reference).await.unwrap_err();
    assert!(e.to_string().contains("automation rule"), "{e}");
    sqlx::query("DELETE FROM automation_rules").execute(&pool).await.unwrap();

    let t0 = soon();
    webhook(&pool, WABA_A, t0, "message_template_status_update", status_update("DISABLED", &meta_id, None)).await;
    let e = templates::remove(&pool, &graph(), &a, &reference).await.unwrap_err();
    assert!(e.to_string().contains("DISABLED"), "{e}");
    webhook(&pool, WABA_A, t0 + 100, "message_template_status_update", status_update("REINSTATED", &meta_id, None))
        .await;

    let removed = templates::remove(&pool, &graph(), &a, &reference).await.unwrap();
    assert!(removed.deleted_at_meta && removed.warnings[0].contains("30 days"), "{removed:?}");
    assert!(fake.templates().is_empty(), "deleted at Meta");
    let request = fake.requests().into_iter().last().unwrap();
    assert_eq!(request.body, json!({"hsm_id": meta_id, "name": "order_update"}));
    assert!(templates::list(&pool, &a, false).await.unwrap().is_empty());
    // The row stays for the messages that used it; the name stays locked.
    assert_eq!(templates::list(&pool, &a, true).await.unwrap()[0].status, "deleted");
    let e = templates::create(&pool, &a, &spec(order_update())).await.unwrap_err();
    assert!(e.to_string().contains("locked until"), "{e}");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn render_fills_from_the_contact_and_explicit_values(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let a = tenant(&pool, "a", "106540352242922", WABA_A, &fake).await;
    let b = tenant(&pool, "b", "206540352241111", WABA_B, &fake).await;
    let welcome = json!({"name": "welcome", "language": "en", "category": "MARKETING", "parameter_format": "NAMED",
        "components": [{"type": "BODY", "text": "Hi {{first_name}}, use code {{code}} this week.",
                        "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"},
                                                               {"param_name": "code", "example": "SAVE10"}]}}]});
    templates::create(&pool, &a, &spec(welcome)).await.unwrap();
    let contact: i32 = sqlx::query_scalar(
        "INSERT INTO contacts (business_id, phone, name) VALUES ($1, '+15550001111', 'Ana Souza') RETURNING id",
    )
    .bind(a.business().0)
    .fetch_one(&pool)
    .await
    .unwrap();
    let reference: TemplateRef = "welcome".parse().unwrap();
    let explicit = [("code".to_string(), "SAVE10".to_string())].into_iter().collect();
    let r = templates::render_for_contact(&pool, &a, &reference, ContactId(contact), explicit).await.unwrap();
    assert_eq!(r.body, "Hi Ana, use code SAVE10 this week.");
    let e =
        templates::render_for_contact(&pool, &a, &reference, ContactId(contact), Default::default()).await.unwrap_err();
    assert!(e.to_string().contains("no value for {{code}}"), "{e}");
    // Another business's contact is not found.
    let b_contact: i32 = sqlx::query_scalar(
        "INSERT INTO contacts (business_id, phone, name) VALUES ($1, '+15550002222', 'Bo') RETURNING id",
    )
    .bind(b.business().0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(matches!(
        templates::render_for_contact(&pool, &a, &reference, ContactId(b_contact), Default::default()).await,
        Err(Error::NotFound { .. })
    ));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn another_business_s_template_ids_are_not_found_and_nothing_changes(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let a = tenant(&pool, "a", "106540352242922", WABA_A, &fake).await;
    let b = tenant(&pool, "b", "206540352241111", WABA_B, &fake).await;
    let created = templates::create(&pool, &a, &spec(order_update())).await.unwrap();
    let theirs = TemplateRef::Id(created.id);
    assert!(matches!(templates::get(&pool, &b, &theirs).await, Err(Error::NotFound { .. })));
    assert!(matches!(templates::submit(&pool, &graph(), &b, &theirs).await, Err(Error::NotFound { .. })));
    assert!(matches!(templates::remove(&pool, &graph(), &b, &theirs).await, Err(Error::NotFound { .. })));
    assert!(matches!(
        templates::edit(&pool, &graph(), &b, &theirs, &spec(order_update()), true).await,
        Err(Error::NotFound { .. })
    ));
    assert!(fake.requests().is_empty());
    assert_eq!(templates::get(&pool, &a, &theirs).await.unwrap().status, "draft");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn the_recurring_sync_reaches_every_business_and_one_failure_stops_none(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let broken = tenant(&pool, "broken", "106540352240001", WABA_B, &fake).await;
    let a = tenant(&pool, "a", "106540352242922", WABA_A, &fake).await;
    // The first business's number points at a Graph API that is not there (a dead test server).
    let accounts = business::list_accounts(&pool, &broken).await.unwrap();
    let edit = business::AccountChanges { api_base_url: Some("http://127.0.0.1:9".into()), ..Default::default() };
    business::edit_account(&pool, &broken, accounts[0].id, &edit).await.unwrap();
    let body = json!([{"type": "BODY", "text": "Made in Meta's UI."}]);
    fake.add_template(WABA_A, "from_meta_ui", "en_US", "UTILITY", "APPROVED", body);

    let report = templates::sync_all(&pool, &graph()).await.unwrap();
    assert_eq!((report.businesses, report.failed), (2, 1), "{report:?}");
    let synced = templates::get(&pool, &a, &"from_meta_ui".parse().unwrap()).await.unwrap();
    assert_eq!(synced.status.as_str(), "approved");
    assert!(templates::get(&pool, &broken, &"from_meta_ui".parse().unwrap()).await.is_err(), "stays A's own");
}
