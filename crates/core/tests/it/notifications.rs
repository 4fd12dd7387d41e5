//! In-app notifications: one per dedupe key, visible to their user and the whole team only, announced
//! by an event, and another business's ids are "not found".

use sqlx::PgPool;
use wacrm_core::auth::Role;
use wacrm_core::events::Cause;
use wacrm_core::notifications::{self, NewNotification};
use wacrm_core::{Error, Scope, auth, business};

async fn tenant(pool: &PgPool, name: &str) -> Scope {
    let email = format!("{}@example.com", name.to_lowercase());
    let (b, _) = business::create(pool, name, &email, "US").await.unwrap();
    Scope::for_business(pool, b.id).await.unwrap()
}

fn alert(key: Option<&str>) -> NewNotification {
    NewNotification {
        user: None,
        source: "usage_alert",
        title: "80 % of this month's conversations used".into(),
        body: "800 of 1,000".into(),
        contact: None,
        dedupe_key: key.map(Into::into),
    }
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_notification_with_a_key_is_written_once_and_announced(pool: PgPool) {
    let scope = tenant(&pool, "Acme").await;
    let mut conn = pool.acquire().await.unwrap();
    let first =
        notifications::notify_on(&mut conn, scope.business(), &alert(Some("usage:2026-12:80")), Cause::default())
            .await
            .unwrap();
    let again =
        notifications::notify_on(&mut conn, scope.business(), &alert(Some("usage:2026-12:80")), Cause::default())
            .await
            .unwrap();
    assert!(first.is_some());
    assert_eq!(again, None, "the same key writes nothing the second time");
    let events: i64 = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM events WHERE business_id = $1 AND kind = 'notified'"#,
        scope.business().0
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(events, 1);
    let listed = notifications::list(&pool, &scope, true, 50).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].title, "80 % of this month's conversations used");
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_users_notification_is_theirs_and_another_business_cannot_touch_it(pool: PgPool) {
    let acme = tenant(&pool, "Acme").await;
    let other = tenant(&pool, "Other").await;
    let ana = auth::add_user(&pool, &acme, "Ana", "ana@acme.test", "correct horse battery", Role::Agent).await.unwrap();
    let bob = auth::add_user(&pool, &acme, "Bob", "bob@acme.test", "correct horse battery", Role::Agent).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let for_ana = NewNotification { user: Some(ana.id), ..alert(None) };
    let id = notifications::notify_on(&mut conn, acme.business(), &for_ana, Cause::default()).await.unwrap().unwrap();

    let as_ana = Scope::for_user(&pool, acme.business(), ana.id).await.unwrap();
    let as_bob = Scope::for_user(&pool, acme.business(), bob.id).await.unwrap();
    assert_eq!(notifications::list(&pool, &as_ana, false, 50).await.unwrap().len(), 1);
    assert!(notifications::list(&pool, &as_bob, false, 50).await.unwrap().is_empty());
    assert!(matches!(notifications::mark_read(&pool, &as_bob, Some(id)).await, Err(Error::NotFound { .. })));
    assert!(matches!(notifications::mark_read(&pool, &other, Some(id)).await, Err(Error::NotFound { .. })));
    assert_eq!(notifications::list(&pool, &as_ana, true, 50).await.unwrap().len(), 1, "still unread");

    assert_eq!(notifications::mark_read(&pool, &as_ana, Some(id)).await.unwrap(), 1);
    assert!(notifications::list(&pool, &as_ana, true, 50).await.unwrap().is_empty());
}
