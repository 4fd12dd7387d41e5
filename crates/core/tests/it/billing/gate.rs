//! The send gate under concurrent senders of every kind: inbox replies, a broadcast campaign and an
//! automation rule, each through its own core path, all at limit − 1.

use std::time::Duration;

use chrono::Utc;
use rust_decimal::Decimal;
use sqlx::PgPool;
use wacrm_core::automation::{self, RuleSpec};
use wacrm_core::broadcast::{self, Audience, NewCampaign, TickOptions};
use wacrm_core::events::{self, Cause, Event};
use wacrm_core::inbox::send::{self, Compose, Outgoing, Sender};
use wacrm_core::templates::TemplateRef;
use wacrm_core::whatsapp::client::{GraphClient, RetryPolicy};
use wacrm_core::whatsapp::fake::FakeGraph;
use wacrm_core::{AccountId, ContactId, Error, MessageId, Scope};

fn sender() -> Sender {
    let retry = RetryPolicy {
        max_attempts: 1,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
        timeout: Duration::from_secs(30),
    };
    Sender { client: GraphClient::new("http://127.0.0.1:9", "v23.0", retry), conversation_price: Decimal::new(5, 2) }
}

/// A contact who wrote an hour ago (the customer-service window is open), with the event automation
/// reacts to; `tag` puts them in the campaign's audience.
async fn customer(pool: &PgPool, scope: &Scope, i: usize, text: &str, tag: Option<&str>) -> ContactId {
    let b = scope.business().0;
    // Outside the US: Meta delivers no MARKETING template to +1 numbers, so the campaign would skip them.
    let phone = format!("+4479460{i:04}");
    let mut tx = pool.begin().await.unwrap();
    let id: i32 = sqlx::query_scalar(
        "INSERT INTO contacts (business_id, phone, wa_id, name, last_inbound_at, last_message_at)
         VALUES ($1, $2, $3, $4, now() - interval '1 hour', now() - interval '1 hour') RETURNING id",
    )
    .bind(b)
    .bind(&phone)
    .bind(phone.trim_start_matches('+'))
    .bind(format!("Ana {i}"))
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    if let Some(tag) = tag {
        sqlx::query("INSERT INTO contact_tags (business_id, contact_id, tag) VALUES ($1, $2, $3)")
            .bind(b)
            .bind(id)
            .bind(tag)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    let message: i32 = sqlx::query_scalar(
        "INSERT INTO messages (business_id, contact_id, direction, content, status, sent_at, wamid, kind)
         VALUES ($1, $2, 'in', $3, 'delivered', now() - interval '1 hour', 'wamid.in.' || gen_random_uuid(), 'text')
         RETURNING id",
    )
    .bind(b)
    .bind(id)
    .bind(text)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let event = Event::MessageReceived {
        message_id: MessageId(message),
        wamid: format!("wamid.{message}"),
        account_id: AccountId(1),
        kind: "text".into(),
        text: text.into(),
        context_wamid: None,
        sent_at: Utc::now(),
    };
    events::emit(&mut tx, scope.business(), Some(ContactId(id)), event, Cause::customer()).await.unwrap();
    tx.commit().await.unwrap();
    ContactId(id)
}

/// Runs the automation engine until it has nothing left to do (or 30 s pass).
async fn automation_until_idle(pool: &PgPool) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut attempts = 0;
    while std::time::Instant::now() < deadline {
        let tick = automation::run_once(pool, &sender(), &automation::Options::default()).await.unwrap();
        attempts += (tick.sent + tick.failed) as u64;
        let pending: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM automation_actions WHERE status IN ('pending', 'sending'))
                  + (SELECT count(*) FROM events e LEFT JOIN event_consumers c ON c.name = 'automation'
                     WHERE c.name IS NULL OR e.tx > c.tx OR (e.tx = c.tx AND e.id > c.event_id))",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if pending == 0 && tick.events == 0 && tick.sent == 0 && tick.failed == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    attempts
}

/// 50 sends that would each open a new conversation, from three kinds of sender at once, at limit − 1:
/// exactly one passes, whichever sender it is, and the month's count ends exactly at the limit.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn fifty_concurrent_sends_from_mixed_senders_open_exactly_one_conversation_at_the_limit(pool: PgPool) {
    wacrm_core::db::migrate(&pool).await.unwrap();
    let fake = FakeGraph::start().await.unwrap();
    let scope = crate::inbox::tenant(&pool, "Mixed", "1000000077", &fake).await;
    let b = scope.business().0;
    sqlx::query(
        "INSERT INTO message_templates (business_id, name, content, status) VALUES
             ($1, 'spring_sale', 'Hi {{1}}, 20% off!', 'approved'),
             ($1, 'pricing_template_id', 'Our prices start at 10 USD.', 'approved')",
    )
    .bind(b)
    .execute(&pool)
    .await
    .unwrap();
    let limit = wacrm_core::billing::status(&pool, &scope).await.unwrap().conversation_limit;
    sqlx::query(
        "INSERT INTO usage_logs (business_id, conversation_id, cost) SELECT $1, 'used-' || g, 0.05 FROM generate_series(1, $2) g",
    )
    .bind(b)
    .bind(limit - 1)
    .execute(&pool)
    .await
    .unwrap();
    // 20 inbox replies, 15 campaign recipients, 15 customers asking a rule's keyword.
    let mut inbox = Vec::new();
    for i in 0..20 {
        inbox.push(customer(&pool, &scope, i, "hello", None).await);
    }
    for i in 20..35 {
        customer(&pool, &scope, i, "hello", Some("vip")).await;
    }
    for i in 35..50 {
        customer(&pool, &scope, i, "what is the price?", None).await;
    }
    let rule = RuleSpec::from_json(
        r#"{"name": "pricing", "trigger": "message_received", "condition": {"contains": ["price"]},
            "action": {"send_message": "pricing_template_id"}, "delay_minutes": 0}"#,
    )
    .unwrap();
    automation::add(&pool, &scope, &rule).await.unwrap();
    let campaign = NewCampaign {
        name: "Spring sale".into(),
        template: TemplateRef::Name { name: "spring_sale".into(), language: Some("en_US".into()) },
        params: [("1".to_string(), "@first_name".parse().unwrap())].into(),
        reply_window_hours: broadcast::DEFAULT_REPLY_WINDOW_HOURS,
        audience: Audience { tags_any: vec!["vip".into()], ..Audience::default() },
    };
    let campaign = broadcast::create(&pool, &scope, &campaign).await.unwrap().id;
    broadcast::start(&pool, &scope, campaign).await.unwrap();

    let sender = sender();
    let replies = futures::future::join_all(inbox.iter().map(|&contact| {
        let (pool, scope, sender) = (&pool, &scope, &sender);
        async move {
            let outgoing =
                Outgoing { contact, compose: Compose::Text { body: "welcome!".into(), reply_to: None }, account: None };
            send::send(pool, scope, sender, &outgoing).await
        }
    }));
    // One send at a time within the tick: the test's small pool is shared by twenty inbox replies and
    // the automation engine racing it.
    let options =
        TickOptions { batch: 50, reconcile_after: chrono::Duration::zero(), concurrency: 1, ..TickOptions::default() };
    let campaign_run = broadcast::tick(&pool, &sender, scope.business(), campaign, options);
    let (replies, tick, automation_attempts) = tokio::join!(replies, campaign_run, automation_until_idle(&pool));
    let tick = tick.unwrap();

    let accepted_replies = replies.iter().filter(|r| r.is_ok()).count();
    assert!(
        replies.iter().all(|r| matches!(r, Ok(_) | Err(Error::LimitReached { .. }))),
        "{:?}",
        replies.iter().filter(|r| r.is_err()).take(2).collect::<Vec<_>>()
    );
    // Every sender really tried: the campaign paused on the limit (or sent its one), the rule attempted.
    assert!(tick.sent + tick.failed > 0 || tick.paused.is_some(), "{tick:?}");
    assert!(automation_attempts > 0);
    assert_eq!(fake.requests().len(), 1, "exactly one send reached Meta");
    assert_eq!(accepted_replies + tick.sent as usize + fake_sends_by_rule(&pool, b).await, 1);
    let used: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT conversation_id) FROM usage_logs WHERE business_id = $1 AND timestamp >= date_trunc('month', now())",
    )
    .bind(b)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(used, i64::from(limit));
}

/// Messages the automation rule got through.
async fn fake_sends_by_rule(pool: &PgPool, business: i32) -> usize {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM automation_actions WHERE business_id = $1 AND kind = 'send_template' AND status = 'done'",
    )
    .bind(business)
    .fetch_one(pool)
    .await
    .unwrap();
    usize::try_from(n).unwrap()
}
