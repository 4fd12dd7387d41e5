//! The automation engine against real PostgreSQL and the fake Graph API: the seed's literal rule, the
//! loop guard, tenant isolation, validation with the JSON path, sends that a retry never doubles, and
//! delays cancelled by a reply.

use std::time::Duration;

use chrono::Utc;
use rust_decimal::Decimal;
use sqlx::PgPool;
use wacrm_core::automation::{self, RuleSpec, RunFilter};
use wacrm_core::events::{self, Cause, Event};
use wacrm_core::inbox::send::Sender;
use wacrm_core::pipeline;
use wacrm_core::whatsapp::client::{GraphClient, RetryPolicy};
use wacrm_core::whatsapp::fake::FakeGraph;
use wacrm_core::{AccountId, ContactId, Error, MessageId, Scope, Stage, business};

pub(crate) fn sender() -> Sender {
    let retry = RetryPolicy {
        max_attempts: 1,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
    };
    Sender { client: GraphClient::new("http://127.0.0.1:9", "v23.0", retry), conversation_price: Decimal::new(5, 2) }
}

pub(crate) async fn tenant(pool: &PgPool, name: &str, phone_number_id: &str, fake: &FakeGraph) -> Scope {
    let (b, _) = business::create(pool, name, &format!("{name}@example.com"), "US").await.unwrap();
    let scope = Scope::for_business(pool, b.id).await.unwrap();
    business::add_account(
        pool,
        &scope,
        &business::NewAccount {
            phone: format!("+1202555{}", &phone_number_id[phone_number_id.len() - 4..]),
            phone_number_id: phone_number_id.into(),
            waba_id: Some(format!("9{phone_number_id}")),
            token: "test-access-token".into(),
            api_base_url: Some(fake.base_url().to_string()),
            api_version: Some("v25.0".into()),
        },
    )
    .await
    .unwrap();
    sqlx::query!(
        "INSERT INTO message_templates (business_id, name, content, status)
         VALUES ($1, 'pricing_template_id', 'Our prices start at 10 USD.', 'approved')",
        scope.business().0
    )
    .execute(pool)
    .await
    .unwrap();
    scope
}

pub(crate) async fn contact(pool: &PgPool, scope: &Scope, phone: &str) -> ContactId {
    ContactId(
        sqlx::query_scalar!(
            "INSERT INTO contacts (business_id, phone, wa_id, name) VALUES ($1, $2, $3, 'Ana') RETURNING id",
            scope.business().0,
            phone,
            phone.trim_start_matches('+')
        )
        .fetch_one(pool)
        .await
        .unwrap(),
    )
}

/// A customer's message as ingest records it: the message, the window on the contact, the event.
pub(crate) async fn inbound(pool: &PgPool, scope: &Scope, contact: ContactId, text: &str) {
    let b = scope.business().0;
    let mut tx = pool.begin().await.unwrap();
    let message = sqlx::query_scalar!(
        r#"INSERT INTO messages (business_id, contact_id, direction, content, status, sent_at, wamid, kind)
           VALUES ($1, $2, 'in', $3, 'delivered', now(), 'wamid.in.' || gen_random_uuid(), 'text') RETURNING id"#,
        b,
        contact.0,
        text
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    sqlx::query!(
        "UPDATE contacts SET last_inbound_at = now(), last_message_at = now() WHERE business_id = $1 AND id = $2",
        b,
        contact.0
    )
    .execute(&mut *tx)
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
    events::emit(&mut tx, scope.business(), Some(contact), event, Cause::customer()).await.unwrap();
    tx.commit().await.unwrap();
}

/// Runs the engine until every event is handed over (other tests' open transactions on the cluster
/// hold the commit-safe horizon back for a moment) and nothing is left to do; the passes' sum.
pub(crate) async fn settle(pool: &PgPool) -> automation::Tick {
    settle_with(pool, &automation::Options::default()).await
}

/// [`settle`] with the engine's options.
pub(crate) async fn settle_with(pool: &PgPool, options: &automation::Options) -> automation::Tick {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut total = automation::Tick::default();
    loop {
        assert!(std::time::Instant::now() < deadline, "the engine did not catch up within 30 s");
        let tick = automation::run_once(pool, &sender(), options).await.unwrap();
        total.events += tick.events;
        total.delays += tick.delays;
        total.schedules += tick.schedules;
        total.sent += tick.sent;
        total.failed += tick.failed;
        // Across every business, so not a checked query (the tenant lint reads those).
        let behind: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM events e
                            LEFT JOIN event_consumers c ON c.name = 'automation'
                            WHERE c.name IS NULL OR e.tx > c.tx OR (e.tx = c.tx AND e.id > c.event_id))",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if !behind && tick.events == 0 && tick.delays == 0 && tick.schedules == 0 && tick.sent == 0 && tick.failed == 0
        {
            return total;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn rule(json: &str) -> RuleSpec {
    RuleSpec::from_json(json).unwrap()
}

/// The seed's own example, verbatim in its condition and action.
const SEED_RULE: &str = r#"{"name": "pricing", "trigger": "message_received",
    "condition": {"contains": ["price", "cost"]},
    "action": {"send_message": "pricing_template_id", "move_stage": "Interested"}, "delay_minutes": 0}"#;

pub(crate) async fn stage(pool: &PgPool, scope: &Scope, contact: ContactId) -> Stage {
    sqlx::query_scalar!(
        r#"SELECT coalesce(stage, 'New') AS "stage!: Stage" FROM contacts WHERE business_id = $1 AND id = $2"#,
        scope.business().0,
        contact.0
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

pub(crate) async fn all_runs(pool: &PgPool, scope: &Scope) -> Vec<automation::Run> {
    automation::runs(pool, scope, &RunFilter::default(), 1000).await.unwrap()
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn the_seeds_rule_replies_with_its_template_and_moves_the_stage(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "seed", "1000000001", &fake).await;
    let ana = contact(&pool, &scope, "+12025550101").await;
    automation::add(&pool, &scope, &rule(SEED_RULE)).await.unwrap();

    inbound(&pool, &scope, ana, "Hi, what is the PRICE?").await;
    let tick = settle(&pool).await;
    assert_eq!(tick.sent, 1, "{tick:?}");
    assert_eq!(fake.requests().len(), 1);
    assert_eq!(stage(&pool, &scope, ana).await, Stage::Interested);
    let runs = all_runs(&pool, &scope).await;
    assert_eq!(runs.len(), 1);
    let statuses: Vec<(&str, &str)> = runs[0].actions.iter().map(|a| (a.kind.as_str(), a.status.as_str())).collect();
    assert_eq!(statuses, [("send_template", "done"), ("move_stage", "done")]);

    // A message without the keywords (only a substring of one) fires nothing.
    inbound(&pool, &scope, ana, "priceless costume").await;
    settle(&pool).await;
    assert_eq!(fake.requests().len(), 1);
    assert_eq!(all_runs(&pool, &scope).await.len(), 1);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_retried_send_never_reaches_meta_twice(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "retry", "1000000002", &fake).await;
    let ana = contact(&pool, &scope, "+12025550102").await;
    automation::add(&pool, &scope, &rule(SEED_RULE)).await.unwrap();
    inbound(&pool, &scope, ana, "cost?").await;
    settle(&pool).await;
    assert_eq!(fake.requests().len(), 1);

    // A runner killed after the send but before recording it: the claim is back to `sending`, stale.
    sqlx::query!(
        "UPDATE automation_actions SET status = 'sending', updated_at = now() - interval '1 hour'
         WHERE business_id = $1 AND kind = 'send_template'",
        scope.business().0
    )
    .execute(&pool)
    .await
    .unwrap();
    settle(&pool).await;
    assert_eq!(fake.requests().len(), 1, "the retry must not call Meta again");
    let runs = all_runs(&pool, &scope).await;
    let send = &runs[0].actions[0];
    assert_eq!(send.status, "done");
    assert!(send.detail.as_deref().unwrap().contains("not sent again"), "{send:?}");

    // The per-contact limit: the same rule does not send to Ana again within 24 h.
    inbound(&pool, &scope, ana, "price again?").await;
    settle(&pool).await;
    assert_eq!(fake.requests().len(), 1);
    let runs = all_runs(&pool, &scope).await;
    assert_eq!(runs[0].actions[0].status, "skipped");
    assert!(runs[0].actions[0].detail.as_deref().unwrap().contains("per-contact limit"));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_ping_pong_pair_of_stage_rules_stops_at_the_guard(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "pingpong", "1000000003", &fake).await;
    let ana = contact(&pool, &scope, "+12025550103").await;
    automation::add(
        &pool,
        &scope,
        &rule(r#"{"name": "ping", "trigger": "stage_changed", "condition": {"to": "Interested"}, "action": {"move_stage": "Engaged"}}"#),
    )
    .await
    .unwrap();
    automation::add(
        &pool,
        &scope,
        &rule(r#"{"name": "pong", "trigger": "stage_changed", "condition": {"to": "Engaged"}, "action": {"move_stage": "Interested"}}"#),
    )
    .await
    .unwrap();
    pipeline::move_stage(&pool, &scope, ana, Stage::Interested).await.unwrap();
    settle(&pool).await;
    let moves = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM pipeline_history WHERE business_id = $1 AND contact_id = $2"#,
        scope.business().0,
        ana.0
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    // The person's move, then ping (depth 1), pong (2), ping (3); the next is held back.
    assert_eq!(moves, 4);
    let runs = all_runs(&pool, &scope).await;
    assert!(runs.iter().any(|r| !r.matched && r.reason.as_deref().unwrap_or("").contains("loop guard")), "{runs:?}");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_rule_of_another_business_never_fires(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let a = tenant(&pool, "alpha", "1000000004", &fake).await;
    let b = tenant(&pool, "beta", "1000000005", &fake).await;
    let ana = contact(&pool, &a, "+12025550104").await;
    automation::add(
        &pool,
        &b,
        &rule(r#"{"name": "tag all", "trigger": "message_received", "action": {"add_tag": "seen", "notify": "hi"}}"#),
    )
    .await
    .unwrap();
    inbound(&pool, &a, ana, "price").await;
    settle(&pool).await;
    assert!(all_runs(&pool, &b).await.is_empty());
    assert!(all_runs(&pool, &a).await.is_empty());
    let tags =
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM contact_tags WHERE business_id = $1"#, a.business().0)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(tags, 0);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn invalid_rules_are_refused_with_the_path(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "invalid", "1000000006", &fake).await;
    let refused = |json: &'static str| {
        let pool = pool.clone();
        let scope = scope.clone();
        async move {
            match automation::add(&pool, &scope, &rule(json)).await {
                Err(Error::Invalid { message, hint }) => format!("{message} / {}", hint.unwrap_or_default()),
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
    };
    let e = refused(r#"{"name": "x", "trigger": "message_received", "action": {"send_message": "no_such"}}"#).await;
    assert!(e.contains("$.action.send_message") && e.contains("approved template"), "{e}");
    let e = refused(r#"{"name": "x", "trigger": "message_received", "condition": {"tags_any": ["vip"]}, "action": {"notify": "n"}}"#).await;
    assert!(e.contains("$.condition") && e.contains("vip"), "{e}");
    let e = refused(r#"{"name": "x", "trigger": "message_received", "condition": {"all": [{"regex": "(x"}]}, "action": {"notify": "n"}}"#).await;
    assert!(e.contains("$.condition.all[0].regex"), "{e}");
    let e =
        refused(r#"{"name": "x", "trigger": "message_received", "action": [{"notify": "n"}, {"move_stage": "Won"}]}"#)
            .await;
    assert!(e.contains("$.action[1].move_stage") && e.contains("Interested"), "{e}");
    assert!(automation::list(&pool, &scope).await.unwrap().is_empty());
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn text_outside_the_window_is_skipped_and_other_actions_still_run(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "window", "1000000007", &fake).await;
    let ana = contact(&pool, &scope, "+12025550107").await;
    automation::add(
        &pool,
        &scope,
        &rule(
            r#"{"name": "vip", "trigger": "stage_changed", "condition": {"from": "New", "to": "Paid"},
                  "action": {"send_text": "Thanks!", "assign": 999999, "add_tag": "customer"}}"#,
        ),
    )
    .await
    .map(|_| ())
    .unwrap_err();
    automation::add(
        &pool,
        &scope,
        &rule(
            r#"{"name": "vip", "trigger": "stage_changed", "condition": {"from": "New", "to": "Paid"},
                  "action": {"send_text": "Thanks!", "add_tag": "customer"}}"#,
        ),
    )
    .await
    .unwrap();
    pipeline::move_stage(&pool, &scope, ana, Stage::Paid).await.unwrap();
    settle(&pool).await;
    assert!(fake.requests().is_empty());
    let runs = all_runs(&pool, &scope).await;
    assert_eq!(runs[0].actions[0].status, "skipped");
    assert!(runs[0].actions[0].detail.as_deref().unwrap().contains("window is closed"));
    assert_eq!(runs[0].actions[1].status, "done");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_delayed_follow_up_is_cancelled_by_a_reply_and_fires_otherwise(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    wacrm_core::jobs::install(&pool).await.unwrap();
    let scope = tenant(&pool, "delay", "1000000008", &fake).await;
    let ana = contact(&pool, &scope, "+12025550108").await;
    let bob = contact(&pool, &scope, "+12025550109").await;
    automation::add(
        &pool,
        &scope,
        &rule(
            r#"{"name": "chase", "trigger": "message_received", "condition": {"contains": "price"},
                  "action": {"send_text": "Still interested?"}, "delay_minutes": 30}"#,
        ),
    )
    .await
    .unwrap();
    inbound(&pool, &scope, ana, "price?").await;
    inbound(&pool, &scope, bob, "price?").await;
    settle(&pool).await;
    inbound(&pool, &scope, ana, "never mind, thanks").await;
    settle(&pool).await;
    sqlx::query!(
        "UPDATE automation_pending SET due_at = now() - interval '1 minute' WHERE business_id = $1",
        scope.business().0
    )
    .execute(&pool)
    .await
    .unwrap();
    let tick = settle(&pool).await;
    assert_eq!(tick.delays, 1, "{tick:?}");
    let sent: Vec<String> = fake.requests().iter().filter_map(|r| r.to().map(str::to_string)).collect();
    assert_eq!(sent, ["12025550109"]);
    // Due again: nothing is left to fire.
    assert_eq!(settle(&pool).await.delays, 0);
}

/// Every armed wait has a wake-up job at the end of the second it falls due in, so it fires within about
/// a second of its time (one job per minute, moved to the minute's last wait, left the others late).
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn each_delay_wakes_the_runner_within_a_second_of_its_time(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    wacrm_core::jobs::install(&pool).await.unwrap();
    let scope = tenant(&pool, "wake", "1000000023", &fake).await;
    let chase = r#"{"name": "chase", "trigger": "message_received", "condition": {"contains": "price"},
                    "action": {"add_tag": "chased"}, "delay_minutes": 30}"#;
    automation::add(&pool, &scope, &rule(chase)).await.unwrap();
    for n in 0..3 {
        let customer = contact(&pool, &scope, &format!("+1202555014{n}")).await;
        inbound(&pool, &scope, customer, "price?").await;
        settle(&pool).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let due: Vec<chrono::DateTime<Utc>> =
        sqlx::query_scalar("SELECT due_at FROM automation_pending WHERE business_id = $1 ORDER BY due_at")
            .bind(scope.business().0)
            .fetch_all(&pool)
            .await
            .unwrap();
    let wake_ups: Vec<chrono::DateTime<Utc>> =
        sqlx::query_scalar("SELECT run_at FROM graphile_worker.jobs WHERE key LIKE 'automation:due:%' ORDER BY run_at")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(due.len(), 3);
    assert_eq!(wake_ups.len(), 3, "one wake-up per second with a wait: {wake_ups:?}");
    for (due, wake) in due.iter().zip(&wake_ups) {
        let after = *wake - *due;
        assert!(after > chrono::TimeDelta::zero() && after <= chrono::TimeDelta::seconds(1), "{due} woken at {wake}");
    }
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn importing_the_same_rules_again_changes_nothing(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "gitops", "1000000009", &fake).await;
    let file =
        format!("[{SEED_RULE}, {}]", r#"{"name": "vip", "trigger": "tag_added", "action": {"notify": "new vip"}}"#);
    let specs = RuleSpec::list_from_json(&file).unwrap();

    let dry = automation::import(&pool, &scope, &specs, true).await.unwrap();
    assert_eq!(dry.created, ["pricing", "vip"]);
    assert!(automation::list(&pool, &scope).await.unwrap().is_empty(), "a dry run changes nothing");

    let first = automation::import(&pool, &scope, &specs, false).await.unwrap();
    assert_eq!((first.created.len(), first.updated.len()), (2, 0));
    let again = automation::import(&pool, &scope, &specs, false).await.unwrap();
    assert_eq!((again.created.len(), again.updated.len(), again.unchanged.len()), (0, 0, 2));
    // What export prints imports as unchanged too.
    let exported = automation::export(&pool, &scope).await.unwrap();
    let round = automation::import(&pool, &scope, &exported, false).await.unwrap();
    assert_eq!(round.unchanged.len(), 2, "{round:?}");

    // One bad rule refuses the whole file, naming the rule.
    let mut bad = specs.clone();
    bad[1].action = serde_json::json!({"move_stage": "Won"});
    bad[0].priority = 5;
    let err = automation::import(&pool, &scope, &bad, false).await.unwrap_err().to_string();
    assert!(err.contains("rule [1]") && err.contains("$.action.move_stage"), "{err}");
    assert_eq!(automation::get(&pool, &scope, "pricing").await.unwrap().priority, 100);
}

/// A runner answers as the customer's message commits, not at the engine's next minute tick: nothing
/// here runs a pass by hand.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_runner_replies_as_the_message_commits(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "react", "1000000021", &fake).await;
    let ana = contact(&pool, &scope, "+12025550121").await;
    automation::add(&pool, &scope, &rule(SEED_RULE)).await.unwrap();
    let reacting = {
        let pool = pool.clone();
        tokio::spawn(async move { automation::react(&pool, &sender(), &automation::Options::default()).await })
    };
    // Whether the listener is up before or after this commit, the reply comes: announced, or found by
    // the first pass.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    inbound(&pool, &scope, ana, "What does it cost?").await;
    while fake.requests().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no reply within 20 s of the message");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fake.requests().len(), 1);
    assert_eq!(stage(&pool, &scope, ana).await, Stage::Interested);
    reacting.abort();
}

/// The reactor carries out each contact's actions in the order its rule lists them, while contacts
/// go at once: every customer gets "first" before "second".
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_runner_sends_each_contacts_actions_in_order(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "order", "1000000022", &fake).await;
    // No per-contact limit, or the second text would be refused as a second send within 24 h.
    let two = r#"{"name": "two texts", "trigger": "message_received", "condition": {"contains": "hello"},
                  "action": [{"send_text": "first"}, {"send_text": "second"}], "contact_limit_hours": 0}"#;
    automation::add(&pool, &scope, &rule(two)).await.unwrap();
    let mut customers = Vec::new();
    for n in 0..8 {
        let phone = format!("+1202555013{n}");
        customers.push((contact(&pool, &scope, &phone).await, phone));
    }
    let reacting = {
        let pool = pool.clone();
        tokio::spawn(async move { automation::react(&pool, &sender(), &automation::Options::default()).await })
    };
    for (contact, _) in &customers {
        inbound(&pool, &scope, *contact, "hello there").await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while fake.requests().len() < 2 * customers.len() {
        assert!(std::time::Instant::now() < deadline, "not every reply within 30 s: {:?}", fake.requests().len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    reacting.abort();
    let requests = fake.requests();
    assert_eq!(requests.len(), 2 * customers.len(), "each action sent once");
    for (_, phone) in &customers {
        let texts: Vec<&str> = requests
            .iter()
            .filter(|r| r.to() == Some(phone.trim_start_matches('+')))
            .filter_map(|r| r.body["text"]["body"].as_str())
            .collect();
        assert_eq!(texts, ["first", "second"], "{phone}");
    }
}

/// The minute tick's pass does not queue behind a reactor that is consuming: it leaves the events to
/// the consumer holding the position, and takes them itself once that one is done.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn the_tick_leaves_events_to_a_consumer_that_is_reading_them(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "turns", "1000000024", &fake).await;
    let ana = contact(&pool, &scope, "+12025550124").await;
    automation::add(&pool, &scope, &rule(SEED_RULE)).await.unwrap();
    // The consumer's position row exists once it has consumed an event.
    inbound(&pool, &scope, ana, "hello").await;
    settle(&pool).await;
    inbound(&pool, &scope, ana, "What does it cost?").await;
    // Another runner's consumer, mid-batch: it holds the position row.
    let mut reading = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM event_consumers WHERE name = 'automation' FOR UPDATE")
        .execute(&mut *reading)
        .await
        .unwrap();
    let tick = tokio::time::timeout(
        Duration::from_secs(10),
        automation::run_once(&pool, &sender(), &automation::Options::default()),
    )
    .await
    .expect("the tick does not wait for the other consumer")
    .unwrap();
    assert_eq!(tick.events, 0, "{tick:?}");
    reading.rollback().await.unwrap();
    let settled = settle(&pool).await;
    assert!(settled.events >= 1, "{settled:?}");
    assert_eq!(stage(&pool, &scope, ana).await, Stage::Interested);
}
