//! Billing (issue 23): plans managed by the operator, the free trial once per owner e-mail and per WABA,
//! the subscription lifecycle at `renews_at` with a controlled clock, upgrade and downgrade timing,
//! cancellation, the operator's payments, status and the cron check, usage alerts once per month, and
//! the send gate exact under concurrent senders of every kind.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use wacrm_core::billing::{self, Change, Level, PlanChanges, Renewal};
use wacrm_core::{BusinessId, ContactId, Error, Role, Scope, SubscriptionStatus, auth, business, db};

mod gate;

async fn tenant(pool: &PgPool, email: &str) -> Scope {
    db::migrate(pool).await.unwrap();
    let (b, _) = business::create(pool, "Billed Co", email, "US").await.expect("create business");
    Scope::for_business(pool, b.id).await.expect("scope")
}

async fn live(pool: &PgPool, scope: &Scope) -> billing::Subscription {
    billing::subscription(pool, scope).await.unwrap().expect("a subscription")
}

fn renews_at(s: &billing::Subscription) -> DateTime<Utc> {
    s.renews_at.expect("a renewal date")
}

fn plan(name: &str, limit: i32, price: i64) -> PlanChanges {
    PlanChanges {
        name: Some(name.into()),
        conversation_limit: Some(limit),
        price: Some(Decimal::from(price)),
        ..PlanChanges::default()
    }
}

/// Runs the lifecycle step due at `at`.
async fn step(pool: &PgPool, scope: &Scope, at: DateTime<Utc>) -> Renewal {
    let s = live(pool, scope).await;
    billing::renew_at(pool, scope.business(), s.id, at).await.unwrap()
}

async fn can_send(pool: &PgPool, scope: &Scope, at: DateTime<Utc>) -> bool {
    billing::status_at(pool, scope, at).await.unwrap().can_send
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn operator_plans_and_a_trial_once_per_email_and_per_waba(pool: PgPool) {
    // Without a trial plan, a new business starts active on the default.
    let plain = tenant(&pool, "plain@example.com").await;
    let s = live(&pool, &plain).await;
    assert_eq!((s.plan.as_str(), s.status), (billing::DEFAULT_PLAN, SubscriptionStatus::Active));

    let pro = billing::create_plan(
        &pool,
        &PlanChanges { trial_days: Some(14), is_default: Some(true), ..plan("Pro", 5000, 49) },
    )
    .await
    .unwrap();
    assert!(pro.is_default && pro.trial_days == 14);
    let plans = billing::list_plans(&pool).await.unwrap();
    assert_eq!(plans.iter().filter(|p| p.is_default).map(|p| p.name.as_str()).collect::<Vec<_>>(), ["Pro"]);
    let bad = billing::create_plan(&pool, &plan("Broken", 0, 5)).await.unwrap_err();
    assert!(matches!(bad, Error::Invalid { .. }), "{bad:?}");
    let dup = billing::create_plan(&pool, &plan("pro", 10, 5)).await;
    assert!(dup.is_err(), "plan names are unique whatever their case");
    let updated = billing::update_plan(
        &pool,
        "starter",
        &PlanChanges { conversation_limit: Some(2500), ..PlanChanges::default() },
    )
    .await
    .unwrap();
    assert_eq!((updated.name.as_str(), updated.conversation_limit), ("Starter", 2500));

    let first = tenant(&pool, "Trial@Example.com").await;
    let s = live(&pool, &first).await;
    assert_eq!((s.plan.as_str(), s.status), ("Pro", SubscriptionStatus::Trialing));
    let days = (renews_at(&s) - Utc::now()).num_hours();
    assert!((14 * 24 - 1..=14 * 24).contains(&days), "{days} hours");
    // The same owner e-mail signs up again (after deleting the first business): no second trial.
    business::add_account(&pool, &first, &account("1000000001", "555000111")).await.unwrap();
    sqlx::query("DELETE FROM businesses WHERE id = $1").bind(first.business().0).execute(&pool).await.unwrap();
    let again = tenant(&pool, "trial@example.com").await;
    assert_eq!(live(&pool, &again).await.status, SubscriptionStatus::Active);
    // Another e-mail gets a trial, which ends as soon as it connects the WABA that had one.
    let other = tenant(&pool, "fresh@example.com").await;
    assert_eq!(live(&pool, &other).await.status, SubscriptionStatus::Trialing);
    business::add_account(&pool, &other, &account("1000000002", "555000111")).await.unwrap();
    let ended = live(&pool, &other).await;
    assert_eq!(ended.status, SubscriptionStatus::PastDue, "Pro costs 49 and nothing is paid: {ended:?}");
    // A WABA of its own keeps a trial running.
    let third = tenant(&pool, "third@example.com").await;
    business::add_account(&pool, &third, &account("1000000003", "555000333")).await.unwrap();
    assert_eq!(live(&pool, &third).await.status, SubscriptionStatus::Trialing);
}

fn account(phone_number_id: &str, waba: &str) -> business::NewAccount {
    business::NewAccount {
        phone: format!("+1202555{}", &phone_number_id[phone_number_id.len() - 4..]),
        phone_number_id: phone_number_id.into(),
        waba_id: Some(waba.into()),
        token: "test-access-token".into(),
        api_base_url: None,
        api_version: None,
    }
}

/// A paid period ends unpaid: past due (still sending) for the grace period, then expired (blocked, with
/// the way out), and a recorded payment brings it back. Each step is taken with the clock given.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn an_unpaid_period_falls_past_due_then_expires_and_a_payment_restores_it(pool: PgPool) {
    let scope = tenant(&pool, "unpaid@example.com").await;
    let s = billing::change_plan(&pool, &scope, "Starter", Some(Change::Upgrade)).await.unwrap();
    assert_eq!((s.plan.as_str(), s.status), ("Starter", SubscriptionStatus::Active));
    let end = renews_at(&s);

    assert_eq!(step(&pool, &scope, end - Duration::minutes(1)).await, Renewal::NotDue);
    let grace_until = end + Duration::days(billing::GRACE_DAYS);
    assert_eq!(step(&pool, &scope, end).await, Renewal::PastDue { grace_until });
    assert_eq!(live(&pool, &scope).await.status, SubscriptionStatus::PastDue);
    assert!(can_send(&pool, &scope, end + Duration::days(1)).await, "past due still sends in the grace period");
    assert_eq!(step(&pool, &scope, grace_until - Duration::seconds(1)).await, Renewal::NotDue);
    // The sweep finds it due only once the grace period is over.
    assert_eq!(billing::queue_due_renewals_at(&pool, grace_until - Duration::seconds(1)).await.unwrap(), 0);
    assert_eq!(billing::queue_due_renewals_at(&pool, grace_until).await.unwrap(), 1);
    assert_eq!(step(&pool, &scope, grace_until).await, Renewal::Expired);

    let status = billing::status_at(&pool, &scope, grace_until).await.unwrap();
    assert_eq!(status.status, SubscriptionStatus::Expired);
    assert!(!status.can_send);
    let blocked = status.blocked.unwrap();
    assert!(blocked.contains("expired") && blocked.contains("mark-paid"), "{blocked}");
    // Expired: a step finds nothing live; a business cannot restart a paid plan by itself.
    assert_eq!(step(&pool, &scope, grace_until + Duration::days(1)).await, Renewal::Inactive);
    let refused = billing::subscribe(&pool, &scope, "Starter").await.unwrap_err();
    assert!(matches!(refused, Error::LimitReached { .. }), "{refused:?}");

    // The operator records two periods: the subscription restarts on Starter, one period kept ahead.
    let now = Utc::now();
    let paid = billing::mark_paid(&pool, &scope, 2, now).await.unwrap();
    assert_eq!((paid.plan.as_str(), paid.status, paid.prepaid_periods), ("Starter", SubscriptionStatus::Active, 1));
    assert!(can_send(&pool, &scope, now).await);
    // The period paid ahead renews it at the end; the next end falls past due again.
    let end = renews_at(&paid);
    assert!(matches!(step(&pool, &scope, end).await, Renewal::Renewed { starts_at, .. } if starts_at == end));
    assert_eq!(live(&pool, &scope).await.prepaid_periods, 0);
    let next = renews_at(&live(&pool, &scope).await);
    assert!(matches!(step(&pool, &scope, next).await, Renewal::PastDue { .. }));
    // A payment while past due starts the next period at once, from where the last one ended.
    let back = billing::mark_paid(&pool, &scope, 1, next + Duration::days(2)).await.unwrap();
    assert_eq!(
        (back.status, renews_at(&back)),
        (SubscriptionStatus::Active, next + Duration::days(billing::PERIOD_DAYS))
    );
    let periods: i64 = sqlx::query_scalar("SELECT count(*) FROM subscription_periods WHERE business_id = $1")
        .bind(scope.business().0)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(periods, 3, "the restart, the prepaid renewal and the late payment");
}

/// A free plan renews by itself; a trial of a paid plan ends past due unless paid ahead.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn free_plans_renew_and_a_paid_trial_needs_a_payment(pool: PgPool) {
    let free = tenant(&pool, "free@example.com").await;
    let end = renews_at(&live(&pool, &free).await);
    assert!(matches!(step(&pool, &free, end).await, Renewal::Renewed { .. }));
    assert_eq!(renews_at(&live(&pool, &free).await), end + Duration::days(billing::PERIOD_DAYS));

    billing::update_plan(
        &pool,
        "Growth",
        &PlanChanges { is_default: Some(true), trial_days: Some(10), ..PlanChanges::default() },
    )
    .await
    .unwrap();
    let trying = tenant(&pool, "trying@example.com").await;
    let paying = tenant(&pool, "paying@example.com").await;
    billing::mark_paid(&pool, &paying, 1, Utc::now()).await.unwrap();
    for (scope, expected) in [(&trying, SubscriptionStatus::PastDue), (&paying, SubscriptionStatus::Active)] {
        let trial = live(&pool, scope).await;
        assert_eq!(trial.status, SubscriptionStatus::Trialing);
        step(&pool, scope, renews_at(&trial)).await;
        assert_eq!(live(&pool, scope).await.status, expected);
    }
}

/// An upgrade applies at once; a downgrade and a cancellation at the period's end.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn upgrades_apply_at_once_downgrades_and_cancellations_at_the_period_end(pool: PgPool) {
    let scope = tenant(&pool, "moves@example.com").await;
    let up = billing::change_plan(&pool, &scope, "Growth", Some(Change::Upgrade)).await.unwrap();
    assert_eq!((up.plan.as_str(), up.conversation_limit), ("Growth", 20_000));
    let wrong = billing::change_plan(&pool, &scope, "Free", Some(Change::Upgrade)).await.unwrap_err();
    assert!(matches!(wrong, Error::Invalid { .. }), "{wrong:?}");

    let down = billing::change_plan(&pool, &scope, "Starter", Some(Change::Downgrade)).await.unwrap();
    assert_eq!((down.plan.as_str(), down.next_plan.as_deref()), ("Growth", Some("Starter")));
    let end = renews_at(&down);
    assert_eq!(billing::status_at(&pool, &scope, end - Duration::hours(1)).await.unwrap().conversation_limit, 20_000);
    billing::mark_paid(&pool, &scope, 1, Utc::now()).await.unwrap();
    assert!(matches!(step(&pool, &scope, end).await, Renewal::Renewed { .. }));
    let after = live(&pool, &scope).await;
    assert_eq!((after.plan.as_str(), after.next_plan.as_deref()), ("Starter", None));

    let cancelled = billing::cancel(&pool, &scope, false).await.unwrap();
    assert!(cancelled.cancel_at_period_end && cancelled.status == SubscriptionStatus::Active);
    let end = renews_at(&cancelled);
    assert!(can_send(&pool, &scope, end - Duration::minutes(1)).await);
    // Sending stops at the period's end even before the job has run.
    assert!(!can_send(&pool, &scope, end).await);
    assert_eq!(step(&pool, &scope, end).await, Renewal::Cancelled);
    assert_eq!(live(&pool, &scope).await.status, SubscriptionStatus::Cancelled);
    // The way out for the business itself: a free plan.
    let restarted = billing::subscribe(&pool, &scope, "free").await.unwrap();
    assert_eq!((restarted.plan.as_str(), restarted.status), ("Free", SubscriptionStatus::Active));
}

/// Payments and manual renewals are the operator's: a user of the business, even its owner, is refused.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn payments_are_recorded_by_the_operator_only(pool: PgPool) {
    let scope = tenant(&pool, "owner@example.com").await;
    let owner =
        auth::add_user(&pool, &scope, "Olga Owner", "olga@example.com", "password-1", Role::Owner).await.unwrap();
    let as_owner = Scope::for_user(&pool, scope.business(), owner.id).await.unwrap();
    let refused = billing::mark_paid(&pool, &as_owner, 1, Utc::now()).await.unwrap_err();
    assert!(matches!(refused, Error::Forbidden { .. }), "{refused:?}");
    assert!(matches!(billing::renew_now(&pool, &as_owner, Utc::now()).await, Err(Error::Forbidden { .. })));
    // The owner may change the plan; an agent may not see billing at all.
    billing::change_plan(&pool, &as_owner, "Starter", None).await.unwrap();
    let agent = auth::add_user(&pool, &scope, "Ben Agent", "ben@example.com", "password-1", Role::Agent).await.unwrap();
    let as_agent = Scope::for_user(&pool, scope.business(), agent.id).await.unwrap();
    assert!(matches!(billing::status(&pool, &as_agent).await, Err(Error::Forbidden { .. })));
    let (renewed, _) = billing::renew_now(&pool, &scope, Utc::now()).await.unwrap();
    assert_eq!(renewed.status, SubscriptionStatus::Active);
}

async fn usage(pool: &PgPool, business: BusinessId, n: i32, at: DateTime<Utc>) {
    sqlx::query(
        "INSERT INTO usage_logs (business_id, conversation_id, cost, timestamp)
         SELECT $1, gen_random_uuid()::text, 0.05, $3 FROM generate_series(1, $2)",
    )
    .bind(business.0)
    .bind(n)
    .bind(at)
    .execute(pool)
    .await
    .unwrap();
}

/// Status against a hand-computed dataset (another business's usage and last month's not counted this
/// month), and the cron check's three levels.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn status_counts_this_month_and_the_check_warns_then_fails(pool: PgPool) {
    let scope = tenant(&pool, "status@example.com").await;
    let other = tenant(&pool, "other@example.com").await;
    let now = Utc::now();
    let last_month = now - Duration::days(40);
    usage(&pool, scope.business(), 150, now).await;
    usage(&pool, scope.business(), 30, last_month).await;
    usage(&pool, other.business(), 99, now).await;
    let s = billing::status_at(&pool, &scope, now).await.unwrap();
    assert_eq!((s.plan.as_str(), s.conversations_used, s.conversation_limit), ("Free", 150, 250));
    assert_eq!(s.used_percent, 60.0);
    assert_eq!(s.meta_cost_this_month, Decimal::new(750, 2));
    assert_eq!(s.total_spend, Decimal::new(900, 2));
    assert_eq!(s.days_until_renewal, Some(30));
    assert!(s.can_send);

    let level = |s: &billing::Status| billing::check(s, 80.0, 95.0).unwrap().level;
    assert_eq!(level(&s), Level::Ok);
    usage(&pool, scope.business(), 55, now).await;
    let s = billing::status_at(&pool, &scope, now).await.unwrap();
    assert_eq!((s.conversations_used, level(&s)), (205, Level::Warn));
    usage(&pool, scope.business(), 35, now).await;
    let s = billing::status_at(&pool, &scope, now).await.unwrap();
    assert_eq!((s.conversations_used, level(&s)), (240, Level::Fail));
    assert!(matches!(billing::check(&s, 95.0, 80.0), Err(Error::Invalid { .. })));
    // Blocked sends fail the check whatever the usage.
    billing::cancel(&pool, &other, false).await.unwrap();
    let end = renews_at(&live(&pool, &other).await);
    let s = billing::status_at(&pool, &other, end).await.unwrap();
    assert_eq!(level(&s), Level::Fail);
    assert!(billing::check(&s, 80.0, 95.0).unwrap().reason.contains("cancelled"));
}

/// The gate notifies the team at 80, 90 and 100 % of the month's conversations, once each.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn usage_alerts_are_raised_once_each_per_month(pool: PgPool) {
    let scope = tenant(&pool, "alerts@example.com").await;
    billing::update_plan(&pool, "Free", &PlanChanges { conversation_limit: Some(10), ..PlanChanges::default() })
        .await
        .unwrap();
    let b = scope.business();
    let now = Utc::now();
    usage(&pool, b, 7, now).await;
    let mut alerts = Vec::new();
    for i in 0..5 {
        let contact: i32 = sqlx::query_scalar("INSERT INTO contacts (business_id, phone) VALUES ($1, $2) RETURNING id")
            .bind(b.0)
            .bind(format!("+1202555{i:04}"))
            .fetch_one(&pool)
            .await
            .unwrap();
        let mut tx = pool.begin().await.unwrap();
        let gate = billing::gate_send(&mut tx, b, ContactId(contact), now, Decimal::new(5, 2)).await;
        tx.commit().await.unwrap();
        let titles: Vec<String> = sqlx::query_scalar(
            "SELECT title FROM notifications WHERE business_id = $1 AND source = 'usage_alert' ORDER BY id",
        )
        .bind(b.0)
        .fetch_all(&pool)
        .await
        .unwrap();
        alerts.push((gate.is_ok(), titles.len()));
    }
    // 8, 9 and 10 of 10 conversations: one alert each; the 11th is refused and alerts nothing new.
    assert_eq!(alerts, [(true, 1), (true, 2), (true, 3), (false, 3), (false, 3)]);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE business_id = $1 AND kind = 'notified'")
        .bind(b.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(events, 3);
}
