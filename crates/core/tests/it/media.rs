//! Received media downloaded on demand through the (fake) Graph API's two-step media endpoint.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;
use wacrm_core::inbox::media;
use wacrm_core::whatsapp::client::{GraphClient, RetryPolicy};
use wacrm_core::whatsapp::fake::FakeGraph;
use wacrm_core::{Error, MessageId, Scope};

use crate::inbox::tenant;

fn graph() -> GraphClient {
    let retry = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
    };
    // The account's own base URL (the fake) must be used, never this default.
    GraphClient::new("http://127.0.0.1:9", "v23.0", retry)
}

fn cache_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wacrm-media-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// An inbound message as ingest stores it: a placeholder text and the media reference.
async fn received(pool: &PgPool, scope: &Scope, kind: &str, media: Option<serde_json::Value>) -> MessageId {
    let b = scope.business().0;
    let contact = sqlx::query_scalar!(
        "INSERT INTO contacts (business_id, phone, wa_id, name) VALUES ($1, '+12025550777', '12025550777', 'Pat')
         ON CONFLICT (business_id, phone) DO UPDATE SET name = EXCLUDED.name RETURNING id",
        b
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let id = sqlx::query_scalar!(
        r#"INSERT INTO messages (business_id, contact_id, direction, content, status, sent_at, wamid, kind, media,
                                 whatsapp_account_id)
           VALUES ($1, $2, 'in', '[' || $3 || ']', 'delivered', NOW(), 'wamid.in.' || gen_random_uuid(), $3, $4,
                   (SELECT id FROM whatsapp_accounts WHERE business_id = $1 LIMIT 1))
           RETURNING id"#,
        b,
        contact,
        kind,
        media
    )
    .fetch_one(pool)
    .await
    .unwrap();
    MessageId(id)
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn media_is_fetched_once_with_the_token_then_served_from_the_cache(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Media", "1000000071", &fake).await;
    let photo = b"\xff\xd8\xff\xe0 a small jpeg";
    fake.add_media("778899", "image/jpeg", photo);
    let message = received(&pool, &scope, "image", Some(json!({"id": "778899", "mime_type": "image/jpeg"}))).await;
    let dir = cache_dir("fetch");

    let first = media::download(&pool, &scope, &graph(), message, &dir).await.unwrap();
    assert!(first.fetched);
    assert_eq!(first.kind, "image");
    assert_eq!(first.mime_type.as_deref(), Some("image/jpeg"));
    assert!(first.path.starts_with(&dir), "{}", first.path.display());
    assert!(first.path.to_string_lossy().ends_with(&format!("{}-image.jpg", message.0)));
    assert_eq!(std::fs::read(&first.path).unwrap(), photo);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&first.path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let requests = fake.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/v25.0/778899", "/whatsapp_business/attachments/?mid=778899"]);
    assert!(requests.iter().all(|r| r.authorization.as_deref() == Some("Bearer test-access-token")));

    let again = media::download(&pool, &scope, &graph(), message, &dir).await.unwrap();
    assert!(!again.fetched);
    assert_eq!(again.path, first.path);
    assert_eq!(fake.requests().len(), 2, "the cached file costs no Graph API call");
    let _ = std::fs::remove_dir_all(&dir);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn an_expired_media_id_says_so_and_a_text_has_no_file(pool: PgPool) {
    let fake = FakeGraph::start().await.unwrap();
    let scope = tenant(&pool, "Expired", "1000000072", &fake).await;
    let dir = cache_dir("expired");
    fake.add_media("445566", "application/pdf", b"%PDF-1.7");
    fake.expire_media("445566");
    let doc = json!({"id": "445566", "mime_type": "application/pdf", "filename": "invoice.pdf"});
    let message = received(&pool, &scope, "document", Some(doc)).await;
    match media::download(&pool, &scope, &graph(), message, &dir).await {
        Err(Error::Invalid { message, hint }) => {
            assert!(message.contains("no longer on WhatsApp's servers"), "{message}");
            assert!(hint.unwrap().contains("send it again"));
        }
        other => panic!("expected a clear refusal, got {other:?}"),
    }
    assert!(!dir.exists() || std::fs::read_dir(&dir).unwrap().next().is_none(), "nothing half-saved");

    let text = received(&pool, &scope, "text", None).await;
    let refused = media::download(&pool, &scope, &graph(), text, &dir).await.unwrap_err();
    assert!(refused.to_string().contains("has no file"), "{refused}");

    // Another business's message is not found, whatever it holds.
    let other = tenant(&pool, "Other", "1000000073", &fake).await;
    let err = media::download(&pool, &other, &graph(), message, &dir).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}
