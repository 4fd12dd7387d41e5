//! Broadcast campaigns against the fake Graph API: the audience snapshot, exactly one send per
//! recipient across an interrupted run and concurrent runners, Meta's errors, statistics, scheduling
//! and tenant isolation.

use std::collections::HashMap;
use std::time::Duration;

use rust_decimal::Decimal;
use sqlx::PgPool;
use tokio::io::AsyncReadExt;
use wacrm_core::broadcast::{
    self, Audience, CampaignId, CampaignStatus, NewCampaign, Params, RecipientState, TickOptions,
};
use wacrm_core::inbox::send::{Sender, TemplateCategory};
use wacrm_core::whatsapp::client::{GraphClient, RetryPolicy};
use wacrm_core::whatsapp::fake::{Failure, FakeGraph};
use wacrm_core::{ContactId, Error, Scope, db, jobs};

pub(crate) fn sender() -> Sender {
    let retry = RetryPolicy {
        max_attempts: 1,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
        timeout: Duration::from_secs(30),
    };
    Sender { client: GraphClient::new("http://127.0.0.1:9", "v23.0", retry), conversation_price: Decimal::new(5, 2) }
}

/// The inbox tests' business with one number on the fake, and an approved one-parameter template.
pub(crate) async fn tenant(pool: &PgPool, name: &str, phone_number_id: &str, fake: &FakeGraph) -> Scope {
    let scope = crate::inbox::tenant(pool, name, phone_number_id, fake).await;
    sqlx::query(
        "INSERT INTO message_templates (business_id, name, content, status) VALUES ($1, 'spring_sale', 'Hi {{1}}, 20% off!', 'approved')",
    )
    .bind(scope.business().0)
    .execute(pool)
    .await
    .unwrap();
    scope
}

pub(crate) async fn contact(
    pool: &PgPool,
    scope: &Scope,
    phone: Option<&str>,
    name: &str,
    tag: Option<&str>,
) -> ContactId {
    // A contact without a number is known by its WhatsApp user id alone.
    let id: i32 = sqlx::query_scalar(
        "INSERT INTO contacts (business_id, phone, name, bsuid) VALUES ($1, $2, $3, CASE WHEN $2 IS NULL THEN 'US.' || $3 END)
         RETURNING id",
    )
    .bind(scope.business().0)
    .bind(phone)
    .bind(name)
    .fetch_one(pool)
    .await
    .unwrap();
    if let Some(tag) = tag {
        sqlx::query("INSERT INTO contact_tags (business_id, contact_id, tag) VALUES ($1, $2, $3)")
            .bind(scope.business().0)
            .bind(id)
            .bind(tag)
            .execute(pool)
            .await
            .unwrap();
    }
    ContactId(id)
}

/// `n` tagged customers with numbers.
pub(crate) async fn customers(pool: &PgPool, scope: &Scope, n: usize) -> Vec<ContactId> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(contact(pool, scope, Some(&format!("+4479460{i:04}")), &format!("Ana {i}"), Some("vip")).await);
    }
    ids
}

pub(crate) async fn campaign(pool: &PgPool, scope: &Scope) -> CampaignId {
    let new = NewCampaign {
        name: "Spring sale".into(),
        template: "spring_sale".parse().unwrap(),
        params: params(&[("1", "@first_name")]),
        audience: Audience { tags_any: vec!["VIP".into()], ..Audience::default() },
        reply_window_hours: broadcast::DEFAULT_REPLY_WINDOW_HOURS,
    };
    broadcast::create(pool, scope, &new).await.unwrap().id
}

pub(crate) fn params(pairs: &[(&str, &str)]) -> Params {
    pairs.iter().map(|(k, v)| (k.to_string(), v.parse().unwrap())).collect()
}

pub(crate) fn reconcile_now() -> TickOptions {
    TickOptions { batch: 50, reconcile_after: chrono::Duration::zero(), ..TickOptions::default() }
}

/// Sends per recipient (`to`) that the fake accepted.
pub(crate) fn accepted_per_recipient(fake: &FakeGraph) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for r in fake.requests().iter().filter(|r| r.answered == 200) {
        *seen.entry(r.to().unwrap_or_default().to_string()).or_insert(0) += 1;
    }
    seen
}

/// Each recipient's state, by contact.
pub(crate) async fn states(pool: &PgPool, scope: &Scope, id: CampaignId) -> HashMap<ContactId, RecipientState> {
    let rows = broadcast::recipients(pool, scope, id, None, 1000).await.unwrap();
    rows.into_iter().map(|r| (r.contact_id, r.state)).collect()
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_campaign_reaches_its_audience_once_and_completes(pool: PgPool) {
    db::migrate(&pool).await.unwrap();
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Shop", "1000000001", &fake).await;
    let reached = customers(&pool, &scope, 3).await;
    let opted_out = contact(&pool, &scope, Some("+44794609998"), "Olga Out", Some("vip")).await;
    sqlx::query("UPDATE contacts SET opted_out_at = NOW() WHERE id = $1")
        .bind(opted_out.0)
        .execute(&pool)
        .await
        .unwrap();
    contact(&pool, &scope, None, "No Number", Some("vip")).await;
    contact(&pool, &scope, Some("+44794609997"), "Not Tagged", None).await;

    let id = campaign(&pool, &scope).await;
    let planned = broadcast::preview(&pool, &scope, id).await.unwrap();
    assert_eq!((planned.matched, planned.reachable, planned.opted_out, planned.no_phone), (5, 3, 1, 1));
    assert!(fake.requests().is_empty(), "a dry run sends nothing");
    let started = broadcast::start(&pool, &scope, id).await.unwrap();
    assert_eq!(started, planned);
    // The start queued the campaign's tick under its key.
    let queued = jobs::list(&pool, None, Some("broadcast.campaign_tick"), 10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].key.as_deref(), Some(format!("campaign:{id}:tick").as_str()));
    assert!(matches!(broadcast::start(&pool, &scope, id).await, Err(Error::Conflict { .. })));

    let tick = broadcast::tick(&pool, &sender(), scope.business(), id, TickOptions::default()).await.unwrap();
    assert_eq!((tick.sent, tick.failed, tick.skipped), (3, 0, 0));
    assert_eq!(tick.status, Some(CampaignStatus::Completed));
    let seen = accepted_per_recipient(&fake);
    assert_eq!(seen.len(), 3);
    assert!(seen.values().all(|n| *n == 1));
    // Each request carries its recipient row's ref, and the first name as the parameter.
    let rows = broadcast::recipients(&pool, &scope, id, Some(RecipientState::Sent), 100).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.contact_id).collect::<Vec<_>>(), reached);
    let body = &fake.requests()[0].body;
    assert!(body["biz_opaque_callback_data"].is_string());
    assert!(body.to_string().contains("\"Ana\""), "{body}");
    let skipped = broadcast::recipients(&pool, &scope, id, Some(RecipientState::Skipped), 100).await.unwrap();
    let mut reasons: Vec<_> = skipped.iter().filter_map(|r| r.detail.clone()).collect();
    reasons.sort();
    assert_eq!(reasons, ["no phone number", "opted out"]);
    let shown = broadcast::get(&pool, &scope, id).await.unwrap();
    assert_eq!((shown.recipients, shown.sent, shown.skipped), (5, 3, 2));
    assert!(shown.finished_at.is_some());
    // A further tick of a finished campaign does nothing.
    let again = broadcast::tick(&pool, &sender(), scope.business(), id, reconcile_now()).await.unwrap();
    assert_eq!(again.sent, 0);
    assert_eq!(fake.requests().len(), 3);
}

/// Moves the business's number to another Graph API base URL.
async fn point_at(pool: &PgPool, scope: &Scope, base_url: &str) {
    sqlx::query("UPDATE whatsapp_accounts SET api_base_url = $1 WHERE business_id = $2")
        .bind(base_url)
        .bind(scope.business().0)
        .execute(pool)
        .await
        .unwrap();
}

/// A tiny HTTP server that takes requests and never answers: the runner is "killed" while its send is
/// in flight, after the send path reserved the message.
async fn black_hole() -> (String, tokio::sync::mpsc::UnboundedReceiver<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let _ = tx.send(());
            held.push(socket);
        }
    });
    (url, rx)
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_run_killed_mid_batch_resumes_without_a_duplicate_or_a_miss(pool: PgPool) {
    db::migrate(&pool).await.unwrap();
    let fake = FakeGraph::start().await.unwrap();
    let (hole, mut arrived) = black_hole().await;
    let scope = tenant(&pool, "Crash", "1000000002", &fake).await;
    let contacts = customers(&pool, &scope, 4).await;
    let id = campaign(&pool, &scope).await;
    broadcast::start(&pool, &scope, id).await.unwrap();
    point_at(&pool, &scope, &hole).await;

    // The first send is reserved and on the wire when the runner dies: its future is dropped.
    let dying = sender();
    tokio::select! {
        result = broadcast::tick(&pool, &dying, scope.business(), id, TickOptions::default()) => {
            panic!("the tick should hang on the black hole: {result:?}")
        }
        _ = arrived.recv() => {}
    }
    let after_crash = states(&pool, &scope, id).await;
    assert!(after_crash.values().all(|s| *s == RecipientState::Sending), "{after_crash:?}");

    // Meta is reachable again. Within the reconcile window nothing claimed is touched.
    point_at(&pool, &scope, fake.base_url()).await;
    let waiting = broadcast::tick(&pool, &sender(), scope.business(), id, TickOptions::default()).await.unwrap();
    assert_eq!((waiting.sent, waiting.settled), (0, 0));
    assert_eq!(waiting.status, Some(CampaignStatus::Running));
    assert!(waiting.next.unwrap() > chrono::Utc::now() + chrono::Duration::minutes(9), "{waiting:?}");
    assert!(fake.requests().is_empty());

    // After it, every row is settled and sent exactly once (the black hole never answered, so the
    // reserved one goes out again with a fresh ref; the unreserved ones with their own).
    let resumed = broadcast::tick(&pool, &sender(), scope.business(), id, reconcile_now()).await.unwrap();
    assert_eq!((resumed.settled, resumed.sent), (4, 4));
    assert_eq!(resumed.status, Some(CampaignStatus::Completed));
    let seen = accepted_per_recipient(&fake);
    assert_eq!(seen.len(), contacts.len());
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    let refs: std::collections::HashSet<_> =
        fake.requests().iter().map(|r| r.body["biz_opaque_callback_data"].to_string()).collect();
    assert_eq!(refs.len(), 4);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_send_meta_accepted_before_a_crash_is_never_sent_again(pool: PgPool) {
    db::migrate(&pool).await.unwrap();
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Accepted", "1000000003", &fake).await;
    let contacts = customers(&pool, &scope, 2).await;
    let id = campaign(&pool, &scope).await;
    broadcast::start(&pool, &scope, id).await.unwrap();
    // A runner claimed the first row and Meta took its send; the runner died before writing that down.
    let send_ref: uuid::Uuid = sqlx::query_scalar(
        "UPDATE campaign_recipients SET state = 'sending', claimed_at = NOW(), attempts = 1
         WHERE campaign_id = $1 AND contact_id = $2 RETURNING send_ref",
    )
    .bind(id.0)
    .bind(contacts[0].0)
    .fetch_one(&pool)
    .await
    .unwrap();
    let outgoing = wacrm_core::inbox::send::Outgoing {
        contact: contacts[0],
        compose: wacrm_core::inbox::send::Compose::Template {
            name: "spring_sale".into(),
            language: "en_US".into(),
            params: vec!["Ana".into()],
            category: TemplateCategory::Marketing,
        },
        account: None,
    };
    let origin = wacrm_core::inbox::send::Origin {
        cause: Some(wacrm_core::events::Cause::campaign(id.0)),
        campaign: Some(id.0),
        client_ref: Some(send_ref),
        pacer: None,
    };
    wacrm_core::inbox::send::send_as(&pool, &scope, &sender(), &outgoing, &origin).await.unwrap();

    let tick = broadcast::tick(&pool, &sender(), scope.business(), id, reconcile_now()).await.unwrap();
    assert_eq!((tick.settled, tick.sent), (1, 1));
    assert_eq!(tick.status, Some(CampaignStatus::Completed));
    let seen = accepted_per_recipient(&fake);
    assert_eq!(seen.len(), 2);
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    let rows = broadcast::recipients(&pool, &scope, id, Some(RecipientState::Sent), 10).await.unwrap();
    assert!(rows.iter().all(|r| r.wamid.is_some()));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn two_runners_on_one_campaign_never_share_a_recipient(pool: PgPool) {
    db::migrate(&pool).await.unwrap();
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Twins", "1000000004", &fake).await;
    customers(&pool, &scope, 24).await;
    let id = campaign(&pool, &scope).await;
    broadcast::start(&pool, &scope, id).await.unwrap();
    let run = || async {
        let options = TickOptions { batch: 3, ..TickOptions::default() };
        let mut sent = 0;
        for _ in 0..200 {
            let tick = broadcast::tick(&pool, &sender(), scope.business(), id, options.clone()).await.unwrap();
            sent += tick.sent;
            if tick.status != Some(CampaignStatus::Running) {
                break;
            }
        }
        sent
    };
    let (a, b) = tokio::join!(run(), run());
    assert_eq!(a + b, 24);
    let seen = accepted_per_recipient(&fake);
    assert_eq!(seen.len(), 24);
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    assert_eq!(broadcast::get(&pool, &scope, id).await.unwrap().status, CampaignStatus::Completed);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn meta_errors_fail_retry_or_hold_recipients(pool: PgPool) {
    db::migrate(&pool).await.unwrap();
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Errors", "1000000005", &fake).await;
    let contacts = customers(&pool, &scope, 3).await;
    let id = campaign(&pool, &scope).await;
    broadcast::start(&pool, &scope, id).await.unwrap();
    // 131026 is final; a 500 is retried later; the throughput limit ends the tick.
    fake.fail_recipient("44794600000", Failure::Undeliverable);
    fake.fail_recipient("44794600001", Failure::ServerError);
    fake.fail_recipient("44794600002", Failure::Throughput);
    let tick = broadcast::tick(&pool, &sender(), scope.business(), id, TickOptions::default()).await.unwrap();
    let rows = broadcast::recipients(&pool, &scope, id, None, 10).await.unwrap();
    assert_eq!((tick.sent, tick.failed, tick.retrying), (0, 1, 1), "{tick:?} {rows:?} {:?}", fake.requests());
    assert_eq!(tick.status, Some(CampaignStatus::Running));
    let next = tick.next.unwrap();
    assert!(next > chrono::Utc::now() + chrono::Duration::seconds(20), "throttled: the next tick waits ({next})");
    let rows = broadcast::recipients(&pool, &scope, id, None, 10).await.unwrap();
    let by_contact: HashMap<_, _> = rows.iter().map(|r| (r.contact_id, r)).collect();
    let failed = by_contact[&contacts[0]];
    assert_eq!((failed.state, failed.error_code), (RecipientState::Failed, Some(131026)));
    let retrying = by_contact[&contacts[1]];
    assert_eq!((retrying.state, retrying.error_code), (RecipientState::Pending, Some(2)));
    assert_eq!(by_contact[&contacts[2]].state, RecipientState::Pending);
    assert_eq!(by_contact[&contacts[2]].attempts, 0, "a throttled send does not count as an attempt");

    // Meta recovers; once the retry is due, both go out, and the permanent failure is never retried.
    fake.clear_failures();
    sqlx::query("UPDATE campaign_recipients SET next_attempt_at = NULL WHERE campaign_id = $1")
        .bind(id.0)
        .execute(&pool)
        .await
        .unwrap();
    let tick = broadcast::tick(&pool, &sender(), scope.business(), id, TickOptions::default()).await.unwrap();
    assert_eq!((tick.sent, tick.failed), (2, 0));
    assert_eq!(tick.status, Some(CampaignStatus::Completed));
    let to_failed = fake.requests().iter().filter(|r| r.to() == Some("44794600000")).count();
    assert_eq!(to_failed, 1);
    let stats = broadcast::stats(&pool, &scope, id).await.unwrap();
    assert_eq!((stats.sent, stats.failed, stats.recipients), (2, 1, 3));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn pause_resume_cancel_and_stats(pool: PgPool) {
    db::migrate(&pool).await.unwrap();
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Life", "1000000006", &fake).await;
    let contacts = customers(&pool, &scope, 3).await;
    let id = campaign(&pool, &scope).await;
    assert!(matches!(broadcast::pause(&pool, &scope, id).await, Err(Error::Conflict { .. })));
    broadcast::start(&pool, &scope, id).await.unwrap();
    broadcast::pause(&pool, &scope, id).await.unwrap();
    let paused = broadcast::tick(&pool, &sender(), scope.business(), id, TickOptions::default()).await.unwrap();
    assert_eq!((paused.sent, paused.status), (0, Some(CampaignStatus::Paused)));
    assert!(fake.requests().is_empty());
    broadcast::resume(&pool, &scope, id).await.unwrap();
    let tick = broadcast::tick(&pool, &sender(), scope.business(), id, TickOptions::default()).await.unwrap();
    assert_eq!(tick.sent, 3);

    // Delivered, read and a reply within the window, from the campaign's messages.
    let b = scope.business().0;
    sqlx::query("UPDATE messages SET status = 'read' WHERE business_id = $1 AND contact_id = $2")
        .bind(b)
        .bind(contacts[0].0)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE messages SET status = 'delivered' WHERE business_id = $1 AND contact_id = $2")
        .bind(b)
        .bind(contacts[1].0)
        .execute(&pool)
        .await
        .unwrap();
    let reply: i32 = sqlx::query_scalar(
        "INSERT INTO messages (business_id, contact_id, direction, content, status, sent_at, kind)
         VALUES ($1, $2, 'in', 'yes please', 'delivered', NOW() + INTERVAL '1 minute', 'text') RETURNING id",
    )
    .bind(b)
    .bind(contacts[0].0)
    .fetch_one(&pool)
    .await
    .unwrap();
    // As ingest attributes it, in the message's transaction.
    let mut tx = pool.begin().await.unwrap();
    let inbound = broadcast::InboundReply {
        business: scope.business(),
        contact: contacts[0],
        message: wacrm_core::MessageId(reply),
        at: chrono::Utc::now() + chrono::Duration::minutes(1),
        text: "yes please".into(),
    };
    assert_eq!(broadcast::attribute_replies_on(&mut tx, &[inbound]).await.unwrap(), 1);
    tx.commit().await.unwrap();
    let stats = broadcast::stats(&pool, &scope, id).await.unwrap();
    assert_eq!((stats.sent, stats.delivered, stats.read, stats.replied), (3, 2, 1, 1));
    assert!(matches!(broadcast::cancel(&pool, &scope, id).await, Err(Error::Conflict { .. })));

    // A cancelled campaign skips who it had not reached.
    let other = campaign(&pool, &scope).await;
    broadcast::start(&pool, &scope, other).await.unwrap();
    broadcast::cancel(&pool, &scope, other).await.unwrap();
    let tick = broadcast::tick(&pool, &sender(), scope.business(), other, TickOptions::default()).await.unwrap();
    assert_eq!(tick.sent, 0);
    let stats = broadcast::stats(&pool, &scope, other).await.unwrap();
    assert_eq!((stats.skipped, stats.pending), (3, 0));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_scheduled_campaign_starts_from_its_job(pool: PgPool) {
    db::migrate(&pool).await.unwrap();
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Later", "1000000007", &fake).await;
    customers(&pool, &scope, 2).await;
    let id = campaign(&pool, &scope).await;
    let at = chrono::Utc::now() + chrono::Duration::hours(2);
    let scheduled = broadcast::schedule(&pool, &scope, id, at).await.unwrap();
    assert_eq!(scheduled.status, CampaignStatus::Scheduled);
    let queued = jobs::list(&pool, None, Some("broadcast.campaign_tick"), 10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].key.as_deref(), Some(format!("campaign:{id}:tick").as_str()));
    assert!((queued[0].run_at - at).num_seconds().abs() < 1);
    // Early: nothing happens.
    let early = broadcast::tick(&pool, &sender(), scope.business(), id, TickOptions::default()).await.unwrap();
    assert_eq!((early.sent, early.status), (0, Some(CampaignStatus::Scheduled)));
    // Due: the tick starts it and sends.
    broadcast::schedule(&pool, &scope, id, chrono::Utc::now() - chrono::Duration::seconds(1)).await.unwrap();
    let due = broadcast::tick(&pool, &sender(), scope.business(), id, TickOptions::default()).await.unwrap();
    assert_eq!((due.sent, due.status), (2, Some(CampaignStatus::Completed)));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn another_business_campaign_ids_are_not_found_and_change_nothing(pool: PgPool) {
    db::migrate(&pool).await.unwrap();
    let fake = FakeGraph::start().await.unwrap();
    let owner = tenant(&pool, "Owner", "1000000008", &fake).await;
    let intruder = tenant(&pool, "Intruder", "1000000009", &fake).await;
    customers(&pool, &owner, 2).await;
    let id = campaign(&pool, &owner).await;
    let not_found = |r: Result<_, Error>| matches!(r, Err(Error::NotFound { .. }));
    assert!(not_found(broadcast::get(&pool, &intruder, id).await.map(|_| ())));
    assert!(not_found(broadcast::start(&pool, &intruder, id).await.map(|_| ())));
    assert!(not_found(broadcast::preview(&pool, &intruder, id).await.map(|_| ())));
    assert!(not_found(broadcast::schedule(&pool, &intruder, id, chrono::Utc::now()).await.map(|_| ())));
    assert!(not_found(broadcast::pause(&pool, &intruder, id).await.map(|_| ())));
    assert!(not_found(broadcast::resume(&pool, &intruder, id).await.map(|_| ())));
    assert!(not_found(broadcast::cancel(&pool, &intruder, id).await.map(|_| ())));
    assert!(not_found(broadcast::recipients(&pool, &intruder, id, None, 10).await.map(|_| ())));
    assert!(not_found(broadcast::stats(&pool, &intruder, id).await.map(|_| ())));
    assert!(not_found(
        broadcast::tick(&pool, &sender(), intruder.business(), id, TickOptions::default()).await.map(|_| ())
    ));
    assert!(broadcast::list(&pool, &intruder).await.unwrap().is_empty());
    // Its own templates only: the owner's template name resolves to the intruder's own one, never across.
    sqlx::query("DELETE FROM message_templates WHERE business_id = $1")
        .bind(intruder.business().0)
        .execute(&pool)
        .await
        .unwrap();
    let new = NewCampaign {
        name: "Steal".into(),
        template: "spring_sale".parse().unwrap(),
        params: params(&[("1", "x")]),
        audience: Audience::default(),
        reply_window_hours: 72,
    };
    assert!(matches!(broadcast::create(&pool, &intruder, &new).await, Err(Error::NotFound { .. })));
    let untouched = broadcast::get(&pool, &owner, id).await.unwrap();
    assert_eq!((untouched.status, untouched.recipients), (CampaignStatus::Draft, 0));
    assert!(fake.requests().is_empty());
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn campaigns_need_an_approved_template_and_every_parameter(pool: PgPool) {
    db::migrate(&pool).await.unwrap();
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Checks", "1000000010", &fake).await;
    sqlx::query(
        "INSERT INTO message_templates (business_id, name, content, status) VALUES ($1, 'draft_one', 'Hi', 'pending')",
    )
    .bind(scope.business().0)
    .execute(&pool)
    .await
    .unwrap();
    let mut new = NewCampaign {
        name: "Checks".into(),
        template: "spring_sale".parse().unwrap(),
        params: Params::new(),
        audience: Audience::default(),
        reply_window_hours: 72,
    };
    let err = broadcast::create(&pool, &scope, &new).await.unwrap_err();
    assert!(err.to_string().contains("no value for {{1}}"), "{err}");
    new.params = params(&[("1", "@name"), ("2", "extra")]);
    let err = broadcast::create(&pool, &scope, &new).await.unwrap_err();
    assert!(err.to_string().contains("no parameter 2"), "{err}");
    new.template = "draft_one".parse().unwrap();
    new.params = Params::new();
    let err = broadcast::create(&pool, &scope, &new).await.unwrap_err();
    assert!(err.to_string().contains("approved"), "{err}");
    assert!("@nickname".parse::<broadcast::Param>().is_err());
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn an_opt_out_after_the_start_is_honoured_and_the_billing_limit_pauses(pool: PgPool) {
    db::migrate(&pool).await.unwrap();
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Limits", "1000000011", &fake).await;
    let contacts = customers(&pool, &scope, 4).await;
    let id = campaign(&pool, &scope).await;
    broadcast::start(&pool, &scope, id).await.unwrap();
    // The first recipient opts out after the snapshot; the plan allows two new conversations.
    sqlx::query("UPDATE contacts SET opted_out_at = NOW() WHERE id = $1")
        .bind(contacts[0].0)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE plans SET conversation_limit = 2 WHERE id = (SELECT plan_id FROM subscriptions WHERE business_id = $1)",
    )
    .bind(scope.business().0)
    .execute(&pool)
    .await
    .unwrap();
    let tick = broadcast::tick(&pool, &sender(), scope.business(), id, TickOptions::default()).await.unwrap();
    assert_eq!((tick.skipped, tick.sent), (1, 2));
    assert_eq!(tick.status, Some(CampaignStatus::Paused));
    assert!(tick.paused.as_deref().unwrap_or_default().starts_with("billing"), "{tick:?}");
    let seen = accepted_per_recipient(&fake);
    assert!(!seen.contains_key("44794600000"), "an opted-out contact never gets a marketing message");
    assert_eq!(seen.len(), 2);
    let by_state = states(&pool, &scope, id).await;
    assert_eq!(by_state[&contacts[0]], RecipientState::Skipped);
    let waiting = contacts[1..].iter().filter(|c| by_state[*c] == RecipientState::Pending).count();
    assert_eq!(waiting, 1, "the recipient the limit stopped waits for a resume: {by_state:?}");
    let shown = broadcast::get(&pool, &scope, id).await.unwrap();
    assert!(shown.paused_reason.unwrap().contains("conversations are used up"));
}
