//! The platform the dashboards build on: typed events with causes, durable consumers that see every
//! event in a commit-safe order, and the job queue (subscription renewals its first tasks).

use sqlx::{PgConnection, PgPool};
use wacrm_core::events::{self, ActorKind, Cause, Consumer, Event, Recorded};
use wacrm_core::{BusinessId, Scope, billing, business, contacts, db, jobs};

async fn tenant(pool: &PgPool, email: &str) -> Scope {
    let (b, _) = business::create(pool, "Test Co", email, "US").await.expect("create business");
    Scope::for_business(pool, b.id).await.expect("scope")
}

fn imported(n: u64) -> Event {
    Event::ContactsImported { created: n, updated: 0 }
}

/// Records every event it is handed.
struct Collect {
    name: String,
    seen: Vec<i64>,
}

impl Consumer for Collect {
    fn name(&self) -> &str {
        &self.name
    }

    async fn handle(&mut self, _conn: &mut PgConnection, event: &Recorded) -> wacrm_core::Result<()> {
        self.seen.push(event.id);
        Ok(())
    }
}

/// Hands `consumer` events until `done` holds: transactions of other tests running at the same time
/// hold the horizon back for a moment, as any open transaction of the cluster would.
async fn consume_until<C: Consumer>(pool: &PgPool, consumer: &mut C, done: impl Fn(&C) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done(consumer) {
        assert!(std::time::Instant::now() < deadline, "not handed over within 20 s");
        if events::consume(pool, consumer, 100).await.unwrap_or(0) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// An event whose transaction took its id first but commits last is still handed over: a consumer that
/// kept the highest id it had seen would skip it for ever.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_consumer_sees_an_event_whose_lower_id_commits_after_a_higher_one(pool: PgPool) {
    let scope = tenant(&pool, "order@example.com").await;
    let b = scope.business();
    let mut slow = pool.begin().await.unwrap();
    let low = events::emit(&mut slow, b, None, imported(1), Cause::default()).await.unwrap();
    let mut fast = pool.begin().await.unwrap();
    let high = events::emit(&mut fast, b, None, imported(2), Cause::default()).await.unwrap();
    assert!(low < high);
    fast.commit().await.unwrap();

    let mut consumer = Collect { name: "test.order".into(), seen: Vec::new() };
    // The slow transaction is still open: nothing at or after it is handed over yet.
    while events::consume(&pool, &mut consumer, 100).await.unwrap() > 0 {}
    assert!(!consumer.seen.contains(&high), "taken before an older transaction finished: {:?}", consumer.seen);
    slow.commit().await.unwrap();
    consume_until(&pool, &mut consumer, |c| c.seen.contains(&low) && c.seen.contains(&high)).await;
    assert_eq!(consumer.seen.iter().filter(|id| [low, high].contains(id)).count(), 2, "each once");

    // The position is durable: a new consumer of the same name starts after it.
    let mut again = Collect { name: "test.order".into(), seen: Vec::new() };
    assert_eq!(events::consume(&pool, &mut again, 100).await.unwrap(), 0);
    assert_eq!(events::position(&pool, "test.order").await.unwrap().event, *consumer.seen.last().unwrap());
}

/// A failing handler rolls its batch back: the events come again, nothing is skipped.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_failed_batch_is_handed_over_again(pool: PgPool) {
    struct FailOnce(bool, Vec<i64>);
    impl Consumer for FailOnce {
        fn name(&self) -> &str {
            "test.retry"
        }
        async fn handle(&mut self, _conn: &mut PgConnection, event: &Recorded) -> wacrm_core::Result<()> {
            if !self.0 {
                self.0 = true;
                return Err(wacrm_core::Error::internal("boom"));
            }
            self.1.push(event.id);
            Ok(())
        }
    }
    let scope = tenant(&pool, "retry@example.com").await;
    let mut tx = pool.begin().await.unwrap();
    let id = events::emit(&mut tx, scope.business(), None, imported(1), Cause::default()).await.unwrap();
    tx.commit().await.unwrap();
    let mut consumer = FailOnce(false, Vec::new());
    consume_until(&pool, &mut consumer, |c| c.1.contains(&id)).await;
    assert!(consumer.0, "the first attempt failed");
}

/// `events tail --since ID` resumes in the same order: an event of an older transaction that commits
/// after a newer one was printed is still printed by a tail restarted from the newer one.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_resumed_tail_misses_no_event_committed_out_of_id_order(pool: PgPool) {
    let scope = tenant(&pool, "tail@example.com").await;
    let b = scope.business();
    let start = events::after_now(&pool).await.unwrap();
    let mut slow = pool.begin().await.unwrap();
    let low = events::emit(&mut slow, b, None, imported(1), Cause::default()).await.unwrap();
    let mut fast = pool.begin().await.unwrap();
    let high = events::emit(&mut fast, b, None, imported(2), Cause::default()).await.unwrap();
    fast.commit().await.unwrap();
    let (printed, _) = events::after(&pool, &scope, start, 100).await.unwrap();
    assert!(printed.is_empty(), "held back while the older transaction is open: {printed:?}");
    slow.commit().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let printed = loop {
        let (printed, _) = events::after(&pool, &scope, start, 100).await.unwrap();
        if printed.len() == 2 || std::time::Instant::now() > deadline {
            break printed;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(printed.iter().map(|e| e.id).collect::<Vec<_>>(), vec![low, high]);
    // Resuming from the first printed one gives the rest.
    let from = events::position_of(&pool, &scope, low).await.unwrap();
    let (rest, _) = events::after(&pool, &scope, from, 100).await.unwrap();
    assert_eq!(rest.iter().map(|e| e.id).collect::<Vec<_>>(), vec![high]);
    // From an id that is not one of the business's events (0, another business's), every later
    // event of the business is read, and none of another business.
    let from_start = events::position_of(&pool, &scope, 0).await.unwrap();
    let (all, _) = events::after(&pool, &scope, from_start, 100).await.unwrap();
    assert!(all.iter().any(|e| e.id == low) && all.iter().any(|e| e.id == high));
    let other = tenant(&pool, "other@example.com").await;
    let from_theirs = events::position_of(&pool, &other, low).await.unwrap();
    let (theirs, _) = events::after(&pool, &other, from_theirs, 100).await.unwrap();
    assert!(theirs.iter().all(|e| e.business_id == other.business()), "{theirs:?}");
}

/// Events are typed: what core writes reads back as the same variant, with its cause and version.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn stored_events_read_back_typed_with_their_cause(pool: PgPool) {
    let scope = tenant(&pool, "typed@example.com").await;
    let contact = contacts::create(&pool, &scope, &new_contact()).await.unwrap();
    let stored = events::list_since(&pool, &scope, 0, 10).await.unwrap();
    let created = stored.iter().find(|e| e.kind == "contact_created").expect("contact_created");
    assert_eq!(created.contact_id, Some(contact.id));
    assert_eq!(created.event(), Some(Event::ContactCreated {}));
    assert_eq!(created.payload["v"], 1);
    assert_eq!(created.cause().actor, ActorKind::System);

    let rule = Cause::automation(7, &Cause::customer());
    assert_eq!((rule.actor, rule.rule_id, rule.depth), (ActorKind::Automation, Some(7), 1));
    assert_eq!(Cause::automation(8, &rule).depth, 2);
}

fn new_contact() -> contacts::NewContact {
    contacts::NewContact { phone: "+14155550100".into(), name: None, stage: None, tags: Vec::new() }
}

async fn due_subscription(pool: &PgPool, email: &str) -> (BusinessId, i32) {
    let scope = tenant(pool, email).await;
    let id: i32 = sqlx::query_scalar(
        "UPDATE subscriptions SET renews_at = now() - interval '1 minute'
         WHERE business_id = $1 AND status = 'active' RETURNING id",
    )
    .bind(scope.business().0)
    .fetch_one(pool)
    .await
    .unwrap();
    (scope.business(), id)
}

/// A renewal records its period once and moves the date on, however often its job runs; another
/// business's subscription id is not found and changes nothing.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_renewal_records_its_period_once(pool: PgPool) {
    db::migrate(&pool).await.unwrap();
    let (b, sub) = due_subscription(&pool, "renew@example.com").await;
    let (other, _) = due_subscription(&pool, "other@example.com").await;
    let sub_id = wacrm_core::SubscriptionId(sub);
    assert_eq!(billing::renew(&pool, other, sub_id).await.unwrap(), billing::Renewal::Inactive);
    let first = billing::renew(&pool, b, sub_id).await.unwrap();
    assert!(matches!(first, billing::Renewal::Renewed { .. }), "{first:?}");
    assert_eq!(billing::renew(&pool, b, sub_id).await.unwrap(), billing::Renewal::NotDue);
    let periods: i64 = sqlx::query_scalar("SELECT count(*) FROM subscription_periods WHERE subscription_id = $1")
        .bind(sub)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(periods, 1);
    // The next renewal is queued, once, for the new date.
    let queued = jobs::list(&pool, None, Some("billing.renew_subscription"), 100).await.unwrap();
    let prefix = format!("billing:renew:{sub}:");
    assert_eq!(queued.iter().filter(|j| j.key.as_deref().is_some_and(|k| k.starts_with(&prefix))).count(), 1);
}

/// A job added in a transaction that rolls back never exists; one added in a committed one does.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn jobs_are_added_in_the_callers_transaction(pool: PgPool) {
    db::migrate(&pool).await.unwrap();
    due_subscription(&pool, "tx@example.com").await;
    let mut tx = pool.begin().await.unwrap();
    let task = billing::RenewDueSubscriptions {};
    jobs::enqueue_on(&mut tx, &task, &jobs::Schedule::default()).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(jobs::list(&pool, None, None, 100).await.unwrap().is_empty());
    assert_eq!(billing::queue_due_renewals(&pool).await.unwrap(), 1);
    // Queued twice, kept once: the job key allows one live renewal per subscription.
    assert_eq!(billing::queue_due_renewals(&pool).await.unwrap(), 1);
    let listed = jobs::list(&pool, Some(jobs::JobState::Due), None, 100).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let cancelled = jobs::cancel(&pool, &[listed[0].id]).await.unwrap();
    assert_eq!(cancelled.len(), 1);
    assert!(jobs::list(&pool, None, None, 100).await.unwrap().is_empty());
    assert!(matches!(jobs::show(&pool, listed[0].id).await, Err(wacrm_core::Error::NotFound { .. })));
}
