//! Broadcast, continued (issue 21): each recipient's message from the templates' render path, replies
//! attributed by ingest, a template Meta pauses, the failure share, US numbers, retargeting and the
//! seed's campaign_logs.

use serde_json::{Value, json};
use sqlx::PgPool;
use wacrm_core::broadcast::{self, Audience, CampaignStatus, NewCampaign, RecipientState, Retarget, TickOptions};
use wacrm_core::inbox::ingest::{self, IngestConfig};
use wacrm_core::whatsapp::fake::{Failure, FakeGraph};
use wacrm_core::{Error, db};

use crate::broadcast::{accepted_per_recipient, campaign, contact, customers, params, sender, states, tenant};

async fn deliver(pool: &PgPool, body: Value) {
    let id = ingest::store_raw(pool, body.to_string().as_bytes()).await.unwrap();
    ingest::process_event(pool, &IngestConfig::default(), id).await.unwrap().expect("pending");
}

/// A customer's text message to the number, as Meta posts it.
fn inbound(phone_number_id: &str, wa_id: &str, wamid: &str, text: &str) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": format!("9{phone_number_id}"), "changes": [{
    "field": "messages",
    "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": "Customer"}, "wa_id": wa_id}],
        "messages": [{"from": wa_id, "id": wamid, "timestamp": chrono::Utc::now().timestamp().to_string(),
                      "type": "text", "text": {"body": text}}]
    }}]}]})
}

async fn count(pool: &PgPool, sql: &'static str, business: i32) -> i64 {
    sqlx::query_scalar(sql).bind(business).fetch_one(pool).await.unwrap()
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn the_message_is_the_rendered_template_and_a_missing_value_skips_the_recipient(pool: PgPool) {
    db::migrate(&pool).await.unwrap();
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Render", "1000000021", &fake).await;
    sqlx::query(
        r#"INSERT INTO message_templates (business_id, name, content, status, category, parameter_format, components)
           VALUES ($1, 'welcome', 'Hi {{name}}, use {{code}} today.', 'approved', 'UTILITY', 'NAMED',
                   '[{"type": "BODY", "text": "Hi {{name}}, use {{code}} today."}]')"#,
    )
    .bind(scope.business().0)
    .execute(&pool)
    .await
    .unwrap();
    let ana = contact(&pool, &scope, Some("+447946010001"), "Ana Souza", Some("vip")).await;
    let nameless: i32 =
        sqlx::query_scalar("INSERT INTO contacts (business_id, phone) VALUES ($1, '+447946010002') RETURNING id")
            .bind(scope.business().0)
            .fetch_one(&pool)
            .await
            .unwrap();
    sqlx::query("INSERT INTO contact_tags (business_id, contact_id, tag) VALUES ($1, $2, 'vip')")
        .bind(scope.business().0)
        .bind(nameless)
        .execute(&pool)
        .await
        .unwrap();
    let new = NewCampaign {
        name: "Welcome".into(),
        template: "welcome".parse().unwrap(),
        params: params(&[("code", "SAVE10")]),
        audience: Audience { tags_any: vec!["vip".into()], ..Audience::default() },
        reply_window_hours: 72,
    };
    let id = broadcast::create(&pool, &scope, &new).await.unwrap().id;
    broadcast::start(&pool, &scope, id).await.unwrap();
    let tick = broadcast::tick(&pool, &sender(), scope.business(), id, TickOptions::default()).await.unwrap();
    assert_eq!((tick.sent, tick.skipped), (1, 1), "{tick:?}");

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].body["template"]["components"],
        json!([{"type": "body", "parameters": [
            {"type": "text", "parameter_name": "name", "text": "Ana Souza"},
            {"type": "text", "parameter_name": "code", "text": "SAVE10"}]}])
    );
    let content: String = sqlx::query_scalar("SELECT content FROM messages WHERE business_id = $1 AND contact_id = $2")
        .bind(scope.business().0)
        .bind(ana.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(content.ends_with("Hi Ana Souza, use SAVE10 today."), "{content}");
    let skipped = broadcast::recipients(&pool, &scope, id, Some(RecipientState::Skipped), 10).await.unwrap();
    let why = skipped[0].detail.as_deref().unwrap_or_default();
    assert!(why.contains("no value for {{name}}"), "the reason names the parameter: {why}");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_reply_within_the_window_marks_the_recipient_once_and_emits_the_campaign_trigger(pool: PgPool) {
    db::migrate(&pool).await.unwrap();
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Replies", "1000000022", &fake).await;
    let contacts = customers(&pool, &scope, 2).await;
    let id = campaign(&pool, &scope).await;
    broadcast::start(&pool, &scope, id).await.unwrap();
    let tick = broadcast::tick(&pool, &sender(), scope.business(), id, TickOptions::default()).await.unwrap();
    assert_eq!(tick.sent, 2);
    let b = scope.business().0;
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM campaign_logs l JOIN campaigns c ON c.id = l.campaign_id WHERE c.business_id = $1",
            b
        )
        .await,
        2
    );
    // The second recipient's message went out four days ago: past the 72-hour window.
    sqlx::query(
        "UPDATE campaign_recipients SET sent_at = NOW() - INTERVAL '4 days' WHERE business_id = $1 AND contact_id = $2",
    )
    .bind(b)
    .bind(contacts[1].0)
    .execute(&pool)
    .await
    .unwrap();

    deliver(&pool, inbound("1000000022", "44794600000", "wamid.reply.1", "yes please")).await;
    // Meta's retry of the same message, and a second message: still one reply, one trigger.
    deliver(&pool, inbound("1000000022", "44794600000", "wamid.reply.1", "yes please")).await;
    deliver(&pool, inbound("1000000022", "44794600000", "wamid.reply.2", "how much?")).await;
    deliver(&pool, inbound("1000000022", "44794600001", "wamid.late.1", "too late")).await;

    let stats = broadcast::stats(&pool, &scope, id).await.unwrap();
    assert_eq!(stats.replied, 1);
    let triggers: Vec<Value> = sqlx::query_scalar(
        "SELECT payload FROM events WHERE business_id = $1 AND kind = 'message_received_after_campaign'",
    )
    .bind(b)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(triggers.len(), 1, "{triggers:?}");
    assert_eq!(
        (triggers[0]["campaign_id"].as_i64(), triggers[0]["text"].as_str()),
        (Some(id.0 as i64), Some("yes please"))
    );
    assert_eq!(triggers[0]["cause"]["actor"], "customer");
    let replied: Vec<(i32, bool)> = sqlx::query_as(
        "SELECT l.contact_id, l.replied FROM campaign_logs l JOIN campaigns c ON c.id = l.campaign_id
         WHERE c.business_id = $1 ORDER BY l.contact_id",
    )
    .bind(b)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(replied, vec![(contacts[0].0, true), (contacts[1].0, false)], "the seed's campaign_logs agree");
}

/// Meta's status webhook for one sent message.
fn status(phone_number_id: &str, wa_id: &str, wamid: &str, status: &str) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": format!("9{phone_number_id}"), "changes": [{
    "field": "messages",
    "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
        "statuses": [{"id": wamid, "status": status, "timestamp": chrono::Utc::now().timestamp().to_string(),
                      "recipient_id": wa_id}]
    }}]}]})
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn delivery_statuses_keep_the_seed_campaign_logs_delivered_in_step(pool: PgPool) {
    db::migrate(&pool).await.unwrap();
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Delivered", "1000000026", &fake).await;
    let contacts = customers(&pool, &scope, 3).await;
    let id = campaign(&pool, &scope).await;
    broadcast::start(&pool, &scope, id).await.unwrap();
    let tick = broadcast::tick(&pool, &sender(), scope.business(), id, TickOptions::default()).await.unwrap();
    assert_eq!(tick.sent, 3);
    let wamid = |contact: i32| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT wamid FROM campaign_recipients WHERE campaign_id = $1 AND contact_id = $2",
            )
            .bind(id.0)
            .bind(contact)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    // The first is delivered (twice: Meta retries), the second read straight away, the third only sent.
    let first = wamid(contacts[0].0).await;
    deliver(&pool, status("1000000026", "44794600000", &first, "delivered")).await;
    deliver(&pool, status("1000000026", "44794600000", &first, "delivered")).await;
    deliver(&pool, status("1000000026", "44794600001", &wamid(contacts[1].0).await, "read")).await;
    deliver(&pool, status("1000000026", "44794600002", &wamid(contacts[2].0).await, "sent")).await;
    let delivered: Vec<(i32, bool)> = sqlx::query_as(
        "SELECT l.contact_id, l.delivered FROM campaign_logs l JOIN campaigns c ON c.id = l.campaign_id
         WHERE c.business_id = $1 ORDER BY l.contact_id",
    )
    .bind(scope.business().0)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(delivered, vec![(contacts[0].0, true), (contacts[1].0, true), (contacts[2].0, false)]);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_template_meta_pauses_mid_campaign_pauses_the_campaign_and_tells_the_team(pool: PgPool) {
    db::migrate(&pool).await.unwrap();
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Paused", "1000000023", &fake).await;
    customers(&pool, &scope, 3).await;
    let id = campaign(&pool, &scope).await;
    broadcast::start(&pool, &scope, id).await.unwrap();
    let b = scope.business().0;
    sqlx::query("UPDATE message_templates SET meta_id = '777001' WHERE business_id = $1")
        .bind(b)
        .execute(&pool)
        .await
        .unwrap();
    let paused = json!({"object": "whatsapp_business_account", "entry": [{"id": "91000000023",
        "time": chrono::Utc::now().timestamp(), "changes": [{"field": "message_template_status_update",
        "value": {"event": "PAUSED", "message_template_id": 777001, "message_template_name": "spring_sale",
                  "message_template_language": "en_US", "reason": null}}]}]});
    deliver(&pool, paused).await;

    let shown = broadcast::get(&pool, &scope, id).await.unwrap();
    assert_eq!(shown.status, CampaignStatus::Paused);
    assert!(shown.paused_reason.as_deref().unwrap_or_default().contains("paused its template"), "{shown:?}");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM notifications WHERE business_id = $1 AND source = 'broadcast'", b).await,
        1
    );
    let tick = broadcast::tick(&pool, &sender(), scope.business(), id, TickOptions::default()).await.unwrap();
    assert_eq!((tick.sent, tick.status), (0, Some(CampaignStatus::Paused)));
    // Resumed while the template is still paused: the tick checks it again and pauses before sending.
    broadcast::resume(&pool, &scope, id).await.unwrap();
    let tick = broadcast::tick(&pool, &sender(), scope.business(), id, TickOptions::default()).await.unwrap();
    assert_eq!((tick.sent, tick.status), (0, Some(CampaignStatus::Paused)));
    assert!(tick.paused.unwrap_or_default().contains("can no longer be sent"));
    assert!(fake.requests().is_empty());
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_run_of_failures_pauses_the_campaign(pool: PgPool) {
    db::migrate(&pool).await.unwrap();
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Failing", "1000000024", &fake).await;
    customers(&pool, &scope, 6).await;
    let id = campaign(&pool, &scope).await;
    broadcast::start(&pool, &scope, id).await.unwrap();
    fake.fail_next(6, Failure::Undeliverable);
    let options = TickOptions { failure_window: 4, failure_share: 0.5, ..TickOptions::default() };
    let tick = broadcast::tick(&pool, &sender(), scope.business(), id, options).await.unwrap();
    assert_eq!(tick.status, Some(CampaignStatus::Paused), "{tick:?}");
    assert!(tick.paused.unwrap_or_default().contains("of its last 4 sends failed"));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn meta_marketing_limit_fails_pair_rate_retries_and_a_paused_template_pauses(pool: PgPool) {
    db::migrate(&pool).await.unwrap();
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Refusals", "1000000025", &fake).await;
    let contacts = customers(&pool, &scope, 3).await;
    let id = campaign(&pool, &scope).await;
    broadcast::start(&pool, &scope, id).await.unwrap();
    fake.fail_recipient("44794600000", Failure::MarketingLimit);
    fake.fail_recipient("44794600001", Failure::PairRateLimit);
    fake.fail_recipient("44794600002", Failure::TemplatePaused);
    let tick = broadcast::tick(&pool, &sender(), scope.business(), id, TickOptions::default()).await.unwrap();
    assert_eq!((tick.sent, tick.failed, tick.retrying), (0, 1, 1), "{tick:?}");
    assert_eq!(tick.status, Some(CampaignStatus::Paused));
    let reason = broadcast::get(&pool, &scope, id).await.unwrap().paused_reason.unwrap_or_default();
    assert!(reason.contains("132015"), "{reason}");
    let rows = broadcast::recipients(&pool, &scope, id, None, 10).await.unwrap();
    let by_contact: std::collections::HashMap<_, _> = rows.iter().map(|r| (r.contact_id, r)).collect();
    // 131049: that message is refused for good (Meta's engagement limit); the recipient fails with it.
    let held = by_contact[&contacts[0]];
    assert_eq!((held.state, held.error_code), (RecipientState::Failed, Some(131049)));
    // 131056: the pair rate limit passes; the recipient waits for a later attempt with its code.
    let paced = by_contact[&contacts[1]];
    assert_eq!((paced.state, paced.error_code), (RecipientState::Pending, Some(131056)));
    let due: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
        "SELECT next_attempt_at FROM campaign_recipients WHERE campaign_id = $1 AND contact_id = $2",
    )
    .bind(id.0)
    .bind(contacts[1].0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(due.is_some_and(|at| at > chrono::Utc::now()), "{due:?}");
    // 132015: not this recipient's fault: it goes back untouched for the resume.
    let paused = by_contact[&contacts[2]];
    assert_eq!((paused.state, paused.attempts, paused.error_code), (RecipientState::Pending, 0, None));
    let failed: Option<i32> = sqlx::query_scalar(
        "SELECT error_code FROM messages WHERE business_id = $1 AND contact_id = $2 AND status = 'failed'",
    )
    .bind(scope.business().0)
    .bind(contacts[0].0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(failed, Some(131049), "the message itself records Meta's code");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn us_numbers_are_left_out_of_marketing_and_a_retarget_reaches_the_failed(pool: PgPool) {
    db::migrate(&pool).await.unwrap();
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Retarget", "1000000025", &fake).await;
    let contacts = customers(&pool, &scope, 2).await;
    let us = contact(&pool, &scope, Some("+14155550001"), "Sam Us", Some("vip")).await;
    let id = campaign(&pool, &scope).await;
    let planned = broadcast::preview(&pool, &scope, id).await.unwrap();
    assert_eq!((planned.matched, planned.reachable, planned.us_marketing), (3, 2, 1));
    fake.fail_recipient("44794600000", Failure::Undeliverable);
    broadcast::start(&pool, &scope, id).await.unwrap();
    let tick = broadcast::tick(&pool, &sender(), scope.business(), id, TickOptions::default()).await.unwrap();
    assert_eq!((tick.sent, tick.failed), (1, 1));
    assert!(!accepted_per_recipient(&fake).contains_key("14155550001"));
    assert_eq!(states(&pool, &scope, id).await[&us], RecipientState::Skipped);
    let stats = broadcast::stats(&pool, &scope, id).await.unwrap();
    assert_eq!((stats.failed_by_reason[0].code, stats.failed_by_reason[0].count), (Some(131026), 1));

    let follow_up = NewCampaign {
        name: "Again".into(),
        template: "spring_sale".parse().unwrap(),
        params: params(&[("1", "@first_name")]),
        audience: Audience::default(),
        reply_window_hours: 24,
    };
    let again = broadcast::retarget(&pool, &scope, id, Retarget::Failed, &follow_up).await.unwrap();
    assert_eq!(again.retarget_of, Some(id));
    assert_eq!(again.audience["contacts"], json!([contacts[0].0]));
    assert_eq!(broadcast::preview(&pool, &scope, again.id).await.unwrap().reachable, 1);
    let err = broadcast::retarget(&pool, &scope, id, Retarget::NotReplied, &follow_up).await.map(|_| ());
    assert!(err.is_ok(), "the one sent recipient has not replied: {err:?}");

    // Another business's campaign id: not found, and nothing made.
    let intruder = tenant(&pool, "Intruder", "1000000026", &fake).await;
    let stolen = broadcast::retarget(&pool, &intruder, id, Retarget::Failed, &follow_up).await;
    assert!(matches!(stolen, Err(Error::NotFound { .. })), "{stolen:?}");
    assert!(broadcast::list(&pool, &intruder).await.unwrap().is_empty());
}
