//! The automation engine's timed triggers (no_reply, unanswered, schedule), the campaign-reply
//! trigger, and the actions that reach other dashboards (notifications, round-robin assignment,
//! opt-out, campaigns, signed webhooks, templates through the one render path), against real
//! PostgreSQL and the fake Graph API.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use chrono::{Duration, Timelike, Utc};
use secrecy::SecretString;
use sqlx::PgPool;
use wacrm_core::auth::{self, Role};
use wacrm_core::automation::{self, Options};
use wacrm_core::events::{self, Cause, Event};
use wacrm_core::inbox::send::{self, Compose, Origin, Outgoing};
use wacrm_core::whatsapp::fake::FakeGraph;
use wacrm_core::{ContactId, MessageId, Scope, broadcast, contacts, notifications};

use super::automation::{all_runs, contact, inbound, rule, sender, settle, settle_with, tenant};

/// Our answer to a contact, as an agent sends it from the inbox.
async fn answer(pool: &PgPool, scope: &Scope, contact: ContactId, text: &str) {
    let outgoing = Outgoing { contact, compose: Compose::Text { body: text.into(), reply_to: None }, account: None };
    send::send_as(
        pool,
        scope,
        &sender(),
        &outgoing,
        &Origin { cause: None, campaign: None, client_ref: None, pacer: None },
    )
    .await
    .unwrap();
}

/// Makes every armed wait of the business due now.
async fn make_due(pool: &PgPool, scope: &Scope) {
    sqlx::query!(
        "UPDATE automation_pending SET due_at = now() - interval '1 minute' WHERE business_id = $1 AND status = 'pending'",
        scope.business().0
    )
    .execute(pool)
    .await
    .unwrap();
}

async fn titles(pool: &PgPool, scope: &Scope) -> Vec<(String, Option<ContactId>)> {
    let mut all: Vec<_> = notifications::list(pool, scope, false, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|n| (n.title, n.contact_id))
        .collect();
    all.sort();
    all
}

async fn tags(pool: &PgPool, scope: &Scope, contact: ContactId) -> Vec<String> {
    contacts::get(pool, scope, contact).await.unwrap().tags
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn no_reply_fires_after_our_last_message_unless_the_customer_answers(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    wacrm_core::jobs::install(&pool).await.unwrap();
    let scope = tenant(&pool, "noreply", "1000000101", &fake).await;
    let ana = contact(&pool, &scope, "+12025550201").await;
    let bob = contact(&pool, &scope, "+12025550202").await;
    automation::add(
        &pool,
        &scope,
        &rule(r#"{"name": "chase", "trigger": "no_reply", "action": {"notify": "no reply yet"}, "delay_minutes": 60}"#),
    )
    .await
    .unwrap();
    for c in [ana, bob] {
        inbound(&pool, &scope, c, "hello").await;
        answer(&pool, &scope, c, "Hi! How can we help?").await;
    }
    settle(&pool).await;
    // A second message of ours moves the clock; it does not arm a second wait.
    answer(&pool, &scope, bob, "Are you there?").await;
    settle(&pool).await;
    let armed = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM automation_pending WHERE business_id = $1 AND status = 'pending'"#,
        scope.business().0
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(armed, 2);
    inbound(&pool, &scope, ana, "sorry, busy").await;
    settle(&pool).await;
    make_due(&pool, &scope).await;
    let tick = settle(&pool).await;
    assert_eq!(tick.delays, 1, "{tick:?}");
    assert_eq!(titles(&pool, &scope).await, [("no reply yet".to_string(), Some(bob))]);
    let cancelled = sqlx::query_scalar!(
        "SELECT reason FROM automation_pending WHERE business_id = $1 AND contact_id = $2",
        scope.business().0,
        ana.0
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(cancelled.as_deref(), Some("the customer replied"));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn unanswered_fires_when_we_do_not_answer_in_time_and_our_answer_cancels_it(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    wacrm_core::jobs::install(&pool).await.unwrap();
    let scope = tenant(&pool, "unanswered", "1000000102", &fake).await;
    let ana = contact(&pool, &scope, "+12025550203").await;
    let bob = contact(&pool, &scope, "+12025550204").await;
    automation::add(
        &pool,
        &scope,
        &rule(
            r#"{"name": "sla", "trigger": "unanswered", "action": {"add_tag": "waiting", "notify": "unanswered"},
                "delay_minutes": 15}"#,
        ),
    )
    .await
    .unwrap();
    inbound(&pool, &scope, ana, "hello?").await;
    inbound(&pool, &scope, bob, "hello?").await;
    // The customer's second message keeps the first one's clock: still one wait.
    inbound(&pool, &scope, bob, "anyone?").await;
    settle(&pool).await;
    answer(&pool, &scope, ana, "Hi Ana").await;
    settle(&pool).await;
    make_due(&pool, &scope).await;
    assert_eq!(settle(&pool).await.delays, 1);
    assert_eq!(tags(&pool, &scope, bob).await, ["waiting"]);
    assert!(tags(&pool, &scope, ana).await.is_empty());
    assert_eq!(titles(&pool, &scope).await, [("unanswered".to_string(), Some(bob))]);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_reply_after_a_campaign_fires_the_rules_of_that_campaign(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "aftercampaign", "1000000103", &fake).await;
    let ana = contact(&pool, &scope, "+12025550205").await;
    for (name, campaign) in [("seven", 7), ("eight", 8)] {
        let json = format!(
            r#"{{"name": "{name}", "trigger": "message_received_after_campaign",
                "condition": {{"campaign": {campaign}, "contains": "yes"}}, "action": {{"add_tag": "replied-{name}"}}}}"#
        );
        automation::add(&pool, &scope, &rule(&json)).await.unwrap();
    }
    let mut tx = pool.begin().await.unwrap();
    let event =
        Event::MessageReceivedAfterCampaign { campaign_id: 7, message_id: MessageId(1), text: "Yes please".into() };
    events::emit(&mut tx, scope.business(), Some(ana), event, Cause::customer()).await.unwrap();
    tx.commit().await.unwrap();
    settle(&pool).await;
    assert_eq!(tags(&pool, &scope, ana).await, ["replied-seven"]);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_schedule_runs_over_its_segment_once_per_minute_and_late_ones_are_dropped(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "schedule", "1000000104", &fake).await;
    let ana = contact(&pool, &scope, "+12025550206").await;
    let bob = contact(&pool, &scope, "+12025550207").await;
    contacts::add_tags(&pool, &scope, ana, &["vip".to_string()]).await.unwrap();
    // A minute that has just passed, in the business's timezone (UTC by default).
    let minute = Utc::now() - Duration::minutes(2);
    let cron = format!("{} {} * * *", minute.minute(), minute.hour());
    let json = format!(
        r#"{{"name": "vip digest", "trigger": "schedule", "cron": "{cron}", "condition": {{"tags_any": ["vip"]}},
            "action": {{"add_tag": "digest"}}}}"#
    );
    let digest = automation::add(&pool, &scope, &rule(&json)).await.unwrap();
    // Four days ago on this date and time: later than the allowed three days.
    let old = Utc::now() - Duration::days(4) - Duration::minutes(2);
    let json = format!(
        r#"{{"name": "stale", "trigger": "schedule", "cron": "{} {} {} {} *", "action": {{"add_tag": "stale"}}}}"#,
        old.minute(),
        old.hour(),
        old.format("%-d"),
        old.format("%-m")
    );
    let stale = automation::add(&pool, &scope, &rule(&json)).await.unwrap();
    for (id, back) in [(digest.id, "10 minutes"), (stale.id, "5 days")] {
        sqlx::query!(
            "UPDATE automation_rules SET updated_at = now() - $3::text::interval WHERE business_id = $1 AND id = $2",
            scope.business().0,
            id,
            back
        )
        .execute(&pool)
        .await
        .unwrap();
    }
    let tick = settle(&pool).await;
    assert_eq!(tick.schedules, 1, "{tick:?}");
    assert_eq!(tags(&pool, &scope, ana).await, ["digest", "vip"]);
    assert!(tags(&pool, &scope, bob).await.is_empty(), "outside the segment");
    assert_eq!(settle(&pool).await.schedules, 0, "a minute fires once");
    assert_eq!(all_runs(&pool, &scope).await.len(), 1);
    let slots = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM automation_schedule_slots WHERE business_id = $1 AND rule_id = $2"#,
        scope.business().0,
        stale.id
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(slots, 0, "more than three days late: dropped");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn notify_round_robin_and_opt_out_act_through_their_owners(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "actions", "1000000105", &fake).await;
    let mut agents = Vec::new();
    for name in ["Ann", "Ben"] {
        let email = format!("{}@actions.example.com", name.to_lowercase());
        agents.push(auth::add_user(&pool, &scope, name, &email, "password-123", Role::Agent).await.unwrap().id);
    }
    automation::add(
        &pool,
        &scope,
        &rule(
            r#"{"name": "triage", "trigger": "message_received", "condition": {"contains": "stop"},
                "action": [{"notify": "customer asked to stop"}, {"assign": "round_robin"}, {"opt_out": true}]}"#,
        ),
    )
    .await
    .unwrap();
    let mut people = Vec::new();
    for i in 0..3 {
        let c = contact(&pool, &scope, &format!("+1202555021{i}")).await;
        inbound(&pool, &scope, c, "please STOP").await;
        people.push(c);
    }
    settle(&pool).await;
    let mut assigned = Vec::new();
    for c in &people {
        let found = contacts::get(&pool, &scope, *c).await.unwrap();
        assert_eq!(found.opt_out_source.as_deref(), Some("automation"), "opted out through contacts");
        let user = sqlx::query_scalar!(
            "SELECT assigned_user_id FROM contacts WHERE business_id = $1 AND id = $2",
            scope.business().0,
            c.0
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assigned.push(user.unwrap());
    }
    let agents: Vec<i32> = agents.iter().map(|a| a.0).collect();
    assert_eq!(assigned, [agents[0], agents[1], agents[0]]);
    assert_eq!(titles(&pool, &scope).await.len(), 3);
    let runs = all_runs(&pool, &scope).await;
    assert!(runs.iter().all(|r| r.actions.iter().all(|a| a.status == "done")), "{runs:?}");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn create_campaign_goes_through_broadcast_once_even_when_retried(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "campaigns", "1000000106", &fake).await;
    let ana = contact(&pool, &scope, "+12025550220").await;
    automation::add(
        &pool,
        &scope,
        &rule(
            r#"{"name": "follow-up", "trigger": "message_received", "condition": {"contains": "offer"},
                "action": {"create_campaign": {"name": "Offer follow-up", "template": "pricing_template_id"}}}"#,
        ),
    )
    .await
    .unwrap();
    inbound(&pool, &scope, ana, "any offer?").await;
    settle(&pool).await;
    // A runner killed after broadcast made it, before the action was recorded.
    sqlx::query!(
        "UPDATE automation_actions SET status = 'sending', updated_at = now() - interval '1 hour' WHERE business_id = $1",
        scope.business().0
    )
    .execute(&pool)
    .await
    .unwrap();
    settle(&pool).await;
    let campaigns = broadcast::list(&pool, &scope).await.unwrap();
    assert_eq!(campaigns.len(), 1, "{campaigns:?}");
    assert!(campaigns[0].name.starts_with("Offer follow-up ["), "{}", campaigns[0].name);
    assert_eq!(campaigns[0].status, broadcast::CampaignStatus::Draft);
    let bad = rule(
        r#"{"name": "bad", "trigger": "message_received", "action": {"create_campaign": {"name": "x", "template": "nope"}}}"#,
    );
    let err = automation::add(&pool, &scope, &bad).await.unwrap_err().to_string();
    assert!(err.contains("$.action.create_campaign"), "{err}");
}

/// A webhook delivery as the receiver saw it: headers and body.
type Delivery = (HeaderMap, Vec<u8>);

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_notify_webhook_is_signed_with_hmac_sha256(pool: PgPool) {
    let received: Arc<Mutex<Vec<Delivery>>> = Arc::default();
    let sink = received.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push((headers, body.to_vec()));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "webhook", "1000000107", &fake).await;
    let ana = contact(&pool, &scope, "+12025550230").await;
    let json = format!(
        r#"{{"name": "hot", "trigger": "message_received", "condition": {{"contains": "buy"}},
            "action": {{"notify": {{"text": "hot lead", "url": "{url}"}}}}}}"#
    );
    automation::add(&pool, &scope, &rule(&json)).await.unwrap();
    inbound(&pool, &scope, ana, "I want to buy").await;
    let options = Options { webhook_secret: Some(SecretString::from("s3cret")), ..Options::default() };
    settle_with(&pool, &options).await;
    let received: Vec<Delivery> = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let (headers, body) = &received[0];
    let expected = format!("sha256={}", automation::signature(b"s3cret", body));
    assert_eq!(headers["x-wacrm-signature"].to_str().unwrap(), expected);
    let payload: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(payload["text"], "hot lead");
    assert_eq!(payload["contact_id"], ana.0);
    assert_eq!(titles(&pool, &scope).await, [("hot lead".to_string(), Some(ana))]);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_template_action_renders_through_the_templates_render_path(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "render", "1000000108", &fake).await;
    let ana = contact(&pool, &scope, "+12025550240").await;
    sqlx::query!(
        "INSERT INTO message_templates (business_id, name, content, status, language, category)
         VALUES ($1, 'welcome', 'Hello {{1}}, your code is {{2}}.', 'approved', 'pt_BR', 'UTILITY')",
        scope.business().0
    )
    .execute(&pool)
    .await
    .unwrap();
    automation::add(
        &pool,
        &scope,
        &rule(
            r#"{"name": "welcome", "trigger": "message_received", "condition": {"contains": "hi"},
                "action": {"send_template": {"template": "welcome", "params": ["{first_name}", "A-{phone}"]}}}"#,
        ),
    )
    .await
    .unwrap();
    inbound(&pool, &scope, ana, "hi there").await;
    assert_eq!(settle(&pool).await.sent, 1);
    let requests = fake.requests();
    let template = &requests[0].body["template"];
    assert_eq!(template["name"], "welcome");
    assert_eq!(template["language"]["code"], "pt_BR", "the template's own language");
    let texts: Vec<&str> =
        template["components"][0]["parameters"].as_array().unwrap().iter().filter_map(|p| p["text"].as_str()).collect();
    assert_eq!(texts, ["Ana", "A-+12025550240"]);
}
