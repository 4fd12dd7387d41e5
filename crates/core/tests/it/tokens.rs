//! Access tokens at rest: tokens stored before a key was configured are sealed by the data migration,
//! open again with the key, and say clearly when the key is missing or another one.

use secrecy::ExposeSecret;
use sqlx::PgPool;
use wacrm_core::business::{self, NewAccount};
use wacrm_core::secrets::{self, TokenKey};
use wacrm_core::{AccountId, BusinessId, Scope};

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn stored_tokens_are_sealed_by_the_migration_and_open_only_with_the_key(pool: PgPool) {
    let (b, _) = business::create(&pool, "Acme", "owner@acme.test", "US").await.unwrap();
    let scope = Scope::for_business(&pool, b.id).await.unwrap();
    let new = NewAccount {
        phone: "+15550281234".into(),
        phone_number_id: "106540352242922".into(),
        token: "EAAG-plain-token".into(),
        ..Default::default()
    };
    let account = business::add_account(&pool, &scope, &new).await.unwrap();
    let stored = || async {
        sqlx::query_scalar::<_, String>("SELECT api_token FROM whatsapp_accounts WHERE id = $1")
            .bind(account.id.0)
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(stored().await, "EAAG-plain-token", "no key configured: stored as given");

    let key = TokenKey::parse(&"5a".repeat(32)).unwrap();
    assert_eq!(secrets::seal_stored_tokens(&pool, &key).await.unwrap(), 1);
    assert_eq!(secrets::seal_stored_tokens(&pool, &key).await.unwrap(), 0, "sealed once");
    let sealed = stored().await;
    assert!(sealed.starts_with("enc:v1:") && !sealed.contains("plain-token"), "{sealed}");
    let opened = secrets::open(Some(&key), b.id, account.id, &sealed).unwrap();
    assert_eq!(opened.expose_secret(), "EAAG-plain-token");

    let other = TokenKey::parse(&"a5".repeat(32)).unwrap();
    let wrong = secrets::open(Some(&other), b.id, account.id, &sealed).unwrap_err();
    assert!(wrong.to_string().contains("does not open with the configured token key"), "{wrong}");
    let missing = secrets::open(None, b.id, account.id, &sealed).unwrap_err();
    assert!(missing.to_string().contains("no token key is configured"), "{missing}");
    assert!(secrets::open(Some(&key), BusinessId(b.id.0 + 1), AccountId(account.id.0), &sealed).is_err());
}
