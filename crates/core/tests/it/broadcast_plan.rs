//! `broadcast plan` against hand-computed figures: Meta's cost by market from the price table, the
//! plan's conversations left against those the campaign opens, and the messaging limit against the
//! recipients outside their customer-service window.

use rust_decimal::Decimal;
use sqlx::PgPool;
use wacrm_core::broadcast::{self, MarketPrice, PriceTable};
use wacrm_core::business::{self, AccountChanges, MessagingTier};
use wacrm_core::whatsapp::fake::FakeGraph;
use wacrm_core::{ContactId, Scope, db};

use crate::broadcast::{campaign, contact, tenant};

async fn wrote_in(pool: &PgPool, contact: ContactId, hours_ago: i32) {
    sqlx::query("UPDATE contacts SET last_inbound_at = NOW() - make_interval(hours => $2) WHERE id = $1")
        .bind(contact.0)
        .bind(hours_ago)
        .execute(pool)
        .await
        .unwrap();
}

async fn message(pool: &PgPool, scope: &Scope, contact: ContactId, direction: &str, kind: &str, hours_ago: i32) {
    sqlx::query(
        "INSERT INTO messages (business_id, contact_id, direction, content, status, kind, sent_at)
         VALUES ($1, $2, $3::message_direction, 'x', 'sent', $4, NOW() - make_interval(hours => $5))",
    )
    .bind(scope.business().0)
    .bind(contact.0)
    .bind(direction)
    .bind(kind)
    .bind(hours_ago)
    .execute(pool)
    .await
    .unwrap();
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_plan_prices_by_market_and_checks_the_plan_and_the_messaging_limit(pool: PgPool) {
    db::migrate(&pool).await.unwrap();
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Planner", "1000000021", &fake).await;
    // Reachable: two UK numbers (one wrote an hour ago, so its window is open) and one Brazilian, who
    // was sent a template two hours ago outside any window.
    contact(&pool, &scope, Some("+447946000001"), "Ann", Some("vip")).await;
    let uk_open = contact(&pool, &scope, Some("+447946000002"), "Ben", Some("vip")).await;
    let brazil = contact(&pool, &scope, Some("+5511987654321"), "Caio", Some("vip")).await;
    wrote_in(&pool, uk_open, 1).await;
    message(&pool, &scope, uk_open, "in", "text", 1).await;
    message(&pool, &scope, brazil, "out", "template", 2).await;
    // Left out: a US number (a marketing template) and an opted-out contact.
    contact(&pool, &scope, Some("+14155550001"), "Dan", Some("vip")).await;
    let out = contact(&pool, &scope, Some("+447946000003"), "Eve", Some("vip")).await;
    sqlx::query("UPDATE contacts SET opted_out_at = NOW() WHERE id = $1").bind(out.0).execute(&pool).await.unwrap();
    // Not in the audience: one customer sent a template outside their window (counts against the
    // limit), and one inside it (does not).
    let other = contact(&pool, &scope, Some("+447946000004"), "Fay", None).await;
    message(&pool, &scope, other, "out", "template", 3).await;
    let replied = contact(&pool, &scope, Some("+447946000005"), "Gus", None).await;
    message(&pool, &scope, replied, "in", "text", 4).await;
    message(&pool, &scope, replied, "out", "template", 3).await;
    // Ben's open conversation window (the billing unit) from his message.
    sqlx::query(
        "INSERT INTO usage_logs (business_id, conversation_id, cost, contact_id, timestamp)
         VALUES ($1, 'ben', 0.05, $2, NOW() - INTERVAL '1 hour')",
    )
    .bind(scope.business().0)
    .bind(uk_open.0)
    .execute(&pool)
    .await
    .unwrap();
    let accounts = business::list_accounts(&pool, &scope).await.unwrap();
    let tier = AccountChanges { messaging_limit_tier: Some(MessagingTier::Tier250), ..AccountChanges::default() };
    business::edit_account(&pool, &scope, accounts[0].id, &tier).await.unwrap();
    let id = campaign(&pool, &scope).await;

    // The UK at a negotiated 0.0400 over the shipped table; Brazil at the shipped 0.0625.
    let uk = MarketPrice {
        market: "UK".into(),
        marketing: Decimal::new(400, 4),
        utility: Decimal::new(100, 4),
        authentication: Decimal::new(200, 4),
    };
    let prices = PriceTable::with(&[("44".to_string(), uk)].into()).unwrap();
    let plan = broadcast::plan(&pool, &scope, id, &prices).await.unwrap();
    let audience = &plan.audience;
    assert_eq!((audience.matched, audience.reachable, audience.opted_out, audience.us_marketing), (5, 3, 1, 1));

    // Marketing is charged inside the window too: 2 × 0.0400 + 0.0625.
    assert_eq!(plan.cost.total, Decimal::new(1425, 4));
    assert_eq!(plan.cost.free, 0);
    let by_market: Vec<_> = plan.cost.markets.iter().map(|m| (m.calling_code.as_deref(), m.charged, m.cost)).collect();
    assert_eq!(by_market, [(Some("44"), 2, Decimal::new(800, 4)), (Some("55"), 1, Decimal::new(625, 4))]);

    // Ann and Caio would open a window; Ben's is open. One window is used this month.
    let billing = plan.billing.clone().unwrap();
    assert_eq!((billing.used_this_month, billing.would_open), (1, 2));
    assert_eq!(billing.left, i64::from(billing.conversation_limit) - 1);

    // Caio and Fay were reached outside a window in the last 24 h; of the recipients only Ann needs more.
    let limit = &plan.messaging_limit;
    assert_eq!((limit.tier, limit.limit), (Some(MessagingTier::Tier250), Some(250)));
    assert_eq!((limit.used_last_24h, limit.needed, limit.left), (2, 1, Some(248)));
    assert_eq!(limit.fits(), Some(true));

    // A plan changes nothing.
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM campaigns WHERE id = $1").bind(id.0).fetch_one(&pool).await.unwrap();
    assert_eq!(status.as_deref(), Some("draft"));
    assert!(fake.requests().is_empty());
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn another_business_campaign_cannot_be_planned(pool: PgPool) {
    db::migrate(&pool).await.unwrap();
    let fake = FakeGraph::start().await.unwrap();
    let owner = tenant(&pool, "Owner", "1000000022", &fake).await;
    let other = tenant(&pool, "Other", "1000000023", &fake).await;
    let id = campaign(&pool, &owner).await;
    let prices = PriceTable::with(&Default::default()).unwrap();
    let refused = broadcast::plan(&pool, &other, id, &prices).await.unwrap_err();
    assert!(matches!(refused, wacrm_core::Error::NotFound { .. }), "{refused:?}");
}
