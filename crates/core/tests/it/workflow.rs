//! The conversation workflow: snooze (derived at read time), resolve/reopen ending it, private notes and
//! canned replies, each scoped to its business.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use sqlx::PgPool;
use wacrm_core::auth::Role;
use wacrm_core::inbox::canned::{self, Shortcut};
use wacrm_core::inbox::conversations::{self, Filter, Resolution};
use wacrm_core::inbox::workflow::{self, SnoozeUntil};
use wacrm_core::inbox::{notes, panel};
use wacrm_core::{ContactId, Error, Scope, auth, business};

async fn tenant(pool: &PgPool, name: &str) -> Scope {
    let email = format!("{}@example.com", name.to_lowercase());
    let (b, _) = business::create(pool, name, &email, "US").await.unwrap();
    Scope::for_business(pool, b.id).await.unwrap()
}

/// A contact whose last customer message was at `at` (the inbox state ingest keeps on the contact).
async fn conversation(pool: &PgPool, scope: &Scope, phone: &str, at: DateTime<Utc>) -> ContactId {
    let id = sqlx::query_scalar!(
        r#"INSERT INTO contacts (business_id, phone, name, last_message_at, last_inbound_at, unread_count)
           VALUES ($1, $2, $2, $3, $3, 1) RETURNING id"#,
        scope.business().0,
        phone,
        at
    )
    .fetch_one(pool)
    .await
    .unwrap();
    ContactId(id)
}

async fn customer_writes(pool: &PgPool, scope: &Scope, contact: ContactId) {
    sqlx::query!(
        "UPDATE contacts SET last_inbound_at = NOW(), last_message_at = NOW() WHERE business_id = $1 AND id = $2",
        scope.business().0,
        contact.0
    )
    .execute(pool)
    .await
    .unwrap();
}

fn until(text: &str) -> SnoozeUntil {
    SnoozeUntil::parse(text, Utc::now(), FixedOffset::east_opt(0).unwrap()).unwrap()
}

async fn in_view(pool: &PgPool, scope: &Scope, resolution: Resolution) -> Vec<ContactId> {
    let filter = Filter { resolution: Some(resolution), ..Filter::default() };
    conversations::list(pool, scope, &filter, None, 50).await.unwrap().items.into_iter().map(|c| c.contact_id).collect()
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_snooze_ends_when_the_customer_writes_or_on_reopen(pool: PgPool) {
    let scope = tenant(&pool, "Snooze").await;
    let hour_ago = Utc::now() - Duration::hours(1);
    let a = conversation(&pool, &scope, "+12025553001", hour_ago).await;
    let b = conversation(&pool, &scope, "+12025553002", hour_ago - Duration::minutes(1)).await;

    let row = workflow::snooze(&pool, &scope, a, until("2h")).await.unwrap();
    assert!(row.snoozed_until.is_some_and(|t| t > Utc::now() + Duration::minutes(119)));
    assert_eq!(in_view(&pool, &scope, Resolution::Snoozed).await, vec![a]);
    assert_eq!(in_view(&pool, &scope, Resolution::Open).await, vec![b]);

    // The customer writes: open again, with nothing having to wake it up.
    customer_writes(&pool, &scope, a).await;
    assert!(conversations::get(&pool, &scope, a).await.unwrap().snoozed_until.is_none());
    assert_eq!(in_view(&pool, &scope, Resolution::Open).await, vec![a, b]);

    // Reopening ends a snooze too; resolving takes it out of both views.
    workflow::snooze(&pool, &scope, b, until("1d")).await.unwrap();
    conversations::reopen(&pool, &scope, b).await.unwrap();
    assert!(in_view(&pool, &scope, Resolution::Snoozed).await.is_empty());
    conversations::resolve(&pool, &scope, b).await.unwrap();
    assert_eq!(in_view(&pool, &scope, Resolution::Resolved).await, vec![b]);
    assert_eq!(in_view(&pool, &scope, Resolution::Open).await, vec![a]);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_snooze_whose_time_passed_reads_as_open(pool: PgPool) {
    let scope = tenant(&pool, "Due").await;
    let c = conversation(&pool, &scope, "+12025553003", Utc::now() - Duration::hours(3)).await;
    workflow::snooze(&pool, &scope, c, until("1h")).await.unwrap();
    // An hour later (moved back in time rather than waited for).
    sqlx::query!(
        "UPDATE contacts SET snoozed_until = NOW() - INTERVAL '1 minute', snoozed_at = NOW() - INTERVAL '61 minutes'
         WHERE business_id = $1 AND id = $2",
        scope.business().0,
        c.0
    )
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(in_view(&pool, &scope, Resolution::Open).await, vec![c]);
    assert!(in_view(&pool, &scope, Resolution::Snoozed).await.is_empty());
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn notes_are_kept_in_order_with_their_author(pool: PgPool) {
    let scope = tenant(&pool, "Notes").await;
    let agent = auth::add_user(&pool, &scope, "Nia Agent", "nia@notes.test", "password-1", Role::Agent).await.unwrap();
    let as_agent = Scope::for_user(&pool, scope.business(), agent.id).await.unwrap();
    let c = conversation(&pool, &scope, "+12025553004", Utc::now()).await;
    let first = notes::add(&pool, &as_agent, c, "  called them, no answer ").await.unwrap();
    assert_eq!((first.body.as_str(), first.author.as_deref()), ("called them, no answer", Some("Nia Agent")));
    notes::add(&pool, &scope, c, "refund approved").await.unwrap();
    let all = notes::list(&pool, &scope, c, 50).await.unwrap();
    assert_eq!(all.iter().map(|n| n.body.as_str()).collect::<Vec<_>>(), ["called them, no answer", "refund approved"]);
    assert_eq!(all[1].author, None, "the business acting as a whole has no author");
    let empty = notes::add(&pool, &scope, c, "   ").await.unwrap_err();
    assert!(matches!(empty, Error::Invalid { .. }), "{empty}");
    // No message row: a note is never sent.
    let messages: i64 =
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM messages WHERE business_id = $1"#, scope.business().0)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(messages, 0);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn canned_replies_add_list_replace_and_remove(pool: PgPool) {
    let scope = tenant(&pool, "Canned").await;
    let shipping: Shortcut = "/Shipping".parse().unwrap();
    let saved = canned::add(&pool, &scope, &shipping, "Hi {{name}}, it ships in {{days}} days.", false).await.unwrap();
    assert_eq!(saved.fields, ["name", "days"]);
    let again = canned::add(&pool, &scope, &shipping, "other", false).await.unwrap_err();
    assert!(matches!(again, Error::Conflict { .. }), "{again}");
    canned::add(&pool, &scope, &shipping, "Ships today.", true).await.unwrap();
    canned::add(&pool, &scope, &"hours".parse().unwrap(), "9-17", false).await.unwrap();
    let all = canned::list(&pool, &scope).await.unwrap();
    assert_eq!(
        all.iter().map(|c| (c.shortcut.as_str(), c.body.as_str())).collect::<Vec<_>>(),
        [("hours", "9-17"), ("shipping", "Ships today.")]
    );
    canned::remove(&pool, &scope, &shipping).await.unwrap();
    assert!(matches!(canned::remove(&pool, &scope, &shipping).await, Err(Error::NotFound { .. })));
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn another_business_cannot_snooze_note_or_read_canned_replies(pool: PgPool) {
    let ours = tenant(&pool, "Ours").await;
    let theirs = tenant(&pool, "Theirs").await;
    let their_contact = conversation(&pool, &theirs, "+12025553005", Utc::now()).await;
    notes::add(&pool, &theirs, their_contact, "private").await.unwrap();
    canned::add(&pool, &theirs, &"secret".parse().unwrap(), "theirs", false).await.unwrap();

    assert!(matches!(workflow::snooze(&pool, &ours, their_contact, until("1h")).await, Err(Error::NotFound { .. })));
    assert!(matches!(notes::add(&pool, &ours, their_contact, "x").await, Err(Error::NotFound { .. })));
    assert!(matches!(notes::list(&pool, &ours, their_contact, 10).await, Err(Error::NotFound { .. })));
    assert!(canned::list(&pool, &ours).await.unwrap().is_empty());
    let secret: Shortcut = "secret".parse().unwrap();
    assert!(matches!(canned::remove(&pool, &ours, &secret).await, Err(Error::NotFound { .. })));
    assert_eq!(canned::list(&pool, &theirs).await.unwrap().len(), 1);
    assert!(conversations::get(&pool, &theirs, their_contact).await.unwrap().snoozed_until.is_none());
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn the_contact_panel_counts_notes_and_stays_in_its_business(pool: PgPool) {
    let ours = tenant(&pool, "Panel").await;
    let theirs = tenant(&pool, "Other").await;
    let c = conversation(&pool, &ours, "+12025553006", Utc::now()).await;
    wacrm_core::contacts::add_tags(&pool, &ours, c, &["vip".to_string(), "Lisbon".to_string()]).await.unwrap();
    notes::add(&pool, &ours, c, "one").await.unwrap();
    notes::add(&pool, &ours, c, "two").await.unwrap();
    let panel = panel::contact_panel(&pool, &ours, c).await.unwrap();
    assert_eq!((panel.notes, panel.tags.clone()), (2, vec!["Lisbon".to_string(), "vip".to_string()]));
    assert_eq!((panel.opted_out_at, panel.last_campaign), (None, None));
    assert!(matches!(panel::contact_panel(&pool, &theirs, c).await, Err(Error::NotFound { .. })));
}
